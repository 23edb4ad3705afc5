"""The congress service's entrypoints with ``worker_factory``: the real store on FerretDB, the voting and
members proxies mocked. Concurrency (two admins convening at once), the adoption boundary whatever the
abstentions, the rollback when voting is down, and the ``poll_closed`` event racing the admin's close."""

from unittest.mock import MagicMock

import eventlet
import pytest
from nameko.testing.services import worker_factory

from dmlib.auth import service_actor
from dmlib.errors import Conflict, Forbidden, ServiceUnavailable
from dmlib.storage import make_client
from services.congress.service import CongressService
from services.congress.store import CongressStore, checkins_collection
from tests.helpers import MONGO_URI, member, union_admin

pytestmark = pytest.mark.integration

ADMIN = union_admin("u01", "A0001")
PATH = ["ftu", "u01"]


class FakeIdentity:
    """What ``Identity`` injects, with a settable actor."""

    def __init__(self, actor):
        self.actor = actor
        self.acted_as_service = 0

    def require_login(self):
        return self.actor

    def act_as_service(self):
        self.acted_as_service += 1
        self.actor = service_actor("congress")
        return self.actor


@pytest.fixture
def store(db_prefix):
    client = make_client(MONGO_URI)
    db = client[f"{db_prefix}congress"]
    CongressStore.ensure_indexes(db)
    yield CongressStore(db)
    client.close()


@pytest.fixture
def make(store):
    """``make(actor)`` → a worker with the real store, mocked voting/members/events."""
    voting = MagicMock()
    events = MagicMock()
    members = MagicMock()
    members.get_union.return_value = {
        "id": "u01",
        "name": "亦庄精密机械制造有限公司工会",
        "kind": "grassroots",
        "path": PATH,
    }
    members.union_roster.return_value = {
        "union_id": "u01",
        "total": 130,
        "offset": 0,
        "members": [
            {"member_id": f"D{i:04d}", "name": f"代表{i}", "department_id": None} for i in range(130)
        ],
    }

    def build(actor=ADMIN):
        return worker_factory(
            CongressService,
            store=store,
            identity=FakeIdentity(actor),
            voting_rpc=voting,
            members_rpc=members,
            events=events,
        )

    build.voting, build.events = voting, events
    return build


@pytest.fixture
def session(make):
    """A term of 120 delegates (6 delegations) and a planned session with one resolution."""
    svc = make()
    svc.create_congress({"union_id": "u01"})
    term = svc.create_term(
        "cg-u01",
        {
            "number": 1,
            "start": "2025-01-01",
            "end": "2030-01-01",
            "delegations": [{"name": f"团{i}"} for i in range(6)],
        },
    )
    make().elect_delegates(
        term["id"],
        {"delegates": [{"member_id": f"D{i:04d}", "delegation_id": f"g{i % 6 + 1}"} for i in range(120)]},
    )
    return make().create_session(
        term["id"], {"title": "第一次会议", "agenda": [{"kind": "resolution", "title": "决议一"}]}
    )


def seat(store, sid, n):
    """n delegates present, written straight into the session's check-ins (the service path is tested
    elsewhere; here only the outcome logic is)."""
    store.db[checkins_collection(sid)].insert_many(
        [{"_id": f"D{i:04d}", "delegation_id": f"g{i % 6 + 1}", "by": "test"} for i in range(n)]
    )


def test_two_admins_convening_at_once_make_one_transition(make, session, store):
    seat(store, session["id"], 80)
    results = []

    def convene():
        try:
            results.append(make().convene_session(session["id"])["state"])
        except Conflict as exc:
            results.append(exc.details)

    threads = [eventlet.spawn(convene) for _ in range(4)]
    for t in threads:
        t.wait()
    refused = {"state": "convened", "reason": "session_not_planned"}
    assert sorted(map(str, results)) == sorted(["convened"] + [str(refused)] * 3)
    convened = [c for c in make.events.publish.call_args_list if c.args[0] == "session_convened"]
    assert len(convened) == 1


def test_concurrent_double_check_ins_count_once(make, session, store):
    sid = session["id"]
    pool = eventlet.GreenPool(20)
    outs = list(pool.imap(lambda i: make(member(f"D{i % 10:04d}")).check_in(sid, {}), range(40)))
    assert sum(not o["already"] for o in outs) == 10
    assert store.present_count(sid) == 10 and make().session_counts(sid)["present_count"] == 10


