"""Group commit of ballots (issue 17) on the real RabbitMQ and FerretDB, with members, voting and the
gateway running: concurrent HTTP ballots gathered into shared RPCs still get one answer each; a batch
keeps one ballot per voter, stores in an order unrelated to arrival, and its tally equals the recount;
receipts are found by key and the published list is read in pages by receipt."""

import eventlet
import pytest
import requests

from services.gateway.service import GatewayService
from services.voting import polls
from services.voting import tally as t
from services.voting.store import LIST_CHUNK, VotingStore, ballots_of, companion
from tests.helpers import member, token, wait_until
from tests.integration.test_voting_campaigns import ROSTER, SUPERIOR, ids  # noqa: F401 (fixture data)
from tests.integration.test_voting_campaigns import evaluation as _evaluation  # noqa: F401

pytestmark = pytest.mark.integration

STARS = {"c1": 5, "c2": 4, "c3": 4, "c4": 5, "c5": 3}


@pytest.fixture
def site(_evaluation, container_factory, config):  # noqa: F811
    # a wide window, so that requests sent together surely share batches on a loaded machine
    container_factory(GatewayService, {**config, "BALLOT_BATCH_MS": 300}).start()
    with _evaluation(SUPERIOR) as rpc:
        rpc.voting.create_campaign({"id": "ev2018", "title": "2018年度星级职工之家评选", "union_id": "ftu"})
        rpc.voting.open_campaign("ev2018")
    return _evaluation


def item(voter: str, union: str, stars=STARS, campaign="ev2018") -> dict:
    return {"token": token(member(voter, union)), "campaign_id": campaign, "data": {"stars": stars}}


def test_concurrent_http_ballots_share_batches_and_each_gets_its_own_answer(site, web_config, db):
    url = f"http://{web_config['WEB_SERVER_ADDRESS']}/api/v1/campaigns/ev2018/ballots"
    requests_ = [(f"M01{i:05d}", "u01" if i % 2 else "u02", STARS) for i in range(24)]
    requests_ += [("M0199003", "u01", STARS)] * 3  # the same member three times at once
    requests_ += [("M0100099", "u01", {**STARS, "c1": 9}), ("M0900001", "u09", STARS)]  # 400, 403
    answers: dict[int, requests.Response] = {}

    def send(n, voter, union, stars):
        headers = {"Authorization": f"Bearer {token(member(voter, union))}"}
        answers[n] = requests.post(url, json={"stars": stars}, headers=headers, timeout=60)

    pool = eventlet.GreenPool(len(requests_))
    for n, args in enumerate(requests_):
        pool.spawn(send, n, *args)
    pool.waitall()

    statuses = [answers[n].status_code for n in range(len(requests_))]
    assert statuses[:24] == [201] * 24 and sorted(statuses[24:27]) == [201, 409, 409]
    assert statuses[27:] == [400, 403] and answers[27].json()["fields"]
    receipts = [answers[n].json()["receipt"] for n in range(27) if statuses[n] == 201]
    assert len(set(receipts)) == 25
    assert all(answers[n].json()["home"] == ("u01" if n % 2 else "u02") for n in range(24))
    stored = list(db("voting")["ballots_ev2018"].find({}, projection={"k": 1, "receipt": 1}))
    assert sorted(d["receipt"] for d in stored) == sorted(receipts)
    assert len({d["k"] for d in stored}) < len(stored)  # several ballots per batch (one RPC each)
    # every batch settled (its marker holds its sums until a fold deletes it): none left casting
    assert db("voting").casts_pending.count_documents({"poll": "ev2018", "state": {"$ne": "settled"}}) == 0
    with site(SUPERIOR) as rpc:
        check = rpc.voting.recount("ev2018")
    assert check["matches"] is True and check["recounted"]["n"] == 25


