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


class FakeVotingStore(FakeStore):
    """In memory (on the shared :class:`tests.unit.fake_store.FakeStore`): ``docs[collection][id]``,
    ``ballots[poll]`` (insertion-ordered dicts), ``tallies[poll]`` (choice: one document; rating:
    ``{"parts": {subject: counts}}``), ``followups``. ``events`` lists every committed event ``(type,
    body)`` in commit order; ``casts_pending`` the batch markers; ``fail_on`` makes a method raise
    ServiceUnavailable once (an outage)."""

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
        self.shuffled: set[str] = set()
        self.fail_on: set[str] = set()

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail_on:
            self.fail_on.discard(name)
            raise ServiceUnavailable(f"fake outage in {name}")

    def _attempt(self, op: str, collection: str) -> None:
        self._maybe_fail(op)

    def event_types(self) -> list[str]:
        return [kind for kind, _ in self.events]

    # --- polls -----------------------------------------------------------------------------------
    def create_poll(self, poll, tally, parts=None, events=()):
        if poll["_id"] in self.docs["polls"]:
            raise DuplicateKeyError(f"poll {poll['_id']} exists")
        self.ballots.setdefault(poll["_id"], {})
        self.tallies[poll["_id"]] = (
            {**tally, "parts": {s: {**z, "open": True} for s, z in parts.items()}}
            if parts is not None
            else dict(tally)
        )
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
        self._maybe_fail("begin_batch")
        batch = f"batch{len(self.casts_pending)}:{len(self.events)}:{random.random()}"
        self.casts_pending[batch] = {"_id": batch, "poll": poll_id, "ids": list(ballot_ids)}
        return batch

    def insert_receipts(self, poll_id, receipts):
        self._maybe_fail("insert_receipts")

    def insert_ballots(self, poll_id, ballots):
        self._maybe_fail("insert_ballots")
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
        self._maybe_fail("count_ballots")
        tally = self.tallies[poll_id]
        target = tally["parts"][part] if part else tally
        if not target.get("open"):
            for b in ballot_ids:
                self.ballots[poll_id].pop(b, None)
            return False
        for k, v in inc.items():
            target[k] = target.get(k, 0) + v
        return True

    def end_batch(self, batch):
        self._maybe_fail("end_batch")
        self.casts_pending.pop(batch, None)

    def open_batches(self, poll_id):
        return [copy.deepcopy(m) for m in self.casts_pending.values() if m["poll"] == poll_id]

    def settle_ballots(self, poll_id, ballot_ids):
        for b in ballot_ids:
            self.ballots[poll_id][b].pop("pending", None)
        for batch in [k for k, m in self.casts_pending.items() if m["poll"] == poll_id]:
            del self.casts_pending[batch]

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
        for part, inc in incs.items():
            target = self.tallies[poll_id] if part is None else self.tallies[poll_id]["parts"][part]
            for k, v in inc.items():
                target[k] = target.get(k, 0) + v

    def bulk_ballots(self, poll_id, ballots, incs):
        coll = self.ballots.setdefault(poll_id, {})
        if any(b["_id"] in coll for b in ballots):
            raise BulkWriteError({"writeErrors": []})
        for b in ballots:
            coll[b["_id"]] = copy.deepcopy(b)
        self.add_to_tally(poll_id, incs)

    def close_tally(self, poll_id):
        tally = self.tallies[poll_id]
        for part in tally.get("parts", {}).values():
            part["open"] = False
        tally["open"] = False

    def get_tally(self, poll_id):
        tally = copy.deepcopy(self.tallies.get(poll_id, {}))
        if "parts" in tally:
            tally["s"] = {
                s: {k: v for k, v in p.items() if k != "open"} for s, p in tally.pop("parts").items()
            }
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

    def ballot_page(self, poll_id, skip, limit):
        docs = sorted(
            (
                {k: v for k, v in b.items() if k not in ("_id", "voter")}
                for b in self.ballots[poll_id].values()
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

    def shuffle_ballots(self, poll_id):
        self._maybe_fail("shuffle_ballots")
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
            self.shuffled.add(poll_id)
            poll["shuffled"] = {"n": len(items), "checked": True}
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
