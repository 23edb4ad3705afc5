"""Storage of the voting service (database ``voting``); see docs/storage.md for why it is shaped so.

Collections:

- ``polls``: ``_id`` poll id; ``kind`` (choice | rating), ``status`` (open | closed), ``title``,
  ``options`` (choice), ``voters`` (choice: the eligible member ids), ``secret``, ``owner``, ``ref``,
  ``subjects`` (rating: ``[{id, name}]``, a subject's id is the union whose members rate it),
  ``criteria`` (rating: number of marks per ballot), ``eligible`` (int; rating: also ``eligible_by``),
  ``closes_at``, ``recount`` (the last recount: ``{at, matches, source, live, recounted, …}``), ``alarm`` (bool),
  ``counted_at_close`` (the close's recount and its ``poll_closed`` event are committed), ``_v`` and
  ``outbox`` (:mod:`dmlib.state`: status, recount and alarm change only through :meth:`Store.change`);
  after the close ``ballot_collection`` (where the ballots now are), ``shuffled`` (``{at, n, pending,
  checked, counted}``: ``counted``, the counts of the ballots the shuffle copied), ``close_count`` (the
  close's check of those counts against its recount and the live tally, polls.py) and
  ``shuffle_attempts`` (the copies started, so that a retry drops unfinished ones). The counts in
  ``recount`` (``live``, ``recounted``), ``shuffled.counted`` and ``close_count.ballots_counted`` are
  stored as JSON texts (:data:`COUNT_TEXTS`: one value to decode instead of up to 13 per Worker Home).
- ``ballots_<poll id>``: one collection per poll, so a recount reads only that poll's ballots (with an
  index on ``receipt`` for MongoDB). A ballot's ``_id`` is HMAC-SHA256(``VOTING_KEY``, "poll:member") in
  hex: the unique ``_id`` enforces one ballot per voter, and no ballot carries a member id (except
  ``voter`` in named, non-secret choice polls). Fields: ``receipt``, ``day`` (date only, so arrival times
  cannot be matched to log-ins; removed at the close), ``choice`` | (``subject``, ``stars`` [per
  criterion], ``opinion``), ``k`` (the batch of casts it came in; removed at the close), ``pending`` (only
  on ballots cast before group commit and not settled). Ballots are inserted a batch at a time in a random
  order, but while a poll is open its collection's natural order still follows the batches; the close
  copies the ballots in a random order into ``ballots_<poll id>_<random hex>``, points the poll's
  ``ballot_collection`` at it and drops the original (:meth:`VotingStore.shuffle_ballots`, docs/storage.md
  "Ballot secrecy at rest"). Read a poll's ballots through :func:`ballots_of`.
- ``receipts_<poll id>``: the receipt index (``_id`` = receipt, ``b`` = ballot id, ``also`` = ids of other
  ballots with the same 12-character receipt); after the close ``receipts_<poll id>_<random hex>`` next
  to the shuffled copy (:func:`companion`), written in the shuffled order.
- ``list_<poll id>_<random hex>``: the published ballot list of a closed poll, written by the close:
  ``_id`` "00000000", "00000001", … (:func:`chunk_id`) and ``e``, :data:`LIST_CHUNK` entries
  ``{receipt, choice | subject, stars}`` in receipt order.
- ``packs_<poll id>``: recount packs (issue 17 item 3): one document per batch of casts (``_id`` = the
  batch id; bulk loads: a random id per :data:`PACK_MAX` ballots), ``n`` ballots and ``e``, the JSON
  text of what a recount reads of the ballots the batch stored, as columns (:func:`.tally.pack_of`).
  Written by one insert right after the batch's ballots, from the same documents (:meth:`write_pack`);
  dropped with the ballots when a late batch is taken back. A recount sums these few documents instead
  of decoding every ballot, and only when they account for exactly as many ballots as are stored
  (:meth:`VotingStore.recount_packs`, :meth:`VotingStore.stored_count`). They follow the casting order
  (batch after batch), so the close writes them again from its shuffled copy (``packs_<poll id>_<random
  hex>``, :func:`companion`), counting the copied ballots as it goes (``shuffled.counted``: the check of
  the packs against the ballots, docs/storage.md "What each recount proves"), and drops the open poll's.
- ``casts_pending``: one marker per batch of casts (``_id`` batch id, ``poll``, ``ids``, ``at``,
  ``state``: :data:`CASTING` while its ballots are written; :data:`SETTLED` with ``d``, the batch's sums
  ``{subject: $inc}`` as JSON text, once a rating batch is stored; :data:`CUT` when the close stopped it
  first). A choice poll's marker is deleted once its ``$inc`` landed; a settled one when a fold has
  added it to the folded tally; what a crash leaves ``casting`` is cut and repaired at the close. Only
  batches in flight and settled batches not folded yet: a small collection, read by scans.
- ``tallies``: ``_id`` = poll id, ``open`` (false from the close: a batch that begins after it is
  refused, a choice ``$inc`` is guarded by it). Choice: ``n`` and ``o0`` … ``oK`` (per option index,
  since option texts may not be keys), updated by ``$inc`` right after each batch's insert: one small
  document. Rating: ``{open, parts: true}``; the counts are the folded tally plus the settled batches.
- ``tally_folded``: a rating poll's folded tally, ``_id`` = poll id, ``g`` (its generation: +1 per
  fold), ``s`` (``{subject: {n, op, c0…cN star sums, h1…h5 mark counts}}`` as JSON text: one string
  field, because FerretDB decodes and re-encodes every field of a document on each read and write),
  ``f`` (the batches the last fold added, whose markers may still exist). Written by one guarded update
  per fold (:meth:`VotingStore.write_folded`, :func:`.polls.fold`). Polls opened before the fold kept
  one document per subject in ``tally_<poll id>``; their folded tally is made from it when first read.
- ``campaigns``: evaluation campaigns (``_id`` = campaign id = its rating poll's id), changed only
  through :meth:`Store.change`/:meth:`Store.create` (``_v``, ``outbox``); once published also
  ``star_levels_due``/``star_levels_set``/``star_levels_done_at`` (the follow-up, campaigns.py).
- ``followups``: one marker per publication whose star levels may still be due (``_id``
  ``star_levels:<campaign>:<random>``, ``campaign_id``, ``at``), read whole by a timer.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError, OperationFailure

from dmlib.errors import ServiceUnavailable
from dmlib.storage import Store

from .tally import add_deltas, counts_text, pack_of

log = logging.getLogger(__name__)

#: The close's shuffle holds at most this many ballots in memory at once (~1 KB of Python each); a
#: larger poll is copied in several passes over its ballots, each taking one random share of them.
SHUFFLE_MEMORY_BALLOTS = 100_000
#: Ballots per ``insert_many`` of the shuffled copy.
SHUFFLE_BATCH = 1000
#: Entries per document of a closed poll's published ballot list (``list_…``).
LIST_CHUNK = 500
#: Ballots per recount pack written by a bulk load or by the close's copy (a group-commit batch is one
#: pack whatever its size).
PACK_MAX = 5000
#: Attempts of the copy within one close when the ballots change under it (a refused late cast).
SHUFFLE_ATTEMPTS = 3
#: Fields of a poll document that hold counts per option or per Worker Home (a rating poll's: up to 13
#: numbers a home), stored as one JSON text each. FerretDB decodes every value of a document at every
#: read whatever the projection: the four copies of a closed poll over 1,000 homes (~52,000 values) made
#: one read of the poll 125 ms, against 7 ms without them (docs/storage.md). Read them with
#: :func:`.tally.stored_counts`.
COUNT_TEXTS = {
    "recount": ("live", "recounted"),
    "close_count": ("ballots_counted",),
    "shuffled": ("counted",),
}


def _counts_as_texts(changes: Mapping[str, Any]) -> dict:
    """``changes`` (a ``$set`` of a poll) with every :data:`COUNT_TEXTS` field as its JSON text, whether
    set whole (``recount``) or by path (``shuffled.counted``)."""
    out = {}
    for key, value in changes.items():
        outer, _, inner = key.partition(".")
        if inner in COUNT_TEXTS.get(outer, ()) and isinstance(value, dict):
            value = counts_text(value)
        elif not inner and outer in COUNT_TEXTS and isinstance(value, dict):
            value = {
                k: counts_text(v) if k in COUNT_TEXTS[outer] and isinstance(v, dict) else v
                for k, v in value.items()
            }
        out[key] = value
    return out


def now() -> datetime:
    return datetime.now(UTC)


def ballots_collection(poll_id: str) -> str:
    return f"ballots_{poll_id}"


def ballots_of(db: Database, poll_id: str) -> Collection:
    """The collection that holds a poll's ballots now: ``ballots_<poll>`` while it is open (and before
    the close's shuffle), the shuffled copy the poll points at afterwards."""
    doc = db.polls.find_one({"_id": poll_id}, projection={"ballot_collection": 1}) or {}
    return db[doc.get("ballot_collection") or ballots_collection(poll_id)]


