"""services/voting/policy.py and services/congress/policy.py (pure, no servers)."""

import pytest

from dmlib.errors import Forbidden
from services.congress import policy as congress_policy
from services.voting import policy
from tests.helpers import SYSTEM, member, union_admin

POLL = {"kind": "choice", "union_id": "u01", "union_path": ["ftu", "area", "u01"], "congress_id": "cg-u01"}
OLD_POLL = {"kind": "choice"}
SUPERIOR = member("S1", "u09", ("superior_admin", "ftu"))
NO = lambda: False  # noqa: E731 (not a voter)
YES = lambda: True  # noqa: E731


@pytest.mark.parametrize(
    "actor",
    [SYSTEM, union_admin("u01"), SUPERIOR, member("M1", "u01"), member("D1", "u02", ("delegate", "cg-u01"))],
)
def test_congress_poll_readers(actor):
    assert policy.sees_choice_poll(actor, POLL, NO)


@pytest.mark.parametrize(
    "actor", [union_admin("u02"), member("M2", "u02"), member("D2", "u02", ("delegate", "cg-u02"))]
)
def test_congress_poll_outsiders(actor):
    assert not policy.sees_choice_poll(actor, POLL, NO)
    with pytest.raises(Forbidden) as info:
        policy.require_read_poll(actor, policy.sees_choice_poll(actor, POLL, NO))
    assert not info.value.details


def test_old_polls_without_a_union():
    assert policy.sees_choice_poll(SUPERIOR, OLD_POLL, NO)
    assert not policy.sees_choice_poll(union_admin("u01"), OLD_POLL, NO)
    assert policy.sees_choice_poll(member("M1", "u01"), OLD_POLL, YES)  # its own voter


def test_campaigns():
    camp = {"union_path": ["ftu"], "homes": [{"union_id": "u01"}]}
    assert policy.is_campaign_admin(SUPERIOR, camp) and not policy.is_campaign_admin(union_admin("u01"), camp)
    assert policy.sees_campaign(member("M1", "u01"), camp) and not policy.sees_campaign(
        union_admin("u02"), camp
    )
    policy.require_rate_home(member("M1", "u01"), ["u01"], None)
    with pytest.raises(Forbidden):
        policy.require_rate_home(member("M1", "u01"), ["u01"], "u02")
    with pytest.raises(Forbidden):
        policy.require_unit_score(union_admin("u02"), "u01")
    policy.require_opinions(union_admin("u01"), camp, "u01")
    with pytest.raises(Forbidden):
        policy.require_opinions(union_admin("u01"), camp, None)
    with pytest.raises(Forbidden):
        policy.require_live_results(union_admin("u01"), camp)


def test_congress_admins_and_readers():
    session = {"union_id": "u01", "union_path": ["ftu", "area", "u01"], "congress_id": "cg-u01"}
    congress_policy.require_admin(union_admin("u01"), session)
    congress_policy.require_admin(SUPERIOR, session)
    for outsider in (union_admin("u02"), member("M1", "u01")):
        with pytest.raises(Forbidden):
            congress_policy.require_admin(outsider, session)
    assert congress_policy.may_read(member("M1", "u01"), session)
    assert congress_policy.may_read(member("D1", "u02", ("delegate", "cg-u01")), session)
    assert not congress_policy.may_read(union_admin("u02"), session)
    with pytest.raises(Forbidden):
        congress_policy.require_checked_in(member("D1", "u01"), False)
