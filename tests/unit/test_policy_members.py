"""services/members/policy.py: who may act on a member, a union, a role (pure, no servers)."""

import pytest

from dmlib.errors import Forbidden
from services.members import policy
from tests.helpers import SYSTEM, member, union_admin

U01 = ["ftu", "area", "u01"]
U02 = ["ftu", "area", "u02"]
SUPERIOR = member("S1", "u01", ("superior_admin", "ftu"))


def refused(fn, *args, **kw) -> Forbidden:
    with pytest.raises(Forbidden) as info:
        fn(*args, **kw)
    assert not info.value.details and not info.value.fields  # a plain message, nothing of the object
    return info.value


def test_admin_scope_is_the_union_and_below():
    policy.require_admin(union_admin("u01"), U01)
    policy.require_admin(SUPERIOR, U02)
    policy.require_admin(SYSTEM, U02)
    refused(policy.require_admin, union_admin("u01"), U02)
    refused(policy.require_admin, union_admin("u01"), ["ftu", "area"])
    refused(policy.require_admin, member("M1", "u01"), U01)


def test_reading_a_member():
    policy.require_read_member(member("M1", "u01"), "M1", U01)
    policy.require_read_member(union_admin("u01"), "M2", U01)
    refused(policy.require_read_member, member("M1", "u01"), "M2", U01)
    refused(policy.require_read_member, union_admin("u01"), "M2", U02)


@pytest.mark.parametrize(
    ("actor", "member_id", "member_path", "role", "scope_path"),
    [
        (union_admin("u01"), "B1", U02, "handler", U02),  # the u16 finding: another union's member
        (union_admin("u01"), "B1", U02, "handler", U01),  # ... with one's own department
        (union_admin("u01"), "B1", U02, "union_admin", U01),
        (union_admin("u01"), "A2", U01, "handler", U02),  # a department one does not administer
        (SUPERIOR, "A2", U01, "handler", U02),  # administered, but not the member's union
        (SUPERIOR, "A2", U01, "union_admin", U02),
        (union_admin("u01"), "A2", U01, "delegate", None),  # delegates come from the congress
        (union_admin("u01"), "A2", U01, "union_admin", ["ftu", "area"]),  # above the actor
        (union_admin("u01", "A1"), "A1", U01, "union_admin", U01),  # oneself
        (member("M1", "u01"), "M2", U01, "handler", U01),
    ],
)
def test_role_changes_refused(actor, member_id, member_path, role, scope_path):
    refused(policy.require_role_change, actor, member_id, member_path, role, scope_path, granting=True)


def test_role_changes_allowed():
    policy.require_role_change(union_admin("u01"), "A2", U01, "handler", U01, granting=True)
    policy.require_role_change(union_admin("u01"), "A2", U01, "union_admin", U01, granting=True)
    policy.require_role_change(SUPERIOR, "A2", U01, "superior_admin", ["ftu"], granting=True)
    policy.require_role_change(SYSTEM, "A2", U01, "delegate", None, granting=True)
    policy.require_role_change(union_admin("u01", "A1"), "A1", U01, "union_admin", U01, granting=False)
    refused(policy.require_role_change, union_admin("u01"), "A2", U01, "handler", None, granting=False)


def test_passwords():
    assert policy.require_set_password(member("M1", "u01"), "M1", U01) is True
    assert policy.require_set_password(union_admin("u01"), "M2", U01) is False
    assert policy.require_set_password(SYSTEM, "M2", U01) is False
    refused(policy.require_set_password, union_admin("u01"), "B1", U02)
    refused(policy.require_set_password, member("M1", "u01"), "M2", U01)


def test_imports_and_star_levels():
    policy.require_importer(union_admin("u01"))
    refused(policy.require_importer, member("M1", "u01"))
    policy.require_import_owner(union_admin("u01", "A1"), "A1")
    refused(policy.require_import_owner, union_admin("u01", "A1"), "A9")
    assert policy.may_import_into({"u01"}, U01) and not policy.may_import_into({"u01"}, U02)
    assert policy.may_import_into({"*"}, U02)
    policy.require_set_star_level(SUPERIOR, U01)
    refused(policy.require_set_star_level, union_admin("u01"), U01)
