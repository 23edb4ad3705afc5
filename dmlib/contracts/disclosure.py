"""Contract of the ``disclosure`` service (厂务公开): items, revisions, attachments, read receipts,
questions and answers."""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from dmlib.schemas import BaseSchema, ClientKey, Id, PageIn, PageOut

#: Categories of factory-affairs disclosure (code → Chinese label), in display order.
CATEGORIES = {
    "wages_bonuses": "工资奖金",
    "welfare": "福利待遇",
    "safety": "安全生产",
    "rules": "规章制度",
    "union_finances": "工会经费",
    "major_decisions": "重大决策",
}
PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$")
#: Attachment file types accepted (by extension) and the content type they are served with.
ATTACHMENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "csv": "text/csv",
    "txt": "text/plain",
}
MAX_ATTACHMENTS = 5
FILENAME_RE = re.compile(r"^[^/\\\x00-\x1f]{1,120}\.(" + "|".join(ATTACHMENT_TYPES) + r")$", re.IGNORECASE)


def period_label(period: str) -> str:
    """Chinese label of a period: ``2026`` → 2026年度, ``2026-03`` → 2026年3月, ``2026-Q1`` → 2026年第1季度,
    ``2026-H2`` → 2026年下半年."""
    year, _, rest = period.partition("-")
    if not rest:
        return f"{year}年度"
    if rest.startswith("Q"):
        return f"{year}年第{rest[1]}季度"
    if rest.startswith("H"):
        return f"{year}年{'上' if rest == 'H1' else '下'}半年"
    return f"{year}年{int(rest)}月"


class AttachmentIn(BaseSchema):
    """One file: name with an accepted extension (pdf, png, jpg, xlsx, docx, csv, txt), base64 content."""

    filename = fields.String(
        required=True,
        validate=validate.Regexp(
            FILENAME_RE,
            error="a .pdf .png .jpg .xlsx .docx .csv or .txt file name / 仅支持 pdf、图片、xlsx、docx、csv、txt 文件",
        ),
    )
    content_b64 = fields.String(required=True, load_only=True, validate=validate.Length(min=1))


class _DisclosureFields(BaseSchema):
    category = fields.String(
        required=True,
        validate=validate.OneOf(list(CATEGORIES), error="unknown category / 请选择公开类别"),
        metadata={"description": "one of " + ", ".join(CATEGORIES)},
    )
    period = fields.String(
        required=True,
        validate=validate.Regexp(
            PERIOD_RE, error="a year, month, quarter or half: 2026, 2026-03, 2026-Q1, 2026-H1 / 期间格式有误"
        ),
        metadata={"description": "2026, 2026-03, 2026-Q1 or 2026-H1"},
    )
    title = fields.String(
        required=True, validate=validate.Length(min=2, max=120, error="2-120 characters / 标题须为2-120字")
    )
    body = fields.String(
        required=True,
        validate=validate.Length(min=1, max=20000, error="1-20,000 characters / 正文须为1-20000字"),
        metadata={"description": "Markdown (raw HTML is not rendered)"},
    )
    mandatory = fields.Boolean(load_default=False, metadata={"description": "every member must read it"})
    attachments = fields.List(fields.Nested(AttachmentIn), load_default=list)

    @validates("title")
    def _title_not_blank(self, value, **kwargs):
        if not value.strip():
            raise ValidationError("the title is empty / 标题不能为空")

    @validates("body")
    def _body_not_blank(self, value, **kwargs):
        if not value.strip():
            raise ValidationError("the body is empty / 正文不能为空")


class DisclosureIn(_DisclosureFields):
    """A new disclosure item."""

    client_key = ClientKey()

    @validates_schema
    def _few_attachments(self, data, **kwargs):
        if len(data.get("attachments") or []) > MAX_ATTACHMENTS:
            raise ValidationError(
                f"at most {MAX_ATTACHMENTS} attachments / 附件最多{MAX_ATTACHMENTS}个", "attachments"
            )


class CorrectionIn(_DisclosureFields):
    """A correction: the full new content, the reason, new files and the ids of files to drop."""

    reason = fields.String(
        required=True,
        validate=validate.Length(min=2, max=500, error="2-500 characters / 更正说明须为2-500字"),
    )
    drop_attachments = fields.List(Id(), load_default=list)


class WithdrawIn(BaseSchema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=2, max=500, error="2-500 characters / 撤回说明须为2-500字"),
    )


class QuestionIn(BaseSchema):
    text = fields.String(
        required=True,
        validate=validate.Length(min=5, max=1000, error="5-1,000 characters / 问题须为5-1000字"),
    )
    anonymous = fields.Boolean(
        load_default=False, metadata={"description": "hide the asker's identity from the union"}
    )
    client_key = ClientKey()


class AnswerIn(BaseSchema):
    text = fields.String(
        required=True,
        validate=validate.Length(min=2, max=4000, error="2-4,000 characters / 答复须为2-4000字"),
    )


class DisclosureListIn(PageIn):
    category = fields.String(load_default=None, validate=validate.OneOf(list(CATEGORIES)))
    include_below = fields.Boolean(
        load_default=False,
        metadata={"description": "also the items of every union below (admins of the union or above)"},
    )
    q = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "text in the title (case-folded)"},
    )
    sort = fields.String(
        load_default="newest",
        validate=validate.OneOf(["newest", "oldest"]),
        metadata={"description": "by publication time (then id): newest (default) or oldest first"},
    )


class AttachmentOut(BaseSchema):
    id = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer(metadata={"description": "bytes"})


class RevisionRef(BaseSchema):
    revision = fields.Integer()
    published_at = fields.String()
    reason = fields.String(allow_none=True, metadata={"description": "why the next revision corrected it"})


