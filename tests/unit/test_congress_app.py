"""Every use case of the congress service through the hand-written fakes (no RabbitMQ, no FerretDB):
what it changes, what it commits to the outbox and the audit log, and that a refusal writes nothing.
Rules: quorum ⌈2/3⌉ of ALL delegates (1986 条例 art. 18); adoption yes > 1/2 of ALL delegates
(ibid.; 企业民主管理规定 2012 art. 20)."""

from datetime import UTC, date, datetime

import pytest

from dmlib.auth import service_actor
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, ServiceUnavailable
from services.congress import app, views
from tests.helpers import member, union_admin
from tests.unit.congress_fakes import FakeCongressStore, FakePeers

T0 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
ADMIN = union_admin("u01", "A0001")
OTHER_ADMIN = union_admin("u02", "B0001")
CG, TERM = "cg-u01", "cg-u01-t1"
SYSTEM = service_actor("voting")


def clock():
    return T0


def d(i: int):
    return member(f"D{i:04d}", "u01", ("delegate", CG))


@pytest.fixture
def world():
    """A congress, term 1 with 6 delegations and 120 delegates (20 of them managers)."""
    store, peers = FakeCongressStore(), FakePeers()
    app.create_congress(store, ADMIN, clock, peers, {"union_id": "u01", "name": ""})
    app.create_term(
        store,
        ADMIN,
        clock,
        CG,
        {
            "number": 1,
            "start": date(2025, 1, 1),
            "end": date(2030, 1, 1),
            "delegations": [{"name": f"团{i}"} for i in range(6)],
        },
    )
    entries = [
        {
            "member_id": f"D{i:04d}",
            "delegation_id": f"g{i % 6 + 1}",
            "category": "manager" if i < 20 else "worker",
        }
        for i in range(120)
    ]
    app.elect_delegates(store, ADMIN, clock, peers, TERM, {"delegates": entries})
    return store, peers


def plan(store, agenda=({"kind": "resolution", "title": "决议一", "secret": True},)):
    return app.create_session(
        store,
        ADMIN,
        clock,
        TERM,
        {
            "kind": "ordinary",
            "title": "第一次会议",
            "scheduled_at": None,
            "agenda": [dict(a) for a in agenda],
        },
    )


def seat(store, sid, n):
    for i in range(n):
        app.check_in(store, d(i), clock, sid, {"member_id": None})


def convened(world, present=100):
    store, _ = world
    s = plan(store)
    seat(store, s["id"], present)
    app.convene_session(store, ADMIN, clock, s["id"])
    return s["id"], s["items"][0]["id"]


def test_congress_and_term_set_up_with_their_audit(world):
    store, peers = world
    congress, terms = app.get_congress(store, d(1), CG)
    out = views.congress(congress, terms)
    assert out["name"] == "亦庄精密机械制造有限公司职工代表大会" and out["union_id"] == "u01"
    term = out["terms"][0]
    assert term["id"] == TERM and term["delegate_count"] == 120 and term["manager_count"] == 20
    assert [g["delegate_count"] for g in term["delegations"]] == [20] * 6
    assert term["managers_over_limit"] is False  # exactly 20 % is within the limit (2012 art. 14)
    assert store.types() == ["congress_created", "delegates_elected"]
    assert store.committed("delegates_elected")[0]["roles_granted"] == 120 and len(peers.granted) == 120
    assert store.audits() == [
        "congress.congress_created",
        "congress.term_created",
        "congress.delegates_elected",
    ]


def test_set_up_refusals_write_nothing(world):
    store, peers = world
    writes, events = store.writes, len(store.events)
    with pytest.raises(Conflict):
        app.create_congress(store, ADMIN, clock, peers, {"union_id": "u01", "name": ""})
    with pytest.raises(BadInput):
        app.create_congress(store, union_admin("ftu"), clock, peers, {"union_id": "ftu", "name": ""})
    with pytest.raises(Forbidden):
        app.create_congress(store, OTHER_ADMIN, clock, peers, {"union_id": "u01", "name": ""})
    with pytest.raises(Conflict):
        app.create_term(
            store,
            ADMIN,
            clock,
            CG,
            {"number": 1, "start": date(2025, 1, 1), "end": date(2030, 1, 1), "delegations": []},
        )
    with pytest.raises(Conflict):
        app.add_delegation(store, ADMIN, TERM, {"name": "团0"})
    with pytest.raises(Forbidden):
        app.add_delegation(store, d(1), TERM, {"name": "新团"})
    with pytest.raises(BadInput) as bad:
        app.elect_delegates(
            store,
            ADMIN,
            clock,
            peers,
            TERM,
            {"delegates": [{"member_id": "X9999", "delegation_id": "g9", "category": "worker"}]},
        )
    assert set(bad.value.fields["delegates"]["0"]) == {"member_id", "delegation_id"}
    with pytest.raises(Conflict):
        app.elect_delegates(
            store,
            ADMIN,
            clock,
            peers,
            TERM,
            {"delegates": [{"member_id": "D0001", "delegation_id": "g1", "category": "worker"}]},
        )
    with pytest.raises(NotFound):
        app.get_term(store, ADMIN, "cg-u01-t9")
    assert (store.writes, len(store.events)) == (writes, events)


