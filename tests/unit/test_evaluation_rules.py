"""Worker Home evaluation rules computed by hand under both weightings (2018: 50/25/25, 2017: 40/30/30)."""

from decimal import Decimal

import pytest
from marshmallow import ValidationError

from dmlib.contracts import voting as c
from dmlib.contracts.voting import CampaignIn, RatingIn
from services.voting import campaigns as camp
from services.voting import evaluation as ev
from services.voting.evaluation import DEFAULT_THRESHOLDS, WEIGHT_PRESETS

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


def test_campaign_defaults_come_from_the_evaluation_domain_and_refusals():
    data = CampaignIn().load({"title": "t", "union_id": "ftu"})
    assert data["criteria"] is None and data["thresholds"] is None and data["rules"] is None
    made = camp.settings(data)
    assert made["criteria"] == [
        "工会组织健全",
        "基础设施完善",
        "工作务实创新",
        "劳动关系和谐",
        "财务管理规范",
    ]
    assert made["thresholds"] == [90, 80, 70, 60, 50]
    assert made["weights"] == {"member": 50, "unit": 25, "superior": 25}
    assert made["rules"] == {"min_participation": 30.0, "no_ballots": "exclude", "star_basis": "published"}
    # the contract names the presets the domain defines
    assert set(c.WEIGHT_PRESET_NAMES) == set(WEIGHT_PRESETS)
    with pytest.raises(ValidationError) as bad:
        CampaignIn().load(
            {"title": "t", "union_id": "ftu", "weights": {"member": 50.5, "unit": 25, "superior": 25}}
        )
    assert "weights" in bad.value.messages
    with pytest.raises(ValidationError):
        RatingIn().load({"stars": {}, "opinion": "x" * 2001})


def test_campaign_rules_are_validated_with_field_messages_and_partly_given_rules_keep_defaults():
    with pytest.raises(ValidationError) as bad:
        CampaignIn().load(
            {
                "title": "t",
                "union_id": "ftu",
                "rules": {"min_participation": 101, "no_ballots": "ignore", "star_basis": 2},
            }
        )
    assert set(bad.value.messages["rules"]) == {"min_participation", "no_ballots", "star_basis"}
    assert "between 0 and 100" in bad.value.messages["rules"]["min_participation"][0]
    with pytest.raises(ValidationError) as unknown:
        CampaignIn().load({"title": "t", "union_id": "ftu", "rules": {"floor": 10}})
    assert "floor" in unknown.value.messages["rules"]
    data = CampaignIn().load({"title": "t", "union_id": "ftu", "rules": {"min_participation": 50.125}})
    assert camp.settings(data)["rules"] == {
        "min_participation": 50.13,  # the one rounding: half-up
        "no_ballots": "exclude",
        "star_basis": "published",
    }


def test_rules_of_stored_campaigns_defaults_on_read_and_legacy_published_tables():
    assert camp.rules_of({"status": "open"}) == ev.CampaignRules()  # made before the rules existed
    assert camp.rules_of({"status": "published"}) == ev.LEGACY_RULES  # its stored table used these
    stored = {"status": "published", "rules": {"min_participation": 0, "no_ballots": "zero"}}
    assert camp.rules_of(stored) == ev.CampaignRules(0, "zero", "published")


# ----- the rules the seed leaves open, at their boundaries ----------------------------------------
def row(ballots, eligible, rules=ev.CampaignRules(), unit=80, superior=80, marks=4):  # noqa: B008
    return ev.home_result(
        "h", tally(*[[marks] * 5] * ballots) if ballots else ev.HomeTally(0, (0,) * 5), eligible,
        unit, superior, W2018, DEFAULT_THRESHOLDS, rules,
    )  # fmt: skip


