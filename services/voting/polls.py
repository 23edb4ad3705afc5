"""The poll engine: choice polls (congress resolutions) and rating polls (the member ballots of evaluation
campaigns), ballots, live tallies, the close, recounts and the repair of interrupted casts, and the use
cases of choice polls, receipts and published ballot lists. Functions of ``(ports, actor, input)``: they
ask :mod:`.policy`, apply :mod:`.tally` and write through :class:`~.store.VotingStore`; no nameko. The
evaluation-campaign context built on the engine is :mod:`.campaigns`.

Secrecy (DESIGN.md §6): a ballot is stored under HMAC(VOTING_KEY, "poll:member"); the unique ``_id``
both enforces one ballot per voter (a second → Conflict 409 with ``details.reason`` =
``already_voted``) and keeps the member id out of the ballot. The voter's receipt is derived from the
ballot id; the published list shows receipts and contents.

Tallies: casting is group commit (:func:`cast_many`, issue 17): the gateway gathers the ballots that
arrive within a few milliseconds into one RPC, and a batch costs four writes whatever its size (marker,
receipts, one ``insert_many`` in a random order, then for a rating poll the marker settled with the
batch's sums per Worker Home, for a choice poll one ``$inc`` of its tally document and the marker
removed); each cast still gets its own receipt or error. A rating poll's settled batches count in the
live tally at once and are added to its folded tally in the background (:func:`fold`, a timer of the
service, and the close). Closing a poll recounts every ballot,
records both, and raises an alarm (log, ``alarm`` flag on the poll, ``recount_mismatched`` event) when
they differ: the live tally is never overwritten. Every change of a poll document is a guarded update
with its events in the poll's outbox (docs/architecture.md, "Changing state"); the caller relays them.

Recounts (issue 17 item 3): each batch also writes its recount pack right after its ballots (one more
insert); a recount sums the packs when they account for every stored ballot, else counts every ballot
(:func:`_recount`), and the close checks the recount and the live tally against its own count of the
ballots it copies for the shuffle (:func:`check_close_count`). What each proves: docs/storage.md, "What
each recount proves".
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.contracts import voting as c
from dmlib.errors import BadInput, Conflict, NotFound, ServiceError, ServiceUnavailable
from dmlib.schemas import iso, page_out
from dmlib.state import event

from . import policy
from . import tally as t
from .providers import OpenDocCache

log = logging.getLogger(__name__)
ALREADY_VOTED = "already voted / 您已投票"
#: A recount that differs from the live tally is taken again once after this pause (a late ballot
#: refused by the closed tally is being removed meanwhile) before it counts as an alarm.
RECOUNT_SETTLE_S = 0.5


class Keys(Protocol):
    def ballot_id(self, poll_id: str, member_id: str) -> str: ...
    def receipt(self, ballot: str) -> str: ...


@dataclass
class Ports:
    """What the use cases work with: the store (:class:`~.store.VotingStore` or the unit tests' fake),
    the ballot keys, the cache of open documents, the clock (aware UTC) and a pause (``eventlet.sleep``
    in the service)."""

    store: Any
    keys: Keys
    cache: OpenDocCache
    clock: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# ===== reading ====================================================================================
def poll_of(p: Ports, poll_id: str, with_voters: bool = False, cached: bool = False) -> dict:
    """The poll (``with_voters``: with its voter list; ``cached``: an open poll may come from
    :class:`OpenDocCache`, read-only). NotFound if there is none."""
    if cached:
        poll = p.cache.get("poll", poll_id, p.store.poll_header)
    else:
        poll = p.store.get_poll(poll_id) if with_voters else p.store.poll_header(poll_id)
    if poll is None:
        raise NotFound(f"no poll {poll_id} / 投票不存在", details={"poll_id": poll_id})
    return poll


def voted(p: Ports, poll_id: str, member_id: str) -> tuple[bool, str | None]:
    """(has ``member_id`` voted in the poll, their receipt)."""
    ballot = p.store.get_ballot(poll_id, p.keys.ballot_id(poll_id, member_id))
    return (True, ballot["receipt"]) if ballot else (False, None)


def counts_of(poll: dict, tally: dict) -> dict:
    """Counts from a tally document: choice ``{option: n}``; rating ``{"n", "s": {subject: counts}}``."""
    if poll["kind"] == "choice":
        return t.choice_counts(tally, poll["options"])
    return t.rating_counts(tally, [s["id"] for s in poll["subjects"]], poll["criteria"])


def require_poll_reader(p: Ports, actor: Actor, poll: dict, campaign: Callable[[str], dict | None]) -> None:
    """:mod:`.policy` on the poll's scope facts (those of its campaign, ``campaign(id)``, for the rating
    poll of an evaluation). Forbidden otherwise."""
    if poll["kind"] == "choice":
        allowed = policy.sees_choice_poll(actor, poll, lambda: p.store.is_voter(poll["_id"], actor.member_id))
    elif poll.get("owner") == "evaluations" and (doc := campaign(poll.get("ref", ""))) is not None:
        allowed = policy.sees_campaign(actor, doc)
    else:
        allowed = policy.sees_rating_poll(actor, poll)
    policy.require_read_poll(actor, allowed)


def poll_out(p: Ports, poll: dict, tally: dict, actor: Actor) -> dict:
    """:class:`PollOut` for ``actor``: counts only once closed or when the poll is not secret."""
    out = {
        "poll_id": poll["_id"],
        "kind": poll["kind"],
        "status": poll["status"],
        "title": poll["title"],
        "options": poll.get("options", []),
        "secret": poll.get("secret", True),
        "owner": poll.get("owner", ""),
        "ref": poll.get("ref", ""),
        "eligible": poll["eligible"],
        "ballots": int(tally.get("n", 0)),
        "closes_at": iso(poll.get("closes_at")),
        "alarm": bool(poll.get("alarm")),
        "recount_matches": (poll.get("recount") or {}).get("matches"),
    }
    if not actor.is_system:
        out["has_voted"], out["receipt"] = voted(p, poll["_id"], actor.member_id)
    else:
        out["has_voted"], out["receipt"] = False, None
    if poll["status"] == "closed" or not poll.get("secret", True):
        counts = counts_of(poll, tally)
        out["counts"] = counts if poll["kind"] == "choice" else {s: v["n"] for s, v in counts["s"].items()}
    return c.PollOut().dump(out)


def closed_out(p: Ports, poll: dict) -> dict:
    """:class:`ClosedPollOut` of a closed poll (rating: ballots per subject)."""
    tally = p.store.get_tally(poll["_id"])
    counts = counts_of(poll, tally)
    if poll["kind"] == "rating":
        counts = {s: v["n"] for s, v in counts["s"].items()}
    return c.ClosedPollOut().dump(
        {
            "poll_id": poll["_id"],
            "status": "closed",
            "counts": counts,
            "ballots": int(tally.get("n", 0)),
            "eligible": poll["eligible"],
            "recount_matches": bool((poll.get("recount") or {}).get("matches")),
        }
    )


def published(doc: dict) -> dict:
    """A ballot as the published list shows it (never ``voter``, never its id)."""
    return {
        "receipt": doc["receipt"],
        "choice": doc.get("choice"),
        "subject": doc.get("subject"),
        "stars": doc.get("stars"),
    }


# ===== casting ====================================================================================
def check_window(p: Ports, poll: dict) -> None:
    """Conflict unless the poll is open and now is within ``opens_at`` … ``closes_at``."""
    if poll["status"] != "open":
        raise Conflict(
            "voting is not open / 投票未开放或已结束",
            details={"poll_id": poll["_id"], "status": poll["status"]},
            reason="voting_not_open",
        )
    at = p.clock()
    opens, closes = aware(poll.get("opens_at")), aware(poll.get("closes_at"))
    if opens and at < opens:
        raise Conflict(
            "voting has not started yet / 投票尚未开始",
            details={"opens_at": iso(opens)},
            reason="voting_not_started",
        )
    if closes and at >= closes:
        raise Conflict(
            "voting has ended / 投票已截止", details={"closes_at": iso(closes)}, reason="voting_ended"
        )


def cast(p: Ports, poll_id: str, member_id: str, ballot: dict, inc: dict, part: str | None = None) -> str:
    """Cast one ballot: :func:`cast_many` with one. Returns the receipt; raises its Conflict."""
    [outcome] = cast_many(p, poll_id, [(member_id, ballot, inc, part)])
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def cast_many(
    p: Ports, poll_id: str, casts: list[tuple[str, dict, dict, str | None]]
) -> list[str | ServiceError]:
    """Group commit of checked casts in one poll (issue 17): ``casts`` are ``(member_id, ballot content,
    its tally $inc, part)`` (part: the subject of a rating ballot, None for a choice ballot). Returns per
    cast, in order, its receipt or its Conflict: ``details.reason`` = ``already_voted`` for a voter who
    had voted (or appears earlier in the same batch), "voting has ended" when the tally closed meanwhile
    (the ballot is taken back; also every cast when the tally was closed before the batch began).

    Writes, whatever the batch size: the batch marker (state ``casting``), the receipt index, one
    ``insert_many`` of the ballots in a random order (the unique ``_id`` keeps one ballot per voter),
    then for a rating poll ONE guarded update of the marker to ``settled`` with the batch's sums per
    Worker Home (``d``: they count in the live tally from then on, and :func:`fold` adds them to the
    folded tally later), for a choice poll one guarded ``$inc`` of its tally document and the marker's
    removal. A crash before the marker settles leaves it ``casting``; the close cuts it and repairs the
    tally from its stored ballots exactly (:func:`repair_interrupted`). A ballot is answered with its
    receipt only after its batch's counts are committed. Right after the ballots, one insert of the
    batch's recount pack (what a recount reads of the ballots just stored,
    :meth:`VotingStore.write_pack`); taken back with the ballots if the tally closed under the batch."""
    if not casts:
        return []
    ended = Conflict("voting has ended / 投票已截止", details={"poll_id": poll_id}, reason="voting_ended")
    day = p.clock().strftime("%Y-%m-%d")
    docs = []
    for member_id, ballot, _inc, _part in casts:
        bid = p.keys.ballot_id(poll_id, member_id)
        docs.append({"_id": bid, "receipt": p.keys.receipt(bid), "day": day, **ballot})
    batch = p.store.begin_batch(poll_id, list(dict.fromkeys(d["_id"] for d in docs)))
    if batch is None:  # the tally closed (a cached poll read as open): nothing is written
        return [ended for _ in casts]
    for d in docs:
        d["k"] = batch
    p.store.insert_receipts(poll_id, {d["receipt"]: d["_id"] for d in docs})
    inserted = p.store.insert_ballots(poll_id, docs)
    p.store.write_pack(poll_id, batch, [d for d, ok in zip(docs, inserted, strict=True) if ok])
    outcomes: list[str | ServiceError] = [
        d["receipt"]
        if ok
        else Conflict(ALREADY_VOTED, details={"poll_id": poll_id, "reason": c.ALREADY_VOTED})
        for d, ok in zip(docs, inserted, strict=True)
    ]
    parts: dict[str | None, list[int]] = {}
    for i, (_m, _b, _inc, part) in enumerate(casts):
        if inserted[i]:
            parts.setdefault(part, []).append(i)
    if None in parts:  # a choice poll: one small tally document, $inc-ed directly
        indexes = parts[None]
        inc = t.merge_inc(casts[i][2] for i in indexes)
        if not p.store.count_ballots(poll_id, None, inc, [docs[i]["_id"] for i in indexes]):
            p.store.drop_pack(poll_id, batch)  # its ballots were taken back: their pack goes too
            for i in indexes:
                outcomes[i] = ended
    elif parts:  # a rating poll: the batch's sums go into its own marker, folded later
        incs = {part: t.merge_inc(casts[i][2] for i in indexes) for part, indexes in parts.items()}
        if p.store.settle_batch(batch, incs):
            return outcomes  # the marker stays, settled, until a fold deletes it
        counted = [i for indexes in parts.values() for i in indexes]
        p.store.take_back(poll_id, [docs[i]["_id"] for i in counted])  # the close cut the batch
        p.store.drop_pack(poll_id, batch)  # its ballots were taken back: their pack goes too
        for i in counted:
            outcomes[i] = ended
    p.store.end_batch(batch)
    return outcomes


# ===== the fold: settled batches into the folded tally ==============================================
#: Folds of one poll the close tries before it gives up (each fails only when another fold committed).
FOLD_ATTEMPTS = 10


def fold(p: Ports, poll_id: str) -> int:
    """Add the sums of a rating poll's settled batches to its folded tally, each EXACTLY ONCE, with one
    guarded write; returns how many batches this call folded (0: none, or another fold won).

    Steps: (1) read the folded tally (generation ``g``, counts, ``f`` = the batches the fold that wrote
    ``g`` folded); (2) read the poll's settled markers; (3) delete those listed in ``f`` that are still
    there (that fold's last step, cut by a crash); (4) write generation ``g + 1`` = counts + the sums of
    the other settled markers, ``f`` = their ids, guarded by ``g`` (the commit point); (5) delete them.

    Invariant: the folded tally at generation ``g`` counts exactly the batches folded up to ``g``; of
    those, only the ones in ``f`` may still have a marker (a fold writes ``g + 1`` only after the
    markers of ``f(g)`` are gone, step 3, and batch ids are never reused). So a settled marker not in
    ``f`` is not counted, and the live tally (:meth:`VotingStore.get_tally`) is the folded tally plus
    the settled markers not in ``f``. A crash after (1), (2) or (3) writes nothing that counts; after
    (4) the next fold finishes (5) in its step (3); two folds at once read the same ``g`` and only one
    write matches it. The markers are read after the folded tally, never before: a marker read before
    could be folded and deleted by another fold that also moves ``g`` past it."""
    folded = p.store.folded_tally(poll_id)
    settled = p.store.settled_batches(poll_id)
    done = set(folded["f"])
    if any(b["_id"] in done for b in settled):
        p.store.drop_batches(sorted(done))
    new = [b for b in settled if b["_id"] not in done]
    if not new:
        return 0
    ids = [b["_id"] for b in new]
    if not p.store.write_folded(poll_id, folded["g"], t.add_deltas(folded["s"], new), ids):
        return 0
    p.store.drop_batches(ids)
    return len(new)


def fold_poll(p: Ports, poll_id: str) -> None:
    """Fold until the poll has no settled batch left (the close, after it cut the batches in flight, so
    that no batch can settle any more). ServiceUnavailable if other folds keep winning."""
    for _ in range(FOLD_ATTEMPTS):
        if not p.store.settled_batches(poll_id):
            return
        fold(p, poll_id)
    if p.store.settled_batches(poll_id):
        raise ServiceUnavailable(
            "the tally is being folded elsewhere: try again / 计票正在合并，请重试",
            details={"poll_id": poll_id},
        )


def fold_all(p: Ports) -> int:
    """The service's timer: one :func:`fold` of every poll that has settled batches (one scan of the
    small ``casts_pending``). Returns how many batches were folded."""
    polls_ = sorted({b["poll"] for b in p.store.settled_batches()})
    return sum(fold(p, poll_id) for poll_id in polls_)


# ===== recounts and the close =====================================================================
def counter_of(poll: dict) -> Callable[[Iterable[dict]], dict]:
    """The full recount pass's counting function for ``poll``: ballots (their ``choice``, or ``subject``,
    ``stars`` and ``opinion``) → counts in the shape of :func:`counts_of` (:func:`.tally.recount_choices`
    / :func:`.tally.recount_ratings`). The close's shuffle counts the ballots it copies with it."""
    if poll["kind"] == "choice":
        options = poll["options"]
        return lambda ballots: t.recount_choices(ballots, options)
    subjects, criteria = [s["id"] for s in poll["subjects"]], poll["criteria"]
    return lambda ballots: t.recount_ratings(ballots, subjects, criteria)


