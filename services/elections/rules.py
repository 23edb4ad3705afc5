"""Rules of elections (选举), appraisals (述职评议 / 民主评议) and the "two loves" awards (双爱双评) as pure,
typed functions: no nameko, no pymongo.

Every boundary is integer arithmetic ("more than two thirds" is ``3·took_part > 2·due``, never a float
compared with 0.666…).

Sources. The election rules are those of 《工会基层组织选举工作条例》 (ACFTU, 2016; below "条例 2016").
The article NUMBERS could not be checked against the text of the 条例 on this machine (the reference
search found only secondary pages quoting the rules, not the numbered text); where an article is cited
below it is marked "article number not verified" and must be checked before the citation is relied on.
The rules themselves were checked against secondary sources quoting them (docs/elections.md lists them
and the two points where they read differently: "三分之二以上" and a majority of those present; the rules
below follow DESIGN.md and the issue):

- turnout: an election is valid only if MORE than two thirds of the electors due take part
  (条例 2016, in substance: 参加选举的人数超过应到会有选举权人数的三分之二，选举有效; article number
  not verified; a paraphrase, not the text) → :func:`turnout_valid`;
- majority: a candidate is elected only with approvals from MORE than half of the electors due, not of
  those voting (条例 2016, "被选举人获得赞成票超过应到会有选举权人数的半数始得当选"; article number not
  verified) → :func:`has_majority`;
- more passing than seats: the most approvals win; a tie at the last seat: the tied are voted on again
  (条例 2016, same article; article number not verified) → :func:`decide` (``runoff``);
- fewer passing than seats: a further round (另行选举) among the candidates not elected, or the seats stay
  vacant: practice varies (the 条例 allows 另行选举 for the seats still open; some unions' 选举办法 leave
  them vacant when the committee keeps its minimum size), so it is :attr:`ElectionRules.shortfall`;
- ballots: a ballot approving more people than there are seats is invalid (多选无效; 条例 2016, article
  number not verified) → :func:`ballot_valid`; write-ins (另选他人) of eligible people count as approvals
  of the person written in;
- contested elections (差额选举): committee candidates exceed the seats by a margin; the 条例 sets it for
  committees and lets the chair and vice-chairs be elected uncontested (等额) or contested (article number
  not verified); the margin used here is configurable, default 5 % (at least one more candidate than
  seats) → :func:`min_candidates`.

Appraisals: 满意 / 基本满意 / 不满意; satisfaction rate = (满意 + 基本满意) ÷ valid (DESIGN.md §4); the
threshold that flags a subject is configurable (practice: a delegate rated 不满意 by more than half of the
raters may be recalled, see :func:`appraisal_results`). 双爱双评: the categories are those of the seed
reports (爱企业的好职工 / 爱职工的好经理); a ballot chooses at most ``k`` nominees per category.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

# ===== elections ===================================================================================
APPROVE, DISAPPROVE, ABSTAIN = "approve", "disapprove", "abstain"
MARKS = (APPROVE, DISAPPROVE, ABSTAIN)
#: What happens to seats still open when fewer candidates pass than there are seats.
SHORTFALL = ("further_round", "vacant")
#: Kinds of election: a committee (差额 by default), its chair (may be 等额), the delegates of a congress.
ELECTION_KINDS = ("committee", "chair", "delegates")
DEFAULT_MARGIN_PCT = Decimal(5)


class RuleError(ValueError):
    """A rule is broken: ``field`` names the input, ``message`` is bilingual for the user."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


def _counts(*values: int) -> None:
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"counts are non-negative integers, got {v!r}")


@dataclass(frozen=True)
class ElectionRules:
    """The configurable part of an election.

    ``contested``: 差额 (more candidates than seats by at least ``margin_pct`` percent of the seats,
    rounded up, and at least one more); ``False`` is 等额 (exactly as many candidates as seats: allowed
    for a chair). ``shortfall``: ``further_round`` (另行选举 among the candidates not elected) or
    ``vacant``. ``write_ins``: may a ballot write in another eligible person (另选他人)."""

    contested: bool = True
    margin_pct: Decimal = DEFAULT_MARGIN_PCT
    shortfall: str = "further_round"
    write_ins: bool = True

    def __post_init__(self):
        if self.shortfall not in SHORTFALL:
            raise ValueError(f"shortfall is one of {SHORTFALL}")
        if Decimal(self.margin_pct) < 0:
            raise ValueError("margin_pct ≥ 0")


