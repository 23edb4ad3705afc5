"""HTTP API and pages of worker requests (接诉即办, issue 13): receive, dispatch, handle, evaluate.

Rights, states and limits are the cases service's (it checks the caller's token on every call); the
gateway maps its typed errors to HTTP (:func:`services.gateway.http.error_payload`) and to the pages' one
policy (:mod:`services.gateway.pages`). Pages (Chinese first, plain forms, no script, usable at 390 px):

- ``/cases``: the caller's own cases and the links each role needs;
- ``/cases/new``: a member files a request on a phone;
- ``/unions/<id>/hotline``: the hotline desk (``hotline_staff``, admins) records a call;
- ``/unions/<id>/cases``: the union's case queue (filters, case-number search, paging, time-limit colours);
- ``/cases/<number>``: one case with its rounds, limits and history; the handler's actions (dispatch, sign
  for, contact, note, interim reply, final reply, transfer with a reason, supervise, return visit) and the
  worker's rating, irreversible ones behind the ``confirm`` box;
- ``/cases/progress``: the progress query (case number + phone + one-time code; no login, no internal
  notes);
- ``/unions/<id>/cases/indicators``: the indicators with their formulas, charts by month, category and
  union, the XLSX monthly report (``/unions/<id>/cases/report.xlsx``);
- ``/unions/<id>/cases/topic``: 每月一题 and the 未诉先办 alerts.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from dmlib.contracts import cases as c
from dmlib.errors import BadInput

from .disclosure import _file_response
from .http import api, page
from .pages import check_upload, download, form_client_key, form_files, require_confirmed
from .routing import Router

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: English message ids of the service's coded terms (Chinese in cases.po; the service's own labels are
#: the Chinese of the same codes).
STATE_LABELS = {
    "received": "Received, not yet dispatched",
    "dispatched": "Dispatched",
    "signed": "Signed for",
    "in_progress": "Being handled",
    "replied": "Replied",
    "closed": "Closed",
}
TYPE_LABELS = {
    "inquiry": "Inquiry",
    "resolution": "Request for resolution",
    "suggestion": "Suggestion",
    "complaint": "Complaint",
}
CATEGORY_LABELS = {
    "wage_arrears": "Wage arrears",
    "overtime_pay": "Overtime pay",
    "labour_contract": "Labour contract",
    "social_insurance": "Social insurance",
    "dismissal": "Dismissal",
    "safety": "Safety and health",
    "welfare": "Welfare",
    "union_services": "Union services",
    "other": "Other",
}
COMPLEXITY_LABELS = {"general": "General", "difficult": "Difficult", "complex": "Especially complex"}
SATISFACTION_LABELS = {"satisfied": "Satisfied", "partly": "Partly satisfied", "dissatisfied": "Dissatisfied"}
CONTACT_LABELS = {"phone": "By phone", "visit": "In person", "sms": "By SMS", "online": "Online"}
CHANNEL_LABELS = {"online": "Filed online", "phone": "12351 hotline call", "visit": "Visit"}
LIMIT_LABELS = {"sign_for": "Sign-for limit", "contact": "First-contact limit", "reply": "Reply limit"}
COLOUR_LABELS = {
    "green": "Within the limit",
    "amber": "One working day or less left",
    "red": "Overdue",
    "grey": "Limit met",
}
#: The indicators' formulas as the page writes them (message ids; the service's ``formulas`` are the
#: Chinese originals, docs/cases.md "Indicators").
RATES = (
    ("response_rate", "Response rate", "signed for and contacted within the limits ÷ dispatched"),
    ("resolution_rate", "Resolution rate", "resolved ÷ rated"),
    ("satisfaction_rate", "Satisfaction rate", "(satisfied + partly satisfied) ÷ rated"),
    ("satisfied_rate", "Satisfied alone", "satisfied ÷ rated"),
    ("closure_rate", "Closure rate", "closed ÷ due"),
    ("on_time_rate", "On-time closure rate", "closed on time ÷ due"),
)
#: The queue's filters as they travel in the query string.
QUEUE_FILTERS = (
    "scope",
    "state",
    "category",
    "case_type",
    "overdue",
    "supervised",
    "sort",
    "page",
    "per_page",
)
#: Page actions on a case: form path → (RPC method, the form fields it takes, needs the confirm box).
ACTIONS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "dispatch": ("dispatch", ("union_id", "complexity", "note"), True),
    "transfer": ("transfer", ("union_id", "reason"), True),
    "sign-for": ("sign_for", (), False),
    "contact": ("contact", ("method", "note"), False),
    "note": ("add_note", ("text",), False),
    "interim-reply": ("interim_reply", ("text",), False),
    "reply": ("reply", ("text",), True),
    "rate": ("rate", ("satisfaction", "resolved", "comment"), True),
    "follow-up": ("follow_up", ("text", "satisfaction", "resolved"), False),
    "supervise": ("supervise", ("note",), False),
}


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _month(value: str | None, name: str = "month") -> str:
    """``YYYY-MM`` from a query (empty → the current month), else 400 with the field's message."""
    if not value:
        return this_month()
    if not c.MONTH_RE.fullmatch(value):
        raise BadInput("a month is YYYY-MM / 月份格式为 YYYY-MM", fields={name: ["not YYYY-MM"]})
    return value


