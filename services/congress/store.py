"""Storage of the congress service (database ``congress``).

Every change is one guarded, versioned write with its events in the document's outbox
(:meth:`dmlib.storage.Store.change` / ``create``, docs/architecture.md "Changing state"): a session moves
planned → convened only if it is still planned, a vote opens only if the session has no open item, a
term's counters change only at the version they were read at. Nothing is claimed or locked, so a crash or
an outage can leave nothing stuck; the loser of a race gets a typed Conflict. Methods that commit a
change a person made take its ``audit`` record (:mod:`dmlib.audit`) and pass it to that commit.

- presence has no counter: the check-ins of a session are the documents of their own collection
  ``checkins_<session id>`` (``_id`` = member id, so a second check-in is a duplicate key; created through
  ``Store.create`` so that a person's check-in carries its audit entry), and 实到 is their count;
- numbers: a session's number is reserved on its term (``session_count``, a guarded write), then the
  agenda items and the session (the commit point) are written; an agenda item added later takes the
  first free ``<session>-i<n>`` by insert (a clash is a Conflict).

Collections: ``congresses`` (``_id`` = ``cg-<union id>``), ``terms`` (``<congress>-t<n>``: delegations,
``delegate_count``, ``manager_count``, ``delegation_counts``, ``session_count``), ``delegates``
(``<term>:<member id>``: one lookup authorises a check-in or a vote), ``sessions`` (``<term>-s<n>``:
state, ``due_count`` fixed when convened, ``present_final`` fixed when closed, ``open_item``,
``quorum_reached_at``), ``items`` (``<session>-i<n>``, listed by ``_id`` lookups from 1 to the first gap),
``checkins_<session>``, ``attachments`` (an agenda item's files: ``_id`` = file id, ``item_id``),
``outbox_pending``, ``processed_events``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.audit import Audit
from dmlib.errors import Conflict, ServiceError
from dmlib.links import PROJECTOR_LINKS, ProjectorLinks
from dmlib.storage import Store


def now() -> datetime:
    return datetime.now(UTC)


def congress_id_of(union_id: str) -> str:
    """The id of a union's congress (one per grassroots union): ``cg-<union id>``."""
    return f"cg-{union_id}"


def delegate_id(term_id: str, member_id: str) -> str:
    return f"{term_id}:{member_id}"


