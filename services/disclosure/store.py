"""Storage of the disclosure service (database ``disclosure``).

Collections, with ``_id`` chosen so that every page is answered by ``_id`` lookups (docs/storage.md rule 1):

- ``items``: ``_id`` item id; ``union_id``, ``union_path``, ``union_name``, the current revision's content
  (``category``, ``period``, ``title``, ``body`` Markdown, ``mandatory``, ``attachments`` = list of
  ``{id, filename, content_type, size}``), ``revision``, ``correction_reason``, ``revisions`` (refs of
  the earlier revisions: ``{revision, published_at, reason}``), ``status`` (published | withdrawn),
  ``published_at/by``, ``revised_at``, ``withdrawn_at/by``, ``withdraw_reason``; counters ``read_count``,
  ``questions_total``, ``questions_open`` (kept by ``$inc``), ``question_ids``.
- ``revisions``: ``_id`` = item id + ``:`` + revision (4 digits): the full snapshot of every revision
  that a correction replaced. Written before the item moves on, so nothing is ever lost.
- ``attachments``: ``_id`` file id; ``item_id``, ``filename``, ``content_type``, ``size``, ``data``
  (binary, at most ``MAX_ATTACHMENT_BYTES``, well under MongoDB's 16 MB document limit).
- ``receipts``: the read receipts, the source of truth for reads: ``_id`` = item id + ``:`` + member id,
  so one insert both records a first read and refuses a second; ``item_id``, ``member_id``, ``revision``,
  ``read_at``.
- ``readers``: derived: who read an item, ``_id`` = item id + ``:`` + chunk, ``members`` = up to
  :data:`READER_CHUNK` member ids, positions taken from ``items.read_count`` (so the dashboard reads
  ⌈reads/1000⌉ documents by ``_id``). :meth:`DisclosureStore.recount_reads` rebuilds both from
  ``receipts``.
- ``questions``: ``_id`` question id; ``item_id``, ``union_id``, ``text``, ``anonymous``, ``asker_id`` and
  ``asker_name`` (null when anonymous), ``asker_key`` (keyed hash, lets the asker recognise their own),
  ``asked_at``, ``status`` (open | answered), ``answer``, ``answered_at``, ``answered_by(_name)``.
- ``unions``: derived per-union index: ``_id`` = union id; ``name``, ``path``, ``item_ids`` (publication
  order), ``open_question_ids`` (the admin's desk). :meth:`DisclosureStore.rebuild_union_index` rebuilds
  it, and the items' question lists and counters, from ``items`` and ``questions``.

How state changes (docs/architecture.md, "Changing state"): every change of an item or a question is
one guarded, versioned write through :meth:`dmlib.storage.Store.change` / ``create`` carrying its events
in the document's outbox (relayed by the service's ``OutboxRelay``). Nothing is claimed or locked. The
derived indexes (the union's lists, the item's question list and counters, the ``readers`` chunks) are
written around that commit point in an order where every intermediate state is harmless: ids are added
to a list *before* the document they name commits (a list skips an id without a document), counters
follow the commit; a crash in between leaves a counter short, which :meth:`recount_reads` and
:meth:`rebuild_union_index` repair from the records. Receipts, files and revision snapshots are
immutable documents whose ``_id`` is their guard (one insert decides, a repeat is a no-op).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.audit import Audit
from dmlib.storage import Store

READER_CHUNK = 1000


def receipt_id(item_id: str, member_id: str) -> str:
    return f"{item_id}:{member_id}"


def revision_id(item_id: str, revision: int) -> str:
    return f"{item_id}:{revision:04d}"


class DisclosureStore(Store):
    indexes = {
        "items": [IndexModel("union_id")],
        "receipts": [IndexModel("item_id")],
        "questions": [IndexModel("item_id"), IndexModel([("union_id", 1), ("status", 1)])],
        "attachments": [IndexModel("item_id")],
    }

    # --- items -----------------------------------------------------------------------------------
    def add_files(self, files: list[dict]) -> None:
        """Store attachment files before the item (or correction) that refers to them commits: a file
        nobody refers to (the commit lost a race, or the process died) is harmless."""
        for f in files:
            self.create("attachments", f)

    def forget_files(self, attachment_ids: list[str]) -> None:
        """Remove files that no item or revision refers to (a correction that lost a race)."""
        for a in attachment_ids:
            self.db.attachments.delete_one({"_id": a})

    def get_attachment(self, attachment_id: str) -> dict | None:
        return self.db.attachments.find_one({"_id": attachment_id})

    def publish_item(
        self, item: dict, events: Iterable[Mapping[str, Any]] = (), audit: Audit | None = None
    ) -> dict:
        """The union's board learns the item id, then the item commits with its events and its audit
        entry (the commit point: until then the board skips the id)."""
        self.db.unions.update_one(
            {"_id": item["union_id"]},
            {
                "$set": {"name": item["union_name"], "path": item["union_path"]},
                "$addToSet": {"item_ids": item["_id"]},
            },
            upsert=True,
        )
        return self.create("items", item, events=events, audit=audit)

    def get_item(self, item_id: str) -> dict | None:
        return self.db.items.find_one({"_id": item_id})

    def get_items(self, item_ids: list[str]) -> list[dict]:
        """Items by id, in the order given (``_id`` lookups; missing ones are skipped)."""
        docs = (self.db.items.find_one({"_id": i}, projection={"body": 0, "outbox": 0}) for i in item_ids)
        return [d for d in docs if d]

    def get_union(self, union_id: str) -> dict | None:
        return self.db.unions.find_one({"_id": union_id})

    def unions_under(self, union_ids: set[str]) -> list[dict]:
        """The board indexes of the unions at or below any of ``union_ids`` (the "what needs me" queues):
        a scan of ``unions``, fine: one small document per grassroots union with a board (FerretDB
        would scan for an array match too)."""
        if not union_ids:
            return []
        return [u for u in self.db.unions.find({}) if union_ids & set(u.get("path", []))]

    def keep_revision(self, snapshot: dict) -> None:
        """Keep a revision's full content before the correction that replaces it commits (idempotent:
        a revision's content never changes, so a snapshot kept by an interrupted correction is the same).
        FerretDB workaround: an insert, not an upsert with ``$setOnInsert``, because FerretDB 1.24 drops
        empty arrays from ``$setOnInsert`` documents."""
        try:
            self.create("revisions", snapshot)
        except DuplicateKeyError:
            pass

    def get_revision(self, item_id: str, revision: int) -> dict | None:
        return self.db.revisions.find_one({"_id": revision_id(item_id, revision)})

    # --- read receipts -----------------------------------------------------------------------------
    def has_read(self, item_id: str, member_id: str) -> bool:
        return (
            self.db.receipts.find_one({"_id": receipt_id(item_id, member_id)}, projection={"_id": 1})
            is not None
        )

    def record_read(self, item_id: str, member_id: str, revision: int, at: datetime) -> bool:
        """Record a member's first read of an item; False if they had read it before (one insert decides)."""
        try:
            self.create("receipts", _receipt(item_id, member_id, revision, at))
        except DuplicateKeyError:
            return False
        self._count_readers(item_id, [member_id])
        return True

    def record_reads(self, item_id: str, reads: list[dict], revision: int) -> int:
        """Record many first reads at once (``[{member_id, read_at}]``); returns how many were new.
        One bulk insert of immutable receipts (20,000 single creates would take minutes on FerretDB)."""
        docs = [{**_receipt(item_id, r["member_id"], revision, r["read_at"]), "_v": 0} for r in reads]
        if not docs:
            return 0
        failed: set[int] = set()
        try:
            self.db.receipts.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            failed = {e["index"] for e in exc.details.get("writeErrors", []) if e.get("code") == 11000}
            if len(failed) != len(exc.details.get("writeErrors", [])):
                raise
        new = [d["member_id"] for i, d in enumerate(docs) if i not in failed]
        self._count_readers(item_id, new)
        return len(new)

    def _count_readers(self, item_id: str, member_ids: list[str]) -> None:
        """The derived counter and readers list after new receipts (positions from the counter)."""
        if not member_ids:
            return
        item = self.change("items", item_id, expect={}, inc={"read_count": len(member_ids)})
        start = item["read_count"] - len(member_ids)
        by_chunk: dict[int, list[str]] = {}
        for pos, m in enumerate(member_ids, start=start):
            by_chunk.setdefault(pos // READER_CHUNK, []).append(m)
        for chunk, ids in by_chunk.items():
            self.db.readers.update_one(
                {"_id": f"{item_id}:{chunk:06d}"}, {"$push": {"members": {"$each": ids}}}, upsert=True
            )

    def readers(self, item_id: str, read_count: int) -> set[str]:
        """Member ids with a receipt for the item (⌈read_count/1000⌉ ``_id`` lookups)."""
        out: set[str] = set()
        for chunk in range(max(read_count - 1, 0) // READER_CHUNK + 1):
            doc = self.db.readers.find_one({"_id": f"{item_id}:{chunk:06d}"})
            if doc:
                out.update(doc["members"])
        return out

    def recount_reads(self, item_id: str, audit: Audit | None = None) -> int:
        """Rebuild ``read_count`` and the ``readers`` chunks of an item from its receipts (the counter's
        write carries ``audit``, an admin's recount).

        A scan of ``receipts`` (~50 µs per receipt on FerretDB: ~3 s at 60,000): a repair, not a hot path."""
        members = [
            r["member_id"] for r in self.db.receipts.find({"item_id": item_id}, projection={"member_id": 1})
        ]
        self.db.readers.delete_many({"_id": {"$regex": f"^{item_id}:"}})
        for i in range(0, len(members), READER_CHUNK):
            self.db.readers.insert_one(
                {"_id": f"{item_id}:{i // READER_CHUNK:06d}", "members": members[i : i + READER_CHUNK]}
            )
        self.change("items", item_id, expect={}, set={"read_count": len(members)}, audit=audit)
        return len(members)

    # --- questions -------------------------------------------------------------------------------
    def add_question(
        self, question: dict, events: Iterable[Mapping[str, Any]] = (), audit: Audit | None = None
    ) -> dict:
        """The item's list and the union's desk learn the id, the question commits with its events and
        its audit entry (the commit point), then the item's counters follow."""
        self.db.items.update_one(
            {"_id": question["item_id"]}, {"$addToSet": {"question_ids": question["_id"]}}
        )
        self.db.unions.update_one(
            {"_id": question["union_id"]}, {"$addToSet": {"open_question_ids": question["_id"]}}
        )
        doc = self.create("questions", question, events=events, audit=audit)
        self.change("items", question["item_id"], expect={}, inc={"questions_total": 1, "questions_open": 1})
        return doc

    def get_question(self, question_id: str) -> dict | None:
        return self.db.questions.find_one({"_id": question_id})

    def get_questions(self, question_ids: list[str]) -> list[dict]:
        docs = (self.db.questions.find_one({"_id": q}, projection={"outbox": 0}) for q in question_ids)
        return [d for d in docs if d]

    def question_answered(self, question: dict) -> None:
        """After an answer committed: the item's open counter and the union's desk follow."""
        self.change("items", question["item_id"], expect={}, inc={"questions_open": -1})
        self.db.unions.update_one(
            {"_id": question["union_id"]}, {"$pull": {"open_question_ids": question["_id"]}}
        )

    # --- repair ----------------------------------------------------------------------------------
    def rebuild_union_index(self, union_id: str) -> dict:
        """Recompute a union's item list and open questions, and each item's question list and counters,
        from ``items`` and ``questions`` (scans)."""
        items = sorted(
            self.db.items.find({"union_id": union_id}, projection={"published_at": 1}),
            key=lambda d: (d["published_at"], d["_id"]),
        )
        questions = sorted(
            self.db.questions.find(
                {"union_id": union_id}, projection={"asked_at": 1, "item_id": 1, "status": 1}
            ),
            key=lambda d: (d["asked_at"], d["_id"]),
        )
        for item in items:
            mine = [q for q in questions if q["item_id"] == item["_id"]]
            self.change(
                "items",
                item["_id"],
                expect={},
                set={
                    "question_ids": [q["_id"] for q in mine],
                    "questions_total": len(mine),
                    "questions_open": sum(q["status"] == "open" for q in mine),
                },
            )
        open_q = [q["_id"] for q in questions if q["status"] == "open"]
        self.db.unions.update_one(
            {"_id": union_id}, {"$set": {"item_ids": [d["_id"] for d in items], "open_question_ids": open_q}}
        )
        return {"items": len(items), "open_questions": len(open_q)}


def _receipt(item_id: str, member_id: str, revision: int, at: datetime) -> dict:
    return {
        "_id": receipt_id(item_id, member_id),
        "item_id": item_id,
        "member_id": member_id,
        "revision": revision,
        "read_at": at,
    }
