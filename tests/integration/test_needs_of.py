"""The "what needs me" RPCs (issue 16) over the real RabbitMQ and FerretDB: disclosure's and cases'
``needs_of`` with the real members service, each answering only what its policy shows the caller."""

import pytest

from dmlib.auth import Actor, Grant
from services.cases.service import CasesService
from services.disclosure.service import DisclosureService
from services.members.service import MembersService
from tests.helpers import SYSTEM, member, union_admin, valid_ids

pytestmark = pytest.mark.integration

WORKER = member("M0000001", "u01", name="王师傅")
NEIGHBOUR = member("M0000002", "u01", name="李师傅")
ADMIN = union_admin("u01", "A0000001")
OTHER_ADMIN = union_admin("u02", "B0000009")
SUPERIOR = Actor("S0000001", "园区总工会", "area", (Grant("superior_admin", "area"),))
CASE = {
    "case_type": "complaint",
    "category": "wage_arrears",
    "title": "拖欠十月份工资",
    "description": "公司十月份工资至今未发，车间三十多名工人受影响。",
    "employer": {"union_id": "u01"},
    "phone": "13800138000",
}
ITEM = {"category": "wages_bonuses", "period": "2026-03", "title": "三月工资调整方案", "body": "上调5%。"}


@pytest.fixture
def rpc(runner_factory, config, rpc_as):
    runner_factory(config, MembersService, DisclosureService, CasesService).start()
    with rpc_as(SYSTEM) as r:
        r.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        r.members.create_union({"id": "area", "name": "经开区总工会", "kind": "street", "parent_id": "ftu"})
        for u in ("u01", "u02"):
            r.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "area"}
            )
        for (no, name), nid in zip(
            (("M0000001", "王师傅"), ("M0000002", "李师傅")), valid_ids(2), strict=True
        ):
            r.members.register_member({"member_no": no, "name": name, "union_id": "u01", "national_id": nid})
    return rpc_as


def by_kind(answer: dict) -> dict:
    return {(q["kind"], q["scope"]): q for q in answer["queues"]}


def test_disclosure_needs_of_unread_mandatory_items_and_the_admins_desks(rpc):
    with rpc(ADMIN) as r:
        must = r.disclosure.publish("u01", {**ITEM, "mandatory": True})
        r.disclosure.publish("u01", {**ITEM, "title": "食堂菜单", "mandatory": False})
    with rpc(WORKER) as r:
        answer = r.disclosure.needs_of()
        assert answer["service"] == "disclosure" and answer["queues"] == []
        assert [(i["kind"], i["id"], i["title"]) for i in answer["items"]] == [
            ("disclosure_unread", must["id"], "三月工资调整方案")
        ]
        r.disclosure.open_item(must["id"])
        r.disclosure.ask_question(must["id"], {"text": "夜班补贴怎么算？"})
        assert r.disclosure.needs_of()["items"] == []
    with rpc(NEIGHBOUR) as r:
        assert [i["id"] for i in r.disclosure.needs_of()["items"]] == [must["id"]]
    for admin in (ADMIN, SUPERIOR):
        with rpc(admin) as r:
            queues = by_kind(r.disclosure.needs_of())
            waiting = queues[("questions_waiting", "u01")]
            assert waiting["count"] == 1 and waiting["oldest_at"].endswith("Z")
            assert (
                queues[("mandatory_reads", "u01")]["count"] == 1
                and queues[("mandatory_reads", "u01")]["of"] == 1
            )
    with rpc(OTHER_ADMIN) as r:
        assert r.disclosure.needs_of() == {"service": "disclosure", "items": [], "queues": []}


def test_cases_needs_of_the_workers_own_cases_and_the_staffs_queue(rpc):
    with rpc(WORKER) as r:
        first = r.cases.file_case(CASE)["id"]
        second = r.cases.file_case({**CASE, "title": "加班费未按规定支付"})["id"]
        mine = r.cases.needs_of()
        assert sorted(i["id"] for i in mine["items"]) == sorted([first, second])
        assert {i["kind"] for i in mine["items"]} == {"case_mine"} and mine["queues"] == []
    with rpc(NEIGHBOUR) as r:
        assert r.cases.needs_of()["items"] == []  # nobody sees another worker's cases
    with rpc(ADMIN) as r:
        r.cases.dispatch(first, {"union_id": "u01"})
        queues = by_kind(r.cases.needs_of())
        assert queues[("cases_open", "u01")]["count"] == 2  # dispatched, and received not yet dispatched
        assert queues[("cases_open", "u01")]["overdue"] == 0
    with rpc(SUPERIOR) as r:  # the superior union sees the unions below
        assert by_kind(r.cases.needs_of())[("cases_open", "u01")]["count"] == 2
    with rpc(OTHER_ADMIN) as r:
        assert r.cases.needs_of()["queues"] == []