def test_a_delegation_added_and_delegates_listed(world):
    store, peers = world
    term = app.add_delegation(store, ADMIN, TERM, {"name": "新团"})
    new = term["delegations"][-1]["id"]
    peers.refuse_grants = True  # the role is a convenience: the delegates collection decides
    term, n = app.elect_delegates(
        store,
        ADMIN,
        clock,
        peers,
        TERM,
        {
            "delegates": [
                {"member_id": f"D{i:04d}", "delegation_id": new, "category": "manager"}
                for i in range(120, 126)
            ]
        },
    )
    # 26 managers of 126 delegates: over 20 % (企业民主管理规定 2012 art. 14)
    assert n == 6 and term["delegate_count"] == 126 and views.term(term)["managers_over_limit"] is True
    assert store.committed("delegates_elected")[-1]["roles_granted"] == 0
    listed = app.list_delegates(store, d(1), TERM)
    assert len(listed) == 126 and sum(x["delegation_name"] == "新团" for x in listed) == 6
    with pytest.raises(Forbidden):
        app.list_delegates(store, member("X0001", "u02"), TERM)


def test_plan_a_session_with_its_agenda(world):
    store, _ = world
    s = plan(store)
    assert s["id"] == f"{TERM}-s1" and s["state"] == "planned" and s["due_count"] == 120
    assert (s["present_count"], s["required"], s["quorum"]) == (0, 80, False)
    assert [i["state"] for i in s["items"]] == ["pending"]
    assert plan(store)["number"] == 2
    item = views.item(
        app.add_agenda_item(store, ADMIN, s["id"], {"kind": "report", "title": "工作报告", "secret": False})
    )
    assert item["id"] == f"{s['id']}-i2" and item["order"] == 2
    assert store.types().count("session_planned") == 2
    assert "congress.agenda_item_added" in store.audits()
    assert [x["number"] for x in app.list_sessions(store, d(1), CG)] == [2, 1]
    with pytest.raises(Forbidden):
        app.create_session(
            store, d(1), clock, TERM, {"kind": "ordinary", "title": "x", "scheduled_at": None, "agenda": []}
        )


def test_check_in_counts_once_and_marks_the_quorum_once(world):
    store, _ = world
    sid = plan(store)["id"]
    first = app.check_in(store, d(1), clock, sid, {"member_id": None})
    again = app.check_in(store, d(1), clock, sid, {"member_id": None})
    assert (first["already"], again["already"], again["present_count"]) == (False, True, 1)
    by_admin = app.check_in(store, ADMIN, clock, sid, {"member_id": "D0002"})
    assert by_admin["present_count"] == 2
    assert store.audits().count("congress.delegate_checked_in") == 2  # the repeat writes nothing
    seat(store, sid, 79)  # D0000-D0078: 79 present of 120, one short
    assert store.types().count("quorum_reached") == 0
    seat(store, sid, 80)  # 80 present: ⌈2/3⌉ reached
    assert store.types().count("quorum_reached") == 1
    seat(store, sid, 90)
    assert store.types().count("quorum_reached") == 1
    assert store.committed("quorum_reached")[0]["present_count"] == 80


def test_check_in_refusals_write_nothing(world):
    store, _ = world
    sid = plan(store)["id"]
    writes = store.writes
    with pytest.raises(Forbidden):
        app.check_in(store, member("D0130", "u01"), clock, sid, {"member_id": None})  # not a delegate
    with pytest.raises(BadInput):
        app.check_in(store, ADMIN, clock, sid, {"member_id": "D0130"})
    with pytest.raises(Forbidden):
        app.check_in(store, d(1), clock, sid, {"member_id": "D0002"})  # someone else, not an admin
    with pytest.raises(NotFound):
        app.check_in(store, d(1), clock, "nope", {"member_id": None})
    assert store.writes == writes


