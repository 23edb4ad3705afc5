"""Worker Home evaluation rules computed by hand under both weightings (2018: 50/25/25, 2017: 40/30/30)."""

from decimal import Decimal

import pytest

from dmlib.contracts.voting import DEFAULT_THRESHOLDS, WEIGHT_PRESETS, CampaignIn, RatingIn
from services.voting import evaluation as ev

W2018, W2017 = WEIGHT_PRESETS["2018"], WEIGHT_PRESETS["2017"]


def tally(*ballots, opinions=0):
    """HomeTally from ballots given as lists of marks."""
    sums = tuple(sum(col) for col in zip(*ballots, strict=True))
    counts = tuple(sum(b.count(v) for b in ballots) for v in range(1, 6))
    return ev.HomeTally(ballots=len(ballots), star_sums=sums, star_counts=counts, opinions=opinions)


# A small campaign: three homes.
#   A: ballots [5,5,5,5,5], [4,4,4,4,4], [5,4,3,4,4] → 65 marks-sum over 15 → mean 4.3333 → 86.67; unit 88, sup 90
#   B: one ballot [3,3,3,3,3] → 60; unit 75, sup 70
#   C: ballots [5,5,5,5,5] ×2 → 100; unit 95, sup 92
HOMES = {
    "A": (tally([5] * 5, [4] * 5, [5, 4, 3, 4, 4], opinions=2), 4, 88, 90),
    "B": (tally([3] * 5), 2, 75, 70),
    "C": (tally([5] * 5, [5] * 5), 2, 95, 92),
}


def results(weights):
    return ev.rank(
        [
            ev.home_result(h, t, eligible, unit, sup, weights, DEFAULT_THRESHOLDS)
            for h, (t, eligible, unit, sup) in HOMES.items()
        ]
    )


def test_2018_weighting_by_hand():
    rows = {r.union_id: r for r in results(W2018)}
    # A: 86.6667 × .50 + 88 × .25 + 90 × .25 = 43.3333 + 22 + 22.5 = 87.8333
    assert (rows["A"].member_score, rows["A"].total, rows["A"].star_level) == (86.67, 87.83, 4)
    # B: 60 × .5 + 75 × .25 + 70 × .25 = 30 + 18.75 + 17.5 = 66.25
    assert (rows["B"].member_score, rows["B"].total, rows["B"].star_level) == (60.0, 66.25, 2)
    # C: 100 × .5 + 95 × .25 + 92 × .25 = 50 + 23.75 + 23 = 96.75
    assert (rows["C"].member_score, rows["C"].total, rows["C"].star_level) == (100.0, 96.75, 5)
    assert [r.union_id for r in results(W2018)] == ["C", "A", "B"]
    assert [r.rank for r in results(W2018)] == [1, 2, 3]
    assert rows["A"].participation == 75.0 and rows["B"].participation == 50.0
    assert rows["A"].criteria_means == (4.67, 4.33, 4.0, 4.33, 4.33)
    assert rows["A"].star_counts == (0, 0, 1, 8, 6) and rows["A"].opinions == 2
    assert ev.star_distribution(results(W2018)) == {"5": 1, "4": 1, "3": 0, "2": 1, "1": 0, "0": 0}


def test_2017_weighting_by_hand():
    rows = {r.union_id: r for r in results(W2017)}
    # A: 86.6667 × .4 + 88 × .3 + 90 × .3 = 34.6667 + 26.4 + 27 = 88.0667
    assert (rows["A"].total, rows["A"].star_level) == (88.07, 4)
    # B: 60 × .4 + 75 × .3 + 70 × .3 = 24 + 22.5 + 21 = 67.5
    assert (rows["B"].total, rows["B"].star_level) == (67.5, 2)
    # C: 40 + 28.5 + 27.6 = 96.1
    assert (rows["C"].total, rows["C"].star_level) == (96.1, 5)


def test_member_score_is_mean_stars_over_five():
    assert ev.member_score(40, 2, 5) == Decimal(80)
    assert ev.member_score(5, 1, 5) == Decimal(20)  # all one-star
    assert ev.member_score(0, 0, 5) is None


@pytest.mark.parametrize(
    "total, stars",
    [(100, 5), (90, 5), (89.99, 4), (80, 4), (70, 3), (69.99, 2), (60, 2), (50, 1), (49.99, 0), (0, 0)],
)
def test_star_level_thresholds(total, stars):
    assert ev.star_level(total, DEFAULT_THRESHOLDS) == stars


def test_configurable_thresholds_and_missing_scores():
    assert ev.star_level(85, [95, 85, 75, 65, 55]) == 4
    assert ev.star_level(84.99, [95, 85, 75, 65, 55]) == 3
    # no ballots and no scores count 0: 0 × .5 + 80 × .25 + 0 = 20
    assert ev.composite(None, 80, None, W2018) == Decimal(20)
    with pytest.raises(ValueError):
        ev.composite(50, 50, 50, {"member": 50, "unit": 30, "superior": 30})


def test_equal_totals_share_a_rank():
    same = [ev.HomeResult(u, 80.0, 80, 80, 80.0, 4, 1, 1, 100.0, 0, (), ()) for u in ("x", "y")]
    low = ev.HomeResult("z", 10.0, 10, 10, 10.0, 0, 1, 1, 100.0, 0, (), ())
    assert [r.rank for r in ev.rank([low, *same])] == [1, 1, 3]


def test_half_up_rounding():
    assert ev.round2(Decimal("66.665")) == 66.67
    assert ev.participation(1, 3) == 33.3 and ev.participation(2, 3) == 66.7 and ev.participation(5, 0) == 0.0


def test_campaign_contract_defaults_and_refusals():
    data = CampaignIn().load({"title": "t", "union_id": "ftu"})
    assert data["criteria"] == [
        "工会组织健全",
        "基础设施完善",
        "工作务实创新",
        "劳动关系和谐",
        "财务管理规范",
    ]
    assert data["thresholds"] == [90, 80, 70, 60, 50]
    from marshmallow import ValidationError

    with pytest.raises(ValidationError) as bad:
        CampaignIn().load(
            {"title": "t", "union_id": "ftu", "weights": {"member": 50.5, "unit": 25, "superior": 25}}
        )
    assert "weights" in bad.value.messages
    with pytest.raises(ValidationError):
        RatingIn().load({"stars": {}, "opinion": "x" * 2001})
