"""Worker Home evaluation rules (星级职工之家评选, DESIGN.md §4) as pure functions, with the defaults of a
campaign.

Source: the seed articles of 北京经济技术开发区总工会: the total is member score × w_member + unit score
× w_unit + superior score × w_superior, weights per campaign summing to 100 % (member 40 % in 2017, 50 %
from 2018); members rate 1-5 stars per criterion; member score = mean stars ÷ 5 × 100; the star level
follows configurable thresholds on the total.

The seed is silent on three things the results table must still decide; each is a campaign rule
(:class:`CampaignRules`, stored on the campaign, defaults here, README "Worker Home evaluations"):

- a Worker Home **without member ballots** (``no_ballots``): ``"exclude"`` (default) flags it
  (``no_member_ballots``, 无会员评价) and gives it no star level and no place; ``"zero"`` counts its
  member score as 0 (the behaviour before the rule existed);
- a **minimum participation** (``min_participation``, percent of the home's members who cast a ballot,
  default 30): a home below it is flagged (``low_participation``, 参评率不足) and gets no star level and no
  place. The share is compared exactly on counts (voters × 100 ≥ floor × eligible, like a quorum), and
  the table shows the ballots needed (``min_voters``);
- the **basis of the star level** (``star_basis``): ``"published"`` (default) the total as published,
  rounded to 2 decimals (89.995 → 90.00 → 5 stars), so every star in the table can be checked against
  the printed total; ``"exact"`` the unrounded total (89.995 → 4 stars).

Arithmetic is exact (``Decimal``); every published figure is rounded half-up by :func:`half_up`, once,
at the end (scores and totals to 2 decimals, participation to 1), so the table is reproducible by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from dmlib.contracts.voting import NO_BALLOTS_RULES, STAR_BASES  # noqa: F401 (re-exported)

#: Star level thresholds on the total (0-100): at least [5★, 4★, 3★, 2★, 1★]; below the last, 0 stars.
DEFAULT_THRESHOLDS = (90, 80, 70, 60, 50)
#: Default criteria of a Worker Home evaluation (seed: 北京经开区总工会).
DEFAULT_CRITERIA = ("工会组织健全", "基础设施完善", "工作务实创新", "劳动关系和谐", "财务管理规范")
#: Weight presets in percent: 2018 onwards member 50 %, 2017 member 40 % (seed articles).
WEIGHT_PRESETS = {
    "2018": {"member": 50, "unit": 25, "superior": 25},
    "2017": {"member": 40, "unit": 30, "superior": 30},
}
DEFAULT_PRESET = "2018"
# The choices of the two worded rules are named once, in the contract that validates them:
# NO_BALLOTS_RULES ("exclude" | "zero") and STAR_BASES ("published" | "exact").
#: Row flags (codes; the pages and exports word them).
NO_MEMBER_BALLOTS = "no_member_ballots"
LOW_PARTICIPATION = "low_participation"


def half_up(value: Decimal | float | int, places: int = 2) -> Decimal:
    """The one rounding of the evaluation figures: half-up to ``places`` decimals, on the decimal value
    (a float is read as it prints: 88.125 → 88.13, where float ``round()`` gives 88.12)."""
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def round2(value: Decimal | float | int) -> float:
    """Half-up rounding to 2 decimals (the way scores are written by hand), as a float."""
    return float(half_up(value, 2))


@dataclass(frozen=True)
class CampaignRules:
    """The rules of one campaign the seed leaves open (see the module docstring).

    ``min_participation`` is in percent (0 turns the floor off). The defaults: a home's member score
    should speak for a real share of its members, so homes without ballots or below 30 % get no star
    level. 30 % is a project default, not a figure of the seed: it catches the 25.8 % home of the outside
    check while a normal campaign keeps its star levels (the seed's 2017 run had 3,890 voters in 16
    unions, about a third of the demo's 12,000 members; a 50 % floor would withhold most star levels of
    such a run). A superior union sets its own per campaign."""

    min_participation: float = 30.0
    no_ballots: str = "exclude"
    star_basis: str = "published"

    @classmethod
    def from_doc(cls, stored: Mapping | None) -> CampaignRules:
        """The rules stored on a campaign, defaults for what is missing (campaigns made before a rule
        existed)."""
        return cls(**{k: v for k, v in (stored or {}).items() if k in cls.__dataclass_fields__})

    def to_doc(self) -> dict:
        return {
            "min_participation": self.min_participation,
            "no_ballots": self.no_ballots,
            "star_basis": self.star_basis,
        }


#: The rules a campaign published before the rules existed was computed with (its stored table).
LEGACY_RULES = CampaignRules(min_participation=0.0, no_ballots="zero", star_basis="published")


def defaults() -> dict:
    """What a new campaign gets when its creator leaves a field out (``voting.campaign_defaults``)."""
    return {
        "preset": DEFAULT_PRESET,
        "presets": {k: dict(v) for k, v in WEIGHT_PRESETS.items()},
        "criteria": list(DEFAULT_CRITERIA),
        "thresholds": list(DEFAULT_THRESHOLDS),
        "rules": CampaignRules().to_doc(),
    }


def member_score(star_sum: int, ballots: int, criteria: int) -> Decimal | None:
    """Mean stars ÷ 5 × 100 over every mark of every ballot; None without ballots.

    ``star_sum`` is the sum of all marks, ``ballots`` the number of ballots, ``criteria`` the marks per
    ballot. E.g. 2 ballots × 5 criteria with a sum of 40 → mean 4 → 80.
    """
    if ballots <= 0:
        return None
    if criteria <= 0:
        raise ValueError("criteria must be positive")
    return Decimal(star_sum) * 100 / (Decimal(ballots) * criteria * 5)


def composite(
    member: Decimal | float | None,
    unit: Decimal | float | None,
    superior: Decimal | float | None,
    weights: Mapping[str, int],
) -> Decimal:
    """The total: Σ score × weight ÷ 100 (weights in percent, summing to 100); a missing score counts 0."""
    if sum(weights.values()) != 100:
        raise ValueError(f"weights must sum to 100, got {dict(weights)}")
    parts = {"member": member, "unit": unit, "superior": superior}
    return sum(
        (Decimal(str(parts[k] or 0)) * weights.get(k, 0) for k in parts),
        Decimal(0),
    ) / Decimal(100)


def star_level(total: Decimal | float, thresholds: Sequence[float]) -> int:
    """Stars for a total: ``thresholds`` are the minimum totals of 5, 4, 3, 2 and 1 stars (descending)."""
    value = Decimal(str(total))
    for stars, floor in zip(range(len(thresholds), 0, -1), thresholds, strict=True):
        if value >= Decimal(str(floor)):
            return stars
    return 0


def participation(voters: int, eligible: int) -> float:
    """Voters ÷ eligible in percent, rounded half-up to 1 decimal; 0 when nobody is eligible."""
    if eligible <= 0:
        return 0.0
    return float(half_up(Decimal(voters) * 100 / eligible, 1))


def min_voters(eligible: int, min_participation: float) -> int:
    """The fewest ballots that reach the floor: ⌈floor × eligible ÷ 100⌉ (exact, on counts)."""
    need = Decimal(str(min_participation)) * eligible / 100
    return int(need.to_integral_value(rounding=ROUND_CEILING))


def meets_floor(voters: int, eligible: int, min_participation: float) -> bool:
    """Voters × 100 ≥ floor × eligible: at the floor passes, one ballot fewer does not."""
    return Decimal(voters) * 100 >= Decimal(str(min_participation)) * eligible


def flags(voters: int, eligible: int, rules: CampaignRules) -> tuple[str, ...]:
    """Why a home gets no star level and no place: ``no_member_ballots`` (rule ``no_ballots`` =
    "exclude"), else ``low_participation`` (below ``min_participation``); () when it qualifies."""
    if voters == 0 and rules.no_ballots == "exclude":
        return (NO_MEMBER_BALLOTS,)
    if not meets_floor(voters, eligible, rules.min_participation):
        return (LOW_PARTICIPATION,)
    return ()


@dataclass(frozen=True)
class HomeTally:
    """What the ballots of one Worker Home add up to."""

    ballots: int
    star_sums: tuple[int, ...]  # per criterion
    star_counts: tuple[int, ...] = (0, 0, 0, 0, 0)  # how many 1★ … 5★ marks
    opinions: int = 0


@dataclass(slots=True)
class HomeResult:
    union_id: str
    member_score: float | None
    unit_score: float | None
    superior_score: float | None
    total: float
    star_level: int
    voters: int
    eligible: int
    participation: float
    opinions: int
    criteria_means: tuple[float | None, ...]
    star_counts: tuple[int, ...]
    rank: int | None = 0
    flags: tuple[str, ...] = ()
    min_voters: int = 0


def home_result(
    union_id: str,
    tally: HomeTally,
    eligible: int,
    unit: float | None,
    superior: float | None,
    weights: Mapping[str, int],
    thresholds: Sequence[float],
    rules: CampaignRules = CampaignRules(),  # noqa: B008 (frozen, never changed)
) -> HomeResult:
    """One row of the results table (unranked) under the campaign's ``rules``: a flagged home keeps its
    figures (a missing member score counts 0 in its total) but gets star level 0."""
    criteria = len(tally.star_sums)
    m = member_score(sum(tally.star_sums), tally.ballots, criteria)
    total = composite(m, unit, superior, weights)
    total_r = round2(total)
    why = flags(tally.ballots, eligible, rules)
    basis = total if rules.star_basis == "exact" else total_r
    return HomeResult(
        union_id=union_id,
        member_score=None if m is None else round2(m),
        unit_score=None if unit is None else round2(unit),
        superior_score=None if superior is None else round2(superior),
        total=total_r,
        star_level=0 if why else star_level(basis, thresholds),
        voters=tally.ballots,
        eligible=eligible,
        participation=participation(tally.ballots, eligible),
        opinions=tally.opinions,
        criteria_means=tuple(
            round2(Decimal(s) / tally.ballots) if tally.ballots else None for s in tally.star_sums
        ),
        star_counts=tally.star_counts,
        flags=why,
        min_voters=min_voters(eligible, rules.min_participation),
    )


def rank(results: Sequence[HomeResult]) -> list[HomeResult]:
    """Homes that qualify for a star level, sorted by published total (then member score, then id),
    ranked 1, 2, 2, 4 (equal totals share a place); after them the flagged homes in the same order,
    with ``rank`` None (no place). Sets ``rank`` on the rows (fresh rows are built for every table)."""

    def order(rows):
        return sorted(rows, key=lambda r: (-r.total, -(r.member_score or 0), r.union_id))

    ranked = order([r for r in results if not r.flags])
    for i, r in enumerate(ranked):
        r.rank = ranked[i - 1].rank if i and ranked[i - 1].total == r.total else i + 1
    unplaced = order([r for r in results if r.flags])
    for r in unplaced:
        r.rank = None
    return ranked + unplaced


def star_distribution(results: Sequence[HomeResult], levels: int = 5) -> dict[str, int]:
    """How many homes reached each star level: ``{"5": n, …, "0": n}`` (flagged homes count in "0")."""
    out = {str(s): 0 for s in range(levels, -1, -1)}
    for r in results:
        out[str(r.star_level)] += 1
    return out
