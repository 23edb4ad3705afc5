"""services/disclosure/policy.py (pure, no servers): who may read, manage, ask and migrate."""

import pytest

from dmlib.errors import Forbidden
from services.disclosure import policy
from tests.helpers import SYSTEM, member, union_admin

U01 = ("u01", ["ftu", "area", "u01"])
SUPERIOR = member("S1", "u09", ("superior_admin", "area"))
MEMBER = member("M1", "u01")
OUTSIDERS = [
    member("M2", "u02"),
    union_admin("u02"),
    member("X", None),
    member("D", "u02", ("delegate", "cg-u01")),
]


@pytest.mark.parametrize("actor", [MEMBER, union_admin("u01"), SUPERIOR, SYSTEM])
def test_readers_are_the_unions_members_and_those_who_manage_it(actor):
    assert policy.may_read(actor, *U01)
    policy.require_reader(actor, *U01)


@pytest.mark.parametrize("actor", OUTSIDERS)
def test_everyone_else_is_refused_without_anything_of_the_object(actor):
    assert not policy.may_read(actor, *U01)
    with pytest.raises(Forbidden) as info:
        policy.require_reader(actor, *U01)
    assert info.value.details == {} and info.value.message == policy.NOT_A_READER
    with pytest.raises(Forbidden):
        policy.require_manager(actor, U01[1])


@pytest.mark.parametrize("actor", [union_admin("u01"), SUPERIOR, SYSTEM])
def test_admins_of_the_union_or_above_manage(actor):
    assert policy.may_manage(actor, U01[1])
    policy.require_manager(actor, U01[1])


def test_a_member_manages_nothing_and_an_admin_below_manages_nothing_above():
    with pytest.raises(Forbidden) as info:
        policy.require_manager(MEMBER, U01[1])
    assert info.value.message == policy.NOT_AN_ADMIN
    assert not policy.may_manage(union_admin("u01"), ["ftu", "area"])


def test_only_the_unions_own_members_ask_and_leave_receipts():
    policy.require_asker(MEMBER, "u01")
    assert policy.is_member(MEMBER, "u01")
    for actor in (SUPERIOR, union_admin("u02"), member("M2", "u02"), member("X", None)):
        assert not policy.is_member(actor, "u01")
        with pytest.raises(Forbidden):
            policy.require_asker(actor, "u01")
    # an admin of u01 who is a member of u01 asks like any member (their own union)
    policy.require_asker(union_admin("u01"), "u01")


@pytest.mark.parametrize(
    ("actor", "answered", "mine", "seen"),
    [
        (MEMBER, True, False, True),  # answered: public to readers
        (MEMBER, False, True, True),  # the asker's own open question
        (MEMBER, False, False, False),  # someone else's open question
        (union_admin("u01"), False, False, True),
        (SUPERIOR, False, False, True),
    ],
)
def test_who_sees_a_question(actor, answered, mine, seen):
    assert policy.may_see_question(actor, U01[1], answered, mine) is seen


@pytest.mark.parametrize("actor", [MEMBER, union_admin("u01"), SUPERIOR])
def test_migrations_are_the_systems_alone(actor):
    policy.require_system(SYSTEM)
    with pytest.raises(Forbidden):
        policy.require_system(actor)
