"""Contract of the ``elections`` service (选举): elections of a union committee, its chair or the
delegates of a congress; candidates with nomination records; rounds with secret ballots; results,
publication and the official results report. Rules: :mod:`services.elections.rules`."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.schemas import BaseSchema, Id

KINDS = ("committee", "chair", "delegates")
SHORTFALL = ("further_round", "vacant")
MARKS = ("approve", "disapprove", "abstain")
#: Where the electors come from: every member of a union, the delegates of a congress term, or the
#: delegates checked in as present at a congress session when voting opens (an agenda item of kind
#: "election" of that session; read from the congress service, ``present_delegates``).
ELECTORATES = ("union", "term", "session")


class ElectionRulesIn(BaseSchema):
    """The configurable rules (defaults: contested with a 5 % margin, a further round for seats left)."""

    contested = fields.Boolean(load_default=True, metadata={"description": "差额 (true) or 等额 (false)"})
    margin_pct = fields.Decimal(
        load_default=5,
        as_string=True,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "差额 margin in percent of the seats (rounded up, at least one more)"},
    )
    shortfall = fields.String(load_default="further_round", validate=validate.OneOf(SHORTFALL))
    write_ins = fields.Boolean(load_default=True, metadata={"description": "另选他人 allowed"})


class ElectionIn(BaseSchema):
    """A new election: ``union_id`` (grassroots union), ``title``, ``kind``, ``seats`` (应选名额),
    ``electorate`` (``union``: every member of the union; ``term``: the delegates of ``term_id``;
    ``session``: the delegates present at congress session ``session_id`` when voting opens), ``rules``."""

    union_id = Id(required=True)
    title = fields.String(required=True, validate=validate.Length(min=2, max=120))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    seats = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=500))
    electorate = fields.String(load_default="union", validate=validate.OneOf(ELECTORATES))
    term_id = Id(load_default=None)
    session_id = Id(
        load_default=None,
        metadata={"description": "electorate session: the congress session whose present delegates elect"},
    )
    rules = fields.Nested(ElectionRulesIn, load_default=lambda: ElectionRulesIn().load({}))

    @validates_schema
    def _term(self, data, **kwargs):
        if data.get("electorate") == "term" and not data.get("term_id"):
            raise ValidationError("the term whose delegates elect / 请指定代表届次", "term_id")

    @validates_schema
    def _session(self, data, **kwargs):
        if data.get("electorate") == "session" and not data.get("session_id"):
            raise ValidationError(
                "the congress session whose delegates elect / 请指定职代会会议", "session_id"
            )


class NominationIn(BaseSchema):
    """A candidate and their nomination record: who nominated (``source``: 工会委员会 / 会员联名 / 上级
    工会 …), how many supported it, and a short note (the 考察 result)."""

    member_id = Id(required=True)
    source = fields.String(required=True, validate=validate.Length(min=2, max=60))
    supporters = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=100000))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class OpenRoundIn(BaseSchema):
    """Opening voting: optional ``closes_at`` (UTC)."""

    closes_at = fields.AwareDateTime(load_default=None, default_timezone=None)


class ElectionBallotIn(BaseSchema):
    """A ballot of the open round: ``marks`` {candidate member id: approve | disapprove | abstain}
    (unmarked = abstain) and ``write_ins`` (另选他人: member ids of other eligible people)."""

    marks = fields.Dict(keys=Id(), values=fields.String(validate=validate.OneOf(MARKS)), load_default=dict)
    write_ins = fields.List(Id(), load_default=list, validate=validate.Length(max=500))


class LoadedBallotIn(ElectionBallotIn):
    """Bulk loading (demo): a ballot with its elector."""

    member_id = Id(required=True)


SATISFACTION = ("satisfied", "partly", "dissatisfied")
AWARD_CATEGORIES = ("good_worker", "good_manager")


class AppraisalIn(BaseSchema):
    """An appraisal (述职评议 / 民主评议) of ``subjects`` (member ids of the union: delegates or cadres) by
    every member of the union; ``threshold_pct`` flags a satisfaction rate below it (default 60)."""

    union_id = Id(required=True)
    title = fields.String(required=True, validate=validate.Length(min=2, max=120))
    subjects = fields.List(Id(), required=True, validate=validate.Length(min=1, max=2000))
    threshold_pct = fields.Decimal(load_default=60, as_string=True, validate=validate.Range(min=0, max=100))


class RatingIn(BaseSchema):
    """A rater's ballot: ``marks`` {subject: satisfied | partly | dissatisfied} (others not rated) and
    optional ``comments`` {subject: text ≤ 500}."""

    marks = fields.Dict(
        keys=Id(), values=fields.String(validate=validate.OneOf(SATISFACTION)), load_default=dict
    )
    comments = fields.Dict(
        keys=Id(), values=fields.String(validate=validate.Length(max=500)), load_default=dict
    )


class AwardRoundIn(BaseSchema):
    """A 双爱双评 round over ``union_id`` and the unions below it: at most ``k`` choices per category per
    ballot, ``places`` awarded per category (good_worker 爱企业的好职工, good_manager 爱职工的好经理)."""

    union_id = Id(required=True)
    title = fields.String(required=True, validate=validate.Length(min=2, max=120))
    k = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100))
    places = fields.Dict(
        keys=fields.String(validate=validate.OneOf(AWARD_CATEGORIES)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=10000)),
        required=True,
    )


class AwardNominationIn(BaseSchema):
    """A nomination: ``category``, ``member_id``, a short ``citation`` (事迹简介, ≤ 300)."""

    category = fields.String(required=True, validate=validate.OneOf(AWARD_CATEGORIES))
    member_id = Id(required=True)
    citation = fields.String(required=True, validate=validate.Length(min=4, max=300))


class AwardTieIn(BaseSchema):
    """The admins' settlement of a tie at the last place of a category: ``awarded`` (member ids among
    the tied, exactly as many as places are left) and the ``reason`` recorded with it (≤ 300)."""

    category = fields.String(required=True, validate=validate.OneOf(AWARD_CATEGORIES))
    awarded = fields.List(Id(), required=True, validate=validate.Length(min=1, max=10000))
    reason = fields.String(required=True, validate=validate.Length(min=2, max=300))


class AwardBallotIn(BaseSchema):
    """``choices`` {category: [nominee member ids]} (at most k each)."""

    choices = fields.Dict(
        keys=fields.String(validate=validate.OneOf(AWARD_CATEGORIES)), values=fields.List(Id()), required=True
    )


class LoadedRatingIn(RatingIn):
    """Bulk loading (demo): a rating with its rater."""

    member_id = Id(required=True)


class LoadedAwardBallotIn(AwardBallotIn):
    """Bulk loading (demo): an award ballot with its voter."""

    member_id = Id(required=True)


class ProjectorLinkOut(BaseSchema):
    """A read-only projector link of an election; the page is ``/projector/elections/<token>``."""

    token = fields.String(metadata={"description": "random, signed; the link's only secret"})
    election_id = fields.String()
    created_at = fields.String()
    created_by = fields.String()
    revoked_at = fields.String(allow_none=True)
    active = fields.Boolean()


class ProjectorOut(BaseSchema):
    """What the projector view of an election shows: counts and the candidates' (public) names, the
    results only once published; never who voted."""

    election_id = fields.String()
    title = fields.String()
    kind = fields.String()
    seats = fields.Integer()
    status = fields.String()
    due = fields.Integer(allow_none=True, metadata={"description": "应到: the electors due"})
    turnout_required = fields.Integer(
        allow_none=True, metadata={"description": "ballots needed for a valid election: > 2/3 of due"}
    )
    majority_required = fields.Integer(
        allow_none=True, metadata={"description": "approvals needed to be elected: > 1/2 of due"}
    )
    round = fields.Dict(
        allow_none=True, metadata={"description": "{n, kind, status, seats, ballots, candidates: [name]}"}
    )
    result = fields.Dict(
        allow_none=True,
        metadata={
            "description": "once published: {elected: [{name, approvals}], approvals: [{name, approve}], vacant}"
        },
    )
