"""Contract of the ``congress`` service: congresses, terms, delegations, delegates, sessions, agenda items,
check-in, resolution votes and their outcomes (DESIGN.md §4; rules in ``services/congress/rules.py``)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.contracts.disclosure import AttachmentIn, AttachmentOut
from dmlib.schemas import BaseSchema, ClientKey, Id

SESSION_KINDS = ("ordinary", "extraordinary")
ITEM_KINDS = ("report", "resolution", "election")
CHOICES = ("yes", "no", "abstain")
CATEGORIES = ("worker", "technician", "manager", "other")

Title = lambda **kw: fields.String(validate=validate.Length(min=1, max=200), **kw)  # noqa: E731
MemberId = lambda **kw: fields.String(  # noqa: E731
    validate=validate.Regexp(r"^[A-Za-z0-9-]{1,20}$", error="not a member number / 会员编号有误"), **kw
)


# ----- in ----------------------------------------------------------------------------------------
class CongressIn(BaseSchema):
    union_id = Id(required=True, metadata={"description": "the grassroots union holding the congress"})
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


class DelegationIn(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))


class TermIn(BaseSchema):
    """A term (届) of a congress: its number, start and end dates and its delegations (代表团/组)."""

    number = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    delegations = fields.List(
        fields.Nested(DelegationIn), load_default=list, validate=validate.Length(max=50)
    )

    @validates_schema
    def _dates(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("the term ends after it starts / 届期结束日须晚于开始日", "end")

    @validates_schema
    def _unique_names(self, data, **kwargs):
        names = [d["name"] for d in data.get("delegations") or []]
        if len(names) != len(set(names)):
            raise ValidationError("delegation names must differ / 代表团名称重复", "delegations")


class DelegateIn(BaseSchema):
    member_id = MemberId(required=True)
    delegation_id = Id(required=True)
    category = fields.String(
        load_default="worker",
        validate=validate.OneOf(CATEGORIES),
        metadata={"description": "worker | technician | manager (middle managers and leaders) | other"},
    )


class ElectIn(BaseSchema):
    """Delegates elected into a term, all or none (at most 1,000 per call)."""

    delegates = fields.List(
        fields.Nested(DelegateIn), required=True, validate=validate.Length(min=1, max=1000)
    )

    @validates_schema
    def _unique(self, data, **kwargs):
        ids = [d["member_id"] for d in data.get("delegates") or []]
        if len(ids) != len(set(ids)):
            raise ValidationError("a member is listed twice / 名单中有重复会员", "delegates")


class AgendaItemIn(BaseSchema):
    """An agenda item (议程): its kind, title, text (the resolution's wording, the report's summary),
    when and where it is taken (issue 16: delegates read these before the session) and its documents."""

    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    title = Title(required=True)
    description = fields.String(
        load_default="",
        validate=validate.Length(max=4000),
        metadata={"description": "the item's text: the resolution's wording, a report's summary"},
    )
    starts_at = fields.AwareDateTime(
        load_default=None, default_timezone=None, metadata={"description": "date and time it is taken"}
    )
    place = fields.String(
        load_default="", validate=validate.Length(max=200), metadata={"description": "room or hall"}
    )
    attachments = fields.List(
        fields.Nested(AttachmentIn),
        load_default=list,
        validate=validate.Length(max=5),
        metadata={"description": "at most 5 files of at most 5 MiB each (the draft, its explanation)"},
    )
    secret = fields.Boolean(
        load_default=True,
        metadata={"description": "secret ballot (default: important matters by secret ballot) or named"},
    )


class SessionIn(BaseSchema):
    """A session (次会议) of a term, with its agenda."""

    title = Title(required=True)
    kind = fields.String(load_default="ordinary", validate=validate.OneOf(SESSION_KINDS))
    scheduled_at = fields.AwareDateTime(load_default=None, default_timezone=None)
    agenda = fields.List(fields.Nested(AgendaItemIn), load_default=list, validate=validate.Length(max=50))
    client_key = ClientKey()


class CheckInIn(BaseSchema):
    member_id = MemberId(
        load_default=None, metadata={"description": "admins check in a delegate; omitted: oneself"}
    )


class VoteIn(BaseSchema):
    choice = fields.String(required=True, validate=validate.OneOf(CHOICES))


class ElectionLinkIn(BaseSchema):
    """The election (elections service) an agenda item of kind ``election`` runs: one in status
    ``nominating`` of the session's union whose electorate is this session (``session``)."""

    election_id = Id(required=True, metadata={"description": "an election of the elections service"})


