"""HTTP API and pages of factory-affairs disclosure (厂务公开): the members' board, item pages with
questions, the admin's publish and correction forms, the read-rate dashboard, the question desk and the
disclosure register export (XLSX). Rights are checked by the disclosure service on the caller's token."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from urllib.parse import urlencode

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from werkzeug.wrappers import Response

from dmlib.contracts import disclosure as c
from dmlib.errors import BadInput
from dmlib.exports import china_time, csv_text, export_stamp, xlsx_append

from .http import api, page
from .pages import check_upload, download, form_client_key, form_files, require_confirmed
from .routing import Router

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Content types a browser may show inline; everything else is downloaded.
INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}


def _file_response(doc: dict, download_it: bool) -> Response:
    """An attachment: shown in the browser only for :data:`INLINE_TYPES` (and not asked to download),
    sandboxed by its own CSP; everything else downloaded as ``application/octet-stream``."""
    inline = not download_it and doc["content_type"] in INLINE_TYPES
    response = download(
        base64.b64decode(doc["content_b64"]),
        doc["content_type"] if inline else "application/octet-stream",
        doc["filename"],
        inline=inline,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def register_xlsx(reads: dict) -> bytes:
    """The disclosure register (厂务公开登记簿) of a union as an XLSX workbook, newest first."""
    wb = Workbook()
    ws = wb.active
    ws.title = "厂务公开登记簿"
    xlsx_append(ws, [f"{reads['union_name']} 厂务公开登记簿"])
    xlsx_append(ws, [f"导出时间 {export_stamp()}，会员 {reads['members']} 人"])
    header = [
        "编号", "类别", "期间", "标题", "状态", "版本", "必读", "发布时间(北京时间)", "发布人",
        "已读人数", "阅读率", "提问数", "未答复", "更正说明", "撤回说明",
    ]  # fmt: skip
    xlsx_append(ws, header)
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F2F4F7")
    ws["A1"].font = Font(bold=True, size=14)
    for i in reads["items"]:
        xlsx_append(
            ws,
            [
                i["id"],
                i["category_label"],
                i["period_label"],
                i["title"],
                "已撤回" if i["status"] == "withdrawn" else "已发布",
                i["revision"],
                "是" if i["mandatory"] else "否",
                china_time(i["published_at"], "minute"),
                i["published_by_name"],
                i["read"],
                i["rate"],
                i["questions_total"],
                i["questions_open"],
                "；".join(i["correction_reasons"]),
                i.get("withdraw_reason") or "",
            ],
        )
        ws.cell(ws.max_row, 11).number_format = "0.0%"
    for col, width in zip(
        "ABCDEFGHIJKLMNO", (16, 10, 14, 40, 8, 6, 6, 17, 10, 9, 8, 7, 7, 30, 20), strict=True
    ):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=4):
        row[3].alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A4"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


class DisclosureRoutes(Router):
    uses = ("disclosure_rpc", "members_rpc")

    # ----- API -----------------------------------------------------------------------------------
    @api(
        "GET",
        "/api/v1/unions/<union_id>/disclosures",
        query=c.DisclosureListIn,
        response=c.DisclosurePageOut,
        tags=["disclosure"],
    )
    def api_disclosure_board(self, request, union_id):
        """The disclosure board of a union, newest first, with the caller's ``read`` flag per item
        (members of the union and its admins; 403 for anyone else). ``category``, ``q`` (title),
        ``sort`` (newest | oldest), ``include_below`` (the unions below too: admins only)."""
        return self.disclosure_rpc.list_items(union_id, request.args.to_dict())

    @api(
        "POST",
        "/api/v1/unions/<union_id>/disclosures",
        body=c.DisclosureIn,
        response=c.DisclosureOut,
        status=201,
        tags=["disclosure"],
        max_body="MAX_UPLOAD_BYTES",
        idempotent=True,
    )
    def api_publish_disclosure(self, request, union_id, body):
        """Publish an item (admins of the grassroots union or above). Attachments as
        ``[{"filename", "content_b64"}]``, at most 5, each ≤ ``MAX_ATTACHMENT_BYTES`` (else 413).
        ``Idempotency-Key``: a retry with the same key returns what the first made."""
        return self.disclosure_rpc.publish(union_id, body)

    @api("GET", "/api/v1/disclosures/<item_id>", response=c.DisclosureOut, tags=["disclosure"])
    def api_open_disclosure(self, request, item_id):
        """Open an item; a member's first open records their read receipt (once)."""
        return self.disclosure_rpc.open_item(item_id)

    @api(
        "GET",
        "/api/v1/disclosures/<item_id>/revisions/<int:revision>",
        response=c.DisclosureOut,
        tags=["disclosure"],
    )
    def api_disclosure_revision(self, request, item_id, revision):
        """One revision of an item, earlier ones included (corrections keep them); records no read."""
        return self.disclosure_rpc.get_revision(item_id, revision)

    @api(
        "POST",
        "/api/v1/disclosures/<item_id>/corrections",
        body=c.CorrectionIn,
        response=c.DisclosureOut,
        tags=["disclosure"],
        max_body="MAX_UPLOAD_BYTES",
    )
    def api_correct_disclosure(self, request, item_id, body):
        """Correct an item: a new revision with ``reason``; the previous one stays readable."""
        return self.disclosure_rpc.correct_item(item_id, body)

    @api(
        "POST",
        "/api/v1/disclosures/<item_id>/withdrawal",
        body=c.WithdrawIn,
        response=c.DisclosureOut,
        tags=["disclosure"],
    )
    def api_withdraw_disclosure(self, request, item_id, body):
        """Withdraw an item with a reason; it stays on record, marked withdrawn."""
        return self.disclosure_rpc.withdraw_item(item_id, body)

    @api(
        "GET",
        "/api/v1/disclosures/<item_id>/attachments/<attachment_id>",
        response="application/octet-stream",
        tags=["disclosure"],
    )
    def api_disclosure_attachment(self, request, item_id, attachment_id):
        """Download an attachment (whoever may open the item); always as a download."""
        return _file_response(self.disclosure_rpc.get_attachment(item_id, attachment_id), download_it=True)

    @api("GET", "/api/v1/disclosures/<item_id>/questions", response=[c.QuestionOut], tags=["disclosure"])
    def api_disclosure_questions(self, request, item_id):
        """Questions under an item: answered ones, one's own, and (admins) every open one."""
        return self.disclosure_rpc.list_questions(item_id)

    @api(
        "POST",
        "/api/v1/disclosures/<item_id>/questions",
        body=c.QuestionIn,
        response=c.QuestionOut,
        status=201,
        tags=["disclosure"],
        idempotent=True,
    )
    def api_ask_question(self, request, item_id, body):
        """Ask about an item of one's own union, optionally anonymously.
        ``Idempotency-Key``: a retry with the same key returns what the first made."""
        return self.disclosure_rpc.ask_question(item_id, body)

    @api(
        "POST",
        "/api/v1/disclosure-questions/<question_id>/answer",
        body=c.AnswerIn,
        response=c.QuestionOut,
        tags=["disclosure"],
    )
    def api_answer_question(self, request, question_id, body):
        """Answer a question publicly (admins of the item's union; once, else 409)."""
        return self.disclosure_rpc.answer_question(question_id, body)

    @api(
        "GET",
        "/api/v1/unions/<union_id>/disclosure-questions",
        response=[c.QuestionOut],
        tags=["disclosure"],
    )
    def api_open_questions(self, request, union_id):
        """The admin's desk: unanswered questions of a union, oldest first, with their age in days."""
        return self.disclosure_rpc.open_questions(union_id)

    @api("GET", "/api/v1/disclosures/<item_id>/reads", response=c.DisclosureReadsOut, tags=["disclosure"])
    def api_disclosure_reads(self, request, item_id):
        """Read rate of an item overall and per department, and (mandatory items) who has not read it."""
        return self.disclosure_rpc.item_reads(item_id)

    @api("GET", "/api/v1/unions/<union_id>/disclosure-reads", response=c.UnionReadsOut, tags=["disclosure"])
    def api_union_reads(self, request, union_id):
        """Read rate of every item of a union (admins)."""
        return self.disclosure_rpc.union_reads(union_id)

    @api("GET", "/api/v1/unions/<union_id>/disclosures/register.xlsx", response=XLSX, tags=["disclosure"])
    def api_disclosure_register(self, request, union_id):
        """The disclosure register of a union as an Excel workbook (admins)."""
        return self._register_response(union_id)

    def _register_response(self, union_id: str) -> Response:
        data = register_xlsx(self.disclosure_rpc.union_reads(union_id))
        return download(data, XLSX, f"disclosure-register-{union_id}-{datetime.now(UTC):%Y%m%d}.xlsx")

    # ----- pages ---------------------------------------------------------------------------------
    def _board(self, request, union_id: str):
        """A union's board: ``category``, ``q`` (title), ``sort`` (newest | oldest), ``page``. Above the
        grassroots level (issue 16, federation views) the items of every union below, for that union's
        admins, with a union filter (``union``: one union below, then its items only)."""
        below = [u for u in self.members_rpc.list_unions(union_id) if u["id"] != union_id]
        picked = (request.args.get("union") or "").strip()
        chosen = next((u for u in below if u["id"] == picked), None)
        target = chosen["id"] if chosen else union_id
        query = {k: v for k, v in request.args.items() if k in ("page", "category", "q", "sort") and v}
        include_below = bool(below) and (chosen is None or chosen["kind"] != "grassroots")
        board = self.disclosure_rpc.list_items(target, {**query, "include_below": include_below})
        filters = {k: v for k, v in {**query, "union": chosen["id"] if chosen else ""}.items() if v}

        def link(**changes) -> str:
            return "?" + urlencode({k: v for k, v in {**filters, **changes}.items() if v})

        return self.web.render(
            "disclosure/board.html",
            request=request,
            board=board,
            categories=c.CATEGORIES,
            category=query.get("category"),
            below=below,
            chosen=chosen,
            filters=filters,
            federation=include_below,
            link=link,
        )

    @page("GET", "/disclosures")
    def disclosure_board_page(self, request):
        actor = self.identity.actor
        if not actor.union_id:
            raise BadInput("you are not a member of a union / 您不是工会会员", reason="no_union")
        return self._board(request, actor.union_id)

    @page("GET", "/unions/<union_id>/disclosures")
    def union_disclosure_board_page(self, request, union_id):
        return self._board(request, union_id)

    def _item_page(self, request, item: dict, status: int = 200, errors: dict | None = None, asked=None):
        questions = self.disclosure_rpc.list_questions(item["id"])
        return self.web.render(
            "disclosure/item.html",
            status=status,
            request=request,
            item=item,
            questions=questions,
            errors=errors or {},
            asked=asked or {},
        )

    @page("GET", "/disclosures/<item_id>")
    def disclosure_item_page(self, request, item_id):
        return self._item_page(request, self.disclosure_rpc.open_item(item_id))

    @page("GET", "/disclosures/<item_id>/revisions/<int:revision>")
    def disclosure_revision_page(self, request, item_id, revision):
        item = self.disclosure_rpc.get_revision(item_id, revision)
        return self.web.render("disclosure/revision.html", request=request, item=item)

    @page("GET", "/disclosures/<item_id>/attachments/<attachment_id>")
    def disclosure_attachment_page(self, request, item_id, attachment_id):
        return _file_response(
            self.disclosure_rpc.get_attachment(item_id, attachment_id),
            download_it=bool(request.args.get("download")),
        )

    @page("POST", "/disclosures/<item_id>/questions")
    def ask_question_submit(self, request, item_id):
        body = {
            "text": request.form.get("text", ""),
            "anonymous": request.form.get("anonymous") == "on",
            "client_key": form_client_key(request),
        }
        refusal = self.web.attempt(self.disclosure_rpc.ask_question, item_id, body).refusal
        if refusal:
            item = self.disclosure_rpc.open_item(item_id)
            return self._item_page(request, item, status=refusal.status, errors=refusal.errors, asked=body)
        sent = self.web.gettext("Your question was sent. The union answers here.")
        return self.web.redirect(f"/disclosures/{item_id}#questions", sent)

    @page("POST", "/disclosure-questions/<question_id>/answer")
    def answer_question_submit(self, request, question_id):
        back = request.form.get("next", "")
        if not back.startswith("/") or back.startswith("//"):
            back = "/disclosures"
        return self.web.act(
            f"{back}#q-{question_id}",
            self.disclosure_rpc.answer_question,
            question_id,
            {"text": request.form.get("text", "")},
        )

    def _item_form(self, request) -> dict:
        """The publish/correct form as the service's input; files become base64 attachments."""
        check_upload(request, self.web.max_upload_bytes)
        form = request.form
        data = {
            "category": form.get("category", ""),
            "period": form.get("period", "").strip(),
            "title": form.get("title", ""),
            "body": form.get("body", ""),
            "mandatory": form.get("mandatory") == "on",
            "attachments": form_files(request, "attachments"),
        }
        if "reason" in form:
            data["reason"] = form.get("reason", "")
            data["drop_attachments"] = form.getlist("drop_attachments")
        return data

    def _require_admin_of(self, union: dict) -> None:
        actor = self.identity.actor
        actor.require(actor.administers(union["path"]), "union admins only / 仅本工会管理员可操作")

    def _form_page(self, request, template: str, status: int = 200, **context):
        return self.web.render(template, status=status, request=request, categories=c.CATEGORIES, **context)

    @page("GET", "/unions/<union_id>/disclosures/new")
    def publish_page(self, request, union_id):
        """The publish form: admins of the union or above (DESIGN.md §4, the union publishes)."""
        union = self.members_rpc.get_union(union_id)
        self._require_admin_of(union)
        values = {"period": datetime.now(UTC).strftime("%Y-%m"), "category": request.args.get("category", "")}
        return self._form_page(request, "disclosure/publish.html", union=union, values=values, errors={})

    @page("POST", "/unions/<union_id>/disclosures", max_body="MAX_UPLOAD_BYTES")
    def publish_submit(self, request, union_id):
        """Publish (confirmed: every member of the union sees it at once and it can never be deleted;
        without the box 400, nothing published, the form again with what was typed). Once per form
        (its ``client_key``)."""

        def publish():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            body = {**self._item_form(request), "client_key": form_client_key(request)}
            return self.disclosure_rpc.publish(union_id, body)

        item = self.web.attempt(publish)
        if item.refusal:
            return self._form_page(
                request,
                "disclosure/publish.html",
                item.refusal.status,
                union=self.members_rpc.get_union(union_id),
                values=request.form.to_dict(),
                errors=item.refusal.errors,
            )
        return self.web.redirect(f"/disclosures/{item.value['id']}")

    @page("GET", "/disclosures/<item_id>/correct")
    def correct_page(self, request, item_id):
        """The correction form: admins of the item's union or above (DESIGN.md §4)."""
        item = self.disclosure_rpc.open_item(item_id)
        self._require_admin_of(self.members_rpc.get_union(item["union_id"]))
        return self._form_page(request, "disclosure/correct.html", item=item, values=item, errors={})

    @page("POST", "/disclosures/<item_id>/correct", max_body="MAX_UPLOAD_BYTES")
    def correct_submit(self, request, item_id):
        """Publish a correction (confirmed, as publishing: a new revision every member sees; the earlier
        one stays readable)."""

        def correct():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            return self.disclosure_rpc.correct_item(item_id, self._item_form(request))

        refusal = self.web.attempt(correct).refusal
        if refusal:
            values = {**request.form.to_dict(), "mandatory": request.form.get("mandatory") == "on"}
            return self._form_page(
                request,
                "disclosure/correct.html",
                refusal.status,
                item=self.disclosure_rpc.open_item(item_id),
                values=values,
                errors=refusal.errors,
            )
        return self.web.redirect(f"/disclosures/{item_id}")

    @page("POST", "/disclosures/<item_id>/withdraw")
    def withdraw_submit(self, request, item_id):
        def withdraw():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            return self.disclosure_rpc.withdraw_item(item_id, {"reason": request.form.get("reason", "")})

        refusal = self.web.attempt(withdraw).refusal
        if refusal:
            item = self.disclosure_rpc.open_item(item_id)
            errors = {"withdraw": refusal.message, **refusal.errors}
            return self._item_page(request, item, status=refusal.status, errors=errors)
        return self.web.redirect(f"/disclosures/{item_id}")

    @page("GET", "/unions/<union_id>/disclosures/dashboard")
    def disclosure_dashboard_page(self, request, union_id):
        reads = self.disclosure_rpc.union_reads(union_id)
        open_questions = self.disclosure_rpc.open_questions(union_id)
        return self.web.render(
            "disclosure/dashboard.html", request=request, reads=reads, open_questions=open_questions
        )

    @page("GET", "/disclosures/<item_id>/reads")
    def disclosure_reads_page(self, request, item_id):
        reads = self.disclosure_rpc.item_reads(item_id)
        return self.web.render("disclosure/reads.html", request=request, reads=reads)

    @page("GET", "/disclosures/<item_id>/unread.csv")
    def disclosure_unread_csv(self, request, item_id):
        """Who has not read a mandatory item (admins), as CSV for follow-up: UTF-8 with BOM for Excel."""
        reads = self.disclosure_rpc.item_reads(item_id)
        rows = [
            ["会员编号", "姓名", "部门"],
            *([m["member_id"], m["name"], m["department"]] for m in reads["unread"]),
        ]
        return download(csv_text(rows), "text/csv", f"unread-{item_id}.csv")

    @page("GET", "/unions/<union_id>/disclosures/questions")
    def disclosure_desk_page(self, request, union_id):
        questions = self.disclosure_rpc.open_questions(union_id)
        union = self.members_rpc.get_union(union_id)
        return self.web.render(
            "disclosure/desk.html",
            request=request,
            union=union,
            questions=questions,
        )

    @page("GET", "/unions/<union_id>/disclosures/register.xlsx")
    def disclosure_register_page(self, request, union_id):
        return self._register_response(union_id)
