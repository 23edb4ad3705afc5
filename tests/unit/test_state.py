"""dmlib.state: the guarded, versioned update with its outbox, and the relay, over a hand-written fake
database (the real FerretDB/RabbitMQ behaviour: tests/integration/test_state_outbox.py)."""

import copy
from datetime import timedelta

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError

from dmlib import state
from dmlib.errors import Conflict, NotFound
from dmlib.storage import Store

MISSING = object()


def _get(doc, path):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return MISSING
        doc = doc[part]
    return doc


def _matches(doc, flt):
    for key, want in flt.items():
        have = _get(doc, key)
        if isinstance(want, dict) and want and all(k.startswith("$") for k in want):
            for op, arg in want.items():
                if op == "$ne" and have == arg:
                    return False
                if op == "$in" and (None if have is MISSING else have) not in arg:
                    return False
        elif want is None:
            if have is not MISSING and have is not None:
                return False
        elif have is MISSING or have != want:
            return False
    return True


class FakeCollection:
    """The few pymongo calls dmlib.state makes; ``down`` makes every call fail like an outage."""

    def __init__(self, db):
        self.db, self.docs = db, {}

    def _check(self):
        if self.db.down:
            raise AutoReconnect("database down")

    def insert_one(self, doc):
        self._check()
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate _id")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    def find_one(self, flt, projection=None):
        self._check()
        return next((copy.deepcopy(d) for d in self.docs.values() if _matches(d, flt)), None)

    def find(self, flt):
        self._check()
        docs = [copy.deepcopy(d) for d in self.docs.values() if _matches(d, flt)]

        class Cursor(list):
            def limit(self, n):
                return self[:n]

        return Cursor(docs)

    def find_one_and_update(self, flt, ops, return_document=None):
        self._check()
        for doc in self.docs.values():
            if _matches(doc, flt):
                self._apply(doc, ops)
                return copy.deepcopy(doc)
        return None

    def update_one(self, flt, ops):
        self.find_one_and_update(flt, ops)

    def delete_one(self, flt):
        self._check()
        for key, doc in list(self.docs.items()):
            if _matches(doc, flt):
                del self.docs[key]
                return

    @staticmethod
    def _apply(doc, ops):
        for path, value in ops.get("$set", {}).items():
            *parents, last = path.split(".")
            target = doc
            for p in parents:
                target = target.setdefault(p, {})
            target[last] = copy.deepcopy(value)
        for path, value in ops.get("$inc", {}).items():
            doc[path] = doc.get(path, 0) + value
        for path in ops.get("$unset", {}):
            *parents, last = path.split(".")
            target = doc
            for p in parents:
                target = target.get(p, {})
            target.pop(last, None)


class FakeDb(dict):
    down = False

    def __missing__(self, name):
        self[name] = FakeCollection(self)
        return self[name]


class Broker:
    """``publish(event_type, **body)`` that keeps what it acknowledged; ``down`` refuses."""

    def __init__(self):
        self.published, self.down = [], False

    def publish(self, event_type, **body):
        if self.down:
            raise ConnectionError("broker down")
        self.published.append((event_type, body["event_id"]))


@pytest.fixture
def store():
    db = FakeDb()
    db["sessions"].insert_one({"_id": "s1", "state": "planned", "_v": 0})
    return Store(db)


def test_a_change_applies_with_its_version_bumped_and_its_events_in_the_outbox(store):
    after = store.change(
        "sessions",
        "s1",
        expect={"state": "planned"},
        set={"state": "convened"},
        events=[state.event("x", a=1)],
    )
    assert (after["state"], after["_v"]) == ("convened", 1)
    [entry] = after["outbox"].values()
    assert (entry["type"], entry["body"]["a"]) == ("x", 1) and entry["body"]["occurred_at"].endswith("Z")
    assert len(store.db[state.PENDING].docs) == 1 and store.batches == [entry["batch"]]


