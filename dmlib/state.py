"""One way to change state (DESIGN.md §5): a guarded, versioned single-document write that also records
the events it causes (a transactional outbox), and the relay that publishes those events.

Every document written through here carries ``_v`` (its version, 0 when created, +1 on every change) and
``outbox`` (``{event_id: {"type", "body", "batch", "at", "seq"}}``: events committed but not yet acknowledged
by RabbitMQ). A change is ONE ``find_one_and_update``::

    filter  {"_id": id, **expect}          # expect: {"_v": v} as read, or the expected state itself
    update  {"$set": {**changes, "outbox.<event_id>": entry, …}, "$inc": {"_v": 1, **counters}}

so the change and its events commit together or not at all; nothing is claimed or locked, and a crash
at any point leaves either the old document or the new one with its events. No document matched:
:class:`~dmlib.errors.NotFound` if the id does not exist, else :class:`~dmlib.errors.Conflict` (someone
changed it first; nothing was written). Documents stored before ``_v`` existed match ``{"_v": None}``.

Finding pending events must be cheap on FerretDB, which answers only ``_id`` lookups from an index (a
filter such as ``{"outbox": {"$ne": {}}}`` would decode every document). So a write with events is a
documented sequence of two writes, the second being the commit point:

1. insert a marker into ``outbox_pending`` (``_id`` = a fresh batch id, ``collection``, ``doc_id``,
   ``at``): a small collection holding only work in flight, read whole by the relay;
2. the guarded update (or the insert, for a new document), whose outbox entries name that batch.

If step 2 does not apply (Conflict, NotFound, duplicate key) the writer deletes its marker; if the
process dies between the steps the marker names a batch that never committed and the relay drops it once
it is older than :data:`STALE_MARKER`. The relay (a nameko ``timer`` every second, plus an immediate
attempt right after the commit) reads each marker, then its document by ``_id``, publishes every entry
of the outbox in the order of the writes (``at``, ``seq``) through the service's ``Events`` (publisher confirms:
``publish`` returns only once RabbitMQ acknowledged), ``$unset``s each entry after its acknowledgement,
and deletes the markers of the batches it emptied. A failure (broker or database) stops the pass and
leaves the rest pending for the next one. So an event is published at least once and never lost; it may
be published twice (two relays, or a crash between the acknowledgement and the ``$unset``), which is why
consumers de-duplicate by ``event_id``.

A create that a client may retry (its answer lost to a timeout) is made once per idempotency key
(:func:`begin_request`, :meth:`dmlib.storage.Store.once`): the key the client sent (``Idempotency-Key``
at the API, a hidden form field on pages) and the actor give the ``_id`` of a small record in
``client_requests`` (:func:`request_key`), written before the create and naming the document it creates
(bound at that document's insert, before it). A repeat finds the record and returns the document made
first. A record without its document belongs to a request still running (a repeat within
:data:`REQUEST_LEASE` is a Conflict, 409, "try again shortly") or one that died before its create (after
the lease a repeat takes the record over, guarded by the time it read); a request refused before its
create deletes its record, so the key can be used again at once.

It relies on single-document atomicity of ``find_one_and_update``/``update_one`` (MongoDB; FerretDB
with ``02-serialise-writes.patch``) and on ``_id`` + other keys in a filter using the ``_id`` index
(MongoDB; FerretDB with ``03-sqlite-id-pushdown.patch``): docs/storage.md.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from nameko.timer import timer
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from dmlib.errors import Conflict, NotFound, ServiceError
from dmlib.events import envelope

log = logging.getLogger(__name__)

OUTBOX = "outbox"
PENDING = "outbox_pending"
#: A marker whose batch is not in its document after this long belongs to a write that never committed
#: (the client gives up on a write after 60 s, ``dmlib.storage.make_client``); the relay drops it.
STALE_MARKER = timedelta(hours=1)
#: How many markers one relay pass reads (the rest wait for the next pass, a second later).
RELAY_BATCH = 100
#: The records of keyed creates (:func:`begin_request`).
REQUESTS = "client_requests"
#: How long a keyed create's record without its document holds off a repeat (Conflict): longer than one
#: create takes (each database call gives up after 60 s), after which the record is taken over.
REQUEST_LEASE = timedelta(minutes=2)


def now() -> datetime:
    return datetime.now(UTC)


def event(event_type: str, **payload: Any) -> dict[str, Any]:
    """An event to commit with a change: ``{"type", "body"}``, the body being the envelope of
    ``dmlib.events`` (``event_id``, ``occurred_at`` fixed now, at the commit)."""
    return {"type": event_type, "body": envelope(**payload)}


def _entries(events: Iterable[Mapping[str, Any]], batch: str) -> dict[str, dict[str, Any]]:
    """Outbox entries keyed ``outbox.<event_id>``; ``at`` (ns since the epoch, of this write) and ``seq``
    (position in the write) give the order the relay publishes them in."""
    at = time.time_ns()
    return {
        f"{OUTBOX}.{e['body']['event_id']}": {
            "type": e["type"],
            "body": e["body"],
            "batch": batch,
            "at": at,
            "seq": i,
        }
        for i, e in enumerate(events)
    }


def _mark(db, collection: str, doc_id: Any, events: list) -> str | None:
    """Step 1 of a write with events: the marker of a new batch (None when there are no events)."""
    if not events:
        return None
    batch = uuid.uuid4().hex
    db[PENDING].insert_one({"_id": batch, "collection": collection, "doc_id": doc_id, "at": now()})
    return batch


def default_conflict(collection: str, doc_id: Any, expect: Mapping[str, Any]):
    """The Conflict raised when ``expect`` no longer holds: details give the current expected fields."""

    def make(current: dict) -> ServiceError:
        return Conflict(
            "changed by someone else meanwhile, reload and try again / 已被他人修改，请刷新后重试",
            details={"id": doc_id, **{k: current.get(k) for k in expect}},
            reason="stale",
        )

    return make


def update(
    db,
    collection: str,
    doc_id: Any,
    *,
    expect: Mapping[str, Any] | None = None,
    set: Mapping[str, Any] | None = None,  # noqa: A002 (the MongoDB operator's name)
    inc: Mapping[str, int] | None = None,
    events: Iterable[Mapping[str, Any]] = (),
    conflict: Callable[[dict], ServiceError] | None = None,
    audit: Callable[[dict], Mapping[str, Any]] | None = None,
) -> tuple[dict, str | None]:
    """Apply ``set``/``inc`` to document ``doc_id`` if it still matches ``expect``, with ``events`` in its
    outbox, in one write. Returns (the document after, the batch id or None without events).

    ``expect``: ``{"_v": doc.get("_v")}`` for "unchanged since I read it", or state fields
    (``{"state": "planned", "open_item": None}``; operators such as ``$ne`` allowed); ``{}`` for an
    unconditional change (an atomic counter). Raises NotFound (no such ``_id``) or what ``conflict(current
    document)`` returns (default :func:`default_conflict`); nothing is written then.

    ``audit(before)``: the audit event of this change (:mod:`dmlib.audit`), made from the document as
    read by ``_id`` just before the write; the write is then also guarded by that document's ``_v`` (so
    the "before" it records is exactly what the write replaced) and carries the event in its outbox."""
    expect = dict(expect or {})
    events = list(events)
    if audit is not None:
        before = db[collection].find_one({"_id": doc_id})
        if before is not None:  # else the write below finds nothing: NotFound
            expect.setdefault("_v", before.get("_v"))
            events.append(audit(before))
    batch = _mark(db, collection, doc_id, events)
    changes: dict[str, Any] = {**(set or {}), **_entries(events, batch or "")}
    ops: dict[str, Any] = {"$inc": {"_v": 1, **(inc or {})}}
    if changes:
        ops["$set"] = changes
    after = db[collection].find_one_and_update(
        {"_id": doc_id, **expect}, ops, return_document=ReturnDocument.AFTER
    )
    if after is not None:
        return after, batch
    if batch:
        db[PENDING].delete_one({"_id": batch})
    current = db[collection].find_one({"_id": doc_id})
    if current is None:
        raise NotFound(f"no {collection} {doc_id} / 对象不存在", details={"id": doc_id})
    raise (conflict or default_conflict(collection, doc_id, expect))(current)


def insert(
    db,
    collection: str,
    doc: Mapping[str, Any],
    *,
    events: Iterable[Mapping[str, Any]] = (),
    audit: Mapping[str, Any] | None = None,
):
    """Insert a new document (``_v`` 0) with ``events`` (and the ``audit`` event, :mod:`dmlib.audit`) in
    its outbox, in one write. Returns (the document, the batch id or None). A duplicate ``_id`` raises
    pymongo's ``DuplicateKeyError`` (the caller says what the clash means) and leaves nothing behind."""
    events = [*events, *([audit] if audit is not None else [])]
    batch = _mark(db, collection, doc["_id"], events)
    full = {**doc, "_v": 0}
    if events:
        full[OUTBOX] = {k.split(".", 1)[1]: v for k, v in _entries(events, batch or "").items()}
    try:
        db[collection].insert_one(full)
    except DuplicateKeyError:
        if batch:
            db[PENDING].delete_one({"_id": batch})
        raise
    return full, batch


