"""Storage of the voting service (database ``voting``); see docs/storage.md for why it is shaped so.

Collections:

- ``polls``: ``_id`` poll id; ``kind`` (choice | rating), ``status`` (open | closed), ``title``,
  ``options`` (choice), ``voters`` (choice: the eligible member ids), ``secret``, ``owner``, ``ref``,
  ``subjects`` (rating: ``[{id, name}]``, a subject's id is the union whose members rate it),
  ``criteria`` (rating: number of marks per ballot), ``eligible`` (int; rating: also ``eligible_by``),
  ``closes_at``, ``recount`` (the last recount: ``{at, matches, counts}``), ``alarm`` (bool).
- ``ballots_<poll id>``: one collection per poll, so a recount reads only that poll's ballots. A ballot's
  ``_id`` is HMAC-SHA256(``VOTING_KEY``, "poll:member") in hex: the one atomic insert enforces one ballot
  per voter, and no ballot carries a member id (except ``voter`` in named, non-secret choice polls).
  Fields: ``receipt``, ``day`` (date only, so arrival times cannot be matched to log-ins),
  ``choice`` | (``subject``, ``stars`` [per criterion], ``opinion``).
- ``tallies``: the live tally, ``_id`` = poll id, guarded by ``open`` (a ballot arriving after the
  close is refused and removed). Choice: ``n`` and ``o0`` … ``oK`` (per option index, since option texts
  may not be keys), updated by ``$inc`` right after each ballot insert: one small document.
  Rating: ``{open, parts: true}``; the counts are in ``tally_<poll id>``, one document per subject
  (``_id`` = subject, ``open``, ``n``, ``c0…cN`` star sums, ``h1…h5`` mark counts, ``op`` opinions), so
  a ballot's ``$inc`` rewrites one 13-field document however many subjects the poll has (a single
  document for 1,000 homes cost 95 ms of FerretDB CPU per ballot, serialising every vote). Live results
  read the poll's part collection whole: one document per subject.
- ``campaigns``: evaluation campaigns (``_id`` = campaign id = its rating poll's id).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError

from dmlib.storage import Store


def now() -> datetime:
    return datetime.now(UTC)


def ballots_collection(poll_id: str) -> str:
    return f"ballots_{poll_id}"


def parts_collection(poll_id: str) -> str:
    """The per-subject live tally of a rating poll."""
    return f"tally_{poll_id}"


class VotingStore(Store):
    indexes = {}  # every hot path is an _id lookup; ballots are unique by _id

    # --- polls -----------------------------------------------------------------------------------
    def create_poll(self, poll: dict, tally: dict, parts: dict[str, dict] | None = None) -> None:
        """Create the poll's ballot collection and its zeroed tally (with one zeroed part per subject for
        a rating poll), then the poll (the commit point: a retry after a failure starts over).
        DuplicateKeyError if the poll exists, before anything is touched."""
        if self.db.polls.find_one({"_id": poll["_id"]}, projection={"_id": 1}):
            raise DuplicateKeyError(f"poll {poll['_id']} exists")
        try:
            self.db.create_collection(ballots_collection(poll["_id"]))
        except CollectionInvalid:
            pass
        if parts is not None:
            coll = self.db[parts_collection(poll["_id"])]
            coll.drop()
            coll.insert_many([{**zero, "_id": subject, "open": True} for subject, zero in parts.items()])
        self.db.tallies.replace_one({"_id": poll["_id"]}, {**tally, "_id": poll["_id"]}, upsert=True)
        self.db.polls.insert_one(poll)

    def get_poll(self, poll_id: str) -> dict | None:
        return self.db.polls.find_one({"_id": poll_id})

    def poll_header(self, poll_id: str) -> dict | None:
        """The poll without its voter list (cheaper for hot paths that do not need it)."""
        return self.db.polls.find_one({"_id": poll_id}, projection={"voters": 0})

    def is_voter(self, poll_id: str, member_id: str) -> bool:
        doc = self.db.polls.find_one({"_id": poll_id}, projection={"voters": 1})
        return bool(doc) and member_id in doc.get("voters", [])

    def set_poll_status(self, poll_id: str, expected: str, status: str, **changes) -> dict | None:
        """Guarded transition; None if the poll was not in ``expected``."""
        return self.db.polls.find_one_and_update(
            {"_id": poll_id, "status": expected},
            {"$set": {"status": status, **changes}},
            return_document=ReturnDocument.AFTER,
        )

    def update_poll(self, poll_id: str, **changes) -> None:
        self.db.polls.update_one({"_id": poll_id}, {"$set": changes})

    # --- ballots and tallies ---------------------------------------------------------------------
    def insert_ballot(self, poll_id: str, ballot: dict) -> None:
        """Insert one ballot; raises DuplicateKeyError if this voter's ballot exists."""
        self.db[ballots_collection(poll_id)].insert_one(ballot)

    def count_ballot(self, poll_id: str, ballot_id: str, inc: dict, part: str | None = None) -> bool:
        """Add a stored ballot to the live tally (to subject ``part``'s document for a rating poll); if
        the tally closed meanwhile, remove the ballot again and return False."""
        coll, key = (self.db[parts_collection(poll_id)], part) if part else (self.db.tallies, poll_id)
        result = coll.update_one({"_id": key, "open": True}, {"$inc": inc})
        if result.matched_count:
            return True
        self.db[ballots_collection(poll_id)].delete_one({"_id": ballot_id})
        return False

    def settle_ballot(self, poll_id: str, ballot_id: str) -> None:
        """The ballot is in the live tally: drop its ``pending`` mark (set by the insert)."""
        self.db[ballots_collection(poll_id)].update_one({"_id": ballot_id}, {"$unset": {"pending": ""}})

    def pending_ballots(self, poll_id: str) -> list[dict]:
        """Ballots still marked ``pending``: casts interrupted between the insert and the tally update,
        or between the tally update and :meth:`settle_ballot` (a scan; used when a poll closes)."""
        return list(self.db[ballots_collection(poll_id)].find({"pending": True}))

    def add_to_tally(self, poll_id: str, incs: dict[str | None, dict]) -> None:
        """``$inc`` parts of the tally (``None``: the poll's own tally document), unguarded."""
        for part, inc in incs.items():
            if part is None:
                self.db.tallies.update_one({"_id": poll_id}, {"$inc": inc})
            else:
                self.db[parts_collection(poll_id)].update_one({"_id": part}, {"$inc": inc})

    def bulk_ballots(self, poll_id: str, ballots: list[dict], incs: dict[str | None, dict]) -> None:
        """Demo and benchmark loading: many ballots in one insert, then one tally update per part
        (``incs``: part → ``$inc``; ``None`` is the poll's own tally document)."""
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

    def close_tally(self, poll_id: str) -> None:
        """Stop counting: every part first, then the poll's tally document."""
        if (self.db.tallies.find_one({"_id": poll_id}) or {}).get("parts"):
            self.db[parts_collection(poll_id)].update_many({}, {"$set": {"open": False}})
        self.db.tallies.update_one({"_id": poll_id}, {"$set": {"open": False}})

    def get_tally(self, poll_id: str) -> dict:
        """The live tally: choice ``{open, n, o0…}``; rating ``{open, n, s: {subject: counts}}`` with
        ``n`` the sum over the parts ({} for an unknown poll)."""
        doc = self.db.tallies.find_one({"_id": poll_id}) or {}
        if doc.get("parts"):
            parts = {}
            for p in self.db[parts_collection(poll_id)].find({}, batch_size=5000):
                parts[p.pop("_id")] = p
            doc["s"] = parts
            doc["n"] = sum(int(p.get("n", 0)) for p in parts.values())
        return doc

    def get_ballot(self, poll_id: str, ballot_id: str) -> dict | None:
        return self.db[ballots_collection(poll_id)].find_one({"_id": ballot_id})

    def iter_ballots(self, poll_id: str, fields: list[str]) -> Iterator[dict]:
        """Every ballot of a poll, only ``fields`` (a full read of this poll's collection; ``_id`` only
        when asked for)."""
        projection = {f: 1 for f in fields}
        projection.setdefault("_id", 0)
        return self.db[ballots_collection(poll_id)].find({}, projection=projection, batch_size=5000)

    def find_receipt(self, poll_id: str, receipt: str) -> dict | None:
        """The ballot carrying ``receipt`` (a scan of the poll's ballots that stops at the first match)."""
        return self.db[ballots_collection(poll_id)].find_one({"receipt": receipt})

    def ballot_page(self, poll_id: str, skip: int, limit: int) -> tuple[list[dict], int]:
        """A page of the published ballot list, ordered by receipt (reads the poll's ballots)."""
        coll = self.db[ballots_collection(poll_id)]
        docs = sorted(coll.find({}, projection={"_id": 0, "voter": 0}), key=lambda d: d["receipt"])
        return docs[skip : skip + limit], len(docs)

    def opinions(self, poll_id: str, subject: str | None) -> list[dict]:
        """The opinions left in a poll (optionally for one subject), newest day first."""
        query: dict = {"opinion": {"$type": "string"}}
        if subject:
            query["subject"] = subject
        docs = self.db[ballots_collection(poll_id)].find(
            query, projection={"_id": 0, "subject": 1, "opinion": 1, "day": 1, "receipt": 1}
        )
        return sorted(docs, key=lambda d: (d.get("day", ""), d["receipt"]), reverse=True)

    # --- campaigns -------------------------------------------------------------------------------
    def insert_campaign(self, doc: dict) -> None:
        self.db.campaigns.insert_one(doc)

    def get_campaign(self, campaign_id: str) -> dict | None:
        return self.db.campaigns.find_one({"_id": campaign_id})

    def all_campaigns(self) -> list[dict]:
        """Every campaign without results (a federation runs a few a year: a small scan)."""
        return list(self.db.campaigns.find({}, projection={"results": 0}))

    def move_campaign(
        self, campaign_id: str, expected: tuple[str, ...], status: str, **changes
    ) -> dict | None:
        return self.db.campaigns.find_one_and_update(
            {"_id": campaign_id, "status": {"$in": list(expected)}},
            {"$set": {"status": status, **changes}},
            return_document=ReturnDocument.AFTER,
        )

    def set_scores(self, campaign_id: str, field: str, scores: dict[str, float]) -> dict | None:
        """Set ``unit_scores``/``superior_scores`` entries unless the campaign is published."""
        return self.db.campaigns.find_one_and_update(
            {"_id": campaign_id, "status": {"$in": ["draft", "open", "closed"]}},
            {"$set": {f"{field}.{home}": score for home, score in scores.items()}},
            return_document=ReturnDocument.AFTER,
        )