@pytest.mark.parametrize("present, ok", [(79, False), (80, True), (81, True)])
def test_convene_needs_two_thirds_of_all_delegates(world, present, ok):
    store, _ = world
    sid = plan(store)["id"]
    seat(store, sid, present)
    writes, events = store.writes, len(store.events)
    if not ok:
        with pytest.raises(Conflict) as short:
            app.convene_session(store, ADMIN, clock, sid)
        assert short.value.details == {
            "due_count": 120,
            "present_count": 79,
            "required": 80,
            "reason": "quorum_not_reached",
        }
        assert (store.writes, len(store.events)) == (writes, events)
        return
    out = app.convene_session(store, ADMIN, clock, sid)
    assert (out["state"], out["due_count"], out["present_count"], out["quorum"]) == (
        "convened",
        120,
        present,
        True,
    )
    assert store.committed("session_convened")[0]["present_count"] == present
    assert store.audits()[-1] == "congress.session_convened"
    with pytest.raises(Conflict) as twice:
        app.convene_session(store, ADMIN, clock, sid)
    assert twice.value.details == {"state": "convened", "reason": "session_not_planned"}
    with pytest.raises(Forbidden):
        app.convene_session(store, OTHER_ADMIN, clock, sid)
    with pytest.raises(Conflict):  # 应到 is fixed while a session is convened
        app.elect_delegates(
            store,
            ADMIN,
            clock,
            FakePeers(),
            TERM,
            {"delegates": [{"member_id": "D0125", "delegation_id": "g1", "category": "worker"}]},
        )


def test_open_cast_and_close_a_vote(world):
    store, peers = world
    sid, item = convened(world, present=100)
    opened = app.open_vote(store, ADMIN, clock, peers, item)
    assert opened["state"] == "voting" and opened["eligible"] == 100
    spec = peers.polls[opened["poll_id"]]
    assert (spec["owner"], spec["ref"], spec["secret"], len(spec["voters"])) == ("congress", item, True, 100)
    assert store.get_session(sid)["open_item"] == item
    receipt = app.cast_vote(store, d(1), peers, item, {"choice": "yes"})
    assert receipt["receipt"] == "r1" and receipt["poll_id"] == opened["poll_id"]
    status = app.my_status(store, d(1), peers, sid)
    assert status["checked_in"] and status["open_item"]["has_voted"] and status["delegation"] == "团1"
    counts = app.session_counts(store, d(1), peers, sid)
    assert counts["open_item"]["ballots"] == 1 and counts["present_count"] == 100
    with pytest.raises(Conflict):  # one vote at a time; no closing while it is open
        app.close_session(store, ADMIN, clock, sid)
    peers.result(opened["poll_id"], yes=61, abstain=39)
    decided = app.close_vote(store, ADMIN, clock, peers, item)
    assert decided["state"] == "adopted"
    assert (decided["outcome"]["due"], decided["outcome"]["required"]) == (120, 61)
    assert store.get_session(sid)["open_item"] is None
    assert store.types()[-2:] == ["vote_opened", "resolution_adopted"]
    assert store.audits()[-2:] == ["congress.vote_opened", "congress.vote_closed"]
    assert app.close_vote(store, ADMIN, clock, peers, item)["state"] == "adopted"  # read, not recorded again
    assert store.types().count("resolution_adopted") == 1


@pytest.mark.parametrize("yes, abstain, state", [(61, 0, "adopted"), (60, 0, "failed"), (60, 40, "failed")])
def test_adoption_needs_more_than_half_of_all_delegates(world, yes, abstain, state):
    store, peers = world
    _, item = convened(world, present=100)
    poll_id = app.open_vote(store, ADMIN, clock, peers, item)["poll_id"]
    peers.result(poll_id, yes=yes, abstain=abstain)
    assert app.close_vote(store, ADMIN, clock, peers, item)["state"] == state
    assert len(store.committed(f"resolution_{state}")) == 1


