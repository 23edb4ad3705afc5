"""Rules of delegate proposals (提案) as pure, typed functions: no nameko, no pymongo (STYLE.md rule 7).

Sources: DESIGN.md §4 (collection window, minimum co-signers, review into accepted / converted to a
suggestion / rejected with a reason, assignment to one or more departments with a deadline of 20 days by
default, reminders, a written reply, satisfaction of the proposer and co-signers, one more round after a
dissatisfied rating, excellent proposals after closure; statistics: acceptance, on-time, closure and
satisfaction rates).

The state machine::

    draft ──submit (proposer, window open, ≥ min co-signers)──▶ submitted
    submitted ──accept / convert / reject (union admin)──▶ accepted / converted / rejected
    accepted ──assign (union admin: departments, deadline)──▶ assigned
    assigned ──reply (handler of an assigned department; the last one moves it)──▶ replied
    replied ──rate satisfied | partly (proposer)──▶ closed
    replied ──rate dissatisfied (proposer), round 1──▶ assigned (round 2, new deadline)
    replied ──rate dissatisfied (proposer), round 2──▶ closed (the dissatisfaction is recorded)

``converted`` and ``rejected`` are final; ``closed`` only takes the excellent mark (union admin).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

STATES = ("draft", "submitted", "accepted", "converted", "rejected", "assigned", "replied", "closed")
#: States in which a proposal has been accepted (立案) and so appears on the public list.
ACCEPTED_STATES = ("accepted", "assigned", "replied", "closed")
SATISFACTION = ("satisfied", "partly", "dissatisfied")
DEFAULT_MIN_COSIGNERS = 2
DEFAULT_DEADLINE_DAYS = 20
#: Rounds of handling: the first and ONE more after a dissatisfied rating (DESIGN.md §4).
MAX_ROUNDS = 2
#: A reminder goes out from this many days before the deadline on.
NEAR_DAYS = 3
#: Reminders are counted per calendar day in China (UTC+8).
CHINA = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Move:
    """One allowed transition: the action, the states it starts from, where it leads, who may do it."""

    action: str
    sources: tuple[str, ...]
    target: str
    role: str  # proposer | cosigner | delegate | admin | handler


MOVES: dict[str, Move] = {
    m.action: m
    for m in (
        Move("cosign", ("draft",), "draft", "delegate"),
        Move("submit", ("draft",), "submitted", "proposer"),
        Move("accept", ("submitted",), "accepted", "admin"),
        Move("convert", ("submitted",), "converted", "admin"),
        Move("reject", ("submitted",), "rejected", "admin"),
        Move("assign", ("accepted",), "assigned", "admin"),
        Move("reply", ("assigned",), "replied", "handler"),
        Move("rate", ("replied",), "closed", "proposer"),
        Move("return", ("replied",), "assigned", "proposer"),
        Move("mark_excellent", ("closed",), "closed", "admin"),
    )
}

ROLE_WORDS = {
    "proposer": ("the proposer", "提案人"),
    "cosigner": ("the proposer or a co-signer", "提案人或附议人"),
    "delegate": ("a delegate of this congress", "本届职代会代表"),
    "admin": ("an admin of this union", "本单位工会管理员"),
    "handler": ("a handling department of this proposal", "本提案的承办部门"),
}
STATE_ZH = {
    "draft": "草稿",
    "submitted": "已提交",
    "accepted": "已立案",
    "converted": "转为意见建议",
    "rejected": "不予立案",
    "assigned": "办理中",
    "replied": "已答复",
    "closed": "已办结",
}


class RuleError(Exception):
    """A refused move: ``kind`` is ``actor`` (wrong person: 403) or ``state`` (wrong state: 409)."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        self.message = message
        super().__init__(message)