class DisclosureOut(BaseSchema):
    id = fields.String()
    union_id = fields.String()
    union_name = fields.String()
    category = fields.String()
    category_label = fields.String()
    period = fields.String()
    period_label = fields.String()
    title = fields.String()
    body = fields.String(metadata={"description": "the Markdown source"})
    body_html = fields.String(metadata={"description": "rendered and sanitised HTML"})
    mandatory = fields.Boolean()
    status = fields.String(metadata={"description": "published | withdrawn"})
    revision = fields.Integer(metadata={"description": "1 for the original, +1 per correction"})
    correction_reason = fields.String(allow_none=True)
    published_at = fields.String(metadata={"description": "first publication, UTC ISO 8601"})
    revised_at = fields.String(metadata={"description": "this revision, UTC ISO 8601"})
    published_by_name = fields.String()
    withdrawn_at = fields.String(allow_none=True)
    withdraw_reason = fields.String(allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentOut))
    previous_revisions = fields.List(fields.Nested(RevisionRef))
    read_count = fields.Integer()
    questions_total = fields.Integer()
    questions_open = fields.Integer()
    read = fields.Boolean(metadata={"description": "the caller has opened it before"})
    first_read = fields.Boolean(metadata={"description": "this call recorded the caller's first read"})
    can_manage = fields.Boolean(metadata={"description": "the caller administers the item's union"})


class DisclosureSummaryOut(BaseSchema):
    id = fields.String()
    category = fields.String()
    category_label = fields.String()
    period = fields.String()
    period_label = fields.String()
    title = fields.String()
    mandatory = fields.Boolean()
    status = fields.String()
    revision = fields.Integer()
    published_at = fields.String()
    read = fields.Boolean()
    read_count = fields.Integer()
    questions_answered = fields.Integer()
    union_id = fields.String()
    union_name = fields.String(metadata={"description": "with include_below: the item's union"})


class DisclosurePageOut(PageOut):
    union_id = fields.String()
    union_name = fields.String()
    unread = fields.Integer(metadata={"description": "items of the union the caller has not opened"})
    can_manage = fields.Boolean()
    items = fields.List(fields.Nested(DisclosureSummaryOut))


class QuestionOut(BaseSchema):
    id = fields.String()
    item_id = fields.String()
    item_title = fields.String()
    text = fields.String()
    anonymous = fields.Boolean()
    asker_name = fields.String(allow_none=True, metadata={"description": "null when anonymous"})
    asked_at = fields.String()
    status = fields.String(metadata={"description": "open | answered"})
    answer = fields.String(allow_none=True)
    answered_at = fields.String(allow_none=True)
    answered_by_name = fields.String(allow_none=True)
    mine = fields.Boolean()
    age_days = fields.Integer(metadata={"description": "days since asked (open) or until answered"})


class DepartmentReadsOut(BaseSchema):
    department_id = fields.String(allow_none=True)
    name = fields.String()
    members = fields.Integer()
    read = fields.Integer()
    rate = fields.Float(metadata={"description": "read ÷ members, 0-1"})


class UnreadOut(BaseSchema):
    member_id = fields.String()
    name = fields.String()
    department = fields.String()


class DisclosureReadsOut(BaseSchema):
    item_id = fields.String()
    union_id = fields.String()
    union_name = fields.String()
    title = fields.String()
    mandatory = fields.Boolean()
    members = fields.Integer(metadata={"description": "members of the union now (the denominator)"})
    read = fields.Integer()
    rate = fields.Float()
    departments = fields.List(fields.Nested(DepartmentReadsOut))
    unread_total = fields.Integer()
    unread = fields.List(fields.Nested(UnreadOut), metadata={"description": "mandatory items only"})


class DisclosureRateOut(BaseSchema):
    id = fields.String()
    title = fields.String()
    category = fields.String()
    category_label = fields.String()
    period = fields.String()
    period_label = fields.String()
    status = fields.String()
    mandatory = fields.Boolean()
    revision = fields.Integer()
    published_at = fields.String()
    published_by_name = fields.String()
    read = fields.Integer()
    rate = fields.Float()
    questions_total = fields.Integer()
    questions_open = fields.Integer()
    correction_reasons = fields.List(fields.String())
    withdraw_reason = fields.String(allow_none=True)


class UnionReadsOut(BaseSchema):
    union_id = fields.String()
    union_name = fields.String()
    members = fields.Integer()
    items = fields.List(fields.Nested(DisclosureRateOut))


class HistoryReadIn(BaseSchema):
    member_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    read_at = fields.AwareDateTime(required=True)


class HistoryQuestionIn(BaseSchema):
    member_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    anonymous = fields.Boolean(load_default=False)
    text = fields.String(
        required=True,
        validate=validate.Length(min=5, max=1000, error="5-1,000 characters / 问题须为5-1000字"),
    )
    asked_at = fields.AwareDateTime(required=True)
    answer = fields.String(load_default=None, validate=validate.Length(min=2, max=4000))
    answered_at = fields.AwareDateTime(load_default=None)
    answered_by_name = fields.String(load_default=None, validate=validate.Length(min=1, max=50))

    @validates_schema
    def _answer_complete(self, data, **kwargs):
        if bool(data.get("answer")) != bool(data.get("answered_at")):
            raise ValidationError("answer and answered_at go together / 答复与答复时间须同时提供", "answer")


class HistoryEntryIn(DisclosureIn):
    """An item of a union's earlier register (paper or another system), with its original dates,
    read records and questions: see ``import_register``."""

    published_at = fields.AwareDateTime(required=True)
    published_by_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    reads = fields.List(fields.Nested(HistoryReadIn), load_default=list)
    questions = fields.List(fields.Nested(HistoryQuestionIn), load_default=list)
