"""Proposals over the real RabbitMQ and FerretDB, with members and congress running: one proposal through
every state including a dissatisfied round (history and events checked), the refusals with their status
and message, two admins accepting at once, and the overdue reminder once per day however often the
timer ticks (the service's clock moved by the test)."""

from contextlib import contextmanager
from datetime import timedelta

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import get_extension

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound
from services.congress.service import CongressService
from services.members.service import MembersService
from services.proposals.service import Clock, ProposalsService
from tests.helpers import SYSTEM, event_recorder, import_members, member, token, union_admin, wait_until

pytestmark = pytest.mark.integration

SEEN: list[tuple[str, dict]] = []
CONGRESS = "cg-u01"
ADMIN = union_admin("u01", "A0001")
ADMIN2 = union_admin("u01", "A0002")
H1 = member("H0001", "u01", ("handler", "u01-d1"), name="食堂主管")
H2 = member("H0002", "u01", ("handler", "u01-d2"), name="安全主管")
DRAFT = {
    "subject": "关于延长职工食堂夜班供餐时间的提案",
    "category": "welfare",
    "reasons": "夜班职工凌晨下班时食堂已停止供餐，只能吃冷食，影响身体健康。",
    "measures": "建议食堂夜宵供应延长至凌晨两点，并增加热食品种。",
}


def d(n: int):
    """Delegate number n of cg-u01 (D0000-D0004 are delegates; D0005 is a member only)."""
    return member(f"D{n:04d}", "u01", ("delegate", CONGRESS), name=f"代表{n}")


Recorder = event_recorder(
    "proposals_recorder", "proposals", ["proposal_overdue", "proposal_closed", "proposal_assigned"], SEEN
)


@pytest.fixture
def world(container_factory, config, rpc_as):
    """members + congress + proposals + recorder; u01 with two departments, 5 delegates, a session."""
    SEEN.clear()
    config = {**config, "REMINDER_INTERVAL_S": 0.05}
    containers = {}
    for cls in (MembersService, CongressService, ProposalsService, Recorder):
        containers[cls.name] = container_factory(cls, config)
        containers[cls.name].start()
    return populate(rpc_as), containers


def populate(rpc_as) -> str:
    """Unions u01 (departments u01-d1, u01-d2; members D0000-D0005) and u02 (X0001); cg-u01's first
    term with delegates D0000-D0004 and a planned session, whose id is returned."""
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "u01", "name": "亦庄精密机械工会", "kind": "grassroots", "parent_id": "ftu"}
        )
        rpc.members.create_union(
            {"id": "u02", "name": "京南生物医药工会", "kind": "grassroots", "parent_id": "ftu"}
        )
        rpc.members.create_department({"id": "u01-d1", "union_id": "u01", "name": "后勤保障部"})
        rpc.members.create_department({"id": "u01-d2", "union_id": "u01", "name": "安全环保部"})
        import_members(
            rpc, [(f"D{i:04d}", f"代表{i}", "u01") for i in range(6)] + [("X0001", "外单位", "u02")]
        )
    with rpc_as(ADMIN) as rpc:
        rpc.congress.create_congress({"union_id": "u01"})
        term = rpc.congress.create_term(
            CONGRESS,
            {"number": 1, "start": "2025-01-01", "end": "2030-01-01", "delegations": [{"name": "一团"}]},
        )
        rpc.congress.elect_delegates(
            term["id"], {"delegates": [{"member_id": f"D{i:04d}", "delegation_id": "g1"} for i in range(5)]}
        )
        session = rpc.congress.create_session(term["id"], {"title": "第一届第一次会议", "agenda": []})
    return session["id"]


@contextmanager
def acting(config):
    """One proxy whose identity is switched per call: ``as_(actor).proposals.x(...)``."""
    context = {"auth_token": token(SYSTEM)}
    with ClusterRpcProxy(config, context_data=context, timeout=15) as rpc:

        def as_(actor):
            context["auth_token"] = token(actor)
            return rpc

        yield as_


def submitted(as_, sid, **extra) -> dict:
    p = as_(d(1)).proposals.create_proposal(sid, {**DRAFT, "invite": ["D0002", "D0003"], **extra})
    as_(d(2)).proposals.cosign(p["id"])
    as_(d(3)).proposals.cosign(p["id"])
    return as_(d(1)).proposals.submit(p["id"])


