"""Use cases of the elections service (services/elections/app.py) over hand-written fakes: set-up,
nomination, electors from their owner, casting, the close with its decision and the next round, the
recount alarm, publication and who sees what."""

import pytest

from dmlib.contracts import elections as c
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound
from services.elections import app
from tests.helpers import SYSTEM, member, union_admin
from tests.unit.elections_fakes import KEY, Clock, FakeElectionsStore, FakePeers

ADMIN = union_admin("u05", "M05001")
OTHER_ADMIN = union_admin("u06", "M06001")
ELECTORS = [f"M05{i:03d}" for i in range(1, 10)]  # 9 electors due: turnout > 6, majority ≥ 5


@pytest.fixture
def p():
    return app.Ports(
        store=FakeElectionsStore(), key=KEY, peers=FakePeers(9), clock=Clock(), sleep=lambda s: None
    )


def setup(p, seats=2, candidates=("M05001", "M05002", "M05003"), **rules):
    data = c.ElectionIn().load(
        {"union_id": "u05", "title": "委员会选举", "kind": "committee", "seats": seats, "rules": rules}
    )
    el = app.create_election(p, ADMIN, data)
    for m in candidates:
        app.nominate(
            p, ADMIN, el["election_id"], c.NominationIn().load({"member_id": m, "source": "工会委员会提名"})
        )
    return app.open_voting(p, ADMIN, el["election_id"], {"closes_at": None})


def vote(p, eid, who, approve=(), write_ins=()):
    data = c.ElectionBallotIn().load({"marks": {m: "approve" for m in approve}, "write_ins": list(write_ins)})
    return app.cast(p, member(who, "u05"), eid, data)


def test_set_up_is_for_the_unions_admins_and_the_slate_must_fit(p):
    data = c.ElectionIn().load({"union_id": "u05", "title": "委员会选举", "kind": "committee", "seats": 2})
    with pytest.raises(Forbidden):
        app.create_election(p, OTHER_ADMIN, data)
    el = app.create_election(p, ADMIN, data)
    eid = el["election_id"]
    nom = c.NominationIn().load({"member_id": "M06001", "source": "会员联名推荐"})
    with pytest.raises(BadInput):  # not a member of u05
        app.nominate(p, ADMIN, eid, nom)
    for m in ("M05001", "M05002"):
        app.nominate(
            p, ADMIN, eid, c.NominationIn().load({"member_id": m, "source": "会员联名推荐", "supporters": 10})
        )
    with pytest.raises(Conflict):
        app.nominate(p, ADMIN, eid, c.NominationIn().load({"member_id": "M05001", "source": "会员联名推荐"}))
    with pytest.raises(Conflict) as info:  # 差额: 2 seats need 3
        app.open_voting(p, ADMIN, eid, {})
    assert info.value.details["field"] == "candidates"
    app.nominate(p, ADMIN, eid, c.NominationIn().load({"member_id": "M05003", "source": "会员联名推荐"}))
    el = app.open_voting(p, ADMIN, eid, {})
    assert (el["status"], el["due"], el["turnout_required"], el["majority_required"]) == ("voting", 9, 7, 5)
    assert el["candidates"][0]["supporters"] == 10 and el["candidates"][0]["name"] == "会员1"
    assert p.store.kinds().count("change_recorded") == 5  # created, 3 nominations, opened


def test_one_ballot_per_elector_and_over_marked_ballots_are_counted_invalid(p):
    eid = setup(p)["election_id"]
    first = vote(p, eid, "M05004", approve=["M05001"])
    assert first["valid"] and len(first["receipt"]) == 12
    with pytest.raises(Conflict) as info:
        vote(p, eid, "M05004", approve=["M05002"])
    assert info.value.details["reason"] == "already_voted"
    assert vote(p, eid, "M05005", approve=["M05001", "M05002", "M05003"])["valid"] is False
    assert vote(p, eid, "M05006", approve=["M05001"], write_ins=["M05009"])["valid"] is True
    with pytest.raises(BadInput) as stranger:  # a write-in must be an elector
        vote(p, eid, "M05007", write_ins=["M06001"])
    assert stranger.value.reason == "write_in_not_elector"  # the ballot page's own sentence (issue 16)
    with pytest.raises(BadInput) as unknown:  # not a candidate
        vote(p, eid, "M05007", approve=["M05009"])
    assert unknown.value.reason == "ballot_not_valid"
    with pytest.raises(Forbidden):
        app.cast(p, member("M06001", "u06"), eid, {"marks": {}, "write_ins": []})
    with pytest.raises(Forbidden):  # the system does not vote
        app.cast(p, SYSTEM, eid, {"marks": {}, "write_ins": []})
    tally = p.store.get_tally(f"{eid}-r1")
    assert (tally["n"], tally["v"], tally["i"], tally["a0"], tally["w_M05009"]) == (3, 2, 1, 2, 1)
    ballots = p.store.iter_ballots(f"{eid}-r1")
    assert not any("M05004" in str(b) for b in ballots)  # no voter id in a ballot


