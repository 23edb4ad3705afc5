"""The shared fake of ``Store.change``/``create`` (tests/unit/fake_store.py) keeps the contract of
:mod:`dmlib.state` that every service's unit tests rely on (the same cases run against FerretDB in
tests/integration/test_state_outbox.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from dmlib.audit import Audit
from dmlib.auth import Actor
from dmlib.errors import Conflict, NotFound
from dmlib.state import REQUEST_LEASE, REQUESTS, event
from tests.unit.fake_store import FakeStore, matches


def test_create_then_guarded_changes_count_versions_and_commit_events_in_order():
    store = FakeStore()
    doc = store.create("things", {"_id": "t1", "state": "planned"}, events=[event("thing_made", id="t1")])
    assert doc["_v"] == 0
    after = store.change(
        "things",
        "t1",
        expect={"_v": 0, "state": "planned"},
        set={"state": "open", "counts.a": 1},
        inc={"n": 2, "counts.b": 3},
        events=[event("thing_opened", id="t1")],
    )
    assert (after["_v"], after["state"], after["n"], after["counts"]) == (1, "open", 2, {"a": 1, "b": 3})
    assert [t for t, _ in store.committed()] == ["thing_made", "thing_opened"]
    assert store.writes == 2 and len(store.pending_events()) == 2
    assert store.relay() == 2 and store.pending_events() == [] and len(store.published) == 2


def test_a_refused_change_writes_nothing():
    store = FakeStore()
    store.create("things", {"_id": "t1", "state": "open"})
    with pytest.raises(Conflict):
        store.change("things", "t1", expect={"_v": 7}, set={"state": "closed"}, events=[event("x")])
    with pytest.raises(NotFound):
        store.change("things", "t2", set={"state": "closed"})
    with pytest.raises(DuplicateKeyError):
        store.create("things", {"_id": "t1"})
    assert store.col("things")["t1"] == {"_id": "t1", "state": "open", "_v": 0}
    assert (store.writes, store.events) == (1, [])


def test_the_conflict_callback_sees_the_current_document():
    store = FakeStore()
    store.create("things", {"_id": "t1", "state": "open"})
    with pytest.raises(NotFound, match="open"):
        store.change("things", "t1", expect={"state": "planned"}, conflict=lambda cur: NotFound(cur["state"]))


def test_an_audited_change_commits_its_entry_with_the_before_value():
    store = FakeStore()
    store.create("things", {"_id": "t1", "state": "open"})
    audit = Audit(Actor("M1", "甲"), "union_admin", "fake.closed", "thing", "t1", "u01")
    store.change("things", "t1", set={"state": "closed"}, audit=audit)
    [(kind, body)] = store.committed()
    assert kind == "change_recorded"
    assert body["changes"] == [{"field": "state", "before": "open", "after": "closed"}]


@pytest.mark.parametrize(
    ("expect", "ok"),
    [
        ({"state": "open"}, True),
        ({"missing": None}, True),
        ({"tags": "a"}, True),
        ({"state": {"$ne": "open"}}, False),
        ({"tags": {"$ne": "a"}}, False),
        ({"missing": {"$ne": "x"}}, True),
        ({"state": {"$in": ["open", "closed"]}}, True),
        ({"state": {"$nin": ["open"]}}, False),
        ({"missing": {"$exists": False}}, True),
        ({"sub.k": 1}, True),
    ],
)
def test_filters_mean_what_they_mean_in_mongodb(expect, ok):
    assert matches({"state": "open", "tags": ["a", "b"], "sub": {"k": 1}}, expect) is ok


def test_a_keyed_create_is_made_once_and_a_running_one_holds_off_a_repeat_until_its_lease():
    store = FakeStore()
    made = []

    def create(doc_id):
        def go():
            made.append(doc_id)
            return store.create("things", {"_id": doc_id})

        return go

    first = store.once("k1", "things", create("t1"), lambda d: d)
    assert store.once("k1", "things", create("t2"), lambda d: d) == first and made == ["t1"]
    # a request that died before its create: a repeat within the lease is told to wait, after it goes on
    store.col(REQUESTS)["k2"] = {"_id": "k2", "at": store.clock(), "collection": None, "doc_id": None}
    with pytest.raises(Conflict):
        store.once("k2", "things", create("t3"), lambda d: d)
    later = store.clock() + REQUEST_LEASE + timedelta(seconds=1)
    store.clock = lambda: later
    assert store.once("k2", "things", create("t3"), lambda d: d)["_id"] == "t3"


def test_a_keyed_create_refused_before_its_insert_frees_the_key():
    store = FakeStore()

    def refuse():
        raise Conflict("no")

    with pytest.raises(Conflict):
        store.once("k1", "things", refuse, lambda d: d)
    assert (
        store.once("k1", "things", lambda: store.create("things", {"_id": "t1"}), lambda d: d)["_id"] == "t1"
    )
