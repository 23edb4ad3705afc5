"""Typed errors that keep their type across RabbitMQ.

Each class is registered with nameko's remote-error deserialisation, so an error raised in one service
arrives in the caller as the same class (not a bare ``RemoteError``). Every RPC method lists the ones it
may raise in ``expected_exceptions`` (use :data:`EXPECTED`). The gateway maps them to HTTP statuses in
one place (``services.gateway.http``) by their ``status`` attribute.

On the wire the error carries two string arguments: the message and a JSON document with ``fields``
(marshmallow-style field messages) and ``details`` (numbers and ids worth showing, e.g. the quorum
counts). JSON keeps numbers as numbers; nameko would turn them into strings.

What people read is not the message: a page shows the text of the error's code (:attr:`ServiceError.reason`:
``details["reason"]``, given with ``reason=``, else the class's ``code``) from the gateway's catalogue
(``services/gateway/wording.py``, docs/errors.md). A refusal a person should understand gets a
``reason`` code with a catalogue entry (a unit test checks that every code raised has one).
"""

from __future__ import annotations

import json
from typing import Any

from nameko.exceptions import deserialize_to_instance


class ServiceError(Exception):
    """Base of every domain error. ``status`` is the HTTP status it maps to, ``code`` a stable name."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        fields: dict | str | None = None,
        details: dict | None = None,
        reason: str | None = None,
    ):
        if isinstance(fields, str):  # arriving from the wire: (message, json)
            payload = json.loads(fields)
            fields, details = payload.get("fields"), payload.get("details")
        self.message = message
        self.fields: dict[str, Any] = fields or {}
        self.details: dict[str, Any] = dict(details or {})
        if reason:
            self.details["reason"] = reason
        super().__init__(
            message,
            json.dumps({"fields": self.fields, "details": self.details}, ensure_ascii=False, default=str),
        )

    def __str__(self) -> str:
        return self.message

    @property
    def reason(self) -> str:
        """The code a page tells people about: ``details["reason"]`` (a specific refusal, e.g.
        ``quorum_not_reached``), else the class's :attr:`code`. The gateway's catalogue
        (``services.gateway.wording``, listed in docs/errors.md) maps it to text in the page's language;
        the message is for logs and API clients, never shown on a page."""
        return str(self.details.get("reason") or self.code)

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": code, "message": str, "fields": {...}, "details": {...}}``."""
        return {"error": self.code, "message": self.message, "fields": self.fields, "details": self.details}


@deserialize_to_instance
class BadInput(ServiceError):
    """Input that fails validation; ``fields`` maps field names to lists of messages (HTTP 400)."""

    status = 400
    code = "bad_input"


@deserialize_to_instance
class Unauthenticated(ServiceError):
    """No token, or a token that is invalid or expired (HTTP 401)."""

    status = 401
    code = "unauthenticated"


@deserialize_to_instance
class Forbidden(ServiceError):
    """The actor is known but has no right to do this here (HTTP 403)."""

    status = 403
    code = "forbidden"


@deserialize_to_instance
class NotFound(ServiceError):
    """No such object, or not visible to the actor (HTTP 404)."""

    status = 404
    code = "not_found"


@deserialize_to_instance
class Conflict(ServiceError):
    """The request clashes with the current state: duplicate, wrong state, outside a window (HTTP 409)."""

    status = 409
    code = "conflict"


@deserialize_to_instance
class PayloadTooLarge(ServiceError):
    """An upload or attachment over its size limit (HTTP 413)."""

    status = 413
    code = "payload_too_large"


@deserialize_to_instance
class TooManyRequests(ServiceError):
    """Too many attempts in a time window, e.g. failed logins (HTTP 429).

    ``details["retry_after_s"]`` (whole seconds) says when to try again; the gateway sends it as the
    ``Retry-After`` header (RFC 9110 §10.2.3)."""

    status = 429
    code = "too_many_requests"


@deserialize_to_instance
class ServiceUnavailable(ServiceError):
    """A service or the database did not answer in time (HTTP 503)."""

    status = 503
    code = "service_unavailable"


def from_dict(payload: dict[str, Any]) -> ServiceError:
    """The typed error of a body made by :meth:`ServiceError.to_dict` (e.g. one item's answer in a batch
    RPC); an unknown code gives a plain :class:`ServiceError` (500)."""
    kind = next((k for k in EXPECTED if k.code == payload.get("error")), ServiceError)
    return kind(payload.get("message", ""), payload.get("fields"), payload.get("details"))


#: What every RPC entrypoint declares as ``expected_exceptions``.
EXPECTED = (
    BadInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    TooManyRequests,
    ServiceUnavailable,
)
