"""Contract of the ``cases`` service (接诉即办: receive, dispatch, handle, evaluate worker requests;
DESIGN.md §4, docs/cases.md; rules in ``services/cases/rules.py``).

Enumerations are ``code → Chinese label`` dicts in display order; the gateway shows the label (with its
English catalogue entry) and sends the code. Times are ISO 8601 UTC (``Z``); limits are counted in
Chinese working days and working hours (docs/cases.md "Time limits").
"""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.contracts.disclosure import AttachmentIn, AttachmentOut
from dmlib.schemas import BaseSchema, ClientKey, Id, MemberNo, Mobile

#: Case types (诉求类型), code → label. ``suggestion`` alone may be filed anonymously.
CASE_TYPES = {"inquiry": "咨询", "resolution": "求决", "suggestion": "建议", "complaint": "投诉"}
#: Categories (诉求分类), code → label.
CATEGORIES = {
    "wage_arrears": "欠薪讨薪",
    "overtime_pay": "加班工资",
    "labour_contract": "劳动合同",
    "social_insurance": "社会保险",
    "dismissal": "解除劳动关系",
    "safety": "劳动安全卫生",
    "welfare": "福利待遇",
    "union_services": "工会服务",
    "other": "其他",
}
#: Complexity classes (办理难度) → default limit in Chinese working days (config ``CASE_LIMIT_DAYS``).
COMPLEXITY = {"general": "一般", "difficult": "难点", "complex": "特别复杂"}
DEFAULT_LIMIT_DAYS = {"general": 5, "difficult": 15, "complex": 30}
#: How a case came in (受理渠道).
CHANNELS = {"online": "网上提交", "phone": "12351热线来电", "visit": "来访"}
#: States (办理状态), in the order a case passes them (docs/cases.md "States").
STATES = {
    "received": "已受理",  # 接: filed online or recorded by hotline staff, not yet dispatched
    "dispatched": "已派单",  # 派: with a handling union, waiting for its sign-for (签收)
    "signed": "已签收",  # 办: signed for, the worker not yet contacted
    "in_progress": "办理中",  # 办: the worker contacted; notes, interim replies
    "replied": "已答复",  # the final written reply given, waiting for the worker's rating
    "closed": "已办结",  # 评: rated (or the second round replied and rated), return visit possible
}
#: Ratings (评价). ``dissatisfied`` in round 1 reopens the case once (round 2).
SATISFACTION = {"satisfied": "满意", "partly": "基本满意", "dissatisfied": "不满意"}
#: Transfer directions (分级主办: the first receiving level leads; it may hand a case down or up).
TRANSFER_DIRECTIONS = {"down": "下转", "up": "上转"}
#: How the worker was contacted (联系方式).
CONTACT_METHODS = {"phone": "电话", "visit": "面谈", "sms": "短信", "online": "网上"}
#: Kinds of history entries (办理记录), code → label; ``note`` entries are internal (never in a progress
#: query).
HISTORY_ACTIONS = {
    "receive": "受理",
    "dispatch": "派单",
    "transfer": "转办",
    "sign_for": "签收",
    "contact": "联系诉求人",
    "note": "内部记录",
    "interim_reply": "阶段性答复",
    "reply": "答复",
    "rate": "评价",
    "reopen": "重新办理",
    "remind": "催办",
    "supervise": "督办",
    "follow_up": "回访",
    "close": "办结",
}
#: Time limits a case is measured against (for reminders, overdue flags and the response rate).
LIMITS = {"sign_for": "签收时限", "contact": "首次联系时限", "reply": "办结时限"}
#: The indicator metrics kept as counters (docs/cases.md "Indicators").
METRICS = (
    "received",
    "dispatched",
    "responded",
    "due",
    "closed",
    "closed_on_time",
    "rated",
    "resolved",
    "satisfied",
    "partly",
    "dissatisfied",
    "overdue",
)

CASE_NUMBER_RE = re.compile(r"^[0-9]{11}$")
MONTH_RE = re.compile(r"^20[0-9]{2}-(0[1-9]|1[0-2])$")


def _text(lo: int, hi: int, what: str):
    return validate.Length(min=lo, max=hi, error=f"{what}: {lo}-{hi} characters / {lo}至{hi}个字")


