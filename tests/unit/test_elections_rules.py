"""Rules of elections, appraisals and 双爱双评 (services/elections/rules.py), at every boundary.

Sources (see the module and docs/elections.md): 《工会基层组织选举工作条例》 (ACFTU 2016, "条例 2016"); the
article numbers could not be verified on this machine, so the tests cite the rule, not a number.
"""

from decimal import Decimal
from fractions import Fraction

import pytest

from services.elections import rules as r

CONTESTED = r.ElectionRules()
VACANT = r.ElectionRules(shortfall="vacant")


def ballot(approve=(), disapprove=(), write_ins=()):
    marks = {p: r.APPROVE for p in approve} | {p: r.DISAPPROVE for p in disapprove}
    return {"marks": marks, "write_ins": list(write_ins)}


def tally_of(approvals: dict[str, int], ballots: int, candidates=None) -> r.RoundTally:
    """A tally with the given approvals and ``ballots`` valid ballots."""
    cands = list(candidates or approvals)
    return r.RoundTally(
        ballots=ballots,
        valid=ballots,
        invalid=0,
        approve=dict(approvals),
        disapprove={c: 0 for c in cands},
        abstain={c: 0 for c in cands},
    )


# ----- turnout: more than 2/3 of the electors due (条例 2016; article number not verified) -----------
@pytest.mark.parametrize(
    "took_part, due, valid",
    [
        (562, 842, True),  # 3·562 = 1686 > 1684
        (561, 842, False),  # 3·561 = 1683 ≤ 1684
        (81, 120, True),
        (80, 120, False),  # exactly two thirds is NOT more than two thirds
        (79, 120, False),
        (3, 3, True),
        (2, 3, False),  # exactly 2/3
        (0, 0, False),
    ],
)
def test_turnout_must_exceed_two_thirds_of_electors_due(took_part, due, valid):
    assert r.turnout_valid(took_part, due) is valid


def test_turnout_required_is_the_exact_fraction_for_every_size():
    for due in range(1, 1001):
        need = r.turnout_required(due)
        assert Fraction(need, due) > Fraction(2, 3) >= Fraction(need - 1, due)
        assert r.turnout_valid(need, due) and not r.turnout_valid(need - 1, due)


# ----- majority: more than half of the electors DUE, not of those voting ------------------------------
@pytest.mark.parametrize(
    "approvals, due, elected",
    [
        (422, 842, True),
        (421, 842, False),  # exactly half
        (420, 842, False),
        (61, 120, True),
        (60, 120, False),
        (2, 3, True),
        (1, 3, False),
    ],
)
def test_majority_is_more_than_half_of_electors_due(approvals, due, elected):
    assert r.has_majority(approvals, due) is elected
    assert (approvals >= r.majority_required(due)) is elected


def test_majority_counts_electors_due_not_ballots_cast():
    # 600 of 842 took part; 350 approvals are more than half of those voting but not of those due
    t = tally_of({"a": 350, "b": 500}, ballots=600)
    d = r.decide(t, ["a", "b"], seats=2, due=842, rules=CONTESTED)
    assert d.valid and d.elected == ["b"] and d.below_majority == ["a"]


def test_an_invalid_turnout_decides_nothing():
    t = tally_of({"a": 561, "b": 561}, ballots=561)
    d = r.decide(t, ["a", "b"], seats=1, due=842, rules=CONTESTED)
    assert not d.valid and d.elected == [] and d.next == "repeat" and d.turnout_required == 562


# ----- ballots: more approved than seats → invalid (多选无效) ------------------------------------------
def test_a_ballot_approving_more_people_than_seats_is_invalid_and_counted_as_such():
    cands = ["a", "b", "c"]
    ballots = [
        ballot(approve=["a", "b"]),  # = seats: valid
        ballot(approve=["a"], write_ins=["z"]),  # a write-in is an approval: 2 = seats, valid
        ballot(approve=["a", "b", "c"]),  # 3 > 2: invalid
        ballot(approve=["a", "b"], write_ins=["z"]),  # 3 > 2 with the write-in: invalid
        ballot(),  # all abstain: valid
    ]
    t = r.tally(ballots, cands, seats=2)
    assert (t.ballots, t.valid, t.invalid) == (5, 3, 2)
    assert t.approve == {"a": 2, "b": 1, "c": 0, "z": 1}
    assert t.abstain == {"a": 1, "b": 2, "c": 3}  # unmarked on a valid ballot = abstain
    assert t.disapprove == {"a": 0, "b": 0, "c": 0}


