"""Storage of the proposals service (database ``proposals``).

Every page is answered by ``_id`` lookups (docs/storage.md rule 1); the lists are derived documents kept
next to the proposals (rule 2), each updated right after the proposal write that is the commit point:

- ``proposals``: ``_id`` = ``<session id>-p<NNN>`` (number within the session); ``session_id``,
  ``congress_id``, ``term_id``, ``union_id``, ``union_path``, ``number``, ``subject``, ``category``,
  ``reasons``, ``measures``, ``proposer`` {member_id, name}, ``invited`` [{member_id, name}],
  ``cosigners`` [{member_id, name, at}], ``cosigner_ids`` (flat, for the guard against co-signing twice),
  ``min_cosigners``, ``state``, ``review`` {decision, reason, by, by_name, at}, ``round``, ``rounds``
  [{round, department_ids, assigned_at, deadline, replied_at}], ``departments`` {id: name},
  ``pending_departments`` (those yet to reply in the current round), ``replies``
  [{round, department_id, text, by, by_name, at}], ``ratings`` [{round, member_id, name, satisfaction,
  comment, at}], ``rated_keys`` (``<member>:<round>``: one rating per rater per round), ``excellent``,
  ``history`` [{action, from_state, to_state, by, by_name, role, at, note}], ``created_at``,
  ``submitted_at``, ``closed_at``.
- ``windows``: ``_id`` = session id: the collection window (``status`` open | closed, ``min_cosigners``,
  ``deadline_days``) and ``seq``, the last number given: the session's proposals are ``p001`` … ``seq``.
- ``claims``: ``_id`` = ``<proposal id>:<n>``: who won the proposal's n-th transition (see
  :meth:`ProposalsStore.claim`).
- ``people``: ``_id`` = ``<member id>:<session id>``: ``own`` (proposals they drafted) and ``invited``
  (invited to or co-signed): the delegate's page.
- ``inboxes``: ``_id`` = department id: ``proposal_ids`` ever assigned to it: the department's inbox.
- ``watchlist``: one document per proposal now with the departments (``_id`` = proposal id, inserted on
  assignment, deleted on the reply): what the reminder timer reads.
- ``reminders``: ``_id`` = ``<proposal id>:<YYYY-MM-DD>`` (China day): one insert per proposal per day
  decides whether a reminder is published, however often the timer ticks and however many instances run.

:meth:`ProposalsStore.rebuild_indexes` rebuilds every derived document from ``proposals``. The arrays of
``people`` and ``inboxes`` are updated with ``$addToSet``, atomic on MongoDB and the patched local FerretDB;
an unpatched FerretDB 1.24 may lose an entry when two updates of the SAME document race, which the rebuild
repairs. Proposals, their numbers, claims and reminders do not depend on it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.storage import Store


def now() -> datetime:
    return datetime.now(UTC)


def proposal_id(session_id: str, number: int) -> str:
    return f"{session_id}-p{number:03d}"


class ProposalsStore(Store):
    indexes = {"proposals": [IndexModel("session_id"), IndexModel("state")]}

    # --- windows ---------------------------------------------------------------------------------
    def get_window(self, session_id: str) -> dict | None:
        return self.db.windows.find_one({"_id": session_id})

    def open_window(self, session_id: str, fields: dict, at: datetime, by: str) -> dict:
        """Open (or re-open) a window: upsert, keeping the index of proposals it already has."""
        return self.db.windows.find_one_and_update(
            {"_id": session_id},
            {
                "$set": {**fields, "status": "open", "opened_at": at, "opened_by": by, "closed_at": None},
                "$setOnInsert": {"seq": 0},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )

    def close_window(self, session_id: str, at: datetime, by: str) -> dict | None:
        """Guarded: only an open window closes (None otherwise)."""
        return self.db.windows.find_one_and_update(
            {"_id": session_id, "status": "open"},
            {"$set": {"status": "closed", "closed_at": at, "closed_by": by}},
            return_document=ReturnDocument.AFTER,
        )

    def windows_of(self, congress_id: str) -> list[dict]:
        """Windows of a congress: a scan of ``windows``, fine: one document per session (a handful a year)."""
        return list(self.db.windows.find({"congress_id": congress_id}))

    def next_number(self, session_id: str) -> int | None:
        """The next proposal number of an OPEN window (atomic ``$inc``); None when the window is not open."""
        doc = self.db.windows.find_one_and_update(
            {"_id": session_id, "status": "open"},
            {"$inc": {"seq": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return doc["seq"] if doc else None

    # --- proposals -------------------------------------------------------------------------------
    def insert_proposal(self, doc: dict) -> None:
        """The commit point of a new draft; then the session's and the people's indexes learn it."""
        self.db.proposals.insert_one(doc)
        self._person(doc["proposer"]["member_id"], doc["session_id"], "own", doc["_id"])
        for p in doc["invited"]:
            self._person(p["member_id"], doc["session_id"], "invited", doc["_id"])

    def _person(self, member_id: str, session_id: str, key: str, proposal_id: str) -> None:
        self.db.people.update_one(
            {"_id": f"{member_id}:{session_id}"},
            {"$addToSet": {key: proposal_id}, "$set": {"member_id": member_id, "session_id": session_id}},
            upsert=True,
        )

    def note_cosigner(self, member_id: str, session_id: str, proposal_id: str) -> None:
        self._person(member_id, session_id, "invited", proposal_id)

    def get(self, proposal_id: str) -> dict | None:
        return self.db.proposals.find_one({"_id": proposal_id})

    def get_many(self, proposal_ids: list[str]) -> list[dict]:
        """Proposals by id in the order given (one ``_id`` lookup each; missing ones skipped)."""
        docs = (self.db.proposals.find_one({"_id": i}) for i in proposal_ids)
        return [d for d in docs if d]

    def claim(self, proposal_id: str, version: int, at: datetime) -> bool:
        """Claim the right to make a proposal's transition number ``version`` (= its history length when
        read). One insert with ``_id`` = ``<proposal>:<version>`` decides: exactly one of any number of
        concurrent writers gets True. The guarded update that follows is exclusive by itself on MongoDB and
        on the patched local FerretDB (docs/storage.md, ``02-serialise-writes.patch``); the claim keeps
        transitions exclusive on an unpatched FerretDB 1.24 too, whose ``findAndModify`` is a
        read-modify-write without isolation (measured here before the patch: two concurrent guarded
        updates of one document both "succeeded" in 14 of 30 tries, the later overwriting the earlier),
        for one small insert per transition."""
        try:
            self.db.claims.insert_one({"_id": f"{proposal_id}:{version}", "at": at})
        except DuplicateKeyError:
            return False
        return True

    def release_stale_claim(self, proposal_id: str, version: int, older_than: datetime) -> bool:
        """Remove the claim of ``version`` if it is older than ``older_than`` (a writer died between its
        claim and its update); True if removed, so the caller may claim again."""
        claim = self.db.claims.find_one({"_id": f"{proposal_id}:{version}"})
        if claim is None or claim["at"] >= older_than:
            return False
        return self.db.claims.delete_one({"_id": claim["_id"], "at": claim["at"]}).deleted_count == 1

    def move(self, proposal_id: str, guard: dict, update: dict) -> dict | None:
        """The guarded, atomic transition: ``update`` applies only if the proposal still matches
        ``guard`` (its state and whatever else the move requires); None means it did not (409)."""
        return self.db.proposals.find_one_and_update(
            {"_id": proposal_id, **guard}, update, return_document=ReturnDocument.AFTER
        )

    def replace(self, doc: dict, expected_state: str) -> bool:
        return (
            self.db.proposals.replace_one({"_id": doc["_id"], "state": expected_state}, doc).modified_count
            == 1
        )

    def session_ids(self, session_id: str) -> list[str]:
        """The ids of a session's proposals: numbers 1 … ``seq`` (a number lost to a failed insert is
        simply missing), so the list needs no array that concurrent inserts could overwrite."""
        w = self.db.windows.find_one({"_id": session_id}, projection={"seq": 1})
        return [proposal_id(session_id, n) for n in range(1, (w or {}).get("seq", 0) + 1)]

    def person(self, member_id: str, session_id: str) -> dict:
        return self.db.people.find_one({"_id": f"{member_id}:{session_id}"}) or {"own": [], "invited": []}

    # --- departments and the timer's watch list -----------------------------------------------------
    def add_to_inboxes(self, department_ids: list[str], proposal_id: str) -> None:
        for dep in department_ids:
            self.db.inboxes.update_one(
                {"_id": dep}, {"$addToSet": {"proposal_ids": proposal_id}}, upsert=True
            )

    def inbox(self, department_id: str) -> list[str]:
        return (self.db.inboxes.find_one({"_id": department_id}) or {}).get("proposal_ids", [])

    def watch(self, proposal_id: str) -> None:
        self.db.watchlist.replace_one({"_id": proposal_id}, {"_id": proposal_id}, upsert=True)

    def unwatch(self, proposal_id: str) -> None:
        self.db.watchlist.delete_one({"_id": proposal_id})

    def watched(self) -> list[str]:
        """Proposals now with the departments: a scan of ``watchlist``, which holds only those (hundreds
        at most: ~50 µs each on FerretDB)."""
        return [d["_id"] for d in self.db.watchlist.find({})]

    def first_reminder(self, proposal_id: str, day: str, kind: str, at: datetime) -> bool:
        """Record the reminder of ``proposal_id`` for ``day``; False if that day's was already sent."""
        try:
            self.db.reminders.insert_one({"_id": f"{proposal_id}:{day}", "kind": kind, "at": at})
        except DuplicateKeyError:
            return False
        return True

    # --- rebuild ---------------------------------------------------------------------------------
    def rebuild_indexes(self) -> dict:
        """Rebuild ``people``, ``inboxes`` and ``watch`` from ``proposals``
        (a full scan: an operator's repair, not a page)."""
        docs = sorted(self.db.proposals.find({}), key=lambda d: (d["session_id"], d["number"]))
        sessions: dict[str, list[str]] = {}
        people: dict[str, dict] = {}
        inboxes: dict[str, list[str]] = {}
        watched = []
        for d in docs:
            sessions.setdefault(d["session_id"], []).append(d["_id"])
            key = f"{d['proposer']['member_id']}:{d['session_id']}"
            people.setdefault(key, {"own": [], "invited": []})["own"].append(d["_id"])
            for p in {p["member_id"] for p in d["invited"]} | set(d.get("cosigner_ids", [])):
                people.setdefault(f"{p}:{d['session_id']}", {"own": [], "invited": []})["invited"].append(
                    d["_id"]
                )
            for r in d.get("rounds", []):
                for dep in r["department_ids"]:
                    if d["_id"] not in inboxes.setdefault(dep, []):
                        inboxes[dep].append(d["_id"])
            if d["state"] == "assigned":
                watched.append(d["_id"])
        self.db.people.delete_many({})
        for key, v in people.items():
            member_id, session_id = key.split(":", 1)
            self.db.people.insert_one({"_id": key, "member_id": member_id, "session_id": session_id, **v})
        self.db.inboxes.delete_many({})
        for dep, ids in inboxes.items():
            self.db.inboxes.insert_one({"_id": dep, "proposal_ids": ids})
        self.db.watchlist.delete_many({})
        if watched:
            self.db.watchlist.insert_many([{"_id": w} for w in watched])
        return {"proposals": len(docs), "sessions": len(sessions), "inboxes": len(inboxes)}
