"""Ballot secrecy at rest (issue 12, item 8) on the real RabbitMQ and FerretDB: while a poll is open its
ballots are stored in the order of casting; the close leaves them in an order unrelated to it, every
ballot still there once, receipts, the published list and the recount intact, even when the close is
interrupted and repeated."""

import random

import eventlet
import pytest
from pymongo.collection import Collection

from dmlib.errors import Conflict
from services.voting import store as voting_store
from services.voting.store import VotingStore, ballots_of
from tests.helpers import SYSTEM, member, token

pytestmark = pytest.mark.integration

OPTIONS = ["yes", "no", "abstain"]


def spearman(order: list[int]) -> float:
    """Spearman's rank correlation between position and value of a permutation of 0…n-1 (both are
    ranks already, without ties): 1 - 6 Σd² / (n (n² - 1))."""
    n = len(order)
    assert sorted(order) == list(range(n))
    return 1 - 6 * sum((i - v) ** 2 for i, v in enumerate(order)) / (n * (n * n - 1))


def cast_in_order(voting, n: int, seed: int) -> tuple[str, list[str], dict[str, str]]:
    """A choice poll of ``n`` voters who cast one after the other. Returns (poll id, receipts in the
    order of casting, receipt → choice)."""
    voters = [f"M9{i:06d}" for i in range(n)]
    rng = random.Random(seed)
    with voting(SYSTEM) as rpc:
        pid = rpc.voting.open_choice_poll(
            {"title": "关于职工食堂承包方案的决议", "voters": voters, "owner": "congress", "ref": "r9"}
        )["poll_id"]
    receipts, choices = [], {}
    with voting(member(voters[0], "u01")) as rpc:
        for voter in voters:
            # one proxy, the voter's token swapped in per call: a proxy per voter would cost a connection
            # and a reply queue each (37 instead of 15 ms a ballot) and order nothing differently
            rpc._worker_ctx.data["auth_token"] = token(member(voter, "u01"))
            choice = rng.choice(OPTIONS)
            receipt = rpc.voting.cast_choice(pid, {"choice": choice})["receipt"]
            receipts.append(receipt)
            choices[receipt] = choice
    return pid, receipts, choices


def natural_order(db, pid: str, receipts: list[str]) -> list[int]:
    """The casting position of each stored ballot, in the collection's natural (storage) order."""
    position = {r: i for i, r in enumerate(receipts)}
    return [position[d["receipt"]] for d in ballots_of(db("voting"), pid).find({}, projection={"receipt": 1})]


def ballot_collections(db, pid: str) -> list[str]:
    return sorted(n for n in db("voting").list_collection_names() if n.startswith(f"ballots_{pid}"))


def test_the_close_leaves_no_trace_of_the_casting_order(voting, db):
    # |rho| of a random order has a standard deviation of 1/√(n-1) = 0.025: 0.1 is 4 of them (a false
    # failure once in ~16,000 runs); each cast reads the poll's voter list, so n costs ~n² (~30 s here)
    n = 1600
    pid, receipts, choices = cast_in_order(voting, n, seed=12)
    assert spearman(natural_order(db, pid, receipts)) > 0.99  # open: stored exactly as cast (the leak)
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
    expected = {o: sum(c == o for c in choices.values()) for o in OPTIONS}
    assert closed["counts"] == expected and closed["ballots"] == n and closed["recount_matches"] is True

    order = natural_order(db, pid, receipts)  # raises if a stored receipt was never issued
    assert len(order) == n and len(set(order)) == n  # every ballot present, once
    rho = spearman(order)
    assert abs(rho) < 0.1, rho
    stored = list(ballots_of(db("voting"), pid).find({}))
    assert all(set(b) == {"_id", "receipt", "choice"} for b in stored)  # no day, nothing pending
    assert all(len(b["_id"]) == 64 and int(b["_id"], 16) >= 0 for b in stored)  # keyed hashes, no ObjectId
    assert ballot_collections(db, pid) == [db("voting").polls.find_one({"_id": pid})["ballot_collection"]]

    with voting(member("M9000007", "u01")) as rpc:
        listed = []
        for page in (1, 2, 3, 4):  # 500 a page
            listed += rpc.voting.list_ballots(pid, page, 500)["items"]
        assert sorted(b["receipt"] for b in listed) == sorted(receipts)
        assert all(b["choice"] == choices[b["receipt"]] for b in listed)
        for receipt in [receipts[0], receipts[-1], *random.Random(1).sample(receipts, 10)]:
            check = rpc.voting.verify_receipt(pid, receipt)
            assert check["found"] and check["ballot"]["choice"] == choices[receipt]
    with voting(SYSTEM) as rpc:
        recount = rpc.voting.recount(pid)
        assert rpc.voting.close_poll(pid) == closed  # repeating the close changes nothing
    assert recount["matches"] is True and recount["recounted"] == expected == recount["live"]


