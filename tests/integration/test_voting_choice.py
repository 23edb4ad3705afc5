"""Choice polls (the contract the congress service codes against) on the real RabbitMQ and FerretDB."""

import eventlet
import pytest

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound
from services.voting import tally as t
from services.voting.store import ballots_of
from tests.helpers import SYSTEM, VOTING_KEY, member, union_admin

pytestmark = pytest.mark.integration

VOTERS = ["M0100011", "M0100012", "M0100013", "M0100014"]
U01_SCOPE = {"union_id": "u01", "union_path": ["ftu", "area", "u01"], "congress_id": "cg-u01"}


def open_poll(rpc, **extra):
    return rpc.voting.open_choice_poll(
        {
            "title": "关于年度工资集体协商方案的决议",
            "voters": VOTERS,
            "owner": "congress",
            "ref": "r1",
            **extra,
        }
    )


def test_open_cast_close_contract(voting, db):
    with voting(SYSTEM) as rpc:
        poll = open_poll(rpc)
    assert poll == {
        "poll_id": poll["poll_id"],
        "kind": "choice",
        "status": "open",
        "title": "关于年度工资集体协商方案的决议",
        "options": ["yes", "no", "abstain"],
        "secret": True,
        "owner": "congress",
        "ref": "r1",
        "eligible": 4,
        "ballots": 0,
        "closes_at": None,
        "alarm": False,
        "recount_matches": None,
        "has_voted": False,
        "receipt": None,
    }
    pid = poll["poll_id"]
    receipts = {}
    for voter, choice in zip(VOTERS[:3], ["yes", "yes", "no"], strict=True):
        with voting(member(voter, "u01")) as rpc:
            receipts[voter] = rpc.voting.cast_choice(pid, {"choice": choice})["receipt"]
            seen = rpc.voting.get_poll(pid)
            assert seen["has_voted"] and seen["receipt"] == receipts[voter]
            assert "counts" not in seen  # secret and still open
    with voting(member("M0100014", "u01")) as rpc:
        assert rpc.voting.get_poll(pid)["has_voted"] is False
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
        again = rpc.voting.close_poll(pid)
    assert closed == {
        "poll_id": pid,
        "status": "closed",
        "counts": {"yes": 2, "no": 1, "abstain": 0},
        "ballots": 3,
        "eligible": 4,
        "recount_matches": True,
    }
    assert again == closed
    with voting(member("M0100014", "u01")) as rpc:
        assert rpc.voting.get_poll(pid)["counts"] == {"yes": 2, "no": 1, "abstain": 0}
        with pytest.raises(Conflict):
            rpc.voting.cast_choice(pid, {"choice": "yes"})  # closed
        check = rpc.voting.verify_receipt(pid, receipts["M0100011"])
        listed = rpc.voting.list_ballots(pid)
    assert check["found"] and check["ballot"]["choice"] == "yes"
    assert sorted(b["receipt"] for b in listed["items"]) == sorted(receipts.values())
    ballots = list(ballots_of(db("voting"), pid).find({}))  # the close moved them (shuffled, no day)
    assert len(ballots) == 3
    assert f"ballots_{pid}" not in db("voting").list_collection_names()
    for b in ballots:
        assert set(b) == {"_id", "receipt", "choice"}
        assert not any(v in str(b) for v in VOTERS), b  # no voter id in a secret ballot
        assert VOTING_KEY not in str(b)


def test_refusals_store_nothing(voting, db):
    with voting(SYSTEM) as rpc:
        pid = open_poll(rpc)["poll_id"]
    with voting(member("M0100011", "u01")) as rpc:
        with pytest.raises(BadInput) as bad:
            rpc.voting.cast_choice(pid, {"choice": "maybe"})
        assert "choice" in bad.value.fields
        with pytest.raises(BadInput):
            rpc.voting.cast_choice(pid, {"choise": "yes"})
        with pytest.raises(NotFound):
            rpc.voting.cast_choice("pnothere", {"choice": "yes"})
        with pytest.raises(Forbidden):
            rpc.voting.open_choice_poll({"title": "x", "voters": ["M0100011"]})
        with pytest.raises(Forbidden):
            rpc.voting.close_poll(pid)
    with voting(member("X9", "u01")) as rpc:
        with pytest.raises(Forbidden):
            rpc.voting.cast_choice(pid, {"choice": "yes"})
        with pytest.raises(Forbidden):
            rpc.voting.get_poll(pid)
    with voting(SYSTEM) as rpc:
        with pytest.raises(BadInput) as bad:
            rpc.voting.open_choice_poll({"title": "", "voters": [], "options": ["a", "a"]})
        assert {"title", "voters", "options"} <= set(bad.value.fields)
        past = open_poll(rpc, ref="r-past", closes_at="2020-01-01T00:00:00+00:00")["poll_id"]
    with voting(member("M0100011", "u01")) as rpc:
        with pytest.raises(Conflict):
            rpc.voting.cast_choice(past, {"choice": "yes"})  # past its closing time
    assert db("voting")[f"ballots_{pid}"].count_documents({}) == 0
    assert db("voting").tallies.find_one({"_id": pid})["n"] == 0