def receipts_collection(poll_id: str) -> str:
    """The receipt index of an open poll: ``_id`` = receipt, ``b`` = ballot id (``also``: collisions)."""
    return f"receipts_{poll_id}"


def companion(ballots_name: str, kind: str) -> str:
    """The ``receipts_…`` or ``list_…`` collection that goes with a ballot collection ``ballots_…`` (the
    open poll's, or the close's shuffled copy, whose companions share its random suffix)."""
    return f"{kind}_{ballots_name[len('ballots_') :]}"


def packs_collection(poll_id: str) -> str:
    """An open poll's recount packs (one per batch of casts); after the close, the companion of the
    shuffled copy (:func:`companion`)."""
    return f"packs_{poll_id}"


def pack_doc(pack_id: str, ballots: list[dict]) -> dict:
    """The recount pack document of ``ballots``: ``_id``, ``n`` (ballots), ``e`` (the JSON text of
    :func:`.tally.pack_of`: one value to decode, not one per field, which is what makes a pack cheap to
    read on FerretDB)."""
    return {"_id": pack_id, "n": len(ballots), "e": json.dumps(pack_of(ballots), ensure_ascii=False)}


#: A counting function of the close's shuffle: the ballots it copies → their counts (the full recount
#: pass's own functions, :func:`.tally.recount_choices` / :func:`.tally.recount_ratings`).
Count = Callable[[Iterable[dict]], dict]


def parts_collection(poll_id: str) -> str:
    """The per-subject tally parts of a rating poll opened before the fold (read once, to build its
    folded tally: :meth:`VotingStore.folded_tally`)."""
    return f"tally_{poll_id}"


#: States of a batch marker (``casts_pending.state``): its ballots are being written; its sums are in
#: ``d`` and count in the live tally until a fold adds them to the folded tally and deletes the marker;
#: the close cut it before it settled (its ballots are taken back, or repaired from the stored ballots).
CASTING, SETTLED, CUT = "casting", "settled", "cut"
#: Attempts of a live tally read when folds keep committing under it (each takes a few milliseconds;
#: the folds run about once a second).
TALLY_READ_ATTEMPTS = 10