def check_move(action: str, state: str, roles: Iterable[str]) -> str:
    """The target state of ``action`` from ``state`` for an actor holding ``roles`` (the proposal-relative
    roles: proposer, cosigner, delegate, admin, handler). Raises :class:`RuleError` ``actor`` when the
    actor may not do it at all, ``state`` when the proposal is not in a state that allows it. The actor is
    checked first, so a wrong person learns nothing about the state."""
    move = MOVES[action]
    if move.role not in set(roles):
        en, zh = ROLE_WORDS[move.role]
        raise RuleError(
            "actor", f"only {en} may {action.replace('_', ' ')} this proposal / 仅{zh}可进行此操作"
        )
    return check_state(action, state)


def check_state(action: str, state: str) -> str:
    """The target state of ``action`` from ``state``; :class:`RuleError` ``state`` when the proposal is
    not in a state that allows it (who may do it is the policy's question: ``policy.require_move``)."""
    move = MOVES[action]
    if state not in move.sources:
        raise RuleError(
            "state",
            f"cannot {action.replace('_', ' ')} a proposal that is {state} / "
            f"提案当前为“{STATE_ZH.get(state, state)}”，不能进行此操作",
        )
    return move.target


def rating_move(satisfaction: str, round_no: int) -> str:
    """What the proposer's rating does: ``return`` (dissatisfied in a round before the last: back to the
    departments) or ``rate`` (anything else: closed)."""
    if satisfaction not in SATISFACTION:
        raise ValueError(satisfaction)
    return "return" if satisfaction == "dissatisfied" and round_no < MAX_ROUNDS else "rate"


def cosigners_missing(cosigner_count: int, minimum: int) -> int:
    """How many more co-signers a draft needs before it can be submitted (0 when enough)."""
    return max(0, minimum - cosigner_count)


def deadline_of(start: datetime, days: int) -> datetime:
    """The reply deadline: ``days`` calendar days after assignment, at the end of that day in China."""
    end_day = (start.astimezone(CHINA) + timedelta(days=days)).date()
    return datetime(end_day.year, end_day.month, end_day.day, 23, 59, 59, tzinfo=CHINA).astimezone(UTC)


def days_left(deadline: datetime, now: datetime) -> int:
    """Whole China-calendar days from ``now`` to the deadline's day (0 on the day, negative when overdue)."""
    return (deadline.astimezone(CHINA).date() - now.astimezone(CHINA).date()).days


def reminder_kind(deadline: datetime, now: datetime, near_days: int = NEAR_DAYS) -> str | None:
    """``overdue`` past the deadline, ``due_soon`` within ``near_days`` of it, else None."""
    if now > deadline:
        return "overdue"
    if days_left(deadline, now) <= near_days:
        return "due_soon"
    return None


def reminder_day(now: datetime) -> date:
    """The calendar day (China) a reminder counts for: one reminder per proposal per such day."""
    return now.astimezone(CHINA).date()


def is_on_time(replied_at: datetime | None, deadline: datetime | None) -> bool:
    return replied_at is not None and deadline is not None and replied_at <= deadline


def share(part: int, whole: int) -> float:
    """``part / whole`` as a fraction (0.0 when ``whole`` is 0)."""
    return part / whole if whole else 0.0