def min_candidates(seats: int, rules: ElectionRules) -> int:
    """Fewest candidates for ``seats``: 等额 → ``seats``; 差额 → ``seats + max(1, ⌈seats·margin/100⌉)``
    (9 seats at 5 % → 10; 30 seats at 5 % → 32)."""
    _counts(seats)
    if not rules.contested:
        return seats
    margin = Decimal(rules.margin_pct) * seats / 100
    extra = int(margin.to_integral_value(rounding="ROUND_CEILING"))
    return seats + max(1, extra)


def check_slate(seats: int, candidates: int, rules: ElectionRules) -> None:
    """RuleError unless the list of candidates fits the seats: at least one seat; 等额 exactly as many
    candidates as seats; 差额 at least :func:`min_candidates`."""
    _counts(seats, candidates)
    if seats < 1:
        raise RuleError("seats", "at least one seat / 应选名额至少为1")
    if not rules.contested and candidates != seats:
        raise RuleError(
            "candidates",
            f"an uncontested election has exactly {seats} candidates / 等额选举候选人数应等于应选名额",
        )
    need = min_candidates(seats, rules)
    if rules.contested and candidates < need:
        raise RuleError(
            "candidates",
            f"a contested election of {seats} needs at least {need} candidates "
            f"(margin {rules.margin_pct} %) / 差额选举候选人数不足（至少{need}人）",
        )


def turnout_required(due: int) -> int:
    """Fewest electors taking part that make the election valid: the least n with 3n > 2·due
    (842 → 562; 120 → 81; 3 → 3)."""
    _counts(due)
    return (2 * due) // 3 + 1


def turnout_valid(took_part: int, due: int) -> bool:
    """MORE than two thirds of the electors due took part: ``3·took_part > 2·due`` (条例 2016; article
    number not verified). No electors due: not valid."""
    _counts(took_part, due)
    return due > 0 and 3 * took_part > 2 * due


def majority_required(due: int) -> int:
    """Fewest approvals that elect: more than half of the electors DUE, ``due // 2 + 1`` (842 → 422)."""
    _counts(due)
    return due // 2 + 1


def has_majority(approvals: int, due: int) -> bool:
    """Approvals from MORE than half of the electors due, not of those voting: ``2·approvals > due``
    (条例 2016; article number not verified)."""
    _counts(approvals, due)
    return 2 * approvals > due


def approved(ballot: Mapping) -> list[str]:
    """The people a ballot approves: candidates marked 赞成 and the people written in (另选他人)."""
    marks = ballot.get("marks") or {}
    people = [pid for pid, mark in marks.items() if mark == APPROVE]
    people += [pid for pid in ballot.get("write_ins") or [] if pid not in people]
    return people


def ballot_valid(ballot: Mapping, seats: int) -> bool:
    """A ballot approving MORE people than there are seats is invalid (多选无效; 条例 2016, article number
    not verified); fewer or as many is valid (an all-abstain ballot is valid)."""
    return len(approved(ballot)) <= seats


def check_ballot(ballot: Mapping, candidates: Sequence[str], rules: ElectionRules) -> None:
    """RuleError for a ballot that is not a ballot of this round at all (an unknown candidate, an
    unknown mark, a write-in when the round takes none, or of someone already on the list): refused,
    never counted. Over-marking is NOT an error here: such a ballot is cast and counted invalid."""
    marks = ballot.get("marks") or {}
    unknown = sorted(set(marks) - set(candidates))
    if unknown:
        raise RuleError("marks", f"not candidates of this round: {', '.join(unknown)} / 非本轮候选人")
    bad = sorted({str(m) for m in marks.values() if m not in MARKS})
    if bad:
        raise RuleError("marks", f"marks are approve, disapprove, abstain / 请选择赞成、不赞成或弃权: {bad}")
    write_ins = list(ballot.get("write_ins") or [])
    if write_ins and not rules.write_ins:
        raise RuleError("write_ins", "this round takes no write-ins / 本轮不设另选他人")
    if len(set(write_ins)) != len(write_ins):
        raise RuleError("write_ins", "the same person written in twice / 另选他人重复")
    listed = sorted(set(write_ins) & set(candidates))
    if listed:
        raise RuleError("write_ins", f"already candidates: {', '.join(listed)} / 另选他人不能是候选人")


