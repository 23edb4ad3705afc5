"""Pure rules of 接诉即办 (no nameko, no pymongo): the Chinese working calendar, time limits, state
transitions, case numbers, indicator formulas and the 未诉先办 cluster rule (docs/cases.md).

Sources: the 12351 hotline practice of the trade unions (Beijing 总工会 "接诉即办", seeds 002/003), the
Beijing 12345 regulation (北京市接诉即办工作条例, 2021: 派单, 签收, 联系, 办理时限, 回访, the response /
resolution / satisfaction rates) and the State Council's yearly holiday notices (国务院办公厅关于…部分
节假日安排的通知) as published in the ``chinese-calendar`` package (statutory holidays and the make-up
working days 调休上班).

Times are UTC ``datetime``s; days and working hours are China Standard Time (UTC+8, no daylight saving).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

import chinese_calendar

CHINA = timezone(timedelta(hours=8), "CST")

#: Default numbers (config overrides them, docs/cases.md "Configuration").
DEFAULT_LIMIT_DAYS = {"general": 5, "difficult": 15, "complex": 30}
DEFAULT_SIGN_FOR_HOURS = 2
DEFAULT_CONTACT_DAYS = 1
DEFAULT_WORKDAY = (9, 17)  # 09:00-17:00 China time: the hours a sign-for limit counts
DEFAULT_REMIND_BEFORE_HOURS = 4
DEFAULT_ALERT_THRESHOLD = 5
DEFAULT_ALERT_WINDOW_DAYS = 30

OPEN_STATES = ("dispatched", "signed", "in_progress")


class RuleError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ----- the working calendar --------------------------------------------------------------------------
def is_workday(day: date) -> bool:
    """A Chinese working day: Monday-Friday except statutory holidays, plus the make-up working days
    (调休上班, e.g. Saturday 2026-10-10). Years the calendar package does not cover yet fall back to
    Monday-Friday (the package is updated each November, when the State Council publishes the next year)."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def china_day(at: datetime) -> date:
    return _aware(at).astimezone(CHINA).date()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _end_of(day: date) -> datetime:
    """24:00 China time of ``day`` (= 00:00 of the next day), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), CHINA).astimezone(UTC)


def add_working_days(start: datetime, days: int) -> datetime:
    """The end (24:00 China time) of the ``days``-th working day after the day of ``start``: a limit of
    5 working days for a case dispatched on Friday 2026-09-25 ends with Friday 2026-10-09 (National Day
    1-7 October is not counted; the make-up Sunday 09-27 is not one in 2026, the make-up Saturday
    10-10 is). ``days`` ≥ 1."""
    day = china_day(start)
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_workday(day):
            left -= 1
    return _end_of(day)


def add_working_hours(start: datetime, hours: float, workday: tuple[int, int] = DEFAULT_WORKDAY) -> datetime:
    """``start`` + ``hours`` counted only within working hours (``workday`` = (from, to) hours, China
    time) of working days: a case dispatched Friday 16:00 with a 2-hour sign-for limit must be signed for
    by the next working day 10:00."""
    at = _aware(start).astimezone(CHINA)
    left = timedelta(hours=hours)
    while True:
        day = at.date()
        opens = datetime.combine(day, time(workday[0]), CHINA)
        closes = datetime.combine(day, time(workday[1]), CHINA)
        if is_workday(day) and at < closes:
            at = max(at, opens)
            if at + left <= closes:
                return (at + left).astimezone(UTC)
            left -= closes - at
        at = datetime.combine(day + timedelta(days=1), time(0), CHINA)


def working_days_between(start: datetime, end: datetime) -> int:
    """Working days from the day after ``start``'s day through ``end``'s day (China time); negative
    (as many working days past) when ``end`` is before ``start``. 0 on the same day."""
    a, b = china_day(start), china_day(end)
    sign = 1 if b >= a else -1
    lo, hi = (a, b) if sign > 0 else (b, a)
    n, day = 0, lo
    while day < hi:
        day += timedelta(days=1)
        if is_workday(day):
            n += 1
    return sign * n


@dataclass(frozen=True)
class Limits:
    sign_for: int = DEFAULT_SIGN_FOR_HOURS  # working hours
    contact: int = DEFAULT_CONTACT_DAYS  # working days
    reply: Mapping[str, int] | None = None  # working days by complexity
    workday: tuple[int, int] = DEFAULT_WORKDAY

    def reply_days(self, complexity: str) -> int:
        return dict(self.reply or DEFAULT_LIMIT_DAYS)[complexity]


def round_limits(at: datetime, complexity: str, limits: Limits, deadline: datetime | None = None) -> dict:
    """The limits of a round dispatched (or transferred) at ``at``: ``{"sign_for", "contact", "reply"}``
    → UTC due times. A transfer keeps the round's reply ``deadline``."""
    return {
        "sign_for": add_working_hours(at, limits.sign_for, limits.workday),
        "contact": add_working_days(at, limits.contact),
        "reply": deadline or add_working_days(at, limits.reply_days(complexity)),
    }


