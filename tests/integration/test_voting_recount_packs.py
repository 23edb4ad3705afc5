"""Recount packs (issue 17 item 3) on the real RabbitMQ and FerretDB: the recount sums the packs each batch
of casts writes when they account for every stored ballot, else counts every ballot; it raises no false
alarm while casts land; a late batch refused at the close and a crashed batch (pack written or not) are
counted exactly; the close counts the ballots it copies and checks the packs' recount and the live tally
against that count (docs/storage.md, "What each recount proves")."""

import eventlet
import pytest

from dmlib.errors import Conflict
from services.voting import tally as t
from services.voting.store import VotingStore, ballots_of, companion, packs_collection
from tests.helpers import SYSTEM, member, token
from tests.integration.test_voting_campaigns import SUPERIOR
from tests.integration.test_voting_campaigns import evaluation as _evaluation  # noqa: F401

pytestmark = pytest.mark.integration

OPTIONS = ["yes", "no", "abstain"]


def open_poll(voting, voters: list[str], ref: str) -> str:
    with voting(SYSTEM) as rpc:
        return rpc.voting.open_choice_poll(
            {"title": "关于职工疗休养方案的决议", "voters": voters, "owner": "congress", "ref": ref}
        )["poll_id"]


def cast(voting, pid: str, voters: list[str]) -> dict[str, int]:
    """Each voter casts in turn (choices rotate); returns the expected counts."""
    expected = dict.fromkeys(OPTIONS, 0)
    with voting(member(voters[0], "u01")) as rpc:
        for i, voter in enumerate(voters):
            rpc._worker_ctx.data["auth_token"] = token(member(voter, "u01"))
            rpc.voting.cast_choice(pid, {"choice": OPTIONS[i % 3]})
            expected[OPTIONS[i % 3]] += 1
    return expected


def packs_of(db, pid: str) -> list[dict]:
    return list(db("voting")[companion(ballots_of(db("voting"), pid).name, "packs")].find({}))


def assert_closed_and_checked(db, pid: str, closed: dict, expected: dict) -> dict:
    """The close's recount came from the packs, equals the live tally, and the ballots the close copied
    count the same (close_count); the packs are now the shuffled copy's."""
    poll = db("voting").polls.find_one({"_id": pid})
    assert closed["counts"] == expected and closed["recount_matches"] is True
    assert poll["recount"]["source"] == "packs" and t.stored_counts(poll["recount"]["recounted"]) == expected
    check = poll["close_count"]
    assert (
        t.stored_counts(check["ballots_counted"]) == expected == t.stored_counts(poll["shuffled"]["counted"])
    )
    assert check["equals_recount"] is True and check["equals_live"] is True and check["source"] == "packs"
    assert not poll.get("alarm")
    names = db("voting").list_collection_names()
    assert packs_collection(pid) not in names  # the casting-ordered packs went with the original
    assert sum(pk["n"] for pk in packs_of(db, pid)) == sum(expected.values())
    return poll


def test_the_recount_reads_the_packs_sees_a_ballot_no_pack_holds_and_the_close_checks_them(voting, db):
    voters = [f"M7{i:06d}" for i in range(30)]
    pid = open_poll(voting, voters, "rp1")
    expected = cast(voting, pid, voters)
    packs = packs_of(db, pid)
    assert len(packs) == 30 and sum(pk["n"] for pk in packs) == 30  # one pack per batch (one cast each)
    with voting(SYSTEM) as rpc:
        check = rpc.voting.recount(pid)
    assert check["source"] == "packs" and check["matches"] is True and check["recounted"] == expected

    original = db("voting")[f"ballots_{pid}"]
    extra = dict(original.find_one({}), _id="written-by-other-means")
    original.insert_one(extra)  # no pack holds it: counted from every ballot, and a real difference
    with voting(SYSTEM) as rpc:
        check = rpc.voting.recount(pid)
    assert check["source"] == "ballots" and check["matches"] is False and "busy" not in check
    assert sum(check["recounted"].values()) == 31
    original.delete_one({"_id": "written-by-other-means"})
    db("voting").polls.update_one({"_id": pid}, {"$set": {"alarm": False}})  # the test's own difference

    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
        after = rpc.voting.recount(pid)  # the shuffled copy's packs
    assert_closed_and_checked(db, pid, closed, expected)
    assert after["source"] == "packs" and after["matches"] is True and after["recounted"] == expected


def test_a_recount_while_casts_land_is_never_a_false_alarm_and_matches_once_they_settle(voting, db):
    voters = [f"M6{i:06d}" for i in range(120)]
    pid = open_poll(voting, voters, "rp2")
    expected = dict.fromkeys(OPTIONS, 0)
    for i in range(120):
        expected[OPTIONS[i % 3]] += 1
    records, casting = [], [True]

    def cast_some(chunk: list[tuple[int, str]]):
        with voting(member(chunk[0][1], "u01")) as rpc:
            for i, voter in chunk:
                rpc._worker_ctx.data["auth_token"] = token(member(voter, "u01"))
                rpc.voting.cast_choice(pid, {"choice": OPTIONS[i % 3]})
                eventlet.sleep(0.05)  # casts keep landing for a few seconds

    def recount_meanwhile():
        with voting(SYSTEM) as rpc:
            while casting[0]:
                records.append(rpc.voting.recount(pid))

    pool = eventlet.GreenPool(5)
    casters = [pool.spawn(cast_some, list(enumerate(voters))[k::4]) for k in range(4)]
    watcher = pool.spawn(recount_meanwhile)
    for caster in casters:
        caster.wait()
    casting[0] = False
    watcher.wait()

    assert records  # at least one recount ran while the casts landed
    assert all(r["matches"] or r.get("busy") for r in records), records
    poll = db("voting").polls.find_one({"_id": pid})
    assert not poll.get("alarm")
    with voting(SYSTEM) as rpc:
        settled = rpc.voting.recount(pid)
        closed = rpc.voting.close_poll(pid)
    assert settled["matches"] is True and settled["recounted"] == expected and settled["source"] == "packs"
    assert_closed_and_checked(db, pid, closed, expected)


