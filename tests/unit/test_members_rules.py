"""The pure rules of the member registry (services/members/rules.py)."""

import pytest

from dmlib.errors import BadInput
from services.members import rules

FED = {"_id": "ftu", "kind": "federation", "path": ["ftu"]}
STREET = {"_id": "s1", "kind": "street", "path": ["ftu", "s1"]}
GRASS = {"_id": "u01", "kind": "grassroots", "path": ["ftu", "s1", "u01"]}


@pytest.mark.parametrize(
    "kind, parent, field",
    [
        ("federation", FED, "kind"),  # not below
        ("street", STREET, "kind"),  # same level
        ("grassroots", GRASS, "parent_id"),  # nothing under grassroots
    ],
)
def test_a_union_sits_below_a_higher_level(kind, parent, field):
    with pytest.raises(BadInput) as refused:
        rules.check_placement(kind, parent)
    assert field in refused.value.fields


@pytest.mark.parametrize("kind, parent", [("grassroots", FED), ("district", FED), ("federation", None)])
def test_levels_may_be_skipped_and_roots_have_no_parent(kind, parent):
    rules.check_placement(kind, parent)
    assert rules.union_path(parent, "x") == [*(parent["path"] if parent else []), "x"]


def test_members_and_departments_belong_to_a_grassroots_union():
    rules.check_member_union(GRASS)
    rules.check_department_union(GRASS)
    for check in (rules.check_member_union, rules.check_department_union):
        with pytest.raises(BadInput) as refused:
            check(STREET)
        assert refused.value.fields == {"union_id": ["not a grassroots union"]}


@pytest.mark.parametrize("level", [0, 3, 5])
def test_star_levels_are_0_to_5(level):
    assert rules.check_star_level(level) == level


@pytest.mark.parametrize("level", [-1, 6, 2.5, "3", True, None])
def test_other_star_levels_are_refused(level):
    with pytest.raises(BadInput):
        rules.check_star_level(level)


def test_role_scopes():
    assert [rules.scope_kind(r) for r in ("union_admin", "superior_admin", "handler", "delegate")] == [
        "union",
        "union",
        "department",
        "congress",
    ]
    held = [{"role": "handler", "scope": "d1"}]
    assert rules.with_role(held, "handler", "d1") == held  # once
    assert rules.with_role(held, "union_admin", "u01") == [*held, {"role": "union_admin", "scope": "u01"}]
    assert rules.without_role(held, "handler", "d1") == []
    assert rules.without_role(held, "handler", "d2") == held


def test_a_member_document_keeps_only_the_hash_and_last_four_of_the_resident_id():
    member = {"member_no": "M1", "name": "王伟", "union_id": "u01", "national_id": "11010519491231002X"}
    doc = rules.member_document(member, "h", "job1")
    assert doc == {
        "_id": "M1",
        "name": "王伟",
        "union_id": "u01",
        "id_hash": "h",
        "id_last4": "002X",
        "roles": [],
        "login": None,
        "import_job": "job1",
    }
    assert rules.national_id_hash(b"k" * 16, "11010519491231002x") == rules.national_id_hash(
        b"k" * 16, "11010519491231002X"
    )


def test_duplicate_reason_names_the_clashing_key():
    assert rules.duplicate_reason(True)[0] == "member_no"
    assert rules.duplicate_reason(False)[0] == "national_id"


def test_import_batches_and_the_error_sample():
    assert [rules.batch_of(i) for i in (0, 999, 1000, 2500)] == [0, 0, 1, 2]
    errors = [{"row": i} for i in range(30)]
    sample = rules.add_sample([], errors)
    assert len(sample) == rules.ERRORS_SAMPLE and rules.add_sample(sample, errors) == sample


# ----- member search keys (issue 17) ---------------------------------------------------------------
def test_search_keys_of_a_member_and_of_a_query():
    assert rules.member_search_keys("张伟强", "13900000001") == ["n:张伟", "p:13900000001"]
    assert rules.member_search_keys("Zhang Wei", None) == ["n:zh"]
    assert rules.member_search_keys("王", "") == ["n:王"]  # a name shorter than the key: all of it
    assert rules.query_keys("ＺＨＡＮＧ w") == ["n:zh", "p:ＺＨＡＮＧ w"]  # full-width folded for names
    assert rules.query_keys("张") == [] and rules.query_keys(" z ") == []


@pytest.mark.parametrize(
    ("key", "name", "q", "matches"),
    [
        ("n:张伟", "张伟强", "张伟", True),
        ("n:张伟", "张伟强", "张伟强", True),
        ("n:张伟", "张伟", "张伟强", False),
        ("n:zh", "Zhang Wei", "zhangw", True),
        ("n:zh", "Zhao Wei", "zhang", False),
        ("p:13900000001", "李娜", "13900000001", True),
    ],
)
def test_a_key_entry_matches_the_whole_query(key, name, q, matches):
    assert rules.entry_matches(key, {"i": "M1", "n": name, "u": "u01"}, q) is matches