# ----- out ---------------------------------------------------------------------------------------
class DelegationOut(BaseSchema):
    id = fields.String()
    name = fields.String()
    delegate_count = fields.Integer()


class TermOut(BaseSchema):
    id = fields.String()
    congress_id = fields.String()
    number = fields.Integer()
    start = fields.String()
    end = fields.String()
    delegations = fields.List(fields.Nested(DelegationOut))
    delegate_count = fields.Integer()
    manager_count = fields.Integer()
    managers_over_limit = fields.Boolean(
        metadata={"description": "managers exceed 20 % of delegates (企业民主管理规定 art. 14)"}
    )
    session_count = fields.Integer()


class CongressOut(BaseSchema):
    id = fields.String()
    union_id = fields.String()
    union_name = fields.String()
    name = fields.String()
    terms = fields.List(fields.Nested(TermOut))


class DelegateOut(BaseSchema):
    member_id = fields.String()
    name = fields.String()
    term_id = fields.String()
    delegation_id = fields.String()
    delegation_name = fields.String()
    category = fields.String()


class ElectOut(BaseSchema):
    term = fields.Nested(TermOut)
    elected = fields.Integer()


class OutcomeOut(BaseSchema):
    yes = fields.Integer()
    no = fields.Integer()
    abstain = fields.Integer()
    ballots = fields.Integer()
    eligible = fields.Integer(metadata={"description": "delegates present when the vote opened"})
    due = fields.Integer(metadata={"description": "all delegates of the term: the basis of adoption"})
    required = fields.Integer(metadata={"description": "yes votes needed: more than half of due"})
    adopted = fields.Boolean()
    recount_matches = fields.Boolean(allow_none=True)


class ElectedOut(BaseSchema):
    member_id = fields.String()
    name = fields.String()
    approvals = fields.Integer()


class ElectionOutcomeOut(BaseSchema):
    """The published result of an item's election, as read from the elections service (the owner)."""

    election_id = fields.String()
    due = fields.Integer(
        metadata={"description": "the electors due: the delegates present when voting opened"}
    )
    elected = fields.List(fields.Nested(ElectedOut))
    vacant = fields.Integer(allow_none=True, metadata={"description": "seats left vacant"})
    rounds = fields.Integer()
    published_at = fields.String(allow_none=True)


class ItemOut(BaseSchema):
    id = fields.String()
    session_id = fields.String()
    order = fields.Integer()
    kind = fields.String()
    title = fields.String()
    description = fields.String()
    starts_at = fields.String(allow_none=True, metadata={"description": "ISO 8601, UTC"})
    place = fields.String()
    attachments = fields.List(fields.Nested(AttachmentOut))
    secret = fields.Boolean()
    state = fields.String(
        metadata={
            "description": "pending | voting | adopted | failed; an election item: pending | voting | decided"
        }
    )
    poll_id = fields.String(allow_none=True)
    outcome = fields.Nested(OutcomeOut, allow_none=True)
    election_id = fields.String(allow_none=True, metadata={"description": "kind election: the election run"})
    election_outcome = fields.Nested(ElectionOutcomeOut, allow_none=True)
    decided_at = fields.String(allow_none=True)