def test_one_proposal_through_every_state_with_a_dissatisfied_round(world, config):
    sid, _ = world
    with acting(config) as as_:
        window = as_(ADMIN).proposals.open_window(sid, {"min_cosigners": 2})
        assert window["status"] == "open" and window["deadline_days"] == 20
        p = as_(d(1)).proposals.create_proposal(sid, {**DRAFT, "invite": ["D0002", "D0003"]})
        assert p["state"] == "draft" and p["id"] == f"{sid}-p001"
        assert [i["name"] for i in p["invited"]] == ["代表2", "代表3"]
        mine = as_(d(2)).proposals.my_proposals(sid)
        assert [x["id"] for x in mine["invitations"]] == [p["id"]]
        as_(d(2)).proposals.cosign(p["id"])
        with pytest.raises(Conflict, match="1 more co-signer"):
            as_(d(1)).proposals.submit(p["id"])
        as_(d(3)).proposals.cosign(p["id"])
        assert as_(d(1)).proposals.submit(p["id"])["state"] == "submitted"
        assert as_(ADMIN).proposals.review(p["id"], {"decision": "accept"})["state"] == "accepted"
        out = as_(ADMIN).proposals.assign(p["id"], {"department_ids": ["u01-d1", "u01-d2"]})
        assert out["state"] == "assigned" and out["days_left"] == 20
        assert as_(H1).proposals.inbox("u01-d1")[0]["id"] == p["id"]
        out = as_(H1).proposals.reply(p["id"], {"text": "已与食堂承包方协商，夜宵延长至凌晨一点。"})
        assert out["state"] == "assigned" and out["pending_departments"] == ["u01-d2"]
        out = as_(H2).proposals.reply(p["id"], {"text": "安全部门配合做好夜间就餐区域照明。"})
        assert out["state"] == "replied"
        as_(d(2)).proposals.rate(p["id"], {"satisfaction": "partly"})
        out = as_(d(1)).proposals.rate(
            p["id"], {"satisfaction": "dissatisfied", "comment": "只延长一小时不够"}
        )
        assert (
            out["state"] == "assigned"
            and out["round"] == 2
            and sorted(out["pending_departments"])
            == [
                "u01-d1",
                "u01-d2",
            ]
        )
        as_(H1).proposals.reply(p["id"], {"text": "第二轮：夜宵延长至凌晨两点，增加两种热菜。"})
        out = as_(H2).proposals.reply(p["id"], {"text": "第二轮：就餐区域照明已改造完成。"})
        assert out["state"] == "replied" and len(out["replies"]) == 4
        out = as_(d(1)).proposals.rate(p["id"], {"satisfaction": "satisfied"})
        assert out["state"] == "closed"
        as_(d(3)).proposals.rate(p["id"], {"satisfaction": "satisfied"})
        out = as_(ADMIN).proposals.mark_excellent(p["id"])
        assert out["excellent"] is True

        # the two other ends of review
        conv = submitted(as_, sid, subject="关于增加班车线路的建议性提案")
        assert (
            as_(ADMIN).proposals.review(conv["id"], {"decision": "convert", "reason": "属日常管理事项"})[
                "state"
            ]
            == "converted"
        )
        rej = submitted(as_, sid, subject="关于全员加薪百分之五十的提案")
        rejected = as_(ADMIN).proposals.review(
            rej["id"], {"decision": "reject", "reason": "超出企业承受能力"}
        )
        assert rejected["state"] == "rejected" and rejected["review"]["reason"] == "超出企业承受能力"

        full = as_(d(4)).proposals.get_proposal(p["id"])
        history = [(h["action"], h["from_state"], h["to_state"], h["by"]) for h in full["history"]]
        assert history == [
            ("draft", None, "draft", "D0001"),
            ("cosign", "draft", "draft", "D0002"),
            ("cosign", "draft", "draft", "D0003"),
            ("submit", "draft", "submitted", "D0001"),
            ("accept", "submitted", "accepted", "A0001"),
            ("assign", "accepted", "assigned", "A0001"),
            ("reply", "assigned", "assigned", "H0001"),
            ("reply", "assigned", "replied", "H0002"),
            ("rate", "replied", "replied", "D0002"),
            ("return", "replied", "assigned", "D0001"),
            ("reply", "assigned", "assigned", "H0001"),
            ("reply", "assigned", "replied", "H0002"),
            ("rate", "replied", "closed", "D0001"),
            ("rate", "closed", "closed", "D0003"),
            ("mark_excellent", "closed", "closed", "A0001"),
        ]
        assert all(h["at"] and h["by_name"] for h in full["history"])
        assert [r["on_time"] for r in full["rounds"]] == [True, True]

        stats = as_(d(4)).proposals.statistics(sid)
        assert (stats["submitted"], stats["accepted"], stats["converted"], stats["rejected"]) == (3, 1, 1, 1)
        assert (stats["closed"], stats["excellent"], stats["replies"], stats["on_time"]) == (1, 1, 2, 2)
        # latest rating of each rater: D0001 satisfied, D0002 partly (round 1), D0003 satisfied
        assert stats["satisfaction"] == {"satisfied": 2, "partly": 1, "dissatisfied": 0}
        public = as_(member("D0005", "u01")).proposals.list_session(sid)
        assert [x["id"] for x in public] == [p["id"]]
        desk = as_(ADMIN).proposals.list_session(sid, "desk")
        assert len(desk) == 3
    wait_until(lambda: any(e == "proposal_closed" for e, _ in SEEN))
    closed = next(b for e, b in SEEN if e == "proposal_closed")
    assert closed["proposer_id"] == "D0001" and closed["cosigner_ids"] == ["D0002", "D0003"]
    assert closed["department_ids"] == ["u01-d1", "u01-d2"] and closed["union_id"] == "u01"
    assert closed["session_id"] == sid and closed["congress_id"] == CONGRESS and closed["event_id"]
    rounds = sorted(b["round"] for e, b in SEEN if e == "proposal_assigned")
    assert rounds == [1, 2]


