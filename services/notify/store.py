"""Storage of the notify service (database ``notify``). Every hot path is an ``_id`` lookup
(docs/storage.md rule 1); lists are derived ``_id``-addressed documents (rule 2).

Source of truth:

- ``inbox``: one document per inbox message, ``_id`` = ``<event id>:<member>:inbox`` (inserted once:
  exactly once per member per event); ``member_id``, ``union_id``, ``event_id``, ``kind``, ``text`` (the
  id of its rendered text), ``at``, ``read_at`` (null until read).
- ``texts``: the rendered inbox texts, ``_id`` = ``<event id>:<locale>:<variant>``; ``subject``, ``body``,
  ``link``, ``sms``. An inbox text does not depend on the member's name, so members who share a language
  and a context (e.g. their Worker Home's star level) share one rendering: a 100,000-member fan-out
  inserts 100,000 small documents (FerretDB: ~4,000/s with the text in each, ~8,000/s without).
- ``outbox``: one document per push message, ``_id`` = ``<event id>:<member>:<email|sms>``; ``channel``,
  ``member_id``, ``union_id``, ``union_path``, ``kind``, ``locale``, ``subject``, ``body``, ``status``
  (``queued`` → ``sent`` | ``retrying`` → … | ``failed`` | ``skipped``; ``digest`` → ``digested``),
  ``attempts``, ``log`` (``[{at, status, note}]``: the delivery log), ``at``, ``updated_at``.

Derived, rebuildable from ``inbox``:

- ``boxes``: ``_id`` = member id; ``items`` (inbox message ids, oldest first), ``unread`` (ids not yet
  read), ``feed_union``/``feed_seen`` (how far the member's union feed has been folded in).
- ``feeds``: ``_id`` = union id; ``events`` (event ids, oldest first): the large fan-outs (broadcasts)
  that reached members of that union. Inserting 100,000 box updates one by one runs at ~470/s on
  FerretDB (measured), so a large fan-out inserts only the messages (``insert_many``) and appends one
  feed entry per union; each member's box folds the new entries in on their next read (one ``_id``
  probe per new entry: a message exists for them or not).

Other: ``prefs`` (``_id`` = member id: ``channels`` {group: [email, sms]}, ``digest``), ``rate``
(``_id`` = ``<member>:<YYYYMMDDHH>``: immediate push messages this hour), ``digests`` (``_id`` =
``<member>:<YYYY-MM-DD>``: deferred outbox ids for that day's digest), ``fanouts`` (``_id`` = event id:
progress of a fan-out, batch by batch).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.storage import Store

#: Feed entries folded at most on a member's first read (older broadcasts stay in ``inbox``).
FOLD_MAX = 100


def now() -> datetime:
    return datetime.now(UTC)


def insert_new(collection, docs: list[dict]) -> set[str]:
    """Insert ``docs`` (unordered); returns the ids that were new. Existing ``_id``s are skipped: a
    replayed event inserts nothing twice."""
    if not docs:
        return set()
    ids = {d["_id"] for d in docs}
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        return ids - {docs[e["index"]]["_id"] for e in errors}
    return ids


def retry_upsert(fn, *args, **kwargs):
    """Run an upsert, once more if a concurrent upsert inserted the same ``_id`` first (FerretDB's
    upsert is not atomic: the loser gets a duplicate-key error; the retry then updates)."""
    try:
        return fn(*args, **kwargs)
    except DuplicateKeyError:
        return fn(*args, **kwargs)


class NotifyStore(Store):
    indexes = {
        # Production MongoDB uses these for the admin log and digests; FerretDB scans (docs/storage.md).
        "outbox": [IndexModel("union_path"), IndexModel("status")],
        "digests": [IndexModel("status")],
    }

    # --- messages ------------------------------------------------------------------------------
    def insert_inbox(self, docs: list[dict]) -> set[str]:
        return insert_new(self.db.inbox, docs)

    def insert_outbox(self, docs: list[dict]) -> set[str]:
        return insert_new(self.db.outbox, docs)

    def insert_texts(self, docs: list[dict]) -> set[str]:
        return insert_new(self.db.texts, docs)

    def get_inbox(self, message_id: str) -> dict | None:
        return self.db.inbox.find_one({"_id": message_id})

    def get_outbox(self, message_id: str) -> dict | None:
        return self.db.outbox.find_one({"_id": message_id})

    def set_outbox(self, message_id: str, status: str, note: str = "", inc_attempts: bool = False, **extra):
        """Move a push message to ``status`` and append the change to its delivery log."""
        at = now()
        update: dict = {
            "$set": {"status": status, "updated_at": at, **extra},
            "$push": {"log": {"at": at, "status": status, "note": note[:300]}},
        }
        if inc_attempts:
            update["$inc"] = {"attempts": 1}
        return self.db.outbox.find_one_and_update(
            {"_id": message_id}, update, return_document=ReturnDocument.AFTER
        )

    def claim_outbox(self, message_id: str, from_status: tuple[str, ...]) -> dict | None:
        """Take a message for sending (guarded: a duplicate job finds it no longer in ``from_status``)."""
        return self.db.outbox.find_one_and_update(
            {"_id": message_id, "status": {"$in": list(from_status)}},
            {"$set": {"status": "sending", "updated_at": now()}},
            return_document=ReturnDocument.AFTER,
        )

    def outbox_of(self, union_ids: list[str], limit: int = 5000) -> list[dict]:
        """Push messages of members of ``union_ids`` or the unions below them, newest first (a scan: an
        admin report, fine up to ~100k push messages on FerretDB, indexed on MongoDB)."""
        docs = list(
            self.db.outbox.find(
                {"union_path": {"$in": union_ids}},
                projection={"body": 0},
            )
        )
        docs.sort(key=lambda d: d["at"], reverse=True)
        return docs[:limit] if limit else docs

    # --- the inbox view --------------------------------------------------------------------------
    def get_box(self, member_id: str) -> dict:
        return self.db.boxes.find_one({"_id": member_id}) or {
            "_id": member_id,
            "items": [],
            "unread": [],
            "feed_union": None,
            "feed_seen": 0,
            "new": True,
        }

    def push_to_boxes(self, member_ids: dict[str, str]) -> None:
        """Append one message to each member's box (``{member id: message id}``): for small fan-outs.
        Idempotent (a message already in the box is not added again), so a replayed event completes
        what an interrupted run left undone."""
        for member_id, mid in member_ids.items():
            for _ in range(3):
                done = self.db.boxes.update_one(
                    {"_id": member_id, "items": {"$ne": mid}}, {"$push": {"items": mid, "unread": mid}}
                )
                if done.matched_count:
                    break
                try:
                    self.db.boxes.insert_one(
                        {
                            "_id": member_id,
                            "items": [mid],
                            "unread": [mid],
                            "feed_union": None,
                            "feed_seen": 0,
                        }
                    )
                    break
                except DuplicateKeyError:
                    if self.db.boxes.find_one({"_id": member_id, "items": mid}, projection={"_id": 1}):
                        break

    def feed(self, union_id: str) -> list[str]:
        doc = self.db.feeds.find_one({"_id": union_id})
        return (doc or {}).get("events", [])

    def add_to_feed(self, union_id: str, event_id: str) -> None:
        """Announce a broadcast to a union's members (once per event, whatever the redeliveries)."""
        try:
            self.db.feeds.insert_one({"_id": union_id, "events": []})
        except DuplicateKeyError:
            pass
        self.db.feeds.update_one(
            {"_id": union_id, "events": {"$ne": event_id}}, {"$push": {"events": event_id}}
        )

    def fold(self, member_id: str, union_id: str | None) -> dict:
        """The member's box with the broadcasts of their union folded in (one ``_id`` probe per feed
        entry not yet seen). Guarded by ``feed_seen``: two concurrent readers fold once."""
        for _ in range(5):
            box = self.get_box(member_id)
            if not union_id:
                return box
            entries = self.feed(union_id)
            seen = box["feed_seen"] if box.get("feed_union") == union_id else max(0, len(entries) - FOLD_MAX)
            if seen >= len(entries):
                return box
            have = set(box["items"])
            new_items, new_unread = [], []
            for event_id in entries[seen:]:
                mid = f"{event_id}:{member_id}:inbox"
                if mid in have:
                    continue
                msg = self.db.inbox.find_one({"_id": mid}, projection={"read_at": 1})
                if msg is not None:
                    new_items.append(mid)
                    have.add(mid)
                    if msg.get("read_at") is None:
                        new_unread.append(mid)
            changes = {
                "$set": {"feed_union": union_id, "feed_seen": len(entries)},
                "$push": {"items": {"$each": new_items}, "unread": {"$each": new_unread}},
            }
            if box.get("new"):
                try:
                    self.db.boxes.insert_one(
                        {
                            "_id": member_id,
                            "items": new_items,
                            "unread": new_unread,
                            "feed_union": union_id,
                            "feed_seen": len(entries),
                        }
                    )
                    return self.get_box(member_id)
                except DuplicateKeyError:
                    continue
            done = self.db.boxes.find_one_and_update(
                {"_id": member_id, "feed_union": box.get("feed_union"), "feed_seen": box["feed_seen"]},
                changes,
                return_document=ReturnDocument.AFTER,
            )
            if done is not None:
                return done
        return self.get_box(member_id)

    def inbox_messages(self, ids: list[str]) -> list[dict]:
        """Messages by id with their text (``subject``, ``body``, ``link``): one ``_id`` lookup each,
        plus one per distinct text."""
        texts: dict[str, dict] = {}
        out = []
        for m in (self.db.inbox.find_one({"_id": i}) for i in ids):
            if m is None:
                continue
            if m["text"] not in texts:
                texts[m["text"]] = self.db.texts.find_one({"_id": m["text"]}) or {}
            t = texts[m["text"]]
            out.append(
                {**m, "subject": t.get("subject", ""), "body": t.get("body", ""), "link": t.get("link")}
            )
        return out

    def mark_read(self, member_id: str, message_id: str) -> bool:
        """Mark one of the member's messages read; True if it was unread (the guard is the owner)."""
        done = self.db.inbox.update_one(
            {"_id": message_id, "member_id": member_id, "read_at": None}, {"$set": {"read_at": now()}}
        )
        self.db.boxes.update_one({"_id": member_id}, {"$pull": {"unread": message_id}})
        return done.modified_count == 1

    # --- preferences, limits, digests ------------------------------------------------------------
    def get_prefs(self, member_id: str) -> dict | None:
        return self.db.prefs.find_one({"_id": member_id})

    def all_prefs(self) -> dict[str, dict]:
        """Every stored preference (only members who changed the defaults have one): read once per
        fan-out instead of once per member."""
        return {d["_id"]: d for d in self.db.prefs.find({})}

    def put_prefs(self, member_id: str, channels: dict, digest: str) -> dict:
        return retry_upsert(
            self.db.prefs.find_one_and_update,
            {"_id": member_id},
            {"$set": {"channels": channels, "digest": digest, "updated_at": now()}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )

    def count_this_hour(self, member_id: str, bucket: str) -> int:
        """Count one more immediate push message for the member in the hour ``bucket``; returns the count."""
        doc = retry_upsert(
            self.db.rate.find_one_and_update,
            {"_id": f"{member_id}:{bucket}"},
            {"$inc": {"n": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["n"])

    def defer_to_digest(self, member_id: str, day: str, message_id: str, union_id: str, locale: str) -> None:
        retry_upsert(
            self.db.digests.update_one,
            {"_id": f"{member_id}:{day}"},
            {
                "$push": {"items": message_id},
                "$setOnInsert": {
                    "member_id": member_id,
                    "day": day,
                    "union_id": union_id,
                    "locale": locale,
                    "status": "pending",
                },
            },
            upsert=True,
        )

    def pending_digests(self, through_day: str) -> list[dict]:
        """Digests not yet sent for days up to ``through_day`` (a scan of a small collection: only
        members with deferred messages have one)."""
        return [d for d in self.db.digests.find({"status": "pending"}) if d["day"] <= through_day]

    def close_digest(self, digest_id: str) -> dict | None:
        """Claim a digest for sending (pending → sent), exactly once."""
        return self.db.digests.find_one_and_update(
            {"_id": digest_id, "status": "pending"},
            {"$set": {"status": "sent", "sent_at": now()}},
            return_document=ReturnDocument.AFTER,
        )

    # --- fan-out progress ------------------------------------------------------------------------
    def fanout_started(self, event_id: str, kind: str) -> None:
        retry_upsert(
            self.db.fanouts.update_one,
            {"_id": event_id},
            {"$set": {"kind": kind, "started_at": now(), "state": "running"}, "$inc": {"runs": 1}},
            upsert=True,
        )

    def fanout_progress(self, event_id: str, **counts) -> None:
        self.db.fanouts.update_one({"_id": event_id}, {"$set": {**counts, "updated_at": now()}})

    def fanout_done(self, event_id: str, **counts) -> None:
        self.db.fanouts.update_one(
            {"_id": event_id}, {"$set": {**counts, "state": "done", "finished_at": now()}}
        )

    def get_fanout(self, event_id: str) -> dict | None:
        return self.db.fanouts.find_one({"_id": event_id})
