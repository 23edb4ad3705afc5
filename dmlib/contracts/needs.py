"""The "what needs me" answer every service's ``needs_of`` RPC gives (issue 16): one shape for all.

A service answers for the calling actor only (its token), asked through its own policy, with counts, ids,
titles and dates, never bodies or people's details:

- ``items``: things the caller is to do themselves (co-sign a draft, read a mandatory disclosure, answer
  a survey, follow their own case), each with the service's ``kind`` code, the object's ``id`` and
  ``title``, its union, an optional ``due_at`` (closing date, deadline) and ``at`` (published, opened);
- ``queues``: work waiting in a scope the caller handles or administers (a union, a department), each
  with a ``kind`` code, the ``scope`` id, ``count``, ``oldest_at`` (the oldest waiting item's time, from
  which the gateway shows its age) and ``overdue`` (those past their limit, when the kind has one).
  An admin's queues cover their unions *and the unions below* (one row per union with something, or a
  figure the federation overview shows), so the gateway can group them per union.

The gateway maps each ``kind`` to the page where the thing is done (services/gateway/home.py); a service
names no URL. Datetimes are ISO 8601 in UTC (:func:`dmlib.schemas.iso`).
"""

from __future__ import annotations

from marshmallow import fields

from dmlib.schemas import BaseSchema, iso


class _Iso(fields.Field):
    """A datetime (or ISO text) written as ISO 8601 UTC text; None stays None."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)


class NeedItemOut(BaseSchema):
    kind = fields.String(required=True, metadata={"description": "the service's code of the thing to do"})
    id = fields.String(required=True)
    title = fields.String(load_default="")
    union_id = fields.String(allow_none=True, load_default=None)
    scope = fields.String(
        allow_none=True, load_default=None, metadata={"description": "a second id the page needs (session…)"}
    )
    due_at = _Iso(allow_none=True, load_default=None, metadata={"description": "ISO 8601 UTC; closing date"})
    count = fields.Integer(allow_none=True, load_default=None, metadata={"description": "how many, if any"})
    at = _Iso(allow_none=True, load_default=None, metadata={"description": "ISO 8601 UTC; since when"})


class NeedQueueOut(BaseSchema):
    kind = fields.String(required=True)
    scope = fields.String(required=True, metadata={"description": "union or department id"})
    scope_name = fields.String(load_default="")
    union_id = fields.String(allow_none=True, load_default=None)
    count = fields.Integer(required=True)
    oldest_at = _Iso(allow_none=True, load_default=None, metadata={"description": "ISO 8601 UTC"})
    due_at = _Iso(allow_none=True, load_default=None, metadata={"description": "ISO 8601 UTC; nearest limit"})
    overdue = fields.Integer(load_default=0, metadata={"description": "past (or near) their limit"})
    of = fields.Integer(
        allow_none=True,
        load_default=None,
        metadata={"description": "what count is counted against, where the kind has it (e.g. items)"},
    )


class NeedsOut(BaseSchema):
    service = fields.String(required=True)
    items = fields.List(fields.Nested(NeedItemOut), load_default=list)
    queues = fields.List(fields.Nested(NeedQueueOut), load_default=list)


def needs(service: str, items: list[dict] = (), queues: list[dict] = ()) -> dict:
    """The dumped :class:`NeedsOut` of a service's answer (optional keys not given are left out)."""
    return NeedsOut().dump({"service": service, "items": list(items), "queues": list(queues)})