def test_vote_refusals_write_nothing(world):
    store, peers = world
    s = plan(
        store,
        (
            {"kind": "resolution", "title": "决议", "secret": False},
            {"kind": "report", "title": "报告", "secret": False},
        ),
    )
    item, report = s["items"][0]["id"], s["items"][1]["id"]
    writes = store.writes
    with pytest.raises(Conflict):
        app.open_vote(store, ADMIN, clock, peers, item)  # not convened
    assert store.writes == writes
    seat(store, s["id"], 80)
    app.convene_session(store, ADMIN, clock, s["id"])
    writes, events = store.writes, len(store.events)
    with pytest.raises(Conflict):
        app.open_vote(store, ADMIN, clock, peers, report)
    with pytest.raises(Forbidden):
        app.open_vote(store, d(1), clock, peers, item)
    with pytest.raises(Conflict):
        app.close_vote(store, ADMIN, clock, peers, item)  # not voting
    with pytest.raises(Conflict):
        app.cast_vote(store, d(1), peers, item, {"choice": "yes"})  # not open
    assert (store.writes, len(store.events)) == (writes, events)
    peers.voting_down = True  # the session's claim on the item is released; the item stays pending
    with pytest.raises(ServiceUnavailable):
        app.open_vote(store, ADMIN, clock, peers, item)
    assert store.get_item(item)["state"] == "pending" and store.get_session(s["id"])["open_item"] is None
    peers.voting_down = False
    app.open_vote(store, ADMIN, clock, peers, item)
    with pytest.raises(Forbidden):
        app.cast_vote(store, d(100), peers, item, {"choice": "yes"})  # a delegate not checked in


def test_poll_closed_records_from_voting_not_from_the_event(world):
    store, peers = world
    _, item = convened(world, present=90)
    poll_id = app.open_vote(store, ADMIN, clock, peers, item)["poll_id"]
    forged = {"owner": "congress", "ref": item, "poll_id": poll_id, "counts": {"yes": 120}, "event_id": "e1"}
    assert app.poll_closed(store, clock, peers, forged) is None  # voting says it is still open
    assert app.poll_closed(store, clock, peers, {**forged, "poll_id": "p-other"}) is None
    peers.result(poll_id, yes=50, no=40)
    peers.polls[poll_id]["status"] = "closed"
    decided = app.poll_closed(store, clock, peers, forged)
    assert decided["state"] == "failed" and decided["outcome"]["yes"] == 50
    assert app.poll_closed(store, clock, peers, forged) is None  # redelivered: already decided
    assert len(store.committed("resolution_failed")) == 1
    # the outcome is in the audit log all the same, recorded by the congress service as the system
    [entry] = [b for t, b in store.events if t == "change_recorded" and b["action"] == "congress.vote_closed"]
    assert (entry["actor"]["member_id"], entry["role"]) == ("service:congress", "system")
    assert (
        entry["note"]["yes"] == 50
        and entry["union_id"] == store.get_session(decided["session_id"])["union_id"]
    )


def test_an_admin_close_that_loses_the_race_to_poll_closed_leaves_one_vote_closed_entry(world):
    store, peers = world
    _, item = convened(world, present=90)
    poll_id = app.open_vote(store, ADMIN, clock, peers, item)["poll_id"]
    peers.result(poll_id, yes=70, no=20)
    peers.polls[poll_id]["status"] = "closed"
    app.poll_closed(store, clock, peers, {"owner": "congress", "ref": item, "poll_id": poll_id})
    assert app.close_vote(store, ADMIN, clock, peers, item)["state"] == "adopted"
    assert store.audits().count("congress.vote_closed") == 1


def test_close_a_session_fixes_the_present(world):
    store, peers = world
    sid, item = convened(world, present=85)
    peers_poll = app.open_vote(store, ADMIN, clock, peers, item)["poll_id"]
    peers.result(peers_poll, yes=61)
    app.close_vote(store, ADMIN, clock, peers, item)
    out = app.close_session(store, ADMIN, clock, sid)
    assert (out["state"], out["present_count"], out["due_count"]) == ("closed", 85, 120)
    assert store.committed("session_closed")[0]["convened"] is True
    writes = store.writes
    with pytest.raises(Conflict):
        app.close_session(store, ADMIN, clock, sid)
    with pytest.raises(Conflict):
        app.check_in(store, d(100), clock, sid, {"member_id": None})
    with pytest.raises(Conflict):
        app.add_agenda_item(store, ADMIN, sid, {"kind": "report", "title": "x", "secret": False})
    assert store.writes == writes
    minutes = app.minutes(store, d(1), sid)
    assert len(minutes["present"]) == 85 and len(minutes["absent"]) == 35
    assert sum(g["present"] for g in minutes["delegations"]) == 85
    assert minutes["session"]["items"][0]["state"] == "adopted"


