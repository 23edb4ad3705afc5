"""Case notifications to the HANDLERS (issue 13), with the real members, cases and notify services over
RabbitMQ and FerretDB: a dispatch reaches the handling union's admins and hotline staff, a reminder
(催办) them alone, an overdue escalation (督办) them and the superior union's admins, each exactly once
per member; and ``members.role_holders``, which finds them, follows grants and revokes."""

from datetime import timedelta

import pytest
from nameko.testing.services import replace_dependencies
from nameko.testing.utils import get_extension

from dmlib.auth import Actor, Grant
from dmlib.errors import BadInput, Forbidden
from services.cases.service import CasesService, Clock
from services.members.service import MembersService
from services.notify.service import NotifyService
from tests.helpers import SYSTEM, member, union_admin, valid_ids, wait_until
from tests.unit.cases_fakes import FakeSms

pytestmark = pytest.mark.integration

WORKER = member("M0000001", "u01", name="王师傅")
ADMIN = union_admin("u01", "A0000001")
SUPERIOR = Actor("S0000001", "上级管理员", "u02", (Grant("superior_admin", "area"),))
CASE = {
    "case_type": "complaint",
    "category": "wage_arrears",
    "title": "拖欠十月份工资",
    "description": "公司十月份工资至今未发，车间三十多名工人受影响。",
    "employer": {"union_id": "u01"},
    "phone": "13800138000",
}
#: member number → (union, role grants as (role, scope))
PEOPLE = {
    "M0000001": ("u01", ()),  # the worker
    "A0000001": ("u01", (("union_admin", "u01"),)),  # handling union's admin
    "H0000001": ("u01", (("hotline_staff", "u01"),)),  # handling union's hotline staff
    "S0000001": ("u02", (("superior_admin", "area"),)),  # the superior union's admin
    "B0000001": ("u02", (("union_admin", "u02"),)),  # another union's admin: never told
    "R0000001": ("u01", ()),  # granted, then revoked: never told
}


@pytest.fixture
def world(config, container_factory, rpc_as):
    cfg = {**config, "CASE_WATCH_INTERVAL_S": 3600, "SMTP_URI": "", "SMS_URL": ""}
    cases = container_factory(CasesService, cfg)
    replace_dependencies(cases, sms=FakeSms())
    for container in (container_factory(MembersService, cfg), cases, container_factory(NotifyService, cfg)):
        container.start()
    ids = valid_ids(len(PEOPLE))
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "经开区总工会", "kind": "street", "parent_id": "ftu"})
        for u in ("u01", "u02"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "area"}
            )
        for (no, (union, grants)), nid in zip(PEOPLE.items(), ids, strict=True):
            rpc.members.register_member(
                {"member_no": no, "name": f"会员{no}", "union_id": union, "national_id": nid}
            )
            for role, scope in grants:
                rpc.members.grant_role({"member_id": no, "role": role, "scope": scope})
        rpc.members.grant_role({"member_id": "R0000001", "role": "hotline_staff", "scope": "u01"})
        rpc.members.revoke_role({"member_id": "R0000001", "role": "hotline_staff", "scope": "u01"})
    return get_extension(cases, Clock)


def kinds_by_member(db) -> dict[str, list[str]]:
    """Every inbox message so far: member number → the kinds of their messages, sorted."""
    out: dict[str, list[str]] = {}
    for m in db("notify").inbox.find({}):
        out.setdefault(m["member_id"], []).append(m["kind"])
    return {k: sorted(v) for k, v in out.items()}


def test_role_holders_follow_grants_and_revokes(world, rpc_as):
    with rpc_as(SYSTEM) as rpc:
        holders = rpc.members.role_holders("u01", ["union_admin", "hotline_staff"])
        assert [(h["member_id"], h["roles"]) for h in holders] == [
            ("A0000001", ["union_admin"]),
            ("H0000001", ["hotline_staff"]),
        ]
        assert rpc.members.role_holders("u01", ["superior_admin"]) == []
        assert [h["member_id"] for h in rpc.members.role_holders("area", ["superior_admin"])] == ["S0000001"]
        rpc.members.grant_role({"member_id": "H0000001", "role": "union_admin", "scope": "u01"})
        assert [h["roles"] for h in rpc.members.role_holders("u01", ["union_admin", "hotline_staff"])] == [
            ["union_admin"],
            ["hotline_staff", "union_admin"],
        ]
        with pytest.raises(BadInput) as bad:
            rpc.members.role_holders("u01", ["king"])
        assert "roles" in bad.value.fields
    with rpc_as(ADMIN) as rpc, pytest.raises(Forbidden):
        rpc.members.role_holders("u01", ["union_admin"])


def test_handlers_are_told_of_dispatch_reminders_and_escalation_once(world, rpc_as, db):
    clock = world
    with rpc_as(WORKER) as rpc:
        cid = rpc.cases.file_case(CASE)["id"]
    with rpc_as(ADMIN) as rpc:
        rpc.cases.dispatch(cid, {"union_id": "u01", "complexity": "general"})
    # the worker's received + dispatched, and the handlers' assignment
    wait_until(lambda: db("notify").inbox.count_documents({}) == 4, timeout=30)
    inbox = db("notify").inbox
    assert sorted(m["member_id"] for m in inbox.find({"kind": "case_assigned"})) == ["A0000001", "H0000001"]
    with rpc_as(SYSTEM) as rpc:
        clock.offset = timedelta(days=12)  # past every limit of round 1
        first = rpc.cases.check_limits()
        second = rpc.cases.check_limits()
    clock.offset = timedelta(0)
    assert first["escalated"] == 1 and second == {**second, "escalated": 0, "reminded": 0}
    reminders = first["reminded"]
    # each reminder to the two handlers; the escalation to them and the superior admin; the worker's 督办
    expected = 4 + 2 * reminders + 3 + 1
    wait_until(lambda: inbox.count_documents({}) == expected, timeout=30)
    got = kinds_by_member(db)
    assert got["M0000001"] == ["case_dispatched", "case_overdue", "case_received"]
    for handler in ("A0000001", "H0000001"):
        assert got[handler].count("case_assigned") == 1 and got[handler].count("case_escalated") == 1
        assert got[handler].count("case_reminded") == reminders
    assert got["S0000001"] == ["case_escalated"]
    assert "B0000001" not in got and "R0000001" not in got
    with rpc_as(SYSTEM) as rpc:  # nothing new once the limit round has run: still once per member
        rpc.cases.check_limits()
    assert inbox.count_documents({}) == expected


def test_a_supervision_reaches_the_handling_union_staff(world, rpc_as, db):
    with rpc_as(WORKER) as rpc:
        cid = rpc.cases.file_case(CASE)["id"]
    with rpc_as(ADMIN) as rpc:
        rpc.cases.dispatch(cid, {"union_id": "u01", "complexity": "general"})
    with rpc_as(SUPERIOR) as rpc:
        rpc.cases.supervise(cid, {"note": "请三日内答复职工"})
    inbox = db("notify").inbox
    wait_until(lambda: inbox.count_documents({"kind": "case_supervised"}) == 2, timeout=30)
    assert sorted(m["member_id"] for m in inbox.find({"kind": "case_supervised"})) == ["A0000001", "H0000001"]
