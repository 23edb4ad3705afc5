"""The audit service: the append-only, hash-chained record of every change a person made (审计日志).

Entries arrive only as ``change_recorded`` events (:mod:`dmlib.audit`), committed by the publishing
service in the same write as the change itself and relayed from its outbox (so a committed change is
never without its entry, and a refused one never has one). One handler per publishing service; each
accepts only entries its publisher claims as its own (``service``), de-duplicates by ``event_id`` and
appends to the chain of the entry's union (:mod:`services.audit.store`, :mod:`services.audit.rules`).

Reading is for admins of the union or above (:mod:`services.audit.policy`); verifying a chain reports
its first broken link (edited, deleted, reordered or relinked entry). There is no RPC that writes.
"""

from __future__ import annotations

import logging

from dmlib.audit import AUDIT_EVENT
from dmlib.auth import Identity
from dmlib.contracts import audit as c
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, event_handler, rpc
from dmlib.schemas import page_out
from dmlib.storage import Mongo

from . import policy, rules
from .store import AuditStore

log = logging.getLogger(__name__)

#: Payload fields an entry needs (dmlib.audit, docs/events.md).
REQUIRED = ("event_id", "occurred_at", "service", "action", "actor", "role", "object", "union_id")


def content_of(source: str, payload: dict) -> dict | None:
    """The entry content of a ``change_recorded`` payload from ``source``; None when it lacks a field or
    claims another service's change: a correctly signed entry that does so comes from a faulty or
    compromised publisher, so it is logged as an ERROR with the same ``event refused`` marker as the
    refusals of dmlib.rpc (docs/events.md, "Verification")."""
    missing = [k for k in REQUIRED if not payload.get(k)]
    if missing or payload["service"] != source or not payload["action"].startswith(f"{source}."):
        log.error(
            "event refused: audit entry from %s (missing %s or not its own change) event_id=%s: %r",
            source,
            missing,
            payload.get("event_id"),
            payload,
        )
        return None
    return {
        "union_id": str(payload["union_id"]),
        "union_path": [str(u) for u in payload.get("union_path") or [payload["union_id"]]],
        "event_id": str(payload["event_id"]),
        "service": source,
        "action": payload["action"],
        "actor": {
            "member_id": str(payload["actor"].get("member_id", "")),
            "name": str(payload["actor"].get("name", "")),
        },
        "role": str(payload["role"]),
        "object": {
            "type": str(payload["object"].get("type", "")),
            "id": str(payload["object"].get("id", "")),
        },
        "changes": list(payload.get("changes") or []),
        "note": payload.get("note"),
        "at": str(payload["occurred_at"]),
        "request_id": payload.get("request_id"),
    }


def entry_out(doc: dict) -> dict:
    return c.EntryOut().dump({**doc, "id": doc["_id"]})


class AuditService(HealthRpc):
    name = "audit"

    store: AuditStore = Mongo(AuditStore)
    identity = Identity()
    members_rpc = Rpc("members")

    def _record(self, source: str, payload: dict) -> None:
        content = content_of(source, payload)
        if content is not None:
            self.store.append(content)

    # one handler per publishing service (each a queue bound to that service's events)
    @event_handler("members", AUDIT_EVENT)
    def handle_members_change(self, payload: dict) -> None:
        """A change made by a person in members: append it (once per ``event_id``)."""
        self._record("members", payload)

    @event_handler("congress", AUDIT_EVENT)
    def handle_congress_change(self, payload: dict) -> None:
        """A change made by a person in congress: append it (once per ``event_id``)."""
        self._record("congress", payload)

    @event_handler("proposals", AUDIT_EVENT)
    def handle_proposals_change(self, payload: dict) -> None:
        """A change made by a person in proposals: append it (once per ``event_id``)."""
        self._record("proposals", payload)

    @event_handler("voting", AUDIT_EVENT)
    def handle_voting_change(self, payload: dict) -> None:
        """A change made by a person in voting (never a ballot): append it (once per ``event_id``)."""
        self._record("voting", payload)

    @event_handler("disclosure", AUDIT_EVENT)
    def handle_disclosure_change(self, payload: dict) -> None:
        """A change made by a person in disclosure: append it (once per ``event_id``)."""
        self._record("disclosure", payload)

    @event_handler("notify", AUDIT_EVENT)
    def handle_notify_change(self, payload: dict) -> None:
        """A change made by a person in notify: append it (once per ``event_id``)."""
        self._record("notify", payload)

    @event_handler("surveys", AUDIT_EVENT)
    def handle_surveys_change(self, payload: dict) -> None:
        """A change made by a person in surveys (never an answer): append it (once per ``event_id``)."""
        self._record("surveys", payload)

    # ----- reading ---------------------------------------------------------------------------------
    @rpc
    def list_entries(self, data: dict) -> dict:
        """A page of the audit log of a union and every union below it, newest first. In:
        :class:`EntriesIn` (``union_id``; filters ``actor``, ``object_type``, ``object_id``, ``date_from``,
        ``date_to``; ``page``, ``per_page`` ≤ 200). Out: :class:`EntriesOut`. Admins of the union or above.
        Errors: BadInput, NotFound (union), Forbidden."""
        data = c.EntriesIn().load(data)
        return self._entries(data)

    @rpc
    def export_entries(self, data: dict) -> dict:
        """Every matching entry for an export, newest first, at most ``EXPORT_LIMIT`` (10,000;
        ``truncated`` true when there were more). In: :class:`ExportIn`. Out: :class:`EntriesOut`."""
        data = c.ExportIn().load(data)
        return self._entries(data)

    def _entries(self, data: dict) -> dict:
        actor = self.identity.actor
        union = self.members_rpc.get_union(data["union_id"])
        policy.require_reader(actor, union["path"])
        page, per_page = data["page"], data["per_page"]
        docs, total = self.store.entries(
            data["union_id"],
            actor=data["actor"],
            object_type=data["object_type"],
            object_id=data["object_id"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            skip=(page - 1) * per_page,
            limit=per_page,
        )
        out = page_out([entry_out(d) for d in docs], total, page, per_page)
        return c.EntriesOut().dump({**out, "truncated": total > page * per_page})

    # ----- verifying -------------------------------------------------------------------------------
    @rpc
    def verify_chain(self, data: dict | None = None) -> dict:
        """Verify the hash chain of one union (``{"union_id": U}``: admins of U or above, or the system)
        or of every union (``{}``: the system only, ``dm audit-verify``). Reads every entry of the chain
        in order (a full pass: minutes for millions of entries). Out: :class:`VerifyOut`, with per chain
        the entries checked, the head's sequence number and the first broken link (``kind`` edited,
        deleted, reordered or relinked; :mod:`services.audit.rules`). Errors: BadInput, Forbidden."""
        data = c.VerifyIn().load(data or {})
        actor = self.identity.actor
        if data["union_id"] is None:
            policy.require_verify_all(actor)
            unions = self.store.union_ids()
        else:
            if not actor.is_system:
                policy.require_reader(actor, self.members_rpc.get_union(data["union_id"])["path"])
            unions = [data["union_id"]]
        chains = []
        for union_id in unions:
            head = self.store.head(union_id) or {"seq": 0}
            verdict = rules.verify(union_id, self.store.chain(union_id), head["seq"])
            chains.append(
                {
                    "union_id": union_id,
                    "entries": verdict.entries,
                    "head_seq": verdict.head_seq,
                    "ok": verdict.ok,
                    "first_break": vars(verdict.first_break) if verdict.first_break else None,
                }
            )
        return c.VerifyOut().dump({"ok": all(ch["ok"] for ch in chains), "chains": chains})