def test_wrong_actor_or_state_is_refused_with_a_clear_message(world, config):
    sid, _ = world
    with acting(config) as as_:
        # submitting before the window is open, and after it closed
        with pytest.raises(NotFound, match="not|尚未"):
            as_(d(1)).proposals.create_proposal(sid, DRAFT)
        as_(ADMIN).proposals.open_window(sid, {"min_cosigners": 1})
        with pytest.raises(Forbidden, match="only delegates"):
            as_(member("D0005", "u01")).proposals.create_proposal(sid, DRAFT)
        with pytest.raises(Forbidden, match="only admins"):
            as_(d(1)).proposals.open_window(sid, {})
        with pytest.raises(BadInput) as bad:
            as_(d(1)).proposals.create_proposal(
                sid, {**DRAFT, "subject": "短", "category": "misc", "invite": ["D0005"]}
            )
        assert set(bad.value.fields) == {"subject", "category"}
        with pytest.raises(BadInput) as bad:
            as_(d(1)).proposals.create_proposal(sid, {**DRAFT, "invite": ["D0005", "D0001"]})
        assert set(bad.value.fields["invite"]) == {"0", "1"}
        p = as_(d(1)).proposals.create_proposal(sid, DRAFT)
        with pytest.raises(Forbidden, match="cannot co-sign your own"):
            as_(d(1)).proposals.cosign(p["id"])
        as_(d(2)).proposals.cosign(p["id"])
        with pytest.raises(Conflict, match="already co-signed"):
            as_(d(2)).proposals.cosign(p["id"])
        with pytest.raises(Forbidden, match="only the proposer"):
            as_(d(2)).proposals.submit(p["id"])
        late = as_(d(3)).proposals.create_proposal(sid, {**DRAFT, "subject": "关于更换劳保鞋供应商的提案"})
        as_(d(4)).proposals.cosign(late["id"])
        as_(ADMIN).proposals.close_window(sid)
        with pytest.raises(Conflict, match="only while the collection window is open"):
            as_(d(3)).proposals.submit(late["id"])
        with pytest.raises(Conflict, match="not open"):
            as_(d(1)).proposals.create_proposal(sid, DRAFT)
        as_(ADMIN).proposals.open_window(sid, {"min_cosigners": 1})
        as_(d(1)).proposals.submit(p["id"])

        with pytest.raises(Forbidden, match="only an admin"):
            as_(d(1)).proposals.review(p["id"], {"decision": "accept"})  # a delegate reviewing
        with pytest.raises(BadInput) as bad:
            as_(ADMIN).proposals.review(p["id"], {"decision": "reject", "reason": ""})
        assert "reason" in bad.value.fields
        with pytest.raises(BadInput):
            as_(ADMIN).proposals.review(p["id"], {"decision": "maybe"})
        as_(ADMIN).proposals.review(p["id"], {"decision": "accept"})
        with pytest.raises(Conflict, match="cannot accept a proposal that is accepted"):
            as_(ADMIN).proposals.review(p["id"], {"decision": "accept"})
        with pytest.raises(BadInput) as bad:
            as_(ADMIN).proposals.assign(p["id"], {"department_ids": ["u01-d9"]})
        assert "department_ids" in bad.value.fields
        with pytest.raises(Forbidden):
            as_(member("X0001", "u02", ("union_admin", "u02"))).proposals.assign(
                p["id"], {"department_ids": ["u01-d1"]}
            )
        as_(ADMIN).proposals.assign(p["id"], {"department_ids": ["u01-d1"], "deadline_days": 10})
        with pytest.raises(Forbidden, match="not assigned to your department"):
            as_(H2).proposals.reply(p["id"], {"text": "这不是本部门的提案，但仍尝试答复。"})
        with pytest.raises(BadInput):
            as_(H1).proposals.reply(p["id"], {"text": "短"})
        with pytest.raises(Conflict, match="no reply to rate|cannot"):
            as_(d(2)).proposals.rate(p["id"], {"satisfaction": "satisfied"})
        as_(H1).proposals.reply(p["id"], {"text": "已安排采购新款劳保用品，下月发放。"})
        with pytest.raises(Conflict, match="cannot reply"):
            as_(H1).proposals.reply(p["id"], {"text": "重复答复一次试试看会怎样。"})
        with pytest.raises(Forbidden, match="proposer or a co-signer"):
            as_(d(4)).proposals.rate(p["id"], {"satisfaction": "satisfied"})
        with pytest.raises(Conflict, match="cannot mark excellent"):
            as_(ADMIN).proposals.mark_excellent(p["id"])

        rej = as_(d(3)).proposals.submit(late["id"])
        as_(ADMIN).proposals.review(rej["id"], {"decision": "reject", "reason": "已在集体合同中约定"})
        with pytest.raises(Conflict, match="cannot reply a proposal that is rejected"):
            as_(H1).proposals.reply(rej["id"], {"text": "对不予立案的提案进行答复。"})
        with pytest.raises(Forbidden, match="only members of this union"):
            as_(member("X0001", "u02")).proposals.get_proposal(rej["id"])