def _recount(p: Ports, poll: dict) -> tuple[dict, int, str]:
    """Counts of the poll's ballots, how many casts may be missing from the live tally (batches still
    marked in flight plus ballots from before group commit still marked ``pending``), and where the
    counts came from (``source``).

    ``"packs"``: summed from the poll's recount packs (store.py ``packs_<poll>``: each batch's ballots as
    columns, a few documents for many ballots) and the ballots of batches still in flight, read by
    ``_id``, when those were exactly as many as the ballots stored (``collStats``). Otherwise
    (``"ballots"``: ballots from before the packs, a pack lost to a crash, ballots arriving or taken back
    during the recount, a ballot written by other means) one pass over every ballot, which reads only
    what it counts. Neither reads the live counters. What each proves: docs/storage.md, "What each
    recount proves"."""
    fields = ["choice"] if poll["kind"] == "choice" else ["subject", "stars", "opinion"]
    pending = 0
    seen = 0

    def packs():
        nonlocal seen
        for pack in p.store.recount_packs(poll["_id"], fields):
            seen += t.pack_size(pack)
            yield pack

    def ballots():
        nonlocal pending
        for b in p.store.iter_ballots(poll["_id"], [*fields, "pending"]):
            pending += bool(b.get("pending"))
            yield b

    if poll["kind"] == "choice":
        counts, source = t.recount_choice_packs(packs(), poll["options"]), "packs"
    else:
        subjects = [s["id"] for s in poll["subjects"]]
        counts, source = t.recount_rating_packs(packs(), subjects, poll["criteria"]), "packs"
    if seen != p.store.stored_count(poll["_id"]):
        counts, source = counter_of(poll)(ballots()), "ballots"
    return counts, pending + len(p.store.open_batches(poll["_id"])), source