def test_a_late_batch_refused_at_the_close_takes_its_pack_with_its_ballots(voting, db, monkeypatch):
    voters = [f"M5{i:06d}" for i in range(7)]
    pid = open_poll(voting, voters, "rp3")
    expected = cast(voting, pid, voters[:6])
    write_pack = VotingStore.write_pack

    def the_close_stops_the_tally_meanwhile(store, poll_id, batch, ballots):
        write_pack(store, poll_id, batch, ballots)
        assert len(packs_of(db, pid)) == 7  # the late batch's pack is written…
        store.close_tally(poll_id)  # …then the close stops the tally before its $inc

    monkeypatch.setattr(VotingStore, "write_pack", the_close_stops_the_tally_meanwhile)
    with voting(member(voters[6], "u01")) as rpc:
        with pytest.raises(Conflict):
            rpc.voting.cast_choice(pid, {"choice": "yes"})
    monkeypatch.undo()
    assert len(packs_of(db, pid)) == 6  # …and taken back with its ballot
    assert db("voting")[f"ballots_{pid}"].count_documents({}) == 6
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
    assert_closed_and_checked(db, pid, closed, expected)


@pytest.mark.parametrize("dies_in", ["write_pack", "count_ballots"])
def test_a_crashed_batch_with_or_without_its_pack_is_repaired_at_the_close(voting, db, monkeypatch, dies_in):
    voters = [f"M4{i:06d}" for i in range(6)]
    pid = open_poll(voting, voters, f"rp4{dies_in}")
    expected = cast(voting, pid, voters[:5])

    def dies(*args, **kwargs):
        raise RuntimeError("the voting service dies")

    monkeypatch.setattr(VotingStore, dies_in, dies)  # before the pack / after it, before the $inc
    with voting(member(voters[5], "u01")) as rpc:
        with pytest.raises(Exception, match="dies"):
            rpc.voting.cast_choice(pid, {"choice": "no"})
    monkeypatch.undo()
    expected["no"] += 1  # stored, not counted: the close repairs it
    assert db("voting").casts_pending.count_documents({"poll": pid}) == 1
    assert len(packs_of(db, pid)) == (5 if dies_in == "write_pack" else 6)
    with voting(SYSTEM) as rpc:
        open_check = rpc.voting.recount(pid)  # the batch in flight is read by its ballots
    assert open_check["recounted"] == expected and open_check["source"] == "packs"
    assert open_check["busy"] is True and not db("voting").polls.find_one({"_id": pid}).get("alarm")
    with voting(SYSTEM) as rpc:
        closed = rpc.voting.close_poll(pid)
    poll = assert_closed_and_checked(db, pid, closed, expected)
    assert poll["recount"]["repaired"]["ballots"] == 1
    assert db("voting").casts_pending.count_documents({"poll": pid}) == 0
    with voting(SYSTEM) as rpc:
        after = rpc.voting.recount(pid)  # a later recount: the shuffled copy's packs
    assert after["matches"] is True and after["recounted"] == expected and after["source"] == "packs"


def test_a_rating_poll_recounts_from_packs_of_batches_and_the_close_count_equals_them(_evaluation, db):  # noqa: F811
    with _evaluation(SUPERIOR) as rpc:
        rpc.voting.create_campaign({"id": "ev2019", "title": "2019年度星级职工之家评选", "union_id": "ftu"})
        rpc.voting.open_campaign("ev2019")
    voters = [(f"M08{i:05d}", "u01" if i % 3 else "u02") for i in range(90)]
    for start in range(0, 90, 30):  # three batches (one RPC each), three packs
        items = []
        for i, (voter, union) in enumerate(voters[start : start + 30], start):
            stars = {f"c{c}": 1 + (i + c) % 5 for c in range(1, 6)}
            data = {"stars": stars, **({"opinion": "食堂要改进"} if i % 4 == 0 else {})}
            items.append({"token": token(member(voter, union)), "campaign_id": "ev2019", "data": data})
        with _evaluation(SUPERIOR) as rpc:
            assert all("ok" in a for a in rpc.voting.cast_ratings(items))
    packs = packs_of(db, "ev2019")
    assert len(packs) == 3 and sorted(pk["n"] for pk in packs) == [30, 30, 30]
    subjects = sorted({u for _, u in voters})
    every = t.recount_ratings(db("voting")["ballots_ev2019"].find({}), subjects, 5)
    with _evaluation(SUPERIOR) as rpc:
        check = rpc.voting.recount("ev2019")
        closed = rpc.voting.close_campaign("ev2019")
    assert check["source"] == "packs" and check["matches"] is True and check["recounted"]["n"] == 90
    assert {s: check["recounted"]["s"][s] for s in subjects} == every["s"]
    assert closed["recount_matches"] is True
    poll = db("voting").polls.find_one({"_id": "ev2019"})
    assert poll["recount"]["source"] == "packs"
    counted = t.stored_counts(poll["close_count"]["ballots_counted"])
    assert (
        counted
        == t.stored_counts(poll["recount"]["recounted"])
        == t.stored_counts(poll["shuffled"]["counted"])
    )
    assert {s: counted["s"][s] for s in subjects} == every["s"] and counted["n"] == 90
    assert poll["close_count"]["equals_recount"] is True and poll["close_count"]["equals_live"] is True
    assert sum(pk["n"] for pk in packs_of(db, "ev2019")) == 90 and not poll.get("alarm")
