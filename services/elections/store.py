"""Storage of the elections service (database ``elections``).

Collections:

- ``elections``: ``_id`` election id; ``union_id``, ``union_path``, ``union_name``, ``title``, ``kind``,
  ``seats``, ``rules`` (``{contested, margin_pct (text), shortfall, write_ins}``), ``electorate``
  (union | term), ``term_id``, ``status`` (nominating → voting → decided → published), ``candidates``
  (``[{member_id, name, source, supporters, note, nominated_at, nominated_by}]``: the nomination
  records), ``due`` (electors due, fixed when voting opens), ``rounds`` (round ids in order),
  ``current_round``, ``elected`` (``[{member_id, name, approvals, round}]``), ``vacant``,
  ``published_at``; ``_v`` and ``outbox`` (:mod:`dmlib.state`: every change is a guarded
  :meth:`Store.change`).
- ``electors``: one per elector: ``_id`` = ``<election>:<member>`` (so eligibility is one ``_id``
  lookup), ``election_id``. Written once when voting opens; an insert of an existing one is a no-op.
- ``rounds``: ``_id`` = ``<election>-r<n>``; ``election_id``, ``n``, ``kind`` (first | runoff | further
  | repeat), ``candidates`` (member ids, their order is the tally's index), ``names``, ``seats``,
  ``status`` (open → closed), ``opened_at``, ``closes_at``, ``closed_at``, ``recount`` (``{at, matches,
  live, recounted}``), ``alarm``, ``tally`` (the counted result at the close), ``decision``
  (:class:`rules.RoundDecision` as a dict); ``_v``, ``outbox``.
- ``appraisals``, ``award_rounds``: appraisals and 双爱双评 rounds (:mod:`.appraisals` documents their
  fields); their raters are in ``electors``, their live tallies in ``tallies``, their ballots in
  ``ballots_<id>``, shuffled at the close like a round's.
- ``tallies``: the live tally of a round, ``_id`` = round id, guarded by ``open``: ``n`` ballots, ``v``
  valid, ``i`` invalid, ``a<k>`` / ``d<k>`` / ``x<k>`` approvals, disapprovals, abstentions of the
  round's k-th candidate (indexes: member ids are never keys), ``w_<member id>`` approvals of a person
  written in (ids are checked against the electors first, so they are safe keys).
- ``ballots_<round id>``: the ballots (one collection per round, so a recount reads only its round's).
  ``_id`` = HMAC-SHA256(``VOTING_KEY``, "round:member") (:func:`dmlib.ballots.ballot_id`, the same keyed id
  as the voting service's ballots): one ``insert_one`` enforces one ballot per elector and no ballot
  carries a member id. Fields: ``receipt``, ``marks`` (one mark per candidate, in the round's order),
  ``write_ins`` (member ids), ``pending`` (a cast not yet in the live tally). While the round is open the
  collection's natural order is the order of casting; once the round is decided its ballots are copied
  in a random order (``secrets.SystemRandom``) into ``ballots_<round id>_<random hex>``, the round's
  ``ballot_collection`` points at the copy (one guarded write, the commit point) and the original is
  dropped (:meth:`ElectionsStore.shuffle_ballots`, as voting does at a poll's close). Reads after the
  close go through :meth:`ElectionsStore.ballots_of`. A crash mid-copy leaves an orphan copy that nothing
  reads (ballot contents and receipts only, in random order); the next close starts a fresh one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, CollectionInvalid
from pymongo.operations import IndexModel

from dmlib.errors import Conflict
from dmlib.links import PROJECTOR_LINKS, ProjectorLinks
from dmlib.storage import Store


def now() -> datetime:
    return datetime.now(UTC)


def ballots_collection(round_id: str) -> str:
    return f"ballots_{round_id}"


def elector_id(election_id: str, member_id: str) -> str:
    return f"{election_id}:{member_id}"


class ElectionsStore(ProjectorLinks, Store):
    indexes = {
        PROJECTOR_LINKS: [IndexModel("election_id")]
    }  # hot paths are _id lookups; ballots unique by _id
    link_subject = "election_id"  # projector links (dmlib.links) show an election

    # --- elections -------------------------------------------------------------------------------
    def get_election(self, election_id: str) -> dict | None:
        return self.db.elections.find_one({"_id": election_id})

    def list_elections(self, union_ids: list[str] | None) -> list[dict]:
        """Elections of the given unions (all with None), newest first, without candidates' notes."""
        query = {} if union_ids is None else {"union_id": {"$in": union_ids}}
        docs = self.db.elections.find(query, projection={"outbox": 0})
        return sorted(
            docs, key=lambda d: d.get("created_at") or datetime.min.replace(tzinfo=UTC), reverse=True
        )

    # --- electors --------------------------------------------------------------------------------
    def add_electors(self, election_id: str, member_ids: list[str]) -> None:
        """Record the electors (idempotent: those already recorded are kept)."""
        docs = [{"_id": elector_id(election_id, m), "election_id": election_id} for m in member_ids]
        for start in range(0, len(docs), 1000):
            try:
                self.db.electors.insert_many(docs[start : start + 1000], ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    def is_elector(self, election_id: str, member_id: str) -> bool:
        return (
            self.db.electors.find_one({"_id": elector_id(election_id, member_id)}, projection={"_id": 1})
            is not None
        )

    def electors_of(self, election_id: str, member_ids: list[str]) -> set[str]:
        """Which of ``member_ids`` are electors (one ``_id`` lookup each)."""
        return {m for m in member_ids if self.is_elector(election_id, m)}

    # --- rounds, tallies, ballots ----------------------------------------------------------------
    def get_round(self, round_id: str) -> dict | None:
        return self.db.rounds.find_one({"_id": round_id})

    def create_tally(self, round_id: str, candidates: int) -> None:
        zero = {"open": True, "n": 0, "v": 0, "i": 0}
        for k in range(candidates):
            zero.update({f"a{k}": 0, f"d{k}": 0, f"x{k}": 0})
        self.db.tallies.replace_one({"_id": round_id}, {"_id": round_id, **zero}, upsert=True)

    def get_tally(self, round_id: str) -> dict:
        return self.db.tallies.find_one({"_id": round_id}) or {}

    def close_tally(self, round_id: str) -> None:
        self.db.tallies.update_one({"_id": round_id}, {"$set": {"open": False}})

    def insert_ballot(self, round_id: str, ballot: dict) -> None:
        """Insert one ballot; DuplicateKeyError if this elector's ballot exists."""
        self.db[ballots_collection(round_id)].insert_one(ballot)

    def count_ballot(self, round_id: str, ballot_id: str, inc: dict) -> bool:
        """Add a stored ballot to the live tally; if the round closed meanwhile, remove the ballot again
        and return False."""
        if self.db.tallies.update_one({"_id": round_id, "open": True}, {"$inc": inc}).matched_count:
            return True
        self.db[ballots_collection(round_id)].delete_one({"_id": ballot_id})
        return False

    def settle_ballot(self, round_id: str, ballot_id: str) -> None:
        self.db[ballots_collection(round_id)].update_one({"_id": ballot_id}, {"$unset": {"pending": ""}})

    def bulk_ballots(self, round_id: str, ballots: list[dict], inc: dict) -> None:
        """Demo loading: many ballots in one insert, then one tally update (a voter who had voted: the
        batch is taken back and the error raised)."""
        if not ballots:
            return
        coll = self.db[ballots_collection(round_id)]
        try:
            coll.insert_many(ballots, ordered=False)
        except BulkWriteError as exc:
            failed = {e["index"] for e in exc.details.get("writeErrors", [])}
            coll.delete_many({"_id": {"$in": [b["_id"] for i, b in enumerate(ballots) if i not in failed]}})
            raise
        self.db.tallies.update_one({"_id": round_id}, {"$inc": inc})

    def ballots_of(self, round_id: str, collection: str = "rounds") -> Collection:
        """Where the ballots of a round (or of an appraisal / award round: ``collection``) are now: the
        original while open, the shuffled copy after."""
        doc = self.db[collection].find_one({"_id": round_id}, projection={"ballot_collection": 1}) or {}
        return self.db[doc.get("ballot_collection") or ballots_collection(round_id)]

    def get_doc(self, collection: str, doc_id: str) -> dict | None:
        """An appraisal or award round (``collection``) by id."""
        return self.db[collection].find_one({"_id": doc_id})

    def doc_page(
        self, collection: str, union_ids: list[str], skip: int, limit: int
    ) -> tuple[list[dict], int]:
        """A page of the appraisals or award rounds (``collection``) of the given unions, newest first,
        without their outbox; and how many there are in all."""
        query = {"union_id": {"$in": union_ids}}
        docs = (
            self.db[collection]
            .find(query, projection={"outbox": 0})
            .sort([("created_at", -1), ("_id", 1)])
            .skip(skip)
            .limit(limit)
        )
        return list(docs), self.db[collection].count_documents(query)

    def docs_in(self, collection: str, status: str) -> list[dict]:
        """The appraisals or award rounds (``collection``) in ``status``, without their outbox (the "what
        needs me" home: a scan of a collection of a few documents per union a year)."""
        return list(self.db[collection].find({"status": status}, projection={"outbox": 0}))

    def put_tally(self, poll_id: str, zero: dict) -> None:
        """The zeroed live tally of an appraisal or award round."""
        self.db.tallies.replace_one({"_id": poll_id}, {"_id": poll_id, **zero}, upsert=True)

    def shuffle_ballots(self, round_id: str, collection: str = "rounds") -> int | None:
        """Copy a decided round's ballots in a random order into a fresh collection, point the round at
        it (guarded: once) and drop the original; the ``pending`` ballots a refused late cast deleted
        from the original meanwhile are left out. Returns the ballots copied, None if already done."""
        rnd = self.db[collection].find_one({"_id": round_id}, projection={"ballot_collection": 1}) or {}
        if rnd.get("ballot_collection"):
            return None
        original = self.db[ballots_collection(round_id)]
        docs = list(original.find({}))
        secrets.SystemRandom().shuffle(docs)
        target = f"{ballots_collection(round_id)}_{secrets.token_hex(8)}"
        try:
            self.db.create_collection(target)
        except CollectionInvalid:
            pass
        for start in range(0, len(docs), 1000):
            self.db[target].insert_many(docs[start : start + 1000])
        pending = [d["_id"] for d in docs if d.get("pending")]
        gone = [b for b in pending if original.find_one({"_id": b}, projection={"_id": 1}) is None]
        if gone:
            self.db[target].delete_many({"_id": {"$in": gone}})
        try:
            self.change(
                collection,
                round_id,
                expect={"ballot_collection": {"$exists": False}},
                set={"ballot_collection": target, "shuffled": {"at": now(), "n": len(docs) - len(gone)}},
            )
        except Conflict:  # another close shuffled first: this copy is not used
            self.db[target].drop()
            return None
        original.drop()
        return len(docs) - len(gone)

    def get_ballot(self, round_id: str, ballot_id: str) -> dict | None:
        return self.ballots_of(round_id).find_one({"_id": ballot_id})

    def iter_ballots(self, round_id: str, collection: str = "rounds") -> Iterator[dict]:
        """Every ballot of a round (or of an appraisal / award round), without its id."""
        return self.ballots_of(round_id, collection).find(
            {}, projection={"_id": 0, "receipt": 0}, batch_size=5000
        )

    def find_receipt(self, round_id: str, receipt: str) -> dict | None:
        return self.ballots_of(round_id).find_one({"receipt": receipt}, projection={"_id": 0})

    def ballot_page(self, round_id: str, skip: int, limit: int) -> tuple[list[dict], int]:
        """A page of the published ballot list, ordered by receipt (so not by the order of casting)."""
        docs = sorted(
            self.ballots_of(round_id).find({}, projection={"_id": 0, "pending": 0}),
            key=lambda d: d["receipt"],
        )
        return docs[skip : skip + limit], len(docs)