def _rate(value) -> float | None:
    return None if value is None else round(float(value), 4)


def report_xlsx(ind: dict, topic: dict, alerts: list[dict], names: dict[str, str]) -> bytes:
    """The monthly report (接诉即办月报) of a union's tree as an XLSX workbook: the month's counts and
    rates with their formulas, one row per direct child union and per category, the month's topic
    (每月一题) and the open 未诉先办 alerts. Every cell through :func:`dmlib.exports.xlsx_append`."""
    from dmlib.exports import china_time, export_stamp, xlsx_append

    union = names.get(ind["union_id"], ind["union_id"])
    period = (
        ind["from_month"]
        if ind["from_month"] == ind["to_month"]
        else f"{ind['from_month']}—{ind['to_month']}"
    )
    wb = Workbook()
    ws = wb.active
    ws.title = "指标"
    xlsx_append(ws, [f"{union} 接诉即办月报 {period}"])
    ws["A1"].font = Font(bold=True, size=14)
    xlsx_append(ws, [f"导出时间 {export_stamp()}"])
    head = ["单位", "受理", "派单", "响应", "应办结", "办结", "按时办结", "评价", "解决", "满意", "基本满意",
            "不满意", "超期", "响应率", "解决率", "满意率", "满意(仅满意)率", "办结率", "按时办结率"]  # fmt: skip
    xlsx_append(ws, head)
    for cell in ws[3]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="C8102E")

    def row(label: str, counts: dict, rates: dict) -> None:
        xlsx_append(
            ws,
            [label, *(counts.get(m, 0) for m in c.METRICS), *(_rate(rates.get(k)) for k, _, _ in RATES)],
        )
        for col in range(14, 20):
            ws.cell(ws.max_row, col).number_format = "0.0%"

    row(f"{union}（合计）", ind["counts"], ind["rates"])
    for u in ind["by_union"]:
        if u["union_id"] != ind["union_id"]:
            row(names.get(u["union_id"], u["union_id"]), u["counts"], u["rates"])
    xlsx_append(ws, [])
    xlsx_append(ws, ["指标口径"])
    for key, formula in ind["formulas"].items():
        xlsx_append(ws, [key, formula])
    ws.column_dimensions["A"].width = 24

    cat = wb.create_sheet("分类")
    xlsx_append(cat, ["分类", *head[1:]])
    for r in ind["by_category"]:
        xlsx_append(
            cat,
            [
                r["label"],
                *(r["counts"].get(m, 0) for m in c.METRICS),
                *(_rate(r["rates"].get(k)) for k, _, _ in RATES),
            ],
        )
    cat.column_dimensions["A"].width = 16

    top = wb.create_sheet("每月一题")
    xlsx_append(top, [f"{topic['month']} 每月一题：诉求集中的分类和企业"])
    xlsx_append(top, ["分类", "件数", "近6个月"])
    for t in topic["top_categories"]:
        xlsx_append(top, [t["label"], t["count"], " / ".join(str(n) for n in t.get("trend", []))])
    xlsx_append(top, [])
    xlsx_append(top, ["企业", "件数", "最多的分类"])
    for e in topic["top_employers"]:
        xlsx_append(
            top, [e["name"], e["count"], c.CATEGORIES.get(e.get("top_category"), e.get("top_category"))]
        )
    xlsx_append(top, [])
    xlsx_append(top, ["未诉先办预警", "分类", "件数", "天数", "最早", "最近"])
    for a in alerts:
        xlsx_append(
            top,
            [
                a["employer_name"],
                a["category_label"],
                a["count"],
                a["window_days"],
                china_time(a["first_at"], "day"),
                china_time(a["last_at"], "day"),
            ],
        )
    top.column_dimensions["A"].width = 30
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