class Stripped(fields.String):
    """A string with surrounding blanks removed before the length is checked."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class CaseNumber(fields.String):
    """A case number (诉求编号) as a worker quotes it: 11 digits, ``YYMMDD`` of receipt + a 5-digit
    sequence of the day (e.g. ``26120400017``); blanks and full-width digits are accepted."""

    def _deserialize(self, value, attr, data, **kwargs):
        import unicodedata

        text = unicodedata.normalize("NFKC", super()._deserialize(value, attr, data, **kwargs))
        text = re.sub(r"[\s-]", "", text)
        if not CASE_NUMBER_RE.fullmatch(text):
            raise ValidationError("a case number is 11 digits / 诉求编号为11位数字")
        return text


# ----- in ----------------------------------------------------------------------------------------
class CallerIn(BaseSchema):
    """A caller who is not (or not known as) a member, recorded by hotline staff: name and phone."""

    name = Stripped(required=True, validate=_text(1, 40, "name"))
    phone = Mobile(required=True)


class EmployerIn(BaseSchema):
    """The employer: a grassroots union's enterprise (``union_id``) or free text (``name``), one of them."""

    union_id = Id(load_default=None, allow_none=True)
    name = Stripped(load_default=None, allow_none=True, validate=_text(2, 100, "employer"))

    @validates_schema
    def _one(self, data, **kwargs):
        if not data.get("union_id") and not data.get("name"):
            raise ValidationError("give the employer's union or its name / 请选择或填写用人单位", "name")


class CaseIn(BaseSchema):
    """A case filed online by a member (the filer is the caller's token; ``anonymous`` only for a
    suggestion) or recorded by hotline staff (``caller`` required, ``channel`` phone or visit, the
    member number when the caller is a member)."""

    case_type = fields.String(required=True, validate=validate.OneOf(tuple(CASE_TYPES)))
    category = fields.String(required=True, validate=validate.OneOf(tuple(CATEGORIES)))
    title = Stripped(required=True, validate=_text(4, 60, "title"))
    description = Stripped(required=True, validate=_text(10, 4000, "description"))
    employer = fields.Nested(EmployerIn, required=True)
    phone = Mobile(
        load_default=None,
        allow_none=True,
        metadata={"description": "the member's phone for contact and the progress query (online filing)"},
    )
    anonymous = fields.Boolean(load_default=False)
    attachments = fields.List(fields.Nested(AttachmentIn), load_default=list, validate=validate.Length(max=5))
    # hotline desk only
    channel = fields.String(load_default="online", validate=validate.OneOf(tuple(CHANNELS)))
    caller = fields.Nested(CallerIn, load_default=None, allow_none=True)
    member_id = MemberNo(load_default=None, allow_none=True, metadata={"description": "a calling member"})
    client_key = ClientKey()

    @validates_schema
    def _who(self, data, **kwargs):
        if data.get("anonymous") and data.get("case_type") != "suggestion":
            raise ValidationError("only a suggestion may be anonymous / 仅建议类诉求可匿名", "anonymous")
        if data.get("channel") != "online" and not data.get("caller"):
            raise ValidationError("a call needs the caller's name and phone / 来电须登记姓名和电话", "caller")
        if data.get("channel") == "online" and data.get("caller"):
            raise ValidationError("an online case is filed by the member / 网上诉求由会员本人提交", "caller")


class DispatchIn(BaseSchema):
    """Dispatch (派单) a received case to the union that handles it, with its complexity class (which
    sets the reply limit) — the employer's grassroots union, or the receiving union itself (分级主办)."""

    union_id = Id(required=True)
    complexity = fields.String(load_default="general", validate=validate.OneOf(tuple(COMPLEXITY)))
    note = Stripped(load_default="", validate=validate.Length(max=1000))


class TransferIn(BaseSchema):
    """Transfer (转办) a dispatched case down to a union below or up to a union above, with a reason.
    The reply deadline stays; the sign-for and contact limits start again."""

    union_id = Id(required=True)
    reason = Stripped(required=True, validate=_text(5, 1000, "reason"))


class ContactIn(BaseSchema):
    """The handler contacted the worker (联系诉求人)."""

    method = fields.String(load_default="phone", validate=validate.OneOf(tuple(CONTACT_METHODS)))
    note = Stripped(load_default="", validate=validate.Length(max=2000))


class NoteIn(BaseSchema):
    """An internal note (内部记录): visible to handlers and admins, never to the worker."""

    text = Stripped(required=True, validate=_text(2, 4000, "note"))


class ReplyIn(BaseSchema):
    """A written reply to the worker: an interim reply (阶段性答复) or the final reply (答复)."""

    text = Stripped(required=True, validate=_text(10, 8000, "reply"))


class RateIn(BaseSchema):
    """The worker's evaluation (评价) of the final reply: satisfaction and whether the problem was
    solved (是否解决, for the resolution rate)."""

    satisfaction = fields.String(required=True, validate=validate.OneOf(tuple(SATISFACTION)))
    resolved = fields.Boolean(required=True)
    comment = Stripped(load_default="", validate=validate.Length(max=1000))


