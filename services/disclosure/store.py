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
  it from ``items`` and ``questions``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.storage import Store

READER_CHUNK = 1000


def now() -> datetime:
    return datetime.now(UTC)


def receipt_id(item_id: str, member_id: str) -> str:
    return f"{item_id}:{member_id}"


class DisclosureStore(Store):
    indexes = {
        "items": [IndexModel("union_id")],
        "receipts": [IndexModel("item_id")],
        "questions": [IndexModel("item_id"), IndexModel([("union_id", 1), ("status", 1)])],
        "attachments": [IndexModel("item_id")],
    }

    # --- items -----------------------------------------------------------------------------------
    def insert_attachments(self, docs: list[dict]) -> None:
        if docs:
            self.db.attachments.insert_many(docs)

    def forget_attachments(self, attachment_ids: list[str]) -> None:
        """Remove files that no item or revision refers to (a correction that lost a race)."""
        for a in attachment_ids:
            self.db.attachments.delete_one({"_id": a})

    def get_attachment(self, attachment_id: str) -> dict | None:
        return self.db.attachments.find_one({"_id": attachment_id})

    def insert_item(self, doc: dict) -> None:
        """The commit point of a publication; then the union's index learns the item."""
        self.db.items.insert_one(doc)
        self.db.unions.update_one(
            {"_id": doc["union_id"]},
            {
                "$set": {"name": doc["union_name"], "path": doc["union_path"]},
                "$push": {"item_ids": doc["_id"]},
            },
            upsert=True,
        )

    def get_item(self, item_id: str) -> dict | None:
        return self.db.items.find_one({"_id": item_id})

    def get_items(self, item_ids: list[str]) -> list[dict]:
        """Items by id, in the order given (``_id`` lookups; missing ones are skipped)."""
        docs = (self.db.items.find_one({"_id": i}, projection={"body": 0}) for i in item_ids)
        return [d for d in docs if d]

    def get_union(self, union_id: str) -> dict | None:
        return self.db.unions.find_one({"_id": union_id})

    def save_revision(self, snapshot: dict) -> None:
        """Keep a revision's full content (idempotent: a revision's content never changes, so a snapshot
        already kept by an interrupted correction is the same). An insert, not an upsert with
        ``$setOnInsert``: FerretDB 1.24 drops empty arrays from ``$setOnInsert`` documents."""
        try:
            self.db.revisions.insert_one(snapshot)
        except DuplicateKeyError:
            pass

    def get_revision(self, item_id: str, revision: int) -> dict | None:
        return self.db.revisions.find_one({"_id": f"{item_id}:{revision:04d}"})

    def move_item(self, item_id: str, expected: dict, update: dict) -> dict | None:
        """Guarded transition: apply ``update`` only if the item still matches ``expected``."""
        return self.db.items.find_one_and_update(
            {"_id": item_id, **expected}, update, return_document=ReturnDocument.AFTER
        )

    # --- read receipts -----------------------------------------------------------------------------
    def has_read(self, item_id: str, member_id: str) -> bool:
        return (
            self.db.receipts.find_one({"_id": receipt_id(item_id, member_id)}, projection={"_id": 1})
            is not None
        )

    def record_read(self, item_id: str, member_id: str, revision: int, at: datetime | None = None) -> bool:
        """Record a member's first read of an item; False if they had read it before (one insert decides)."""
        try:
            self.db.receipts.insert_one(
                {
                    "_id": receipt_id(item_id, member_id),
                    "item_id": item_id,
                    "member_id": member_id,
                    "revision": revision,
                    "read_at": at or now(),
                }
            )
        except DuplicateKeyError:
            return False
        self._count_readers(item_id, [member_id])
        return True

    def record_reads(self, item_id: str, reads: list[dict], revision: int) -> int:
        """Record many first reads at once (``[{member_id, read_at}]``); returns how many were new."""
        docs = [
            {
                "_id": receipt_id(item_id, r["member_id"]),
                "item_id": item_id,
                "member_id": r["member_id"],
                "revision": revision,
                "read_at": r["read_at"],
            }
            for r in reads
        ]
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
        if not member_ids:
            return
        item = self.db.items.find_one_and_update(
            {"_id": item_id},
            {"$inc": {"read_count": len(member_ids)}},
            return_document=ReturnDocument.AFTER,
        )
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

    def count_receipts(self, item_id: str) -> int:
        """Receipts of an item counted from the source of truth (a scan of ``receipts``)."""
        return self.db.receipts.count_documents({"item_id": item_id})

    def recount_reads(self, item_id: str) -> int:
        """Rebuild ``read_count`` and the ``readers`` chunks of an item from its receipts.

        A scan of ``receipts`` (~50 µs per receipt on FerretDB: ~3 s at 60,000): a repair, not a hot path."""
        members = [
            r["member_id"] for r in self.db.receipts.find({"item_id": item_id}, projection={"member_id": 1})
        ]
        self.db.readers.delete_many({"_id": {"$regex": f"^{item_id}:"}})
        for i in range(0, len(members), READER_CHUNK):
            self.db.readers.insert_one(
                {"_id": f"{item_id}:{i // READER_CHUNK:06d}", "members": members[i : i + READER_CHUNK]}
            )
        self.db.items.update_one({"_id": item_id}, {"$set": {"read_count": len(members)}})
        return len(members)

    # --- questions -------------------------------------------------------------------------------
    def insert_question(self, doc: dict) -> None:
        self.db.questions.insert_one(doc)
        self.db.items.update_one(
            {"_id": doc["item_id"]},
            {"$push": {"question_ids": doc["_id"]}, "$inc": {"questions_total": 1, "questions_open": 1}},
        )
        self.db.unions.update_one({"_id": doc["union_id"]}, {"$push": {"open_question_ids": doc["_id"]}})

    def get_question(self, question_id: str) -> dict | None:
        return self.db.questions.find_one({"_id": question_id})

    def get_questions(self, question_ids: list[str]) -> list[dict]:
        docs = (self.db.questions.find_one({"_id": q}) for q in question_ids)
        return [d for d in docs if d]

    def answer_question(self, question_id: str, answer: dict) -> dict | None:
        """Open → answered, once (None if it was answered already); the desk and counters follow."""
        doc = self.db.questions.find_one_and_update(
            {"_id": question_id, "status": "open"},
            {"$set": {"status": "answered", **answer}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            self.db.items.update_one({"_id": doc["item_id"]}, {"$inc": {"questions_open": -1}})
            self.db.unions.update_one({"_id": doc["union_id"]}, {"$pull": {"open_question_ids": question_id}})
        return doc

    # --- repair ----------------------------------------------------------------------------------
    def rebuild_union_index(self, union_id: str) -> dict:
        """Recompute a union's item list and open questions from ``items`` and ``questions`` (scans)."""
        items = sorted(
            self.db.items.find({"union_id": union_id}, projection={"published_at": 1}),
            key=lambda d: (d["published_at"], d["_id"]),
        )
        open_q = sorted(
            self.db.questions.find({"union_id": union_id, "status": "open"}, projection={"asked_at": 1}),
            key=lambda d: (d["asked_at"], d["_id"]),
        )
        self.db.unions.update_one(
            {"_id": union_id},
            {
                "$set": {
                    "item_ids": [d["_id"] for d in items],
                    "open_question_ids": [d["_id"] for d in open_q],
                }
            },
        )
        return {"items": len(items), "open_questions": len(open_q)}