def _contributions(ballots: list[dict], inc_of: Callable[[dict], dict]) -> list[dict]:
    """What each unit that is counted all at once adds to one part of the tally: the ballots of one
    batch (``_batch``: its sums are one write) together, a ballot from before group commit
    alone."""
    units: dict[Any, list[dict]] = {}
    for i, b in enumerate(ballots):
        units.setdefault(b.get("_batch") or ("single", i), []).append(inc_of(b))
    return [t.merge_inc(incs) for incs in units.values()]


def repair_interrupted(p: Ports, poll: dict, live: dict, recounted: dict, pending: list[dict]) -> dict:
    """On a closed poll: bring into the live tally the casts a crash cut between the ballot insert and the
    tally write (a rating batch's settle with its sums, a choice poll's ``$inc``). Candidates are the
    ballots of batches still marked in flight or cut (each batch's ballots of one part are one unit:
    their sums are one write) and, from before group commit, ballots still marked ``pending``; the tally
    (a rating poll's: through a settled marker, :meth:`VotingStore.add_to_tally`) is only changed when,
    part by part, a subset of them accounts for the difference exactly (anything else stays an alarm: "a
    mismatch is an alarm, not silently overwritten", issue 3). Pending ballots whose count had landed
    are just settled. Repeating it after a crash adds nothing twice (the difference is then 0). Out:
    ``{"ballots", "pending", "parts"}`` or {} when nothing could be explained (nothing is changed then)."""
    if poll["kind"] == "choice":
        index = {opt: i for i, opt in enumerate(poll["options"])}
        diff = t.subtract(
            {"n": sum(recounted.values()), **{f"o{index[o]}": v for o, v in recounted.items()}},
            {"n": sum(live.values()), **{f"o{index[o]}": v for o, v in live.items()}},
        )
        groups = {None: (diff, _contributions(pending, lambda b: t.choice_inc(index[b["choice"]])))}
    else:
        groups = {}
        for subject, counted in recounted["s"].items():
            mine = [b for b in pending if b["subject"] == subject]
            diff = t.subtract(counted, live["s"].get(subject, {}))
            if diff or mine:
                incs = _contributions(
                    mine, lambda b: t.rating_inc(b["stars"], isinstance(b.get("opinion"), str))
                )
                groups[subject] = (diff, incs)
    fixes = {}
    for part, (diff, incs) in groups.items():
        if t.explaining_subset(diff, incs) is None:
            return {}
        if diff:
            fixes[part] = diff
    p.store.add_to_tally(poll["_id"], fixes)
    p.store.settle_ballots(poll["_id"], [b["_id"] for b in pending])
    added = sum(d.get("n", 0) for d in fixes.values())
    if added:
        log.warning("poll %s: %d interrupted cast(s) added to the live tally", poll["_id"], added)
    return {"ballots": added, "pending": len(pending), "parts": {str(k): v for k, v in fixes.items()}}


