"""Hand-written fakes for the elections use cases (services/elections/app.py): an in-memory store with the
methods of :class:`services.elections.store.ElectionsStore` on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``Store.change``/``create`` contract), and the
members/congress peers. No mocks."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from pymongo.errors import BulkWriteError, DuplicateKeyError

from dmlib.errors import NotFound
from tests.unit.fake_links import FakeProjectorLinks
from tests.unit.fake_store import FakeStore

KEY = b"unit-test-ballot-key-0123456789"


class FakeElectionsStore(FakeProjectorLinks, FakeStore):
    service = "elections"
    link_subject = "election_id"

    def kinds(self) -> list[str]:
        return [t for t, _ in self.events]

    # --- as ElectionsStore ----------------------------------------------------------------------
    def get_election(self, election_id):
        return copy.deepcopy(self.col("elections").get(election_id))

    def list_elections(self, union_ids):
        docs = [copy.deepcopy(d) for d in self.col("elections").values()]
        return [d for d in docs if union_ids is None or d["union_id"] in union_ids]

    def add_electors(self, election_id, member_ids):
        for m in member_ids:
            self.col("electors").setdefault(f"{election_id}:{m}", {"election_id": election_id})

    def is_elector(self, election_id, member_id):
        return f"{election_id}:{member_id}" in self.col("electors")

    def get_doc(self, collection, doc_id):
        return copy.deepcopy(self.col(collection).get(doc_id))

    def doc_page(self, collection, union_ids, skip, limit):
        docs = [copy.deepcopy(d) for d in self.col(collection).values() if d["union_id"] in union_ids]
        docs.sort(key=lambda d: d["_id"])
        docs.sort(key=lambda d: d["created_at"], reverse=True)
        return docs[skip : skip + limit], len(docs)

    def docs_in(self, collection, status):
        return [copy.deepcopy(d) for d in self.col(collection).values() if d["status"] == status]

    def put_tally(self, poll_id, zero):
        self.col("tallies")[poll_id] = dict(zero)

    def get_round(self, round_id):
        return copy.deepcopy(self.col("rounds").get(round_id))

    def create_tally(self, round_id, candidates):
        zero = {"open": True, "n": 0, "v": 0, "i": 0}
        for k in range(candidates):
            zero.update({f"a{k}": 0, f"d{k}": 0, f"x{k}": 0})
        self.col("tallies")[round_id] = zero

    def get_tally(self, round_id):
        return copy.deepcopy(self.col("tallies").get(round_id, {}))

    def close_tally(self, round_id):
        self.col("tallies")[round_id]["open"] = False

    def _ballots(self, round_id):
        return self.col(f"ballots_{round_id}")

    def insert_ballot(self, round_id, ballot):
        if ballot["_id"] in self._ballots(round_id):
            raise DuplicateKeyError("E11000 duplicate key")
        self._ballots(round_id)[ballot["_id"]] = copy.deepcopy(ballot)

    def count_ballot(self, round_id, ballot_id, inc):
        tally = self.col("tallies")[round_id]
        if not tally.get("open"):
            self._ballots(round_id).pop(ballot_id, None)
            return False
        for k, v in inc.items():
            tally[k] = tally.get(k, 0) + v
        return True

    def settle_ballot(self, round_id, ballot_id):
        self._ballots(round_id)[ballot_id].pop("pending", None)

    def bulk_ballots(self, round_id, ballots, inc):
        if any(b["_id"] in self._ballots(round_id) for b in ballots):
            raise BulkWriteError({"writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000 duplicate"}]})
        for b in ballots:
            self._ballots(round_id)[b["_id"]] = copy.deepcopy(b)
        tally = self.col("tallies")[round_id]
        for k, v in inc.items():
            tally[k] = tally.get(k, 0) + v

    def shuffle_ballots(self, round_id, collection="rounds"):
        rnd = self.col(collection)[round_id]
        if "ballot_collection" in rnd:
            return None
        rnd["ballot_collection"] = f"ballots_{round_id}_copy"
        return len(self._ballots(round_id))

    def get_ballot(self, round_id, ballot_id):
        return copy.deepcopy(self._ballots(round_id).get(ballot_id))

    def iter_ballots(self, round_id, collection="rounds"):
        return [copy.deepcopy(b) for b in self._ballots(round_id).values()]

    def find_receipt(self, round_id, receipt):
        return next(
            (copy.deepcopy(b) for b in self._ballots(round_id).values() if b["receipt"] == receipt), None
        )

    def ballot_page(self, round_id, skip, limit):
        docs = sorted(self._ballots(round_id).values(), key=lambda d: d["receipt"])
        return [copy.deepcopy(d) for d in docs[skip : skip + limit]], len(docs)


class FakePeers:
    """u05 (grassroots, under ftu) with ``n`` members M05001…; u06 beside it; a term with delegates."""

    def __init__(self, n: int = 9):
        self.members = {
            f"M05{i:03d}": {"id": f"M05{i:03d}", "name": f"会员{i}", "union_id": "u05"}
            for i in range(1, n + 1)
        }
        self.members["M06001"] = {"id": "M06001", "name": "外单位", "union_id": "u06"}
        self.unions = {
            "u05": {"id": "u05", "name": "博瑞工会", "kind": "grassroots", "path": ["ftu", "u05"]},
            "u06": {"id": "u06", "name": "康泰工会", "kind": "grassroots", "path": ["ftu", "u06"]},
            "ftu": {"id": "ftu", "name": "总工会", "kind": "federation", "path": ["ftu"]},
        }
        self.titles: dict[str, list[dict]] = {}  # recorded by record_titles, per award round
        self.terms = {"t1": [{"member_id": "M05001"}, {"member_id": "M05002"}, {"member_id": "M05003"}]}
        #: congress sessions as congress's present_delegates answers (a session of u05, convened, with a
        #: quorum, 5 of 7 delegates present; ``open_election`` set by the test)
        self.sessions = {
            "s1": {
                "session_id": "s1",
                "union_id": "u05",
                "state": "convened",
                "due_count": 7,
                "present_count": 5,
                "required": 5,
                "quorum": True,
                "open_election": None,
                "member_ids": [f"M05{i:03d}" for i in range(1, 6)],
            }
        }

    def get_union(self, union_id):
        if union_id not in self.unions:
            raise NotFound("no union")
        return copy.deepcopy(self.unions[union_id])

    def get_member(self, member_id):
        if member_id not in self.members:
            raise NotFound("no member")
        return copy.deepcopy(self.members[member_id])

    def roster(self, union_id):
        return [m for m, d in self.members.items() if d["union_id"] == union_id]

    def unions_under(self, union_id):
        return [u for u, d in self.unions.items() if union_id in d["path"] and d["kind"] == "grassroots"]

    def record_titles(self, award_id, titles):
        self.titles.setdefault(award_id, [])
        new = [t for t in titles if t not in self.titles[award_id]]
        self.titles[award_id] += copy.deepcopy(new)
        return {"recorded": len(new), "unknown": []}

    def delegates(self, term_id):
        return copy.deepcopy(self.terms[term_id])

    def present_delegates(self, session_id):
        if session_id not in self.sessions:
            raise NotFound("no session")
        return copy.deepcopy(self.sessions[session_id])

    def search_members(self, union_id, q, limit):
        found = [
            {"member_id": m, "name": d["name"]}
            for m, d in sorted(self.members.items())
            if d["union_id"] == union_id and (d["name"].startswith(q) or m.startswith(q))
        ]
        return found[:limit]


class Clock:
    def __init__(self):
        self.now = datetime(2024, 5, 20, 1, 0, tzinfo=UTC)

    def __call__(self):
        return self.now
