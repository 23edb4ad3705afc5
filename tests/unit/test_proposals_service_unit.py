"""The proposals service with nameko's ``worker_factory`` and a hand-written fake store: the reminder round
publishes once per proposal per China day however often it runs, and moves are refused before any write."""

from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory

from dmlib.errors import Conflict, Forbidden
from services.proposals import rules
from services.proposals.service import ProposalsService
from tests.helpers import member

T0 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


class FakeStore:
    def __init__(self, proposals):
        self.proposals = {p["_id"]: p for p in proposals}
        self.watch = set(self.proposals)
        self.reminders: set[str] = set()
        self.writes = 0

    def watched(self):
        return sorted(self.watch)

    def get(self, pid):
        return self.proposals.get(pid)

    def unwatch(self, pid):
        self.watch.discard(pid)

    def first_reminder(self, pid, day, kind, at):
        key = f"{pid}:{day}"
        if key in self.reminders:
            return False
        self.reminders.add(key)
        return True

    def claim(self, *args):
        self.writes += 1
        return True

    def move(self, *args):
        self.writes += 1
        return None


def proposal(pid, state="assigned", deadline_days=20):
    return {
        "_id": pid,
        "session_id": "s1",
        "congress_id": "cg-u01",
        "union_id": "u01",
        "union_path": ["ftu", "u01"],
        "subject": "关于食堂的提案",
        "proposer": {"member_id": "D1", "name": "代表"},
        "cosigner_ids": ["D2", "D3"],
        "invited": [],
        "state": state,
        "round": 1,
        "rounds": [{"department_ids": ["u01-d1"], "deadline": rules.deadline_of(T0, deadline_days)}],
        "pending_departments": ["u01-d1"],
        "history": [{}] * 6,
    }


def test_reminders_once_per_day_however_often_the_round_runs():
    service = worker_factory(ProposalsService)
    service.store = FakeStore([proposal("late", deadline_days=1), proposal("later", deadline_days=30)])
    now = T0 + timedelta(days=3)
    for minute in range(0, 600, 10):  # sixty ticks over ten hours of one day
        service._send_reminders(now + timedelta(minutes=minute))
    assert service.events.publish.call_count == 1
    event, payload = service.events.publish.call_args.args[0], service.events.publish.call_args.kwargs
    assert event == "proposal_overdue" and payload["proposal_id"] == "late" and payload["overdue"] is True
    assert payload["cosigner_ids"] == ["D2", "D3"] and payload["pending_department_ids"] == ["u01-d1"]
    service._send_reminders(now + timedelta(days=1))
    assert service.events.publish.call_count == 2


def test_a_proposal_no_longer_assigned_leaves_the_watch_list():
    service = worker_factory(ProposalsService)
    service.store = FakeStore([proposal("done", state="replied", deadline_days=1)])
    assert service._send_reminders(T0 + timedelta(days=5)) == {
        "checked": 0,
        "published": 0,
        "day": "2026-04-06",
    }
    assert service.store.watch == set()


@pytest.mark.parametrize(
    ("actor", "action", "error"),
    [
        (member("D1", "u01", ("delegate", "cg-u01")), "review", Forbidden),
        (member("A1", "u01", ("union_admin", "u01")), "mark_excellent", Conflict),
    ],
)
def test_refusals_write_nothing(actor, action, error):
    service = worker_factory(ProposalsService)
    service.store = FakeStore([proposal("p1")])
    service.store.get = lambda pid: proposal("p1")
    service.identity.actor = actor
    with pytest.raises(error):
        if action == "review":
            service.review("p1", {"decision": "accept"})
        else:
            service.mark_excellent("p1")
    assert service.store.writes == 0 and not service.events.publish.called