def mismatch_event(poll: dict) -> dict:
    """``recount_mismatched`` for ``poll`` (docs/events.md): the alarm of a recount that differs."""
    return event(
        "recount_mismatched", poll_id=poll["_id"], owner=poll.get("owner", ""), ref=poll.get("ref", "")
    )


def recount_and_record(p: Ports, poll: dict, *, at_close: bool = False, audit: Audit | None = None) -> dict:
    """Recount every ballot and compare with the live tally; a mismatch that persists after a short settle
    (a refused late ballot being removed) is an alarm. Both figures are recorded on the poll in one
    guarded write with its events: ``recount_mismatched`` on a mismatch and, with ``at_close`` (the
    close's own recount, the commit point of the close), ``poll_closed``; that write expects the close's
    recount not to be recorded yet, so ``poll_closed`` is committed once. Returns the record (``{"at",
    "matches", "live", "recounted", "source"[, "repaired"][, "busy"]}``; ``source``: ``packs`` or
    ``ballots``, :func:`_recount`).

    Casts landing during a recount of an open poll (the live tally is read first, then the ballots: a
    ballot is stored before it is counted) make it differ only upwards. When it still differs after the
    settle, the poll is open, every count of the recount is at least the live one and casts were
    landing (batches in flight, or the live tally moved during the recount), the record says ``busy``
    (not compared, ``matches`` False) and raises no alarm: the close's recount, with the tally closed,
    and its check against the ballots themselves (:func:`check_close_count`) are the ones that count."""
    live = counts_of(poll, p.store.get_tally(poll["_id"]))
    recounted, pending, source = _recount(p, poll)
    if recounted != live:
        p.sleep(RECOUNT_SETTLE_S)
        live = counts_of(poll, p.store.get_tally(poll["_id"]))
        recounted, pending, source = _recount(p, poll)
    record: dict = {
        "at": p.clock(),
        "matches": recounted == live,
        "live": live,
        "recounted": recounted,
        "source": source,
    }
    if (
        poll["status"] == "open"
        and recounted != live
        and t.only_ahead(recounted, live)
        and (pending or counts_of(poll, p.store.get_tally(poll["_id"])) != live)
    ):
        record["busy"] = True  # casts landing: not compared, no alarm (the close's recount counts)
    if poll["status"] == "closed" and pending:  # rare (a crash)
        repaired = repair_interrupted(p, poll, live, recounted, p.store.pending_ballots(poll["_id"]))
        if repaired:
            live = counts_of(poll, p.store.get_tally(poll["_id"]))
            record.update(matches=recounted == live, live=live, repaired=repaired)
    matches = record["matches"] or record.get("busy", False)
    changes: dict = {"recount": record}
    events = []
    if not matches:
        changes["alarm"] = True
        log.error("RECOUNT MISMATCH in poll %s: live %s, recount %s", poll["_id"], live, recounted)
        events.append(mismatch_event(poll))
    expect: dict = {}
    if at_close:
        changes["counted_at_close"] = True
        closing = closed_out(p, {**poll, "recount": record})
        events.append(
            event(
                "poll_closed",
                poll_id=poll["_id"],
                kind=poll["kind"],
                owner=poll.get("owner", ""),
                ref=poll.get("ref", ""),
                counts=closing["counts"],
                ballots=closing["ballots"],
                eligible=closing["eligible"],
            )
        )
        expect = {"status": "closed", "counted_at_close": {"$ne": True}}
    try:
        p.store.change("polls", poll["_id"], expect=expect, set=changes, events=events, audit=audit)
    except Conflict:  # another close recorded its recount (and poll_closed) first: nothing written here
        pass
    return record


