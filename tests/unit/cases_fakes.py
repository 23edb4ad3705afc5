"""A hand-written, in-memory fake of :class:`services.cases.store.CasesStore` (same methods) on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``Store.change`` / ``Store.create`` contract), with
``$inc`` upserts of dotted counter fields into nested dicts, as MongoDB does."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from pymongo.errors import DuplicateKeyError

from dmlib.errors import NotFound
from tests.unit.fake_store import FakeStore


class FakeCasesStore(FakeStore):
    service = "cases"

    # --- cases ------------------------------------------------------------------------------------
    def store_files(self, files: list[dict]) -> None:
        for f in files:
            self.col("attachments")[f["_id"]] = dict(f)

    def forget_files(self, attachment_ids: list[str]) -> None:
        for a in attachment_ids:
            self.col("attachments").pop(a, None)

    def get_attachment(self, attachment_id: str) -> dict | None:
        return self.col("attachments").get(attachment_id)

    def get(self, case_id: str) -> dict | None:
        return copy.deepcopy(self.col("cases").get(case_id))

    def next_seq(self, day: str) -> int:
        doc = self.col("sequences").setdefault(day, {"seq": 0})
        doc["seq"] += 1
        return doc["seq"]

    def reserve_seq(self, day: str, n: int) -> int:
        doc = self.col("sequences").setdefault(day, {"seq": 0})
        doc["seq"] += n
        return doc["seq"]

    def insert_replayed(self, docs: list[dict]) -> None:
        for d in docs:
            if d["_id"] in self.col("cases"):
                raise DuplicateKeyError(f"duplicate _id {d['_id']}")
            self.col("cases")[d["_id"]] = copy.deepcopy(d)

    def waiting_cases(self, union_id: str, states) -> list[dict]:
        return [
            d
            for d in self.col("cases").values()
            if union_id in d.get("union_path", []) and d["state"] in states
        ]

    def find_cases(self, query: Mapping, skip: int = 0, limit: int = 0) -> tuple[list[dict], int]:
        def ok(d):
            for k, v in query.items():
                have = d["worker"].get("member_id") if k == "worker.member_id" else d.get(k)
                if not (have == v or (isinstance(have, list) and v in have)):
                    return False
            return True

        docs = sorted(
            (d for d in self.col("cases").values() if ok(d)), key=lambda d: d["received_at"], reverse=True
        )
        total = len(docs)
        docs = docs[skip:][: limit or None]
        return [copy.deepcopy(d) for d in docs], total

    def all_cases(self):
        return [copy.deepcopy(d) for d in self.col("cases").values()]

    def watch(self, case_id: str) -> None:
        self.col("watchlist")[case_id] = {"_id": case_id}

    def unwatch(self, case_id: str) -> None:
        self.col("watchlist").pop(case_id, None)

    def watched(self) -> list[str]:
        return sorted(self.col("watchlist"))

    def bump(self, incs: Mapping[str, Mapping[str, int]], names: Mapping[str, str] | None = None) -> None:
        for cid, inc in incs.items():
            if not inc:
                continue
            doc = self.col("counters").setdefault(cid, {"_id": cid})
            for dotted, n in inc.items():
                node = doc
                *parents, last = dotted.split(".")
                for p in parents:
                    node = node.setdefault(p, {})
                node[last] = node.get(last, 0) + n
            for k, v in (names or {}).items():
                doc.setdefault("en", {})[k] = v

    def counters(self, ids: list[str]) -> dict[str, dict]:
        return {i: copy.deepcopy(self.col("counters")[i]) for i in ids if i in self.col("counters")}

    def reset_counters(self) -> None:
        self.collections["counters"] = {}

    def note_receipt(self, key, at, case_id, since) -> list[dict]:
        doc = self.col("tallies").setdefault(key, {"recent": []})
        doc["recent"] = [r for r in [*doc["recent"], {"at": at, "case_id": case_id}] if r["at"] > since]
        return copy.deepcopy(doc["recent"])

    def set_tally(self, key: str, recent: list[dict]) -> None:
        self.col("tallies")[key] = {"recent": copy.deepcopy(recent)}

    def put_alert(self, alert: dict) -> None:
        have = self.col("alerts").get(alert["_id"])
        if have is None:
            self.col("alerts")[alert["_id"]] = copy.deepcopy(alert)
        else:
            have.update({k: alert[k] for k in ("count", "case_ids", "last_at")})

    def alerts_under(self, union_id: str) -> list[dict]:
        return [copy.deepcopy(a) for a in self.col("alerts").values() if union_id in a["union_path"]]

    def reset_alerts(self) -> None:
        self.collections["alerts"] = {}
        self.collections["tallies"] = {}

    def count_code_request(self, key: str) -> int:
        doc = self.col("query_requests").setdefault(key, {"n": 0})
        doc["n"] += 1
        return doc["n"]

    def put_code(self, case_id: str, doc: dict) -> None:
        self.col("query_codes")[case_id] = {"_id": case_id, **doc}

    def get_code(self, case_id: str) -> dict | None:
        return copy.deepcopy(self.col("query_codes").get(case_id))

    def failed_code(self, case_id: str) -> int:
        doc = self.col("query_codes").get(case_id)
        if doc is None:
            return 0
        doc["attempts"] = doc.get("attempts", 0) + 1
        return doc["attempts"]

    def use_code(self, case_id: str, code_hash: str) -> bool:
        doc = self.col("query_codes").get(case_id)
        if doc and doc["code_hash"] == code_hash:
            del self.col("query_codes")[case_id]
            return True
        return False


class FakePeers:
    """Unions ``root`` → ``fed`` → ``u1``, ``u2`` (and ``other`` under ``root``), members M1 (u1), M2 (u2)."""

    UNIONS = {
        "root": ["root"],
        "fed": ["root", "fed"],
        "u1": ["root", "fed", "u1"],
        "u2": ["root", "fed", "u2"],
        "other": ["root", "other"],
    }

    def union(self, union_id: str) -> dict:
        if union_id not in self.UNIONS:
            raise NotFound(f"no union {union_id}")
        path = self.UNIONS[union_id]
        return {
            "id": union_id,
            "name": f"{union_id}工会",
            "path": list(path),
            "parent_id": path[-2] if len(path) > 1 else None,
        }

    def member(self, member_id: str) -> dict:
        if member_id not in ("M1", "M2"):
            raise NotFound("no member")
        return {"member_id": member_id, "name": "会员", "union_id": "u1" if member_id == "M1" else "u2"}


class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
