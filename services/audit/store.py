"""Storage of the audit service (database ``audit``): append-only, hash-chained entries per union.

Collections:

- ``entries``: ``_id`` = ``<union id>:<seq, 12 digits>`` (:func:`rules.entry_id`), the fields of
  :data:`rules.CONTENT`, ``hash``. Inserted once, never updated or deleted: this class has no method
  that updates or deletes an entry.
- ``heads``: ``_id`` = union id, ``{"seq", "hash"}`` of the last entry whose bookkeeping is done: where
  an append starts looking, and the anchor that shows a deleted tail.
- ``by_event``: ``_id`` = event id → ``{"entry"}``: an event already in the log (de-duplication).

Appending (:meth:`AuditStore.append`) is safe with any number of workers and processes, on MongoDB and
on FerretDB (which answers only ``_id`` lookups from an index): read the head, probe ``_id``\\ s after it
(``seq + 1``, …) up to the first free one, and insert the new entry there. That insert is the commit
point: a unique ``_id``, so of two appenders at the same place one wins and the other reads again and
links after it (an optimistic append, not a lock: nothing is held, nothing is left by a crash). Then the
bookkeeping: a ``by_event`` marker for every entry passed beyond the head, and the head moved forward.
Every entry up to the head therefore has its marker, and an entry beyond it is seen by the next probe; so
an event delivered again (a crash after the insert, or two deliveries at once) is found either way and
appended once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.storage import Store

from . import rules


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditStore(Store):
    # used by MongoDB in production; FerretDB 1.24 scans (docs/storage.md)
    indexes = {
        "entries": [
            IndexModel([("union_path", 1), ("at", DESCENDING)]),
            IndexModel([("actor.member_id", 1), ("at", DESCENDING)]),
            IndexModel([("object.type", 1), ("object.id", 1)]),
        ]
    }

    # --- appending ---------------------------------------------------------------------------------
    def append(self, content: dict) -> dict | None:
        """Append ``content`` (a ``change_recorded`` payload shaped by the service) to its union's chain;
        returns the entry, or None if its ``event_id`` is in the log already."""
        union_id, event_id = content["union_id"], content["event_id"]
        if self.db.by_event.find_one({"_id": event_id}, {"_id": 1}) is not None:
            return None
        while True:  # each turn that does not return lost the place to another appender, who advanced
            head = self.db.heads.find_one({"_id": union_id}) or {"seq": 0, "hash": rules.GENESIS}
            seq, prev_hash, beyond = head["seq"], head["hash"], []
            while (e := self.db.entries.find_one({"_id": rules.entry_id(union_id, seq + 1)})) is not None:
                beyond.append(e)
                seq, prev_hash = e["seq"], e["hash"]
            if any(e["event_id"] == event_id for e in beyond):
                self._settle(union_id, beyond)
                return None
            entry = rules.link(content, seq + 1, prev_hash, now_iso())
            try:
                self.db.entries.insert_one(entry)
            except DuplicateKeyError:
                continue
            self._settle(union_id, [*beyond, entry])
            return entry

    def _settle(self, union_id: str, entries: list[dict]) -> None:
        """Bookkeeping after the commit: markers for ``entries``, then the head moved to the last."""
        for e in entries:
            try:
                self.db.by_event.insert_one({"_id": e["event_id"], "entry": e["_id"]})
            except DuplicateKeyError:
                pass
        last = entries[-1]
        try:
            self.db.heads.update_one(
                {"_id": union_id, "seq": {"$lt": last["seq"]}},
                {"$set": {"seq": last["seq"], "hash": last["hash"]}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # the head is already at or beyond this entry

    # --- reading -------------------------------------------------------------------------------------
    def head(self, union_id: str) -> dict | None:
        return self.db.heads.find_one({"_id": union_id})

    def union_ids(self) -> list[str]:
        """Every union with a chain (one head each)."""
        return sorted(h["_id"] for h in self.db.heads.find({}, {"_id": 1}))

    def chain(self, union_id: str) -> Iterator[dict]:
        """The entries of one union in chain order (``_id`` order), streamed."""
        prefix = f"{union_id}:"
        return self.db.entries.find(
            {"_id": {"$gte": prefix, "$lt": f"{union_id};"}, "union_id": union_id}
        ).sort("_id", 1)

    def entries(
        self,
        union_id: str,
        *,
        actor: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        date_from=None,
        date_to=None,
        skip: int = 0,
        limit: int = 50,
    ) -> tuple[list[dict], int]:
        """(a page of entries of ``union_id`` and the unions below it, newest first; how many match).
        Dates are calendar days in UTC, both inclusive (``at`` is ISO 8601 text, compared as text)."""
        query: dict = {"union_path": union_id}
        if actor:
            query["actor.member_id"] = actor
        if object_type:
            query["object.type"] = object_type
        if object_id:
            query["object.id"] = object_id
        at: dict = {}
        if date_from:
            at["$gte"] = date_from.isoformat()
        if date_to:
            at["$lt"] = (date_to + timedelta(days=1)).isoformat()
        if at:
            query["at"] = at
        total = self.db.entries.count_documents(query)
        docs = list(self.db.entries.find(query).sort([("at", -1), ("_id", -1)]).skip(skip).limit(limit))
        return docs, total
