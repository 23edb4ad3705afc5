"""Agenda items of kind "election" (issue 14) through the hand-written fakes: the item names an election of
the elections service among the delegates present at its session; opening its vote opens the election
(only in a convened, quorate session: 1986 条例 art. 18) with the electors due = the delegates present
then; its result is recorded from elections once published (the event only triggers the read); the
projector shows its round's ballots of the electors due. Rules of the election itself (turnout > 2/3 and
approvals > 1/2 of the electors due, 条例 2016) are the elections ones: tests/unit/test_elections_rules.py."""

import pytest

from dmlib.auth import service_actor
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, ServiceUnavailable
from services.congress import app, projector, rules, views
from tests.unit.test_congress_app import ADMIN, OTHER_ADMIN, clock, d, plan, seat, world  # noqa: F401

SYSTEM = service_actor("elections")
AGENDA = (
    {"kind": "resolution", "title": "决议一", "secret": True},
    {"kind": "election", "title": "选举职工董事", "secret": True},
)


@pytest.fixture
def hall(world):  # noqa: F811
    """Session 1 planned with a resolution and an election item; 80 of the 120 delegates present;
    election ``el-1`` of u01 among the delegates present at it, nominating."""
    store, peers = world
    s = plan(store, AGENDA)
    sid, item = s["id"], s["items"][1]["id"]
    seat(store, sid, 80)
    peers.present = lambda session_id: app.present_delegates(store, SYSTEM, session_id)
    peers.add_election("el-1", sid)
    return store, peers, sid, item


def test_an_election_item_links_an_election_of_its_union_and_session_only(hall):
    store, peers, sid, item = hall
    res = plan(store)["items"][0]["id"]  # a resolution of another session
    peers.add_election("el-union", sid, electorate="union", session_id=None)
    peers.add_election("el-other-union", sid, union_id="u02")
    peers.add_election("el-other-session", sid, session_id="cg-u01-t1-s9")
    peers.add_election("el-voting", sid, status="voting")
    writes = store.writes
    with pytest.raises(Forbidden):
        app.link_election(store, OTHER_ADMIN, peers, item, {"election_id": "el-1"})
    with pytest.raises(Forbidden):
        app.link_election(store, d(1), peers, item, {"election_id": "el-1"})
    with pytest.raises(Conflict):  # not an election item
        app.link_election(store, ADMIN, peers, res, {"election_id": "el-1"})
    for wrong in ("el-union", "el-other-union", "el-other-session"):
        with pytest.raises(BadInput) as bad:
            app.link_election(store, ADMIN, peers, item, {"election_id": wrong})
        assert "election_id" in bad.value.fields
    with pytest.raises(Conflict):  # past nomination
        app.link_election(store, ADMIN, peers, item, {"election_id": "el-voting"})
    with pytest.raises(NotFound):
        app.link_election(store, ADMIN, peers, item, {"election_id": "el-none"})
    assert store.writes == writes  # every refusal wrote nothing
    linked = app.link_election(store, ADMIN, peers, item, {"election_id": "el-1"})
    assert linked["election_id"] == "el-1" and linked["state"] == "pending"
    assert views.item(linked)["election_id"] == "el-1"
    assert store.audits()[-1] == "congress.election_linked"


def test_present_delegates_names_the_open_election_and_who_is_present(hall):
    store, peers, sid, item = hall
    out = app.present_delegates(store, SYSTEM, sid)
    assert out["due_count"] == 120 and out["present_count"] == 80 and out["required"] == 80
    assert out["quorum"] is True and out["state"] == "planned" and out["open_election"] is None
    assert out["member_ids"] == sorted(f"D{i:04d}" for i in range(80))
    with pytest.raises(Forbidden):
        app.present_delegates(store, OTHER_ADMIN, sid)