class FollowUpIn(BaseSchema):
    """A return visit (回访) by hotline staff or an admin; for a caller who cannot rate online it may
    record the caller's rating (``satisfaction`` + ``resolved``) while the case is replied."""

    text = Stripped(required=True, validate=_text(2, 2000, "follow-up"))
    satisfaction = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(tuple(SATISFACTION))
    )
    resolved = fields.Boolean(load_default=None, allow_none=True)

    @validates_schema
    def _pair(self, data, **kwargs):
        if (data.get("satisfaction") is None) != (data.get("resolved") is None):
            raise ValidationError(
                "give both satisfaction and resolved, or neither / 满意度与是否解决须同时填写", "resolved"
            )


class SuperviseIn(BaseSchema):
    """A superior union's supervision (督办) or reminder (催办) of a case, with a note."""

    note = Stripped(required=True, validate=_text(2, 1000, "note"))


#: Orders of the case queue (issue 16, "Queues").
QUEUE_SORTS = ("urgent", "newest", "oldest")


class QueueIn(BaseSchema):
    """A union's case queue (办件列表): filters and paging. ``scope`` ``own`` = cases handled by the
    union; ``tree`` = by it and every union below (superior admins)."""

    union_id = Id(required=True)
    scope = fields.String(load_default="own", validate=validate.OneOf(["own", "tree"]))
    state = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(tuple(STATES)))
    category = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(tuple(CATEGORIES)))
    case_type = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(tuple(CASE_TYPES)))
    overdue = fields.Boolean(load_default=None, allow_none=True)
    supervised = fields.Boolean(
        load_default=None, allow_none=True, metadata={"description": "escalated (督办) only"}
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    q = Stripped(
        load_default=None,
        allow_none=True,
        validate=_text(1, 50, "search"),
        metadata={"description": "text in the title, employer name or worker name (newest 5,000 cases)"},
    )
    sort = fields.String(
        load_default="urgent",
        validate=validate.OneOf(QUEUE_SORTS),
        metadata={
            "description": "urgent (overdue, then the nearest deadline; default), newest or oldest "
            "received first; each ends with the case number (a stable order)"
        },
    )


class QueryCodeIn(BaseSchema):
    """Ask for a one-time code (sent by SMS to the phone given when the case was filed)."""

    case_number = CaseNumber(required=True)
    phone = Mobile(required=True)


class ProgressIn(BaseSchema):
    """The progress query (进度查询): case number + phone + the one-time code."""

    case_number = CaseNumber(required=True)
    phone = Mobile(required=True)
    code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}$", error="6 digits / 6位数字"))


class IndicatorsIn(BaseSchema):
    """Indicators of a union (its own cases and every union below) over the months ``from_month`` …
    ``to_month`` (``YYYY-MM``, at most 36 months; default: the current month)."""

    union_id = Id(required=True)
    from_month = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(MONTH_RE))
    to_month = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(MONTH_RE))

    @validates_schema
    def _order(self, data, **kwargs):
        a, b = data.get("from_month"), data.get("to_month")
        if a and b and a > b:
            raise ValidationError("from_month after to_month / 起始月份晚于结束月份", "from_month")


class TopicIn(BaseSchema):
    """每月一题: the month (``YYYY-MM``, default the current one) of a union's tree."""

    union_id = Id(required=True)
    month = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(MONTH_RE))


class ReplayByIn(BaseSchema):
    """Who did a replayed step: a member (``union_id``) or staff (``role`` + ``scope``)."""

    member_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = Stripped(load_default="", validate=validate.Length(max=40))
    union_id = Id(load_default=None, allow_none=True)
    role = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["union_admin", "superior_admin", "hotline_staff"]),
    )
    scope = Id(load_default=None, allow_none=True)


class ReplayStepIn(BaseSchema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(
            [
                "dispatch",
                "transfer",
                "sign_for",
                "contact",
                "note",
                "interim_reply",
                "reply",
                "rate",
                "follow_up",
                "supervise",
                "check",
            ]
        ),
    )
    at = fields.AwareDateTime(required=True)
    by = fields.Nested(ReplayByIn, load_default=None, allow_none=True)
    data = fields.Dict(
        load_default=dict, metadata={"description": "the step's input (DispatchIn, ReplyIn, …)"}
    )