def relay(
    db,
    publish: Callable[..., Any],
    *,
    batches: Iterable[str] | None = None,
    limit: int = RELAY_BATCH,
) -> int:
    """Publish pending outbox events; returns how many were published (and removed).

    ``publish(event_type, **body)`` must return only once the broker acknowledged (``Events.publish``:
    nameko's publisher confirms) and raise otherwise. ``batches``: only the documents of these batches
    (the immediate attempt after a commit); None: every marker (the timer, ``limit`` at a time). Never
    raises: a broker or database failure is logged and ends the pass, the rest stays pending."""
    done = 0
    try:
        if batches is None:
            markers = list(db[PENDING].find({}).limit(limit))
        else:
            markers = [m for b in batches if (m := db[PENDING].find_one({"_id": b})) is not None]
        seen: set[tuple[str, Any]] = set()
        for marker in markers:
            key = (marker["collection"], marker["doc_id"])
            if key not in seen:
                seen.add(key)
                done += _relay_document(db, publish, *key)
            if now() - _aware(marker["at"]) > STALE_MARKER:
                _drop_if_uncommitted(db, marker)
    except Exception as exc:  # the broker or the database went away: the next pass resumes
        log.warning("outbox relay stopped after %d event(s), the rest stays pending: %s", done, exc)
    return done