@pytest.mark.parametrize("where", ["mid-copy", "after the switch"])
def test_an_interrupted_close_finishes_when_repeated(voting, db, monkeypatch, where):
    n = 300
    pid, receipts, choices = cast_in_order(voting, n, seed=18)
    original = f"ballots_{pid}"
    monkeypatch.setattr(voting_store, "SHUFFLE_BATCH", 50)
    real_insert_many = Collection.insert_many
    batches = []

    def insert_many(coll, docs, *args, **kwargs):
        if coll.name.startswith(f"{original}_"):
            batches.append(len(docs))
            if len(batches) == 3:
                raise RuntimeError("the voting service dies mid-copy")
        return real_insert_many(coll, docs, *args, **kwargs)

    def finish(store, poll, count=None):
        raise RuntimeError("the voting service dies after the switch")

    if where == "mid-copy":
        monkeypatch.setattr(Collection, "insert_many", insert_many)
    else:
        monkeypatch.setattr(VotingStore, "_finish_shuffle", finish)
    with voting(SYSTEM) as rpc:
        with pytest.raises(Exception, match="dies"):
            rpc.voting.close_poll(pid)

    poll = db("voting").polls.find_one({"_id": pid})
    assert poll["status"] == "closed" and poll["recount"]["matches"] is True
    collections = ballot_collections(db, pid)
    if where == "mid-copy":  # the original is complete and still the one read; a partial copy lies about
        assert "ballot_collection" not in poll and "shuffled" not in poll
        assert len(collections) == 2 and db("voting")[original].count_documents({}) == n
        partial = next(c for c in collections if c != original)
        assert db("voting")[partial].count_documents({}) == 100
    else:  # the complete copy is the one read; the original is still there
        assert poll["ballot_collection"] != original and poll["shuffled"]["n"] == n
        assert sorted(collections) == sorted([original, poll["ballot_collection"]])
        assert db("voting")[poll["ballot_collection"]].count_documents({}) == n
    with voting(member("M9000001", "u01")) as rpc:  # readers find every ballot meanwhile
        assert rpc.voting.list_ballots(pid, 1, 500)["total"] == n
        assert rpc.voting.verify_receipt(pid, receipts[5])["found"] is True

    monkeypatch.undo()
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
        recount = rpc.voting.recount(pid)
    assert closed["ballots"] == n and closed["recount_matches"] is True
    assert recount["matches"] is True and recount["recounted"]["yes"] == sum(
        c == "yes" for c in choices.values()
    )
    poll = db("voting").polls.find_one({"_id": pid})
    assert ballot_collections(db, pid) == [
        poll["ballot_collection"]
    ]  # the original and the partial copy gone
    assert poll["shuffled"]["checked"] is True
    order = natural_order(db, pid, receipts)
    assert sorted(order) == list(range(n))  # every ballot once
    assert abs(spearman(order)) < 0.25  # n = 300: σ ≈ 0.058


def test_concurrent_closes_leave_one_shuffled_collection(voting, db):
    pid, receipts, _ = cast_in_order(voting, 200, seed=3)
    results = []

    def close():
        with voting(SYSTEM) as rpc:
            results.append(rpc.voting.close_poll(pid))

    pool = eventlet.GreenPool(3)
    for _ in range(3):
        pool.spawn(close)
    pool.waitall()
    assert len(results) == 3 and all(r["ballots"] == 200 and r["recount_matches"] for r in results)
    poll = db("voting").polls.find_one({"_id": pid})
    assert ballot_collections(db, pid) == [poll["ballot_collection"]]
    assert sorted(natural_order(db, pid, receipts)) == list(range(200))


def test_a_late_ballot_refused_by_the_closed_tally_is_gone_from_the_shuffled_collection(voting, db):
    """A cast that read the poll as open (a cached copy) but reached the tally after the close: its
    ballot, inserted into the original name, is removed from there and from the copy."""
    pid, receipts, _ = cast_in_order(voting, 5, seed=4)
    with voting(SYSTEM) as rpc:
        rpc.voting.close_poll(pid)
    store = VotingStore(db("voting"))
    late = {"_id": "f" * 64, "receipt": "FFFFFFFFFFFF", "choice": "yes", "pending": True}
    ballots_of(db("voting"), pid).insert_one(dict(late))  # as if the copy had taken it
    assert store.insert_ballots(pid, [dict(late)]) == [True]
    assert store.count_ballots(pid, None, {"n": 1, "o0": 1}, [late["_id"]]) is False
    assert store.get_ballot(pid, late["_id"]) is None
    assert db("voting")[f"ballots_{pid}"].count_documents({}) == 0
    with voting(member("M9000001", "u01")) as rpc:
        with pytest.raises(Conflict):
            rpc.voting.cast_choice(pid, {"choice": "yes"})  # closed: refused before anything is stored
        assert rpc.voting.list_ballots(pid)["total"] == 5