def test_one_batch_one_ballot_per_voter_stored_out_of_arrival_order_and_counted_once(site, db):
    voters = [(f"M02{i:05d}", "u01" if i % 3 else "u02") for i in range(120)]
    items = [item(v, u, {**STARS, "c1": 1 + i % 5}) for i, (v, u) in enumerate(voters)]
    items += [item(*voters[0]), item(*voters[0]), item(*voters[7])]  # repeats within the batch
    items += [{"token": "forged", "campaign_id": "ev2018", "data": {"stars": STARS}}]
    items += [item("M0200999", "u01", {"c1": 5})]  # criteria missing
    with site(SUPERIOR) as rpc:
        answers = rpc.voting.cast_ratings(items)
    repeats = {0: [0, 120, 121], 7: [7, 122]}  # which of a voter's ballots wins is the shuffle's
    for n in range(120):
        if n not in repeats:
            assert "ok" in answers[n], answers[n]
    for same in repeats.values():
        outcomes = sorted(
            "ok" if "ok" in answers[n] else answers[n]["error"]["details"]["reason"] for n in same
        )
        assert outcomes == ["already_voted"] * (len(same) - 1) + ["ok"]
    assert [a["error"]["error"] for a in answers[123:]] == ["unauthenticated", "bad_input"]
    arrival = [next(answers[n] for n in repeats.get(i, [i]) if "ok" in answers[n])["ok"] for i in range(120)]
    arrival = [a["receipt"] for a in arrival]
    stored = [d["receipt"] for d in db("voting")["ballots_ev2018"].find({}, projection={"receipt": 1})]
    assert sorted(stored) == sorted(arrival) and stored != arrival  # 1 in 120! to be equal by chance
    with site(SUPERIOR) as rpc:
        check = rpc.voting.recount("ev2018")
        again = rpc.voting.cast_ratings([item(*voters[3])])
    assert check["matches"] is True and check["recounted"]["n"] == 120 == check["live"]["n"]
    assert again[0]["error"]["details"]["reason"] == "already_voted"


def test_receipts_by_key_and_the_published_list_in_pages_by_receipt(site, db, monkeypatch):
    voters = [(f"M03{i:05d}", "u01" if i % 2 else "u02") for i in range(LIST_CHUNK + 150)]
    with site(SUPERIOR) as rpc:
        answers = []
        for start in range(0, len(voters), 200):
            answers += rpc.voting.cast_ratings([item(v, u) for v, u in voters[start : start + 200]])
    receipts = [a["ok"]["receipt"] for a in answers]
    with site(member("M0100011", "u01")) as rpc:
        found = rpc.voting.verify_receipt("ev2018", receipts[17])  # while open
        assert found["found"] is True and found["ballot"]["stars"] == list(STARS.values())
        assert rpc.voting.verify_receipt("ev2018", "ABCDEF012345")["found"] is False
    with site(SUPERIOR) as rpc:
        rpc.voting.close_campaign("ev2018")
    poll = db("voting").polls.find_one({"_id": "ev2018"})
    index = db("voting")[companion(poll["ballot_collection"], "receipts")]
    assert index.count_documents({}) == len(voters)
    assert "receipts_ev2018" not in db("voting").list_collection_names()  # the open one, in cast order
    with site(member("M0100011", "u01")) as rpc:
        listed, page = [], 1
        while True:  # 300 a page: pages 2 and 3 straddle the list's chunks of 500
            got = rpc.voting.list_ballots("ev2018", page, 300)
            assert got["total"] == len(voters)
            if not got["items"]:
                break
            listed += got["items"]
            page += 1
        assert [b["receipt"] for b in listed] == sorted(receipts)
        assert all(b["subject"] in ("u01", "u02") and b["stars"] for b in listed)
        for receipt in (receipts[0], receipts[-1], receipts[LIST_CHUNK]):
            check = rpc.voting.verify_receipt("ev2018", receipt)
            assert check["found"] is True and check["ballot"]["receipt"] == receipt
    assert ballots_of(db("voting"), "ev2018").count_documents({}) == len(voters)


