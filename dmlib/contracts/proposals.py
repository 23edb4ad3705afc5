"""Contract of the ``proposals`` service (提案): collection windows, proposals, co-signatures, reviews,
assignments, replies, satisfaction ratings, excellence, statistics (DESIGN.md §4; rules in
``services/proposals/rules.py``)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.schemas import BaseSchema, ClientKey, Id, PageOut

#: Categories of proposals (code → Chinese label), in display order.
CATEGORIES = {
    "production": "生产经营",
    "wages": "工资福利",
    "safety": "劳动安全",
    "welfare": "生活后勤",
    "training": "教育培训",
    "democracy": "民主管理",
    "other": "其他",
}
DECISIONS = ("accept", "convert", "reject")
SATISFACTION = ("satisfied", "partly", "dissatisfied")
SATISFACTION_ZH = {"satisfied": "满意", "partly": "基本满意", "dissatisfied": "不满意"}

MemberId = lambda **kw: fields.String(  # noqa: E731
    validate=validate.Regexp(r"^[A-Za-z0-9-]{1,20}$", error="not a member number / 会员编号有误"), **kw
)


def _text(lo: int, hi: int, what: str):
    return validate.Length(min=lo, max=hi, error=f"{what}: {lo}-{hi} characters / {lo}至{hi}个字")


class Stripped(fields.String):
    """A string with surrounding blanks removed before the length is checked."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


# ----- in ----------------------------------------------------------------------------------------
class WindowIn(BaseSchema):
    """Opening (or re-opening) a session's collection window (提案征集)."""

    min_cosigners = fields.Integer(
        load_default=2,
        strict=True,
        validate=validate.Range(min=0, max=30),
        metadata={"description": "co-signing delegates a proposal needs (default 2; practice varies)"},
    )
    deadline_days = fields.Integer(
        load_default=20,
        strict=True,
        validate=validate.Range(min=1, max=180),
        metadata={"description": "days the departments have to reply (default 20)"},
    )


class ProposalIn(BaseSchema):
    """A delegate's proposal: 案由 (subject), category, reasons (理由), suggested measures (建议措施) and
    the delegates invited to co-sign (附议)."""

    subject = Stripped(required=True, validate=_text(5, 100, "subject"))
    category = fields.String(required=True, validate=validate.OneOf(tuple(CATEGORIES)))
    reasons = Stripped(required=True, validate=_text(10, 4000, "reasons"))
    measures = Stripped(required=True, validate=_text(10, 4000, "measures"))
    invite = fields.List(MemberId(), load_default=list, validate=validate.Length(max=30))
    client_key = ClientKey()

    @validates_schema
    def _unique(self, data, **kwargs):
        ids = data.get("invite") or []
        if len(ids) != len(set(ids)):
            raise ValidationError("a delegate is invited twice / 重复邀请", "invite")


class ReviewIn(BaseSchema):
    """The union admin's review: accept (立案), convert to a suggestion (转为意见建议) or reject (不予立案,
    with a written reason of at least 5 characters)."""

    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    reason = Stripped(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _reason(self, data, **kwargs):
        if data.get("decision") == "reject" and len(data.get("reason") or "") < 5:
            raise ValidationError("a rejection needs a written reason / 不予立案须写明理由", "reason")


class AssignIn(BaseSchema):
    """Assignment (交办) to one or more departments of the union, with a deadline in days."""

    department_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=10))
    deadline_days = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=1, max=180), allow_none=True
    )

    @validates_schema
    def _unique(self, data, **kwargs):
        ids = data.get("department_ids") or []
        if len(ids) != len(set(ids)):
            raise ValidationError("a department is listed twice / 部门重复", "department_ids")


class ReplyIn(BaseSchema):
    """A department's written reply (书面答复)."""

    text = Stripped(required=True, validate=_text(10, 8000, "reply"))
    department_id = Id(
        load_default=None,
        allow_none=True,
        metadata={"description": "the replying department, when the handler serves several"},
    )


class RateIn(BaseSchema):
    """A rating of the reply by the proposer or a co-signer."""

    satisfaction = fields.String(required=True, validate=validate.OneOf(SATISFACTION))
    comment = Stripped(load_default="", validate=validate.Length(max=1000))


# ----- out ---------------------------------------------------------------------------------------
class WindowOut(BaseSchema):
    session_id = fields.String()
    congress_id = fields.String()
    union_id = fields.String()
    term_id = fields.String()
    session_title = fields.String()
    status = fields.String(metadata={"description": "none (never opened) | open | closed"})
    min_cosigners = fields.Integer()
    deadline_days = fields.Integer()
    opened_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    proposal_count = fields.Integer()


class PersonOut(BaseSchema):
    member_id = fields.String()
    name = fields.String()
    at = fields.String(allow_none=True)


class HistoryOut(BaseSchema):
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    by = fields.String()
    by_name = fields.String()
    role = fields.String()
    at = fields.String()
    note = fields.String(allow_none=True)


class AssignedDepartmentOut(BaseSchema):
    id = fields.String()
    name = fields.String()


class RoundOut(BaseSchema):
    round = fields.Integer()
    departments = fields.List(fields.Nested(AssignedDepartmentOut))
    assigned_at = fields.String()
    deadline = fields.String()
    replied_at = fields.String(allow_none=True)
    on_time = fields.Boolean(allow_none=True)