def session_stats(proposals: Iterable[dict], now: datetime) -> dict:
    """Statistics of one session's proposals (drafts are not counted: they were never submitted).

    Each proposal needs ``state``, ``category``, ``excellent``, ``rounds`` ([{deadline, replied_at}]) and
    ``ratings`` ([{member_id, round, satisfaction}]). Out: counts ``submitted`` (everything past draft),
    ``accepted`` (立案, incl. those assigned/replied/closed), ``converted``, ``rejected``, ``pending``
    (not yet reviewed), ``assigned_open`` (with the departments now), ``overdue`` (of those, past the
    deadline), ``replies`` (handling rounds replied), ``on_time`` (of those, by the deadline), ``closed``,
    ``excellent``; ``satisfaction`` {satisfied, partly, dissatisfied}: the latest rating of each rater
    per proposal; ``by_category``; and rates: ``acceptance_rate`` = accepted / submitted,
    ``on_time_rate`` = on_time / replies, ``closure_rate`` = closed / accepted, ``satisfaction_shares``.
    """
    s = dict.fromkeys(
        (
            "submitted",
            "accepted",
            "converted",
            "rejected",
            "pending",
            "assigned_open",
            "overdue",
            "replies",
            "on_time",
            "closed",
            "excellent",
        ),
        0,
    )
    satisfaction = dict.fromkeys(SATISFACTION, 0)
    by_category: dict[str, int] = {}
    for p in proposals:
        state = p["state"]
        if state == "draft":
            continue
        s["submitted"] += 1
        by_category[p["category"]] = by_category.get(p["category"], 0) + 1
        if state in ACCEPTED_STATES:
            s["accepted"] += 1
        elif state in ("converted", "rejected"):
            s[state] += 1
        else:
            s["pending"] += 1
        if state == "closed":
            s["closed"] += 1
            s["excellent"] += 1 if p.get("excellent") else 0
        for r in p.get("rounds", []):
            if r.get("replied_at") is not None:
                s["replies"] += 1
                s["on_time"] += 1 if is_on_time(r["replied_at"], r["deadline"]) else 0
        if state == "assigned":
            s["assigned_open"] += 1
            current = p["rounds"][-1] if p.get("rounds") else None
            if current and now > current["deadline"]:
                s["overdue"] += 1
        latest: dict[str, str] = {}
        for r in sorted(p.get("ratings", []), key=lambda r: r["round"]):
            latest[r["member_id"]] = r["satisfaction"]
        for value in latest.values():
            satisfaction[value] += 1
    rated = sum(satisfaction.values())
    return {
        **s,
        "satisfaction": satisfaction,
        "ratings": rated,
        "by_category": by_category,
        "acceptance_rate": share(s["accepted"], s["submitted"]),
        "on_time_rate": share(s["on_time"], s["replies"]),
        "closure_rate": share(s["closed"], s["accepted"]),
        "satisfaction_shares": {k: share(v, rated) for k, v in satisfaction.items()},
    }


# ----- queues (issue 16: the review desk and the department inbox page, filter, search and sort) ------
def queue_filter(docs: Iterable[dict], state: str | None = None, q: str | None = None) -> list[dict]:
    """The proposals of a queue in ``state`` (any when None) matching ``q``: its number (``12`` or the
    proposal id) or text in the subject or the proposer's name, case-folded."""
    needle = (q or "").strip().casefold()
    out = []
    for p in docs:
        if state and p["state"] != state:
            continue
        if needle and not (
            needle == str(p["number"])
            or needle == p["_id"].casefold()
            or needle in p["subject"].casefold()
            or needle in p["proposer"].get("name", "").casefold()
        ):
            continue
        out.append(p)
    return out


def queue_sorted(docs: Iterable[dict], sort: str, department_id: str | None = None) -> list[dict]:
    """``docs`` in the order ``sort`` names (``dmlib.contracts.proposals.QUEUE_SORTS``), every order ending
    with the proposal's session and number so that equal keys never swap between two reads."""
    far = datetime.max.replace(tzinfo=UTC)

    def deadline(p: dict) -> datetime:
        d = p["rounds"][-1]["deadline"] if p.get("rounds") else None
        if d is None:
            return far
        return d if d.tzinfo else d.replace(tzinfo=UTC)

    def ident(p: dict) -> tuple[str, int]:
        return (p["session_id"], p["number"])

    docs = list(docs)
    if sort == "-number":
        return sorted(docs, key=ident, reverse=True)
    if sort == "deadline":
        return sorted(docs, key=lambda p: (deadline(p), ident(p)))
    if sort == "state":
        return sorted(docs, key=lambda p: (STATES.index(p["state"]), ident(p)))
    if sort == "awaiting":
        return sorted(
            docs, key=lambda p: (department_id not in p.get("pending_departments", []), deadline(p), ident(p))
        )
    return sorted(docs, key=ident)