class ReplayIn(BaseSchema):
    """One past case to take over (the demo, a migration from a paper or spreadsheet register): the case
    (:class:`CaseIn`), who filed or recorded it and when, and its later steps in order (system only)."""

    case = fields.Dict(required=True)
    at = fields.AwareDateTime(required=True)
    by = fields.Nested(ReplayByIn, required=True)
    union_id = Id(load_default=None, allow_none=True, metadata={"description": "where a call was recorded"})
    steps = fields.List(fields.Nested(ReplayStepIn), load_default=list, validate=validate.Length(max=40))


# ----- out ---------------------------------------------------------------------------------------
class PersonOut(BaseSchema):
    member_id = fields.String(allow_none=True, metadata={"description": "null for a non-member caller"})
    name = fields.String(metadata={"description": "匿名 when anonymous"})
    phone_masked = fields.String(allow_none=True, metadata={"description": "e.g. 138****5678"})


class EmployerOut(BaseSchema):
    union_id = fields.String(allow_none=True)
    name = fields.String()


class HistoryOut(BaseSchema):
    action = fields.String(metadata={"description": "a code of HISTORY_ACTIONS"})
    action_label = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    round = fields.Integer()
    by_name = fields.String()
    role = fields.String(
        metadata={"description": "worker, hotline_staff, union_admin, superior_admin, system"}
    )
    union_id = fields.String(allow_none=True, metadata={"description": "the acting union (transfers: from)"})
    to_union_id = fields.String(allow_none=True, metadata={"description": "dispatch/transfer target"})
    at = fields.String()
    text = fields.String(allow_none=True, metadata={"description": "reason, note, reply or comment"})
    internal = fields.Boolean(metadata={"description": "internal notes: never shown to the worker"})


class LimitOut(BaseSchema):
    limit = fields.String(metadata={"description": "sign_for | contact | reply"})
    due_at = fields.String(metadata={"description": "the limit's end, UTC"})
    met_at = fields.String(allow_none=True)
    on_time = fields.Boolean(allow_none=True, metadata={"description": "null while open"})
    overdue = fields.Boolean(metadata={"description": "open and past due now"})
    colour = fields.String(
        metadata={"description": "green | amber (≤ 1 working day left) | red (overdue) | grey (met)"}
    )


class RoundOut(BaseSchema):
    round = fields.Integer(metadata={"description": "1, or 2 after a dissatisfied rating"})
    dispatched_at = fields.String()
    complexity = fields.String()
    limit_days = fields.Integer(metadata={"description": "working days of the reply limit"})
    limits = fields.List(fields.Nested(LimitOut))
    reply = fields.String(allow_none=True)
    replied_at = fields.String(allow_none=True)
    rating = fields.Dict(
        allow_none=True, metadata={"description": "{satisfaction, resolved, comment, at, via}"}
    )


class CaseOut(BaseSchema):
    """A case as its handlers and admins see it (``internal`` notes included)."""

    id = fields.String(metadata={"description": "the case number (诉求编号), 11 digits"})
    case_type = fields.String()
    case_type_label = fields.String()
    category = fields.String()
    category_label = fields.String()
    title = fields.String()
    description = fields.String()
    channel = fields.String()
    worker = fields.Nested(PersonOut)
    anonymous = fields.Boolean()
    employer = fields.Nested(EmployerOut)
    attachments = fields.List(fields.Nested(AttachmentOut))
    state = fields.String()
    state_label = fields.String()
    round = fields.Integer()
    receiving_union_id = fields.String(
        metadata={"description": "the union that received it (leads, 分级主办)"}
    )
    handling_union_id = fields.String(allow_none=True)
    handling_union_name = fields.String(allow_none=True)
    complexity = fields.String(allow_none=True)
    rounds = fields.List(fields.Nested(RoundOut))
    deadline = fields.String(allow_none=True, metadata={"description": "reply limit of the current round"})
    working_days_left = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    colour = fields.String(
        metadata={"description": "green | amber | red | grey: the queue's time-limit colour"}
    )
    supervised = fields.Boolean(metadata={"description": "escalated to the superior union (督办)"})
    supervising_union_id = fields.String(allow_none=True)
    reminders = fields.Integer(metadata={"description": "reminders (催办) sent"})
    history = fields.List(fields.Nested(HistoryOut))
    follow_ups = fields.List(fields.Dict(), metadata={"description": "[{text, by_name, at}] return visits"})
    received_at = fields.String()
    closed_at = fields.String(allow_none=True)
    my_roles = fields.List(fields.String(), metadata={"description": "worker, handler, receiver, supervisor"})


