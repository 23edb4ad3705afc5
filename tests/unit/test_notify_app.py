"""The notify use cases (services/notify/app.py) over the fake store: delivery and its resumption after a
crash, digests, the inbox, preferences, the delivery log. No RabbitMQ, no FerretDB."""

from datetime import UTC, datetime, timedelta

import pytest

from dmlib.errors import BadInput, Forbidden, NotFound, ServiceError
from services.notify import app
from services.notify.rules import LEASE, RESUME_QUEUED
from tests.helpers import SYSTEM, member, union_admin
from tests.unit.notify_fakes import FakeCourier, FakeNotifyStore, FakeSenders, Permanent, Transient

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
M1 = member("N1", "nu1")
PEOPLE = {"N1": {"email": "n1@example.org", "phone": "138"}, "N3": {}}


class Clock:
    def __init__(self, at=T0):
        self.at = at

    def __call__(self):
        return self.at


def member_of(member_id):
    if member_id not in PEOPLE:
        raise NotFound("no such member")
    return PEOPLE[member_id]


def setup(limit=0, delays=(10.0, 60.0), member_lookup=member_of, available=("email", "sms")):
    store, clock = FakeNotifyStore(), Clock()
    d = app.Delivery(
        senders=FakeSenders(available),
        courier=FakeCourier(delays),
        member_of=member_lookup,
        hourly_limit=limit,
        render=lambda kind, locale, ctx, blocks: {"subject": f"digest of {len(ctx['items'])}", "email": "…"},
        base_url="http://x",
    )
    return store, clock, d


def queue(store, mid="e1:N1:email", member_id="N1", channel="email", status="queued"):
    store.insert_outbox(
        [
            {
                "_id": mid,
                "member_id": member_id,
                "name": "张三",
                "union_id": "nu1",
                "union_path": ["nf", "nu1"],
                "event_id": "e1",
                "kind": "proposal_accepted",
                "channel": channel,
                "locale": "zh-CN",
                "subject": "提案已立案",
                "body": "…",
                "link": "/proposals/p1",
                "status": status,
                "attempts": 0,
                "log": [{"at": T0, "status": status, "note": ""}],
                "at": T0,
                "updated_at": T0,
            }
        ]
    )
    return mid


def statuses(store, mid):
    return [line["status"] for line in store.get_outbox(mid)["log"]]


# ===== delivery =====================================================================================
def test_a_message_is_sent_once_and_its_marker_settled():
    store, clock, d = setup()
    mid = queue(store)
    assert [m["_id"] for m in store.owed()] == [mid]
    assert app.deliver(store, clock, d, mid) == "sent"
    assert app.deliver(store, clock, d, mid) == "done"  # a duplicate job does nothing
    assert d.senders.sent == [("email", "n1@example.org", "提案已立案")]
    assert store.get_outbox(mid)["status"] == "sent" and store.owed() == []
    assert statuses(store, mid) == ["queued", "sent"]


def test_a_message_held_by_a_live_worker_is_not_taken_twice():
    store, clock, d = setup()
    mid = queue(store)
    store.take(store.get_outbox(mid), T0, T0 + LEASE)  # another worker is sending it
    assert app.deliver(store, clock, d, mid) == "busy" and d.senders.sent == []


def test_transient_failures_retry_then_fail_with_the_event_in_the_same_write():
    store, clock, d = setup(delays=(10.0,))
    mid = queue(store, channel="sms")
    d.senders.fail = [Transient("down"), Transient("down")]
    assert app.deliver(store, clock, d, mid) == "retrying"
    assert d.courier.retries == [(mid, 10.0)]
    assert app.deliver(store, clock, d, mid) == "busy"  # an early job: its time has not come
    clock.at += timedelta(seconds=10)
    assert app.deliver(store, clock, d, mid) == "failed"
    doc = store.get_outbox(mid)
    assert doc["status"] == "failed" and doc["attempts"] == 2 and store.owed() == []
    assert statuses(store, mid) == ["queued", "retrying", "failed"]
    [(kind, failed)] = store.committed()
    assert kind == "notification_failed"
    assert failed["message_id"] == mid and failed["attempts"] == 2


def test_a_permanent_failure_fails_at_once():
    store, clock, d = setup()
    mid = queue(store)
    d.senders.fail = [Permanent("refused")]
    assert app.deliver(store, clock, d, mid) == "failed" and d.courier.retries == []
    assert [b["reason"] for _, b in store.committed()] == ["refused"]


