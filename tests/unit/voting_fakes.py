"""Hand-written fakes for the voting service's use cases (cosmicpython style): an in-memory
:class:`FakeVotingStore` with the methods of :class:`services.voting.store.VotingStore` on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``change``/``create`` contract of :mod:`dmlib.state`), fake
ballot keys, a fake members service, a settable clock, and :func:`ports` to put them together."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta

from pymongo.errors import BulkWriteError, DuplicateKeyError

from dmlib.errors import NotFound, ServiceUnavailable
from services.voting import tally as t
from services.voting.polls import Ports
from services.voting.providers import OpenDocCache
from tests.unit.fake_store import FakeStore

KEY = b"unit-test-voting-key"


class Crash(Exception):
    """What a simulated crash raises (the process dies before a write)."""


class FakeVotingStore(FakeStore):
    """In memory (on the shared :class:`tests.unit.fake_store.FakeStore`): ``docs[collection][id]``,
    ``ballots[poll]`` (insertion-ordered dicts), ``tallies[poll]`` (choice: one document with the
    counts; rating: ``{"open", "parts"}``), ``folded[poll]`` (a rating poll's folded tally ``{"g", "s":
    {subject: counts}, "f"}``), ``followups``, ``packs[poll]`` (recount packs by batch id). ``events`` lists every committed event ``(type, body)`` in
    commit order; ``casts_pending`` the batch markers; ``fail_on`` makes a method raise
    ServiceUnavailable once (an outage); ``writes_left`` (an int) lets that many writes of the ballot
    path, the fold and the close happen, then raises :class:`Crash` at the next (a crash at that write);
    ``steps`` names each of those writes in order."""

    service = "voting"

    def __init__(self):
        super().__init__()
        self.docs = self.collections
        self.col("polls")
        self.col("campaigns")
        self.ballots: dict[str, dict[str, dict]] = {}
        self.tallies: dict[str, dict] = {}
        self.followups: dict[str, dict] = {}
        self.casts_pending: dict[str, dict] = {}
        self.folded: dict[str, dict] = {}
        self.packs: dict[str, dict[str, dict]] = {}  # poll -> pack id -> pack (tally.pack_of)
        self.shuffled: set[str] = set()
        self.fail_on: set[str] = set()
        self.writes_left: int | None = None
        self.steps: list[str] = []

    def _write(self, name: str) -> None:
        self._maybe_fail(name)
        if self.writes_left is not None:
            if self.writes_left <= 0:
                raise Crash(f"crash before {name}")
            self.writes_left -= 1
        self.steps.append(name)

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail_on:
            self.fail_on.discard(name)
            raise ServiceUnavailable(f"fake outage in {name}")

    def _attempt(self, op: str, collection: str) -> None:
        self._maybe_fail(op)
        self._write(f"{op} {collection}")

    def event_types(self) -> list[str]:
        return [kind for kind, _ in self.events]

    # --- polls -----------------------------------------------------------------------------------
    def create_poll(self, poll, tally, parts=None, events=()):
        if poll["_id"] in self.docs["polls"]:
            raise DuplicateKeyError(f"poll {poll['_id']} exists")
        self.ballots.setdefault(poll["_id"], {})
        self.tallies[poll["_id"]] = dict(tally)
        if parts is not None:
            self.folded[poll["_id"]] = {"g": 0, "s": copy.deepcopy(parts), "f": []}
        self.create("polls", poll, events=events)

    def get_poll(self, poll_id):
        return copy.deepcopy(self.docs["polls"].get(poll_id))

    def poll_header(self, poll_id):
        doc = self.get_poll(poll_id)
        if doc is not None:
            doc.pop("voters", None)
        return doc

    def open_choice_polls(self):
        return [
            {k: v for k, v in copy.deepcopy(d).items() if k != "voters"}
            for d in self.docs["polls"].values()
            if d["kind"] == "choice" and d["status"] == "open"
        ]

    def is_voter(self, poll_id, member_id):
        return member_id in (self.docs["polls"].get(poll_id) or {}).get("voters", [])

    # --- ballots and tallies ---------------------------------------------------------------------
    def begin_batch(self, poll_id, ballot_ids):
        self._write("begin_batch")
        batch = f"batch{len(self.casts_pending)}:{len(self.events)}:{random.random()}"
        self.casts_pending[batch] = {
            "_id": batch,
            "poll": poll_id,
            "ids": list(ballot_ids),
            "state": "casting",
        }
        if self.tallies[poll_id].get("open"):
            return batch
        del self.casts_pending[batch]
        return None

    def settle_batch(self, batch, incs):
        self._write("settle_batch")
        marker = self.casts_pending.get(batch)
        if marker is None or marker["state"] != "casting":
            return False
        marker.update(state="settled", d=copy.deepcopy(incs))
        return True

    def take_back(self, poll_id, ballot_ids):
        for b in ballot_ids:
            self.ballots[poll_id].pop(b, None)

    def insert_receipts(self, poll_id, receipts):
        self._write("insert_receipts")

    def insert_ballots(self, poll_id, ballots):
        self._write("insert_ballots")
        coll = self.ballots.setdefault(poll_id, {})
        order = list(range(len(ballots)))
        random.shuffle(order)  # as the store: storage order does not follow arrival order
        inserted = [False] * len(ballots)
        for i in order:
            if ballots[i]["_id"] not in coll:
                coll[ballots[i]["_id"]] = copy.deepcopy(ballots[i])
                inserted[i] = True
        return inserted

    def count_ballots(self, poll_id, part, inc, ballot_ids):
        self._write("count_ballots")
        assert part is None, "rating polls settle their batches"
        tally = self.tallies[poll_id]
        if not tally.get("open"):
            self.take_back(poll_id, ballot_ids)
            return False
        for k, v in inc.items():
            tally[k] = tally.get(k, 0) + v
        return True

    def write_pack(self, poll_id, batch, ballots):
        self._write("write_pack")
        if ballots:
            self.packs.setdefault(poll_id, {}).setdefault(batch, t.pack_of(copy.deepcopy(ballots)))

    def drop_pack(self, poll_id, batch):
        self._write("drop_pack")
        self.packs.get(poll_id, {}).pop(batch, None)

    def recount_packs(self, poll_id, fields):
        in_flight = self.open_batches(poll_id)
        skip = {m["_id"] for m in in_flight}
        for pack_id, pack in list(self.packs.get(poll_id, {}).items()):
            if pack_id not in skip:
                yield copy.deepcopy(pack)
        coll = self.ballots.get(poll_id, {})
        loose = [coll[b] for m in in_flight for b in m["ids"] if b in coll and coll[b].get("k") == m["_id"]]
        if loose:
            yield t.pack_of(loose)

    def stored_count(self, poll_id):
        return len(self.ballots.get(poll_id, {}))

    def end_batch(self, batch):
        self._write("end_batch")
        self.casts_pending.pop(batch, None)

    def open_batches(self, poll_id):
        return [
            copy.deepcopy(m)
            for m in self.casts_pending.values()
            if m["poll"] == poll_id and m.get("state") != "settled"
        ]

    def cut_batches(self, poll_id):
        cut = 0
        for m in list(self.casts_pending.values()):
            if m["poll"] == poll_id and m.get("state") == "casting":
                self._write("cut_batches")
                m["state"] = "cut"
                cut += 1
        return cut

    def settled_batches(self, poll_id=None):
        return [
            copy.deepcopy(m)
            for m in self.casts_pending.values()
            if m.get("state") == "settled" and poll_id in (None, m["poll"])
        ]

    def folded_tally(self, poll_id):
        self._maybe_fail("folded_tally")
        return copy.deepcopy(self.folded[poll_id])

    def write_folded(self, poll_id, generation, parts, folded):
        self._write("write_folded")
        if self.folded[poll_id]["g"] != generation:
            return False
        self.folded[poll_id] = {"g": generation + 1, "s": copy.deepcopy(parts), "f": list(folded)}
        return True

    def drop_batches(self, batches):
        self._write("drop_batches")
        for b in batches:
            self.casts_pending.pop(b, None)

    def settle_ballots(self, poll_id, ballot_ids):
        self._write("settle_ballots")
        for b in ballot_ids:
            self.ballots[poll_id][b].pop("pending", None)
        for batch in [k for k, m in self.open_batches_items(poll_id)]:
            del self.casts_pending[batch]

    def open_batches_items(self, poll_id):
        return [
            (k, m)
            for k, m in self.casts_pending.items()
            if m["poll"] == poll_id and m.get("state") != "settled"
        ]

    def pending_ballots(self, poll_id):
        coll = self.ballots[poll_id]
        found = [
            {**copy.deepcopy(coll[b]), "_batch": m["_id"]}
            for m in self.open_batches(poll_id)
            for b in m["ids"]
            if b in coll and coll[b].get("k") == m["_id"]
        ]
        return found + [copy.deepcopy(b) for b in coll.values() if b.get("pending")]

    def add_to_tally(self, poll_id, incs):
        self._write("add_to_tally")
        for k, v in incs.get(None, {}).items():
            self.tallies[poll_id][k] = self.tallies[poll_id].get(k, 0) + v
        rating = {part: inc for part, inc in incs.items() if part is not None}
        if rating:
            marker = f"added{len(self.casts_pending)}:{random.random()}"
            self.casts_pending[marker] = {
                "_id": marker,
                "poll": poll_id,
                "ids": [],
                "state": "settled",
                "d": copy.deepcopy(rating),
            }

    def bulk_ballots(self, poll_id, ballots, incs):
        coll = self.ballots.setdefault(poll_id, {})
        if any(b["_id"] in coll for b in ballots):
            raise BulkWriteError({"writeErrors": []})
        for b in ballots:
            coll[b["_id"]] = copy.deepcopy(b)
        self.add_to_tally(poll_id, incs)
        self.write_pack(poll_id, f"bulk{random.random()}", ballots)

    def close_tally(self, poll_id):
        self._write("close_tally")
        self.tallies[poll_id]["open"] = False

    def get_tally(self, poll_id):
        tally = copy.deepcopy(self.tallies.get(poll_id, {}))
        if tally.get("parts"):
            folded = self.folded[poll_id]
            unfolded = [b for b in self.settled_batches(poll_id) if b["_id"] not in folded["f"]]
            tally["s"] = t.add_deltas(folded["s"], unfolded)
            tally["n"] = sum(p.get("n", 0) for p in tally["s"].values())
        return tally

    def get_ballot(self, poll_id, ballot_id):
        return copy.deepcopy(self.ballots.get(poll_id, {}).get(ballot_id))

    def iter_ballots(self, poll_id, fields):
        for b in list(self.ballots.get(poll_id, {}).values()):
            yield {f: b[f] for f in fields if f in b}

    def find_receipt(self, poll_id, receipt):
        return next(
            (copy.deepcopy(b) for b in self.ballots.get(poll_id, {}).values() if b["receipt"] == receipt),
            None,
        )

    def ballot_page(self, poll, skip, limit):
        docs = sorted(
            (
                {k: v for k, v in b.items() if k not in ("_id", "voter")}
                for b in self.ballots[poll["_id"]].values()
            ),
            key=lambda d: d["receipt"],
        )
        return docs[skip : skip + limit], len(docs)

    def opinions(self, poll_id, subject):
        docs = [
            {k: b.get(k) for k in ("subject", "opinion", "day", "receipt") if k in b}
            for b in self.ballots.get(poll_id, {}).values()
            if isinstance(b.get("opinion"), str) and (not subject or b["subject"] == subject)
        ]
        return sorted(docs, key=lambda d: (d.get("day", ""), d["receipt"]), reverse=True)

    def shuffle_ballots(self, poll_id, count=None):
        self._write("shuffle_ballots")
        poll = self.docs["polls"][poll_id]
        if poll["status"] != "closed":
            raise ValueError(f"poll {poll_id} is not closed")
        if poll_id not in self.shuffled:
            items = [
                (k, {f: v for f, v in b.items() if f not in ("day", "k")})
                for k, b in self.ballots[poll_id].items()
            ]
            random.shuffle(items)
            self.ballots[poll_id] = dict(items)
            # the open poll's packs follow the casting order: written again from the shuffled copy
            self.packs[poll_id] = {"copy": t.pack_of([b for _, b in items])} if items else {}
            self.shuffled.add(poll_id)
            poll["shuffled"] = {"n": len(items), "checked": True}
            if count is not None:  # counted from the copied ballots, as the store's copy does
                poll["shuffled"]["counted"] = count(copy.deepcopy(b) for _, b in items)
        return poll["shuffled"]

    # --- campaigns and follow-ups ----------------------------------------------------------------
    def get_campaign(self, campaign_id):
        return copy.deepcopy(self.docs["campaigns"].get(campaign_id))

    def all_campaigns(self):
        return [
            {k: v for k, v in copy.deepcopy(d).items() if k != "results"}
            for d in self.docs["campaigns"].values()
        ]

    def add_follow_up(self, campaign_id, at):
        marker = f"star_levels:{campaign_id}:{len(self.followups)}"
        self.followups[marker] = {"_id": marker, "campaign_id": campaign_id, "at": at}
        return marker

    def follow_ups(self):
        return [dict(m) for m in self.followups.values()]

    def drop_follow_up(self, marker):
        self.followups.pop(marker, None)


class FakeKeys:
    def ballot_id(self, poll_id: str, member_id: str) -> str:
        return t.ballot_id(KEY, poll_id, member_id)

    def receipt(self, ballot: str) -> str:
        return t.receipt_code(KEY, ballot)


class Clock:
    """A clock the test moves: ``clock()`` → now; ``clock.advance(seconds)``."""

    def __init__(self, at: datetime | None = None):
        self.at = at or datetime(2026, 5, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class FakeMembers:
    """The members service as voting calls it: unions ``{id: {"id", "name", "path", "kind",
    "worker_home"}}``, member counts, and the star levels it was told (``down``: every call raises
    ServiceUnavailable; ``fail_after``: the n-th set_star_level and later raise, until reset)."""

    def __init__(self, unions: dict[str, dict], counts: dict[str, int]):
        self.unions = unions
        self.counts = counts
        self.star_levels: dict[str, int] = {}
        self.down = False
        self.fail_after: int | None = None

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("members unavailable")

    def get_union(self, union_id):
        self._check()
        if union_id not in self.unions:
            raise NotFound("no union")
        return self.unions[union_id]

    def list_unions(self, parent_id, kind):
        self._check()
        return [u for u in self.unions.values() if parent_id in u["path"][:-1] and u["kind"] == kind]

    def count_members(self, union_ids):
        self._check()
        return {u: self.counts.get(u, 0) for u in union_ids}

    def set_star_level(self, union_id, star_level):
        self._check()
        if self.fail_after is not None:
            if self.fail_after <= 0:
                raise ServiceUnavailable("members unavailable")
            self.fail_after -= 1
        self.star_levels[union_id] = star_level
        return {"id": union_id}


def ports(store: FakeVotingStore | None = None, clock: Clock | None = None) -> Ports:
    return Ports(
        store=store or FakeVotingStore(),
        keys=FakeKeys(),
        cache=OpenDocCache(0),
        clock=clock or Clock(),
        sleep=lambda s: None,
    )