def test_invalid_ballots_count_for_turnout_but_for_nobody():
    # 3 electors due, all 3 take part, one ballot over-marked
    t = r.tally([ballot(approve=["a"]), ballot(approve=["a"]), ballot(approve=["a", "b"])], ["a", "b"], 1)
    d = r.decide(t, ["a", "b"], seats=1, due=3, rules=CONTESTED)
    assert d.valid and d.took_part == 3 and d.elected == ["a"]


@pytest.mark.parametrize(
    "b, field",
    [
        ({"marks": {"x": r.APPROVE}}, "marks"),
        ({"marks": {"a": "yes"}}, "marks"),
        ({"marks": {}, "write_ins": ["a"]}, "write_ins"),
        ({"marks": {}, "write_ins": ["z", "z"]}, "write_ins"),
    ],
)
def test_a_ballot_that_is_not_of_this_round_is_refused(b, field):
    with pytest.raises(r.RuleError) as err:
        r.check_ballot(b, ["a", "b"], CONTESTED)
    assert err.value.field == field


def test_write_ins_can_be_switched_off():
    with pytest.raises(r.RuleError):
        r.check_ballot({"marks": {}, "write_ins": ["z"]}, ["a"], r.ElectionRules(write_ins=False))
    r.check_ballot({"marks": {"a": r.APPROVE}, "write_ins": ["z"]}, ["a"], CONTESTED)


# ----- the slate: 差额 with a margin, 等额 allowed for a chair ---------------------------------------
@pytest.mark.parametrize(
    "seats, margin, need", [(9, 5, 10), (20, 5, 21), (21, 5, 23), (30, 5, 32), (9, 20, 11), (1, 0, 2)]
)
def test_contested_elections_need_the_margin(seats, margin, need):
    rules = r.ElectionRules(margin_pct=Decimal(margin))
    assert r.min_candidates(seats, rules) == need
    r.check_slate(seats, need, rules)
    with pytest.raises(r.RuleError):
        r.check_slate(seats, need - 1, rules)


def test_a_chair_may_be_uncontested_but_then_exactly_as_many_candidates_as_seats():
    rules = r.ElectionRules(contested=False)
    r.check_slate(1, 1, rules)
    for n in (0, 2):
        with pytest.raises(r.RuleError):
            r.check_slate(1, n, rules)
    with pytest.raises(r.RuleError):
        r.check_slate(0, 0, rules)


# ----- more passing than seats: the most approvals win; a tie at the last seat → runoff -------------
def test_more_passing_than_seats_the_most_approvals_win():
    t = tally_of({"a": 700, "b": 650, "c": 600, "d": 500}, ballots=800)
    d = r.decide(t, list("abcd"), seats=2, due=842, rules=CONTESTED)
    assert d.passing == ["a", "b", "c", "d"] and d.elected == ["a", "b"] and d.next == "done"


def test_a_tie_at_the_last_seat_goes_to_a_runoff_among_the_tied():
    t = tally_of({"a": 700, "b": 600, "c": 600, "d": 500}, ballots=800)
    d = r.decide(t, list("abcd"), seats=2, due=842, rules=CONTESTED)
    assert d.elected == ["a"] and d.runoff == ["b", "c"] and d.open_seats == 1 and d.next == "runoff"


def test_a_tie_that_fits_the_seats_needs_no_runoff():
    t = tally_of({"a": 700, "b": 600, "c": 600, "d": 500}, ballots=800)
    d = r.decide(t, list("abcd"), seats=3, due=842, rules=CONTESTED)
    assert d.elected == ["a", "b", "c"] and d.runoff == [] and d.next == "done"


