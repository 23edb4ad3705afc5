"""A whole congress session across members, congress and voting over the real RabbitMQ and FerretDB:
120 delegates in 6 delegations, the quorum boundary (79 refused with 409 and the numbers, 80 convenes),
idempotent check-in, votes through voting's choice polls and the adoption boundary (61 of 120 adopts,
60 fails whatever the abstentions), with the published events."""

from contextlib import contextmanager

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.errors import BadInput, Conflict, Forbidden
from services.congress.service import CongressService
from services.members.service import MembersService
from services.voting.service import VotingService
from tests.helpers import SYSTEM, event_recorder, import_members, member, token, union_admin, wait_until

pytestmark = pytest.mark.integration

SEEN: list[tuple[str, dict]] = []
DELEGATIONS = ["生产一团", "生产二团", "技术研发团", "质量安全团", "经营管理团", "后勤保障团"]


Recorder = event_recorder(
    "congress_recorder",
    "congress",
    ["quorum_reached", "session_convened", "resolution_adopted", "resolution_failed"],
    SEEN,
)


def member_no(i: int) -> str:
    return f"D{i:04d}"


@pytest.fixture
def world(container_factory, config, rpc_as):
    """members + voting + congress + recorder running; union u01 with 130 members, u02 with one."""
    SEEN.clear()
    for cls in (MembersService, VotingService, CongressService, Recorder):
        container_factory(cls, config).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "园区工会", "kind": "street", "parent_id": "ftu"})
        rpc.members.create_union(
            {"id": "u01", "name": "亦庄精密机械制造有限公司工会", "kind": "grassroots", "parent_id": "area"}
        )
        rpc.members.create_union(
            {"id": "u02", "name": "京南生物医药股份有限公司工会", "kind": "grassroots", "parent_id": "area"}
        )
        import_members(
            rpc, [(member_no(i), f"代表{i}", "u01") for i in range(130)] + [("X0001", "外单位", "u02")]
        )
    return rpc_as


@contextmanager
def as_members(config):
    """One proxy whose identity is switched per call: ``with as_members(config) as (rpc, be): be("D0001")``."""
    context = {"auth_token": token(SYSTEM)}
    with ClusterRpcProxy(config, context_data=context, timeout=15) as rpc:

        def be(member_id: str, union_id: str = "u01"):
            context["auth_token"] = token(member(member_id, union_id))

        yield rpc, be


def set_up_term(rpc, managers: int = 20) -> dict:
    rpc.congress.create_congress({"union_id": "u01"})
    term = rpc.congress.create_term(
        "cg-u01",
        {
            "number": 3,
            "start": "2025-04-01",
            "end": "2030-03-31",
            "delegations": [{"name": n} for n in DELEGATIONS],
        },
    )
    delegates = [
        {
            "member_id": member_no(i),
            "delegation_id": f"g{i % 6 + 1}",
            "category": "manager" if i < managers else "worker",
        }
        for i in range(120)
    ]
    return rpc.congress.elect_delegates(term["id"], {"delegates": delegates})


