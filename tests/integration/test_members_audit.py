"""Changes people make in the member registry reach the audit log (once each, in the chain of their
union), and never with a password or its hash; changes by the system are not audited."""

import base64

import pytest

from dmlib.errors import Forbidden
from services.audit.service import AuditService
from services.members.service import MembersService
from tests.helpers import SYSTEM, union_admin, valid_ids, wait_until

pytestmark = pytest.mark.integration

FEDERATION = union_admin("ftu", "F0001")
ADMIN = union_admin("u01", "A0001")
NEW_PASSWORD = "Reset-Pass-5531"
IMPORT_PASSWORD = "Initial-Pass-8842"


def test_member_registry_changes_by_people_are_audited(runner_factory, config, rpc_as, db):
    runner_factory(config, MembersService, AuditService).start()
    ids = valid_ids(4)
    with rpc_as(SYSTEM) as rpc:  # the system's changes: not audited
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
    with rpc_as(FEDERATION) as rpc:
        rpc.members.create_union({"id": "u01", "name": "一厂工会", "kind": "grassroots", "parent_id": "ftu"})
        rpc.members.set_star_level("u01", 4)
    with rpc_as(ADMIN) as rpc:
        rpc.members.create_department({"id": "u01-d1", "union_id": "u01", "name": "生产部"})
        rpc.members.register_member(
            {"member_no": "M0000001", "name": "王伟", "union_id": "u01", "national_id": ids[0]}
        )
        rpc.members.grant_role({"member_id": "M0000001", "role": "handler", "scope": "u01-d1"})
        rpc.members.revoke_role({"member_id": "M0000001", "role": "handler", "scope": "u01-d1"})
        rpc.members.set_password({"member_id": "M0000001", "new_password": NEW_PASSWORD})
        with pytest.raises(Forbidden):  # refused: nothing written, nothing audited
            rpc.members.set_star_level("u01", 5)
        rows = "".join(f"I{i:04d},会员{i},u01,{n}\n" for i, n in enumerate(ids[1:]))
        job = rpc.members.start_import(
            {
                "filename": "m.csv",
                "content_b64": base64.b64encode(
                    f"member_no,name,union_id,national_id\n{rows}".encode()
                ).decode(),
                "initial_password": IMPORT_PASSWORD,
            }
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 30)

    entries = db("audit").entries
    expected = {
        "members.union_created": "ftu",
        "members.star_level_set": "u01",
        "members.department_created": "u01",
        "members.member_registered": "u01",
        "members.role_granted": "u01",
        "members.role_revoked": "u01",
        "members.password_reset": "u01",
        "members.import_started": "u01",
        "members.members_imported": "u01",
    }
    wait_until(lambda: entries.count_documents({}) == len(expected), timeout=30)
    got = {e["action"]: e for e in entries.find({})}
    assert {a: e["union_id"] for a, e in got.items()} == expected
    assert got["members.star_level_set"]["role"] == "union_admin"
    assert got["members.star_level_set"]["actor"]["member_id"] == "F0001"
    changes = {c["field"]: (c["before"], c["after"]) for c in got["members.star_level_set"]["changes"]}
    assert changes == {"star_level": (0, 4)}
    assert got["members.role_granted"]["note"] == {"role": "handler", "scope": "u01-d1"}
    assert got["members.members_imported"]["note"] == {"inserted": 3, "failed": 0}
    assert got["members.members_imported"]["actor"]["member_id"] == "A0001"
    registered = {c["field"] for c in got["members.member_registered"]["changes"]}
    assert registered == {"name", "union_id", "department_id"}
    text = str(list(entries.find({})))
    assert NEW_PASSWORD not in text and IMPORT_PASSWORD not in text and "argon2" not in text
    assert ids[0] not in text and "id_hash" not in text
    with rpc_as(ADMIN) as rpc:
        assert rpc.audit.verify_chain({"union_id": "u01"})["ok"] is True