def test_a_tie_at_the_last_seat_opens_a_runoff_and_the_runoff_decides(p):
    eid = setup(p)["election_id"]
    # 8 of 9 take part: M05001 approved by 6, M05002 and M05003 by 5 each (a tie above the majority of 5)
    plan = [["M05001", "M05002"]] * 3 + [["M05001", "M05003"]] * 3 + [["M05002", "M05003"]] * 2
    for who, approve in zip(ELECTORS, plan, strict=False):
        vote(p, eid, who, approve=approve)
    with pytest.raises(Forbidden):
        app.close_round(p, member("M05001", "u05"), eid)
    el = app.close_round(p, ADMIN, eid)
    r1 = el["rounds"][0]
    assert r1["counts"]["approve"] == {"M05001": 6, "M05002": 5, "M05003": 5}
    assert r1["decision"]["elected"] == ["M05001"] and r1["decision"]["runoff"] == ["M05002", "M05003"]
    assert r1["recount_matches"] is True
    assert el["current_round"] == f"{eid}-r2" and el["rounds"][1]["kind"] == "runoff"
    assert [e["member_id"] for e in el["elected"]] == ["M05001"]
    with pytest.raises(BadInput):  # no write-ins in a runoff
        vote(p, eid, "M05001", approve=["M05002"], write_ins=["M05009"])
    for who in ELECTORS[:7]:
        vote(p, eid, who, approve=["M05002"])
    el = app.close_round(p, ADMIN, eid)
    assert el["status"] == "decided" and [e["member_id"] for e in el["elected"]] == ["M05001", "M05002"]
    assert el["vacant"] == 0 and el["elected"][1]["round"] == 2
    assert "election_decided" in p.store.kinds()
    with pytest.raises(Conflict):
        app.close_round(p, ADMIN, eid)


def test_fewer_passing_than_seats_goes_to_a_further_round_or_stays_vacant(p):
    eid = setup(p)["election_id"]
    for who in ELECTORS[:7]:
        vote(p, eid, who, approve=["M05001"])
    el = app.close_round(p, ADMIN, eid)
    assert el["rounds"][1]["kind"] == "further" and el["rounds"][1]["seats"] == 1
    assert [c["member_id"] for c in el["rounds"][1]["candidates"]] == ["M05002", "M05003"]

    p2 = app.Ports(
        store=FakeElectionsStore(), key=KEY, peers=FakePeers(9), clock=Clock(), sleep=lambda s: None
    )
    eid2 = setup(p2, shortfall="vacant")["election_id"]
    for who in ELECTORS[:7]:
        vote(p2, eid2, who, approve=["M05001"])
    el2 = app.close_round(p2, ADMIN, eid2)
    assert el2["status"] == "decided" and el2["vacant"] == 1 and len(el2["elected"]) == 1


def test_a_further_round_is_held_once_then_the_seats_stay_vacant(p):
    eid = setup(p)["election_id"]
    for who in ELECTORS[:7]:
        vote(p, eid, who, approve=["M05001"])
    app.close_round(p, ADMIN, eid)
    for who in ELECTORS[:7]:  # the further round: nobody passes
        vote(p, eid, who, approve=[])
    el = app.close_round(p, ADMIN, eid)
    assert el["status"] == "decided" and el["vacant"] == 1 and len(el["rounds"]) == 2


def test_a_written_in_person_elected_is_named(p):
    eid = setup(p, seats=1, candidates=("M05001", "M05002"))["election_id"]
    for who in ELECTORS[:7]:
        vote(p, eid, who, write_ins=["M05009"])
    el = app.close_round(p, ADMIN, eid)
    assert el["elected"] == [{"member_id": "M05009", "name": "会员9", "approvals": 7, "round": 1}]