def _relay_document(db, publish, collection: str, doc_id: Any) -> int:
    """Publish the whole outbox of one document, oldest first; delete the markers of emptied batches."""
    doc = db[collection].find_one({"_id": doc_id}, {OUTBOX: 1})
    entries = sorted((doc or {}).get(OUTBOX, {}).items(), key=lambda kv: (kv[1]["at"], kv[1]["seq"]))
    for event_id, entry in entries:
        publish(entry["type"], **entry["body"])
        db[collection].update_one({"_id": doc_id}, {"$unset": {f"{OUTBOX}.{event_id}": ""}})
    for batch in {entry["batch"] for _, entry in entries}:
        db[PENDING].delete_one({"_id": batch})
    return len(entries)


def _drop_if_uncommitted(db, marker: dict) -> None:
    """A stale marker whose batch is not in its document (never committed, or relayed by a process that
    died before deleting the marker): delete it."""
    doc = db[marker["collection"]].find_one({"_id": marker["doc_id"]}, {OUTBOX: 1})
    if not any(e.get("batch") == marker["_id"] for e in (doc or {}).get(OUTBOX, {}).values()):
        db[PENDING].delete_one({"_id": marker["_id"]})


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class OutboxRelay:
    """Mixin for a service with ``store`` (a :class:`dmlib.storage.Store`) and ``events``
    (:class:`dmlib.events.Events`): a timer that relays pending outbox events every
    second, and :meth:`relay_mine`, the immediate attempt after a commit."""

    @timer(interval=1.0)
    def relay_outbox(self) -> None:
        """Publish every pending outbox event (what an immediate attempt, a crash or an outage left)."""
        self.store.relay(self.events.publish)

    def relay_mine(self) -> None:
        """Publish the events this worker just committed; what fails is left to the timer."""
        self.store.relay(self.events.publish, mine=True)


# ----- keyed creates (idempotency keys) ------------------------------------------------------------
def request_key(actor_id: str, client_key: str | None) -> str | None:
    """The ``_id`` of the record of a keyed create: a hash of the actor and the key the client sent (so
    two people's keys never meet and the record tells neither); None without a key."""
    if not client_key:
        return None
    return "rq" + hashlib.sha256(f"{actor_id}\x1f{client_key}".encode()).hexdigest()[:40]


def in_progress() -> Conflict:
    return Conflict(
        "the same request is still being handled, try again shortly / 相同的请求正在处理，请稍后重试",
        details={"client_key": "in progress"},
        reason="still_handling",
    )


def begin_request(db, key: str, *, at: datetime | None = None) -> dict | None:
    """Start the keyed create ``key`` (:func:`request_key`). Returns None (go ahead: the record is
    written) or the document the first request with this key created. Raises Conflict when that first
    request is still running (its record is younger than :data:`REQUEST_LEASE` and names no document
    that exists yet)."""
    at = at or now()
    try:
        db[REQUESTS].insert_one({"_id": key, "at": at, "collection": None, "doc_id": None})
        return None
    except DuplicateKeyError:
        pass
    seen = db[REQUESTS].find_one({"_id": key})
    if seen is None:  # dropped meanwhile by a refused first request: go again
        return begin_request(db, key, at=at)
    if seen.get("doc_id") is not None:
        first = db[seen["collection"]].find_one({"_id": seen["doc_id"]})
        if first is not None:
            return first
    if at - _aware(seen["at"]) <= REQUEST_LEASE:
        raise in_progress()
    taken = db[REQUESTS].update_one(
        {"_id": key, "at": seen["at"]}, {"$set": {"at": at, "collection": None, "doc_id": None}}
    )
    if taken.modified_count != 1:
        raise in_progress()
    return None


def bind_request(db, key: str, collection: str, doc_id: Any) -> None:
    """Name the document the keyed create ``key`` is about to insert (called just before the insert)."""
    db[REQUESTS].update_one({"_id": key}, {"$set": {"collection": collection, "doc_id": doc_id}})


def unbind_request(db, key: str) -> None:
    """The insert named by :func:`bind_request` met a duplicate ``_id`` (another request's document): the
    record names nothing again, so a repeat never returns that other document."""
    db[REQUESTS].update_one({"_id": key}, {"$set": {"collection": None, "doc_id": None}})


def drop_request(db, key: str) -> None:
    """Forget the record of a keyed create refused before its document was inserted (the key may be used
    again at once); a record whose document exists is kept."""
    seen = db[REQUESTS].find_one({"_id": key})
    if seen is None:
        return
    if seen.get("doc_id") is not None and db[seen["collection"]].find_one(
        {"_id": seen["doc_id"]}, {"_id": 1}
    ):
        return
    db[REQUESTS].delete_one({"_id": key, "at": seen["at"]})
