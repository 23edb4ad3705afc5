"""The elections service with the real members service, RabbitMQ and FerretDB: the demo election of u05's
committee (9 seats, 11 candidates, 842 electors; one candidate below the majority, a tie at the last
seat and its runoff) from nomination to the published report; one ballot per elector under 50
concurrent attempts; receipts; recounts equal to the live tallies; the chair's uncontested election."""

import base64
import io
import random

import eventlet
import pytest

from dmlib.errors import BadInput, Conflict, Forbidden
from dmtools import demo_elections as demo
from services.elections.service import ElectionsService
from services.members.service import MembersService
from tests.helpers import SYSTEM, event_recorder, import_members, member, union_admin, wait_until

pytestmark = pytest.mark.integration

DUE = 842
SEEN: list[tuple[str, dict]] = []
EVENTS = ("election_opened", "round_closed", "election_decided", "election_published")
Listener = event_recorder("elections_listener", "elections", list(EVENTS), SEEN)
ADMIN = union_admin("u05", "M0500001")
NUMBERS = [f"M05{i:05d}" for i in range(1, DUE + 1)]
CANDIDATES = NUMBERS[3:14]
REAL_CASTS = 12  # ballots cast one by one by their electors (the rest are bulk-loaded like the demo)


@pytest.fixture
def services(runner_factory, config, rpc_as):
    SEEN.clear()
    runner_factory(config, MembersService, ElectionsService, Listener).start()
    with rpc_as(SYSTEM, timeout=60) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area-core", "name": "核心区", "kind": "street", "parent_id": "ftu"})
        for u in ("u05", "u06"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "area-core"}
            )
        people = [(no, f"职工{no[-3:]}", "u05") for no in NUMBERS] + [("M0600001", "外单位", "u06")]
        import_members(rpc, people, timeout=120)
    return rpc_as


def cast_as(services, member_id, election_id, ballot):
    with services(member(member_id, "u05")) as rpc:
        return rpc.elections.cast(election_id, ballot)


