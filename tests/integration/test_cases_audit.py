"""Changes people make in cases reach the audit log (once each, in the chain of the handling union, the
receiving one before dispatch); the limit round (the system) and refused changes are not audited; a
note's text is not copied."""

from datetime import timedelta

import pytest
from nameko.testing.utils import get_extension

from dmlib.errors import Forbidden
from services.audit.service import AuditService
from services.cases.service import CasesService, Clock
from services.members.service import MembersService
from tests.helpers import SYSTEM, member, union_admin, wait_until

pytestmark = pytest.mark.integration

WORKER = member("M0000001", "u01", name="王师傅")
ADMIN = union_admin("u01", "A0000001")
OTHER_ADMIN = union_admin("u02", "B0000009")
CASE = {
    "case_type": "complaint",
    "category": "safety",
    "title": "车间通风设备损坏",
    "description": "喷涂车间排风设备坏了两周没修，工人头晕恶心。",
    "employer": {"union_id": "u01"},
}


def test_cases_changes_by_people_are_audited(container_factory, config, rpc_as, db):
    cases = container_factory(CasesService, {**config, "CASE_WATCH_INTERVAL_S": 3600})
    for c in (container_factory(MembersService, config), cases, container_factory(AuditService, config)):
        c.start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for u in ("u01", "u02"):
            rpc.members.create_union({"id": u, "name": f"{u}工会", "kind": "grassroots", "parent_id": "ftu"})
    with rpc_as(WORKER) as rpc:
        cid = rpc.cases.file_case(CASE)["id"]
    with rpc_as(OTHER_ADMIN) as rpc, pytest.raises(Forbidden):  # refused: nothing written, nothing audited
        rpc.cases.dispatch(cid, {"union_id": "u02"})
    with rpc_as(ADMIN) as rpc:
        rpc.cases.dispatch(cid, {"union_id": "u01", "complexity": "difficult"})
        rpc.cases.sign_for(cid)
        rpc.cases.add_note(cid, {"text": "内部：设备供应商下周到场"})
    get_extension(cases, Clock).offset = timedelta(days=40)
    with rpc_as(SYSTEM) as rpc:  # the system's escalation: not audited
        assert rpc.cases.check_limits()["escalated"] == 1
    entries = db("audit").entries
    expected = {"cases.case_received", "cases.case_dispatched", "cases.case_signed_for", "cases.note_added"}
    wait_until(lambda: entries.count_documents({}) == len(expected), timeout=30)
    got = {e["action"]: e for e in entries.find({})}
    assert set(got) == expected and {e["object"]["id"] for e in got.values()} == {cid}
    assert {e["union_id"] for e in got.values()} == {"u01"}
    assert got["cases.case_received"]["actor"]["member_id"] == "M0000001"
    assert got["cases.case_dispatched"]["role"] == "union_admin"
    assert "内部" not in str(got["cases.note_added"])
