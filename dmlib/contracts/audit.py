"""Contract of the ``audit`` service: browsing the audit log and verifying its hash chains."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.schemas import BaseSchema, Id, PageIn, PageOut

#: At most this many entries in one export (CSV/XLSX); narrow the filters for more.
EXPORT_LIMIT = 10000


class EntriesQuery(PageIn):
    """A page of the audit log of a union and the unions below it, newest first. Filters: ``actor``
    (member id), ``object_type`` and ``object_id`` (exact), ``date_from``/``date_to`` (ISO dates: UTC
    calendar days, both inclusive)."""

    actor = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    object_type = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    object_id = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    date_from = fields.Date(load_default=None)
    date_to = fields.Date(load_default=None)

    @validates_schema
    def _range(self, data, **kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("the range ends before it starts / 结束日期早于开始日期", "date_to")


class EntriesIn(EntriesQuery):
    """:class:`EntriesQuery` of the union ``union_id`` (the RPC's input)."""

    union_id = Id(required=True)


class ExportIn(EntriesIn):
    """The same filters, every matching entry up to :data:`EXPORT_LIMIT` (no paging)."""

    page = fields.Integer(load_default=1, validate=validate.Equal(1))
    per_page = fields.Integer(load_default=EXPORT_LIMIT, validate=validate.Range(min=1, max=EXPORT_LIMIT))


class ActorOut(BaseSchema):
    member_id = fields.String()
    name = fields.String()


class ObjectOut(BaseSchema):
    type = fields.String()
    id = fields.String()


class ChangeOut(BaseSchema):
    field = fields.String()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class EntryOut(BaseSchema):
    id = fields.String(metadata={"description": "<union id>:<sequence number, 12 digits>"})
    union_id = fields.String()
    seq = fields.Integer(metadata={"description": "position in the union's chain, from 1"})
    service = fields.String()
    action = fields.String(metadata={"description": "<service>.<verb>, e.g. congress.session_convened"})
    actor = fields.Nested(ActorOut)
    role = fields.String()
    object = fields.Nested(ObjectOut)
    changes = fields.List(fields.Nested(ChangeOut))
    note = fields.Dict(allow_none=True)
    at = fields.String(metadata={"description": "when the change committed (UTC, ISO 8601)"})
    request_id = fields.String(allow_none=True)
    event_id = fields.String()
    prev_hash = fields.String()
    hash = fields.String(metadata={"description": "SHA-256 of the entry's canonical content and prev_hash"})


class EntriesOut(PageOut):
    items = fields.List(fields.Nested(EntryOut))
    truncated = fields.Boolean(metadata={"description": "an export hit its limit"})


class VerifyIn(BaseSchema):
    """Verify the chain of one union, or (``union_id`` omitted; the system only) of every union."""

    union_id = Id(load_default=None)


class BreakOut(BaseSchema):
    seq = fields.Integer()
    entry_id = fields.String()
    kind = fields.String(metadata={"description": "edited | deleted | reordered | relinked"})
    message = fields.String()


class ChainOut(BaseSchema):
    union_id = fields.String()
    entries = fields.Integer(metadata={"description": "entries checked"})
    head_seq = fields.Integer(metadata={"description": "the last sequence number the log recorded"})
    ok = fields.Boolean()
    first_break = fields.Nested(BreakOut, allow_none=True)


class VerifyOut(BaseSchema):
    ok = fields.Boolean()
    chains = fields.List(fields.Nested(ChainOut))
