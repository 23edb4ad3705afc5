"""Rules of the workers' congress (services/congress/rules.py) and its contract's input checks."""

from fractions import Fraction

import pytest
from marshmallow import ValidationError

from dmlib.contracts import congress as c
from services.congress import rules


@pytest.mark.parametrize(
    "present, total, expected",
    [
        (80, 120, True),
        (79, 120, False),
        (120, 120, True),
        (0, 120, False),
        (2, 3, True),
        (1, 3, False),
        (67, 100, True),
        (66, 100, False),
        (1, 1, True),
        (0, 0, False),
    ],
)
def test_quorum_is_two_thirds_of_all_delegates(present, total, expected):
    assert rules.quorum(present, total) is expected


def test_quorum_required_matches_the_exact_fraction_for_every_size():
    for total in range(1, 1001):
        need = rules.quorum_required(total)
        assert Fraction(need, total) >= Fraction(2, 3) > Fraction(need - 1, total)
        assert rules.quorum(need, total) and not rules.quorum(need - 1, total)
    assert rules.quorum_required(120) == 80


@pytest.mark.parametrize(
    "yes, total, expected",
    [(61, 120, True), (60, 120, False), (51, 101, True), (50, 101, False), (1, 1, True), (0, 0, False)],
)
def test_adoption_is_more_than_half_of_all_delegates(yes, total, expected):
    assert rules.adopted(yes, total) is expected


def test_adoption_ignores_abstentions_and_the_present_count():
    # 85 present: 60 yes and 25 abstain is a large majority of those voting, still not 61 of 120
    assert rules.outcome({"yes": 60, "no": 0, "abstain": 25}, 85, 85, 120).adopted is False
    out = rules.outcome({"yes": 61, "no": 20, "abstain": 4}, 85, 85, 120)
    assert (out.adopted, out.required, out.state) == (True, 61, "adopted")
    for total in range(1, 500):
        need = rules.adoption_required(total)
        assert rules.adopted(need, total) and not rules.adopted(need - 1, total)


@pytest.mark.parametrize(
    "managers, total, over", [(24, 120, False), (25, 120, True), (0, 0, False), (1, 5, False), (2, 5, True)]
)
def test_managers_over_twenty_percent(managers, total, over):
    assert rules.managers_over_limit(managers, total) is over


def test_counts_must_be_non_negative_integers():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError):
            rules.quorum(bad, 10)


def test_session_transitions():
    t = rules.SESSION_TRANSITIONS
    assert rules.can_transition(t, "planned", "convened")
    assert rules.can_transition(t, "convened", "closed")
    assert not rules.can_transition(t, "closed", "convened")
    assert not rules.can_transition(t, "convened", "planned")
    assert not rules.can_transition(rules.ITEM_TRANSITIONS, "adopted", "voting")


@pytest.mark.parametrize(
    "schema, data, fields",
    [
        (c.TermIn, {"number": 0, "start": "2026-01-01", "end": "2029-01-01"}, {"number"}),
        (c.TermIn, {"number": 1, "start": "2026-01-01", "end": "2025-01-01"}, {"end"}),
        (c.TermIn, {"number": "x", "start": "soon"}, {"number", "start", "end"}),
        (
            c.TermIn,
            {
                "number": 1,
                "start": "2026-01-01",
                "end": "2029-01-01",
                "delegations": [{"name": "a"}, {"name": "a"}],
            },
            {"delegations"},
        ),
        (c.ElectIn, {"delegates": []}, {"delegates"}),
        (
            c.ElectIn,
            {"delegates": [{"member_id": "M1", "delegation_id": "g1", "category": "boss"}]},
            {"delegates"},
        ),
        (
            c.SessionIn,
            {"title": "", "kind": "secret", "agenda": [{"kind": "poem", "title": "x"}]},
            {"title", "kind", "agenda"},
        ),
        (c.VoteIn, {"choice": "maybe"}, {"choice"}),
        (c.VoteIn, {}, {"choice"}),
        (c.CheckInIn, {"member_id": "x y"}, {"member_id"}),
        (c.CongressIn, {"union_id": "u01", "extra": 1}, {"extra"}),
    ],
)
def test_bad_inputs_name_their_fields(schema, data, fields):
    with pytest.raises(ValidationError) as info:
        schema().load(data)
    assert set(info.value.messages_dict) == fields
