"""The proposals policy: who may do what to which window or proposal (pure: no broker, no database)."""

import pytest

from dmlib.errors import Forbidden
from services.proposals import policy
from tests.helpers import member, union_admin

WINDOW = {"union_id": "u01", "union_path": ["ftu", "u01"], "congress_id": "cg-u01"}
PROPOSAL = {
    **WINDOW,
    "state": "submitted",
    "proposer": {"member_id": "D0001"},
    "cosigner_ids": ["D0002"],
    "invited": [{"member_id": "D0003"}],
    "rounds": [{"department_ids": ["u01-d1"]}],
}
SYSTEM = member("SYS", None, ("system", "*"))
SUPERIOR = member("S0001", "ftu", ("superior_admin", "ftu"))
OTHER_ADMIN = union_admin("u02")


def delegate(n):
    return member(f"D000{n}", "u01", ("delegate", "cg-u01"))


@pytest.mark.parametrize(
    ("actor", "relations"),
    [
        (delegate(1), {"proposer", "cosigner", "delegate"}),
        (delegate(2), {"cosigner", "delegate"}),
        (delegate(3), {"invited", "delegate"}),
        (union_admin("u01"), {"admin"}),
        (SUPERIOR, {"admin"}),
        (OTHER_ADMIN, set()),
        (member("H0001", "u01", ("handler", "u01-d1")), {"handler"}),
        (member("H0002", "u01", ("handler", "u01-d2")), set()),
    ],
)
def test_relations_to_a_proposal(actor, relations):
    assert policy.relations(actor, PROPOSAL) == relations


@pytest.mark.parametrize(
    ("action", "allowed", "refused"),
    [
        ("submit", {"proposer"}, {"cosigner", "delegate", "admin"}),
        ("accept", {"admin"}, {"proposer", "delegate", "handler"}),
        ("assign", {"admin"}, {"delegate"}),
        ("reply", {"handler"}, {"admin"}),
        ("return", {"proposer"}, {"cosigner"}),
        ("mark_excellent", {"admin"}, {"proposer"}),
    ],
)
def test_each_move_needs_its_relation(action, allowed, refused):
    policy.require_move(action, allowed)
    with pytest.raises(Forbidden, match="only"):
        policy.require_move(action, refused)


def test_admins_of_the_union_or_above_run_windows_and_the_desk():
    for actor in (union_admin("u01"), SUPERIOR, SYSTEM):
        policy.require_admin(actor, WINDOW)
    for actor in (OTHER_ADMIN, delegate(1), member("M0001", "u01")):
        with pytest.raises(Forbidden, match="only admins") as refused:
            policy.require_admin(actor, WINDOW)
        assert "D000" not in refused.value.message


def test_readers_drafts_and_drafters():
    policy.require_reader(member("M0001", "u01"), WINDOW)
    policy.require_reader(member("D0009", "u09", ("delegate", "cg-u01")), WINDOW)
    with pytest.raises(Forbidden, match="only members of this union"):
        policy.require_reader(OTHER_ADMIN, WINDOW)
    draft = {**PROPOSAL, "state": "draft"}
    policy.require_see_proposal(delegate(3), draft)
    with pytest.raises(Forbidden, match="draft"):
        policy.require_see_proposal(member("M0001", "u01"), draft)
    policy.require_see_proposal(member("M0001", "u01"), PROPOSAL)
    policy.require_drafter(delegate(4), WINDOW)
    for actor in (SYSTEM, member("M0001", "u01"), union_admin("u01")):
        with pytest.raises(Forbidden, match="only delegates"):
            policy.require_drafter(actor, WINDOW)


def test_cosigning_rating_handling_and_system_work():
    policy.require_cosigner({"delegate"})
    with pytest.raises(Forbidden, match="your own"):
        policy.require_cosigner({"proposer", "cosigner", "delegate"})
    with pytest.raises(Forbidden, match="delegate"):
        policy.require_cosigner({"invited"})
    policy.require_rater(delegate(2), {"cosigner"})
    with pytest.raises(Forbidden, match="proposer or a co-signer"):
        policy.require_rater(delegate(4), {"delegate"})
    handler = member("H0001", "u01", ("handler", "u01-d1"), ("handler", "u01-d3"))
    assert policy.replying_departments(handler, None, ["u01-d1", "u01-d2"]) == ["u01-d1"]
    with pytest.raises(Forbidden, match="do not handle"):
        policy.replying_departments(handler, "u01-d2", ["u01-d2"])
    with pytest.raises(Forbidden, match="not assigned"):
        policy.replying_departments(handler, "u01-d3", ["u01-d1"])
    policy.require_handles(handler, "u01-d3")
    with pytest.raises(Forbidden):
        policy.require_handles(handler, "u01-d2")
    policy.require_system(SYSTEM)
    with pytest.raises(Forbidden, match="system only"):
        policy.require_system(union_admin("u01"))