@dataclass
class RoundTally:
    """Counts of one round: ``ballots`` cast, ``valid``, ``invalid``, and per person ``approve`` /
    ``disapprove`` / ``abstain`` (candidates; written-in people appear in ``approve`` only)."""

    ballots: int = 0
    valid: int = 0
    invalid: int = 0
    approve: dict[str, int] = field(default_factory=dict)
    disapprove: dict[str, int] = field(default_factory=dict)
    abstain: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "ballots": self.ballots,
            "valid": self.valid,
            "invalid": self.invalid,
            "approve": dict(sorted(self.approve.items())),
            "disapprove": dict(sorted(self.disapprove.items())),
            "abstain": dict(sorted(self.abstain.items())),
        }


def tally(ballots: Iterable[Mapping], candidates: Sequence[str], seats: int) -> RoundTally:
    """Count a round's ballots: an over-marked ballot counts as cast and invalid and adds nothing to
    anyone; on a valid ballot an unmarked candidate counts as 弃权."""
    out = RoundTally(
        approve={c: 0 for c in candidates},
        disapprove={c: 0 for c in candidates},
        abstain={c: 0 for c in candidates},
    )
    for b in ballots:
        out.ballots += 1
        if not ballot_valid(b, seats):
            out.invalid += 1
            continue
        out.valid += 1
        marks = b.get("marks") or {}
        for c in candidates:
            mark = marks.get(c, ABSTAIN)
            getattr(out, mark)[c] += 1
        for person in b.get("write_ins") or []:
            out.approve[person] = out.approve.get(person, 0) + 1
    return out


@dataclass
class RoundDecision:
    """What a round decided.

    ``valid``: turnout was more than two thirds (else nothing else counts: ``elected`` empty and
    ``next`` = ``repeat``). ``passing``: people over the majority, most approvals first. ``elected``: who
    takes a seat now. ``runoff``: the people tied at the last seat, to be voted on again for
    ``open_seats`` seats. ``below_majority``: candidates (and written-in people) not over the majority.
    ``next``: ``done`` | ``runoff`` | ``further_round`` (另行选举 for ``open_seats`` among
    ``further_candidates``) | ``vacant`` (``open_seats`` stay empty) | ``repeat`` (invalid: vote again)."""

    valid: bool
    took_part: int
    due: int
    turnout_required: int
    majority_required: int
    passing: list[str]
    elected: list[str]
    runoff: list[str]
    below_majority: list[str]
    open_seats: int
    next: str
    further_candidates: list[str]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def decide(
    t: RoundTally, candidates: Sequence[str], seats: int, due: int, rules: ElectionRules
) -> RoundDecision:
    """Decide a round from its tally (:func:`tally`), ``seats`` open in it and the electors ``due``.

    Turnout counts every ballot cast, valid or not (those who took part). Passing = approvals from more
    than half of ``due``; more passing than seats → the most approvals win; a tie across the last seat →
    those above the tie are elected and the tied go to a runoff for the seats left; fewer passing →
    :attr:`ElectionRules.shortfall`. Ties are broken by nothing else (never by id or list order)."""
    _counts(seats, due)
    need_turnout, need_majority = turnout_required(due), majority_required(due)
    if not turnout_valid(t.ballots, due):
        return RoundDecision(
            False,
            t.ballots,
            due,
            need_turnout,
            need_majority,
            [],
            [],
            [],
            [],
            seats,
            "repeat",
            list(candidates),
        )
    people = sorted(t.approve, key=lambda p: (-t.approve[p], p))
    passing = [p for p in people if has_majority(t.approve[p], due)]
    below = [p for p in people if p not in passing and (p in candidates or t.approve[p] > 0)]
    runoff: list[str] = []
    if len(passing) <= seats:
        elected = passing
    else:
        cut = t.approve[passing[seats - 1]]
        above = [p for p in passing if t.approve[p] > cut]
        tied = [p for p in passing if t.approve[p] == cut]
        if len(above) + len(tied) == seats:
            elected = above + tied
        else:
            elected, runoff = above, tied
    open_seats = seats - len(elected)
    further = [c for c in candidates if c not in elected and c not in runoff]
    if runoff:
        nxt = "runoff"
    elif open_seats == 0:
        nxt = "done"
    elif rules.shortfall == "further_round" and further:
        nxt = "further_round"
    else:
        nxt = "vacant"
    return RoundDecision(
        True,
        t.ballots,
        due,
        need_turnout,
        need_majority,
        passing,
        elected,
        runoff,
        below,
        open_seats,
        nxt,
        further if nxt == "further_round" else [],
    )


# ===== appraisals (述职评议 / 民主评议) ===============================================================
SATISFACTION = ("satisfied", "partly", "dissatisfied")
DEFAULT_APPRAISAL_THRESHOLD_PCT = Decimal(60)


