"""A hand-written, in-memory fake of :class:`services.proposals.store.ProposalsStore` (same methods),
including the semantics of ``Store.change`` / ``Store.create``: the filter is ``_id`` plus ``expect``
(equality, a missing field being None, or ``{"$ne": v}``, an array field matching when it holds the
value), ``_v`` 0 at creation and +1 per change, events kept in the document's outbox in the order of the
writes (an ``audit=`` record adding its ``change_recorded`` event, as :class:`dmlib.storage.Store`
does), NotFound for a missing ``_id``, the ``conflict`` callback's error (default Conflict) otherwise,
nothing written on a refusal. ``committed()`` lists every event ever committed, oldest first."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError

from dmlib.errors import Conflict, NotFound, ServiceError
from services.proposals.store import proposal_id


def _matches(doc: dict, expect: Mapping[str, Any]) -> bool:
    for key, want in expect.items():
        have = doc.get(key)
        if isinstance(want, dict) and "$ne" in want:
            if have == want["$ne"] or (isinstance(have, list) and want["$ne"] in have):
                return False
        elif not (have == want or (isinstance(have, list) and want in have)):
            return False
    return True


class FakeProposalsStore:
    def __init__(self) -> None:
        self.collections: dict[str, dict[Any, dict]] = {}
        self.events: list[tuple[str, dict]] = []  # every event committed, in order
        self.writes = 0

    # --- the one way to change state ---------------------------------------------------------------
    def _coll(self, name: str) -> dict[Any, dict]:
        return self.collections.setdefault(name, {})

    def change(
        self,
        collection: str,
        doc_id: Any,
        *,
        expect: Mapping[str, Any] | None = None,
        set: Mapping[str, Any] | None = None,  # noqa: A002
        inc: Mapping[str, int] | None = None,
        events: Iterable[Mapping[str, Any]] = (),
        conflict: Callable[[dict], ServiceError] | None = None,
        audit=None,
    ) -> dict:
        doc = self._coll(collection).get(doc_id)
        if doc is None:
            raise NotFound(f"no {collection} {doc_id}", details={"id": doc_id})
        if not _matches(doc, expect or {}):
            raise (conflict or (lambda current: Conflict("changed by someone else meanwhile")))(doc)
        events = [
            *events,
            *([audit.event(copy.deepcopy(doc), set, inc, service="proposals")] if audit else []),
        ]
        doc.update(copy.deepcopy(dict(set or {})))
        for key, n in {"_v": 1, **(inc or {})}.items():
            doc[key] = (doc.get(key) or 0) + n
        self._commit_events(doc, events)
        return copy.deepcopy(doc)

    def create(
        self, collection: str, doc: Mapping[str, Any], *, events: Iterable[Mapping[str, Any]] = (), audit=None
    ):
        if doc["_id"] in self._coll(collection):
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        events = [*events, *([audit.event(None, doc, service="proposals")] if audit else [])]
        full = {**copy.deepcopy(dict(doc)), "_v": 0}
        self._coll(collection)[doc["_id"]] = full
        self._commit_events(full, events)
        return copy.deepcopy(full)

    def _commit_events(self, doc: dict, events: Iterable[Mapping[str, Any]]) -> None:
        self.writes += 1
        for e in events:
            doc.setdefault("outbox", {})[e["body"]["event_id"]] = {"type": e["type"], "body": e["body"]}
            self.events.append((e["type"], e["body"]))

    def committed(self, event_type: str | None = None) -> list[tuple[str, dict]]:
        return [(t, b) for t, b in self.events if event_type in (None, t)]

    def create_new(self, collection: str, doc: dict, *, events: list = (), audit=None) -> dict | None:
        try:
            return self.create(collection, doc, events=events, audit=audit)
        except DuplicateKeyError:
            return None

    # --- windows -------------------------------------------------------------------------------------
    def get_window(self, session_id: str) -> dict | None:
        return copy.deepcopy(self._coll("windows").get(session_id))

    def windows_of(self, congress_id: str) -> list[dict]:
        return [copy.deepcopy(w) for w in self._coll("windows").values() if w["congress_id"] == congress_id]

    def windows_under(self, union_ids: set[str]) -> list[dict]:
        return [copy.deepcopy(w) for w in self._coll("windows").values() if union_ids & set(w["union_path"])]

    # --- proposals and derived lists -----------------------------------------------------------------
    def note_person(self, member_id: str, session_id: str, key: str, pid: str) -> None:
        person = self._coll("people").setdefault(f"{member_id}:{session_id}", {"own": [], "invited": []})
        if pid not in person[key]:
            person[key].append(pid)

    def get(self, pid: str) -> dict | None:
        return copy.deepcopy(self._coll("proposals").get(pid))

    def get_many(self, pids: list[str]) -> list[dict]:
        return [d for d in (self.get(i) for i in pids) if d]

    def session_ids(self, session_id: str) -> list[str]:
        seq = (self._coll("windows").get(session_id) or {}).get("seq", 0)
        return [proposal_id(session_id, n) for n in range(1, seq + 1)]

    def person(self, member_id: str, session_id: str) -> dict:
        return copy.deepcopy(
            self._coll("people").get(f"{member_id}:{session_id}", {"own": [], "invited": []})
        )

    def add_to_inboxes(self, department_ids: list[str], pid: str) -> None:
        for dep in department_ids:
            ids = self._coll("inboxes").setdefault(dep, [])
            if pid not in ids:
                ids.append(pid)

    def inbox(self, department_id: str) -> list[str]:
        return list(self._coll("inboxes").get(department_id, []))

    def watch(self, pid: str) -> None:
        self._coll("watchlist")[pid] = {"_id": pid}

    def unwatch(self, pid: str) -> None:
        self._coll("watchlist").pop(pid, None)

    def watched(self) -> list[str]:
        return sorted(self._coll("watchlist"))

    def rebuild_indexes(self) -> dict:
        sessions = {p["session_id"] for p in self._coll("proposals").values()}
        self.collections["watchlist"] = {
            pid: {"_id": pid} for pid, p in self._coll("proposals").items() if p["state"] == "assigned"
        }
        return {"proposals": len(self._coll("proposals")), "sessions": len(sessions), "inboxes": 0}
