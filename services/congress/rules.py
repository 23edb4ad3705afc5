"""Domain rules of the workers' congress as pure, typed functions (no nameko, no pymongo).

Every boundary is computed in integer arithmetic: a float such as ``present / total >= 2 / 3`` is off by
one ulp at exactly two thirds, and a law that says "two thirds" means the exact fraction.

Sources:

- quorum: a session may convene only with at least two thirds of ALL delegates present
  (全民所有制工业企业职工代表大会条例 1986, art. 18);
- adoption: a resolution passes only with more than half of ALL delegates voting yes, not of those present
  or of those voting, whatever the abstentions (ibid. art. 18; 企业民主管理规定 2012, art. 20);
- elections (agenda kind ``election``): run by the elections service among the delegates present when
  voting opens, opened like any vote only in a convened session, i.e. one that had two thirds of ALL
  delegates present (1986 条例 art. 18); validity and election are the elections rules, counted against
  the electors due = the delegates present when voting opened: valid only if MORE than two thirds of
  them take part, elected only with approvals from MORE than half of them (《工会基层组织选举工作条例》
  2016, :mod:`services.elections.rules`, :func:`~services.elections.rules.turnout_valid` and
  :func:`~services.elections.rules.has_majority`; article numbers not verified there);
- composition: middle managers and enterprise leaders should not exceed 20 % of the delegates
  (企业民主管理规定 2012, art. 14: 中层以上管理人员和领导人员一般不得超过职工代表总人数的20%).
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION_STATES = ("planned", "convened", "closed")
SESSION_KINDS = ("ordinary", "extraordinary")
ITEM_KINDS = ("report", "resolution", "election")
#: States of an agenda item put to the vote: pending → voting → adopted | failed; an election item:
#: pending → voting (its election's rounds) → decided (its election published).
ITEM_STATES = ("pending", "voting", "adopted", "failed", "decided")
#: Item states after which nothing more is voted on.
DECIDED_STATES = ("adopted", "failed", "decided")
CHOICES = ("yes", "no", "abstain")
#: Delegate categories (企业民主管理规定 art. 14); ``manager`` covers middle managers and leaders.
CATEGORIES = ("worker", "technician", "manager", "other")
MANAGER_CATEGORIES = frozenset({"manager"})

#: Allowed session transitions: planned → convened → closed (a planned session may also be closed,
#: i.e. called off, without ever convening).
SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    "planned": frozenset({"convened", "closed"}),
    "convened": frozenset({"closed"}),
    "closed": frozenset(),
}
ITEM_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"voting"}),
    "voting": frozenset({"adopted", "failed", "decided", "pending"}),  # pending: the poll never opened
    "adopted": frozenset(),
    "failed": frozenset(),
    "decided": frozenset(),
}


def _check_counts(*values: int) -> None:
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"counts are non-negative integers, got {v!r}")


def quorum_required(total: int) -> int:
    """Smallest number present that makes a quorum of ``total`` delegates: ⌈2·total/3⌉ (120 → 80)."""
    _check_counts(total)
    return (2 * total + 2) // 3


def quorum(present: int, total: int) -> bool:
    """True if ``present`` of ``total`` delegates is at least two thirds: ``3·present ≥ 2·total``.

    1986 条例 art. 18. A term without delegates has no quorum (nothing to convene).
    """
    _check_counts(present, total)
    return total > 0 and 3 * present >= 2 * total


def adoption_required(total: int) -> int:
    """Smallest number of yes votes that adopts with ``total`` delegates: ⌊total/2⌋ + 1 (120 → 61)."""
    _check_counts(total)
    return total // 2 + 1


def adopted(yes: int, total: int) -> bool:
    """True if ``yes`` is more than half of ALL ``total`` delegates of the term: ``2·yes > total``.

    Abstentions, no votes and absent delegates play no part: only yes against the whole body counts
    (1986 条例 art. 18; 企业民主管理规定 2012 art. 20).
    """
    _check_counts(yes, total)
    return 2 * yes > total


def managers_over_limit(managers: int, total: int) -> bool:
    """True if managers (middle managers and leaders) exceed 20 % of the delegates: ``5·managers > total``.

    Exactly 20 % is within the limit (企业民主管理规定 2012 art. 14: 一般不得超过 20%).
    """
    _check_counts(managers, total)
    return 5 * managers > total


def election_outcome(election: dict) -> dict | None:
    """What an election item records of its published election (the elections service's ``get_election``
    answer): ``{election_id, due, elected [{member_id, name, approvals}], vacant, rounds, published_at}``;
    None unless the election is ``published`` (the results are public only then). ``due`` is the electors
    due: for a session election, the delegates present when its voting opened."""
    if election.get("status") != "published":
        return None
    return {
        "election_id": election["election_id"],
        "due": int(election.get("due") or 0),
        "elected": [
            {"member_id": e["member_id"], "name": e.get("name", ""), "approvals": int(e.get("approvals", 0))}
            for e in election.get("elected", [])
        ],
        "vacant": election.get("vacant"),
        "rounds": len(election.get("rounds", [])),
        "published_at": election.get("published_at"),
    }


def can_transition(states: dict[str, frozenset[str]], current: str, target: str) -> bool:
    """True if ``current`` → ``target`` is an allowed transition in ``states``."""
    return target in states.get(current, frozenset())


@dataclass(frozen=True)
class Outcome:
    """The recorded outcome of a resolution vote."""

    yes: int
    no: int
    abstain: int
    ballots: int
    eligible: int
    due: int
    adopted: bool
    required: int

    @property
    def state(self) -> str:
        return "adopted" if self.adopted else "failed"


def outcome(counts: dict[str, int], ballots: int, eligible: int, due: int) -> Outcome:
    """The outcome of a closed poll: adopted iff ``2·yes > due`` where ``due`` is ALL delegates of the term."""
    yes, no, abstain = (int(counts.get(k, 0)) for k in CHOICES)
    _check_counts(yes, no, abstain, ballots, eligible, due)
    return Outcome(
        yes=yes,
        no=no,
        abstain=abstain,
        ballots=ballots,
        eligible=eligible,
        due=due,
        adopted=adopted(yes, due),
        required=adoption_required(due),
    )