def counted_at_close(poll: dict) -> bool:
    """Has the close's recount (with ``poll_closed``) been committed? Polls closed before the flag
    existed count as counted when they carry a recount (their ``poll_closed`` was published then)."""
    return bool(poll.get("counted_at_close")) or (
        "counted_at_close" not in poll and "recount" in poll and "_v" not in poll
    )


def close(p: Ports, poll: dict) -> dict:
    """Close a poll (idempotent and resumable): stop the tally, mark the poll closed (guarded: ``open``),
    cut the batches still casting (:meth:`VotingStore.cut_batches`: none can settle after this) and fold
    every settled one (:func:`fold_poll`), recount repairing interrupted casts and commit
    ``poll_closed`` with the recount (:func:`recount_and_record`), fold what the repair added, then
    shuffle the ballots so that their storage order no longer tells the order of casting
    (:meth:`VotingStore.shuffle_ballots`). Called again on a closed poll, it finishes what a crash or an
    outage cut short (the cut, the fold, the recount with its event, the shuffle) and answers the same.
    Out: :class:`ClosedPollOut`. Conflict if the poll is neither open nor closed."""
    if poll["status"] == "open":
        p.store.close_tally(poll["_id"])
        try:
            poll = p.store.change(
                "polls",
                poll["_id"],
                expect={"status": "open"},
                set={"status": "closed", "closed_at": p.clock()},
            )
        except Conflict:
            poll = poll_of(p, poll["_id"])
        p.cache.forget("poll", poll["_id"])
    if poll["status"] != "closed":
        raise Conflict(
            "the poll is not open / 投票未开放", details={"status": poll["status"]}, reason="voting_not_open"
        )
    p.store.cut_batches(poll["_id"])
    fold_poll(p, poll["_id"])
    if not counted_at_close(poll):
        recount_and_record(p, poll, at_close=True)
        fold_poll(p, poll["_id"])  # what the repair added (a settled marker)
    shuffled = p.store.shuffle_ballots(poll["_id"], count=counter_of(poll))
    check_close_count(p, poll_of(p, poll["_id"]), shuffled)
    return closed_out(p, poll_of(p, poll["_id"]))


