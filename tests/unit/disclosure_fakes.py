"""Hand-written fakes for the disclosure use cases (services/disclosure/app.py): an in-memory store with
the methods of :class:`services.disclosure.store.DisclosureStore`, including the semantics of
``Store.change``/``create`` (guarded, ``_v``, events and the audit event in the document's outbox,
NotFound/Conflict, duplicate ``_id``), a members service and the settings. No RabbitMQ, no FerretDB, no mocks."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from dmlib.errors import Conflict, NotFound
from services.disclosure.store import READER_CHUNK, receipt_id, revision_id


class FakeDisclosureStore:
    def __init__(self):
        self.collections: dict[str, dict[Any, dict]] = {}
        self.published: list[tuple[str, dict]] = []  # what relay() sent, in order
        self.batches: list[str] = []

    def _col(self, name: str) -> dict[Any, dict]:
        return self.collections.setdefault(name, {})

    # --- the one way to change state, as dmlib.state does it ----------------------------------------
    def create(
        self, collection: str, doc: Mapping[str, Any], *, events: Iterable[Mapping[str, Any]] = (), audit=None
    ):
        col = self._col(collection)
        if doc["_id"] in col:
            raise DuplicateKeyError(f"E11000 duplicate key {doc['_id']}")
        full = {**copy.deepcopy(dict(doc)), "_v": 0}
        events = [*events, *([audit.event(None, doc, service="disclosure")] if audit else [])]
        if events:
            full["outbox"] = {e["body"]["event_id"]: copy.deepcopy(dict(e)) for e in events}
            self.batches.append(f"{collection}:{doc['_id']}")
        col[doc["_id"]] = full
        return copy.deepcopy(full)

    def change(
        self,
        collection: str,
        doc_id: Any,
        *,
        expect: Mapping[str, Any] | None = None,
        set: Mapping[str, Any] | None = None,  # noqa: A002
        inc: Mapping[str, int] | None = None,
        events: Iterable[Mapping[str, Any]] = (),
        conflict=None,
        audit=None,
    ) -> dict:
        doc = self._col(collection).get(doc_id)
        if doc is None:
            raise NotFound(f"no {collection} {doc_id}", details={"id": doc_id})
        for k, v in (expect or {}).items():
            if doc.get(k) != v:
                if conflict:
                    raise conflict(copy.deepcopy(doc))
                raise Conflict("changed by someone else meanwhile", details={"id": doc_id})
        events = [
            *events,
            *([audit.event(copy.deepcopy(doc), set, inc, service="disclosure")] if audit else []),
        ]
        doc.update(copy.deepcopy(dict(set or {})))
        for k, n in {"_v": 1, **(inc or {})}.items():
            doc[k] = (doc.get(k) or 0) + n
        if events:
            doc.setdefault("outbox", {}).update(
                {e["body"]["event_id"]: copy.deepcopy(dict(e)) for e in events}
            )
            self.batches.append(f"{collection}:{doc_id}")
        return copy.deepcopy(doc)

    def relay(self, publish=None, *, mine: bool = False) -> int:
        """Publish every outbox entry (to ``publish`` or :attr:`published`) and empty the outboxes."""
        done = 0
        for col in self.collections.values():
            for doc in col.values():
                for entry in doc.pop("outbox", {}).values():
                    (publish or (lambda t, **b: self.published.append((t, b))))(
                        entry["type"], **entry["body"]
                    )
                    done += 1
        self.batches = []
        return done

    def pending_events(self) -> list[tuple[str, dict]]:
        """Committed but not yet relayed: ``(type, body)`` of every outbox entry."""
        return [
            (e["type"], e["body"])
            for col in self.collections.values()
            for d in col.values()
            for e in d.get("outbox", {}).values()
        ]

    # --- items ---------------------------------------------------------------------------------------
    def add_files(self, files: list[dict]) -> None:
        for f in files:
            self.create("attachments", f)

    def forget_files(self, attachment_ids: list[str]) -> None:
        for a in attachment_ids:
            self._col("attachments").pop(a, None)

    def get_attachment(self, attachment_id: str) -> dict | None:
        return copy.deepcopy(self._col("attachments").get(attachment_id))

    def publish_item(self, item: dict, events: Iterable[Mapping[str, Any]] = (), audit=None) -> dict:
        union = self._col("unions").setdefault(item["union_id"], {"_id": item["union_id"], "item_ids": []})
        union.update(name=item["union_name"], path=list(item["union_path"]))
        if item["_id"] not in union["item_ids"]:
            union["item_ids"].append(item["_id"])
        return self.create("items", item, events=events, audit=audit)

    def get_item(self, item_id: str) -> dict | None:
        return copy.deepcopy(self._col("items").get(item_id))

    def get_items(self, item_ids: list[str]) -> list[dict]:
        return [copy.deepcopy(self._col("items")[i]) for i in item_ids if i in self._col("items")]

    def get_union(self, union_id: str) -> dict | None:
        return copy.deepcopy(self._col("unions").get(union_id))

    def keep_revision(self, snapshot: dict) -> None:
        try:
            self.create("revisions", snapshot)
        except DuplicateKeyError:
            pass

    def get_revision(self, item_id: str, revision: int) -> dict | None:
        return copy.deepcopy(self._col("revisions").get(revision_id(item_id, revision)))

    # --- read receipts -------------------------------------------------------------------------------
    def has_read(self, item_id: str, member_id: str) -> bool:
        return receipt_id(item_id, member_id) in self._col("receipts")

    def record_read(self, item_id: str, member_id: str, revision: int, at: datetime) -> bool:
        return self.record_reads(item_id, [{"member_id": member_id, "read_at": at}], revision) == 1

    def record_reads(self, item_id: str, reads: list[dict], revision: int) -> int:
        new = []
        for r in reads:
            try:
                self.create(
                    "receipts",
                    {
                        "_id": receipt_id(item_id, r["member_id"]),
                        "item_id": item_id,
                        "member_id": r["member_id"],
                        "revision": revision,
                        "read_at": r["read_at"],
                    },
                )
                new.append(r["member_id"])
            except DuplicateKeyError:
                pass
        if new:
            item = self.change("items", item_id, expect={}, inc={"read_count": len(new)})
            for pos, m in enumerate(new, start=item["read_count"] - len(new)):
                chunk = self._col("readers").setdefault(
                    f"{item_id}:{pos // READER_CHUNK:06d}", {"members": []}
                )
                chunk["members"].append(m)
        return len(new)

    def readers(self, item_id: str, read_count: int) -> set[str]:
        return {
            m for k, d in self._col("readers").items() if k.startswith(f"{item_id}:") for m in d["members"]
        }

    def recount_reads(self, item_id: str, audit=None) -> int:
        members = [r["member_id"] for r in self._col("receipts").values() if r["item_id"] == item_id]
        for k in [k for k in self._col("readers") if k.startswith(f"{item_id}:")]:
            del self._col("readers")[k]
        for i in range(0, len(members), READER_CHUNK):
            self._col("readers")[f"{item_id}:{i // READER_CHUNK:06d}"] = {
                "members": members[i : i + READER_CHUNK]
            }
        self.change("items", item_id, expect={}, set={"read_count": len(members)}, audit=audit)
        return len(members)

    # --- questions -----------------------------------------------------------------------------------
    def add_question(self, question: dict, events: Iterable[Mapping[str, Any]] = (), audit=None) -> dict:
        item = self._col("items")[question["item_id"]]
        if question["_id"] not in item["question_ids"]:
            item["question_ids"].append(question["_id"])
        union = self._col("unions")[question["union_id"]]
        union.setdefault("open_question_ids", [])
        if question["_id"] not in union["open_question_ids"]:
            union["open_question_ids"].append(question["_id"])
        doc = self.create("questions", question, events=events, audit=audit)
        self.change("items", question["item_id"], expect={}, inc={"questions_total": 1, "questions_open": 1})
        return doc

    def get_question(self, question_id: str) -> dict | None:
        return copy.deepcopy(self._col("questions").get(question_id))

    def get_questions(self, question_ids: list[str]) -> list[dict]:
        return [copy.deepcopy(self._col("questions")[q]) for q in question_ids if q in self._col("questions")]

    def question_answered(self, question: dict) -> None:
        self.change("items", question["item_id"], expect={}, inc={"questions_open": -1})
        union = self._col("unions")[question["union_id"]]
        union["open_question_ids"] = [q for q in union.get("open_question_ids", []) if q != question["_id"]]

    def rebuild_union_index(self, union_id: str) -> dict:
        items = sorted(
            (d for d in self._col("items").values() if d["union_id"] == union_id),
            key=lambda d: (d["published_at"], d["_id"]),
        )
        questions = sorted(
            (q for q in self._col("questions").values() if q["union_id"] == union_id),
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
        union = self._col("unions").setdefault(union_id, {"_id": union_id})
        union.update(item_ids=[d["_id"] for d in items], open_question_ids=open_q)
        return {"items": len(items), "open_questions": len(open_q)}


class FakeMembers:
    """The members service as the use cases see it: unions, rosters and departments in memory."""

    def __init__(self):
        self.unions = {
            "ftu": {"id": "ftu", "name": "总工会", "kind": "federation", "path": ["ftu"], "member_count": 0},
            "u01": {
                "id": "u01",
                "name": "u01工会",
                "kind": "grassroots",
                "path": ["ftu", "u01"],
                "member_count": 4,
            },
            "u02": {
                "id": "u02",
                "name": "u02工会",
                "kind": "grassroots",
                "path": ["ftu", "u02"],
                "member_count": 1,
            },
        }
        self.rosters = {
            "u01": [
                {"member_id": "M1", "name": "甲", "department_id": "d1"},
                {"member_id": "M2", "name": "乙", "department_id": "d1"},
                {"member_id": "M3", "name": "丙", "department_id": "d2"},
                {"member_id": "M4", "name": "丁", "department_id": None},
            ]
        }

    def get_union(self, union_id: str) -> dict:
        if union_id not in self.unions:
            raise NotFound(f"no union {union_id}")
        return dict(self.unions[union_id])

    def unions_under(self, union_id: str) -> list[dict]:
        return [dict(u) for u in self.unions.values() if union_id in u["path"]]

    def roster(self, union_id: str) -> list[dict]:
        return list(self.rosters.get(union_id, []))

    def departments(self, union_id: str) -> list[dict]:
        return [{"id": "d1", "name": "生产部"}, {"id": "d2", "name": "财务部"}]


class FakeSettings:
    def __init__(self, max_attachment_bytes: int = 100):
        self.max_attachment_bytes = max_attachment_bytes

    def asker_hash(self, member_id: str) -> str:
        return f"h-{member_id}"


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, at: datetime = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)
