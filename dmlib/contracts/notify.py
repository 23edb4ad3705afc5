"""Contract of the ``notify`` service: the inbox, preferences and the delivery log."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.schemas import BaseSchema, Id, PageIn, PageOut

GROUPS = ("evaluations", "disclosure", "congress", "proposals", "cases", "elections", "surveys")
PUSH_CHANNELS = ("email", "sms")
DIGEST_MODES = ("immediate", "daily")
STATUSES = ("queued", "sending", "sent", "retrying", "failed", "skipped", "digest", "digested")


class InboxIn(PageIn):
    """A page of the caller's inbox, newest first (``per_page`` default 20)."""

    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    unread = fields.Boolean(load_default=False, metadata={"description": "only unread messages"})
    locale = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["zh-CN", "en"]),
        metadata={"description": "the reader's page language: each message in it (else in the member's)"},
    )


class MessageOut(BaseSchema):
    id = fields.String()
    kind = fields.String()
    subject = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    at = fields.String()
    read = fields.Boolean()


class InboxOut(PageOut):
    items = fields.List(fields.Nested(MessageOut))
    unread = fields.Integer()


class UnreadOut(BaseSchema):
    unread = fields.Integer(metadata={"description": "unread inbox messages of the caller"})


class MarkReadIn(BaseSchema):
    """Mark read: the given ids (the caller's own messages only), or all with ``all`` true."""

    ids = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list)
    all = fields.Boolean(load_default=False)

    @validates_schema
    def _something(self, data, **kwargs):
        if not data["all"] and not data["ids"]:
            raise ValidationError("give ids or all=true / 请指定消息或全部", "ids")
        if len(data["ids"]) > 200:
            raise ValidationError("at most 200 ids / 至多200条", "ids")


class MarkReadOut(BaseSchema):
    marked = fields.Integer()
    unread = fields.Integer()


class PrefsIn(BaseSchema):
    """Push channels per kind of event (the inbox is always on) and the digest mode."""

    channels = fields.Dict(
        keys=fields.String(validate=validate.OneOf(GROUPS)),
        values=fields.List(fields.String(validate=validate.OneOf(PUSH_CHANNELS))),
        required=True,
        metadata={"description": "{group: [email|sms]}, groups: " + ", ".join(GROUPS)},
    )
    digest = fields.String(load_default="immediate", validate=validate.OneOf(DIGEST_MODES))


class PrefsOut(BaseSchema):
    channels = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    digest = fields.String()
    available = fields.List(fields.String(), metadata={"description": "push channels this server offers"})
    hourly_limit = fields.Integer(metadata={"description": "immediate push messages per hour; 0 = none"})
    has_email = fields.Boolean()
    has_phone = fields.Boolean()


class DeliveryLogIn(PageIn):
    union_id = Id(required=True)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    channel = fields.String(load_default=None, validate=validate.OneOf(PUSH_CHANNELS))


class LogLine(BaseSchema):
    at = fields.String()
    status = fields.String()
    note = fields.String()


class DeliveryOut(BaseSchema):
    id = fields.String()
    member_id = fields.String()
    union_id = fields.String()
    kind = fields.String()
    channel = fields.String()
    subject = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    at = fields.String()
    updated_at = fields.String(allow_none=True)
    log = fields.List(fields.Nested(LogLine))


class DeliveryLogOut(PageOut):
    union_id = fields.String()
    counts = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "per status"}
    )
    failures = fields.Integer(metadata={"description": "messages that failed for good"})
    retries = fields.Integer(metadata={"description": "failed tries that were retried, all messages"})
    by_channel = fields.Dict(keys=fields.String(), values=fields.Dict())
    items = fields.List(fields.Nested(DeliveryOut))
