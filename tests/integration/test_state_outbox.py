"""dmlib.state on the real FerretDB and RabbitMQ: concurrent guarded updates (one wins, the rest get a
Conflict), events committed by a process that "crashed" before relaying them (published by the relay of
the next process, consumed exactly once per event_id), and a database outage in the middle of a relay
(the event stays pending and is relayed afterwards); keyed creates (one document per idempotency key)."""

from datetime import timedelta

import eventlet
import pytest
from pymongo.errors import DuplicateKeyError

from dmlib import state
from dmlib.errors import Conflict
from dmlib.events import Events, event_keys
from dmlib.rpc import event_handler
from dmlib.storage import Mongo, Store, make_client
from tests.helpers import MONGO_URI, wait_until

pytestmark = pytest.mark.integration


class Publisher(state.OutboxRelay):
    """A service that only relays (its relay timer runs every second)."""

    name = "outboxtest"
    store = Mongo(Store)
    events = Events()


class Consumer:
    name = "outboxconsumer"
    store = Mongo(Store)

    @event_handler("outboxtest", "thing_happened")
    def handle(self, payload):
        # the decorator refuses a copy of an event this handler already took (docs/events.md)
        self.store.db.deliveries.update_one({"_id": payload["event_id"]}, {"$inc": {"n": 1}}, upsert=True)
        self.store.db.effects.insert_one({"_id": payload["event_id"], "k": payload["k"]})


@pytest.fixture
def config(config):
    """The integration config plus a signing key for the test publisher ``outboxtest``."""
    keys = event_keys(["outboxtest"])
    public = f"{config['EVENT_PUBLIC_KEYS']},{keys.pop('EVENT_PUBLIC_KEYS')}"
    return {**config, **keys, "EVENT_PUBLIC_KEYS": public}


@pytest.fixture
def database(db_prefix):
    client = make_client(MONGO_URI)
    yield client[f"{db_prefix}outboxtest"]
    client.close()


def test_concurrent_guarded_updates_one_wins_the_rest_conflict(database):
    database.things.insert_one({"_id": "t1", "state": "planned", "_v": 0})
    outcomes = []

    def attempt(i):
        try:
            Store(database).change(
                "things",
                "t1",
                expect={"_v": 0},
                set={"state": "convened", "by": i},
                events=[state.event("thing_happened", k=i)],
            )
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    pool = eventlet.GreenPool(8)
    list(pool.imap(attempt, range(8)))
    doc = database.things.find_one({"_id": "t1"})
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert doc["_v"] == 1 and len(doc["outbox"]) == 1
    assert database[state.PENDING].count_documents({}) == 1  # only the winner's marker stays


def test_events_left_by_a_crash_are_relayed_after_restart_exactly_once(container_factory, config, database):
    store = Store(database)  # the "crashed" process: committed, never relayed
    store.create("things", {"_id": "t1", "state": "new"}, events=[state.event("thing_happened", k=0)])
    for k in (1, 2):
        store.change("things", "t1", set={"k": k}, events=[state.event("thing_happened", k=k)])
    consumer = container_factory(Consumer, config)
    consumer.start()
    publisher = container_factory(Publisher, config)
    publisher.start()
    consumed = make_client(MONGO_URI)[f"{config['MONGO_DB_PREFIX']}outboxconsumer"]
    wait_until(lambda: consumed.effects.count_documents({}) == 3, timeout=30)
    wait_until(lambda: database[state.PENDING].count_documents({}) == 0, timeout=30)
    assert sorted(e["k"] for e in consumed.effects.find()) == [0, 1, 2]
    assert database.things.find_one({"_id": "t1"})["outbox"] == {}


