"""Changes people make in disclosure reach the audit log (once each, in the chain of the item's union);
an anonymous question's entry names nobody; first reads and the system's changes are not audited."""

import pytest

from dmlib.errors import Forbidden
from services.audit.service import AuditService
from services.disclosure.service import DisclosureService
from services.members.service import MembersService
from tests.helpers import SYSTEM, member, union_admin, wait_until

pytestmark = pytest.mark.integration

ADMIN = union_admin("u01", "A0000001")
ASKER = member("M0000001", "u01", name="会员一")
OTHER_ADMIN = union_admin("u02", "B0000009")
ITEM = {"category": "wages_bonuses", "period": "2026-03", "title": "三月工资调整方案", "body": "上调5%。"}


def test_disclosure_changes_by_people_are_audited(runner_factory, config, rpc_as, db):
    runner_factory(config, MembersService, DisclosureService, AuditService).start()
    with rpc_as(SYSTEM) as rpc:  # the system's changes: not audited
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for u in ("u01", "u02"):
            rpc.members.create_union({"id": u, "name": f"{u}工会", "kind": "grassroots", "parent_id": "ftu"})
    with rpc_as(ADMIN) as rpc:
        item = rpc.disclosure.publish("u01", ITEM)["id"]
        rpc.disclosure.correct_item(item, {**ITEM, "title": "三月工资调整方案（更正）", "reason": "标题有误"})
    with rpc_as(ASKER) as rpc:
        rpc.disclosure.open_item(item)  # a first read: a receipt, not audited
        named = rpc.disclosure.ask_question(item, {"text": "何时发放？"})["id"]
        anonymous = rpc.disclosure.ask_question(item, {"text": "派遣工呢？", "anonymous": True})["id"]
    with rpc_as(OTHER_ADMIN) as rpc, pytest.raises(Forbidden):  # refused: nothing written, nothing audited
        rpc.disclosure.withdraw_item(item, {"reason": "越权"})
    with rpc_as(ADMIN) as rpc:
        rpc.disclosure.answer_question(named, {"text": "本月发放。"})
        rpc.disclosure.withdraw_item(item, {"reason": "已过期"})

    entries = db("audit").entries
    expected = {
        ("disclosure.item_published", item),
        ("disclosure.item_corrected", item),
        ("disclosure.question_asked", named),
        ("disclosure.question_asked", anonymous),
        ("disclosure.question_answered", named),
        ("disclosure.item_withdrawn", item),
    }
    wait_until(lambda: entries.count_documents({}) == len(expected), timeout=30)
    got = {(e["action"], e["object"]["id"]): e for e in entries.find({})}
    assert set(got) == expected
    assert {e["union_id"] for e in got.values()} == {"u01"}
    corrected = got[("disclosure.item_corrected", item)]
    assert corrected["actor"]["member_id"] == "A0000001" and corrected["role"] == "union_admin"
    changes = {c["field"]: (c["before"], c["after"]) for c in corrected["changes"]}
    assert changes["title"] == ("三月工资调整方案", "三月工资调整方案（更正）") and changes["revision"] == (
        1,
        2,
    )
    withdrawn = {c["field"]: c["after"] for c in got[("disclosure.item_withdrawn", item)]["changes"]}
    assert withdrawn == {"status": "withdrawn", "withdraw_reason": "已过期"}
    asked = got[("disclosure.question_asked", named)]
    assert asked["actor"] == {"member_id": "M0000001", "name": "会员一"} and asked["role"] == "member"
    hidden = got[("disclosure.question_asked", anonymous)]
    assert hidden["actor"] == {"member_id": "anonymous", "name": "匿名"} and hidden["request_id"] is None
    assert "M0000001" not in str(hidden) and "会员一" not in str(hidden)
    with rpc_as(ADMIN) as rpc:
        assert rpc.audit.verify_chain({"union_id": "u01"})["ok"] is True