class ProgressOut(BaseSchema):
    """What the worker (or caller) sees: state, the limits and the history WITHOUT internal notes,
    names of staff reduced to their union."""

    id = fields.String()
    case_type_label = fields.String()
    category_label = fields.String()
    title = fields.String()
    state = fields.String()
    state_label = fields.String()
    round = fields.Integer()
    handling_union_name = fields.String(allow_none=True)
    deadline = fields.String(allow_none=True)
    history = fields.List(fields.Nested(HistoryOut))
    replies = fields.List(fields.Dict(), metadata={"description": "[{round, kind: interim|final, text, at}]"})
    can_rate = fields.Boolean()
    received_at = fields.String()
    closed_at = fields.String(allow_none=True)


class CaseSummaryOut(BaseSchema):
    """One row of a queue."""

    id = fields.String()
    case_type = fields.String()
    category = fields.String()
    category_label = fields.String()
    title = fields.String()
    state = fields.String()
    state_label = fields.String()
    round = fields.Integer()
    handling_union_id = fields.String(allow_none=True)
    employer_name = fields.String()
    deadline = fields.String(allow_none=True)
    working_days_left = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    colour = fields.String()
    supervised = fields.Boolean()
    received_at = fields.String()


class QueueOut(BaseSchema):
    items = fields.List(fields.Nested(CaseSummaryOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()
    searched_all = fields.Boolean(
        allow_none=True,
        metadata={"description": "with q: false when older cases than the newest 5,000 were not searched"},
    )


class QueryCodeOut(BaseSchema):
    sent = fields.Boolean(metadata={"description": "always true (also for an unknown case/phone pair)"})
    expires_in = fields.Integer(metadata={"description": "seconds the code is valid"})


class RatesOut(BaseSchema):
    """Rates in [0, 1], null when the denominator is 0 (formulas: docs/cases.md "Indicators")."""

    response_rate = fields.Float(allow_none=True, metadata={"description": "responded ÷ dispatched"})
    resolution_rate = fields.Float(allow_none=True, metadata={"description": "resolved ÷ rated"})
    satisfaction_rate = fields.Float(
        allow_none=True, metadata={"description": "(satisfied + partly) ÷ rated"}
    )
    satisfied_rate = fields.Float(allow_none=True, metadata={"description": "satisfied ÷ rated"})
    closure_rate = fields.Float(allow_none=True, metadata={"description": "closed ÷ due"})
    on_time_rate = fields.Float(allow_none=True, metadata={"description": "closed_on_time ÷ due"})


class IndicatorsOut(BaseSchema):
    union_id = fields.String()
    from_month = fields.String()
    to_month = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "METRICS"})
    rates = fields.Nested(RatesOut)
    formulas = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "rate → formula (zh)"}
    )
    by_month = fields.List(fields.Dict(), metadata={"description": "[{month, counts, rates}]"})
    by_category = fields.List(fields.Dict(), metadata={"description": "[{category, label, counts, rates}]"})
    by_union = fields.List(
        fields.Dict(),
        metadata={"description": "[{union_id, counts, rates}]: the union itself and its direct children"},
    )


class AlertOut(BaseSchema):
    """未诉先办: one enterprise with at least N cases of one category within D days."""

    id = fields.String()
    employer_key = fields.String(metadata={"description": "union id or the normalised free-text name"})
    employer_name = fields.String()
    category = fields.String()
    category_label = fields.String()
    count = fields.Integer()
    window_days = fields.Integer()
    threshold = fields.Integer()
    first_at = fields.String()
    last_at = fields.String()
    case_ids = fields.List(fields.String())
    union_id = fields.String(metadata={"description": "the superior union that sees it"})


class TopicOut(BaseSchema):
    """每月一题: a month's top categories and enterprises, with the previous months for the trend."""

    union_id = fields.String()
    month = fields.String()
    top_categories = fields.List(
        fields.Dict(), metadata={"description": "[{category, label, count, trend: [6 months]}]"}
    )
    top_employers = fields.List(
        fields.Dict(), metadata={"description": "[{employer_key, name, count, top_category}]"}
    )


class SettingsOut(BaseSchema):
    """The configured numbers (config.yaml, docs/cases.md), for the pages."""

    limit_days = fields.Dict(keys=fields.String(), values=fields.Integer())
    sign_for_hours = fields.Integer()
    contact_days = fields.Integer()
    alert_threshold = fields.Integer()
    alert_window_days = fields.Integer()
    case_types = fields.Dict(keys=fields.String(), values=fields.String())
    categories = fields.Dict(keys=fields.String(), values=fields.String())
    complexity = fields.Dict(keys=fields.String(), values=fields.String())
    states = fields.Dict(keys=fields.String(), values=fields.String())
    satisfaction = fields.Dict(keys=fields.String(), values=fields.String())
