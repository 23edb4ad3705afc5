"""Contract of the ``voting`` service: choice polls, rating polls, ballots, tallies, evaluation campaigns.

Choice polls (``open_choice_poll``, ``cast_choice``, ``close_poll``, ``get_poll``) are what the congress
service codes against: keep their shapes stable. Rating polls back the Worker Home evaluation campaigns
(星级职工之家评选, DESIGN.md §4).
"""

from __future__ import annotations

import numbers

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.schemas import BaseSchema, Id, PageOut

DEFAULT_OPTIONS = ["yes", "no", "abstain"]
OPINION_MAX = 2000
#: ``details["reason"]`` of the Conflict (409) for a second ballot by the same voter: callers decide by
#: this code, never by the message text.
ALREADY_VOTED = "already_voted"
#: Names of the weight presets; their weights, the default criteria, thresholds and campaign rules belong
#: to the evaluation domain (``services/voting/evaluation.py``, RPC ``voting.campaign_defaults``).
WEIGHT_PRESET_NAMES = ("2018", "2017")
NO_BALLOTS_RULES = ("exclude", "zero")
STAR_BASES = ("published", "exact")
CAMPAIGN_STATES = ("draft", "open", "closed", "published")


class StrictInt(fields.Integer):
    """An integer given as a JSON number: refuses 2.5, "5", "five" and booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValidationError("must be a whole number / 须为整数")
        return super()._deserialize(value, attr, data, **kwargs)


class Score(fields.Float):
    """A score 0-100 given as a JSON number (integer or decimal). Kept as given: the evaluation domain
    rounds it half-up to 2 decimals when it is stored (one rounding everywhere, not float ``round()``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValidationError("must be a number 0-100 / 须为0-100的数字")
        value = super()._deserialize(value, attr, data, **kwargs)
        if not 0 <= value <= 100:
            raise ValidationError("must be between 0 and 100 / 须在0到100之间")
        return value


# ----- choice polls (used by the congress service) -----------------------------------------------
def _distinct(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("must be distinct / 不能重复")


def _descending(values: list) -> None:
    if any(a <= b for a, b in zip(values, values[1:], strict=False)):
        raise ValidationError("must be strictly descending / 星级分数线须递减")


class ChoicePollIn(BaseSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    options = fields.List(
        fields.String(validate=validate.Length(min=1, max=50)),
        load_default=lambda: list(DEFAULT_OPTIONS),
        validate=[validate.Length(min=2, max=20), _distinct],
    )
    voters = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=100000, error="at least one voter / 至少一名投票人"),
    )
    secret = fields.Boolean(load_default=True)
    owner = fields.String(load_default="", validate=validate.Length(max=50))
    ref = fields.String(load_default="", validate=validate.Length(max=100))
    closes_at = fields.AwareDateTime(load_default=None)
    union_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the union the poll belongs to (a congress's union): decides who reads it"},
    )
    union_path = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "that union's path, root … itself (its admins and those above read it)"},
    )
    congress_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the congress whose delegates read the poll"},
    )

    @validates_schema
    def _path_ends_in_union(self, data, **kwargs):
        if data.get("union_id") and (data.get("union_path") or [None])[-1] != data["union_id"]:
            raise ValidationError("must end with union_id", "union_path")


class ChoiceIn(BaseSchema):
    choice = fields.String(required=True, validate=validate.Length(min=1, max=50))


class ReceiptOut(BaseSchema):
    poll_id = fields.String()
    receipt = fields.String(metadata={"description": "12-character code to find one's ballot in the list"})


