"""A hand-written, in-memory fake of :class:`services.proposals.store.ProposalsStore` (same methods) on the
shared :class:`tests.unit.fake_store.FakeStore` (the ``Store.change`` / ``Store.create`` contract);
``committed()`` lists every event ever committed, oldest first."""

from __future__ import annotations

import copy

from pymongo.errors import DuplicateKeyError

from services.proposals.store import proposal_id
from tests.unit.fake_store import FakeStore


class FakeProposalsStore(FakeStore):
    service = "proposals"

    def create_new(self, collection: str, doc: dict, *, events: list = (), audit=None) -> dict | None:
        try:
            return self.create(collection, doc, events=events, audit=audit)
        except DuplicateKeyError:
            return None

    # --- windows -------------------------------------------------------------------------------------
    def get_window(self, session_id: str) -> dict | None:
        return copy.deepcopy(self.col("windows").get(session_id))

    def windows_of(self, congress_id: str) -> list[dict]:
        return [copy.deepcopy(w) for w in self.col("windows").values() if w["congress_id"] == congress_id]

    def windows_under(self, union_ids: set[str]) -> list[dict]:
        return [copy.deepcopy(w) for w in self.col("windows").values() if union_ids & set(w["union_path"])]

    # --- proposals and derived lists -----------------------------------------------------------------
    def note_person(self, member_id: str, session_id: str, key: str, pid: str) -> None:
        person = self.col("people").setdefault(f"{member_id}:{session_id}", {"own": [], "invited": []})
        if pid not in person[key]:
            person[key].append(pid)

    def get(self, pid: str) -> dict | None:
        return copy.deepcopy(self.col("proposals").get(pid))

    def get_many(self, pids: list[str]) -> list[dict]:
        return [d for d in (self.get(i) for i in pids) if d]

    def session_ids(self, session_id: str) -> list[str]:
        seq = (self.col("windows").get(session_id) or {}).get("seq", 0)
        return [proposal_id(session_id, n) for n in range(1, seq + 1)]

    def person(self, member_id: str, session_id: str) -> dict:
        return copy.deepcopy(self.col("people").get(f"{member_id}:{session_id}", {"own": [], "invited": []}))

    def add_to_inboxes(self, department_ids: list[str], pid: str) -> None:
        for dep in department_ids:
            ids = self.col("inboxes").setdefault(dep, [])
            if pid not in ids:
                ids.append(pid)

    def inbox(self, department_id: str) -> list[str]:
        return list(self.col("inboxes").get(department_id, []))

    def watch(self, pid: str, at) -> None:
        self.col("watchlist")[pid] = {"_id": pid, "at": at}

    def unwatch(self, pid: str, before=None) -> None:
        at = self.col("watchlist").get(pid, {}).get("at")
        if pid in self.col("watchlist") and (before is None or at is None or at < before):
            del self.col("watchlist")[pid]

    def watched(self) -> list[str]:
        return sorted(self.col("watchlist"))

    def rebuild_indexes(self) -> dict:
        sessions = {p["session_id"] for p in self.col("proposals").values()}
        self.collections["watchlist"] = {
            pid: {"_id": pid} for pid, p in self.col("proposals").items() if p["state"] == "assigned"
        }
        return {"proposals": len(self.col("proposals")), "sessions": len(sessions), "inboxes": 0}