@pytest.mark.parametrize(
    "yes, abstain, state",
    [(61, 0, "adopted"), (61, 24, "adopted"), (60, 0, "failed"), (60, 25, "failed"), (60, 40, "failed")],
)
def test_adoption_boundary_whatever_the_abstentions(make, session, store, yes, abstain, state):
    sid, item = session["id"], session["items"][0]["id"]
    seat(store, sid, 100)
    make().convene_session(sid)
    make.voting.open_choice_poll.return_value = {"poll_id": "p1", "eligible": 100}
    make().open_vote(item)
    voters = make.voting.open_choice_poll.call_args.args[0]
    assert (voters["options"], len(voters["voters"]), voters["owner"], voters["ref"]) == (
        ["yes", "no", "abstain"],
        100,
        "congress",
        item,
    )
    make.voting.close_poll.return_value = {
        "poll_id": "p1",
        "status": "closed",
        "counts": {"yes": yes, "no": 0, "abstain": abstain},
        "ballots": yes + abstain,
        "eligible": 100,
        "recount_matches": True,
    }
    out = make().close_vote(item)
    assert (out["state"], out["outcome"]["due"], out["outcome"]["required"]) == (state, 120, 61)
    published = [c.args[0] for c in make.events.publish.call_args_list if c.args[0].startswith("resolution_")]
    assert published == [f"resolution_{state}"]


def test_voting_down_leaves_the_item_pending(make, session, store):
    sid, item = session["id"], session["items"][0]["id"]
    seat(store, sid, 80)
    make().convene_session(sid)
    make.voting.open_choice_poll.side_effect = ServiceUnavailable("voting is not running / 服务未运行")
    with pytest.raises(ServiceUnavailable):
        make().open_vote(item)
    assert store.get_item(item)["state"] == "pending" and store.get_session(sid)["open_item"] is None
    make.voting.open_choice_poll.side_effect = None
    make.voting.open_choice_poll.return_value = {"poll_id": "p2"}
    assert make().open_vote(item)["poll_id"] == "p2"


def test_poll_closed_event_and_admin_close_record_once(make, session, store):
    sid, item = session["id"], session["items"][0]["id"]
    seat(store, sid, 90)
    make().convene_session(sid)
    make.voting.open_choice_poll.return_value = {"poll_id": "p3"}
    make().open_vote(item)
    closed = {
        "poll_id": "p3",
        "kind": "choice",
        "owner": "congress",
        "ref": item,
        "counts": {"yes": 70, "no": 10, "abstain": 10},
        "ballots": 90,
        "eligible": 90,
    }
    # the event's counts are not believed: the outcome is what voting answers for the item's poll
    make.voting.get_poll.return_value = {"status": "open", "owner": "congress", "ref": item, "poll_id": "p3"}
    event = {**closed, "counts": {"yes": 120, "no": 0, "abstain": 0}, "event_id": "e1"}
    make(service_actor("voting")).handle_poll_closed(event)
    assert store.get_item(item)["state"] == "voting"  # voting says the poll is still open: nothing recorded
    make.voting.get_poll.return_value = {**closed, "status": "closed", "recount_matches": True}
    make(service_actor("voting")).handle_poll_closed({**event, "event_id": "e2"})
    make(service_actor("voting")).handle_poll_closed({**event, "event_id": "e2"})  # redelivered
    make.voting.get_poll.assert_called_with("p3")
    make.voting.close_poll.return_value = {**closed, "status": "closed", "recount_matches": True}
    out = make().close_vote(item)
    assert out["state"] == "adopted" and out["outcome"]["yes"] == 70
    make.voting.close_poll.assert_not_called()  # recorded from the event's read of voting already
    assert [c.args[0] for c in make.events.publish.call_args_list if c.args[0].startswith("resolution_")] == [
        "resolution_adopted"
    ]


def test_scope_is_checked_on_every_change(make, session):
    sid = session["id"]
    other_admin = union_admin("u02", "B0001")
    for call in (
        lambda s: s.convene_session(sid),
        lambda s: s.close_session(sid),
        lambda s: s.add_agenda_item(sid, {"kind": "report", "title": "x"}),
        lambda s: s.check_in(sid, {"member_id": "D0001"}),
        lambda s: s.open_vote(session["items"][0]["id"]),
        lambda s: s.close_vote(session["items"][0]["id"]),
    ):
        with pytest.raises(Forbidden):
            call(make(other_admin))
    with pytest.raises(Forbidden):
        make(member("D0130", "u01")).check_in(sid, {})  # a member, not a delegate
    with pytest.raises(Forbidden):
        make(member("X0001", "u02")).get_session(sid)
    assert make(member("D0130", "u01")).get_session(sid)["id"] == sid  # members of the union read
