"""An agenda item of kind "election" over the real RabbitMQ and FerretDB with members, congress and
elections (issue 14): a session of 120 delegates convened with 80 present; the item's election of u01
among the delegates present at that session opens only from the agenda, with the electors due = those
80 (its 2/3 turnout and majority counted against 80, 条例 2016); a delegate who was not present when
voting opened cannot vote (403), nor can one vote twice (409); the published result is recorded on the
item from elections, triggered by ``election_published`` (a forged or lying one records nothing: the
forged-event case of ``congress.handle_election_published``), and the projector shows the live round."""

import pytest
from nameko.standalone.events import event_dispatcher

from dmlib.errors import BadInput, Conflict, Forbidden
from dmlib.events import now_iso
from services.congress.service import CongressService
from services.elections.service import ElectionsService
from services.members.service import MembersService
from tests.helpers import SYSTEM, event_recorder, import_members, publish_event, union_admin, wait_until
from tests.integration.test_congress_session import as_members, member_no, set_up_term

pytestmark = pytest.mark.integration

SEEN: list[tuple[str, dict]] = []
Recorder = event_recorder("congress_election_recorder", "congress", ["election_recorded"], SEEN)
ADMIN = union_admin("u01", member_id="M-ADMIN")
CANDIDATES = ["D0001", "D0002", "D0003"]


@pytest.fixture
def world(container_factory, config, rpc_as):
    """members + congress + elections + recorder; u01 with 130 members, u02 with one."""
    SEEN.clear()
    for cls in (MembersService, CongressService, ElectionsService, Recorder):
        container_factory(cls, config).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "园区工会", "kind": "street", "parent_id": "ftu"})
        for u, name in (("u01", "亦庄精密机械制造有限公司工会"), ("u02", "京南生物医药股份有限公司工会")):
            rpc.members.create_union({"id": u, "name": name, "kind": "grassroots", "parent_id": "area"})
        import_members(
            rpc, [(member_no(i), f"代表{i}", "u01") for i in range(130)] + [("X0001", "外单位", "u02")]
        )
    return rpc_as


