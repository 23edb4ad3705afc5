"""Hand-written fakes for the disclosure use cases (services/disclosure/app.py): an in-memory store with
the methods of :class:`services.disclosure.store.DisclosureStore` on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``Store.change``/``create`` contract), a members service
and the settings. No RabbitMQ, no FerretDB, no mocks."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from dmlib.errors import NotFound
from services.disclosure.store import READER_CHUNK, receipt_id, revision_id
from tests.unit.fake_store import FakeStore


class FakeDisclosureStore(FakeStore):
    service = "disclosure"

    # --- items ---------------------------------------------------------------------------------------
    def add_files(self, files: list[dict]) -> None:
        for f in files:
            self.create("attachments", f)

    def forget_files(self, attachment_ids: list[str]) -> None:
        for a in attachment_ids:
            self.col("attachments").pop(a, None)

    def get_attachment(self, attachment_id: str) -> dict | None:
        return copy.deepcopy(self.col("attachments").get(attachment_id))

    def publish_item(self, item: dict, events: Iterable[Mapping[str, Any]] = (), audit=None) -> dict:
        union = self.col("unions").setdefault(item["union_id"], {"_id": item["union_id"], "item_ids": []})
        union.update(name=item["union_name"], path=list(item["union_path"]))
        if item["_id"] not in union["item_ids"]:
            union["item_ids"].append(item["_id"])
        return self.create("items", item, events=events, audit=audit)

    def get_item(self, item_id: str) -> dict | None:
        return copy.deepcopy(self.col("items").get(item_id))

    def get_items(self, item_ids: list[str]) -> list[dict]:
        return [copy.deepcopy(self.col("items")[i]) for i in item_ids if i in self.col("items")]

    def get_union(self, union_id: str) -> dict | None:
        return copy.deepcopy(self.col("unions").get(union_id))

    def unions_under(self, union_ids: set[str]) -> list[dict]:
        return [copy.deepcopy(u) for u in self.col("unions").values() if union_ids & set(u.get("path", []))]

    def keep_revision(self, snapshot: dict) -> None:
        try:
            self.create("revisions", snapshot)
        except DuplicateKeyError:
            pass

    def get_revision(self, item_id: str, revision: int) -> dict | None:
        return copy.deepcopy(self.col("revisions").get(revision_id(item_id, revision)))

    # --- read receipts -------------------------------------------------------------------------------
    def has_read(self, item_id: str, member_id: str) -> bool:
        return receipt_id(item_id, member_id) in self.col("receipts")

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
                chunk = self.col("readers").setdefault(
                    f"{item_id}:{pos // READER_CHUNK:06d}", {"members": []}
                )
                chunk["members"].append(m)
        return len(new)

    def readers(self, item_id: str, read_count: int) -> set[str]:
        return {
            m for k, d in self.col("readers").items() if k.startswith(f"{item_id}:") for m in d["members"]
        }

    def recount_reads(self, item_id: str, audit=None) -> int:
        members = [r["member_id"] for r in self.col("receipts").values() if r["item_id"] == item_id]
        for k in [k for k in self.col("readers") if k.startswith(f"{item_id}:")]:
            del self.col("readers")[k]
        for i in range(0, len(members), READER_CHUNK):
            self.col("readers")[f"{item_id}:{i // READER_CHUNK:06d}"] = {
                "members": members[i : i + READER_CHUNK]
            }
        self.change("items", item_id, expect={}, set={"read_count": len(members)}, audit=audit)
        return len(members)

    # --- questions -----------------------------------------------------------------------------------
    def add_question(self, question: dict, events: Iterable[Mapping[str, Any]] = (), audit=None) -> dict:
        item = self.col("items")[question["item_id"]]
        if question["_id"] not in item["question_ids"]:
            item["question_ids"].append(question["_id"])
        union = self.col("unions")[question["union_id"]]
        union.setdefault("open_question_ids", [])
        if question["_id"] not in union["open_question_ids"]:
            union["open_question_ids"].append(question["_id"])
        doc = self.create("questions", question, events=events, audit=audit)
        self.change("items", question["item_id"], expect={}, inc={"questions_total": 1, "questions_open": 1})
        return doc

    def get_question(self, question_id: str) -> dict | None:
        return copy.deepcopy(self.col("questions").get(question_id))

    def get_questions(self, question_ids: list[str]) -> list[dict]:
        return [copy.deepcopy(self.col("questions")[q]) for q in question_ids if q in self.col("questions")]

    def question_answered(self, question: dict) -> None:
        self.change("items", question["item_id"], expect={}, inc={"questions_open": -1})
        union = self.col("unions")[question["union_id"]]
        union["open_question_ids"] = [q for q in union.get("open_question_ids", []) if q != question["_id"]]

    def rebuild_union_index(self, union_id: str) -> dict:
        items = sorted(
            (d for d in self.col("items").values() if d["union_id"] == union_id),
            key=lambda d: (d["published_at"], d["_id"]),
        )
        questions = sorted(
            (q for q in self.col("questions").values() if q["union_id"] == union_id),
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
        union = self.col("unions").setdefault(union_id, {"_id": union_id})
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