class PollOut(BaseSchema):
    poll_id = fields.String()
    kind = fields.String(metadata={"description": "choice | rating"})
    status = fields.String(metadata={"description": "draft | open | closed"})
    title = fields.String()
    options = fields.List(fields.String())
    secret = fields.Boolean()
    owner = fields.String()
    ref = fields.String()
    eligible = fields.Integer()
    ballots = fields.Integer()
    closes_at = fields.String(allow_none=True)
    has_voted = fields.Boolean()
    receipt = fields.String(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    recount_matches = fields.Boolean(allow_none=True)
    alarm = fields.Boolean()


class ClosedPollOut(BaseSchema):
    poll_id = fields.String()
    status = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    ballots = fields.Integer()
    eligible = fields.Integer()
    recount_matches = fields.Boolean()


class PublishedBallotOut(BaseSchema):
    receipt = fields.String()
    choice = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    stars = fields.List(fields.Integer(), allow_none=True)


class BallotPageOut(PageOut):
    items = fields.List(fields.Nested(PublishedBallotOut))


class ReceiptCheckOut(BaseSchema):
    poll_id = fields.String()
    receipt = fields.String()
    found = fields.Boolean()
    ballot = fields.Nested(PublishedBallotOut, allow_none=True)


class RecountOut(BaseSchema):
    at = fields.String(metadata={"description": "ISO 8601, UTC"})
    matches = fields.Boolean(metadata={"description": "the recount equals the live tally"})
    live = fields.Dict(keys=fields.String(), metadata={"description": "counts from the live tally"})
    recounted = fields.Dict(keys=fields.String(), metadata={"description": "counts from every ballot"})
    repaired = fields.Dict(
        keys=fields.String(),
        allow_none=True,
        metadata={
            "description": "on a closed poll: ballots of casts interrupted by a crash, found still marked "
            "pending and added to the live tally because they explain the difference exactly "
            "(``{ballots, pending, parts}``)"
        },
    )


class BallotListIn(BaseSchema):
    """Query of the published ballot list (the gateway passes them to ``list_ballots``)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class OpinionListIn(BallotListIn):
    """Query of a campaign's opinions: ``home`` (a Worker Home's union id) narrows them to one home."""

    home = Id(load_default=None)


# ----- evaluation campaigns ---------------------------------------------------------------------
class WeightsIn(BaseSchema):
    member = StrictInt(required=True, validate=validate.Range(min=0, max=100))
    unit = StrictInt(required=True, validate=validate.Range(min=0, max=100))
    superior = StrictInt(required=True, validate=validate.Range(min=0, max=100))

    @validates_schema
    def _sum(self, data, **kwargs):
        if sum(data.values()) != 100:
            raise ValidationError("weights must sum to 100 / 权重之和须为100%", "_schema")


class RulesIn(BaseSchema):
    """The campaign rules the seed leaves open (README "Worker Home evaluations"); a rule left out takes
    the evaluation domain's default (``voting.campaign_defaults``)."""

    min_participation = Score(
        load_default=None,
        metadata={
            "description": "percent of a home's members who must cast a ballot for it to get a star level "
            "and a place (0: no floor); below it the home is flagged 参评率不足"
        },
    )
    no_ballots = fields.String(
        load_default=None,
        validate=validate.OneOf(NO_BALLOTS_RULES, error="exclude or zero / 须为 exclude 或 zero"),
        metadata={
            "description": "a home without member ballots: exclude (flagged, no star level, no place) or "
            "zero (member score counts 0)"
        },
    )
    star_basis = fields.String(
        load_default=None,
        validate=validate.OneOf(STAR_BASES, error="published or exact / 须为 published 或 exact"),
        metadata={
            "description": "star level from the total as published (2 decimals, half-up) or the exact total"
        },
    )


class CampaignIn(BaseSchema):
    """A new evaluation campaign of the Worker Homes under ``union_id`` (a superior union). Fields left
    out (preset, criteria, thresholds, rules) take the evaluation domain's defaults."""

    id = Id(load_default=None)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    union_id = Id(required=True, metadata={"description": "the superior union running the campaign"})
    year = StrictInt(load_default=None, validate=validate.Range(min=2000, max=2100))
    preset = fields.String(
        load_default=None,
        validate=validate.OneOf(WEIGHT_PRESET_NAMES),
        metadata={"description": "weights preset: 2018 (member 50 %, the default) or 2017 (member 40 %)"},
    )
    weights = fields.Nested(WeightsIn, load_default=None)
    criteria = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)),
        load_default=None,
        validate=[validate.Length(min=1, max=10), _distinct],
        metadata={"description": "default: the five criteria of DESIGN.md §4"},
    )
    thresholds = fields.List(
        Score(),
        load_default=None,
        validate=[validate.Length(equal=5), _descending],
        metadata={
            "description": "minimum totals for 5, 4, 3, 2 and 1 stars, strictly descending "
            "(default 90/80/70/60/50)"
        },
    )
    rules = fields.Nested(RulesIn, load_default=None)
    homes = fields.List(Id(), load_default=None, metadata={"description": "default: all under union_id"})
    opens_at = fields.AwareDateTime(load_default=None)
    closes_at = fields.AwareDateTime(load_default=None)

    @validates_schema
    def _rules(self, data, **kwargs):
        if data.get("weights") and data.get("preset"):
            raise ValidationError("give weights or a preset, not both / 权重与预设只能选一", "preset")
        o, c = data.get("opens_at"), data.get("closes_at")
        if o and c and c <= o:
            raise ValidationError("closes after it opens / 结束时间须晚于开始时间", "closes_at")


