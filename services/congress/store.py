"""Storage of the congress service (database ``congress``).

Measured on the local FerretDB 1.24 (SQLite backend), 8 threads at once: ``$inc`` loses updates (28 of
200 kept) and a conditional ``find_one_and_update`` lets several callers through (2-4 of 6 "won" the same
planned → convened transition), while a unique ``_id`` insert lets exactly one through, every time. So
this store never relies on read-modify-write under concurrency:

- every state transition is a **claim**: one insert into ``claims`` with ``_id`` = ``<object>:from-<state>``
  (a state is left once, so the key is unique per transition); the winner then writes the new state;
- the vote in progress of a session is a claim ``<session>:vote`` released when the outcome is recorded;
- presence has no counter at all: the check-ins of a session are the documents of their own collection
  ``checkins_<session id>`` (``_id`` = member id, so a second check-in is a duplicate key), and 实到 is
  their count (4 ms at 120, read by ``_id``-free count of a small collection);
- the term's delegate counters are written only under the term's lock claim ``<term>:lock``.

Collections: ``congresses`` (``_id`` = ``cg-<union id>``), ``terms`` (``<congress>-t<n>``: delegations,
``delegate_count``, ``manager_count``, ``delegation_counts``), ``delegates`` (``<term>:<member id>``: one
lookup authorises a check-in or a vote), ``sessions`` (``<term>-s<n>``: state, ``due_count`` fixed when
convened, ``present_final`` fixed when closed, ``open_item``), ``items`` (``<session>-i<n>``, listed by
``_id`` lookups from 1 to the first gap), ``checkins_<session>``, ``claims``, ``processed_events``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.storage import Store

STALE_LOCK = timedelta(seconds=120)
MAX_NUMBER_TRIES = 20


def now() -> datetime:
    return datetime.now(UTC)


def delegate_id(term_id: str, member_id: str) -> str:
    return f"{term_id}:{member_id}"


class CongressStore(Store):
    indexes = {
        "terms": [IndexModel("congress_id")],
        "delegates": [IndexModel("term_id")],
        "sessions": [IndexModel("term_id"), IndexModel("congress_id")],
    }

    # --- claims: the only concurrency guard FerretDB honours -------------------------------------
    def claim(self, key: str, **info) -> bool:
        """Insert the claim ``key``; True for the one caller that inserted it, False for every other."""
        try:
            self.db.claims.insert_one({"_id": key, "at": now(), **info})
        except DuplicateKeyError:
            return False
        return True

    def release(self, key: str) -> None:
        self.db.claims.delete_one({"_id": key})

    def claimed(self, key: str) -> bool:
        return self.db.claims.find_one({"_id": key}, {"_id": 1}) is not None

    def lock(self, key: str) -> bool:
        """A claim that expires: a lock left by a crashed worker is taken over after 120 s."""
        if self.claim(key):
            return True
        held = self.db.claims.find_one({"_id": key})
        if held and now() - held["at"] > STALE_LOCK:
            self.db.claims.delete_one({"_id": key, "at": held["at"]})
            return self.claim(key)
        return False

    # --- congresses and terms --------------------------------------------------------------------
    def insert_congress(self, doc: dict) -> None:
        self.db.congresses.insert_one(doc)

    def get_congress(self, congress_id: str) -> dict | None:
        return self.db.congresses.find_one({"_id": congress_id})

    def insert_term(self, doc: dict) -> None:
        self.db.terms.insert_one(doc)

    def get_term(self, term_id: str) -> dict | None:
        return self.db.terms.find_one({"_id": term_id})

    def terms_of(self, congress_id: str) -> list[dict]:
        """Terms of a congress by number (a congress has a handful: a scan of ``terms`` is fine)."""
        return sorted(self.db.terms.find({"congress_id": congress_id}), key=lambda t: t["number"])

    def push_delegation(self, term_id: str, delegation: dict) -> None:
        """Append a delegation (call under the term's lock)."""
        self.db.terms.update_one({"_id": term_id}, {"$push": {"delegations": delegation}})

    # --- delegates -------------------------------------------------------------------------------
    def get_delegate(self, term_id: str, member_id: str) -> dict | None:
        return self.db.delegates.find_one({"_id": delegate_id(term_id, member_id)})

    def delegates_of(self, term_id: str) -> list[dict]:
        """Every delegate of a term (a scan of ``delegates``: ~50 µs per delegate in the database)."""
        return sorted(self.db.delegates.find({"term_id": term_id}), key=lambda d: d["_id"])

    def insert_delegates(self, term_id: str, docs: list[dict]) -> list[str] | None:
        """Insert all ``docs`` and count them on the term, or none (call under the term's lock). On a
        clash the ones this call inserted are removed again and the clashing member ids returned."""
        try:
            self.db.delegates.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            failed = {e["index"] for e in exc.details.get("writeErrors", [])}
            mine = [d["_id"] for i, d in enumerate(docs) if i not in failed]
            if mine:
                self.db.delegates.delete_many({"_id": {"$in": mine}})
            return [docs[i]["member_id"] for i in sorted(failed)]
        inc: dict[str, int] = {"delegate_count": len(docs)}
        managers = sum(1 for d in docs if d["category"] == "manager")
        if managers:
            inc["manager_count"] = managers
        for d in docs:
            key = f"delegation_counts.{d['delegation_id']}"
            inc[key] = inc.get(key, 0) + 1
        self.db.terms.update_one({"_id": term_id}, {"$inc": inc})
        return None

    # --- sessions and agenda ---------------------------------------------------------------------
    def _first_free(self, collection: str, prefix: str) -> int:
        n = 1
        while self.db[collection].find_one({"_id": f"{prefix}{n}"}, {"_id": 1}) is not None:
            n += 1
        return n

    def insert_session(self, term_id: str, make) -> tuple[dict, list[dict]]:
        """Number the session (first free ``<term>-s<n>``) and insert it with its agenda; the session's
        ``_id`` insert is the claim of its number (retried on a clash). ``make(session_id, number)``
        returns (session doc, item docs); the items follow the session (upserted, so they cannot clash)."""
        for _ in range(MAX_NUMBER_TRIES):
            number = self._first_free("sessions", f"{term_id}-s")
            doc, items = make(f"{term_id}-s{number}", number)
            try:
                self.db.sessions.insert_one(doc)
            except DuplicateKeyError:
                continue
            for item in items:
                self.db.items.replace_one({"_id": item["_id"]}, item, upsert=True)
            self._ensure_checkins(doc["_id"])
            return doc, items
        raise RuntimeError("could not number the session")

    def _ensure_checkins(self, session_id: str) -> None:
        try:
            self.db.create_collection(checkins_collection(session_id))
        except CollectionInvalid:
            pass

    def get_session(self, session_id: str) -> dict | None:
        return self.db.sessions.find_one({"_id": session_id})

    def sessions_of(self, congress_id: str) -> list[dict]:
        """Sessions of a congress (a scan of ``sessions``: a few per term, fine)."""
        return sorted(
            self.db.sessions.find({"congress_id": congress_id}), key=lambda s: (s["term_id"], s["number"])
        )

    def convened_sessions(self, term_id: str) -> list[dict]:
        return list(self.db.sessions.find({"term_id": term_id, "state": "convened"}, {"_id": 1}))

    def set_session(self, session_id: str, **fields) -> dict:
        self.db.sessions.update_one({"_id": session_id}, {"$set": fields})
        return self.get_session(session_id)

    def add_item(self, session_id: str, item: dict) -> dict:
        """Append an agenda item as ``<session>-i<first free n>`` (the insert claims the number)."""
        for _ in range(MAX_NUMBER_TRIES):
            n = self._first_free("items", f"{session_id}-i")
            doc = {**item, "_id": f"{session_id}-i{n}", "session_id": session_id, "order": n}
            try:
                self.db.items.insert_one(doc)
            except DuplicateKeyError:
                continue
            return doc
        raise RuntimeError("could not number the agenda item")

    def items_of(self, session_id: str) -> list[dict]:
        """The agenda of a session in order, by ``_id`` lookups from 1 up to the first gap."""
        items, n = [], 1
        while (doc := self.db.items.find_one({"_id": f"{session_id}-i{n}"})) is not None:
            items.append(doc)
            n += 1
        return items

    def get_item(self, item_id: str) -> dict | None:
        return self.db.items.find_one({"_id": item_id})

    def set_item(self, item_id: str, **fields) -> dict:
        self.db.items.update_one({"_id": item_id}, {"$set": fields})
        return self.get_item(item_id)

    # --- check-in --------------------------------------------------------------------------------
    def check_in(self, session_id: str, delegate: dict, by: str) -> bool:
        """Record a delegate's presence once; True the first time, False if already checked in."""
        try:
            self.db[checkins_collection(session_id)].insert_one(
                {
                    "_id": delegate["member_id"],
                    "delegation_id": delegate["delegation_id"],
                    "by": by,
                    "at": now(),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    def is_present(self, session_id: str, member_id: str) -> bool:
        return self.db[checkins_collection(session_id)].find_one({"_id": member_id}, {"_id": 1}) is not None

    def present_count(self, session_id: str) -> int:
        """实到: the number of check-ins of the session (a count over its own small collection)."""
        return self.db[checkins_collection(session_id)].count_documents({})

    def presence(self, session_id: str) -> tuple[list[str], dict[str, int]]:
        """(member ids present, sorted; ``{delegation id: present}``) from the check-ins."""
        present, by = [], {}
        for c in self.db[checkins_collection(session_id)].find({}, {"delegation_id": 1}):
            present.append(c["_id"])
            by[c["delegation_id"]] = by.get(c["delegation_id"], 0) + 1
        return sorted(present), by


def checkins_collection(session_id: str) -> str:
    return f"checkins_{session_id}"