def test_a_planned_session_may_be_called_off(world):
    store, _ = world
    sid = plan(store)["id"]
    out = app.close_session(store, ADMIN, clock, sid)
    assert out["state"] == "closed" and store.committed("session_closed")[0]["convened"] is False
    assert app.get_session(store, d(1), sid)["state"] == "closed"
    with pytest.raises(Forbidden):
        app.get_session(store, member("X0001", "u02"), sid)


def test_a_session_plan_retried_with_its_key_returns_the_first(world):
    store, _ = world
    data = {
        "kind": "ordinary",
        "title": "第一次会议",
        "scheduled_at": None,
        "agenda": [],
        "client_key": "s-1",
    }
    first = app.create_session(store, ADMIN, clock, TERM, dict(data))
    again = app.create_session(store, ADMIN, clock, TERM, dict(data))
    assert again == first and len(store.col("sessions")) == 1 and store.types().count("session_planned") == 1
    assert app.create_session(store, ADMIN, clock, TERM, {**data, "client_key": "s-2"})["id"] != first["id"]


def test_needs_of_a_delegates_coming_session_until_they_checked_in(world):
    store, _ = world
    sid = plan(store)["id"]
    out = app.needs_of(store, d(1))
    assert out["queues"] == [] and [(i["kind"], i["id"], i["title"], i["scope"]) for i in out["items"]] == [
        ("session_due", sid, "第一次会议", "planned")
    ]
    assert app.needs_of(store, member("M0001", "u01"))["items"] == []  # not a delegate
    assert app.needs_of(store, member("D9999", "u01", ("delegate", CG)))["items"] == []  # not of this term
    app.check_in(store, d(1), clock, sid, {"member_id": None})
    assert app.needs_of(store, d(1))["items"] == []


def test_agenda_items_carry_text_time_place_and_files(world):
    """Issue 16: an agenda item has its text, date and time, place and documents; a file is read by
    whoever may read the session, never through another item; a bad file writes nothing."""
    store, _ = world
    starts = datetime(2026, 4, 2, 1, 30, tzinfo=UTC)
    pdf = {"filename": "草案.pdf", "content_b64": "JVBERi0xLjQK"}
    s = plan(
        store,
        agenda=(
            {
                "kind": "resolution",
                "title": "关于《集体合同》的决议",
                "description": "大会审议通过《集体合同（草案）》。",
                "starts_at": starts,
                "place": "三楼礼堂",
                "attachments": [pdf],
                "secret": True,
            },
        ),
    )
    item = s["items"][0]
    assert (item["description"], item["place"]) == ("大会审议通过《集体合同（草案）》。", "三楼礼堂")
    assert item["starts_at"].startswith("2026-04-02T01:30")
    [att] = item["attachments"]
    assert (att["filename"], att["content_type"], att["size"]) == ("草案.pdf", "application/pdf", 9)
    got = app.get_attachment(store, d(1), item["id"], att["id"])
    assert got["content_b64"] == "JVBERi0xLjQK"
    with pytest.raises(Forbidden):
        app.get_attachment(store, member("X0001", "u02"), item["id"], att["id"])
    added = views.item(
        app.add_agenda_item(
            store, ADMIN, s["id"], {"kind": "report", "title": "工作报告", "place": "礼堂", "attachments": []}
        )
    )
    assert (added["place"], added["attachments"], added["starts_at"]) == ("礼堂", [], None)
    with pytest.raises(NotFound):
        app.get_attachment(store, d(1), added["id"], att["id"])
    writes = store.writes
    with pytest.raises(BadInput):
        app.add_agenda_item(
            store,
            ADMIN,
            s["id"],
            {"kind": "report", "title": "x", "attachments": [{"filename": "a.pdf", "content_b64": "!!"}]},
        )
    assert store.writes == writes and len(store.items_of(s["id"])) == 2


def test_minutes_of_a_session_not_held_list_no_absentees(world):
    """Issue 16: the minutes of a planned (or called-off) session list nobody as absent."""
    store, _ = world
    sid = plan(store)["id"]
    m = app.minutes(store, d(1), sid)
    assert (m["held"], m["absent"], m["present"]) == (False, [], [])
    app.close_session(store, ADMIN, clock, sid)
    assert app.minutes(store, d(1), sid)["absent"] == []