class CountsOut(BaseSchema):
    session_id = fields.String()
    state = fields.String()
    due_count = fields.Integer(metadata={"description": "应到: all delegates of the term"})
    present_count = fields.Integer(metadata={"description": "实到: delegates checked in"})
    required = fields.Integer(metadata={"description": "present needed to convene: ⌈2/3 × due⌉"})
    quorum = fields.Boolean()
    adoption_required = fields.Integer(
        metadata={"description": "yes votes a resolution needs: more than half of all delegates"}
    )
    by_delegation = fields.List(fields.Dict())
    open_item = fields.Dict(allow_none=True)


class ProjectorLinkOut(BaseSchema):
    """A read-only projector link (大屏只读链接); the page is ``/projector/congress/<token>``."""

    token = fields.String(metadata={"description": "random, signed; the link's only secret"})
    session_id = fields.String()
    created_at = fields.String()
    created_by = fields.String()
    revoked_at = fields.String(allow_none=True)
    active = fields.Boolean()


class ProjectorOut(BaseSchema):
    """What the projector view shows: counts only, no member ids, names or choices."""

    session_id = fields.String()
    title = fields.String()
    state = fields.String(metadata={"description": "planned | convened | closed"})
    due_count = fields.Integer(metadata={"description": "应到: all delegates of the term"})
    present_count = fields.Integer(metadata={"description": "实到: delegates checked in"})
    required = fields.Integer(metadata={"description": "present needed to convene: ⌈2/3 × due⌉"})
    quorum = fields.Boolean()
    voting = fields.Dict(
        allow_none=True, metadata={"description": "the item being voted: {title, secret, ballots, eligible}"}
    )
    outcome = fields.Dict(
        allow_none=True,
        metadata={
            "description": "the last decided item: {title, yes, no, abstain, ballots, eligible, due, required, adopted}"
        },
    )
    items = fields.List(fields.Dict(), metadata={"description": "the agenda: [{order, title, state}]"})


class SessionOut(BaseSchema):
    id = fields.String()
    term_id = fields.String()
    congress_id = fields.String()
    union_id = fields.String()
    number = fields.Integer()
    kind = fields.String()
    title = fields.String()
    state = fields.String(metadata={"description": "planned | convened | closed"})
    scheduled_at = fields.String(allow_none=True)
    convened_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    due_count = fields.Integer()
    present_count = fields.Integer()
    required = fields.Integer()
    quorum = fields.Boolean()
    open_item = fields.String(allow_none=True)
    items = fields.List(fields.Nested(ItemOut))


class CheckInOut(BaseSchema):
    session_id = fields.String()
    member_id = fields.String()
    already = fields.Boolean(metadata={"description": "true when this delegate had already checked in"})
    present_count = fields.Integer()
    due_count = fields.Integer()


class VoteOut(BaseSchema):
    item_id = fields.String()
    poll_id = fields.String()
    receipt = fields.String()


class OpenItemStatusOut(BaseSchema):
    id = fields.String()
    title = fields.String()
    secret = fields.Boolean()
    has_voted = fields.Boolean()
    kind = fields.String(metadata={"description": "resolution | election"})
    election_id = fields.String(
        allow_none=True, metadata={"description": "kind election: vote on /elections/<id>/ballot"}
    )


class PresentOut(BaseSchema):
    """Who may vote at a session now: the delegates checked in, the quorum figures (1986 条例 art. 18)
    and the election its open agenda item runs (the elections service reads this to fix a session
    election's electors)."""

    session_id = fields.String()
    union_id = fields.String()
    state = fields.String(metadata={"description": "planned | convened | closed"})
    due_count = fields.Integer()
    present_count = fields.Integer()
    required = fields.Integer()
    quorum = fields.Boolean()
    open_election = fields.String(
        allow_none=True, metadata={"description": "the election of the open agenda item, if it is one"}
    )
    member_ids = fields.List(fields.String(), metadata={"description": "the delegates checked in, sorted"})


class MyStatusOut(BaseSchema):
    session_id = fields.String()
    member_id = fields.String()
    is_delegate = fields.Boolean()
    delegation = fields.String(allow_none=True, metadata={"description": "null for a non-delegate"})
    checked_in = fields.Boolean()
    open_item = fields.Nested(OpenItemStatusOut, allow_none=True)