def test_an_election_item_among_the_80_delegates_present(world, config, db):
    with world(ADMIN, timeout=60) as rpc:
        term = set_up_term(rpc)["term"]
        session = rpc.congress.create_session(
            term["id"],
            {
                "title": "第三届职工代表大会第二次会议",
                "agenda": [{"kind": "election", "title": "补选工会委员会委员", "secret": True}],
            },
        )
        sid, item_id = session["id"], session["items"][0]["id"]
        election = rpc.elections.create_election(
            {
                "union_id": "u01",
                "title": "补选工会委员会委员",
                "kind": "committee",
                "seats": 2,
                "electorate": "session",
                "session_id": sid,
            }
        )
        eid = election["election_id"]
        assert election["session_id"] == sid and election["electorate"] == "session"
        for m in CANDIDATES:
            rpc.elections.nominate(eid, {"member_id": m, "source": "大会主席团提名"})
        with pytest.raises(BadInput):  # an election of the union's members is not this session's
            other = rpc.elections.create_election(
                {"union_id": "u01", "title": "会员直选", "kind": "chair", "seats": 1}
            )
            rpc.congress.link_election(item_id, {"election_id": other["election_id"]})
        linked = rpc.congress.link_election(item_id, {"election_id": eid})
        assert linked["election_id"] == eid and linked["state"] == "pending"

    with as_members(config) as (rpc, be):  # 80 of 120 delegates check themselves in
        for i in range(80):
            be(member_no(i))
            rpc.congress.check_in(sid, {})

    with world(ADMIN, timeout=60) as rpc:
        with pytest.raises(Conflict):  # not from the agenda: elections refuses to fix the electors
            rpc.elections.open_voting(eid, {})
        with pytest.raises(Conflict):  # the session is not convened yet (1986 条例 art. 18)
            rpc.congress.open_vote(item_id)
        rpc.congress.convene_session(sid)
        opened = rpc.congress.open_vote(item_id)
        assert opened["state"] == "voting" and opened["election_id"] == eid
        el = rpc.elections.get_election(eid)
        # due = the 80 present when voting opened: valid with > 2/3 (54), elected with > 1/2 (41)
        assert (el["status"], el["due"], el["turnout_required"], el["majority_required"]) == (
            "voting",
            80,
            54,
            41,
        )
        present = rpc.congress.present_delegates(sid)
        assert present["open_election"] == eid and present["member_ids"] == [member_no(i) for i in range(80)]
        assert rpc.congress.session_counts(sid)["open_item"]["eligible"] == 80

    ballot = {"marks": {"D0001": "approve", "D0002": "approve", "D0003": "disapprove"}, "write_ins": []}
    with as_members(config) as (rpc, be):
        be("D0100")  # a delegate who was not present when voting opened
        with pytest.raises(Forbidden):
            rpc.elections.cast(eid, ballot)
        rpc.congress.check_in(sid, {})  # checking in late does not make an elector
        with pytest.raises(Forbidden):
            rpc.elections.cast(eid, ballot)
        be("X0001", "u02")
        with pytest.raises(Forbidden):
            rpc.elections.cast(eid, ballot)
        for i in range(60):
            be(member_no(i))
            assert rpc.elections.cast(eid, ballot)["valid"] is True
        be("D0000")
        with pytest.raises(Conflict):  # one ballot per elector
            rpc.elections.cast(eid, ballot)
        me = rpc.congress.my_status(sid)
        assert me["open_item"]["election_id"] == eid and me["open_item"]["has_voted"] is True

    # the broker is not trusted: an unsigned election_published is refused; even one signed with the
    # elections key records nothing while elections (asked) says the election is still voting
    congress = db("congress")
    unsigned = {"election_id": eid, "union_id": "u01", "title": "x", "elected": 3, "event_id": "f" * 32}
    event_dispatcher(config)("elections", "election_published", {**unsigned, "occurred_at": now_iso()})
    lying = publish_event(
        config, "elections", "election_published", election_id=eid, union_id="u01", elected=3
    )
    wait_until(
        lambda: congress.processed_events.find_one(
            {"_id": f"handle_election_published:{lying['event_id']}", "state": "done"}
        ),
        timeout=60,
    )
    assert congress.processed_events.find_one({"_id": f"handle_election_published:{'f' * 32}"}) is None
    assert congress.items.find_one({"_id": item_id})["state"] == "voting"

    with world(ADMIN, timeout=60) as rpc:
        live = rpc.congress.projector(sid)["voting"]
        assert live["kind"] == "election" and live["ballots"] == 60 and live["eligible"] == 80
        with pytest.raises(Conflict):  # not published yet
            rpc.congress.close_vote(item_id)
        with pytest.raises(Conflict):  # the election item holds the session
            rpc.congress.close_session(sid)
        decided = rpc.elections.close_round(eid)
        assert decided["status"] == "decided"
        assert sorted(e["member_id"] for e in decided["elected"]) == ["D0001", "D0002"]
        rpc.elections.publish(eid)

        def recorded():
            got = rpc.congress.get_session(sid)["items"][0]
            return got if got["state"] == "decided" else None

        item = wait_until(recorded, timeout=60)
        outcome = item["election_outcome"]
        assert outcome["due"] == 80 and outcome["vacant"] == 0 and outcome["rounds"] == 1
        assert sorted((e["member_id"], e["name"], e["approvals"]) for e in outcome["elected"]) == [
            ("D0001", "代表1", 60),
            ("D0002", "代表2", 60),
        ]
        assert rpc.congress.close_vote(item_id)["state"] == "decided"  # recorded once
        projected = rpc.congress.projector(sid)
        assert projected["voting"] is None and projected["outcome"]["elected"] == ["代表1", "代表2"]
        assert rpc.congress.close_session(sid)["state"] == "closed"
    wait_until(lambda: [b for t, b in SEEN if t == "election_recorded"], timeout=60)
    assert len([b for t, b in SEEN if t == "election_recorded" and b["item_id"] == item_id]) == 1