class RatingIn(BaseSchema):
    """A member's ballot: 1-5 stars on every criterion (keys ``c1`` … ``cN``) and an optional opinion."""

    stars = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)
    opinion = fields.String(load_default=None, validate=validate.Length(max=OPINION_MAX))
    home = Id(load_default=None, metadata={"description": "optional: must be the member's own union"})


class ScoreIn(BaseSchema):
    score = Score(required=True)


class SuperiorScoresIn(BaseSchema):
    scores = fields.Dict(keys=Id(), values=Score(), required=True, validate=validate.Length(min=1))


class CriterionOut(BaseSchema):
    key = fields.String()
    name = fields.String()


class HomeOut(BaseSchema):
    union_id = fields.String()
    name = fields.String()
    union_name = fields.String()
    eligible = fields.Integer()
    voters = fields.Integer()
    participation = fields.Float(metadata={"description": "voters / eligible, percent"})
    unit_score = fields.Float(allow_none=True)
    superior_score = fields.Float(allow_none=True)


class CampaignMeOut(BaseSchema):
    home = fields.String(
        allow_none=True, metadata={"description": "the caller's Worker Home if it takes part"}
    )
    has_voted = fields.Boolean()
    receipt = fields.String(allow_none=True)


class RulesOut(BaseSchema):
    min_participation = fields.Float(metadata={"description": "percent; 0: no floor"})
    no_ballots = fields.String(metadata={"description": "exclude | zero"})
    star_basis = fields.String(metadata={"description": "published | exact"})


class CampaignDefaultsOut(BaseSchema):
    preset = fields.String()
    presets = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer())
    )
    criteria = fields.List(fields.String())
    thresholds = fields.List(fields.Float())
    rules = fields.Nested(RulesOut)


class CampaignOut(BaseSchema):
    id = fields.String()
    title = fields.String()
    union_id = fields.String()
    union_name = fields.String()
    year = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": "draft | open | closed | published"})
    weights = fields.Dict(keys=fields.String(), values=fields.Integer())
    criteria = fields.List(fields.Nested(CriterionOut))
    thresholds = fields.List(fields.Float())
    rules = fields.Nested(
        RulesOut,
        metadata={"description": "the campaign's rules (defaults filled in for campaigns made before them)"},
    )
    opens_at = fields.String(allow_none=True)
    closes_at = fields.String(allow_none=True)
    poll_id = fields.String()
    eligible = fields.Integer()
    ballots = fields.Integer()
    opinions = fields.Integer()
    participation = fields.Float()
    homes = fields.List(fields.Nested(HomeOut))
    alarm = fields.Boolean()
    recount_matches = fields.Boolean(allow_none=True)
    published_at = fields.String(allow_none=True)
    me = fields.Nested(
        "CampaignMeOut", metadata={"description": "the calling member's home and ballot (members only)"}
    )
    is_admin = fields.Boolean(metadata={"description": "the caller runs this campaign"})


class ResultRowOut(BaseSchema):
    rank = fields.Integer(allow_none=True, metadata={"description": "null: flagged, no place"})
    union_id = fields.String()
    name = fields.String()
    union_name = fields.String()
    member_score = fields.Float(allow_none=True, metadata={"description": "mean stars ÷ 5 × 100"})
    unit_score = fields.Float(allow_none=True)
    superior_score = fields.Float(allow_none=True)
    total = fields.Float()
    star_level = fields.Integer()
    voters = fields.Integer()
    eligible = fields.Integer()
    participation = fields.Float()
    opinions = fields.Integer()
    criteria_means = fields.List(fields.Float(allow_none=True))
    star_counts = fields.List(fields.Integer(), metadata={"description": "how many 1…5-star marks"})
    flags = fields.List(
        fields.String(),
        metadata={
            "description": "why the home has no star level and no place: no_member_ballots (无会员评价), "
            "low_participation (参评率不足); empty when it qualifies"
        },
    )
    min_voters = fields.Integer(metadata={"description": "ballots needed to reach min_participation"})


class ResultsOut(BaseSchema):
    campaign = fields.Nested(CampaignOut)
    live = fields.Boolean(metadata={"description": "true: computed from the live tally, not yet published"})
    rows = fields.List(fields.Nested(ResultRowOut))
    star_distribution = fields.Dict(keys=fields.String(), values=fields.Integer())
    recount = fields.Dict(allow_none=True)


class OpinionOut(BaseSchema):
    home = fields.String()
    text = fields.String()
    cast_at = fields.String()


class OpinionPageOut(PageOut):
    items = fields.List(fields.Nested(OpinionOut))
