"""Changes people make to proposals and their collection windows reach the audit log (once each, in the
chain of the congress's union); a refused change leaves nothing and the system's reminders are not
audited."""

import pytest

from dmlib.errors import Conflict, Forbidden
from services.audit.service import AuditService
from services.congress.service import CongressService
from services.members.service import MembersService
from services.proposals.service import ProposalsService
from tests.helpers import SYSTEM, wait_until
from tests.integration.test_proposals_service import ADMIN, DRAFT, H1, acting, d, populate

pytestmark = pytest.mark.integration


def test_proposal_changes_by_people_are_audited(runner_factory, config, rpc_as, db):
    runner_factory(config, MembersService, CongressService, ProposalsService, AuditService).start()
    sid = populate(rpc_as)
    with acting(config) as as_:
        as_(ADMIN).proposals.open_window(sid, {"min_cosigners": 1})
        pid = as_(d(1)).proposals.create_proposal(sid, {**DRAFT, "invite": ["D0002"]})["id"]
        with pytest.raises(Forbidden):  # refused: nothing written, nothing audited
            as_(d(1)).proposals.cosign(pid)
        as_(d(2)).proposals.cosign(pid)
        as_(d(1)).proposals.submit(pid)
        with pytest.raises(Conflict):
            as_(d(1)).proposals.submit(pid)
        as_(ADMIN).proposals.review(pid, {"decision": "accept", "reason": ""})
        as_(ADMIN).proposals.assign(pid, {"department_ids": ["u01-d1"]})
        as_(H1).proposals.reply(pid, {"text": "已与食堂承包方协商，夜宵延长至凌晨一点。"})
        as_(d(1)).proposals.rate(pid, {"satisfaction": "satisfied", "comment": ""})
        as_(ADMIN).proposals.mark_excellent(pid)
        as_(ADMIN).proposals.close_window(sid)
        as_(SYSTEM).proposals.send_reminders(None)

    entries = db("audit").entries
    expected = [
        ("proposals.window_opened", sid, "A0001", "union_admin"),
        ("proposals.proposal_drafted", pid, "D0001", "delegate"),
        ("proposals.proposal_cosigned", pid, "D0002", "delegate"),
        ("proposals.proposal_submitted", pid, "D0001", "delegate"),
        ("proposals.proposal_accepted", pid, "A0001", "union_admin"),
        ("proposals.proposal_assigned", pid, "A0001", "union_admin"),
        ("proposals.proposal_replied", pid, "H0001", "handler"),
        ("proposals.proposal_rated", pid, "D0001", "delegate"),
        ("proposals.proposal_marked_excellent", pid, "A0001", "union_admin"),
        ("proposals.window_closed", sid, "A0001", "union_admin"),
    ]
    mine = {"service": "proposals"}
    wait_until(lambda: entries.count_documents(mine) == len(expected), timeout=30)
    got = sorted(entries.find(mine), key=lambda e: e["seq"])
    assert [(e["action"], e["object"]["id"], e["actor"]["member_id"], e["role"]) for e in got] == expected
    assert {e["union_id"] for e in got} == {"u01"}
    by_action = {e["action"]: e for e in got}
    rated = by_action["proposals.proposal_rated"]
    assert {c["field"]: (c["before"], c["after"]) for c in rated["changes"]}["state"] == ("replied", "closed")
    assert rated["note"] == {"satisfaction": "satisfied", "round": 1}
    with rpc_as(ADMIN) as rpc:
        assert rpc.audit.verify_chain({"union_id": "u01"})["ok"] is True