def test_a_turnout_of_two_thirds_exactly_is_invalid_and_repeats_the_round(p):
    eid = setup(p)["election_id"]
    for who in ELECTORS[:6]:  # 6 of 9 = 2/3, not more
        vote(p, eid, who, approve=["M05001", "M05002"])
    el = app.close_round(p, ADMIN, eid)
    assert el["rounds"][0]["decision"]["valid"] is False and el["rounds"][1]["kind"] == "repeat"
    assert el["elected"] == [] and el["rounds"][1]["seats"] == 2


def test_a_recount_that_differs_raises_the_alarm_and_blocks_publication(p):
    eid = setup(p)["election_id"]
    for who in ELECTORS[:8]:
        vote(p, eid, who, approve=["M05001", "M05002"])
    p.store.collections["tallies"][f"{eid}-r1"]["a0"] += 1  # the live tally tampered with
    el = app.close_round(p, ADMIN, eid)
    assert el["status"] == "decided" and el["rounds"][0]["recount_matches"] is False
    assert "recount_mismatched" in p.store.kinds()
    with pytest.raises(Conflict):
        app.publish(p, ADMIN, eid)


def test_results_are_the_admins_until_published_then_the_members(p):
    eid = setup(p)["election_id"]
    for who in ELECTORS[:8]:
        vote(p, eid, who, approve=["M05001", "M05002"])
    app.close_round(p, ADMIN, eid)
    m = member("M05009", "u05")
    seen = app.get_election(p, m, eid)
    assert seen["elected"] == [] and "counts" not in seen["rounds"][0]
    with pytest.raises(Conflict):
        app.report_data(p, m, eid)
    with pytest.raises(Forbidden):
        app.get_election(p, member("M06001", "u06"), eid)
    with pytest.raises(Forbidden):
        app.publish(p, OTHER_ADMIN, eid)
    app.publish(p, ADMIN, eid)
    seen = app.get_election(p, m, eid)
    assert [e["member_id"] for e in seen["elected"]] == ["M05001", "M05002"]
    assert app.report_data(p, m, eid)["rounds"][0]["counts"]["ballots"] == 8
    assert app.publish(p, ADMIN, eid)["status"] == "published"  # idempotent
    assert p.store.kinds().count("election_published") == 1


def test_receipts_verify_and_the_list_is_public_once_closed(p):
    eid = setup(p)["election_id"]
    receipt = vote(p, eid, "M05004", approve=["M05001"])["receipt"]
    rid = f"{eid}-r1"
    with pytest.raises(Conflict):
        app.list_ballots(p, member("M05004", "u05"), rid, 1, 100)
    check = app.verify_receipt(p, member("M05004", "u05"), rid, receipt.lower()[:6] + "-" + receipt[6:])
    assert check["found"] and check["ballot"]["marks"]["M05001"] == "approve"
    with pytest.raises(BadInput):
        app.verify_receipt(p, member("M05004", "u05"), rid, "nope")
    with pytest.raises(NotFound):
        app.verify_receipt(p, member("M05004", "u05"), "el-x-r1", receipt)


def test_delegates_of_a_term_as_electors(p):
    data = c.ElectionIn().load(
        {
            "union_id": "u05",
            "title": "职工代表选举",
            "kind": "delegates",
            "seats": 1,
            "electorate": "term",
            "term_id": "t1",
        }
    )
    el = app.create_election(p, ADMIN, data)
    for m in ("M05004", "M05005"):
        app.nominate(
            p, ADMIN, el["election_id"], c.NominationIn().load({"member_id": m, "source": "代表团推荐"})
        )
    el = app.open_voting(p, ADMIN, el["election_id"], {})
    assert el["due"] == 3
    with pytest.raises(Forbidden):  # a member who is not a delegate of the term
        vote(p, el["election_id"], "M05009", approve=["M05004"])


def test_the_write_in_picker_finds_electors_by_name_not_candidates_nor_outsiders(p):
    eid = setup(p)["election_id"]
    voter = member("M05004", "u05")
    found = app.find_electors(p, voter, eid, "会员")
    ids = [f["member_id"] for f in found]
    assert ids == [f"M05{i:03d}" for i in range(4, 10)]  # the candidates M05001-3 are left out
    assert found[0] == {"member_id": "M05004", "name": "会员4"}
    assert [f["member_id"] for f in app.find_electors(p, voter, eid, "M05007")] == ["M05007"]
    assert app.find_electors(p, voter, eid, "外单位") == []  # not an elector
    with pytest.raises(Forbidden):
        app.find_electors(p, member("M06001", "u06"), eid, "会员")
    with pytest.raises(BadInput):
        app.find_electors(p, voter, eid, " ")
    data = {"union_id": "u05", "title": "主席选举", "kind": "chair", "seats": 1}
    nominating = app.create_election(p, ADMIN, c.ElectionIn().load(data))["election_id"]
    with pytest.raises(Conflict):  # no round open
        app.find_electors(p, ADMIN, nominating, "会员")


