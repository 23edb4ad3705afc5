"""Storage of the cases service (database ``cases``).

- ``cases``: ``_id`` = the case number (11 digits). Fields: ``case_type``, ``category``, ``title``,
  ``description``, ``channel``, ``worker`` {member_id, name, phone}, ``anonymous``, ``employer``
  {union_id, name, key}, ``attachments``, ``state``, ``round``, ``receiving_union_id``,
  ``receiving_path``, ``handling_union_id``, ``handling_union_name``, ``handling_path``, ``union_path``
  (the handling path, else the receiving one: what policy and audit use), ``complexity``, ``rounds``
  [{round, dispatched_at, complexity, limit_days, due {sign_for, contact, reply}, met {sign_for,
  contact, reply}, reply, replied_at, overdue_at, rating, reminded [keys]}], ``supervised``,
  ``supervising_union_id``, ``reminders``, ``history``, ``follow_ups``, ``received_at``, ``closed_at``.
- ``attachments``: ``_id`` = file id (``f`` + 12 hex); ``case_id``, ``filename``, ``content_type``,
  ``size`` (bytes), ``data``, ``uploaded_at``: written before the case that lists them (its
  ``attachments`` = [{id, filename, content_type, size}]) and removed if the case is not created; read
  by ``_id`` only.
- ``sequences``: ``_id`` = ``YYMMDD`` (China day): ``seq``, the last case number of the day.
- ``counters``: ``_id`` = ``<union id>:<YYYY-MM>``: the indicator counters of the union and every union
  below it for a month (``m.<metric>``, ``c.<category>.<metric>``, ``u.<child or itself>.<metric>``,
  ``e.<employer key>`` and ``ec.<employer key>.<category>`` receipts, ``en.<employer key>`` names),
  updated with ``$inc`` right after each case write by the difference of the case's contributions
  (:func:`services.cases.rules.contributions`); read by ``_id`` (one lookup per union and month).
  ``recount`` rebuilds them from ``cases`` (an operator's repair after a crash between the two writes).
- ``watchlist``: ``_id`` = case id of every open case (dispatched … in progress): what the limit timer
  reads; inserted on dispatch, deleted on reply.
- ``tallies``: ``_id`` = ``<employer key>:<category>``: ``recent`` [{at, case_id}] receipts for the
  未诉先办 rule; ``alerts``: ``_id`` = ``<employer key>:<category>:<first case id>``.
- ``query_codes``: ``_id`` = case id: the one live progress-query code (hashed), its expiry and wrong
  attempts; ``query_requests``: ``_id`` = ``<case id>:<phone hash>:<YYYYMMDDHH>``: codes asked per hour.

FerretDB workaround: lists (queue, my cases, alerts) filter ``cases`` / ``alerts`` by fields; FerretDB
1.24 answers those by a scan (no secondary index for reads, docs/storage.md), MongoDB by the indexes
declared here. The dashboard never scans: it reads ``counters`` by ``_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.storage import Store

CASES = "cases"
SEQUENCES = "sequences"
COUNTERS = "counters"
WATCHLIST = "watchlist"
TALLIES = "tallies"
ALERTS = "alerts"


class CasesStore(Store):
    indexes = {
        CASES: [IndexModel("handling_union_id"), IndexModel("union_path"), IndexModel("worker.member_id")],
    }

    # --- attachments -----------------------------------------------------------------------------
    def store_files(self, files: list[dict]) -> None:
        """Store attachment files (each a small document under the 16 MiB limit: at most
        ``MAX_ATTACHMENT_BYTES``) before the case that refers to them commits."""
        for f in files:
            self.create("attachments", f)

    def forget_files(self, attachment_ids: list[str]) -> None:
        """Remove files no case refers to (its creation failed)."""
        for a in attachment_ids:
            self.db.attachments.delete_one({"_id": a})

    def get_attachment(self, attachment_id: str) -> dict | None:
        return self.db.attachments.find_one({"_id": attachment_id})

    # --- cases -----------------------------------------------------------------------------------
    def get(self, case_id: str) -> dict | None:
        return self.db[CASES].find_one({"_id": case_id})

    def next_seq(self, day: str) -> int:
        """The next number of the China day ``day`` (``YYMMDD``): one atomic upsert ``$inc``."""
        doc = self.db[SEQUENCES].find_one_and_update(
            {"_id": day}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return int(doc["seq"])

    def reserve_seq(self, day: str, n: int) -> int:
        """Reserve ``n`` numbers of the day at once (replays): returns the last one."""
        doc = self.db[SEQUENCES].find_one_and_update(
            {"_id": day}, {"$inc": {"seq": n}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return int(doc["seq"])

    def insert_replayed(self, docs: list[dict]) -> None:
        """Insert replayed past cases (``_v`` 0, no events: ``app.replay``) in one ``insert_many``."""
        self.db[CASES].insert_many(docs, ordered=True)

    def find_cases(self, query: Mapping, skip: int = 0, limit: int = 0) -> tuple[list[dict], int]:
        """Cases matching ``query`` (equality on ``handling_union_id``, ``union_path``, ``state``,
        ``category``, ``case_type``, ``supervised``, ``worker.member_id``), newest first, and their count."""
        cur = self.db[CASES].find(dict(query), {"outbox": 0}).sort("received_at", -1)
        total = self.db[CASES].count_documents(dict(query))
        if skip:
            cur = cur.skip(skip)
        if limit:
            cur = cur.limit(limit)
        return list(cur), total

    def waiting_cases(self, union_id: str, states: Sequence[str]) -> list[dict]:
        """The cases at or below ``union_id`` (``union_path``) in one of ``states``: one query, no count
        (the "what needs me" queues; FerretDB answers it with one scan, MongoDB by the index)."""
        return list(
            self.db[CASES].find({"union_path": union_id, "state": {"$in": list(states)}}, {"outbox": 0})
        )

    def all_cases(self):
        return self.db[CASES].find({}, {"outbox": 0})

    # --- watch list ------------------------------------------------------------------------------
    def watch(self, case_id: str) -> None:
        self.db[WATCHLIST].update_one({"_id": case_id}, {"$set": {"_id": case_id}}, upsert=True)

    def unwatch(self, case_id: str) -> None:
        self.db[WATCHLIST].delete_one({"_id": case_id})

    def watched(self) -> list[str]:
        return [d["_id"] for d in self.db[WATCHLIST].find({})]

    # --- counters --------------------------------------------------------------------------------
    def bump(self, incs: Mapping[str, Mapping[str, int]], names: Mapping[str, str] | None = None) -> None:
        """``{counter id: {dotted field: n}}`` applied with one upsert ``$inc`` per counter document."""
        for cid, inc in incs.items():
            if not inc:
                continue
            union_id, month = cid.rsplit(":", 1)
            ops: dict = {"$inc": dict(inc), "$set": {"union_id": union_id, "month": month}}
            if names:
                ops["$set"].update({f"en.{k}": v for k, v in names.items()})
            self.db[COUNTERS].update_one({"_id": cid}, ops, upsert=True)

    def counters(self, ids: list[str]) -> dict[str, dict]:
        """Counter documents by ``_id``, one ``find_one`` each. FerretDB workaround: an ``_id`` ``$in``
        is answered by a scan there (measured: 850 ms for 12 of 240 documents on a loaded machine, 12
        ``find_one`` 140 ms); MongoDB would answer either from the index."""
        found = (self.db[COUNTERS].find_one({"_id": i}) for i in ids)
        return {d["_id"]: d for d in found if d is not None}

    def reset_counters(self) -> None:
        self.db[COUNTERS].delete_many({})

    # --- 未诉先办 ----------------------------------------------------------------------------------
    def note_receipt(self, key: str, at: datetime, case_id: str, since: datetime) -> list[dict]:
        """Add a receipt to the tally ``key`` (dropping those before ``since``); returns the recent ones."""
        self.db[TALLIES].update_one(
            {"_id": key}, {"$push": {"recent": {"at": at, "case_id": case_id}}}, upsert=True
        )
        doc = self.db[TALLIES].find_one({"_id": key}) or {}
        recent = [r for r in doc.get("recent", []) if r["at"] > since]
        if len(recent) != len(doc.get("recent", [])):
            self.db[TALLIES].update_one({"_id": key}, {"$set": {"recent": recent}})
        return recent

    def set_tally(self, key: str, recent: list[dict]) -> None:
        self.db[TALLIES].replace_one({"_id": key}, {"_id": key, "recent": recent}, upsert=True)

    def put_alert(self, alert: dict) -> None:
        """Insert the alert, or refresh its count and cases when it exists."""
        try:
            self.db[ALERTS].insert_one(alert)
        except DuplicateKeyError:
            self.db[ALERTS].update_one(
                {"_id": alert["_id"]},
                {"$set": {k: alert[k] for k in ("count", "case_ids", "last_at")}},
            )

    def alerts_under(self, union_id: str) -> list[dict]:
        return list(self.db[ALERTS].find({"union_path": union_id}))

    def reset_alerts(self) -> None:
        self.db[ALERTS].delete_many({})
        self.db[TALLIES].delete_many({})

    # --- progress query --------------------------------------------------------------------------
    def count_code_request(self, key: str) -> int:
        doc = self.db["query_requests"].find_one_and_update(
            {"_id": key}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return int(doc["n"])

    def put_code(self, case_id: str, doc: dict) -> None:
        self.db["query_codes"].replace_one({"_id": case_id}, {"_id": case_id, **doc}, upsert=True)

    def get_code(self, case_id: str) -> dict | None:
        return self.db["query_codes"].find_one({"_id": case_id})

    def failed_code(self, case_id: str) -> int:
        doc = self.db["query_codes"].find_one_and_update(
            {"_id": case_id}, {"$inc": {"attempts": 1}}, return_document=ReturnDocument.AFTER
        )
        return int((doc or {}).get("attempts", 0))

    def use_code(self, case_id: str, code_hash: str) -> bool:
        """Delete the code if it is still this one: True once (a code is used once)."""
        return self.db["query_codes"].delete_one({"_id": case_id, "code_hash": code_hash}).deleted_count == 1