class ReplyOut(BaseSchema):
    round = fields.Integer()
    department_id = fields.String()
    department_name = fields.String()
    text = fields.String()
    by = fields.String()
    by_name = fields.String()
    at = fields.String()


class RatingOut(BaseSchema):
    round = fields.Integer()
    member_id = fields.String()
    name = fields.String()
    satisfaction = fields.String()
    comment = fields.String()
    at = fields.String()


class ProposalOut(BaseSchema):
    id = fields.String()
    number = fields.Integer(metadata={"description": "the proposal's number in its session (提案号)"})
    session_id = fields.String()
    congress_id = fields.String()
    union_id = fields.String()
    subject = fields.String()
    category = fields.String()
    category_label = fields.String()
    reasons = fields.String()
    measures = fields.String()
    proposer = fields.Nested(PersonOut)
    invited = fields.List(fields.Nested(PersonOut))
    cosigners = fields.List(fields.Nested(PersonOut))
    min_cosigners = fields.Integer()
    state = fields.String(
        metadata={
            "description": "draft | submitted | accepted | converted | rejected | assigned | replied | closed"
        }
    )
    review = fields.Dict(allow_none=True, metadata={"description": "{decision, reason, by_name, at}"})
    round = fields.Integer()
    rounds = fields.List(fields.Nested(RoundOut))
    pending_departments = fields.List(fields.String())
    deadline = fields.String(allow_none=True)
    days_left = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    replies = fields.List(fields.Nested(ReplyOut))
    ratings = fields.List(fields.Nested(RatingOut))
    excellent = fields.Boolean()
    history = fields.List(fields.Nested(HistoryOut))
    created_at = fields.String()
    submitted_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    my_roles = fields.List(
        fields.String(),
        metadata={
            "description": "the caller's relation: proposer, cosigner, invited, delegate, admin, handler"
        },
    )


class StatsOut(BaseSchema):
    session_id = fields.String()
    submitted = fields.Integer()
    accepted = fields.Integer()
    converted = fields.Integer()
    rejected = fields.Integer()
    pending = fields.Integer()
    assigned_open = fields.Integer()
    overdue = fields.Integer()
    replies = fields.Integer()
    on_time = fields.Integer()
    closed = fields.Integer()
    excellent = fields.Integer()
    ratings = fields.Integer()
    satisfaction = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_category = fields.Dict(keys=fields.String(), values=fields.Integer())
    acceptance_rate = fields.Float()
    on_time_rate = fields.Float()
    closure_rate = fields.Float()
    satisfaction_shares = fields.Dict(keys=fields.String(), values=fields.Float())


class MyProposalsOut(BaseSchema):
    window = fields.Nested(WindowOut)
    own = fields.List(fields.Nested(ProposalOut))
    invitations = fields.List(
        fields.Nested(ProposalOut), metadata={"description": "drafts the caller is invited to co-sign"}
    )


class SessionProposalsIn(BaseSchema):
    """Query of a session's proposals: ``public`` (accepted ones, members) or ``desk`` (admins)."""

    view = fields.String(load_default="public", validate=validate.OneOf(["public", "desk"]))


#: How a proposal queue may be sorted (issue 16): key → what it orders by; every order ends with the
#: proposal's number, so a page never shifts between two reads of unchanged data.
QUEUE_SORTS = {
    "number": "by number (提案号), ascending",
    "-number": "by number, newest first",
    "deadline": "by the current round's reply deadline, earliest first (none last)",
    "state": "by state in the order of the proposal's life, then number",
    "awaiting": "awaiting the department's reply first, then by deadline (the inbox's default)",
}
QUEUE_PAGE_MAX = 100


class QueueIn(BaseSchema):
    """A page of a proposal queue (issue 16): the review desk of one session (``session_id``, admins) or
    the inbox of one handling department (``department_id``, its handlers): exactly one of the two."""

    session_id = Id(
        load_default=None, allow_none=True, metadata={"description": "the review desk of a session"}
    )
    department_id = Id(load_default=None, allow_none=True, metadata={"description": "a department's inbox"})
    state = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(
            ("submitted", "accepted", "converted", "rejected", "assigned", "replied", "closed")
        ),
        metadata={"description": "only proposals in this state"},
    )
    awaiting = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "inbox: only those awaiting this department's reply (true) or not (false)"},
    )
    q = Stripped(
        load_default=None,
        allow_none=True,
        validate=_text(1, 50, "search"),
        metadata={"description": "a number, or text in the subject or the proposer's name"},
    )
    sort = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(tuple(QUEUE_SORTS)))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=QUEUE_PAGE_MAX))

    @validates_schema
    def _one_queue(self, data, **kwargs):
        if bool(data.get("session_id")) == bool(data.get("department_id")):
            raise ValidationError(
                "give a session or a department / 请指定会议或承办部门", field_name="session_id"
            )


class QueueDepartmentOut(BaseSchema):
    id = fields.String()
    name = fields.String()


class QueuePageOut(PageOut):
    items = fields.List(fields.Nested(ProposalOut))
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "proposals of the whole queue per state (before the filters)"},
    )
    awaiting = fields.Integer(metadata={"description": "inbox: proposals awaiting the department's reply"})
    sort = fields.String()
    department = fields.Nested(QueueDepartmentOut, allow_none=True)