def test_no_address_or_no_member_is_skipped_and_members_down_is_retried():
    store, clock, d = setup()
    assert app.deliver(store, clock, d, queue(store, "e1:N3:email", "N3")) == "skipped"
    assert app.deliver(store, clock, d, queue(store, "e1:N7:email", "N7")) == "skipped"
    assert store.get_outbox("e1:N7:email")["log"][-1]["note"] == "member no longer registered"

    def down(member_id):
        raise ServiceError("members unavailable")

    store2, clock2, d2 = setup(member_lookup=down)
    assert app.deliver(store2, clock2, d2, queue(store2)) == "retrying"


def test_above_the_hourly_limit_the_message_goes_into_the_digest():
    store, clock, d = setup(limit=1)
    first, second = queue(store, "e1:N1:email"), queue(store, "e2:N1:email")
    assert app.deliver(store, clock, d, first) == "sent"
    assert app.deliver(store, clock, d, second) == "digest"
    assert store.get_outbox(second)["log"][-1]["note"] == "over the hourly limit of 1"
    [digest] = store.pending_digests("2026-12-31")
    assert app.digest_items(digest) == [second] and store.owed() == []


# ===== resuming after a crash =======================================================================
def test_a_message_left_sending_by_a_crash_is_requeued_after_its_lease():
    store, clock, d = setup()
    mid = queue(store)
    store.take(store.get_outbox(mid), T0, T0 + LEASE)  # the worker died after taking it
    assert app.resume_deliveries(store, clock, d.courier) == 0  # its lease still runs
    clock.at = T0 + LEASE
    assert app.resume_deliveries(store, clock, d.courier) == 1
    assert d.courier.jobs == [mid] and store.get_outbox(mid)["status"] == "queued"
    assert app.resume_deliveries(store, clock, d.courier) == 0  # re-queued once, not every pass
    assert app.deliver(store, clock, d, mid) == "sent"


def test_a_queued_message_whose_job_was_lost_is_requeued():
    store, clock, d = setup()
    mid = queue(store)  # inserted, then the process died before publishing its job
    clock.at = T0 + RESUME_QUEUED
    assert app.resume_deliveries(store, clock, d.courier) == 1 and d.courier.jobs == [mid]
    assert statuses(store, mid) == ["queued", "queued"]
    assert store.get_outbox(mid)["log"][-1]["note"] == "resumed: its job was lost (queued)"


def test_a_retry_whose_delay_job_was_lost_is_requeued_and_final_markers_settled():
    store, clock, d = setup()
    mid, sent = queue(store), queue(store, "e2:N1:email")
    d.senders.fail = [Transient("down")]
    app.deliver(store, clock, d, mid)
    store.change("outbox", sent, set={"status": "sent"})  # final, but its marker is still there
    clock.at = T0 + timedelta(seconds=10) + timedelta(minutes=1)
    assert app.resume_deliveries(store, clock, d.courier) == 1 and d.courier.jobs == [mid]
    assert [m["_id"] for m in store.owed()] == [mid]


# ===== digests ======================================================================================
def test_digests_are_sent_once_and_resumed_after_a_crash_before_the_close():
    store, clock, d = setup()
    mid = queue(store, status="digest")
    app.defer(store, store.get_outbox(mid), T0)
    with pytest.raises(Forbidden):
        app.run_digests(store, M1, clock, d, "2026-12-01")
    with pytest.raises(BadInput):
        app.run_digests(store, SYSTEM, clock, d, "tomorrow")
    store.close_digest = lambda digest, at: False  # the process dies before the commit point
    assert app.run_digests(store, SYSTEM, clock, d, "2026-12-01") == {"sent": 1}
    del store.close_digest
    assert app.run_digests(store, SYSTEM, clock, d, "2026-12-01") == {"sent": 0}  # nothing twice
    assert store.pending_digests("2026-12-31") == []
    assert store.get_outbox(mid)["status"] == "digested"
    email = store.get_outbox("digest-2026-12-01:N1:email")
    assert email["subject"] == "digest of 1" and d.courier.jobs == [email["_id"]]