class VotingStore(Store):
    indexes = {}  # every hot path is an _id lookup; per-poll collections get theirs in create_poll

    def change(self, collection: str, doc_id: Any, *, set: Mapping[str, Any] | None = None, **kw) -> dict:  # noqa: A002
        """:meth:`Store.change`, with a poll's count fields written as their JSON texts
        (:data:`COUNT_TEXTS`)."""
        if collection == "polls" and set:
            set = _counts_as_texts(set)
        return super().change(collection, doc_id, set=set, **kw)

    # --- polls -----------------------------------------------------------------------------------
    def create_poll(
        self, poll: dict, tally: dict, parts: dict[str, dict] | None = None, events: list | tuple = ()
    ) -> None:
        """Create the poll's ballot collection and its zeroed tally (with one zeroed part per subject for
        a rating poll), then the poll with ``events`` in its outbox (:meth:`create`, the commit point: a
        retry after a failure starts over). DuplicateKeyError if the poll exists, before anything is
        touched."""
        if self.db.polls.find_one({"_id": poll["_id"]}, projection={"_id": 1}):
            raise DuplicateKeyError(f"poll {poll['_id']} exists")
        try:
            self.db.create_collection(ballots_collection(poll["_id"]))
        except CollectionInvalid:
            pass
        # MongoDB answers a receipt query from it; FerretDB keeps it but reads by _id only, hence the
        # receipt index collection (docs/storage.md)
        self.db[ballots_collection(poll["_id"])].create_index("receipt")
        if parts is not None:
            folded = {"_id": poll["_id"], "g": 0, "s": pack_parts(parts), "f": []}
            self.db.tally_folded.replace_one({"_id": poll["_id"]}, folded, upsert=True)
        self.db.tallies.replace_one({"_id": poll["_id"]}, {**tally, "_id": poll["_id"]}, upsert=True)
        self.create("polls", poll, events=events)

    def get_poll(self, poll_id: str) -> dict | None:
        return self.db.polls.find_one({"_id": poll_id})

    def poll_header(self, poll_id: str) -> dict | None:
        """The poll without its voter list (cheaper for hot paths that do not need it)."""
        return self.db.polls.find_one({"_id": poll_id}, projection={"voters": 0})

    def open_choice_polls(self) -> list[dict]:
        """The choice polls open now, without their voter lists (the "what needs me" home: a scan of
        ``polls``, a few a session)."""
        return list(self.db.polls.find({"kind": "choice", "status": "open"}, projection={"voters": 0}))

    def is_voter(self, poll_id: str, member_id: str) -> bool:
        doc = self.db.polls.find_one({"_id": poll_id}, projection={"voters": 1})
        return bool(doc) and member_id in doc.get("voters", [])

    # --- ballots and tallies ---------------------------------------------------------------------
    # Casting (insert, count, settle, bulk loading) happens only while the poll is open, so it writes to
    # ``ballots_<poll>`` directly; everything that may run after the close reads the poll's pointer
    # (:func:`ballots_of`, one ``_id`` lookup).
    def _ballots(self, poll_id: str) -> Collection:
        return ballots_of(self.db, poll_id)

    # Group commit (issue 17): a batch of casts is a few steps, each one command whatever the batch size
    # (:func:`.polls.cast_many` calls them in this order; a crash between any two is repaired at the
    # close): the batch marker (and a read of the tally's ``open``), the receipts, the ballots, the
    # recount pack (:meth:`write_pack`), then for a rating poll ONE guarded update of the marker that
    # records the batch's sums (``settle_batch``; a fold adds them to the folded tally later), for a
    # choice poll one guarded ``$inc`` of its tally document and the marker's removal. Ballots of a
    # batch carry ``k`` (the batch id) until the close's shuffle drops it.
    def begin_batch(self, poll_id: str, ballot_ids: list[str]) -> str | None:
        """Record a batch of casts in flight (``casts_pending``: ``_id`` batch, ``poll``, ``ids``,
        ``at``, ``state`` :data:`CASTING`) before any of its ballots is written; returns the batch id
        (random: it tells nothing), or None when the tally is closed (the marker is removed again).

        The read of ``open`` after the insert is what lets the close cut every batch that could still
        settle: a batch that read ``open`` true was inserted before the close stopped the tally, so the
        close's :meth:`cut_batches` (which comes after) finds its marker."""
        batch = secrets.token_hex(8)
        self.db.casts_pending.insert_one(
            {"_id": batch, "poll": poll_id, "ids": ballot_ids, "at": now(), "state": CASTING}
        )
        if (self.db.tallies.find_one({"_id": poll_id}, projection={"open": 1}) or {}).get("open"):
            return batch
        self.db.casts_pending.delete_one({"_id": batch})
        return None

    def settle_batch(self, batch: str, incs: dict[str, dict]) -> bool:
        """A rating poll's batch is stored: one guarded update of its marker (``state`` :data:`CASTING`
        → :data:`SETTLED`, ``d`` = its sums ``{subject: $inc}`` as JSON text, :func:`pack_parts`), the
        commit point of the batch's counts. False if the close cut the marker first (the caller takes
        the ballots back)."""
        return bool(
            self.db.casts_pending.update_one(
                {"_id": batch, "state": CASTING}, {"$set": {"state": SETTLED, "d": pack_parts(incs)}}
            ).matched_count
        )

    def take_back(self, poll_id: str, ballot_ids: list[str]) -> None:
        """Remove ballots whose cast was refused after their insert (the tally closed meanwhile), from the
        open poll's collection and from the close's copy if it copied them (see shuffle_ballots)."""
        moved = self._ballots(poll_id)
        for ballot_id in ballot_ids:  # one by one: FerretDB scans for an ``_id`` ``$in`` (docs/storage.md)
            self.db[ballots_collection(poll_id)].delete_one({"_id": ballot_id})
            if moved.name != ballots_collection(poll_id):
                moved.delete_one({"_id": ballot_id})

    def insert_receipts(self, poll_id: str, receipts: dict[str, str]) -> None:
        """Index ``{receipt: ballot id}`` in ``receipts_<poll>`` (``_id`` = receipt, ``b`` = ballot id;
        two voters whose 12-character receipts collide share one entry, the second id in ``also``).
        Written before the ballots, so every stored ballot is found by its receipt; an entry whose
        ballot was refused (a second ballot, a late one) finds no ballot and answers "not found"."""
        entries = [{"_id": r, "b": b} for r, b in receipts.items()]
        _index_receipts(self.db[receipts_collection(poll_id)], entries)

    def insert_ballots(self, poll_id: str, ballots: list[dict]) -> list[bool]:
        """Insert the ballots with one ``insert_many`` in an order drawn from
        :class:`secrets.SystemRandom` (storage order does not follow arrival order, even within the
        batch); one ballot per voter is kept by the unique ``_id``. Returns, per ballot in the order
        given, whether it was inserted (False: this voter's ballot exists, or an earlier one of the batch
        had the same id)."""
        order = list(range(len(ballots)))
        secrets.SystemRandom().shuffle(order)
        failed: set[int] = set()
        try:
            self.db[ballots_collection(poll_id)].insert_many([ballots[i] for i in order], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                failed.add(order[error["index"]])
        return [i not in failed for i in range(len(ballots))]

    def count_ballots(self, poll_id: str, part: str | None, inc: dict, ballot_ids: list[str]) -> bool:
        """Add a choice poll's batch (``part`` None: its one small tally document) to the live tally with
        one guarded ``$inc`` (``inc``: their sum). If the tally closed meanwhile, take those ballots back
        (:meth:`take_back`) and return False. Rating polls settle their batch instead
        (:meth:`settle_batch`)."""
        if part is not None:
            raise ValueError("a rating poll's batch is settled, not $inc-ed (settle_batch)")
        if self.db.tallies.update_one({"_id": poll_id, "open": True}, {"$inc": inc}).matched_count:
            return True
        self.take_back(poll_id, ballot_ids)
        return False

    # --- recount packs (issue 17 item 3; docs/storage.md "recount") --------------------------------
    def write_pack(self, poll_id: str, batch: str, ballots: list[dict]) -> None:
        """Record the recount pack of a batch (``ballots``: the documents it just stored; ``_id`` = the
        batch id). One insert; nothing for an empty batch; a pack that exists (the same batch again) is
        left as it is: a duplicate key means it was written."""
        if not ballots:
            return
        try:
            self.db[packs_collection(poll_id)].insert_one(pack_doc(batch, ballots))
        except DuplicateKeyError:
            pass

    def drop_pack(self, poll_id: str, batch: str) -> None:
        """A batch's ballots were taken back (the tally closed under it): its pack goes too. If a crash
        leaves it, the pack recount holds more ballots than are stored and counts every ballot instead
        (and the close writes the packs again from its copy)."""
        self.db[packs_collection(poll_id)].delete_one({"_id": batch})

    def recount_packs(self, poll_id: str, fields: list[str]) -> Iterator[dict]:
        """What a recount reads, without decoding every ballot: every recount pack (:func:`.tally.pack_of`)
        except those of batches still marked in flight, then one pack made of those batches' ballots
        themselves (read by ``_id`` with ``fields``, as :meth:`pending_ballots` does). The caller checks
        that they held as many ballots as are stored (:meth:`stored_count`) before trusting them."""
        in_flight = self.open_batches(poll_id)
        skip = {m["_id"] for m in in_flight}
        coll = self._ballots(poll_id)
        for pack in self.db[companion(coll.name, "packs")].find({}, batch_size=50):
            if pack["_id"] not in skip:
                yield json.loads(pack["e"])
        projection = {f: 1 for f in [*fields, "k"]}
        loose = []
        for marker in in_flight:
            for ballot_id in marker.get("ids", []):
                doc = coll.find_one({"_id": ballot_id}, projection=projection)
                if doc is not None and doc.get("k") == marker["_id"]:
                    loose.append(doc)
        if loose:
            yield pack_of(loose)

    def stored_count(self, poll_id: str) -> int:
        """How many ballots the poll's collection holds, from the server's collection statistics
        (``collStats``: SQLite's row count under FerretDB, where ``count`` decodes every document;
        WiredTiger's record count under MongoDB). -1 when the collection went away under it (FerretDB
        fails ``collStats`` on a collection being dropped: a concurrent close switching to its shuffled
        copy), so that the recount counts every ballot instead."""
        try:
            return int(self.db.command("collStats", self._ballots(poll_id).name).get("count", 0))
        except OperationFailure:
            return -1

    def end_batch(self, batch: str) -> None:
        """A choice poll's batch is counted, or a batch was refused: drop its marker."""
        self.db.casts_pending.delete_one({"_id": batch})

    def open_batches(self, poll_id: str) -> list[dict]:
        """Markers of the poll's batches still in flight, cut by the close, or cut short by a crash: all
        but the settled ones (``casts_pending`` holds only batches in flight and settled batches not yet
        folded: a scan of a small collection)."""
        return list(self.db.casts_pending.find({"poll": poll_id, "state": {"$ne": SETTLED}}))

    def cut_batches(self, poll_id: str) -> int:
        """The close, after the tally stopped: every marker of the poll still :data:`CASTING` becomes
        :data:`CUT` (one guarded update each), so that none can settle any more; returns how many."""
        cut = 0
        for marker in self.db.casts_pending.find({"poll": poll_id, "state": CASTING}, projection={"_id": 1}):
            cut += self.db.casts_pending.update_one(
                {"_id": marker["_id"], "state": CASTING}, {"$set": {"state": CUT}}
            ).matched_count
        return cut

    # --- the fold: settled batches into the folded tally (:func:`.polls.fold`) --------------------
    def settled_batches(self, poll_id: str | None = None) -> list[dict]:
        """Settled markers not yet deleted by a fold (of one poll, or of every poll): a scan of the small
        ``casts_pending``, with ``d`` decoded to ``{subject: $inc}``. Their ``d`` counts in the live
        tally unless the poll's folded tally lists them in ``f`` (folded, deletion pending)."""
        query: dict = {"state": SETTLED}
        if poll_id is not None:
            query["poll"] = poll_id
        found = list(self.db.casts_pending.find(query, projection={"ids": 0}))
        for marker in found:
            marker["d"] = unpack_parts(marker.get("d") or "{}")
        return found

    def folded_tally(self, poll_id: str) -> dict:
        """A rating poll's folded tally ``{"g": generation, "s": {subject: counts}, "f": [batch ids
        folded by the last fold]}`` (``tally_folded``, one document per poll). A poll opened before the
        fold had one document per subject in ``tally_<poll>``: its folded tally is made from them once
        (the unique ``_id`` keeps one)."""
        doc = self.db.tally_folded.find_one({"_id": poll_id})
        if doc is None:
            parts = {}
            for part in self.db[parts_collection(poll_id)].find({}, projection={"open": 0}):
                parts[part.pop("_id")] = part
            doc = {"_id": poll_id, "g": 0, "s": pack_parts(parts), "f": []}
            try:
                self.db.tally_folded.insert_one(dict(doc))
            except DuplicateKeyError:
                doc = self.db.tally_folded.find_one({"_id": poll_id})
        return {"g": doc["g"], "s": unpack_parts(doc["s"]), "f": list(doc.get("f", []))}

    def write_folded(self, poll_id: str, generation: int, parts: dict[str, dict], folded: list[str]) -> bool:
        """The commit point of a fold: one guarded update of the folded tally from ``generation`` to
        ``generation + 1`` with the new counts and ``f`` = the batches it folded. False if another fold
        committed first (nothing is written then)."""
        return bool(
            self.db.tally_folded.update_one(
                {"_id": poll_id, "g": generation},
                {"$set": {"g": generation + 1, "s": pack_parts(parts), "f": folded}},
            ).matched_count
        )

    def drop_batches(self, batches: list[str]) -> None:
        """Delete folded markers (one ``delete_many`` by ``_id`` over the small ``casts_pending``)."""
        if batches:
            self.db.casts_pending.delete_many({"_id": {"$in": list(batches)}})

    def settle_ballots(self, poll_id: str, ballot_ids: list[str]) -> None:
        """After the close's repair: drop the ``pending`` mark of ballots cast before group commit (found
        at a recount, wherever the poll's ballots are) and the poll's batch markers that were not settled
        (settled ones are the fold's to delete)."""
        coll = self._ballots(poll_id)
        for ballot_id in ballot_ids:
            coll.update_one({"_id": ballot_id, "pending": True}, {"$unset": {"pending": ""}})
        self.db.casts_pending.delete_many({"poll": poll_id, "state": {"$ne": SETTLED}})

    def pending_ballots(self, poll_id: str) -> list[dict]:
        """The ballots whose tally update may be missing: those of batches still marked in flight (each
        with ``_batch``, its batch id: a batch's part is counted all at once or not at all) and, from
        before group commit, those still marked ``pending`` (a scan; used when a poll closes)."""
        coll = self._ballots(poll_id)
        found = []
        for marker in self.open_batches(poll_id):
            for ballot_id in marker.get("ids", []):
                doc = coll.find_one({"_id": ballot_id})
                if doc is not None and doc.get("k") == marker["_id"]:
                    found.append({**doc, "_batch": marker["_id"]})
        return found + list(coll.find({"pending": True}))

    def add_to_tally(self, poll_id: str, incs: dict[str | None, dict]) -> None:
        """Add to the live tally, unguarded: ``None`` (a choice poll's tally document) by ``$inc``; the
        subjects of a rating poll with one insert of a settled marker carrying their sums (``d``), which
        counts at once and is folded like a cast batch's."""
        if None in incs:
            self.db.tallies.update_one({"_id": poll_id}, {"$inc": incs[None]})
        rating = {part: inc for part, inc in incs.items() if part is not None}
        if rating:
            self.db.casts_pending.insert_one(
                {
                    "_id": secrets.token_hex(8),
                    "poll": poll_id,
                    "ids": [],
                    "at": now(),
                    "state": SETTLED,
                    "d": pack_parts(rating),
                }
            )

    def bulk_ballots(self, poll_id: str, ballots: list[dict], incs: dict[str | None, dict]) -> None:
        """Demo and benchmark loading: many ballots in one insert, then their sums in one write
        (:meth:`add_to_tally`; ``incs``: part → ``$inc``; ``None`` is the poll's own tally document)."""
        if not ballots:
            return
        coll = self.db[ballots_collection(poll_id)]
        try:
            coll.insert_many(ballots, ordered=False)
        except BulkWriteError as exc:  # someone had voted: take back what went in, count nothing
            failed = {e["index"] for e in exc.details.get("writeErrors", [])}
            coll.delete_many({"_id": {"$in": [b["_id"] for i, b in enumerate(ballots) if i not in failed]}})
            raise
        self.add_to_tally(poll_id, incs)
        for i in range(0, len(ballots), PACK_MAX):  # as casting leaves them
            self.write_pack(poll_id, secrets.token_hex(8), ballots[i : i + PACK_MAX])

    def close_tally(self, poll_id: str) -> None:
        """Stop counting: ``open`` false on the poll's tally document (a choice poll's ``$inc`` and every
        :meth:`begin_batch` check it; the close then cuts the batches in flight, :meth:`cut_batches`)."""
        self.db.tallies.update_one({"_id": poll_id}, {"$set": {"open": False}})

    def get_tally(self, poll_id: str) -> dict:
        """The live tally: choice ``{open, n, o0…}``; rating ``{open, parts, n, s: {subject: counts}}``
        with ``n`` the sum over the subjects ({} for an unknown poll).

        A rating poll's counts are its folded tally plus the sums ``d`` of its settled batches that the
        folded tally does not list as folded (``f``). Consistent under a concurrent fold: the folded
        tally's generation is read again after the markers and the read is taken again if a fold
        committed meanwhile (that fold may have deleted markers it had just folded, which the first
        read does not count). ServiceUnavailable after :data:`TALLY_READ_ATTEMPTS` such reads."""
        doc = self.db.tallies.find_one({"_id": poll_id}) or {}
        if not doc.get("parts"):
            return doc
        for _ in range(TALLY_READ_ATTEMPTS):
            folded = self.folded_tally(poll_id)
            batches = self.settled_batches(poll_id)
            again = self.db.tally_folded.find_one({"_id": poll_id}, projection={"g": 1}) or {}
            if again.get("g") == folded["g"]:
                done = set(folded["f"])
                parts = add_deltas(folded["s"], [b for b in batches if b["_id"] not in done])
                doc["s"] = parts
                doc["n"] = sum(int(p.get("n", 0)) for p in parts.values())
                return doc
        raise ServiceUnavailable(
            "the live tally kept changing: try again / 实时计票正在更新，请重试", details={"poll_id": poll_id}
        )

    def get_ballot(self, poll_id: str, ballot_id: str) -> dict | None:
        return self._ballots(poll_id).find_one({"_id": ballot_id})

    def iter_ballots(self, poll_id: str, fields: list[str]) -> Iterator[dict]:
        """Every ballot of a poll, only ``fields`` (a full read of this poll's collection; ``_id`` only
        when asked for)."""
        projection = {f: 1 for f in fields}
        projection.setdefault("_id", 0)
        return self._ballots(poll_id).find({}, projection=projection, batch_size=5000)

    def find_receipt(self, poll_id: str, receipt: str) -> dict | None:
        """The ballot carrying ``receipt``: one ``_id`` lookup in the receipt index (``receipts_…``, next
        to wherever the ballots are), then one per ballot id it names; None if there is none."""
        coll = self._ballots(poll_id)
        entry = self.db[companion(coll.name, "receipts")].find_one({"_id": receipt})
        for ballot_id in [entry["b"], *entry.get("also", [])] if entry else []:
            doc = coll.find_one({"_id": ballot_id})
            if doc is not None and doc.get("receipt") == receipt:
                return doc
        return None

    def ballot_page(self, poll: dict, skip: int, limit: int) -> tuple[list[dict], int]:
        """A page of the closed ``poll``'s (its document, as the caller read it) published ballot list,
        ordered by receipt: the entries
        ``skip`` … ``skip + limit`` read from the list the close wrote (``list_…``, chunks of
        :data:`LIST_CHUNK` entries keyed by their position; ``limit`` ≤ 500 reads at most two chunks).
        Entries ``{receipt, choice | subject, stars}``; the total is the close's ballot count. Until the
        close's shuffle has committed (a close cut short, finished by the next one) the page is sorted by
        the server from the original ballots instead."""
        poll_id = poll["_id"]
        if not poll.get("shuffled"):  # a close cut before its shuffle committed: the server
            coll = self.db[ballots_collection(poll_id)]  # sorts (MongoDB by the receipt index; FerretDB
            cursor = coll.find({}, projection={"_id": 0, "voter": 0, "day": 0, "k": 0})  # scans)
            return list(cursor.sort("receipt", 1).skip(skip).limit(limit)), coll.count_documents({})
        listing = self.db[companion(poll["ballot_collection"], "list")]
        total = int(poll["shuffled"].get("listed", poll["shuffled"]["n"]))
        entries: list[dict] = []
        last = min(total, skip + limit)
        for chunk in range(skip // LIST_CHUNK, -(-last // LIST_CHUNK)):
            doc = listing.find_one({"_id": chunk_id(chunk)}) or {"e": []}
            entries += doc["e"]
        offset = skip - (skip // LIST_CHUNK) * LIST_CHUNK
        return entries[offset : offset + max(0, last - skip)], total

    def opinions(self, poll_id: str, subject: str | None) -> list[dict]:
        """The opinions left in a poll (optionally for one subject), newest day first (while the poll is
        open; the close removes the day, then by receipt)."""
        query: dict = {"opinion": {"$type": "string"}}
        if subject:
            query["subject"] = subject
        docs = self._ballots(poll_id).find(
            query, projection={"_id": 0, "subject": 1, "opinion": 1, "day": 1, "receipt": 1}
        )
        return sorted(docs, key=lambda d: (d.get("day", ""), d["receipt"]), reverse=True)

    # --- ballot secrecy at rest: the close's shuffle ----------------------------------------------
    def shuffle_ballots(self, poll_id: str, count: Count | None = None) -> dict:
        """Make the natural (storage) order of a closed poll's ballots unrelated to the order of casting
        (issue 12, item 8): copy them, in an order drawn from :class:`secrets.SystemRandom` and without
        their ``day``, into a fresh ``ballots_<poll>_<random hex>``, point the poll at it, drop the
        original. Idempotent and safe to repeat after a crash at any point; returns the poll's
        ``shuffled`` record ``{"at", "n", "pending", "checked"[, "counted"]}``.

        ``count`` (the full recount pass's counting function) is applied to every ballot the copy writes,
        as it writes it: ``counted`` is what the copied ballots themselves add up to, with no second
        read (and again, from the copy, if a late ballot is dropped from it after the commit). The copy
        also writes the recount packs of the copied ballots (``packs_…`` beside it, :data:`PACK_MAX`
        each in the shuffled order); the open poll's packs are dropped with the original.

        The commit point is one guarded update of the poll (``ballot_collection`` and ``shuffled`` set
        only if no copy was committed before), so readers (:func:`ballots_of`) always find a complete
        collection: the original until then, the copy after. Every copy is first recorded in
        ``shuffle_attempts``; whatever was not committed (a crash mid-copy, a concurrent close that lost)
        is dropped by the next call. A late cast refused by the closed tally deletes its ballot from the
        original and the copy (:meth:`count_ballot`); for one deleted between the copy and the commit,
        the copied ``pending`` ballots are checked against the original before it is dropped
        (``checked``). Memory: at most :data:`SHUFFLE_MEMORY_BALLOTS` ballots at once; a larger poll is
        read in several passes, each keeping the ballots a fresh random key assigns to it."""
        original = ballots_collection(poll_id)
        for _ in range(SHUFFLE_ATTEMPTS):
            poll = self.db.polls.find_one({"_id": poll_id}, projection={"voters": 0}) or {}
            if poll.get("status") != "closed":
                raise ValueError(f"poll {poll_id} is not closed")
            if poll.get("shuffled"):
                return self._finish_shuffle(poll, count)
            target = f"{original}_{secrets.token_hex(8)}"
            self.db.polls.update_one({"_id": poll_id}, {"$push": {"shuffle_attempts": target}})
            copied, counted = self._copy_shuffled(self.db[original], self.db[target], count)
            pending = self._pending_in_copy(poll_id, self.db[target])
            if copied != self.db[original].count_documents({}) or copied != self.db[target].count_documents(
                {}
            ):
                self._drop_copy(target)  # the ballots changed under the copy: start again
                continue
            record = {"at": now(), "n": copied, "pending": pending, "checked": False}
            if count is not None:
                record["counted"] = counts_text(counted)
            committed = self.db.polls.find_one_and_update(
                {"_id": poll_id, "shuffled": {"$exists": False}},
                {"$set": {"ballot_collection": target, "shuffled": record}},
                return_document=ReturnDocument.AFTER,
            )
            if committed is None:  # another close committed its copy first
                self._drop_copy(target)
                continue
            return self._finish_shuffle(committed, count)
        raise ServiceUnavailable(
            "the ballots kept changing during the close: try again / 选票在结束时仍在变化，请重试",
            details={"poll_id": poll_id},
        )

    def _drop_copy(self, name: str) -> None:
        """Drop a ballot collection and its receipt index, published list and recount packs."""
        for coll in (name, *(companion(name, kind) for kind in ("receipts", "list", "packs"))):
            self.db.drop_collection(coll)

    @staticmethod
    def _passes(total: int) -> tuple[int, Callable[[dict], int]]:
        """How many passes hold at most :data:`SHUFFLE_MEMORY_BALLOTS` ballots each, and which pass a
        ballot belongs to: by receipt range (receipts are keyed hashes, spread evenly and unrelated to
        the casting order), so that the passes in turn give the receipt order of the published list."""
        passes = max(1, -(-total // SHUFFLE_MEMORY_BALLOTS))
        return passes, lambda doc: int(doc["receipt"][:8], 16) * passes >> 32

    def _copy_shuffled(
        self, source: Collection, target: Collection, count: Count | None = None
    ) -> tuple[int, dict | None]:
        """Insert every ballot of ``source`` into ``target`` in a random order, without ``day`` and ``k``;
        write its receipt index (``receipts_…``, in the same random order), its recount packs
        (``packs_…``, :data:`PACK_MAX` ballots each in the same random order: the open poll's packs
        follow the casting order) and its published list (``list_…``, by receipt) on the way. Returns
        how many ballots were copied and what ``count`` made of them (None without ``count``)."""
        self._drop_copy(target.name)
        target.create_index("receipt")  # MongoDB reads by it; FerretDB keeps it (docs/storage.md)
        receipts = self.db[companion(target.name, "receipts")]
        packs = self.db[companion(target.name, "packs")]
        listing = _ListWriter(self.db[companion(target.name, "list")])
        rng = secrets.SystemRandom()
        passes, share = self._passes(source.count_documents({}))
        copied = 0

        def copy() -> Iterator[dict]:  # yields each ballot once it is written
            nonlocal copied
            for part in range(passes):
                docs = [
                    d
                    for d in source.find({}, projection={"day": 0, "k": 0}, batch_size=5000)
                    if passes == 1 or share(d) == part
                ]
                listing.add(sorted(docs, key=lambda d: d["receipt"]))
                rng.shuffle(docs)
                for i in range(0, len(docs), SHUFFLE_BATCH):
                    batch = docs[i : i + SHUFFLE_BATCH]
                    target.insert_many(batch, ordered=True)
                    _index_receipts(receipts, [{"_id": d["receipt"], "b": d["_id"]} for d in batch])
                for i in range(0, len(docs), PACK_MAX):
                    packs.insert_one(pack_doc(f"{part:04d}{i:08d}", docs[i : i + PACK_MAX]))
                copied += len(docs)
                yield from docs

        written = copy()
        counted = count(written) if count is not None else None
        for _ in written:  # whatever ``count`` left unread is copied all the same
            pass
        listing.close()
        return copied, counted

    def _pending_in_copy(self, poll_id: str, target: Collection) -> list[str]:
        """Ids of copied ballots whose cast may still be refused and taken back: those of batches still
        marked in flight, and ballots from before group commit still marked ``pending``."""
        ids = [b for m in self.open_batches(poll_id) for b in m.get("ids", [])]
        found = [b for b in ids if target.find_one({"_id": b}, projection={"_id": 1}) is not None]
        return found + [d["_id"] for d in target.find({"pending": True}, projection={"_id": 1})]

    def _finish_shuffle(self, poll: dict, count: Count | None = None) -> dict:
        """After the commit: drop copied ballots that a refused late cast deleted from the original
        meanwhile (and write the published list, the packs and ``counted`` again if there was one),
        then drop the original, its packs and every unfinished copy."""
        poll_id, current, record = poll["_id"], poll["ballot_collection"], poll["shuffled"]
        original = self.db[ballots_collection(poll_id)]
        if not record.get("checked"):
            gone = [
                b
                for b in record.get("pending", [])
                if original.find_one({"_id": b}, projection={"_id": 1}) is None
                and self.db[current].delete_one({"_id": b}).deleted_count
            ]
            changes: dict = {"shuffled.checked": True}
            if gone:  # rare: a late ballot refused after the copy
                listed, counted = self._rewrite_list(self.db[current], count)
                changes["shuffled.listed"] = listed
                if count is not None:
                    changes["shuffled.counted"] = counts_text(counted)
            self.db.polls.update_one({"_id": poll_id}, {"$set": changes})
            record = {**record, "checked": True}
            if gone:
                record["listed"] = changes["shuffled.listed"]
                if count is not None:
                    record["counted"] = changes["shuffled.counted"]
        for name in {original.name, *poll.get("shuffle_attempts", [])} - {current}:
            self._drop_copy(name)
        self.db.drop_collection(receipts_collection(poll_id))
        self.db.drop_collection(packs_collection(poll_id))
        return record

    def _rewrite_list(self, ballots: Collection, count: Count | None = None) -> tuple[int, dict | None]:
        """Write a closed poll's published list and recount packs again from its ballots (by receipt
        range, in passes; the packs in the ballots' stored, shuffled order); returns the number of list
        entries and what ``count`` made of the ballots (None without it)."""
        listing = _ListWriter(self.db[companion(ballots.name, "list")])
        listing.coll.drop()
        packs = self.db[companion(ballots.name, "packs")]
        packs.drop()
        passes, share = self._passes(ballots.count_documents({}))

        def read() -> Iterator[dict]:
            for part in range(passes):
                docs = [d for d in ballots.find({}, batch_size=5000) if passes == 1 or share(d) == part]
                for i in range(0, len(docs), PACK_MAX):
                    packs.insert_one(pack_doc(f"{part:04d}{i:08d}", docs[i : i + PACK_MAX]))
                listing.add(sorted(docs, key=lambda d: d["receipt"]))
                yield from docs

        written = read()
        counted = count(written) if count is not None else None
        for _ in written:
            pass
        return listing.close(), counted

    # --- campaigns (changed through Store.change/create: campaigns.py) -----------------------------
    def get_campaign(self, campaign_id: str) -> dict | None:
        return self.db.campaigns.find_one({"_id": campaign_id})

    def all_campaigns(self) -> list[dict]:
        """Every campaign without results (a federation runs a few a year: a small scan)."""
        return list(self.db.campaigns.find({}, projection={"results": 0}))

    # --- follow-up markers: publications whose star levels may still be due -----------------------
    def add_follow_up(self, campaign_id: str, at: datetime) -> str:
        """Written just before a publication commits (campaigns.py); returns the marker's id."""
        marker = f"star_levels:{campaign_id}:{secrets.token_hex(6)}"
        self.db.followups.insert_one({"_id": marker, "campaign_id": campaign_id, "at": at})
        return marker

    def follow_ups(self) -> list[dict]:
        """Every marker (a small collection: only publications in flight)."""
        return list(self.db.followups.find({}))

    def drop_follow_up(self, marker: str) -> None:
        self.db.followups.delete_one({"_id": marker})


def pack_parts(parts: dict[str, dict[str, int]]) -> str:
    """A folded tally's counts ``{subject: {n, op, c0…, h1…}}`` as the JSON text stored in ``s``: one
    string field, because FerretDB decodes and re-encodes every field of a document on each read and
    write (1,000 homes × 13 counters as subdocuments: ~60 ms a read or a write; as one string ~2 ms,
    docs/storage.md). A subject id is a JSON string there, never a key of the stored document."""
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def unpack_parts(text: str) -> dict[str, dict[str, int]]:
    """The counts of :func:`pack_parts`."""
    return json.loads(text)


def _index_receipts(coll: Collection, entries: list[dict]) -> None:
    """Insert receipt index entries ``{_id: receipt, b: ballot id}``; an entry that exists for another
    ballot (two voters' receipts collide) gets this ballot's id in ``also``; the same entry again (a
    second cast of one voter) is left as it is."""
    if not entries:
        return
    try:
        coll.insert_many(entries, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") != 11000:
                raise
            entry = entries[error["index"]]
            stored = coll.find_one({"_id": entry["_id"]}) or {}
            if stored.get("b") != entry["b"] and entry["b"] not in stored.get("also", []):
                coll.update_one({"_id": entry["_id"]}, {"$push": {"also": entry["b"]}})


def chunk_id(position: int) -> str:
    """The ``_id`` of a published list's chunk: its position as 8 digits. A string, because FerretDB
    answered an integer ``_id`` equality with a scan (69 ms against 0.7 ms for a string among 300
    documents of 20 KB, docs/storage.md)."""
    return f"{position:08d}"


class _ListWriter:
    """Writes a published ballot list: entries in receipt order, :data:`LIST_CHUNK` per document,
    ``_id`` = the chunk's position (:func:`chunk_id`), so a page is one or two ``_id`` lookups."""

    def __init__(self, coll: Collection):
        self.coll, self.buffer, self.chunks, self.n = coll, [], 0, 0

    def add(self, ballots: list[dict]) -> None:
        for d in ballots:
            entry = {"receipt": d["receipt"]}
            for key in ("choice", "subject", "stars"):
                if key in d:
                    entry[key] = d[key]
            self.buffer.append(entry)
            if len(self.buffer) == LIST_CHUNK:
                self._flush()

    def _flush(self) -> None:
        if self.buffer:
            self.coll.insert_one({"_id": chunk_id(self.chunks), "e": self.buffer})
            self.chunks, self.n, self.buffer = self.chunks + 1, self.n + len(self.buffer), []

    def close(self) -> int:
        """Write what is left; returns the number of entries written."""
        self._flush()
        return self.n