def test_two_admins_accepting_at_once_make_exactly_one_transition(world, config):
    sid, _ = world
    with acting(config) as as_:
        as_(ADMIN).proposals.open_window(sid, {"min_cosigners": 2})
        ids = [submitted(as_, sid, subject=f"关于改善第{n}车间通风条件的提案")["id"] for n in range(4)]

    def accept(admin, pid):
        with ClusterRpcProxy(config, context_data={"auth_token": token(admin)}, timeout=15) as rpc:
            try:
                return rpc.proposals.review(pid, {"decision": "accept"})["state"]
            except Conflict as exc:
                return f"409 {exc.message}"

    for pid in ids:
        threads = [eventlet.spawn(accept, admin, pid) for admin in (ADMIN, ADMIN2)]
        results = [t.wait() for t in threads]
        assert results.count("accepted") == 1, results
        assert sum(r.startswith("409") for r in results) == 1, results
        with acting(config) as as_:
            history = as_(ADMIN).proposals.get_proposal(pid)["history"]
        assert [h["action"] for h in history].count("accept") == 1


def overdue() -> list[dict]:
    return [b for e, b in SEEN if e == "proposal_overdue"]


def test_overdue_reminder_fires_once_per_day_not_per_tick(world, config):
    sid, containers = world
    clock = get_extension(containers["proposals"], Clock)
    with acting(config) as as_:
        as_(ADMIN).proposals.open_window(sid, {"min_cosigners": 2})
        late, soon, fresh = (
            submitted(as_, sid, subject=f"关于调整倒班制度的提案{n}")["id"] for n in range(3)
        )
        for pid, days in ((late, 20), (soon, 23), (fresh, 60)):
            as_(ADMIN).proposals.review(pid, {"decision": "accept"})
            as_(ADMIN).proposals.assign(pid, {"department_ids": ["u01-d1"], "deadline_days": days})
        eventlet.sleep(0.3)  # several ticks at the real time: nothing is near its deadline
        assert not [e for e, _ in SEEN if e == "proposal_overdue"]

        clock.offset = timedelta(days=21)  # `late` is overdue, `soon` is 2 days from its deadline
        wait_until(lambda: len(overdue()) >= 2, timeout=60)
        eventlet.sleep(0.6)  # about a dozen more ticks of 0.05 s: none may add a reminder
        reminders = overdue()
        assert sorted((b["proposal_id"], b["overdue"]) for b in reminders) == sorted(
            [(late, True), (soon, False)]
        )
        assert next(b for b in reminders if b["proposal_id"] == late)["days_left"] == -1
        # the same day again by hand: nothing new
        assert as_(SYSTEM).proposals.send_reminders()["published"] == 0

        clock.offset = timedelta(days=22)  # the next day: one more each
        wait_until(lambda: len(overdue()) >= 4, timeout=60)
        eventlet.sleep(0.6)
        reminders = overdue()
        assert len(reminders) == 4 and len({(b["proposal_id"], b["day"]) for b in reminders}) == 4

        as_(H1).proposals.reply(late, {"text": "已调整倒班表，下月起执行四班三运转。"})
        clock.offset = timedelta(days=23)
        wait_until(lambda: len([b for b in overdue() if b["proposal_id"] == soon]) >= 3, timeout=60)
        eventlet.sleep(0.6)
        days = {b["day"] for e, b in SEEN if e == "proposal_overdue" and b["proposal_id"] == late}
        assert len(days) == 2  # a replied proposal is no longer reminded
        assert len([1 for e, b in SEEN if e == "proposal_overdue" and b["proposal_id"] == soon]) == 3