def test_batches_count_at_once_and_are_folded_exactly_once_in_the_background(site, db):
    """A rating batch writes its sums once, into its own marker; the live tally counts settled markers at
    once, the service's fold timer adds them to the folded tally and deletes them, and a fold run again
    by hand (a second voting instance) adds nothing twice."""
    store = VotingStore(db("voting"))
    voters = [(f"M04{i:05d}", "u01" if i % 3 else "u02") for i in range(60)]
    with site(SUPERIOR) as rpc:
        for start in range(0, len(voters), 20):
            answers = rpc.voting.cast_ratings([item(v, u) for v, u in voters[start : start + 20]])
            assert all("ok" in a for a in answers)
        assert store.get_tally("ev2018")["n"] == 60  # at once, folded or not
        wait_until(lambda: not store.settled_batches("ev2018"), timeout=30)  # the timer folded them
        folded = store.folded_tally("ev2018")
        assert folded["g"] >= 1 and sum(c["n"] for c in folded["s"].values()) == 60
        ports = polls.Ports(store=store, keys=None, cache=None, clock=None)
        assert polls.fold(ports, "ev2018") == 0 and store.folded_tally("ev2018") == folded
        check = rpc.voting.recount("ev2018")
        assert check["matches"] is True and check["live"]["s"]["u02"]["n"] == 20
        rpc.voting.close_campaign("ev2018")
    record = db("voting").polls.find_one({"_id": "ev2018"})["recount"]
    assert record["matches"] is True and t.stored_counts(record["recounted"])["n"] == 60
    assert "repaired" not in record
    assert db("voting").casts_pending.count_documents({"poll": "ev2018"}) == 0


def test_a_poll_opened_before_the_fold_gets_its_folded_tally_from_its_tally_parts(db):
    """Polls opened before the fold kept one counter document per home in ``tally_<poll>``: the first
    read makes their folded tally from those (once), and batches settled since count on top."""
    voting = db("voting")
    voting.tallies.insert_one({"_id": "old1", "open": True, "parts": True})
    voting.tally_old1.insert_many(
        [{"_id": "u01", "open": True, "n": 2, "c0": 9}, {"_id": "u02", "open": True, "n": 1, "c0": 5}]
    )
    store = VotingStore(voting)
    store.add_to_tally("old1", {"u02": {"n": 1, "c0": 4}})  # a batch settled after the upgrade
    tally = store.get_tally("old1")
    assert tally["n"] == 4 and tally["s"] == {"u01": {"n": 2, "c0": 9}, "u02": {"n": 2, "c0": 9}}
    assert store.folded_tally("old1")["g"] == 0 and voting.tally_folded.count_documents({"_id": "old1"}) == 1
    ports = polls.Ports(store=store, keys=None, cache=None, clock=None)
    assert polls.fold(ports, "old1") == 1 and store.get_tally("old1")["s"] == tally["s"]
    assert store.folded_tally("old1")["g"] == 1 and not store.settled_batches("old1")


def test_the_live_tally_read_while_a_fold_commits_counts_each_batch_once(db):
    """A fold that commits between the live read's folded tally and its markers deletes markers the read
    then misses: the read sees the generation moved and reads again (VotingStore.get_tally)."""
    store, other = VotingStore(db("voting")), VotingStore(db("voting"))
    head, parts = t.rating_zero(["u01", "u02"], 1)
    store.create_poll({"_id": "fold1", "kind": "rating", "status": "open"}, head, parts)
    for home in ("u01", "u02", "u02"):
        store.add_to_tally("fold1", {home: t.rating_inc([4], False)})  # three settled batches
    ports = polls.Ports(store=other, keys=None, cache=None, clock=None)
    reads = []
    settled = store.settled_batches

    def a_fold_commits_first(poll_id=None):
        if not reads:
            assert polls.fold(ports, "fold1") == 3  # folded, and the markers deleted
        reads.append(poll_id)
        return settled(poll_id)

    store.settled_batches = a_fold_commits_first
    tally = store.get_tally("fold1")
    assert len(reads) == 2  # the first read was taken again
    assert tally["n"] == 3 and tally["s"]["u02"]["n"] == 2 and tally["s"]["u01"]["c0"] == 4