def test_a_stale_expectation_is_a_conflict_and_writes_nothing(store):
    store.change("sessions", "s1", expect={"_v": 0}, set={"title": "a"})
    with pytest.raises(Conflict) as exc:
        store.change("sessions", "s1", expect={"_v": 0}, set={"title": "b"}, events=[state.event("x")])
    assert exc.value.details == {"id": "s1", "_v": 1, "reason": "stale"}
    doc = store.db["sessions"].docs["s1"]
    assert (doc["title"], doc.get("outbox"), store.db[state.PENDING].docs) == ("a", None, {})


def test_a_missing_document_is_not_found_and_custom_conflicts_are_raised(store):
    with pytest.raises(NotFound):
        store.change("sessions", "nope", expect={"state": "planned"}, set={"state": "convened"})
    with pytest.raises(Conflict, match="not planned"):
        store.change(
            "sessions",
            "s1",
            expect={"state": "closed"},
            set={"state": "x"},
            conflict=lambda cur: Conflict(f"not planned: {cur['state']}"),
        )


def test_documents_without_a_version_match_a_none_version(store):
    store.db["sessions"].insert_one({"_id": "old", "state": "planned"})
    assert store.change("sessions", "old", expect={"_v": None}, set={"state": "convened"})["_v"] == 1


def test_relay_publishes_in_order_removes_and_unmarks(store):
    store.change("sessions", "s1", set={"n": 1}, events=[state.event("a"), state.event("b")])
    store.change("sessions", "s1", set={"n": 2}, events=[state.event("c")])
    broker = Broker()
    assert store.relay(broker.publish, mine=True) == 3
    assert [t for t, _ in broker.published] == ["a", "b", "c"]
    assert store.db["sessions"].docs["s1"]["outbox"] == {} and store.db[state.PENDING].docs == {}
    assert store.relay(broker.publish) == 0  # nothing twice


def test_broker_down_leaves_events_pending_for_the_timer(store):
    store.change("sessions", "s1", set={"n": 1}, events=[state.event("a")])
    broker = Broker()
    broker.down = True
    assert store.relay(broker.publish, mine=True) == 0  # never raises
    assert len(store.db["sessions"].docs["s1"]["outbox"]) == 1 and len(store.db[state.PENDING].docs) == 1
    broker.down = False
    assert Store(store.db).relay(broker.publish) == 1  # another process, the timer
    assert [t for t, _ in broker.published] == ["a"]


def test_database_down_during_relay_leaves_the_event_pending(store):
    store.change("sessions", "s1", set={"n": 1}, events=[state.event("a")])
    broker = Broker()
    store.db.down = True
    assert store.relay(broker.publish) == 0 and broker.published == []
    store.db.down = False
    assert store.relay(broker.publish) == 1


def test_a_crash_between_publish_and_removal_publishes_again_with_the_same_event_id(store):
    store.change("sessions", "s1", set={"n": 1}, events=[state.event("a")])
    broker = Broker()

    def publish_then_db_dies(event_type, **body):
        broker.publish(event_type, **body)
        store.db.down = True

    store.relay(publish_then_db_dies)
    store.db.down = False
    store.relay(broker.publish)
    assert len(broker.published) == 2 and broker.published[0] == broker.published[1]  # at least once


def test_a_marker_without_a_committed_batch_is_kept_until_stale(store):
    store.db[state.PENDING].insert_one(
        {"_id": "b1", "collection": "sessions", "doc_id": "s1", "at": state.now()}
    )  # a writer died between the marker and its update
    assert store.relay(Broker().publish) == 0 and "b1" in store.db[state.PENDING].docs
    store.db[state.PENDING].docs["b1"]["at"] -= state.STALE_MARKER + timedelta(seconds=1)
    store.relay(Broker().publish)
    assert store.db[state.PENDING].docs == {}


def test_create_inserts_version_zero_with_events_and_a_duplicate_leaves_no_marker(store):
    doc = store.create("sessions", {"_id": "s2", "state": "planned"}, events=[state.event("p")])
    assert doc["_v"] == 0 and len(doc["outbox"]) == 1
    with pytest.raises(DuplicateKeyError):
        store.create("sessions", {"_id": "s2"}, events=[state.event("p")])
    assert len(store.db[state.PENDING].docs) == 1
    assert store.relay(Broker().publish) == 1
