"""A member's change of their notification preferences reaches the audit log (once, in the chain of
their union, each group's channels and the digest mode before → after); a refused change leaves
nothing; marking messages read is not audited (docs/architecture.md, "The audit log")."""

import pytest

from dmlib.errors import BadInput, Forbidden
from services.audit.service import AuditService
from services.members.service import MembersService
from services.notify.service import NotifyService
from tests.helpers import SYSTEM, member, union_admin, wait_until

pytestmark = pytest.mark.integration

M1 = member("N0000001", "nu1", name="张三")


def test_a_members_preference_changes_are_audited(runner_factory, config, rpc_as, db):
    runner_factory({**config, "SMS_URL": ""}, MembersService, NotifyService, AuditService).start()
    with rpc_as(SYSTEM) as r:
        r.members.create_union({"id": "nf", "name": "测试总工会", "kind": "federation"})
        r.members.create_union({"id": "nu1", "name": "工会nu1", "kind": "grassroots", "parent_id": "nf"})
    with rpc_as(M1) as r:
        with pytest.raises(BadInput):  # refused: nothing written, nothing audited
            r.notify.set_prefs({"channels": {"congress": ["fax"]}, "digest": "daily"})
        r.notify.set_prefs({"channels": {"congress": ["email"]}, "digest": "daily"})
        r.notify.set_prefs({"channels": {"congress": [], "proposals": ["email"]}, "digest": "immediate"})
        r.notify.mark_read({"all": True})  # reading: not audited
    with rpc_as(member("N0000002", None)) as r, pytest.raises(Forbidden):
        r.notify.set_prefs({"channels": {}, "digest": "daily"})

    entries = db("audit").entries
    wait_until(lambda: entries.count_documents({}) == 2, timeout=30)
    # the chain's order is the order the audit service received them (two relays may race): which
    # change is which is told by what it changed
    first, second = sorted(
        entries.find({}), key=lambda e: any(c["field"] == "channels.proposals" for c in e["changes"])
    )
    for e in (first, second):
        assert e["action"] == "notify.preferences_set" and e["union_id"] == "nu1"
        assert e["union_path"] == ["nf", "nu1"] and e["role"] == "member"
        assert e["actor"] == {"member_id": "N0000001", "name": "张三"}
        assert e["object"] == {"type": "preferences", "id": "N0000001"}
    first_changes = {c["field"]: (c["before"], c["after"]) for c in first["changes"]}
    assert first_changes["channels.congress"] == (None, ["email"]) and first_changes["digest"] == (
        None,
        "daily",
    )
    changes = {c["field"]: (c["before"], c["after"]) for c in second["changes"]}
    assert changes["channels.congress"] == (["email"], []) and changes["channels.proposals"] == (
        [],
        ["email"],
    )
    assert changes["digest"] == ("daily", "immediate")
    with rpc_as(union_admin("nu1", "N0000009")) as r:
        assert r.audit.verify_chain({"union_id": "nu1"})["ok"] is True