def test_a_redelivered_event_has_its_effect_once(container_factory, config, database, caplog):
    store = Store(database)
    store.create("things", {"_id": "t2"}, events=[state.event("thing_happened", k=7)])
    entry = next(iter(database.things.find_one({"_id": "t2"})["outbox"].values()))
    consumer = container_factory(Consumer, config)
    consumer.start()
    publisher = container_factory(Publisher, config)
    publisher.start()
    consumed = make_client(MONGO_URI)[f"{config['MONGO_DB_PREFIX']}outboxconsumer"]
    wait_until(lambda: consumed.effects.count_documents({}) == 1, timeout=30)
    # the relay of a process that crashed before its $unset publishes the same envelope again
    store.change("things", "t2", events=[{"type": entry["type"], "body": entry["body"]}])
    event_id = entry["body"]["event_id"]
    wait_until(
        lambda: any("event refused" in r.getMessage() and event_id in r.getMessage() for r in caplog.records)
    )
    wait_until(lambda: database[state.PENDING].count_documents({}) == 0)
    assert consumed.deliveries.find_one({"_id": event_id})["n"] == 1  # the copy never reached the handler
    assert consumed.effects.count_documents({}) == 1


class FlakyDatabase:
    """The real database until ``fail`` is set, then every collection is on a server that is not there."""

    def __init__(self, real, dead):
        self.real, self.dead, self.fail = real, dead, False

    def __getitem__(self, name):
        return (self.dead if self.fail else self.real)[name]


def test_a_database_outage_during_relay_leaves_the_event_pending(database):
    store = Store(database)
    store.create("things", {"_id": "t3"}, events=[state.event("thing_happened", k=1)])
    dead = make_client("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300")[database.name]
    flaky = FlakyDatabase(database, dead)
    published = []

    def publish_then_outage(event_type, **body):
        published.append(body["event_id"])
        flaky.fail = True  # acknowledged by the broker, then the database goes away before the $unset

    assert state.relay(flaky, publish_then_outage) == 0  # never raises
    assert len(database.things.find_one({"_id": "t3"})["outbox"]) == 1
    assert database[state.PENDING].count_documents({}) == 1
    again = []
    assert state.relay(database, lambda t, **body: again.append(body["event_id"])) == 1
    assert again == published  # published again with the same event_id: consumers de-duplicate
    assert database.things.find_one({"_id": "t3"})["outbox"] == {}
    assert database[state.PENDING].count_documents({}) == 0


def test_a_keyed_create_repeated_or_concurrent_makes_one_document(database):
    """Issue 18: a create retried with its idempotency key after a timeout (or sent twice at once) makes
    one document; the repeats get the first (or, while it still runs, a Conflict to try again)."""
    key = state.request_key("M1", "k-1")
    counter = iter(range(100))

    def create_once(_=None):
        store = Store(database)
        try:
            return store.once(
                key,
                "things",
                lambda: store.create("things", {"_id": f"t{next(counter)}"}, events=[state.event("made")]),
                lambda first: first,
            )["_id"]
        except Conflict:
            return "conflict"

    pool = eventlet.GreenPool(6)
    outcomes = list(pool.imap(create_once, range(6)))
    made = [o for o in outcomes if o != "conflict"]
    assert len(set(made)) == 1 and database.things.count_documents({}) == 1
    assert create_once() == made[0]  # a later retry gets the first
    assert state.request_key("M2", "k-1") != key  # another person's key is another request


def test_a_keyed_create_whose_first_attempt_died_is_taken_over_after_the_lease(database):
    key = state.request_key("M1", "k-2")
    long_ago = state.now() - state.REQUEST_LEASE - timedelta(seconds=5)
    database[state.REQUESTS].insert_one({"_id": key, "at": long_ago, "collection": None, "doc_id": None})
    store = Store(database)
    made = store.once(key, "things", lambda: store.create("things", {"_id": "t9"}), lambda first: first)
    assert made["_id"] == "t9"
    assert database[state.REQUESTS].find_one({"_id": key})["doc_id"] == "t9"


def test_a_keyed_create_that_meets_another_documents_id_never_returns_that_document(database):
    database.things.insert_one({"_id": "taken", "_v": 0, "by": "someone else"})
    key = state.request_key("M1", "k-3")
    store = Store(database)
    with pytest.raises(DuplicateKeyError):
        store.once(key, "things", lambda: store.create("things", {"_id": "taken"}), lambda first: first)
    assert database[state.REQUESTS].find_one({"_id": key}) is None  # the key is free again
    made = store.once(key, "things", lambda: store.create("things", {"_id": "mine"}), lambda first: first)
    assert made["_id"] == "mine"