def test_the_vote_opens_only_in_a_convened_session_with_the_election_linked(hall):
    store, peers, sid, item = hall
    with pytest.raises(Conflict) as no_link:
        app.open_vote(store, ADMIN, clock, peers, item)
    assert no_link.value.details == {"election_id": None, "reason": "election_not_linked"}
    app.link_election(store, ADMIN, peers, item, {"election_id": "el-1"})
    with pytest.raises(Conflict) as planned:  # 1986 条例 art. 18: only in a convened session
        app.open_vote(store, ADMIN, clock, peers, item)
    assert planned.value.details == {"state": "planned", "reason": "session_not_convened"}
    assert peers.elections["el-1"]["status"] == "nominating"


def open_election(hall):
    store, peers, sid, item = hall
    app.link_election(store, ADMIN, peers, item, {"election_id": "el-1"})
    app.convene_session(store, ADMIN, clock, sid)
    return app.open_vote(store, ADMIN, clock, peers, item)


def test_opening_fixes_the_electors_to_the_delegates_present_then(hall):
    store, peers, sid, item = hall
    opened = open_election(hall)
    assert opened["state"] == "voting" and opened["eligible"] == 80
    el = peers.elections["el-1"]
    assert el["status"] == "voting" and el["due"] == 80
    assert el["electors"] == sorted(f"D{i:04d}" for i in range(80))
    event = store.committed("vote_opened")[-1]
    assert event["election_id"] == "el-1" and event["poll_id"] is None and event["eligible"] == 80
    assert store.get_session(sid)["open_item"] == item
    # one vote at a time: the resolution waits; the session does not close meanwhile
    res = store.items_of(sid)[0]["_id"]
    with pytest.raises(Conflict):
        app.open_vote(store, ADMIN, clock, peers, res)
    with pytest.raises(Conflict):
        app.close_session(store, ADMIN, clock, sid)
    # a delegate checking in later does not become an elector (due is fixed at the opening)
    app.check_in(store, d(100), clock, sid, {"member_id": None})
    assert peers.elections["el-1"]["due"] == 80


def test_delegates_vote_on_the_election_ballot_not_through_congress(hall):
    store, peers, sid, item = hall
    open_election(hall)
    with pytest.raises(Conflict) as elsewhere:
        app.cast_vote(store, d(1), peers, item, {"choice": "yes"})
    assert elsewhere.value.details == {"election_id": "el-1", "reason": "vote_on_ballot_page"}
    status = app.my_status(store, d(1), peers, sid)["open_item"]
    assert status["kind"] == "election" and status["election_id"] == "el-1" and status["has_voted"] is False
    peers.has_voted.add("el-1")
    assert app.my_status(store, d(1), peers, sid)["open_item"]["has_voted"] is True


def test_elections_refusing_releases_the_session_and_leaves_the_item_pending(hall):
    store, peers, sid, item = hall
    app.link_election(store, ADMIN, peers, item, {"election_id": "el-1"})
    app.convene_session(store, ADMIN, clock, sid)
    peers.elections_down = True
    with pytest.raises(ServiceUnavailable):
        app.open_vote(store, ADMIN, clock, peers, item)
    assert store.get_item(item)["state"] == "pending" and store.get_session(sid)["open_item"] is None
    peers.elections_down = False
    assert app.open_vote(store, ADMIN, clock, peers, item)["state"] == "voting"


def test_an_opening_cut_short_after_elections_opened_resumes(hall):
    store, peers, sid, item = hall
    app.link_election(store, ADMIN, peers, item, {"election_id": "el-1"})
    app.convene_session(store, ADMIN, clock, sid)
    store.change("sessions", sid, set={"open_item": item})  # step 1 done
    peers.open_election("el-1")  # elections opened, then the congress worker died
    resumed = app.open_vote(store, ADMIN, clock, peers, item)
    assert resumed["state"] == "voting" and resumed["eligible"] == 80


