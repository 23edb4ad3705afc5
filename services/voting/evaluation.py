"""Worker Home evaluation rules (星级职工之家评选, DESIGN.md §4) as pure functions.

Source: the seed articles of 北京经济技术开发区总工会: the total is member score × w_member + unit score
× w_unit + superior score × w_superior, weights per campaign summing to 100 % (member 40 % in 2017, 50 %
from 2018); members rate 1-5 stars per criterion; member score = mean stars ÷ 5 × 100; the star level
follows configurable thresholds on the total.

Arithmetic is exact (``Decimal``) and scores are rounded half-up to 2 decimals once, at the end, so the
published table is reproducible by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def round2(value: Decimal) -> float:
    """Half-up rounding to 2 decimals (the way scores are written by hand), as a float."""
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


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
    """Voters ÷ eligible in percent, 1 decimal; 0 when nobody is eligible."""
    if eligible <= 0:
        return 0.0
    return float((Decimal(voters) * 100 / eligible).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


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
    rank: int = 0


def home_result(
    union_id: str,
    tally: HomeTally,
    eligible: int,
    unit: float | None,
    superior: float | None,
    weights: Mapping[str, int],
    thresholds: Sequence[float],
) -> HomeResult:
    """One row of the results table (unranked)."""
    criteria = len(tally.star_sums)
    m = member_score(sum(tally.star_sums), tally.ballots, criteria)
    total = composite(m, unit, superior, weights)
    total_r = round2(total)
    return HomeResult(
        union_id=union_id,
        member_score=None if m is None else round2(m),
        unit_score=unit,
        superior_score=superior,
        total=total_r,
        star_level=star_level(total_r, thresholds),
        voters=tally.ballots,
        eligible=eligible,
        participation=participation(tally.ballots, eligible),
        opinions=tally.opinions,
        criteria_means=tuple(
            round2(Decimal(s) / tally.ballots) if tally.ballots else None for s in tally.star_sums
        ),
        star_counts=tally.star_counts,
    )


def rank(results: Sequence[HomeResult]) -> list[HomeResult]:
    """Sorted by total (then member score, then id); equal totals share a rank (1, 2, 2, 4). Sets
    ``rank`` on the rows (fresh rows are built for every table)."""
    ordered = sorted(results, key=lambda r: (-r.total, -(r.member_score or 0), r.union_id))
    for i, r in enumerate(ordered):
        r.rank = ordered[i - 1].rank if i and ordered[i - 1].total == r.total else i + 1
    return ordered


def star_distribution(results: Sequence[HomeResult], levels: int = 5) -> dict[str, int]:
    """How many homes reached each star level: ``{"5": n, …, "0": n}``."""
    out = {str(s): 0 for s in range(levels, -1, -1)}
    for r in results:
        out[str(r.star_level)] += 1
    return out