def test_whole_session_quorum_and_adoption_boundaries(world, config, db):
    admin = union_admin("u01", member_id="M-ADMIN")
    with world(admin) as rpc:
        elected = set_up_term(rpc)
        assert elected["elected"] == 120
        term = elected["term"]
        assert (term["delegate_count"], term["manager_count"], term["managers_over_limit"]) == (
            120,
            20,
            False,
        )
        assert [d["delegate_count"] for d in term["delegations"]] == [20] * 6
        session = rpc.congress.create_session(
            term["id"],
            {
                "title": "第三届职工代表大会第二次会议",
                "agenda": [
                    {"kind": "report", "title": "总经理工作报告"},
                    {"kind": "resolution", "title": "关于《2026年度工资集体协商方案》的决议", "secret": True},
                    {
                        "kind": "resolution",
                        "title": "关于修订《职工带薪休假管理办法》的决议",
                        "secret": False,
                    },
                ],
            },
        )
        sid = session["id"]
        items = [i["id"] for i in session["items"]]
        assert (session["state"], session["due_count"], session["required"]) == ("planned", 120, 80)
        for i in range(79):
            rpc.congress.check_in(sid, {"member_id": member_no(i)})  # the admin's desk checks them in
        with pytest.raises(Conflict) as short:
            rpc.congress.convene_session(sid)
        assert short.value.details == {
            "due_count": 120,
            "present_count": 79,
            "required": 80,
            "reason": "quorum_not_reached",
        }
        assert "79" in short.value.message and "80" in short.value.message
        with pytest.raises(Conflict):
            rpc.congress.open_vote(items[1])  # not convened yet

    with as_members(config) as (rpc, be):
        be(member_no(79))
        first = rpc.congress.check_in(sid, {})  # on the delegate's phone
        again = rpc.congress.check_in(sid, {})
        assert (first["already"], first["present_count"]) == (False, 80)
        assert (again["already"], again["present_count"]) == (True, 80)  # twice counts once
        be("D0125")  # a member of the union, not a delegate
        with pytest.raises(Forbidden):
            rpc.congress.check_in(sid, {})
        be(member_no(0))
        with pytest.raises(Forbidden):
            rpc.congress.convene_session(sid)  # a delegate is no admin

    with world(admin) as rpc:
        with pytest.raises(BadInput) as not_delegate:
            rpc.congress.check_in(sid, {"member_id": "D0125"})
        assert "member_id" in not_delegate.value.fields
        convened = rpc.congress.convene_session(sid)
        assert (convened["state"], convened["due_count"], convened["present_count"]) == ("convened", 120, 80)
        with pytest.raises(Conflict):
            rpc.congress.convene_session(sid)  # only once
        for i in range(80, 85):  # late arrivals: 85 present
            rpc.congress.check_in(sid, {"member_id": member_no(i)})
        assert rpc.congress.session_counts(sid)["present_count"] == 85
        with pytest.raises(Conflict):
            rpc.congress.open_vote(items[0])  # a report is not voted on
        opened = rpc.congress.open_vote(items[1])
        assert opened["state"] == "voting" and opened["poll_id"]
        with pytest.raises(Conflict):
            rpc.congress.open_vote(items[2])  # one vote at a time

    def vote(item_id: str, yes: int, no: int, abstain: int):
        with as_members(config) as (rpc, be):
            choices = ["yes"] * yes + ["no"] * no + ["abstain"] * abstain
            for i, choice in enumerate(choices):
                be(member_no(i))
                assert rpc.congress.cast_vote(item_id, {"choice": choice})["receipt"]
            be(member_no(0))
            with pytest.raises(Conflict):
                rpc.congress.cast_vote(item_id, {"choice": "no"})  # a second ballot
            with pytest.raises(BadInput) as bad:
                rpc.congress.cast_vote(item_id, {"choice": "maybe"})
            assert "choice" in bad.value.fields
            be(member_no(100))  # a delegate who did not check in
            with pytest.raises(Forbidden):
                rpc.congress.cast_vote(item_id, {"choice": "yes"})
            be("D0125")  # not a delegate
            with pytest.raises(Forbidden):
                rpc.congress.cast_vote(item_id, {"choice": "yes"})

    vote(items[1], yes=61, no=0, abstain=24)
    with world(admin) as rpc:
        adopted = rpc.congress.close_vote(items[1])
        assert adopted["state"] == "adopted"
        assert {
            k: adopted["outcome"][k]
            for k in ("yes", "no", "abstain", "ballots", "eligible", "due", "required")
        } == {"yes": 61, "no": 0, "abstain": 24, "ballots": 85, "eligible": 85, "due": 120, "required": 61}
        assert rpc.congress.close_vote(items[1])["state"] == "adopted"  # closing again changes nothing
        rpc.congress.open_vote(items[2])

    vote(items[2], yes=60, no=0, abstain=25)  # 60 of 85 present voting yes, 0 against: still fails
    with as_members(config) as (rpc, be):
        be(member_no(1))
        with pytest.raises(Conflict):
            rpc.congress.cast_vote(items[1], {"choice": "yes"})  # the closed item
    with world(admin) as rpc:
        failed = rpc.congress.close_vote(items[2])
        assert (failed["state"], failed["outcome"]["yes"], failed["outcome"]["adopted"]) == (
            "failed",
            60,
            False,
        )
        closed = rpc.congress.close_session(sid)
        assert closed["state"] == "closed"

    with world(member("D0129", "u01")) as rpc:  # any member of the union reads the published record
        published = rpc.congress.list_sessions("cg-u01")
        assert [i["state"] for i in published[0]["items"]] == ["pending", "adopted", "failed"]
    with world(member("X0001", "u02")) as rpc:
        with pytest.raises(Forbidden):
            rpc.congress.list_sessions("cg-u01")

    wait_until(
        lambda: (
            {e for e, _ in SEEN}
            >= {"quorum_reached", "session_convened", "resolution_adopted", "resolution_failed"}
        )
    )
    # delivery is at least once (the outbox relay may publish an event twice): one outcome per event_id
    unique = {p["event_id"]: (e, p) for e, p in SEEN if e.startswith("resolution_")}
    outcomes = [(e, p["item_id"], p["yes"], p["due"]) for e, p in unique.values()]
    assert outcomes == [("resolution_adopted", items[1], 61, 120), ("resolution_failed", items[2], 60, 120)]
    assert [p["present_count"] for e, p in SEEN if e == "quorum_reached"] == [80]
    assert db("congress")[f"checkins_{sid}"].count_documents({}) == 85  # the source of 实到


