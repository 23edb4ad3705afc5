"""Events: facts in the past tense, each with an envelope (DESIGN.md §5; catalogue in docs/events.md).

``Events`` replaces nameko's ``EventDispatcher``: ``self.events.publish("member_registered", member_id=…)``
adds ``event_id`` (uuid4 hex, for de-duplication by subscribers) and ``occurred_at`` (UTC, ISO 8601).
Publish only after the write it reports has succeeded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from nameko.events import EventDispatcher


def envelope(**payload: Any) -> dict[str, Any]:
    """The payload with ``event_id`` and ``occurred_at`` added (kept if already present)."""
    payload.setdefault("event_id", uuid.uuid4().hex)
    payload.setdefault(
        "occurred_at", datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    return payload


class Events(EventDispatcher):
    """Injects an object with ``publish(event_type, **payload) -> event_id``."""

    def get_dependency(self, worker_ctx):
        dispatch = super().get_dependency(worker_ctx)

        class Publisher:
            @staticmethod
            def publish(event_type: str, **payload: Any) -> str:
                body = envelope(**payload)
                dispatch(event_type, body)
                return body["event_id"]

        return Publisher()