def test_fifty_concurrent_ballots_by_one_voter_leave_one(voting, db):
    with voting(SYSTEM) as rpc:
        pid = open_poll(rpc)["poll_id"]
    outcomes = []

    def attempt():
        with voting(member("M0100012", "u01")) as rpc:
            try:
                outcomes.append(rpc.voting.cast_choice(pid, {"choice": "no"})["receipt"])
            except Conflict as exc:
                outcomes.append(exc)

    pool = eventlet.GreenPool(50)
    for _ in range(50):
        pool.spawn(attempt)
    pool.waitall()
    ok = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(ok) == 1 and len(refused) == 49
    assert all(str(e) == "already voted / 您已投票" for e in refused)
    assert db("voting")[f"ballots_{pid}"].count_documents({}) == 1
    with voting(SYSTEM) as rpc:
        assert rpc.voting.close_poll(pid)["counts"] == {"yes": 0, "no": 1, "abstain": 0}


def test_named_poll_keeps_the_voter_and_admins_can_read(voting, db):
    with voting(SYSTEM) as rpc:
        pid = open_poll(rpc, secret=False, options=["同意", "不同意", "弃权"], **U01_SCOPE)["poll_id"]
    with voting(member("M0100013", "u01")) as rpc:
        rpc.voting.cast_choice(pid, {"choice": "同意"})
    with voting(union_admin("u01")) as rpc:
        assert rpc.voting.get_poll(pid)["counts"] == {"同意": 1, "不同意": 0, "弃权": 0}  # not secret
    assert db("voting")[f"ballots_{pid}"].find_one({})["voter"] == "M0100013"


def test_a_tampered_tally_raises_the_alarm(voting, db):
    with voting(SYSTEM) as rpc:
        pid = open_poll(rpc)["poll_id"]
    with voting(member("M0100011", "u01")) as rpc:
        rpc.voting.cast_choice(pid, {"choice": "yes"})
    db("voting").tallies.update_one({"_id": pid}, {"$inc": {"o0": 5, "n": 5}})  # someone edits the tally
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
        poll = rpc.voting.get_poll(pid)
    assert closed["recount_matches"] is False and poll["alarm"] is True
    stored = db("voting").polls.find_one({"_id": pid})["recount"]
    live, recounted = t.stored_counts(stored["live"]), t.stored_counts(stored["recounted"])
    assert live["yes"] == 6 and recounted["yes"] == 1  # both kept, nothing overwritten
    assert db("voting").tallies.find_one({"_id": pid})["o0"] == 6


def test_casts_cut_by_a_crash_are_counted_at_the_close(voting, db):
    """A crash between the ballot insert and the tally ``$inc`` leaves a stored, uncounted ballot still
    marked pending; one between the ``$inc`` and the settle leaves a counted one marked pending. The
    close accounts for both exactly and records the repair (the kill -9 drill's case)."""
    key = VOTING_KEY.encode()
    with voting(SYSTEM) as rpc:
        pid = open_poll(rpc)["poll_id"]
    with voting(member("M0100011", "u01")) as rpc:
        rpc.voting.cast_choice(pid, {"choice": "yes"})
    ballots = db("voting")[f"ballots_{pid}"]
    for voter, choice in (("M0100012", "no"), ("M0100013", "yes")):
        bid = t.ballot_id(key, pid, voter)
        ballots.insert_one(
            {
                "_id": bid,
                "receipt": t.receipt_code(key, bid),
                "day": "2026-11-21",
                "choice": choice,
                "pending": True,
            }
        )
    db("voting").tallies.update_one({"_id": pid}, {"$inc": t.choice_inc(0)})  # M0100013's $inc landed
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
        poll = rpc.voting.get_poll(pid)
    assert closed["recount_matches"] is True and closed["counts"] == {"yes": 2, "no": 1, "abstain": 0}
    assert poll["alarm"] is False
    repaired = db("voting").polls.find_one({"_id": pid})["recount"]["repaired"]
    assert repaired == {"ballots": 1, "pending": 2, "parts": {"None": {"n": 1, "o1": 1}}}
    ballots = ballots_of(db("voting"), pid)  # the close moved them
    assert ballots.count_documents({"pending": True}) == 0 and ballots.count_documents({}) == 3


