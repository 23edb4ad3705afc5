"""services/notify/policy.py (pure, no servers)."""

import pytest

from dmlib.errors import Forbidden
from services.notify import policy
from tests.helpers import SYSTEM, member, union_admin

PATH = ["nf", "nu1"]
SUPERIOR = member("S1", "nu9", ("superior_admin", "nf"))


def refused(call, *args):
    with pytest.raises(Forbidden) as info:
        call(*args)
    assert not info.value.details  # a refusal names nothing of the object
    return info.value


def test_only_members_have_an_inbox():
    policy.require_member(member("M1", "nu1"))
    refused(policy.require_member, SYSTEM)


@pytest.mark.parametrize("actor", [SYSTEM, union_admin("nu1"), SUPERIOR])
def test_admins_of_the_union_or_above_read_its_delivery_log(actor):
    policy.require_log_reader(actor, PATH)


@pytest.mark.parametrize("actor", [union_admin("nu2"), member("M1", "nu1")])
def test_others_do_not_read_the_delivery_log(actor):
    refused(policy.require_log_reader, actor, PATH)


def test_fanout_progress_for_the_system_and_admins():
    policy.require_fanout_reader(SYSTEM)
    policy.require_fanout_reader(union_admin("nu2"))
    refused(policy.require_fanout_reader, member("M1", "nu1"))


def test_digests_on_demand_for_the_system_only():
    policy.require_system(SYSTEM)
    refused(policy.require_system, union_admin("nu1"))
