"""Storage of the notify service (database ``notify``). Every hot path is an ``_id`` lookup
(docs/storage.md rule 1); lists are derived ``_id``-addressed documents (rule 2).

Source of truth:

- ``inbox``: one document per inbox message, ``_id`` = ``<event id>:<member>:inbox`` (inserted once:
  exactly once per member per event); ``member_id``, ``union_id``, ``event_id``, ``kind``, ``text`` (the
  id of its rendered text), ``at``, ``read_at`` (null until read).
- ``texts``: the rendered inbox texts, ``_id`` = ``<event id>:<locale>:<variant>``; ``subject``, ``body``,
  ``link``, ``sms``. A fan-out renders each variant in every locale (the variant's hash does not depend
  on the locale), so the inbox can show a message in the reader's page language (:func:`text_in`). An inbox text does not depend on the member's name, so members who share a language
  and a context (e.g. their Worker Home's star level) share one rendering: a 100,000-member fan-out
  inserts 100,000 small documents (FerretDB: ~4,000/s with the text in each, ~8,000/s without).
- ``outbox``: one document per push message, ``_id`` = ``<event id>:<member>:<email|sms>``; ``channel``,
  ``member_id``, ``union_id``, ``union_path``, ``kind``, ``locale``, ``subject``, ``body``, ``status``
  (``queued`` → ``sending`` → ``sent`` | ``retrying`` → ``sending`` … | ``failed`` | ``skipped`` |
  ``digest`` → ``digested``; :mod:`.rules`), ``attempts``, ``log`` (``[{at, status, note}]``: the delivery
  log; ``sending`` is not logged), ``lease_until`` (while ``sending``), ``next_at`` (while ``retrying``),
  ``at``, ``updated_at``, ``_v``. (The collection's name predates dmlib.state; the ``outbox`` *field* of
  a message holds its ``notification_failed`` event until relayed.)
- ``due``: ``_id`` = message id, ``at``: the push messages still owed a delivery (not in a final status).
  A marker is inserted before its message and deleted after the message reached a final status; the
  resume timer reads this small collection whole (FerretDB answers only ``_id`` lookups from an index)
  and re-queues what a crash or an outage left ``queued``, ``sending`` or ``retrying``.

Every change of a message, a digest, a preference, a rate counter or a fan-out's progress is a guarded
write through :meth:`dmlib.storage.Store.change` / ``create`` (docs/architecture.md "Changing state"):
nothing is claimed or locked, a lost race is a typed Conflict. A record that may not exist yet is written
by :meth:`NotifyStore.change_or_create` (change; absent → create; created meanwhile → change): a fixed
sequence, not a retry loop.

Derived, rebuildable from ``inbox``:

- ``boxes``: ``_id`` = member id; ``items`` (inbox message ids, oldest first), ``unread`` (ids not yet
  read), ``feed_union``/``feed_seen`` (how far the member's union feed has been folded in).
- ``feeds``: ``_id`` = union id; ``events`` (event ids, oldest first): the large fan-outs (broadcasts)
  that reached members of that union. Inserting 100,000 box updates one by one runs at ~470/s on
  FerretDB (measured), so a large fan-out inserts only the messages (``insert_many``) and appends one
  feed entry per union; each member's box folds the new entries in on their next read (one ``_id``
  probe per new entry: a message exists for them or not).

The views (``boxes``, ``feeds``) are changed only by commutative single-document operators (``$push``
guarded by ``$ne``, ``$pull``): a lost race or a crash leaves at worst a box not yet folded, which the
member's next read folds.

Other: ``prefs`` (``_id`` = member id: ``channels`` {group: [email, sms]}, ``digest``), ``rate``
(``_id`` = ``<member>:<YYYYMMDDHH>``: immediate push messages this hour), ``digests`` (``_id`` =
``<member>:<YYYY-MM-DD>``: ``items`` {message id: deferred at} for that day's digest, ``status``
``pending`` → ``sent``), ``fanouts`` (``_id`` = event id: progress of a fan-out, batch by batch),
``outbox_pending`` and ``processed_events`` (dmlib).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.audit import Audit
from dmlib.errors import Conflict, NotFound
from dmlib.storage import Store

from .rules import FINAL

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


def text_in(text_id: str, locale: str | None) -> str:
    """The id of the same inbox text in ``locale`` (``<event id>:<locale>:<variant>`` with the locale
    swapped); ``text_id`` itself when no locale is asked."""
    if not locale:
        return text_id
    event_id, _, variant = text_id.rsplit(":", 2)
    return f"{event_id}:{locale}:{variant}"


class NotifyStore(Store):
    indexes = {
        # Production MongoDB uses these for the admin log and digests; FerretDB scans (docs/storage.md).
        "outbox": [IndexModel("union_path"), IndexModel("status")],
        "digests": [IndexModel("status")],
    }

    def change_or_create(
        self,
        collection: str,
        doc_id: str,
        new: Mapping[str, Any],
        *,
        expect: Mapping[str, Any] | None = None,
        set: Mapping[str, Any] | None = None,  # noqa: A002 (the MongoDB operator's name)
        inc: Mapping[str, int] | None = None,
        audit: Audit | None = None,
    ) -> dict:
        """Change a record that may not exist yet: the guarded change; if there is no such ``_id``,
        create ``new``; if someone created it meanwhile (a duplicate key, or a Conflict because it
        appeared between the change and dmlib's look-up of why it missed), the change once more. Raises
        Conflict when ``expect`` does not hold. ``audit``: a person's change; whichever write commits
        carries its entry (one entry, :mod:`dmlib.audit`)."""
        try:
            return self.change(collection, doc_id, expect=expect or {}, set=set, inc=inc, audit=audit)
        except Conflict:
            pass
        except NotFound:
            try:
                return self.create(collection, {"_id": doc_id, **new}, audit=audit)
            except DuplicateKeyError:
                pass
        return self.change(collection, doc_id, expect=expect or {}, set=set, inc=inc, audit=audit)

    # --- messages ------------------------------------------------------------------------------
    def insert_inbox(self, docs: list[dict]) -> set[str]:
        return insert_new(self.db.inbox, docs)

    def insert_outbox(self, docs: list[dict]) -> set[str]:
        """Insert push messages (``_v`` 0), each not yet final with its ``due`` marker written first, so
        a crash after the insert leaves it owed, never forgotten. Returns the ids that were new."""
        self.owe([d["_id"] for d in docs if d["status"] not in FINAL])
        return insert_new(self.db.outbox, [{**d, "_v": 0} for d in docs])

    def insert_texts(self, docs: list[dict]) -> set[str]:
        return insert_new(self.db.texts, docs)

    def get_inbox(self, message_id: str) -> dict | None:
        return self.db.inbox.find_one({"_id": message_id})

    def get_outbox(self, message_id: str) -> dict | None:
        return self.db.outbox.find_one({"_id": message_id})

    def take(self, msg: dict, at: datetime, until: datetime) -> dict | None:
        """Take ``msg`` (as read) for sending until ``until``: ``sending`` if it is unchanged since it was
        read, else None (another worker took or moved it first)."""
        try:
            return self.change(
                "outbox",
                msg["_id"],
                expect={"_v": msg.get("_v")},
                set={"status": "sending", "lease_until": until, "updated_at": at},
            )
        except (Conflict, NotFound):
            return None

    def move(
        self,
        msg: dict,
        status: str,
        at: datetime,
        note: str = "",
        *,
        inc_attempts: bool = False,
        events: Iterable[Mapping[str, Any]] = (),
        **extra: Any,
    ) -> dict | None:
        """Move ``msg`` (as read) to ``status`` with a line in its delivery log and ``events`` in its
        outbox; a final status also settles its ``due`` marker. None if it changed meanwhile (nothing
        written)."""
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

    def owe(self, message_ids: list[str]) -> None:
        """Record that these messages are owed a delivery (their ``due`` markers; existing ones kept)."""
        at = now()
        insert_new(self.db.due, [{"_id": i, "at": at} for i in message_ids])

    def settle(self, message_id: str) -> None:
        """The message reached a final status: no delivery is owed any more."""
        self.db.due.delete_one({"_id": message_id})

    def owed(self) -> list[dict]:
        """Every ``due`` marker (``_id``, ``at``): the push messages not yet in a final status. A scan of a
        small collection (only messages in flight)."""
        return list(self.db.due.find({}))

    def outbox_of(self, union_ids: list[str], limit: int = 5000) -> list[dict]:
        """Push messages of members of ``union_ids`` or the unions below them, newest first (a scan: an
        admin report, fine up to ~100k push messages on FerretDB, indexed on MongoDB)."""
        docs = list(
            self.db.outbox.find(
                {"union_path": {"$in": union_ids}},
                projection={"body": 0, "outbox": 0},
            )
        )
        docs.sort(key=lambda d: d["at"], reverse=True)
        return docs[:limit] if limit else docs

    # --- the inbox view (derived: commutative single-document operators) -------------------------
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
        what an interrupted run left undone. Per member a fixed sequence: append if the box exists;
        else create it; if a reader created it meanwhile, append."""
        for member_id, mid in member_ids.items():
            if self._append(member_id, mid):
                continue
            try:
                self.db.boxes.insert_one(
                    {"_id": member_id, "items": [mid], "unread": [mid], "feed_union": None, "feed_seen": 0}
                )
            except DuplicateKeyError:
                self._append(member_id, mid)

    def _append(self, member_id: str, mid: str) -> bool:
        """Append ``mid`` to an existing box unless it is there; False if there is no box.

        No match means either no box, ``mid`` already in it, or a box created by a concurrent writer
        between this update and the look that follows: so when the box exists the update is made once
        more (a second non-match then means ``mid`` is in it)."""
        guard = {"_id": member_id, "items": {"$ne": mid}}
        push = {"$push": {"items": mid, "unread": mid}}
        if self.db.boxes.update_one(guard, push).matched_count:
            return True
        if self.db.boxes.find_one({"_id": member_id}, {"_id": 1}) is None:
            return False
        self.db.boxes.update_one(guard, push)
        return True

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
        entry not yet seen). Guarded by ``feed_seen``: of two concurrent readers one folds, the other
        gets the box as the winner left it."""
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
            except DuplicateKeyError:  # another reader created it first
                pass
            return self.get_box(member_id)
        done = self.db.boxes.find_one_and_update(
            {"_id": member_id, "feed_union": box.get("feed_union"), "feed_seen": box["feed_seen"]},
            {
                "$set": {"feed_union": union_id, "feed_seen": len(entries)},
                "$push": {"items": {"$each": new_items}, "unread": {"$each": new_unread}},
            },
            return_document=ReturnDocument.AFTER,
        )
        return done if done is not None else self.get_box(member_id)

    def inbox_messages(self, ids: list[str], locale: str | None = None) -> list[dict]:
        """Messages by id with their text (``subject``, ``body``, ``link``) in ``locale`` when there is
        one (:func:`text_in`), else the text they were sent in: one ``_id`` lookup each, plus one or two
        per distinct text."""
        texts: dict[str, dict] = {}
        out = []
        for m in (self.db.inbox.find_one({"_id": i}) for i in ids):
            if m is None:
                continue
            if m["text"] not in texts:
                wanted = text_in(m["text"], locale)
                found = self.db.texts.find_one({"_id": wanted}) if wanted != m["text"] else None
                texts[m["text"]] = found or self.db.texts.find_one({"_id": m["text"]}) or {}
            t = texts[m["text"]]
            out.append(
                {**m, "subject": t.get("subject", ""), "body": t.get("body", ""), "link": t.get("link")}
            )
        return out

    def mark_read(self, member_id: str, message_id: str, at: datetime) -> bool:
        """Mark one of the member's messages read; True if it was unread (guarded: the owner, unread)."""
        try:
            self.change(
                "inbox", message_id, expect={"member_id": member_id, "read_at": None}, set={"read_at": at}
            )
            marked = True
        except (Conflict, NotFound):
            marked = False
        self.db.boxes.update_one({"_id": member_id}, {"$pull": {"unread": message_id}})
        return marked

    # --- preferences, limits, digests ------------------------------------------------------------
    def get_prefs(self, member_id: str) -> dict | None:
        return self.db.prefs.find_one({"_id": member_id})

    def all_prefs(self) -> dict[str, dict]:
        """Every stored preference (only members who changed the defaults have one): read once per
        fan-out instead of once per member."""
        return {d["_id"]: d for d in self.db.prefs.find({})}

    def put_prefs(
        self, member_id: str, channels: dict, digest: str, at: datetime, audit: Audit | None = None
    ) -> dict:
        """Replace a member's preferences (``audit``: the member's own change)."""
        values = {"channels": channels, "digest": digest, "updated_at": at}
        return self.change_or_create("prefs", member_id, values, set=values, audit=audit)

    def count_this_hour(self, member_id: str, bucket: str) -> int:
        """Count one more immediate push message for the member in the hour ``bucket``; returns the count."""
        doc = self.change_or_create("rate", f"{member_id}:{bucket}", {"n": 1}, inc={"n": 1})
        return int(doc["n"])

    def defer_to_digest(
        self, member_id: str, day: str, message_id: str, union_id: str, locale: str, at: datetime
    ) -> None:
        """Put a message into the member's digest of ``day`` (idempotent: keyed by message id). Raises
        Conflict if that digest was sent already."""
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

    def pending_digests(self, through_day: str) -> list[dict]:
        """Digests not yet sent for days up to ``through_day`` (a scan of a small collection: only
        members with deferred messages have one)."""
        return [d for d in self.db.digests.find({"status": "pending"}) if d["day"] <= through_day]

    def close_digest(self, digest: dict, at: datetime) -> bool:
        """The commit point of sending a digest: pending → sent. False if it was closed meanwhile."""
        try:
            self.change(
                "digests", digest["_id"], expect={"status": "pending"}, set={"status": "sent", "sent_at": at}
            )
        except (Conflict, NotFound):
            return False
        return True

    # --- fan-out progress ------------------------------------------------------------------------
    def fanout_started(self, event_id: str, kind: str) -> None:
        at = now()
        self.change_or_create(
            "fanouts",
            event_id,
            {"kind": kind, "started_at": at, "state": "running", "runs": 1},
            set={"kind": kind, "started_at": at, "state": "running"},
            inc={"runs": 1},
        )

    def fanout_progress(self, event_id: str, **counts) -> None:
        self.change("fanouts", event_id, set={**counts, "updated_at": now()})

    def fanout_done(self, event_id: str, **counts) -> None:
        self.change("fanouts", event_id, set={**counts, "state": "done", "finished_at": now()})

    def get_fanout(self, event_id: str) -> dict | None:
        return self.db.fanouts.find_one({"_id": event_id})