def test_the_result_is_recorded_from_elections_once_published(hall):
    store, peers, sid, item = hall
    open_election(hall)
    with pytest.raises(Conflict) as early:  # still voting in elections
        app.close_vote(store, ADMIN, clock, peers, item)
    assert early.value.details == {"status": "voting", "reason": "not_published"}
    # a forged or early event records nothing: elections is asked, and says it is not published
    assert app.election_published(store, clock, peers, {"election_id": "el-1", "elected": 99}) is None
    assert store.get_item(item)["state"] == "voting"
    peers.publish("el-1", [("D0003", "代表3", 70)])
    decided = app.election_published(store, clock, peers, {"election_id": "el-1"})
    assert decided["state"] == "decided"
    outcome = decided["election_outcome"]
    assert outcome["due"] == 80 and outcome["vacant"] == 0 and outcome["rounds"] == 1
    assert outcome["elected"] == [{"member_id": "D0003", "name": "代表3", "approvals": 70}]
    assert store.committed("election_recorded")[-1]["elected"] == 1
    assert store.get_session(sid)["open_item"] is None  # the next vote may open
    # the admin's close after the event: the recorded item as it is, recorded once
    assert app.close_vote(store, ADMIN, clock, peers, item)["state"] == "decided"
    assert app.election_published(store, clock, peers, {"election_id": "el-1"}) is None
    assert len(store.committed("election_recorded")) == 1
    out = views.item(store.get_item(item))
    assert out["election_outcome"]["elected"][0]["name"] == "代表3"


def test_the_admin_records_the_result_when_the_event_is_lost(hall):
    store, peers, sid, item = hall
    open_election(hall)
    peers.publish("el-1", [("D0003", "代表3", 70)], vacant=1)
    with pytest.raises(Forbidden):
        app.close_vote(store, d(1), clock, peers, item)
    decided = app.close_vote(store, ADMIN, clock, peers, item)
    assert decided["state"] == "decided" and decided["election_outcome"]["vacant"] == 1
    assert store.audits()[-1] == "congress.election_recorded"
    app.close_session(store, ADMIN, clock, sid)


def test_the_projector_shows_the_live_round_then_the_elected(hall):
    store, peers, sid, item = hall
    open_election(hall)
    peers.elections["el-1"]["ballots"] = 57
    data = projector.projector_data(store, peers, store.get_session(sid))
    voting = data["voting"]
    assert voting["kind"] == "election" and voting["ballots"] == 57 and voting["eligible"] == 80
    assert voting["turnout_required"] == 54 and voting["round"] == 1  # > 2/3 of 80 present (条例 2016)
    counts = app.session_counts(store, ADMIN, peers, sid)["open_item"]
    assert counts["ballots"] == 57 and counts["eligible"] == 80 and counts["election_id"] == "el-1"
    peers.publish("el-1", [("D0003", "代表3", 70)])
    app.close_vote(store, ADMIN, clock, peers, item)
    data = projector.projector_data(store, peers, store.get_session(sid))
    assert data["voting"] is None
    assert data["outcome"] == {
        "title": "选举职工董事",
        "kind": "election",
        "due": 80,
        "elected": ["代表3"],
        "vacant": 0,
    }


def test_election_outcome_only_of_a_published_election():
    assert rules.election_outcome({"election_id": "e", "status": "decided", "elected": []}) is None
    out = rules.election_outcome(
        {
            "election_id": "e",
            "status": "published",
            "due": 80,
            "elected": [{"member_id": "m", "name": "甲", "approvals": 41, "round": 1}],
            "vacant": 0,
            "rounds": ["e-r1", "e-r2"],
            "published_at": "2026-04-01T03:00:00Z",
        }
    )
    assert out["elected"] == [{"member_id": "m", "name": "甲", "approvals": 41}] and out["rounds"] == 2
    assert rules.can_transition(rules.ITEM_TRANSITIONS, "voting", "decided")
    assert not rules.can_transition(rules.ITEM_TRANSITIONS, "decided", "voting")