def check_close_count(p: Ports, poll: dict, shuffled: dict) -> dict | None:
    """The close's check of its recount against the ballots themselves: ``shuffled["counted"]`` is what
    the close's shuffle counted while it copied every ballot (:func:`counter_of`, the full recount
    pass's functions; no second read). Recorded once on the poll as ``close_count`` (``{"at",
    "ballots_counted", "source", "equals_recount", "equals_live"}``: ``source`` is where the close's
    recount came from, ``packs`` or ``ballots``); a difference from the close's recount or from the live
    tally is an alarm (``alarm``, ``recount.matches`` False, ``recount_mismatched``; not a second time
    when the close's recount already differed from the live tally and the ballots agree with it), never
    a correction. Returns the record, or None when there is nothing to check (a shuffle from before the
    count, a close whose recount is not recorded) or it was recorded before."""
    counted, recount_ = t.stored_counts(shuffled.get("counted")), poll.get("recount") or {}
    if counted is None or "recounted" not in recount_ or poll.get("close_count"):
        return None
    recounted = t.stored_counts(recount_["recounted"])
    live = counts_of(poll, p.store.get_tally(poll["_id"]))
    record = {
        "at": p.clock(),
        "ballots_counted": counted,
        "source": recount_.get("source", "ballots"),
        "equals_recount": counted == recounted,
        "equals_live": counted == live,
    }
    changes: dict = {"close_count": record}
    events = []
    # news only if the close's recount did not already raise it (it equalled the live tally)
    if not record["equals_recount"] or (not record["equals_live"] and recount_.get("matches")):
        changes.update({"alarm": True, "recount.matches": False})
        log.error(
            "RECOUNT MISMATCH in poll %s at the close: ballots %s, recount (%s) %s, live %s",
            poll["_id"],
            counted,
            record["source"],
            recounted,
            live,
        )
        events.append(mismatch_event(poll))
    try:
        p.store.change(
            "polls", poll["_id"], expect={"close_count": {"$exists": False}}, set=changes, events=events
        )
    except Conflict:  # another close recorded it first
        return None
    return record