def test_the_receipt_check_and_the_ballot_list_name_the_round(p):
    eid = setup(p)["election_id"]
    receipt = vote(p, eid, "M05004", approve=["M05001"])["receipt"]
    app.close_round(p, ADMIN, eid)
    check = app.verify_receipt(p, member("M05005", "u05"), f"{eid}-r1", receipt)
    assert check["election_id"] == eid and check["n"] == 1
    assert check["candidates"][0] == {"member_id": "M05001", "name": "会员1"}
    listed = app.list_ballots(p, member("M05005", "u05"), f"{eid}-r1", 1, 100)
    assert listed["total"] == 1 and listed["items"][0]["receipt"] == receipt
    assert listed["election_id"] == eid and len(listed["candidates"]) == 3


# ----- electorate "session": the delegates present at a congress session (issue 14) ------------------
def session_election(p, session="s1"):
    data = c.ElectionIn().load(
        {
            "union_id": "u05",
            "title": "职工董事选举",
            "kind": "chair",
            "seats": 1,
            "electorate": "session",
            "session_id": session,
            "rules": {"contested": False},
        }
    )
    el = app.create_election(p, ADMIN, data)
    app.nominate(
        p, ADMIN, el["election_id"], c.NominationIn().load({"member_id": "M05001", "source": "主席团提名"})
    )
    return el["election_id"]


def test_a_session_electorate_names_an_open_session_of_the_union(p):
    with pytest.raises(Exception) as missing:
        c.ElectionIn().load(
            {"union_id": "u05", "title": "选举", "kind": "chair", "seats": 1, "electorate": "session"}
        )
    assert "session_id" in missing.value.messages
    with pytest.raises(NotFound):
        session_election(p, "s9")
    p.peers.sessions["s2"] = {**p.peers.sessions["s1"], "session_id": "s2", "union_id": "u06"}
    with pytest.raises(BadInput):  # another union's congress
        session_election(p, "s2")
    p.peers.sessions["s3"] = {**p.peers.sessions["s1"], "session_id": "s3", "state": "closed"}
    with pytest.raises(BadInput):  # a closed session
        session_election(p, "s3")
    eid = session_election(p)
    assert app.get_election(p, ADMIN, eid)["session_id"] == "s1"


def test_a_session_election_opens_only_as_the_sessions_open_item_with_a_quorum(p):
    eid = session_election(p)
    with pytest.raises(Conflict) as not_named:  # opened directly, not from the session's agenda
        app.open_voting(p, ADMIN, eid, {})
    assert not_named.value.details["open_election"] is None
    p.peers.sessions["s1"].update(open_election=eid, state="planned")
    with pytest.raises(Conflict):  # 1986 条例 art. 18: a convened session only
        app.open_voting(p, ADMIN, eid, {})
    p.peers.sessions["s1"].update(state="convened", quorum=False, present_count=4)
    with pytest.raises(Conflict) as short:
        app.open_voting(p, ADMIN, eid, {})
    assert short.value.details["required"] == 5
    assert p.store.get_election(eid)["status"] == "nominating"  # nothing opened
    p.peers.sessions["s1"].update(quorum=True, present_count=5)
    out = app.open_voting(p, ADMIN, eid, {})
    # due = the delegates present when voting opened: turnout > 2/3 of 5 → 4, majority > 1/2 of 5 → 3
    assert out["due"] == 5 and out["turnout_required"] == 4 and out["majority_required"] == 3
    opened = [b for t, b in p.store.events if t == "round_opened"]
    assert opened[-1]["session_id"] == "s1" and opened[-1]["electorate"] == "session"


def test_only_the_delegates_present_at_the_opening_vote(p):
    eid = session_election(p)
    p.peers.sessions["s1"]["open_election"] = eid
    app.open_voting(p, ADMIN, eid, {})
    # a delegate checked in later (M05006) is not an elector: 403
    p.peers.sessions["s1"]["member_ids"].append("M05006")
    with pytest.raises(Forbidden):
        vote(p, eid, "M05006", approve=["M05001"])
    assert vote(p, eid, "M05002", approve=["M05001"])["valid"] is True
    with pytest.raises(Conflict) as again:
        vote(p, eid, "M05002", approve=["M05001"])
    assert again.value.details["reason"] == app.ALREADY_VOTED