def new_round(number: int, at: datetime, complexity: str, limits: Limits) -> dict:
    """A round of handling dispatched at ``at`` (round 1 at dispatch, round 2 when the complainant
    reopens an unsatisfactory reply): its limits (:func:`round_limits`), nothing met, replied, rated,
    reminded or reported yet."""
    return {
        "round": number,
        "dispatched_at": at,
        "complexity": complexity,
        "limit_days": limits.reply_days(complexity),
        "due": round_limits(at, complexity, limits),
        "met": {"sign_for": None, "contact": None, "reply": None},
        "reply": None,
        "replied_at": None,
        "overdue_at": None,
        "rating": None,
        "reminded": [],
        "interim": [],
    }


def colour(now: datetime, due_at: datetime | None, met: bool) -> str:
    """The queue's time-limit colour: ``grey`` met (or no limit), ``red`` past due, ``amber`` due
    today or the next working day, ``green`` otherwise."""
    if met or due_at is None:
        return "grey"
    if _aware(now) >= _aware(due_at):
        return "red"
    return "amber" if working_days_between(now, due_at - timedelta(seconds=1)) <= 1 else "green"


# ----- states ---------------------------------------------------------------------------------------
#: action → the states it may start from (docs/cases.md "States").
ALLOWED = {
    "dispatch": ("received",),
    "transfer": OPEN_STATES,
    "sign_for": ("dispatched",),
    "contact": ("signed", "in_progress"),
    "note": ("dispatched", "signed", "in_progress", "replied", "closed"),
    "interim_reply": ("in_progress",),
    "reply": ("in_progress",),
    "rate": ("replied",),
    "follow_up": ("replied", "closed"),
    "supervise": OPEN_STATES,
}
STATE_ZH = {
    "received": "已受理",
    "dispatched": "已派单",
    "signed": "已签收",
    "in_progress": "办理中",
    "replied": "已答复",
    "closed": "已办结",
}


def check_state(action: str, state: str) -> None:
    """RuleError unless ``action`` may start from ``state``."""
    if state not in ALLOWED[action]:
        raise RuleError(
            f"not possible while the case is {state} / 诉求件当前状态（{STATE_ZH.get(state, state)}）不能进行此操作"
        )


def after_rating(round_no: int, satisfaction: str) -> str:
    """满意 / 基本满意 close the case; 不满意 reopens it once (round 1 → round 2), then closes it."""
    return "reopen" if satisfaction == "dissatisfied" and round_no == 1 else "close"


# ----- case numbers ---------------------------------------------------------------------------------
def case_number(at: datetime, seq: int) -> str:
    """``YYMMDD`` (China day of receipt) + the 5-digit sequence of that day: ``26120400017``."""
    if not 1 <= seq <= 99999:
        raise RuleError("more than 99,999 cases in a day")
    return f"{china_day(at):%y%m%d}{seq:05d}"


def mask_phone(phone: str | None) -> str | None:
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) == 11 else None


def fold_text(text: str | None) -> str:
    """Text as the queue search compares it: NFKC (full-width → half-width), case-folded, without
    whitespace (``"华冠 食品"`` and ``"华冠食品"`` match)."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).casefold()


def matches_search(case: Mapping, q: str) -> bool:
    """Does ``q`` (folded by :func:`fold_text`) occur in the case's title, employer name or worker name?"""
    needle = fold_text(q)
    hay = (
        case.get("title"),
        (case.get("employer") or {}).get("name"),
        (case.get("worker") or {}).get("name"),
    )
    return any(needle in fold_text(h) for h in hay)


# ----- indicators -----------------------------------------------------------------------------------
def month_of(at: datetime) -> str:
    return f"{china_day(at):%Y-%m}"