def test_the_demo_election_from_nomination_to_the_published_report(services, db):
    rng = random.Random("elections-test")
    with services(ADMIN, timeout=60) as rpc:
        el = rpc.elections.create_election(
            {"union_id": "u05", "title": "2024年工会委员会换届选举", "kind": "committee", "seats": 9}
        )
        eid = el["election_id"]
        assert el["status"] == "nominating"
        with pytest.raises(BadInput):  # not a member of u05
            rpc.elections.nominate(eid, {"member_id": "M0600001", "source": "会员联名推荐"})
        for c in CANDIDATES[:9]:
            rpc.elections.nominate(eid, {"member_id": c, "source": "工会委员会提名", "supporters": 12})
        with pytest.raises(Conflict):  # 差额: 9 seats need at least 10 candidates
            rpc.elections.open_voting(eid, {})
        with pytest.raises(Conflict):
            rpc.elections.nominate(eid, {"member_id": CANDIDATES[0], "source": "工会委员会提名"})
        for c in CANDIDATES[9:]:
            rpc.elections.nominate(eid, {"member_id": c, "source": "会员联名推荐", "supporters": 30})
        el = rpc.elections.open_voting(eid, {})
    assert (el["due"], el["turnout_required"], el["majority_required"]) == (DUE, 562, 422)
    assert el["candidates"][0]["source"] == "工会委员会提名" and len(el["candidates"]) == 11
    with services(member("M0600001", "u06")) as rpc, pytest.raises(Forbidden):
        rpc.elections.cast(eid, {"marks": {}})  # not an elector

    voters = list(NUMBERS)
    rng.shuffle(voters)
    ballots = demo.plan_ballots(rng, CANDIDATES, 9, DUE, demo.ROUND1, demo.TURNOUT1, demo.INVALID1)
    # an over-marked ballot first, cast for real: stored, counted invalid
    over = next(i for i, b in enumerate(ballots) if sum(m == "approve" for m in b["marks"].values()) > 9)
    ballots.insert(0, ballots.pop(over))
    receipts = {}
    for voter, b in zip(voters[:REAL_CASTS], ballots[:REAL_CASTS], strict=True):
        out = cast_as(services, voter, eid, b)
        receipts[voter] = out["receipt"]
        assert out["valid"] is (sum(m == "approve" for m in b["marks"].values()) <= 9)
    assert next(iter(receipts)) == voters[0]
    with services(member(voters[0], "u05")) as rpc:
        with pytest.raises(Conflict) as info:
            rpc.elections.cast(eid, ballots[0])
        assert info.value.details["reason"] == "already_voted"
        with pytest.raises(BadInput):  # write-in of a candidate
            rpc.elections.cast(eid, {"marks": {}, "write_ins": [CANDIDATES[0]]})
        mine = rpc.elections.get_election(eid)
        assert mine["has_voted"] and mine["receipt"] == receipts[voters[0]]
        assert "counts" not in mine["rounds"][0] and mine["elected"] == []

    # 50 concurrent attempts by one elector → one ballot
    racer, racer_ballot = voters[REAL_CASTS], ballots[REAL_CASTS]

    def attempt():
        try:
            return cast_as(services, racer, eid, racer_ballot)["receipt"]
        except Conflict as exc:
            return exc.details["reason"]

    pool = eventlet.GreenPool(50)
    results = list(pool.imap(lambda _: attempt(), range(50)))
    assert len([r for r in results if r != "already_voted"]) == 1
    assert results.count("already_voted") == 49
    round1 = el["current_round"]
    assert db("elections")[f"ballots_{round1}"].count_documents({}) == REAL_CASTS + 1

    with services(SYSTEM, timeout=60) as rpc:
        demo.load_round(rpc, eid, voters[REAL_CASTS + 1 :], ballots[REAL_CASTS + 1 :])
        with pytest.raises(Conflict):  # bulk loading refuses a voter who voted
            rpc.elections.load_ballots(eid, [{"member_id": racer, "marks": {}}])
    stored = db("elections")[f"ballots_{round1}"]
    assert stored.count_documents({}) == len(ballots) == round(demo.TURNOUT1 * DUE)
    assert not any(m in str(d) for d in stored.find().limit(50) for m in NUMBERS[:20])  # no member ids
    cast_order = [d["receipt"] for d in stored.find().limit(REAL_CASTS + 1)]

    with services(ADMIN, timeout=60) as rpc:
        el = rpc.elections.close_round(eid)
    r1 = el["rounds"][0]
    assert r1["recount_matches"] is True and r1["counts"]["invalid"] == demo.INVALID1
    d = r1["decision"]
    assert d["valid"] and len(d["elected"]) == 8 and d["runoff"] == CANDIDATES[8:10]
    assert d["below_majority"] == [CANDIDATES[10]] and d["next"] == "runoff"
    assert r1["counts"]["approve"][CANDIDATES[10]] == round(0.40 * DUE) < 422
    assert el["status"] == "voting" and el["rounds"][1]["kind"] == "runoff" and el["rounds"][1]["seats"] == 1
    # secrecy at rest: the ballots were copied in a random order and the original dropped
    moved = db("elections").rounds.find_one({"_id": round1})["ballot_collection"]
    assert f"ballots_{round1}" not in db("elections").list_collection_names()
    copy = db("elections")[moved]
    assert copy.count_documents({}) == len(ballots) and copy.count_documents({"pending": True}) == 0
    assert [d["receipt"] for d in copy.find().limit(REAL_CASTS + 1)] != cast_order

    # receipts verify (and the list is by receipt); a wrong code is not found
    with services(member(voters[1], "u05")) as rpc:
        check = rpc.elections.verify_receipt(round1, receipts[voters[1]].lower())
        assert check["found"] and check["ballot"]["marks"] == {
            c: ballots[1]["marks"].get(c, "abstain") for c in CANDIDATES
        }
        assert not rpc.elections.verify_receipt(round1, "000000000000")["found"]
        page = rpc.elections.list_ballots(round1, 1, 500)
        assert page["total"] == len(ballots)
        assert [b["receipt"] for b in page["items"]] == sorted(b["receipt"] for b in page["items"])
        with pytest.raises(Forbidden):
            rpc.elections.recount(round1)

    # the runoff among the tied
    runoff = demo.runoff_ballots(rng, CANDIDATES[8:10], DUE, demo.ROUND2, demo.TURNOUT2)
    rng.shuffle(voters)
    cast_as(services, voters[0], eid, runoff[0])
    with services(member(voters[1], "u05")) as rpc, pytest.raises(BadInput):
        rpc.elections.cast(eid, {"marks": {CANDIDATES[0]: "approve"}})  # not in the runoff
    with services(SYSTEM, timeout=60) as rpc:
        demo.load_round(rpc, eid, voters[1:], runoff[1:])
    with services(ADMIN, timeout=60) as rpc:
        el = rpc.elections.close_round(eid)
        with pytest.raises(Conflict):
            rpc.elections.close_round(eid)  # the election is decided: no round open
        assert el["status"] == "decided" and el["vacant"] == 0
        assert [e["member_id"] for e in el["elected"]][:8] == CANDIDATES[:8]
        assert el["elected"][8]["member_id"] == CANDIDATES[8] and el["elected"][8]["round"] == 2
        for rnd in el["rounds"]:
            rec = rpc.elections.recount(rnd["round_id"])
            assert rec["matches"] and rec["live"] == rec["recounted"] == rnd["counts"]
    with services(member(voters[5], "u05")) as rpc:
        with pytest.raises(Conflict):  # results are the members' once published
            rpc.elections.results_report(eid, "docx")
    with services(ADMIN, timeout=60) as rpc:
        published = rpc.elections.publish(eid)
        assert published["status"] == "published"
    with services(member(voters[5], "u05")) as rpc:
        seen = rpc.elections.get_election(eid)
        assert len(seen["elected"]) == 9 and seen["rounds"][0]["counts"]["ballots"] == len(ballots)
        docx = rpc.elections.results_report(eid, "docx")
        xlsx = rpc.elections.results_report(eid, "xlsx")
    from docx import Document
    from openpyxl import load_workbook

    text = "\n".join(p.text for p in Document(io.BytesIO(base64.b64decode(docx["content_b64"]))).paragraphs)
    assert "选举结果报告" in text and f"应到{DUE}人" in text and f"无效票{demo.INVALID1}张" in text
    assert "当选名单" in text and text.count("票）") == 9
    sheets = load_workbook(io.BytesIO(base64.b64decode(xlsx["content_b64"]))).sheetnames
    assert sheets == ["第1轮", "第2轮", "当选名单"]
    wait_until(lambda: {e for e, _ in SEEN} >= set(EVENTS), 10)
    decided = next(p for e, p in SEEN if e == "election_decided")
    assert decided["elected"] == 9 and decided["vacant"] == 0