# ===== the inbox and preferences ====================================================================
def test_inbox_marking_is_scoped_to_ones_own_messages():
    store, clock, _ = setup()
    for i, who in enumerate(["N1", "N2"]):
        mid = f"e{i}:{who}:inbox"
        store.insert_inbox(
            [{"_id": mid, "member_id": who, "kind": "proposal_accepted", "at": T0, "read_at": None}]
        )
        store.push_to_boxes({who: mid})
    store.inbox_messages = lambda ids, locale=None: [
        {**FakeNotifyStore.inbox_messages(store, [i])[0], "subject": "s", "body": "b", "link": None}
        for i in ids
    ]
    page = app.inbox(store, M1, {"page": 1, "per_page": 20, "unread": False})
    assert [m["id"] for m in page["items"]] == ["e0:N1:inbox"] and page["unread"] == 1
    with pytest.raises(NotFound):
        app.mark_read(store, M1, clock, {"all": False, "ids": ["e1:N2:inbox"]})
    assert app.mark_read(store, M1, clock, {"all": True, "ids": []}) == {"marked": 1, "unread": 0}
    assert app.unread_count(store, M1) == {"unread": 0}
    with pytest.raises(Forbidden):
        app.inbox(store, SYSTEM, {"page": 1, "per_page": 20, "unread": False})


def union_of(union_id):
    """The members service's answer about a union (``{id, path}``)."""
    return {"id": union_id, "path": ["nf", union_id]}


def test_preferences_are_replaced_and_read_back():
    store, clock, d = setup(available=("email",))
    out = app.set_prefs(
        store,
        M1,
        clock,
        d,
        {"channels": {"congress": ["email"]}, "digest": "daily"},
        ("congress", "proposals"),
        union_of,
    )
    assert out["channels"]["congress"] == ["email"] and out["channels"]["proposals"] == []
    assert out["digest"] == "daily" and out["available"] == ["email"] and out["has_email"]
    app.set_prefs(store, M1, clock, d, {"channels": {}, "digest": "immediate"}, ("congress",), union_of)
    assert app.get_prefs(store, M1, d)["digest"] == "immediate" and store.get_prefs("N1")["_v"] == 1


def audits(store):
    return [b for _, b in store.committed("change_recorded")]


def test_a_members_preference_change_leaves_one_audit_entry_and_a_refused_one_none():
    store, clock, d = setup()
    with pytest.raises(Forbidden):  # not a member of any union: refused, nothing written
        app.set_prefs(
            store, member("N9", None), clock, d, {"channels": {}, "digest": "daily"}, ("congress",), union_of
        )
    assert audits(store) == [] and store.get_prefs("N9") is None
    groups = ("congress", "proposals")
    app.set_prefs(
        store, M1, clock, d, {"channels": {"congress": ["email"]}, "digest": "daily"}, groups, union_of
    )
    [first] = audits(store)
    assert first["action"] == "notify.preferences_set" and first["service"] == "notify"
    assert first["actor"]["member_id"] == "N1" and first["role"] == "member"
    assert first["object"] == {"type": "preferences", "id": "N1"}
    assert first["union_id"] == "nu1" and first["union_path"] == ["nf", "nu1"]
    assert {c["field"]: (c["before"], c["after"]) for c in first["changes"]} == {
        "channels.congress": (None, ["email"]),
        "channels.proposals": (None, []),
        "digest": (None, "daily"),
    }
    app.set_prefs(
        store, M1, clock, d, {"channels": {"proposals": ["sms"]}, "digest": "daily"}, groups, union_of
    )
    assert len(audits(store)) == 2
    assert {c["field"]: (c["before"], c["after"]) for c in audits(store)[1]["changes"]} == {
        "channels.congress": (["email"], []),
        "channels.proposals": ([], ["sms"]),
        "digest": ("daily", "daily"),
    }


def test_marking_messages_read_is_not_audited():
    store, clock, d = setup()
    mid = "e0:N1:inbox"
    store.insert_inbox(
        [{"_id": mid, "member_id": "N1", "kind": "proposal_accepted", "at": T0, "read_at": None}]
    )
    store.push_to_boxes({"N1": mid})
    assert app.mark_read(store, M1, clock, {"all": True, "ids": []})["marked"] == 1
    assert audits(store) == []


def test_the_delivery_log_for_admins_of_the_union_or_above():
    store, clock, d = setup()
    queue(store)
    union = {"id": "nu1", "path": ["nf", "nu1"]}
    query = {"status": None, "channel": None, "page": 1, "per_page": 20}
    log = app.delivery_log(store, union_admin("nu1"), union, query)
    assert log["total"] == 1 and log["counts"] == {"queued": 1}
    with pytest.raises(Forbidden):
        app.delivery_log(store, union_admin("nu2"), union, query)
    store.create("fanouts", {"_id": "e1", "state": "done", "members": 2})
    assert app.fanout_status(store, SYSTEM, "e1") == {"state": "done", "members": 2, "event_id": "e1"}
    with pytest.raises(NotFound):
        app.fanout_status(store, SYSTEM, "e9")
    with pytest.raises(Forbidden):
        app.fanout_status(store, M1, "e1")