# ===== choice-poll use cases (the contract the congress service codes against) ======================
def choice_poll_id(owner: str, ref: str) -> str:
    """The id of the choice poll ``owner`` opens for ``ref`` (e.g. congress's agenda item): derived from
    both, so that opening it again finds the first (``p`` + 15 hex digits, like a random poll id)."""
    return "p" + hashlib.sha256(f"{owner}\x1f{ref}".encode()).hexdigest()[:15]


def open_choice_poll(p: Ports, actor: Actor, data: dict) -> dict:
    """Open a choice poll from :class:`ChoicePollIn` data (system only); ``poll_opened`` is committed with
    the poll. Out: :class:`PollOut`.

    Idempotent by ``(owner, ref)``: the poll's id is derived from them (:func:`choice_poll_id`), so a
    repeat (the owner crashed or met an outage between this poll and its own commit, and opens again)
    returns the poll opened first, as it is (its voters, its status), instead of opening a second one.
    Without a ``ref`` every call opens a new poll."""
    policy.require_system(actor, "only a service opens choice polls / 仅系统可发起表决")
    poll_id = choice_poll_id(data["owner"], data["ref"]) if data["ref"] else f"p{uuid.uuid4().hex[:15]}"
    if data["ref"] and (existing := p.store.get_poll(poll_id)) is not None:
        return poll_out(p, existing, p.store.get_tally(poll_id), actor)
    voters = sorted(set(data["voters"]))
    poll = {
        "_id": poll_id,
        "kind": "choice",
        "status": "open",
        "title": data["title"],
        "options": data["options"],
        "voters": voters,
        "secret": data["secret"],
        "owner": data["owner"],
        "ref": data["ref"],
        "eligible": len(voters),
        "closes_at": data["closes_at"],
        "union_id": data["union_id"],
        "union_path": data["union_path"],
        "congress_id": data["congress_id"],
        "alarm": False,
        "counted_at_close": False,
        "created_at": p.clock(),
    }
    opened = event("poll_opened", poll_id=poll_id, kind="choice", owner=data["owner"], ref=data["ref"])
    try:
        p.store.create_poll(poll, t.choice_zero(data["options"]), events=[opened])
    except DuplicateKeyError:  # two opens of the same ref at once: the other one's poll
        return poll_out(p, poll_of(p, poll_id), p.store.get_tally(poll_id), actor)
    return poll_out(p, poll, {"n": 0}, actor)