def test_a_difference_pending_ballots_do_not_explain_stays_an_alarm(voting, db):
    key = VOTING_KEY.encode()
    with voting(SYSTEM) as rpc:
        pid = open_poll(rpc)["poll_id"]
    bid = t.ballot_id(key, pid, "M0100012")
    db("voting")[f"ballots_{pid}"].insert_one(
        {
            "_id": bid,
            "receipt": t.receipt_code(key, bid),
            "day": "2026-11-21",
            "choice": "no",
            "pending": True,
        }
    )
    db("voting").tallies.update_one({"_id": pid}, {"$inc": {"n": 2, "o0": 2}})  # and someone edits it
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
    assert closed["recount_matches"] is False
    stored = db("voting").polls.find_one({"_id": pid})
    assert stored["alarm"] is True and "repaired" not in stored["recount"]
    assert db("voting").tallies.find_one({"_id": pid})["o0"] == 2  # nothing changed


def test_a_congress_poll_is_read_inside_its_union_only(voting):
    """Issue 12: congress vote polls (with their receipts and ballot list) were readable by any union's
    admin. Now: the union's admins and those above, its members, its delegates, the voters."""
    with voting(SYSTEM) as rpc:
        pid = open_poll(rpc, **U01_SCOPE)["poll_id"]
        old = open_poll(rpc, ref="r2")["poll_id"]  # a poll from before polls knew their union
    with voting(member("M0100011", "u01")) as rpc:
        receipt = rpc.voting.cast_choice(pid, {"choice": "yes"})["receipt"]
    with voting(SYSTEM) as rpc:
        rpc.voting.close_poll(pid)
    superior = member("S1", "u09", ("superior_admin", "ftu"))
    readers = [
        union_admin("u01"),
        superior,
        member("M0100099", "u01"),
        member("D1", "u02", ("delegate", "cg-u01")),
    ]
    for actor in readers:
        with voting(actor) as rpc:
            assert rpc.voting.get_poll(pid)["ballots"] == 1
            assert rpc.voting.list_ballots(pid)["total"] == 1
            assert rpc.voting.verify_receipt(pid, receipt)["found"] is True
    for actor in (union_admin("u02"), member("M0200001", "u02")):
        with voting(actor) as rpc:
            for call in (
                lambda: rpc.voting.get_poll(pid),
                lambda: rpc.voting.list_ballots(pid),
                lambda: rpc.voting.verify_receipt(pid, receipt),
            ):
                with pytest.raises(Forbidden) as info:
                    call()
                assert not info.value.details
    with voting(union_admin("u01")) as rpc, pytest.raises(Forbidden):
        rpc.voting.get_poll(old)
    with voting(superior) as rpc:
        assert rpc.voting.get_poll(old)["poll_id"] == old


def test_a_poll_path_must_end_with_its_union(voting):
    with voting(SYSTEM) as rpc, pytest.raises(BadInput):
        open_poll(rpc, union_id="u01", union_path=["ftu", "u02"])


def test_opening_a_poll_again_for_the_same_ref_returns_the_first(voting, db):
    """Issue 18: congress crashed between voting's poll and its own commit and opens the vote again: the
    poll opened first is returned, no second one is opened (and no second poll_opened)."""
    with voting(SYSTEM) as rpc:
        first = open_poll(rpc)
        again = open_poll(rpc, voters=VOTERS[:2])
        other = open_poll(rpc, ref="r2")
    assert again == first and again["eligible"] == len(VOTERS)
    assert other["poll_id"] != first["poll_id"]
    assert db("voting").polls.count_documents({"ref": "r1"}) == 1