def test_the_chair_may_be_uncontested_and_an_admin_of_another_union_does_nothing(services):
    with services(union_admin("u06", "M0600001")) as rpc, pytest.raises(Forbidden):
        rpc.elections.create_election({"union_id": "u05", "title": "主席选举", "kind": "chair", "seats": 1})
    with services(ADMIN, timeout=60) as rpc:
        with pytest.raises(BadInput):  # a committee is always contested
            rpc.elections.create_election(
                {
                    "union_id": "u05",
                    "title": "委员选举",
                    "kind": "committee",
                    "seats": 3,
                    "rules": {"contested": False},
                }
            )
        el = rpc.elections.create_election(
            {
                "union_id": "u05",
                "title": "主席选举",
                "kind": "chair",
                "seats": 1,
                "rules": {"contested": False},
            }
        )
        rpc.elections.nominate(el["election_id"], {"member_id": CANDIDATES[0], "source": "工会委员会提名"})
        el = rpc.elections.open_voting(el["election_id"], {})
    eid = el["election_id"]
    # 561 approvals of 842: exactly two thirds take part → invalid (more than 2/3 needed) → a repeat round
    with services(SYSTEM, timeout=60) as rpc:
        demo.load_round(rpc, eid, NUMBERS, [{"marks": {CANDIDATES[0]: "approve"}}] * 561)
    with services(ADMIN, timeout=60) as rpc:
        el = rpc.elections.close_round(eid)
    assert el["rounds"][0]["decision"]["valid"] is False and el["rounds"][1]["kind"] == "repeat"
    with services(SYSTEM, timeout=60) as rpc:
        demo.load_round(rpc, eid, NUMBERS, [{"marks": {CANDIDATES[0]: "approve"}}] * 562)
    with services(ADMIN, timeout=60) as rpc:
        el = rpc.elections.close_round(eid)
    assert el["status"] == "decided" and [e["member_id"] for e in el["elected"]] == [CANDIDATES[0]]


def test_the_demo_parts_elections_appraisal_and_awards(services, capsys):
    """dmtools/demo_elections.py's parts (``load`` adds only the look-ups of u01's delegates in congress
    and of the federation's rosters): both elections, an appraisal of 40 subjects by u05's members, a
    双爱双评 round over the federation."""
    rng = random.Random("20180501-elections")
    with services(SYSTEM, timeout=120) as rpc:
        com = demo.committee(rpc, rng, NUMBERS, CANDIDATES)
        chair = demo.chair(rpc, rng, NUMBERS, com["elected"][0]["member_id"])
        ap = demo.appraisal(rpc, rng, NUMBERS[20:60], NUMBERS, "u05")
        people = NUMBERS + ["M0600001"]
        aw = demo.awards(rpc, rng, people)
    with capsys.disabled():
        print(
            f"\n[elections demo parts] committee {len(com['elected'])} in {len(com['rounds'])} rounds, "
            f"chair {len(chair['elected'])}, appraisal {ap['ballots']} ballots, {aw['ballots']} award ballots"
        )
    assert (
        com["status"] == chair["status"] == "published"
        and len(com["elected"]) == 9
        and len(com["rounds"]) == 2
    )
    assert com["rounds"][0]["decision"]["below_majority"] == [CANDIDATES[10]]
    assert ap["status"] == "published" and ap["recount_matches"] is True and len(ap["results"]) == 40
    worst = next(row for row in ap["results"] if row["subject"] == NUMBERS[25])
    assert worst["below_threshold"] and worst["rank"] == 40
    assert aw["due"] == DUE + 1 and aw["recount_matches"] is True
    for cat, n in demo.AWARD_PLACES.items():
        assert len(aw["results"][cat]["awarded"]) + len(aw["results"][cat]["tied"]) >= n
