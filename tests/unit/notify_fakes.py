"""A hand-written in-memory fake of :class:`services.notify.store.NotifyStore` (same methods) on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``change``/``create`` contract), and fakes of the senders
and the courier, for the use-case tests in tests/unit/test_notify_app.py. No RabbitMQ, no FerretDB."""

from __future__ import annotations

import copy
from datetime import datetime

from dmlib.errors import Conflict, NotFound
from services.notify.delivery import Permanent, Transient
from services.notify.rules import FINAL
from tests.unit.fake_store import FakeStore


class FakeNotifyStore(FakeStore):
    service = "notify"

    def change_or_create(self, collection, doc_id, new, *, expect=None, set=None, inc=None, audit=None):  # noqa: A002
        try:
            return self.change(collection, doc_id, expect=expect, set=set, inc=inc, audit=audit)
        except NotFound:
            return self.create(collection, {"_id": doc_id, **new}, audit=audit)

    def _insert_new(self, collection, docs) -> set[str]:
        new = set()
        for d in docs:
            if d["_id"] not in self.col(collection):
                self.col(collection)[d["_id"]] = copy.deepcopy(d)
                new.add(d["_id"])
        return new

    # --- messages ------------------------------------------------------------------------------
    def insert_outbox(self, docs):
        self.owe([d["_id"] for d in docs if d["status"] not in FINAL])
        return self._insert_new("outbox", [{**d, "_v": 0} for d in docs])

    def insert_inbox(self, docs):
        return self._insert_new("inbox", docs)

    def get_outbox(self, message_id):
        doc = self.col("outbox").get(message_id)
        return copy.deepcopy(doc) if doc else None

    def take(self, msg, at, until):
        try:
            return self.change(
                "outbox",
                msg["_id"],
                expect={"_v": msg.get("_v")},
                set={"status": "sending", "lease_until": until, "updated_at": at},
            )
        except (Conflict, NotFound):
            return None

    def move(self, msg, status, at, note="", *, inc_attempts=False, events=(), **extra):
        try:
            after = self.change(
                "outbox",
                msg["_id"],
                expect={"_v": msg.get("_v")},
                set={
                    "status": status,
                    "updated_at": at,
                    "log": [*msg.get("log", []), {"at": at, "status": status, "note": note[:300]}],
                    **extra,
                },
                inc={"attempts": 1} if inc_attempts else None,
                events=events,
            )
        except (Conflict, NotFound):
            return None
        if status in FINAL:
            self.settle(msg["_id"])
        return after

    def owe(self, message_ids):
        self._insert_new("due", [{"_id": i, "at": datetime(2026, 12, 1)} for i in message_ids])

    def settle(self, message_id):
        self.col("due").pop(message_id, None)

    def owed(self):
        return [copy.deepcopy(d) for d in self.col("due").values()]

    def outbox_of(self, union_ids, limit=5000):
        docs = [
            copy.deepcopy(d) for d in self.col("outbox").values() if set(d["union_path"]) & set(union_ids)
        ]
        docs.sort(key=lambda d: d["at"], reverse=True)
        return docs[:limit] if limit else docs

    # --- the inbox view ----------------------------------------------------------------------------
    def get_box(self, member_id):
        return copy.deepcopy(self.col("boxes").get(member_id)) or {
            "_id": member_id,
            "items": [],
            "unread": [],
            "feed_union": None,
            "feed_seen": 0,
            "new": True,
        }

    def push_to_boxes(self, member_ids):
        for member_id, mid in member_ids.items():
            box = self.col("boxes").setdefault(
                member_id, {"_id": member_id, "items": [], "unread": [], "feed_union": None, "feed_seen": 0}
            )
            if mid not in box["items"]:
                box["items"].append(mid)
                box["unread"].append(mid)

    def fold(self, member_id, union_id):
        return self.get_box(member_id)  # no broadcasts in the fake: named audiences are pushed to boxes

    def inbox_messages(self, ids, locale=None):  # one text per message in the fake: no other locale
        return [copy.deepcopy(self.col("inbox")[i]) for i in ids if i in self.col("inbox")]

    def mark_read(self, member_id, message_id, at):
        try:
            self.change(
                "inbox", message_id, expect={"member_id": member_id, "read_at": None}, set={"read_at": at}
            )
            marked = True
        except (Conflict, NotFound):
            marked = False
        box = self.col("boxes").get(member_id)
        if box and message_id in box["unread"]:
            box["unread"].remove(message_id)
        return marked

    # --- preferences, limits, digests -----------------------------------------------------------
    def get_prefs(self, member_id):
        return copy.deepcopy(self.col("prefs").get(member_id))

    def put_prefs(self, member_id, channels, digest, at, audit=None):
        values = {"channels": channels, "digest": digest, "updated_at": at}
        return self.change_or_create("prefs", member_id, values, set=values, audit=audit)

    def count_this_hour(self, member_id, bucket):
        return int(self.change_or_create("rate", f"{member_id}:{bucket}", {"n": 1}, inc={"n": 1})["n"])

    def defer_to_digest(self, member_id, day, message_id, union_id, locale, at):
        self.change_or_create(
            "digests",
            f"{member_id}:{day}",
            {
                "member_id": member_id,
                "day": day,
                "union_id": union_id,
                "locale": locale,
                "status": "pending",
                "items": {message_id: at},
            },
            expect={"status": "pending"},
            set={f"items.{message_id}": at},
        )

    def pending_digests(self, through_day):
        return [
            copy.deepcopy(d)
            for d in self.col("digests").values()
            if d["status"] == "pending" and d["day"] <= through_day
        ]

    def close_digest(self, digest, at):
        try:
            self.change(
                "digests", digest["_id"], expect={"status": "pending"}, set={"status": "sent", "sent_at": at}
            )
        except (Conflict, NotFound):
            return False
        return True

    def get_fanout(self, event_id):
        return copy.deepcopy(self.col("fanouts").get(event_id))


class FakeSenders:
    """Records what was sent; ``fail`` holds what the next sends raise (Transient/Permanent instances)."""

    def __init__(self, available=("email", "sms")):
        self.available = tuple(available)
        self.sent: list[tuple[str, str, str]] = []
        self.fail: list[Exception] = []

    def _send(self, channel, to, text):
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((channel, to, text))

    def send_email(self, to, subject, body, message_id):
        self._send("email", to, subject)

    def send_sms(self, to, text, message_id):
        self._send("sms", to, text)


class FakeCourier:
    def __init__(self, delays=(10.0, 60.0)):
        self.delays = tuple(delays)
        self.jobs: list[str] = []
        self.retries: list[tuple[str, float]] = []

    def publish_jobs(self, ids):
        self.jobs.extend(ids)
        return len(ids)

    def publish_retry(self, message_id, delay_s):
        self.retries.append((message_id, delay_s))


__all__ = ["FakeNotifyStore", "FakeSenders", "FakeCourier", "Transient", "Permanent"]
