"""Use cases of the notify service: functions of (store, actor, clock, input[, collaborators]) that ask
the policy (:mod:`.policy`), apply the rules (:mod:`.rules`) and change state the one way (guarded writes
with their events in the outbox, :mod:`.store`). No nameko: :mod:`.service` loads the input, calls one of
these and dumps the output; the unit tests call them over a fake store (tests/unit/notify_fakes.py).

Delivery of a push message is resumable at every step (docs/architecture.md "Changing state"):

1. the fan-out writes the message's ``due`` marker, then the message (``queued``), then publishes a job;
2. :func:`deliver` takes the message (``sending`` with a lease, guarded by ``_v``: a duplicate job does
   nothing), sends it, and moves it (guarded) to ``sent`` / ``retrying`` (+ a delay-queue job) /
   ``failed`` (with ``notification_failed`` in its outbox, the same write) / ``skipped`` / ``digest``;
   a final status settles the marker;
3. :func:`resume_deliveries` (a timer) re-queues every owed message whose job a crash or an outage lost:
   ``queued`` untouched for 10 minutes, ``sending`` past its lease, ``retrying`` a minute past its time.

So a crash or an outage at any point delays a message and never loses or locks it; it may send a
message twice (a crash after the send, before the write that records it), which is why the e-mail
carries ``X-DM-Message`` and the SMS request ``message_id`` (the provider's de-duplication key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dmlib.audit import Audit
from dmlib.auth import Actor
from dmlib.errors import BadInput, Conflict, NotFound, ServiceError
from dmlib.schemas import iso, page_out
from dmlib.state import STALE_MARKER, event

from . import policy
from .delivery import Permanent, Transient
from .rules import (
    FINAL,
    LEASE,
    Prefs,
    aware,
    digest_day,
    hour_bucket,
    next_delay,
    stuck,
    takeable,
    within_limit,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Delivery:
    """What delivering needs besides the store: the senders (``available``, ``send_email``,
    ``send_sms``), the courier (``delays``, ``publish_jobs``, ``publish_retry``), ``member_of(member
    id)`` (the registry's record, as the system: raises NotFound or another ServiceError), the
    ``hourly_limit`` (0 = none), ``render(kind, locale, context, blocks)`` and the ``base_url``."""

    senders: Any
    courier: Any
    member_of: Callable[[str], dict]
    hourly_limit: int
    render: Callable[..., dict]
    base_url: str


# ===== delivery ===================================================================================
def deliver(store, clock: Clock, d: Delivery, message_id: str) -> str:
    """Send one push message (a job from the work or a delay queue). Returns what happened: ``done``
    (already final or gone), ``busy`` (another worker holds it, or its retry time has not come),
    ``sent``, ``retrying``, ``failed``, ``skipped``, ``digest``.

    Before the first try the member's immediate messages this hour are counted: above the hourly limit
    the message goes into the daily digest instead (a crash after the count counts it again: the limit
    errs towards fewer pushes). The address is read from members at send time."""
    at = clock()
    msg = store.get_outbox(message_id)
    if msg is None or msg["status"] in FINAL:
        if msg is not None:
            store.settle(message_id)
        return "done"
    if not takeable(msg, at):
        return "busy"
    taken = store.take(msg, at, at + LEASE)
    if taken is None:
        return "busy"
    if taken["attempts"] == 0 and taken["kind"] != "digest" and d.hourly_limit > 0:
        if not within_limit(store.count_this_hour(taken["member_id"], hour_bucket(at)), d.hourly_limit):
            defer(store, taken, at)
            store.move(taken, "digest", at, f"over the hourly limit of {d.hourly_limit}")
            return "digest"
    try:
        member = d.member_of(taken["member_id"])
    except NotFound:
        store.move(taken, "skipped", clock(), "member no longer registered")
        return "skipped"
    except ServiceError as exc:
        return _retry(store, clock, d, taken, f"members unavailable: {exc}")
    address = member.get("email") if taken["channel"] == "email" else member.get("phone")
    if not address:
        what = "e-mail address" if taken["channel"] == "email" else "mobile number"
        store.move(taken, "skipped", clock(), f"no {what} on record")
        return "skipped"
    try:
        if taken["channel"] == "email":
            d.senders.send_email(address, taken["subject"], taken["body"], message_id)
        else:
            d.senders.send_sms(address, taken["body"], message_id)
    except Permanent as exc:
        return _fail(store, clock, taken, str(exc))
    except Transient as exc:
        return _retry(store, clock, d, taken, str(exc))
    done = clock()
    if (
        store.move(taken, "sent", done, f"try {taken['attempts'] + 1}", inc_attempts=True, sent_at=done)
        is None
    ):
        log.warning("notification %s sent, but it changed meanwhile (its lease ran out)", message_id)
    return "sent"


def _retry(store, clock: Clock, d: Delivery, msg: dict, reason: str) -> str:
    attempts = msg["attempts"] + 1
    delay = next_delay(d.courier.delays, attempts)
    if delay is None:
        return _fail(store, clock, msg, f"gave up after {attempts} tries: {reason}")
    at = clock()
    note = f"try {attempts} failed ({reason}); next in {delay:g} s"
    moved = store.move(msg, "retrying", at, note, inc_attempts=True, next_at=at + timedelta(seconds=delay))
    if moved is not None:
        try:
            d.courier.publish_retry(msg["_id"], delay)
        except Exception as exc:  # the broker went away: resume_deliveries re-queues it
            log.warning("retry of %s not queued (%s); the resume timer will", msg["_id"], exc)
    return "retrying"


def _fail(store, clock: Clock, msg: dict, reason: str) -> str:
    """``failed`` and ``notification_failed`` (docs/events.md) in one write."""
    failed = event(
        "notification_failed",
        message_id=msg["_id"],
        member_id=msg["member_id"],
        union_id=msg["union_id"],
        channel=msg["channel"],
        kind=msg["kind"],
        attempts=msg["attempts"] + 1,
        reason=reason[:300],
    )
    if store.move(msg, "failed", clock(), reason, inc_attempts=True, events=[failed]) is not None:
        log.warning("notification %s failed for good: %s", msg["_id"], reason)
    return "failed"


def defer(store, msg: dict, at: datetime) -> None:
    """Put a push message into its member's digest of today (China time); if today's digest was sent
    already (a fan-out running across midnight), into tomorrow's."""
    args = (msg["member_id"], msg["union_id"], msg.get("locale") or "zh-CN")
    try:
        store.defer_to_digest(args[0], digest_day(at), msg["_id"], args[1], args[2], at)
    except Conflict:
        store.defer_to_digest(args[0], digest_day(at + timedelta(days=1)), msg["_id"], args[1], args[2], at)


def resume_deliveries(store, clock: Clock, courier) -> int:
    """Re-queue the push messages a crash or an outage left without a job (:func:`rules.stuck`): each
    goes back to ``queued`` (guarded, logged) and gets a new job. Settles the markers of messages that
    are final, and drops those of messages never inserted (older than dmlib's stale-marker age).
    Returns how many were re-queued."""
    at = clock()
    jobs = []
    for marker in store.owed():
        msg = store.get_outbox(marker["_id"])
        if msg is None:
            if aware(marker.get("at")) + STALE_MARKER <= at:
                store.settle(marker["_id"])
            continue
        if msg["status"] in FINAL:
            store.settle(msg["_id"])
        elif stuck(msg, at) and store.move(msg, "queued", at, f"resumed: its job was lost ({msg['status']})"):
            jobs.append(msg["_id"])
    if jobs:
        courier.publish_jobs(jobs)
        log.warning("re-queued %d push message(s) whose delivery job was lost", len(jobs))
    return len(jobs)


# ===== digests ====================================================================================
def run_digests(store, actor: Actor, clock: Clock, d: Delivery, through_day: str | None) -> dict:
    """Send the pending digests of days up to ``through_day`` (``YYYY-MM-DD``, China time; default
    yesterday) now. System only. Out: ``{"sent"}``. BadInput for another date format."""
    policy.require_system(actor)
    day = through_day or digest_day(clock() - timedelta(days=1))
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except (TypeError, ValueError):
        raise BadInput(
            "through_day: YYYY-MM-DD / 日期格式有误", fields={"through_day": ["YYYY-MM-DD"]}
        ) from None
    return {"sent": send_digests(store, clock, d, day)}


def digest_items(digest: dict) -> list[str]:
    """A digest's message ids, oldest first (``items`` is {id: deferred at}; a list in older records)."""
    items = digest.get("items") or {}
    if isinstance(items, list):
        return list(items)
    return [i for i, _ in sorted(items.items(), key=lambda kv: aware(kv[1]))]


def send_digests(store, clock: Clock, d: Delivery, through_day: str) -> int:
    """Send each pending digest of a day up to ``through_day``: queue its e-mail (``_id``
    ``digest-<day>:<member>:email``, inserted once), move its messages to ``digested``, and close it
    (the commit point). A crash before the close leaves it pending; the next run completes it and
    inserts nothing twice. Returns how many digest e-mails were queued."""
    sent = 0
    for digest in store.pending_digests(through_day):
        at = clock()
        items = [m for m in map(store.get_outbox, digest_items(digest)) if m and m["status"] == "digest"]
        day, member_id = digest["day"], digest["member_id"]
        if items and "email" in d.senders.available:
            doc = _digest_email(d, digest, items, at)
            if store.insert_outbox([doc]):
                d.courier.publish_jobs([doc["_id"]])
                sent += 1
        for m in items:
            store.move(m, "digested", at, f"in the digest of {day}")
        store.close_digest(digest, at)
        log.debug("digest %s of %s closed with %d message(s)", day, member_id, len(items))
    if sent:
        log.info("digests through %s: %d queued", through_day, sent)
    return sent


def _digest_email(d: Delivery, digest: dict, items: list[dict], at: datetime) -> dict:
    day, member_id, locale = digest["day"], digest["member_id"], digest.get("locale") or "zh-CN"
    text = d.render(
        "digest",
        locale,
        {
            "name": items[0].get("name") or member_id,
            "day": day,
            "base_url": d.base_url,
            "items": [
                {"subject": m["subject"], "url": d.base_url + (m.get("link") or "/inbox")} for m in items
            ],
        },
        ("subject", "email"),
    )
    return {
        "_id": f"digest-{day}:{member_id}:email",
        "member_id": member_id,
        "name": items[0].get("name") or "",
        "union_id": digest["union_id"],
        "union_path": items[0].get("union_path") or [digest["union_id"]],
        "event_id": f"digest-{day}",
        "kind": "digest",
        "channel": "email",
        "locale": locale,
        "subject": text["subject"],
        "body": text["email"],
        "link": "/inbox",
        "status": "queued",
        "attempts": 0,
        "log": [{"at": at, "status": "queued", "note": f"digest of {len(items)}"}],
        "at": at,
        "updated_at": at,
    }


# ===== the inbox ==================================================================================
def inbox(store, actor: Actor, query: dict) -> dict:
    """A page of the caller's own inbox, newest first. ``query``: loaded ``InboxIn`` (``page``,
    ``per_page``, ``unread``, ``locale``: the page's language, each message's text in it when the
    fan-out rendered one, else the text it was sent in). Out: ``{items (message dicts with read), total, page, per_page, pages,
    unread}``. Cost: two ``_id`` lookups plus one per message shown (and one per new broadcast)."""
    policy.require_member(actor)
    box = store.fold(actor.member_id, actor.union_id)
    ids = list(reversed(box["unread"] if query["unread"] else box["items"]))
    unread = set(box["unread"])
    page, per = query["page"], query["per_page"]
    # Box order is arrival in the box (broadcasts arrive when folded in); within a page, newest first.
    shown = sorted(
        store.inbox_messages(ids[(page - 1) * per : page * per], query.get("locale")),
        key=lambda m: m["at"],
        reverse=True,
    )
    items = [
        {
            "id": m["_id"],
            "kind": m["kind"],
            "subject": m["subject"],
            "body": m["body"],
            "link": m.get("link"),
            "at": iso(m["at"]),
            "read": m.get("read_at") is not None or m["_id"] not in unread,
        }
        for m in shown
    ]
    return {**page_out(items, len(ids), page, per), "unread": len(box["unread"])}


def unread_count(store, actor: Actor) -> dict:
    """``{"unread": n}`` for the caller."""
    policy.require_member(actor)
    return {"unread": len(store.fold(actor.member_id, actor.union_id)["unread"])}


def mark_read(store, actor: Actor, clock: Clock, data: dict) -> dict:
    """Mark messages of the caller's own inbox read. ``data``: loaded ``MarkReadIn`` (``ids`` or
    ``all``). An id not in the caller's inbox: NotFound and nothing is marked (another member's
    message is not revealed). Out: ``{"marked", "unread"}``."""
    policy.require_member(actor)
    box = store.fold(actor.member_id, actor.union_id)
    if data["all"]:
        ids = list(box["unread"])
    else:
        mine = set(box["items"])
        foreign = [i for i in data["ids"] if i not in mine]
        if foreign:
            raise NotFound(
                "no such message in your inbox / 您的站内信中没有该消息", details={"ids": foreign[:10]}
            )
        ids = list(dict.fromkeys(data["ids"]))
    at = clock()
    marked = sum(store.mark_read(actor.member_id, i, at) for i in ids)
    return {"marked": marked, "unread": len(store.get_box(actor.member_id)["unread"])}


# ===== preferences ================================================================================
def get_prefs(store, actor: Actor, d: Delivery) -> dict:
    """The caller's preferences: push channels per group (defaults when never set), digest mode, the
    channels this server offers, the hourly limit, and whether the registry has an e-mail address and
    a mobile number for them."""
    policy.require_member(actor)
    prefs = Prefs.from_doc(store.get_prefs(actor.member_id))
    try:
        me = d.member_of(actor.member_id)
    except NotFound:
        me = {}
    return {
        "channels": {g: list(v) for g, v in prefs.channels.items()},
        "digest": prefs.digest,
        "available": list(d.senders.available),
        "hourly_limit": d.hourly_limit,
        "has_email": bool(me.get("email")),
        "has_phone": bool(me.get("phone")),
    }


def preferences_audit(actor: Actor, union: dict, groups) -> Audit | None:
    """The audit record (:mod:`dmlib.audit`) of a member changing their own preferences:
    ``notify.preferences_set`` in the chain of their union (``union``: ``{id, path}`` from members),
    recording each group's channels and the digest mode before → after (None for the system, which
    has no preferences of its own: the policy refuses it before this is asked). Marking
    messages read is not audited: it is a trace of what a member read in their own inbox, not a
    decision that changes anything others rely on (docs/architecture.md, "The audit log")."""
    if actor.is_system:
        return None
    return Audit(
        actor=actor,
        role="member",
        action="notify.preferences_set",
        object_type="preferences",
        object_id=actor.member_id,
        union_id=union["id"],
        union_path=tuple(union["path"]),
        fields=(*(f"channels.{g}" for g in groups), "digest"),
    )


def set_prefs(
    store, actor: Actor, clock: Clock, d: Delivery, data: dict, groups, union_of: Callable[[str], dict]
) -> dict:
    """Replace the caller's preferences (``data``: loaded ``PrefsIn``; ``groups`` not given keep no push
    channel), audited in the chain of their union (``union_of(union id)`` → ``{id, path}``, asked after
    the policy said yes). Out: as :func:`get_prefs`."""
    policy.require_member(actor)
    channels = {g: sorted(set(v)) for g, v in data["channels"].items()}
    for group in groups:
        channels.setdefault(group, [])
    record = preferences_audit(actor, union_of(actor.union_id), sorted(channels))
    store.put_prefs(actor.member_id, channels, data["digest"], clock(), audit=record)
    return get_prefs(store, actor, d)


# ===== the delivery log and fan-outs (admins) =====================================================
def delivery_log(store, actor: Actor, union: dict, query: dict) -> dict:
    """The push messages of the members of ``union`` (``{id, path}``, from members) and the unions below
    it, newest first, with counts per status and channel, failures and retries. Admins of the union or
    above (asked before the log is read). ``query``: loaded ``DeliveryLogIn``."""
    policy.require_log_reader(actor, union["path"])
    docs = store.outbox_of([union["id"]], limit=0)
    counts: dict[str, int] = {}
    by_channel: dict[str, dict[str, int]] = {}
    retries = 0
    for doc in docs:
        counts[doc["status"]] = counts.get(doc["status"], 0) + 1
        ch = by_channel.setdefault(doc["channel"], {})
        ch[doc["status"]] = ch.get(doc["status"], 0) + 1
        retries += sum(1 for line in doc.get("log", []) if line["status"] == "retrying")
    chosen = [
        doc
        for doc in docs
        if (query["status"] is None or doc["status"] == query["status"])
        and (query["channel"] is None or doc["channel"] == query["channel"])
    ]
    page, per = query["page"], query["per_page"]
    items = [
        {
            **doc,
            "id": doc["_id"],
            "at": iso(doc["at"]),
            "updated_at": iso(doc.get("updated_at")),
            "log": [{**line, "at": iso(line["at"])} for line in doc.get("log", [])],
        }
        for doc in chosen[(page - 1) * per : page * per]
    ]
    return {
        **page_out(items, len(chosen), page, per),
        "union_id": union["id"],
        "counts": counts,
        "failures": counts.get("failed", 0),
        "retries": retries,
        "by_channel": by_channel,
    }


def fanout_status(store, actor: Actor, event_id: str) -> dict:
    """Progress of the fan-out of one event: ``{event_id, kind, state, members, inbox, push, queued,
    batches, seconds, runs, started_at, …}``. The system and admins. NotFound for an unknown event."""
    policy.require_fanout_reader(actor)
    doc = store.get_fanout(str(event_id))
    if doc is None:
        raise NotFound("no such fan-out / 无此通知任务", details={"event_id": event_id})
    return {k: iso(v) for k, v in doc.items() if k not in ("_id", "_v", "outbox")} | {"event_id": doc["_id"]}
