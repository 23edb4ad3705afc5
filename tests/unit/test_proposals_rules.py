"""The proposal rules as pure functions: who may make which move from which state, the dissatisfied round,
deadlines and reminders in China days, and the session statistics."""

from datetime import UTC, datetime, timedelta

import pytest

from services.proposals import rules

T0 = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


@pytest.mark.parametrize(
    ("action", "state", "roles", "target"),
    [
        ("submit", "draft", {"proposer"}, "submitted"),
        ("cosign", "draft", {"delegate"}, "draft"),
        ("accept", "submitted", {"admin"}, "accepted"),
        ("convert", "submitted", {"admin"}, "converted"),
        ("reject", "submitted", {"admin"}, "rejected"),
        ("assign", "accepted", {"admin"}, "assigned"),
        ("reply", "assigned", {"handler"}, "replied"),
        ("rate", "replied", {"proposer"}, "closed"),
        ("return", "replied", {"proposer"}, "assigned"),
        ("mark_excellent", "closed", {"admin"}, "closed"),
    ],
)
def test_allowed_moves(action, state, roles, target):
    assert rules.check_move(action, state, roles) == target


@pytest.mark.parametrize(
    ("action", "state", "roles", "kind"),
    [
        ("accept", "submitted", {"delegate", "proposer"}, "actor"),  # a delegate reviewing
        ("reply", "assigned", {"admin"}, "actor"),
        ("submit", "draft", {"cosigner", "delegate"}, "actor"),
        ("reply", "rejected", {"handler"}, "state"),  # a reply to a rejected proposal
        ("accept", "accepted", {"admin"}, "state"),
        ("submit", "submitted", {"proposer"}, "state"),
        ("cosign", "submitted", {"delegate"}, "state"),
        ("mark_excellent", "replied", {"admin"}, "state"),
        ("assign", "converted", {"admin"}, "state"),
    ],
)
def test_refused_moves(action, state, roles, kind):
    with pytest.raises(rules.RuleError) as err:
        rules.check_move(action, state, roles)
    assert err.value.kind == kind and " / " in err.value.message


def test_actor_is_checked_before_state():
    with pytest.raises(rules.RuleError) as err:
        rules.check_move("accept", "closed", {"delegate"})
    assert err.value.kind == "actor"


def test_every_state_is_reachable_and_final_states_have_no_way_out():
    targets = {m.target for m in rules.MOVES.values()} | {"draft"}
    assert targets == set(rules.STATES)
    for final in ("converted", "rejected"):
        assert not [m for m in rules.MOVES.values() if final in m.sources]


def test_a_dissatisfied_rating_sends_it_back_once_only():
    assert rules.rating_move("dissatisfied", 1) == "return"
    assert rules.rating_move("dissatisfied", 2) == "rate"
    assert rules.rating_move("partly", 1) == "rate"
    assert rules.rating_move("satisfied", 1) == "rate"
    with pytest.raises(ValueError):
        rules.rating_move("meh", 1)


def test_cosigners_missing():
    assert rules.cosigners_missing(0, 2) == 2
    assert rules.cosigners_missing(3, 2) == 0
    assert rules.cosigners_missing(0, 0) == 0


def test_deadline_is_the_end_of_the_20th_day_in_china():
    deadline = rules.deadline_of(T0, 20)
    assert deadline == datetime(2026, 4, 9, 15, 59, 59, tzinfo=UTC)  # 2026-04-09 23:59:59 +08:00
    late_evening = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)  # already the 21st in Beijing
    assert rules.deadline_of(late_evening, 20).date().isoformat() == "2026-04-10"


def test_reminders_due_soon_and_overdue_counted_in_china_days():
    deadline = rules.deadline_of(T0, 20)
    assert rules.reminder_kind(deadline, T0) is None
    assert rules.reminder_kind(deadline, T0 + timedelta(days=16)) is None
    assert rules.reminder_kind(deadline, T0 + timedelta(days=17)) == "due_soon"
    assert rules.reminder_kind(deadline, deadline) == "due_soon"
    assert rules.reminder_kind(deadline, deadline + timedelta(seconds=1)) == "overdue"
    assert rules.days_left(deadline, deadline + timedelta(days=1)) == -1
    # 23:30 UTC is already the next day in China: a reminder day changes at 16:00 UTC
    assert rules.reminder_day(datetime(2026, 4, 1, 15, 59, tzinfo=UTC)).isoformat() == "2026-04-01"
    assert rules.reminder_day(datetime(2026, 4, 1, 16, 0, tzinfo=UTC)).isoformat() == "2026-04-02"


def _p(state, category="welfare", rounds=(), ratings=(), excellent=False):
    return {
        "state": state,
        "category": category,
        "rounds": list(rounds),
        "ratings": list(ratings),
        "excellent": excellent,
    }


def test_session_statistics():
    d1 = T0 + timedelta(days=20)
    on_time = {"deadline": d1, "replied_at": T0 + timedelta(days=5)}
    late = {"deadline": d1, "replied_at": d1 + timedelta(days=2)}
    open_past = {"deadline": T0 + timedelta(days=1), "replied_at": None}
    now = T0 + timedelta(days=30)
    proposals = [
        _p("draft"),
        _p("submitted"),
        _p("converted"),
        _p("rejected", "wages"),
        _p("accepted"),
        _p("assigned", "safety", [open_past]),
        _p("replied", rounds=[late]),
        _p(
            "closed",
            rounds=[on_time, on_time],
            ratings=[
                {"member_id": "a", "round": 1, "satisfaction": "dissatisfied"},
                {"member_id": "b", "round": 1, "satisfaction": "partly"},
                {"member_id": "a", "round": 2, "satisfaction": "satisfied"},
            ],
            excellent=True,
        ),
    ]
    s = rules.session_stats(proposals, now)
    assert (s["submitted"], s["accepted"], s["converted"], s["rejected"], s["pending"]) == (7, 4, 1, 1, 1)
    assert (s["replies"], s["on_time"], s["closed"], s["excellent"]) == (3, 2, 1, 1)
    assert (s["assigned_open"], s["overdue"]) == (1, 1)
    assert s["satisfaction"] == {"satisfied": 1, "partly": 1, "dissatisfied": 0}  # a's latest counts
    assert s["acceptance_rate"] == pytest.approx(4 / 7)
    assert s["on_time_rate"] == pytest.approx(2 / 3)
    assert s["closure_rate"] == pytest.approx(1 / 4)
    assert s["satisfaction_shares"]["partly"] == pytest.approx(0.5)
    assert s["by_category"] == {"welfare": 5, "wages": 1, "safety": 1}


def test_empty_session_has_zero_rates():
    s = rules.session_stats([], T0)
    assert s["acceptance_rate"] == s["on_time_rate"] == s["closure_rate"] == 0.0