def test_delegates_membership_and_manager_flag(world):
    with world(union_admin("u01")) as rpc:
        rpc.congress.create_congress({"union_id": "u01"})
        term = rpc.congress.create_term(
            "cg-u01",
            {"number": 1, "start": "2025-01-01", "end": "2030-01-01", "delegations": [{"name": "一团"}]},
        )
        with pytest.raises(BadInput) as bad:
            rpc.congress.elect_delegates(
                term["id"],
                {
                    "delegates": [
                        {"member_id": "D0001", "delegation_id": "g1"},
                        {"member_id": "X0001", "delegation_id": "g9"},
                    ]
                },
            )
        assert bad.value.fields == {
            "delegates": {
                "1": {
                    "member_id": ["not a member of this union / 不是本单位会员"],
                    "delegation_id": ["no such delegation / 代表团不存在"],
                }
            }
        }
        assert rpc.congress.get_term(term["id"])["delegate_count"] == 0  # nothing partial stored
        out = rpc.congress.elect_delegates(
            term["id"],
            {
                "delegates": [
                    {
                        "member_id": member_no(i),
                        "delegation_id": "g1",
                        "category": "manager" if i < 2 else "worker",
                    }
                    for i in range(9)
                ]
            },
        )
        assert (out["term"]["manager_count"], out["term"]["managers_over_limit"]) == (
            2,
            True,
        )  # 2 of 9 > 20 %
        with pytest.raises(Conflict):
            rpc.congress.elect_delegates(
                term["id"], {"delegates": [{"member_id": "D0001", "delegation_id": "g1"}]}
            )
        with pytest.raises(Conflict):
            rpc.congress.create_congress({"union_id": "u01"})
    with world(SYSTEM) as rpc:
        roles = rpc.members.get_member("D0001")["roles"]
    assert {"role": "delegate", "scope": "cg-u01"} in roles
    with world(union_admin("u02")) as rpc:
        with pytest.raises(Forbidden):
            rpc.congress.create_term("cg-u01", {"number": 2, "start": "2030-01-01", "end": "2035-01-01"})
