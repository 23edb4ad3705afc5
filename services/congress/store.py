"""Storage of the congress service (database ``congress``).

Collections, with ``_id`` chosen so that every hot path is an ``_id`` lookup (docs/storage.md):

- ``congresses``: ``_id`` = ``cg-<union id>`` (one congress per grassroots union); ``union_id``,
  ``union_path`` (root … union, for the admin scope check), ``union_name``, ``name``.
- ``terms``: ``_id`` = ``<congress id>-t<number>``; ``number``, ``start``, ``end`` (ISO dates),
  ``delegations`` (``[{id, name}]``), counters ``delegate_count``, ``manager_count``,
  ``delegation_counts`` (``{delegation id: n}``), ``session_count`` (numbers the sessions).
- ``delegates``: ``_id`` = ``<term id>:<member id>`` (the check-in and vote authorisation is one lookup);
  ``term_id``, ``congress_id``, ``member_id``, ``name``, ``delegation_id``, ``category``.
- ``sessions``: ``_id`` = ``<term id>-s<number>``; ``state`` (planned → convened → closed), ``kind``,
  ``title``, ``due_count`` (frozen when convened), live counters ``present_count`` and
  ``present_by_delegation``, ``present`` (member ids, for the voter list), ``item_count``, ``open_item``.
- ``checkins``: ``_id`` = ``<session id>:<member id>``: the source of truth of presence; the insert is the
  idempotency guard (a second check-in is a duplicate key), the session's counters are derived from it and
  :meth:`CongressStore.recount` reproduces them.
- ``items``: agenda items, ``_id`` = ``<session id>-i<order>`` (listed by ``_id`` lookups 1…item_count);
  ``kind``, ``title``, ``secret``, ``state`` (pending → voting → adopted | failed), ``poll_id``, ``outcome``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.storage import Store

SESSION_COUNTS_PROJECTION = {"present": 0}
# FerretDB 1.24 refuses a projection in findAndModify (NotImplemented): find_one_and_update returns the
# whole document and the ``present`` list is dropped here instead.


def _light(doc: dict | None) -> dict | None:
    if doc is not None:
        doc.pop("present", None)
    return doc


def now() -> datetime:
    return datetime.now(UTC)


def checkin_id(session_id: str, member_id: str) -> str:
    return f"{session_id}:{member_id}"


def delegate_id(term_id: str, member_id: str) -> str:
    return f"{term_id}:{member_id}"


class CongressStore(Store):
    indexes = {
        "terms": [IndexModel("congress_id")],
        "delegates": [IndexModel("term_id")],
        "sessions": [IndexModel("term_id"), IndexModel("congress_id")],
        "checkins": [IndexModel("session_id")],
        "items": [IndexModel("session_id")],
    }

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

    def add_delegation(self, term_id: str, delegation: dict) -> dict | None:
        """Append a delegation unless one of that name exists; None if it does."""
        return self.db.terms.find_one_and_update(
            {"_id": term_id, "delegations.name": {"$ne": delegation["name"]}},
            {"$push": {"delegations": delegation}},
            return_document=ReturnDocument.AFTER,
        )

    def next_session_number(self, term_id: str) -> int:
        term = self.db.terms.find_one_and_update(
            {"_id": term_id}, {"$inc": {"session_count": 1}}, return_document=ReturnDocument.AFTER
        )
        return term["session_count"]

    # --- delegates -------------------------------------------------------------------------------
    def get_delegate(self, term_id: str, member_id: str) -> dict | None:
        return self.db.delegates.find_one({"_id": delegate_id(term_id, member_id)})

    def delegates_of(self, term_id: str) -> list[dict]:
        """Every delegate of a term (a scan of ``delegates``: fine up to ~10⁵ delegates in the database)."""
        return sorted(self.db.delegates.find({"term_id": term_id}), key=lambda d: d["_id"])

    def insert_delegates(self, term_id: str, docs: list[dict]) -> list[str] | None:
        """Insert all ``docs`` and count them on the term, or none: on a clash (a concurrent election of
        the same member) the ones this call inserted are removed again and the clashing member ids are
        returned; None on success."""
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
    def insert_session(self, doc: dict, items: list[dict]) -> None:
        """Items first, the session last: the session document is the commit point (no session, no
        agenda shown; orphan items of a failed insert are overwritten by nothing and harmless)."""
        if items:
            self.db.items.insert_many(items)
        self.db.sessions.insert_one(doc)

    def get_session(self, session_id: str, with_present: bool = False) -> dict | None:
        return self.db.sessions.find_one(
            {"_id": session_id}, None if with_present else SESSION_COUNTS_PROJECTION
        )

    def sessions_of(self, congress_id: str) -> list[dict]:
        """Sessions of a congress (a scan of ``sessions``: a few per term, fine)."""
        docs = self.db.sessions.find({"congress_id": congress_id}, SESSION_COUNTS_PROJECTION)
        return sorted(docs, key=lambda s: (s["term_id"], s["number"]))

    def convened_sessions(self, term_id: str) -> list[dict]:
        return list(self.db.sessions.find({"term_id": term_id, "state": "convened"}, {"_id": 1}))

    def add_item(self, session_id: str, item: dict) -> dict | None:
        """Append an agenda item while the session is not closed; None if it is."""
        session = self.db.sessions.find_one_and_update(
            {"_id": session_id, "state": {"$in": ["planned", "convened"]}},
            {"$inc": {"item_count": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if session is None:
            return None
        n = session["item_count"]
        doc = {**item, "_id": f"{session_id}-i{n}", "session_id": session_id, "order": n}
        self.db.items.insert_one(doc)
        return doc

    def items_of(self, session: dict) -> list[dict]:
        """The agenda of a session in order, by ``_id`` lookups."""
        items = []
        for n in range(1, session.get("item_count", 0) + 1):
            doc = self.db.items.find_one({"_id": f"{session['_id']}-i{n}"})
            if doc:
                items.append(doc)
        return items

    def get_item(self, item_id: str) -> dict | None:
        return self.db.items.find_one({"_id": item_id})

    def transition_session(self, session_id: str, expected: dict, update: dict) -> dict | None:
        """Atomic guarded update: applies ``update`` only if the session matches ``expected``."""
        return _light(
            self.db.sessions.find_one_and_update(
                {"_id": session_id, **expected}, update, return_document=ReturnDocument.AFTER
            )
        )

    def transition_item(self, item_id: str, expected: dict, update: dict) -> dict | None:
        return self.db.items.find_one_and_update(
            {"_id": item_id, **expected}, update, return_document=ReturnDocument.AFTER
        )

    # --- check-in --------------------------------------------------------------------------------
    def check_in(self, session: dict, delegate: dict, by: str) -> tuple[bool, dict]:
        """Record a delegate's presence once. Returns (first time, session after).

        The check-in document's ``_id`` is the guard: a second check-in is a duplicate key and changes
        nothing. Only the first one increments the session's counters (one atomic update)."""
        member_id = delegate["member_id"]
        try:
            self.db.checkins.insert_one(
                {
                    "_id": checkin_id(session["_id"], member_id),
                    "session_id": session["_id"],
                    "member_id": member_id,
                    "delegation_id": delegate["delegation_id"],
                    "by": by,
                    "at": now(),
                }
            )
        except DuplicateKeyError:
            return False, self.get_session(session["_id"])
        after = self.db.sessions.find_one_and_update(
            {"_id": session["_id"]},
            {
                "$inc": {"present_count": 1, f"present_by_delegation.{delegate['delegation_id']}": 1},
                "$push": {"present": member_id},
            },
            return_document=ReturnDocument.AFTER,
        )
        return True, _light(after)

    def is_present(self, session_id: str, member_id: str) -> bool:
        return self.db.checkins.find_one({"_id": checkin_id(session_id, member_id)}, {"_id": 1}) is not None

    def present_members(self, session_id: str) -> list[str]:
        doc = self.db.sessions.find_one({"_id": session_id}, {"present": 1})
        return list(doc.get("present", [])) if doc else []

    def recount(self, session_id: str) -> dict:
        """Recompute the presence counters of a session from its check-ins (the source of truth).

        Scans ``checkins`` (~50 µs per document on FerretDB: fine up to ~10⁵ check-ins). Returns the
        recomputed ``{present_count, present_by_delegation}``."""
        present: list[str] = []
        by: dict[str, int] = {}
        for c in self.db.checkins.find({"session_id": session_id}, {"member_id": 1, "delegation_id": 1}):
            present.append(c["member_id"])
            by[c["delegation_id"]] = by.get(c["delegation_id"], 0) + 1
        present.sort()
        counts = {"present_count": len(present), "present_by_delegation": by}
        self.db.sessions.update_one({"_id": session_id}, {"$set": {**counts, "present": present}})
        return counts