class CasesRoutes(Router):
    uses = ("cases_rpc", "members_rpc")

    # ----- API: receive ----------------------------------------------------------------------------
    @api("GET", "/api/v1/cases/settings", response=c.SettingsOut, tags=["cases"])
    def api_cases_settings(self, request):
        """The configured limits (working days / hours), the 未诉先办 threshold and window, and the
        enumerations with their Chinese labels. Anyone logged in."""
        return self.cases_rpc.settings()

    @api(
        "POST",
        "/api/v1/cases",
        body=c.CaseIn(exclude=("caller", "member_id", "channel")),
        response=c.CaseOut,
        status=201,
        tags=["cases"],
        max_body="MAX_UPLOAD_BYTES",
        idempotent=True,
    )
    def api_file_case(self, request, body):
        """A member files a request online (接): ``{case_type, category, title, description, employer:
        {union_id | name}, phone, anonymous, attachments}``; anonymous only for a suggestion. 201 with the
        case and its number (``id``). 400 with field messages, 403 not a member.
        ``Idempotency-Key``: a retry with the same key returns what the first made."""
        return self.cases_rpc.file_case({**body, "channel": "online"})

    @api(
        "POST",
        "/api/v1/unions/<union_id>/hotline-cases",
        body=c.CaseIn,
        response=c.CaseOut,
        status=201,
        tags=["cases"],
        max_body="MAX_UPLOAD_BYTES",
        idempotent=True,
    )
    def api_record_call(self, request, union_id, body):
        """Hotline staff (or admins) of the union record a call or visit (接): ``channel`` ``phone`` |
        ``visit`` and ``caller`` ``{name, phone}`` required. 201 with the case. 403 another union.
        ``Idempotency-Key``: a retry with the same key returns what the first made."""
        return self.cases_rpc.record_call(union_id, body)

    # ----- API: reading ---------------------------------------------------------------------------
    @api("GET", "/api/v1/cases/mine", response=[c.CaseSummaryOut], tags=["cases"])
    def api_my_cases(self, request):
        """The caller's own cases, newest first."""
        return self.cases_rpc.my_cases()

    @api("GET", "/api/v1/unions/<union_id>/cases", query=c.QueueIn, response=c.QueueOut, tags=["cases"])
    def api_case_queue(self, request, union_id):
        """A union's case queue: filters ``state``, ``category``, ``case_type``, ``overdue``,
        ``supervised``, ``scope`` (``own`` | ``tree``), free text ``q`` (1-50 characters, in the title,
        employer name or worker name of the newest 5,000 cases of the filters: ``searched_all``),
        paging ``page``/``per_page`` (≤ 200); ``sort`` urgent (default: most urgent first), newest or
        oldest received first; each row with its time-limit
        ``colour``. Staff and admins of the union or above. Errors: 400 (field messages), 403, 404."""
        return self.cases_rpc.queue({**request.args.to_dict(), "union_id": union_id})

    @api(
        "GET",
        "/api/v1/cases/<case_id>/attachments/<attachment_id>",
        response="application/octet-stream",
        tags=["cases"],
    )
    def api_case_attachment(self, request, case_id, attachment_id):
        """Download an attachment of a case (its worker; staff who may read the case); always as a
        download. Errors: 403, 404 (case, or a file not of this case)."""
        return _file_response(self.cases_rpc.get_attachment(case_id, attachment_id), download_it=True)

    @api("GET", "/api/v1/cases/<case_id>", response=c.CaseOut, tags=["cases"])
    def api_get_case(self, request, case_id):
        """One case with its rounds, limits and history (the filing member: without internal notes).
        403 another union's case, 404 no such case."""
        return self.cases_rpc.get_case(case_id)

    # ----- API: dispatch and handle -----------------------------------------------------------------
    @api("POST", "/api/v1/cases/<case_id>/dispatch", body=c.DispatchIn, response=c.CaseOut, tags=["cases"])
    def api_dispatch_case(self, request, case_id, body):
        """Dispatch (派单) a received case to the employer's union or the receiving union itself, with its
        complexity class (一般 / 难点 / 特别复杂: the reply limit in working days). 409 not ``received``."""
        return self.cases_rpc.dispatch(case_id, body)

    @api("POST", "/api/v1/cases/<case_id>/transfer", body=c.TransferIn, response=c.CaseOut, tags=["cases"])
    def api_transfer_case(self, request, case_id, body):
        """Transfer (转办) down or up with a ``reason`` (5-1000 characters); kept in the history. 409 when
        not open or to the same union."""
        return self.cases_rpc.transfer(case_id, body)

    @api("POST", "/api/v1/cases/<case_id>/sign-for", response=c.CaseOut, tags=["cases"])
    def api_sign_for_case(self, request, case_id):
        """Sign for (签收) a dispatched case (the handling union). 409 not ``dispatched``."""
        return self.cases_rpc.sign_for(case_id)

    @api("POST", "/api/v1/cases/<case_id>/contact", body=c.ContactIn, response=c.CaseOut, tags=["cases"])
    def api_contact_worker(self, request, case_id, body):
        """Record contact with the worker (联系): ``{method, note}``. 409 before the sign-for."""
        return self.cases_rpc.contact(case_id, body)

    @api("POST", "/api/v1/cases/<case_id>/notes", body=c.NoteIn, response=c.CaseOut, tags=["cases"])
    def api_add_case_note(self, request, case_id, body):
        """An internal note (内部记录), never shown to the worker."""
        return self.cases_rpc.add_note(case_id, body)

    @api(
        "POST", "/api/v1/cases/<case_id>/interim-replies", body=c.ReplyIn, response=c.CaseOut, tags=["cases"]
    )
    def api_interim_reply(self, request, case_id, body):
        """An interim reply to the worker (阶段性答复). 409 not ``in_progress``."""
        return self.cases_rpc.interim_reply(case_id, body)

    @api("POST", "/api/v1/cases/<case_id>/reply", body=c.ReplyIn, response=c.CaseOut, tags=["cases"])
    def api_reply_case(self, request, case_id, body):
        """The written final reply (答复) of the round. 409 not ``in_progress`` (sign for and contact
        first)."""
        return self.cases_rpc.reply(case_id, body)

    @api("POST", "/api/v1/cases/<case_id>/rating", body=c.RateIn, response=c.CaseOut, tags=["cases"])
    def api_rate_case(self, request, case_id, body):
        """The filing member rates the reply: ``{satisfaction: satisfied | partly | dissatisfied,
        resolved, comment}``; 不满意 in round 1 reopens the case once. 403 not the filer, 409 not
        ``replied``."""
        return self.cases_rpc.rate(case_id, body)

    @api("POST", "/api/v1/cases/<case_id>/follow-ups", body=c.FollowUpIn, response=c.CaseOut, tags=["cases"])
    def api_follow_up_case(self, request, case_id, body):
        """A return visit (回访), optionally recording a caller's rating. 409 not ``replied``/``closed``."""
        return self.cases_rpc.follow_up(case_id, body)

    @api(
        "POST", "/api/v1/cases/<case_id>/supervision", body=c.SuperviseIn, response=c.CaseOut, tags=["cases"]
    )
    def api_supervise_case(self, request, case_id, body):
        """Supervision or a reminder (督办 / 催办) by a superior admin above the handling union."""
        return self.cases_rpc.supervise(case_id, body)

    # ----- API: progress query (no login) ------------------------------------------------------------
    @api(
        "POST",
        "/api/v1/case-progress/code",
        body=c.QueryCodeIn,
        response=c.QueryCodeOut,
        tags=["cases"],
        public=True,
    )
    def api_case_progress_code(self, request, body):
        """Send a one-time code by SMS to the case's phone: ``{case_number, phone}``. The same answer for
        an unknown pair; 429 after too many codes (``Retry-After``)."""
        return self.cases_rpc.request_query_code(body)

    @api(
        "POST",
        "/api/v1/case-progress",
        body=c.ProgressIn,
        response=c.ProgressOut,
        tags=["cases"],
        public=True,
    )
    def api_case_progress(self, request, body):
        """The progress query: ``{case_number, phone, code}`` → state, deadline, replies and history
        without internal notes. 404 one message for a wrong number, phone or code; 429 too many tries."""
        return self.cases_rpc.query_progress(body)

    # ----- API: indicators, alerts, topic -----------------------------------------------------------
    @api(
        "GET",
        "/api/v1/unions/<union_id>/case-indicators",
        query=c.IndicatorsIn,
        response=c.IndicatorsOut,
        tags=["cases"],
    )
    def api_case_indicators(self, request, union_id):
        """Indicators of the union's tree over ``from_month``…``to_month`` (``YYYY-MM``): counts, the
        rates with their formulas, by month, category and child union. Admins and hotline staff."""
        return self.cases_rpc.indicators({**request.args.to_dict(), "union_id": union_id})

    @api("GET", "/api/v1/unions/<union_id>/case-report.xlsx", query=c.TopicIn, response=XLSX, tags=["cases"])
    def api_case_report(self, request, union_id):
        """The monthly report (``?month=YYYY-MM``, default this month) as an Excel workbook: indicators
        by union and category with formulas, 每月一题, 未诉先办 alerts. Admins of the union or above."""
        return self._report(union_id, request.args.get("month"))

    @api("GET", "/api/v1/unions/<union_id>/case-alerts", response=[c.AlertOut], tags=["cases"])
    def api_case_alerts(self, request, union_id):
        """未诉先办: enterprises with at least N cases of one category within D days (superior admins)."""
        return self.cases_rpc.alerts(union_id)

    @api("GET", "/api/v1/unions/<union_id>/case-topic", query=c.TopicIn, response=c.TopicOut, tags=["cases"])
    def api_case_topic(self, request, union_id):
        """每月一题: the month's top categories (6-month trend) and enterprises of the union's tree."""
        return self.cases_rpc.topic({**request.args.to_dict(), "union_id": union_id})

    # ----- helpers ---------------------------------------------------------------------------------
    def _report(self, union_id: str, month: str | None):
        month = _month(month)
        ind = self.cases_rpc.indicators({"union_id": union_id, "from_month": month, "to_month": month})
        topic = self.cases_rpc.topic({"union_id": union_id, "month": month})
        alerts = self.web.visible(self.cases_rpc.alerts, union_id, default=[])
        data = report_xlsx(ind, topic, alerts, self._names())
        return download(
            data, XLSX, f"接诉即办月报-{union_id}-{month}.xlsx", ascii_name=f"cases-{union_id}-{month}.xlsx"
        )

    def _names(self) -> dict[str, str]:
        """Union id → name, for every union (the structure of the unions is public)."""
        return {u["id"]: u["name"] for u in self.members_rpc.list_unions()}

    def _render(self, template: str, request, status: int = 200, **context):
        return self.web.render(
            f"cases/{template}",
            status=status,
            request=request,
            STATE_LABELS=STATE_LABELS,
            TYPE_LABELS=TYPE_LABELS,
            CATEGORY_LABELS=CATEGORY_LABELS,
            COMPLEXITY_LABELS=COMPLEXITY_LABELS,
            SATISFACTION_LABELS=SATISFACTION_LABELS,
            CONTACT_LABELS=CONTACT_LABELS,
            CHANNEL_LABELS=CHANNEL_LABELS,
            LIMIT_LABELS=LIMIT_LABELS,
            COLOUR_LABELS=COLOUR_LABELS,
            RATES=RATES,
            **context,
        )

    def _desk_unions(self) -> list[str]:
        """The unions the caller works for on cases: administered ones and hotline scopes."""
        actor = self.identity.actor
        return sorted(actor.admin_unions | actor.scopes("hotline_staff"))

    @staticmethod
    def _safe(value: str) -> str:
        return quote(value or "", safe="-_")

    def _case_form(self, request, hotline: bool) -> dict:
        """The filing (or hotline) form as the service's input; files become base64 attachments."""
        check_upload(request, self.web.max_upload_bytes)
        f = request.form
        employer = f.get("employer_union_id", "").strip()
        data = {
            "case_type": f.get("case_type", ""),
            "category": f.get("category", ""),
            "title": f.get("title", ""),
            "description": f.get("description", ""),
            "employer": {"union_id": employer} if employer else {"name": f.get("employer_name", "")},
            "phone": f.get("phone", "").strip() or None,
            "anonymous": f.get("anonymous") == "on",
            "attachments": form_files(request, "attachments"),
            "client_key": form_client_key(request),
        }
        if hotline:
            data["channel"] = f.get("channel", "phone")
            data["caller"] = {"name": f.get("caller_name", ""), "phone": f.get("caller_phone", "")}
            data["member_id"] = f.get("member_id", "").strip() or None
            data.pop("anonymous")
        return data

    def _employers(self) -> list[dict]:
        return [u for u in self.members_rpc.list_unions(None, "grassroots")]

    # ----- pages: home, filing, hotline desk ----------------------------------------------------------
    @page("GET", "/cases")
    def cases_home(self, request):
        """The caller's own cases and the desks, queues and dashboards of the unions they work for."""
        actor = self.identity.actor
        mine = self.cases_rpc.my_cases() if actor.union_id else []
        names = self._names()
        desks = [
            {"id": u, "name": names.get(u, u), "hotline": u in actor.scopes("hotline_staff")}
            for u in self._desk_unions()
        ]
        return self._render("home.html", request, mine=mine, desks=desks)

    @page("GET", "/cases/new")
    def cases_new(self, request):
        """The filing form (members), phone-first."""
        actor = self.identity.actor
        actor.require(actor.union_id is not None, "members only / 仅限工会会员")
        values = {"employer_union_id": actor.union_id}
        return self._render("new.html", request, values=values, errors={}, employers=self._employers())

    @page("POST", "/cases/new", max_body="MAX_UPLOAD_BYTES")
    def cases_new_submit(self, request):
        done = self.web.attempt(
            lambda: self.cases_rpc.file_case({**self._case_form(request, False), "channel": "online"})
        )
        if done.refusal:
            return self._render(
                "new.html", request, done.refusal.status, values=request.form.to_dict(),
                errors=done.refusal.errors, employers=self._employers(),
            )  # fmt: skip
        number = done.value["id"]
        text = self.web.gettext("Received. Your case number is")
        return self.web.redirect(f"/cases/{number}", text, ref=number)

    @page("GET", "/unions/<union_id>/hotline")
    def cases_hotline(self, request, union_id):
        """The hotline desk: record a call (hotline staff and admins of the union or above)."""
        union = self.members_rpc.get_union(union_id)
        self._require_desk(union)
        queue = self.cases_rpc.queue({"union_id": union_id, "state": "received", "per_page": 20})
        return self._render(
            "hotline.html", request, union=union, values={"channel": "phone"}, errors={},
            employers=self._employers(), received=queue,
        )  # fmt: skip

    def _require_desk(self, union: dict) -> None:
        actor = self.identity.actor
        allowed = actor.administers(union["path"]) or bool(actor.scopes("hotline_staff") & set(union["path"]))
        actor.require(allowed, "hotline staff and admins of the union only / 仅限本工会热线人员和管理员")

    @page("POST", "/unions/<union_id>/hotline", max_body="MAX_UPLOAD_BYTES")
    def cases_hotline_submit(self, request, union_id):
        done = self.web.attempt(lambda: self.cases_rpc.record_call(union_id, self._case_form(request, True)))
        if done.refusal:
            union = self.members_rpc.get_union(union_id)
            queue = self.cases_rpc.queue({"union_id": union_id, "state": "received", "per_page": 20})
            return self._render(
                "hotline.html", request, done.refusal.status, union=union, values=request.form.to_dict(),
                errors=done.refusal.errors, employers=self._employers(), received=queue,
            )  # fmt: skip
        number = done.value["id"]
        return self.web.redirect(f"/cases/{number}", self.web.gettext("Call recorded as case"), ref=number)

    # ----- pages: queue and case ---------------------------------------------------------------------
    @page("GET", "/unions/<union_id>/cases")
    def cases_queue(self, request, union_id):
        """The union's case queue: filters, search (a case number opens the case; other text is
        searched in the titles, employer names and worker names: ``q``), a picker of the unions below
        (``union``: that union's queue with the same filters), paging, time-limit colours."""
        q = (request.args.get("q") or "").strip()
        if q:
            try:
                number = c.CaseNumber().deserialize(q)
            except Exception:  # noqa: BLE001 - not a case number: free text for the queue's search
                number = None
            if number:
                return self.web.redirect(f"/cases/{number}")
        query = {k: v for k, v in request.args.items() if k in QUEUE_FILTERS and v}
        if q:
            query["q"] = q
        picked = (request.args.get("union") or "").strip()
        if picked and picked != union_id:  # the picker: only a union below this one, else ignored
            below = {u["id"] for u in self.members_rpc.list_unions(union_id)}
            if picked in below:
                return self.web.redirect(f"/unions/{self._safe(picked)}/cases?" + urlencode(query))
        union = self.members_rpc.get_union(union_id)
        result = self.web.attempt(self.cases_rpc.queue, {**query, "union_id": union_id})
        if result.refusal:  # a hand-edited filter: the page again with the message, and no rows
            queue, errors = (
                {"items": [], "total": 0, "page": 1, "per_page": 50, "pages": 0},
                result.refusal.errors,
            )
        else:
            queue, errors = result.value, {}
        names = self._names()
        children = [u for u in self.members_rpc.list_unions(union_id) if u["id"] != union_id]

        def page_link(n: int) -> str:
            return f"/unions/{self._safe(union_id)}/cases?" + urlencode({**query, "page": n})

        return self._render(
            "queue.html", request, union=union, queue=queue, query=query, q=q, errors=errors,
            names=names, children=children, page_link=page_link,
        )  # fmt: skip

    @page("GET", "/cases/<case_id>/attachments/<attachment_id>")
    def cases_attachment(self, request, case_id, attachment_id):
        """An attachment of a case (its worker; staff who may read the case): PDF, images and text shown
        in the browser (sandboxed), the rest downloaded; ``?download=1`` always downloads."""
        return _file_response(
            self.cases_rpc.get_attachment(case_id, attachment_id),
            download_it=bool(request.args.get("download")),
        )

    @page("GET", "/cases/<case_id>")
    def cases_case(self, request, case_id):
        """One case: facts, rounds and limits, replies, history; the actions the caller may take."""
        return self._case_page(request, case_id)

    def _case_page(
        self, request, case_id: str, status: int = 200, errors: dict | None = None, form: str = ""
    ):
        case = self.cases_rpc.get_case(case_id)
        names = self._names()
        union_id = case.get("handling_union_id") or case["receiving_union_id"]
        targets = self._targets(case, names)
        return self._render(
            "case.html", request, status, case=case, names=names, errors=errors or {}, form=form,
            targets=targets, handling=union_id,
        )  # fmt: skip

    def _targets(self, case: dict, names: dict[str, str]) -> list[dict]:
        """Unions a case may go to (dispatch: the receiving union and those below it; transfer: below or
        above the handling union), for the forms' select; the service decides (403/409)."""
        actor = self.identity.actor
        if not (actor.admin_unions or actor.scopes("hotline_staff")):
            return []
        base = case.get("handling_union_id") or case["receiving_union_id"]
        below = self.web.visible(self.members_rpc.list_unions, case["receiving_union_id"], default=[])
        try:
            path = self.members_rpc.get_union(base)["path"]
        except Exception:  # noqa: BLE001 - a union gone from the registry: offer what is below
            path = []
        ids = [*path[:-1], *(u["id"] for u in below)]
        seen: list[str] = []
        for i in ids:
            if i not in seen:
                seen.append(i)
        return [{"id": i, "name": names.get(i, i)} for i in seen]

    @page("POST", "/cases/<case_id>/<action>")
    def cases_act(self, request, case_id, action):
        """One of the case's actions (:data:`ACTIONS`) from its form: done → the case page with a notice;
        refused (400, 409) → the case page again with the message next to the form."""
        if action not in ACTIONS:
            raise BadInput("no such action / 无此操作", fields={"action": ["unknown"]})
        method, names, confirm = ACTIONS[action]
        f = request.form

        def call():
            if confirm:
                require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            body = {}
            for n in names:
                value = f.get(n)
                if n == "resolved":
                    value = {"yes": True, "no": False}.get(value or "")
                elif n == "satisfaction":
                    value = value or None
                elif value is None:
                    continue
                body[n] = value
            if action == "follow-up" and body.get("satisfaction") is None and body.get("resolved") is None:
                body = {"text": body.get("text", "")}
            args = (case_id, body) if names else (case_id,)
            return getattr(self.cases_rpc, method)(*args)

        done = self.web.attempt(call)
        if done.refusal:
            errors = {"form": done.refusal.message, **done.refusal.errors}
            return self._case_page(request, case_id, done.refusal.status, errors, form=action)
        return self.web.redirect(f"/cases/{self._safe(case_id)}#history", self.web.gettext("Done."))

    # ----- pages: progress query (no login) ----------------------------------------------------------
    @page("GET", "/cases/progress", public=True)
    def cases_progress(self, request):
        """The progress query form: case number + phone, then the one-time code."""
        values = {k: request.args.get(k, "") for k in ("case_number", "phone")}
        return self._render("progress.html", request, values=values, errors={}, step="code", progress=None)

    @page("POST", "/cases/progress", public=True)
    def cases_progress_submit(self, request):
        """Step ``code``: send the code (same answer for an unknown pair); step ``query``: the progress."""
        f = request.form
        values = {k: f.get(k, "").strip() for k in ("case_number", "phone", "code")}
        if f.get("step") == "query":
            done = self.web.attempt(self.cases_rpc.query_progress, values, also=(404, 429))
            if done.refusal:
                errors = {"form": done.refusal.message, **done.refusal.errors}
                return self._render(
                    "progress.html",
                    request,
                    done.refusal.status,
                    values=values,
                    errors=errors,
                    step="query",
                    progress=None,
                )
            return self._render(
                "progress.html", request, values=values, errors={}, step="done", progress=done.value
            )
        body = {"case_number": values["case_number"], "phone": values["phone"]}
        done = self.web.attempt(self.cases_rpc.request_query_code, body, also=(429,))
        if done.refusal:
            errors = {"form": done.refusal.message, **done.refusal.errors}
            return self._render(
                "progress.html",
                request,
                done.refusal.status,
                values=values,
                errors=errors,
                step="code",
                progress=None,
            )
        return self._render(
            "progress.html", request, values=values, errors={}, step="query", progress=None, sent=done.value
        )

    # ----- pages: indicators, report, topic and alerts -------------------------------------------------
    @page("GET", "/unions/<union_id>/cases/indicators")
    def cases_indicators(self, request, union_id):
        """The indicators with their formulas and charts; a month range (default: this year so far)."""
        now = datetime.now(UTC)
        query = {
            "union_id": union_id,
            "from_month": request.args.get("from_month") or f"{now:%Y}-01",
            "to_month": request.args.get("to_month") or f"{now:%Y-%m}",
        }
        done = self.web.attempt(self.cases_rpc.indicators, query)
        errors, status = {}, 200
        if done.refusal:  # a hand-edited period: this month, with the message next to the field
            errors, status = done.refusal.errors, done.refusal.status
            query = {"union_id": union_id, "from_month": f"{now:%Y-%m}", "to_month": f"{now:%Y-%m}"}
            ind = self.cases_rpc.indicators(query)
        else:
            ind = done.value
        union = self.members_rpc.get_union(union_id)
        return self._render(
            "indicators.html",
            request,
            status,
            union=union,
            ind=ind,
            names=self._names(),
            errors=errors,
            month=f"{now:%Y-%m}",
        )

    @page("GET", "/unions/<union_id>/cases/report.xlsx")
    def cases_report(self, request, union_id):
        return self._report(union_id, request.args.get("month"))

    @page("GET", "/unions/<union_id>/cases/topic")
    def cases_topic(self, request, union_id):
        """每月一题 (top categories and enterprises with their trend) and the 未诉先办 alerts."""
        month = _month(request.args.get("month"))
        topic = self.cases_rpc.topic({"union_id": union_id, "month": month})
        alerts = self.cases_rpc.alerts(union_id)
        union = self.members_rpc.get_union(union_id)
        return self._render("topic.html", request, union=union, topic=topic, alerts=alerts, month=month)
