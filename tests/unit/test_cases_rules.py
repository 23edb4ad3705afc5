"""Pure rules of 接诉即办 against the real Chinese calendar (chinese-calendar, State Council notices):
National Day 2026 (1-7 October off, Sunday 20 September and Saturday 10 October worked)."""

from datetime import UTC, date, datetime

import pytest

from services.cases import rules

CST = rules.CHINA


def cst(y, m, d, h=10, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=CST).astimezone(UTC)


def end_of(y, m, d):
    """24:00 China time of the day, as the limits end."""
    return datetime(y, m, d, 16, 0, tzinfo=UTC)


def test_the_calendar_knows_2025_and_2026():
    assert not rules.is_workday(date(2026, 10, 1))
    assert not rules.is_workday(date(2026, 10, 7))
    assert rules.is_workday(date(2026, 10, 10))  # make-up Saturday
    assert rules.is_workday(date(2026, 9, 20))  # make-up Sunday
    assert not rules.is_workday(date(2025, 10, 8))  # National Day + Mid-Autumn 2025: 1-8 October
    assert rules.is_workday(date(2025, 10, 11))  # make-up Saturday 2025


def test_five_working_days_across_national_day():
    # dispatched Friday 25 September: 28, 29, 30 September, then 8, 9 October
    assert rules.add_working_days(cst(2026, 9, 25), 5) == end_of(2026, 10, 9)


def test_a_make_up_saturday_counts():
    # dispatched Thursday 8 October: Friday 9, Saturday 10 (make-up), Monday 12
    assert rules.add_working_days(cst(2026, 10, 8), 2) == end_of(2026, 10, 10)
    assert rules.add_working_days(cst(2026, 10, 8), 3) == end_of(2026, 10, 12)


def test_a_make_up_sunday_counts():
    assert rules.add_working_days(cst(2026, 9, 18), 1) == end_of(2026, 9, 20)


def test_a_late_day_counts_from_the_next_day():
    # dispatched at 23:30 China time on Monday 2 November: the limit of 1 day is Tuesday
    assert rules.add_working_days(cst(2026, 11, 2, 23, 30), 1) == end_of(2026, 11, 3)


def test_sign_for_hours_skip_the_holiday():
    # Wednesday 30 September 16:00 + 2 working hours (09-17): 1 hour that day, 1 hour on Thursday 8 October
    assert rules.add_working_hours(cst(2026, 9, 30, 16), 2) == cst(2026, 10, 8, 10)
    # before opening time: counted from 09:00
    assert rules.add_working_hours(cst(2026, 11, 2, 7), 2) == cst(2026, 11, 2, 11)


def test_working_days_between_and_colours():
    assert rules.working_days_between(cst(2026, 9, 30), cst(2026, 10, 9)) == 2
    assert rules.working_days_between(cst(2026, 10, 9), cst(2026, 9, 30)) == -2
    due = rules.add_working_days(cst(2026, 9, 25), 5)
    assert rules.colour(cst(2026, 9, 28), due, False) == "green"
    assert rules.colour(cst(2026, 10, 8), due, False) == "amber"
    assert rules.colour(cst(2026, 10, 10), due, False) == "red"
    assert rules.colour(cst(2026, 10, 10), due, True) == "grey"


def test_round_limits_and_a_transfer_keeps_the_deadline():
    limits = rules.Limits()
    first = rules.round_limits(cst(2026, 9, 25), "difficult", limits)
    assert first["reply"] == rules.add_working_days(cst(2026, 9, 25), 15)
    later = rules.round_limits(cst(2026, 10, 9), "difficult", limits, deadline=first["reply"])
    assert later["reply"] == first["reply"]
    assert later["contact"] == end_of(2026, 10, 10)


def test_a_new_round_carries_its_limits_and_nothing_done_yet():
    limits = rules.Limits()
    rnd = rules.new_round(2, cst(2026, 9, 25), "difficult", limits)
    assert (rnd["round"], rnd["complexity"], rnd["limit_days"]) == (2, "difficult", 15)
    assert rnd["due"] == rules.round_limits(cst(2026, 9, 25), "difficult", limits)
    assert rnd["met"] == {"sign_for": None, "contact": None, "reply": None}
    assert (rnd["reply"], rnd["rating"], rnd["reminded"], rnd["interim"]) == (None, None, [], [])


@pytest.mark.parametrize(
    ("state", "action", "ok"),
    [
        ("received", "dispatch", True),
        ("dispatched", "dispatch", False),
        ("dispatched", "sign_for", True),
        ("signed", "reply", False),
        ("in_progress", "reply", True),
        ("replied", "rate", True),
        ("closed", "rate", False),
        ("closed", "follow_up", True),
    ],
)
def test_transitions(state, action, ok):
    if ok:
        rules.check_state(action, state)
    else:
        with pytest.raises(rules.RuleError):
            rules.check_state(action, state)


def test_dissatisfied_reopens_once():
    assert rules.after_rating(1, "dissatisfied") == "reopen"
    assert rules.after_rating(2, "dissatisfied") == "close"
    assert rules.after_rating(1, "partly") == "close"


def test_case_numbers_are_the_china_day_and_a_sequence():
    assert rules.case_number(datetime(2026, 12, 3, 17, 0, tzinfo=UTC), 17) == "26120400017"


def test_rates_and_months():
    r = rules.rates({"dispatched": 4, "responded": 3, "rated": 0, "due": 2, "closed": 2, "closed_on_time": 1})
    assert r["response_rate"] == 0.75
    assert r["satisfaction_rate"] is None
    assert r["closure_rate"] == 1.0 and r["on_time_rate"] == 0.5
    assert rules.months("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_cluster():
    now = cst(2026, 11, 30)
    times = [cst(2026, 11, d) for d in (1, 10, 20, 29)] + [cst(2026, 10, 1)]
    assert rules.cluster(times, now, 30, 4)
    assert not rules.cluster(times, now, 30, 5)