class CongressStore(ProjectorLinks, Store):
    link_subject = "session_id"  # projector links (dmlib.links) show a session
    indexes = {
        "terms": [IndexModel("congress_id")],
        "delegates": [IndexModel("term_id")],
        "sessions": [IndexModel("term_id"), IndexModel("congress_id")],
        PROJECTOR_LINKS: [IndexModel("session_id")],
        "items": [IndexModel("election_id")],
    }

    # --- congresses and terms --------------------------------------------------------------------
    def insert_congress(self, doc: dict, events: list, audit: Audit | None = None) -> None:
        """Insert a congress with its events (a duplicate ``_id`` raises ``DuplicateKeyError``)."""
        self.create("congresses", doc, events=events, audit=audit)

    def get_congress(self, congress_id: str) -> dict | None:
        return self.db.congresses.find_one({"_id": congress_id})

    def insert_term(self, doc: dict, audit: Audit | None = None) -> None:
        self.create("terms", doc, audit=audit)

    def get_term(self, term_id: str) -> dict | None:
        return self.db.terms.find_one({"_id": term_id})

    def terms_of(self, congress_id: str) -> list[dict]:
        """Terms of a congress by number (a congress has a handful: a scan of ``terms`` is fine)."""
        return sorted(self.db.terms.find({"congress_id": congress_id}), key=lambda t: t["number"])

    # --- delegates -------------------------------------------------------------------------------
    def get_delegate(self, term_id: str, member_id: str) -> dict | None:
        return self.db.delegates.find_one({"_id": delegate_id(term_id, member_id)})

    def delegates_of(self, term_id: str) -> list[dict]:
        """Every delegate of a term (a scan of ``delegates``: ~50 µs per delegate in the database)."""
        return sorted(self.db.delegates.find({"term_id": term_id}), key=lambda d: d["_id"])

    def insert_delegates(
        self, term: dict, docs: list[dict], events: list, audit: Audit | None = None
    ) -> list[str] | None:
        """Insert all ``docs`` and count them on the term, or none. The count is a guarded write on the
        term at the version ``term`` was read at (the commit point, with ``events``): another change of
        the term meanwhile → Conflict, and the delegates inserted here are removed again. On a clash
        with existing delegates, the ones inserted here are removed and the clashing member ids
        returned."""
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
        try:
            self.change(
                "terms", term["_id"], expect={"_v": term.get("_v")}, inc=inc, events=events, audit=audit
            )
        except ServiceError:
            self.db.delegates.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
            raise
        return None

    # --- sessions and agenda ---------------------------------------------------------------------
    def _first_free(self, collection: str, prefix: str, start: int = 1) -> int:
        n = start
        while self.db[collection].find_one({"_id": f"{prefix}{n}"}, {"_id": 1}) is not None:
            n += 1
        return n

    def insert_session(self, term: dict, make, events, audit=None) -> tuple[dict, list[dict]]:
        """Plan a session: reserve its number on the term (a guarded write at the version ``term`` was
        read at: two planners at once → one Conflict), write its agenda items, then insert the session
        with its events (the commit point). ``make(session_id, number)`` returns (session doc, item
        docs); ``events(session_doc)`` the events, ``audit(session_doc)`` its audit record. A crash before the commit leaves an unused number
        and items nobody lists (numbers may then skip one)."""
        term_id = term["_id"]
        number = self._first_free("sessions", f"{term_id}-s", term.get("session_count", 0) + 1)
        self.change("terms", term_id, expect={"_v": term.get("_v")}, set={"session_count": number})
        doc, items = make(f"{term_id}-s{number}", number)
        for item in items:
            self.db.items.replace_one({"_id": item["_id"]}, {**item, "_v": 0}, upsert=True)
        self._ensure_checkins(doc["_id"])
        try:
            doc = self.create("sessions", doc, events=events(doc), audit=audit(doc) if audit else None)
        except DuplicateKeyError:
            raise Conflict(
                "another session was planned at the same moment, try again / 其他会议正在筹备，请重试",
                details={"session_id": doc["_id"]},
                reason="stale",
            ) from None
        return doc, items

    def _ensure_checkins(self, session_id: str) -> None:
        try:
            self.db.create_collection(checkins_collection(session_id))
        except CollectionInvalid:
            pass

    def get_session(self, session_id: str) -> dict | None:
        return self.db.sessions.find_one({"_id": session_id})

    # --- agenda item attachments -------------------------------------------------------------------
    def store_files(self, files: list[dict]) -> None:
        """Store an agenda item's files (``attachments``: ``_id`` = file id, ``item_id``, ``filename``,
        ``content_type``, ``size``, ``data``; each under the 16 MiB document limit) before the item."""
        for f in files:
            self.db.attachments.insert_one(f)

    def get_attachment(self, attachment_id: str) -> dict | None:
        return self.db.attachments.find_one({"_id": attachment_id})

    def sessions_of(self, congress_id: str) -> list[dict]:
        """Sessions of a congress (a scan of ``sessions``: a few per term, fine)."""
        return sorted(
            self.db.sessions.find({"congress_id": congress_id}), key=lambda s: (s["term_id"], s["number"])
        )

    def convened_sessions(self, term_id: str) -> list[dict]:
        return list(self.db.sessions.find({"term_id": term_id, "state": "convened"}, {"_id": 1}))

    def add_item(self, session_id: str, make, audit: Audit | None = None) -> dict:
        """Append an agenda item as ``<session>-i<first free n>``; ``make(item_id)`` gives its document
        (storing its files first). The insert is the commit point (two admins adding at once: one gets a
        Conflict). ``audit``'s object id is set to the item's."""
        n = self._first_free("items", f"{session_id}-i")
        item_id = f"{session_id}-i{n}"
        doc = {**make(item_id), "_id": item_id, "session_id": session_id, "order": n}
        try:
            return self.create(
                "items", doc, audit=dataclasses.replace(audit, object_id=doc["_id"]) if audit else None
            )
        except DuplicateKeyError:
            raise Conflict(
                "another item was added at the same moment, try again / 其他议程正在添加，请重试",
                details={"item_id": doc["_id"]},
                reason="stale",
            ) from None

    def items_of(self, session_id: str) -> list[dict]:
        """The agenda of a session in order, by ``_id`` lookups from 1 up to the first gap."""
        items, n = [], 1
        while (doc := self.db.items.find_one({"_id": f"{session_id}-i{n}"})) is not None:
            items.append(doc)
            n += 1
        return items

    def item_of_election(self, election_id: str) -> dict | None:
        """The agenda item that runs ``election_id`` (kind ``election``), if any (an event handler's
        lookup; FerretDB scans the items, MongoDB uses the index)."""
        return self.db.items.find_one({"election_id": election_id})

    def get_item(self, item_id: str) -> dict | None:
        return self.db.items.find_one({"_id": item_id})

    # --- check-in --------------------------------------------------------------------------------
    def check_in(
        self, session_id: str, delegate: dict, by: str, at: datetime, audit: Audit | None = None
    ) -> bool:
        """Record a delegate's presence once (by member id ``by``, at ``at``; with ``audit``, the first
        time only); True the first time, False if already checked in."""
        try:
            self.create(
                checkins_collection(session_id),
                {
                    "_id": delegate["member_id"],
                    "member_id": delegate["member_id"],
                    "delegation_id": delegate["delegation_id"],
                    "by": by,
                    "at": at,
                },
                audit=audit,
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