def cast_choice(p: Ports, actor: Actor, poll_id: str, data: dict) -> dict:
    """Cast ``actor``'s ballot (:class:`ChoiceIn` data) in a choice poll. Out: ``{"poll_id", "receipt"}``.
    BadInput (not a choice poll, unknown option), NotFound, Forbidden (not a voter), Conflict."""
    poll = poll_of(p, poll_id)
    if poll["kind"] != "choice":
        raise BadInput("not a choice poll / 非表决投票", fields={"poll_id": ["not a choice poll"]})
    if data["choice"] not in poll["options"]:
        raise BadInput(
            "unknown option / 无此选项", fields={"choice": [f"one of: {', '.join(poll['options'])}"]}
        )
    policy.require_cast_choice(actor, p.store.is_voter(poll_id, actor.member_id))
    check_window(p, poll)
    ballot = {"choice": data["choice"]}
    if not poll["secret"]:
        ballot["voter"] = actor.member_id
    receipt = cast(p, poll_id, actor.member_id, ballot, t.choice_inc(poll["options"].index(data["choice"])))
    return {"poll_id": poll_id, "receipt": receipt}


def close_poll(p: Ports, actor: Actor, poll_id: str) -> dict:
    """Close a choice poll (system only): :func:`close`."""
    policy.require_system(actor, "only a service closes polls / 仅系统可结束表决")
    poll = poll_of(p, poll_id)
    if poll["kind"] != "choice":
        raise BadInput("close a campaign instead / 请结束评选活动", fields={"poll_id": ["not a choice poll"]})
    return close(p, poll)


def get_poll(p: Ports, actor: Actor, poll_id: str, campaign: Callable[[str], dict | None]) -> dict:
    """A poll as ``actor`` may see it (:func:`require_poll_reader`). Out: :class:`PollOut`."""
    poll = poll_of(p, poll_id)
    require_poll_reader(p, actor, poll, campaign)
    return poll_out(p, poll, p.store.get_tally(poll_id), actor)


def verify_receipt(
    p: Ports, actor: Actor, poll_id: str, receipt: str, campaign: Callable[[str], dict | None]
) -> dict:
    """Is the ballot with this receipt in the poll's list? Choice polls: their readers; rating polls: any
    logged-in caller. Out: :class:`ReceiptCheckOut`. NotFound, Forbidden, BadInput."""
    poll = poll_of(p, poll_id)
    if poll["kind"] == "choice":
        require_poll_reader(p, actor, poll, campaign)
    code = (receipt or "").strip().upper().replace("-", "").replace(" ", "")
    if len(code) != 12 or any(ch not in "0123456789ABCDEF" for ch in code):
        raise BadInput(
            "a receipt is 12 characters 0-9, A-F / 回执码为12位", fields={"receipt": ["12 hex characters"]}
        )
    doc = p.store.find_receipt(poll_id, code)
    return c.ReceiptCheckOut().dump(
        {"poll_id": poll_id, "receipt": code, "found": doc is not None, "ballot": doc and published(doc)}
    )


def list_ballots(
    p: Ports, actor: Actor, poll_id: str, page: int, per_page: int, campaign: Callable[[str], dict | None]
) -> dict:
    """The published ballot list of a closed poll, by receipt (its readers). Conflict while open."""
    poll = poll_of(p, poll_id)
    require_poll_reader(p, actor, poll, campaign)
    if poll["status"] != "closed":
        raise Conflict(
            "the list is published when voting closes / 投票结束后公布选票清单", reason="list_after_close"
        )
    if not isinstance(page, int) or page < 1 or not isinstance(per_page, int) or not 1 <= per_page <= 500:
        raise BadInput(
            "page ≥ 1, per_page 1-500 / 分页参数有误", fields={"page": ["≥ 1"], "per_page": ["1-500"]}
        )
    docs, total = p.store.ballot_page(poll, (page - 1) * per_page, per_page)
    return page_out([published(d) for d in docs], total, page, per_page)


def recount(p: Ports, actor: Actor, poll_id: str, campaign: Callable[[str], dict | None]) -> dict:
    """Recount a poll now (the system; a rating poll also its campaign's admins). Out: the record."""
    poll = poll_of(p, poll_id)
    audit = None
    if poll["kind"] == "rating":
        doc = campaign(poll_id)
        if doc is None:
            raise NotFound(f"no campaign {poll_id} / 评选活动不存在", details={"campaign_id": poll_id})
        policy.require_campaign_admin(actor, doc)
        # a person asked for it: audited (the counts, never a ballot)
        audit = by_person(
            actor,
            "voting.recount_recorded",
            "poll",
            poll_id,
            doc["union_id"],
            doc["union_path"],
            fields=("alarm",),
        )
    else:
        policy.require_system(actor)
    record = recount_and_record(p, poll, audit=audit)
    return {**record, "at": iso(record["at"])}