def percent(part: int, whole: int) -> Decimal | None:
    """``part ÷ whole`` in percent, 2 places, half up; None when ``whole`` is 0."""
    _counts(part, whole)
    if whole == 0:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def satisfaction_rate(satisfied: int, partly: int, dissatisfied: int) -> Decimal | None:
    """(满意 + 基本满意) ÷ valid marks, in percent (DESIGN.md §4); None without any mark."""
    _counts(satisfied, partly, dissatisfied)
    return percent(satisfied + partly, satisfied + partly + dissatisfied)


def appraisal_results(
    counts: Mapping[str, Mapping[str, int]], threshold_pct: Decimal | float | int
) -> list[dict]:
    """Per subject ``{subject, satisfied, partly, dissatisfied, valid, rate, below_threshold,
    dissatisfied_majority, rank}``, ranked by rate (highest first; equal rates share a rank, the next
    rank skips: 1, 1, 3). ``below_threshold``: rate < ``threshold_pct`` (configurable; default 60 %).
    ``dissatisfied_majority``: 不满意 from more than half of the valid marks (the practice of recalling a
    delegate so rated; shown, not acted on). Subjects without marks have rate None, no rank, last."""
    threshold = Decimal(str(threshold_pct))
    rows = []
    for subject, c in counts.items():
        s, p, d = int(c.get("satisfied", 0)), int(c.get("partly", 0)), int(c.get("dissatisfied", 0))
        rate = satisfaction_rate(s, p, d)
        rows.append(
            {
                "subject": subject,
                "satisfied": s,
                "partly": p,
                "dissatisfied": d,
                "valid": s + p + d,
                "rate": rate,
                "below_threshold": rate is not None and rate < threshold,
                "dissatisfied_majority": 2 * d > s + p + d,
                "rank": None,
            }
        )
    rated = sorted((r for r in rows if r["rate"] is not None), key=lambda r: (-r["rate"], r["subject"]))
    for i, row in enumerate(rated):
        row["rank"] = rated[i - 1]["rank"] if i and rated[i - 1]["rate"] == row["rate"] else i + 1
    unrated = sorted((r for r in rows if r["rate"] is None), key=lambda r: r["subject"])
    return rated + unrated


# ===== 双爱双评 ======================================================================================
AWARD_CATEGORIES = ("good_worker", "good_manager")  # 爱企业的好职工 / 爱职工的好经理
#: the title each category awards, as recorded on the member record
AWARD_TITLES = {"good_worker": "爱企业的好职工", "good_manager": "爱职工的好经理"}
CITATION_MAX = 300


def check_award_ballot(
    choices: Mapping[str, Sequence[str]], nominees: Mapping[str, Sequence[str]], k: int
) -> None:
    """RuleError unless every category is known, every choice is a nominee of that category, nobody is
    chosen twice and at most ``k`` are chosen per category (an award ballot over the limit is refused:
    online the limit is enforced when the ballot is marked, unlike a paper election ballot)."""
    for cat, chosen in choices.items():
        if cat not in nominees:
            raise RuleError("choices", f"unknown category {cat} / 无此评选类别")
        if len(set(chosen)) != len(chosen):
            raise RuleError("choices", "the same nominee chosen twice / 重复选择")
        if len(chosen) > k:
            raise RuleError("choices", f"at most {k} per category / 每类最多选{k}人")
        unknown = sorted(set(chosen) - set(nominees[cat]))
        if unknown:
            raise RuleError("choices", f"not nominated: {', '.join(unknown)} / 非被提名人")


def award_results(votes: Mapping[str, Mapping[str, int]], places: Mapping[str, int]) -> dict[str, dict]:
    """Per category ``{"ranking": [{nominee, votes}], "awarded": [...], "tied": [...]}``: the ``places``
    nominees with most votes (at least one vote) are awarded; when a tie straddles the last place the
    tied are listed in ``tied`` and not awarded (the round's admins decide: a runoff or more places)."""
    out = {}
    for cat, per in votes.items():
        ranking = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))
        n = places.get(cat, 0)
        with_votes = [(p, v) for p, v in ranking if v > 0]
        awarded, tied = [p for p, _ in with_votes[:n]], []
        if len(with_votes) > n > 0 and with_votes[n - 1][1] == with_votes[n][1]:
            cut = with_votes[n - 1][1]
            awarded = [p for p, v in with_votes if v > cut]
            tied = [p for p, v in with_votes if v == cut]
        out[cat] = {
            "ranking": [{"nominee": p, "votes": v} for p, v in ranking],
            "awarded": awarded,
            "tied": tied,
        }
    return out