@pytest.mark.parametrize(
    "ballots, eligible, floor, qualifies",
    [
        (3, 10, 30, True),  # exactly at the floor
        (2, 10, 30, False),  # one ballot fewer
        (4, 10, 30, True),  # one more
        (8, 31, 25.8, True),  # 8 × 100 = 800 ≥ 25.8 × 31 = 799.8
        (7, 31, 25.8, False),
        (1, 3, 33.34, False),  # 33.33… % shows as 33.3 but is below 33.34
        (1, 3, 33.33, True),
    ],
)
def test_minimum_participation_at_the_floor_and_one_ballot_either_side(ballots, eligible, floor, qualifies):
    r = row(ballots, eligible, ev.CampaignRules(min_participation=floor))
    assert (r.flags == ()) is qualifies
    assert r.flags in ((), (ev.LOW_PARTICIPATION,))
    assert (r.star_level > 0) is qualifies  # 4 stars on every mark → 80 × .5 + 40 = 80 → 4★ when it qualifies
    assert r.total == 80.0  # the figures are kept; only the star level and the place are withheld
    assert ev.meets_floor(ballots, eligible, floor) is qualifies
    assert (ballots >= r.min_voters) is qualifies


def test_ballots_needed_for_the_floor():
    assert ev.min_voters(10, 30) == 3 and ev.min_voters(31, 25.8) == 8 and ev.min_voters(7, 0) == 0
    assert ev.min_voters(0, 30) == 0 and ev.meets_floor(0, 0, 30) is True


def test_a_home_without_member_ballots_is_flagged_and_unplaced_unless_configured():
    none = row(0, 12)
    assert none.flags == (ev.NO_MEMBER_BALLOTS,) and none.star_level == 0 and none.member_score is None
    assert none.total == 40.0  # 0 × .5 + 80 × .25 + 80 × .25: shown, flagged, not starred
    # configured "zero" and no floor: the behaviour before the rules (member score counts 0, 1★ here)
    legacy = row(0, 12, ev.CampaignRules(min_participation=0, no_ballots="zero"))
    assert legacy.flags == () and legacy.star_level == 0 and legacy.total == 40.0
    high = row(0, 12, ev.CampaignRules(min_participation=0, no_ballots="zero"), unit=100, superior=100)
    assert (high.flags, high.total, high.star_level) == ((), 50.0, 1)
    # "zero" with a floor: no ballots is below any floor above 0
    assert row(0, 12, ev.CampaignRules(no_ballots="zero")).flags == (ev.LOW_PARTICIPATION,)
    # ranking: flagged homes come after every placed one, without a place
    placed, low = row(5, 10), row(1, 10, marks=5)
    low.union_id, none.union_id = "low", "none"
    ordered = ev.rank([none, low, placed])
    assert [(r.union_id, r.rank) for r in ordered] == [("h", 1), ("low", None), ("none", None)]
    assert ev.star_distribution(ordered) == {"5": 0, "4": 1, "3": 0, "2": 0, "1": 0, "0": 2}


def test_one_rounding_half_up_everywhere():
    assert ev.round2(88.125) == 88.13  # float round(88.125, 2) gives 88.12
    assert round(88.125, 2) == 88.12
    assert ev.round2(Decimal("66.665")) == 66.67 and ev.half_up(Decimal("33.35"), 1) == Decimal("33.4")
    r = row(4, 4, unit=88.125, superior=88.125)
    assert (r.unit_score, r.superior_score) == (88.13, 88.13)


def test_star_level_from_the_published_total_or_the_exact_total():
    # member 100 (all 5★), unit 79.99, superior 79.99: 50 + 19.9975 + 19.9975 = 89.995
    published = row(4, 4, unit=79.99, superior=79.99, marks=5)
    assert published.total == 90.0 and published.star_level == 5  # 89.995 → 90.00 → 5★ (default)
    exact = row(4, 4, ev.CampaignRules(star_basis="exact"), unit=79.99, superior=79.99, marks=5)
    assert exact.total == 90.0 and exact.star_level == 4  # the exact 89.995 is below 90