def test_the_desk_and_the_inbox_page_filter_search_and_sort_over_the_broker(world, config):
    """Issue 16: ``proposals.queue`` with its paging, filter, search and sort arguments, and its typed
    refusals (a per-page over the limit, both queues at once, another union's admin, another department)."""
    sid, _ = world
    with acting(config) as as_:
        as_(ADMIN).proposals.open_window(sid, {"min_cosigners": 2})
        ids = [submitted(as_, sid, subject=f"关于第{n}车间通风改造的提案")["id"] for n in range(1, 6)]
        as_(ADMIN).proposals.review(ids[1], {"decision": "accept"})
        as_(ADMIN).proposals.assign(ids[1], {"department_ids": ["u01-d1"]})
        as_(ADMIN).proposals.review(ids[3], {"decision": "reject", "reason": "不属于职代会职权范围"})

        first = as_(ADMIN).proposals.queue({"session_id": sid, "per_page": 2})
        assert [p["id"] for p in first["items"]] == ids[:2]
        assert (first["total"], first["pages"], first["sort"]) == (5, 3, "number")
        assert first["counts"] == {"submitted": 3, "assigned": 1, "rejected": 1}
        third = as_(ADMIN).proposals.queue({"session_id": sid, "per_page": 2, "page": 3})
        assert [p["id"] for p in third["items"]] == ids[4:]
        newest = as_(ADMIN).proposals.queue({"session_id": sid, "sort": "-number", "per_page": 1})
        assert [p["id"] for p in newest["items"]] == [ids[4]]
        waiting = as_(ADMIN).proposals.queue({"session_id": sid, "state": "submitted"})
        assert [p["id"] for p in waiting["items"]] == [ids[0], ids[2], ids[4]]
        found = as_(ADMIN).proposals.queue({"session_id": sid, "q": "第3车间"})
        assert [p["id"] for p in found["items"]] == [ids[2]]

        inbox = as_(H1).proposals.queue({"department_id": "u01-d1"})
        assert [p["id"] for p in inbox["items"]] == [ids[1]]
        assert inbox["department"] == {"id": "u01-d1", "name": "后勤保障部"} and inbox["awaiting"] == 1

        with pytest.raises(BadInput) as bad:
            as_(ADMIN).proposals.queue({"session_id": sid, "per_page": 101})
        assert "per_page" in bad.value.fields
        with pytest.raises(BadInput):
            as_(ADMIN).proposals.queue({"session_id": sid, "department_id": "u01-d1"})
        with pytest.raises(BadInput):
            as_(ADMIN).proposals.queue({"session_id": sid, "sort": "subject"})
        with pytest.raises(Forbidden):
            as_(union_admin("u02", "X0001")).proposals.queue({"session_id": sid})
        with pytest.raises(Forbidden):
            as_(H2).proposals.queue({"department_id": "u01-d1"})