def test_a_tie_below_the_majority_is_not_a_runoff():
    t = tally_of({"a": 700, "b": 400, "c": 400}, ballots=800)
    d = r.decide(t, list("abc"), seats=2, due=842, rules=CONTESTED)
    assert d.elected == ["a"] and d.runoff == [] and d.next == "further_round"


# ----- fewer passing than seats: 另行选举 or vacant (configurable) ------------------------------------
def test_fewer_elected_than_seats_goes_to_a_further_round_among_the_others():
    t = tally_of({"a": 700, "b": 421, "c": 300}, ballots=800)
    d = r.decide(t, list("abc"), seats=2, due=842, rules=CONTESTED)
    assert d.elected == ["a"] and d.open_seats == 1
    assert d.next == "further_round" and d.further_candidates == ["b", "c"]


def test_fewer_elected_than_seats_may_leave_the_seats_vacant():
    t = tally_of({"a": 700, "b": 421, "c": 300}, ballots=800)
    d = r.decide(t, list("abc"), seats=2, due=842, rules=VACANT)
    assert d.elected == ["a"] and d.open_seats == 1 and d.next == "vacant" and d.further_candidates == []


def test_a_written_in_person_with_a_majority_is_elected():
    t = r.tally([ballot(write_ins=["z"])] * 3, ["a"], seats=1)
    d = r.decide(t, ["a"], seats=1, due=3, rules=CONTESTED)
    assert d.elected == ["z"] and d.below_majority == ["a"]


# ----- appraisals -------------------------------------------------------------------------------------
def test_satisfaction_rate_is_satisfied_plus_partly_over_valid():
    assert r.satisfaction_rate(60, 30, 10) == Decimal("90.00")
    assert r.satisfaction_rate(1, 1, 1) == Decimal("66.67")
    assert r.satisfaction_rate(0, 0, 0) is None


def test_appraisal_results_rank_and_flag_below_the_threshold():
    rows = r.appraisal_results(
        {
            "d1": {"satisfied": 8, "partly": 1, "dissatisfied": 1},  # 90
            "d2": {"satisfied": 3, "partly": 3, "dissatisfied": 4},  # 60: at the threshold, not below
            "d3": {"satisfied": 2, "partly": 3, "dissatisfied": 5},  # 50, below; 5 of 10 is not > half
            "d4": {"satisfied": 1, "partly": 3, "dissatisfied": 6},  # 40, below; dissatisfied majority
            "d5": {"satisfied": 9, "partly": 0, "dissatisfied": 1},  # 90: shares rank 1
            "d6": {},
        },
        threshold_pct=60,
    )
    by = {row["subject"]: row for row in rows}
    assert [row["subject"] for row in rows] == ["d1", "d5", "d2", "d3", "d4", "d6"]
    assert [row["rank"] for row in rows] == [1, 1, 3, 4, 5, None]
    assert [s for s in by if by[s]["below_threshold"]] == ["d3", "d4"]
    assert [s for s in by if by[s]["dissatisfied_majority"]] == ["d4"]


# ----- 双爱双评 -------------------------------------------------------------------------------------
NOMINEES = {"good_worker": ["w1", "w2", "w3"], "good_manager": ["g1", "g2"]}


def test_an_award_ballot_chooses_at_most_k_nominees_per_category():
    r.check_award_ballot({"good_worker": ["w1", "w2"], "good_manager": ["g1"]}, NOMINEES, k=2)
    for bad in (
        {"good_worker": ["w1", "w2", "w3"]},
        {"good_worker": ["w1", "w1"]},
        {"good_worker": ["g1"]},
        {"best": ["w1"]},
    ):
        with pytest.raises(r.RuleError):
            r.check_award_ballot(bad, NOMINEES, k=2)


def test_award_results_award_the_places_and_hold_a_tie_at_the_cut():
    out = r.award_results(
        {"good_worker": {"w1": 9, "w2": 5, "w3": 5}, "good_manager": {"g1": 4, "g2": 0}},
        {"good_worker": 2, "good_manager": 2},
    )
    assert out["good_worker"]["awarded"] == ["w1"] and out["good_worker"]["tied"] == ["w2", "w3"]
    assert out["good_manager"]["awarded"] == ["g1"]  # no title without a vote