def months(from_month: str, to_month: str) -> list[str]:
    """``YYYY-MM`` … ``YYYY-MM`` inclusive."""
    y, m = int(from_month[:4]), int(from_month[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= to_month:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


FORMULAS = {
    "response_rate": "响应率 = 按时签收且按时联系诉求人的件数 ÷ 派单件数",
    "resolution_rate": "解决率 = 评价为已解决的件数 ÷ 已评价件数",
    "satisfaction_rate": "满意率 = (满意 + 基本满意) ÷ 已评价件数",
    "satisfied_rate": "满意率（仅满意） = 满意 ÷ 已评价件数",
    "closure_rate": "办结率 = 已答复办结的件次 ÷ 到期应办结的件次",
    "on_time_rate": "按时办结率 = 时限内答复的件次 ÷ 到期应办结的件次",
}


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def rates(counts: Mapping[str, int]) -> dict:
    """The rates of :data:`FORMULAS` from counter totals (None when the denominator is 0)."""
    g = lambda k: int(counts.get(k, 0))  # noqa: E731
    return {
        "response_rate": _ratio(g("responded"), g("dispatched")),
        "resolution_rate": _ratio(g("resolved"), g("rated")),
        "satisfaction_rate": _ratio(g("satisfied") + g("partly"), g("rated")),
        "satisfied_rate": _ratio(g("satisfied"), g("rated")),
        "closure_rate": _ratio(g("closed"), g("due")),
        "on_time_rate": _ratio(g("closed_on_time"), g("due")),
    }


def add_counts(total: dict, part: Mapping[str, int] | None) -> dict:
    for k, v in (part or {}).items():
        total[k] = total.get(k, 0) + int(v)
    return total


# ----- 未诉先办 ---------------------------------------------------------------------------------------
def cluster(times: Iterable[datetime], now: datetime, window_days: int, threshold: int) -> bool:
    """True when at least ``threshold`` of ``times`` fall within the ``window_days`` up to ``now``."""
    since = _aware(now) - timedelta(days=window_days)
    return sum(1 for t in times if _aware(t) > since) >= threshold


# ----- counters: what a case contributes to the indicators -----------------------------------------
def _met_on_time(rnd: Mapping, limit: str) -> bool:
    met = (rnd.get("met") or {}).get(limit)
    due = (rnd.get("due") or {}).get(limit)
    return met is not None and due is not None and _aware(met) <= _aware(due)


def contributions(case: Mapping) -> list[tuple[str, str, str]]:
    """What ``case`` (as stored) counts for, as ``(side, month, metric)``: ``side`` ``receiving`` (counted
    in the receiving union's tree) or ``handling`` (the handling union's: it moves with a transfer).

    - ``received``: month of receipt (receiving side); every other metric is on the handling side;
    - ``dispatched``: round 1, month of its dispatch; ``responded``: round 1 signed for and the worker
      contacted within their limits (the last transfer restarts those limits), month of the dispatch;
    - per round, in the month of its reply deadline: ``due`` once it is replied or past its deadline
      (flagged overdue by the timer); ``closed`` when replied; ``closed_on_time`` when replied by the
      deadline; ``overdue`` when the deadline passed before the reply;
    - the final rating (the one that closed the case), month of the rating: ``rated``, ``resolved``
      (the worker said solved) and one of ``satisfied`` / ``partly`` / ``dissatisfied``.

    The counters are the sums of these over all cases; a change adds the difference between the case's
    contributions after and before (:func:`contribution_diff`), so they never need a scan."""
    out = [("receiving", month_of(case["received_at"]), "received")]
    rounds = case.get("rounds") or []
    if rounds:
        first = rounds[0]
        dm = month_of(first["dispatched_at"])
        out.append(("handling", dm, "dispatched"))
        if _met_on_time(first, "sign_for") and _met_on_time(first, "contact"):
            out.append(("handling", dm, "responded"))
    for rnd in rounds:
        deadline = (rnd.get("due") or {}).get("reply")
        if deadline is None:
            continue
        mm = month_of(deadline)
        replied = rnd.get("replied_at")
        if replied is not None or rnd.get("overdue_at") is not None:
            out.append(("handling", mm, "due"))
        if replied is not None:
            out.append(("handling", mm, "closed"))
            if _aware(replied) <= _aware(deadline):
                out.append(("handling", mm, "closed_on_time"))
        if rnd.get("overdue_at") is not None:
            out.append(("handling", mm, "overdue"))
    final = next(
        (r["rating"] for r in reversed(rounds) if r.get("rating") and case.get("state") == "closed"), None
    )
    if final:
        rm = month_of(final["at"])
        out += [("handling", rm, "rated"), ("handling", rm, final["satisfaction"])]
        if final.get("resolved"):
            out.append(("handling", rm, "resolved"))
    return out


def counter_increments(case: Mapping | None, sign: int, incs: dict | None = None) -> dict:
    """``{counter id: {field: n}}`` adding (``sign`` 1) or removing (-1) ``case``'s contributions: for
    every union on the side's path (root … the union) ``m.<metric>``, ``c.<category>.<metric>`` and
    ``u.<the next union on the path, or the union itself>.<metric>``; receipts also ``e.<employer key>``
    and ``ec.<employer key>.<category>``."""
    incs = {} if incs is None else incs
    if not case:
        return incs
    cat, ek = case["category"], case["employer"]["key"]
    for side, month, metric in contributions(case):
        path = list(case["receiving_path"] if side == "receiving" else case.get("handling_path") or [])
        for i, u in enumerate(path):
            below = path[i + 1] if i + 1 < len(path) else u
            doc = incs.setdefault(f"{u}:{month}", {})
            for field in (f"m.{metric}", f"c.{cat}.{metric}", f"u.{below}.{metric}"):
                doc[field] = doc.get(field, 0) + sign
            if metric == "received":
                for field in (f"e.{ek}", f"ec.{ek}.{cat}"):
                    doc[field] = doc.get(field, 0) + sign
    return incs


def contribution_diff(before: Mapping | None, after: Mapping | None) -> dict:
    """The counter increments that take the counters from ``before`` to ``after`` (zeros dropped)."""
    incs = counter_increments(after, 1, counter_increments(before, -1))
    return {cid: {f: n for f, n in doc.items() if n} for cid, doc in incs.items() if any(doc.values())}
