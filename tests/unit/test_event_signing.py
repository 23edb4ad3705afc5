"""dmlib.events: the signed envelope, what verification refuses, the keys' config and the replay record
(with a hand-written fake of the one collection it uses). Over the real broker: tests/adversarial."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from pymongo.errors import DuplicateKeyError

from dmlib.events import (
    PUBLIC_KEYS_CONFIG,
    RUNNING_LEASE,
    begin_handling,
    event_keys,
    finish_handling,
    load_private_key,
    private_key_config,
    require_public_keys,
    require_signing_key,
    signed_envelope,
    verify_envelope,
)

KEYS = event_keys(["voting", "congress"])
VOTING = load_private_key(KEYS["EVENT_KEY_VOTING"])
CONGRESS = load_private_key(KEYS["EVENT_KEY_CONGRESS"])
PUBLIC = require_public_keys(KEYS, ["voting", "congress"])
PAYLOAD = {"poll_id": "p1", "owner": "congress", "ref": "s1-i1", "counts": {"yes": 2, "no": 0}, "ballots": 2}


def verify(body, source="voting", event_type="poll_closed", **kw):
    return verify_envelope(body, source, event_type, PUBLIC[source], **kw)


def test_a_genuine_envelope_verifies_and_carries_its_fields():
    body = signed_envelope("voting", "poll_closed", PAYLOAD, VOTING)
    assert body["publisher"] == "voting" and body["event_id"] and body["occurred_at"].endswith("Z")
    assert body["signature"] and {k: body[k] for k in PAYLOAD} == PAYLOAD
    assert verify(body) is None


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda b: "a string", "not an event envelope"),
        (lambda b: {k: v for k, v in b.items() if k != "signature"}, "unsigned"),
        (lambda b: {**b, "counts": {"yes": 120, "no": 0}}, "bad signature"),  # altered payload
        (lambda b: {**b, "event_id": "other"}, "bad signature"),  # the id is signed too
        (lambda b: {**b, "occurred_at": iso(datetime.now(UTC) - timedelta(minutes=1))}, "bad signature"),
        (lambda b: signed_envelope("voting", "poll_closed", PAYLOAD, CONGRESS), "bad signature"),
        (lambda b: signed_envelope("congress", "poll_closed", PAYLOAD, CONGRESS), "publisher 'congress'"),
        (lambda b: signed_envelope("voting", "poll_opened", PAYLOAD, VOTING), "bad signature"),  # other type
        (lambda b: {**b, "signature": "!!"}, "bad signature"),
    ],
)
def test_forged_or_altered_envelopes_are_refused(forge, reason):
    body = signed_envelope("voting", "poll_closed", PAYLOAD, VOTING)
    refused = verify(forge(body))
    assert refused is not None and refused.startswith(reason), refused


def test_age_limits():
    old = iso(datetime.now(UTC) - timedelta(days=15))
    recent = iso(datetime.now(UTC) - timedelta(days=13))
    future = iso(datetime.now(UTC) + timedelta(hours=1))
    assert (
        verify(signed_envelope("voting", "poll_closed", {**PAYLOAD, "occurred_at": recent}, VOTING)) is None
    )
    assert verify(
        signed_envelope("voting", "poll_closed", {**PAYLOAD, "occurred_at": old}, VOTING)
    ).startswith("stale")
    assert "future" in verify(
        signed_envelope("voting", "poll_closed", {**PAYLOAD, "occurred_at": future}, VOTING)
    )
    assert verify(
        signed_envelope("voting", "poll_closed", PAYLOAD, VOTING),
        max_age_s=0.0,
        at=datetime.now(UTC) + timedelta(seconds=1),
    ).startswith("stale")


def test_keys_config_is_checked_and_never_echoed():
    assert require_signing_key(KEYS, "voting").public_key() is not None
    for config, named in [
        ({}, "EVENT_KEY_VOTING"),
        ({"EVENT_KEY_VOTING": "short"}, "EVENT_KEY_VOTING"),
        ({**KEYS, "EVENT_KEY_VOTING": KEYS["EVENT_KEY_CONGRESS"]}, "does not match"),
        ({**KEYS, PUBLIC_KEYS_CONFIG: "voting:nonsense"}, PUBLIC_KEYS_CONFIG),
    ]:
        with pytest.raises(RuntimeError) as refused:
            require_signing_key(config, "voting")
        assert named in str(refused.value)
        assert KEYS["EVENT_KEY_CONGRESS"] not in str(refused.value)
    with pytest.raises(RuntimeError, match="lacks the public key of notify"):
        require_public_keys(KEYS, ["voting", "notify"])
    again = event_keys(["voting", "congress", "notify"], KEYS)  # existing keys are kept, new ones added
    assert (
        again[private_key_config("voting")] == KEYS["EVENT_KEY_VOTING"]
        and "notify:" in again[PUBLIC_KEYS_CONFIG]
    )


class FakeProcessed:
    """The ``processed_events`` collection: insert_one (unique _id), find_one, update_one."""

    def __init__(self):
        self.docs = {}

    def insert_one(self, doc):
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate")
        self.docs[doc["_id"]] = dict(doc)

    def find_one(self, query):
        return self.docs.get(query["_id"])

    def update_one(self, query, change):
        doc = self.docs.get(query["_id"])
        hit = doc is not None and all(doc.get(k) == v for k, v in query.items())
        if hit:
            doc.update(change["$set"])
        return SimpleNamespace(modified_count=int(hit))


class FakeDb:
    def __init__(self):
        self.processed_events = FakeProcessed()


def test_replays_are_refused_but_an_unfinished_event_is_taken_again_when_redelivered():
    db = FakeDb()
    assert begin_handling(db, "h", "e1", redelivered=False) is None  # first time
    assert begin_handling(db, "h", "e1", redelivered=False).startswith("replayed")  # a copy while it runs
    assert begin_handling(db, "h", "e1", redelivered=True) is None  # requeued after an outage, or a crash
    assert begin_handling(db, "other", "e1", redelivered=False) is None  # per handler
    finish_handling(db, "h", "e1")
    assert begin_handling(db, "h", "e1", redelivered=True).startswith("replayed")  # done: never again
    db.processed_events.docs["h:old"] = {"_id": "h:old"}  # recorded by the former first_time
    assert begin_handling(db, "h", "old", redelivered=True).startswith("replayed")


def test_a_running_record_left_by_an_outage_is_taken_again_once_its_lease_is_over():
    """The database went away between the handler's effect and finish_handling: the record stays
    ``running``; a copy within the lease is refused, the first copy after it runs the handler again (and
    renews the lease, so a second late copy is refused)."""
    db, start = FakeDb(), datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert begin_handling(db, "h", "e1", redelivered=False, now=start) is None
    late = start + RUNNING_LEASE + timedelta(seconds=1)
    assert begin_handling(db, "h", "e1", redelivered=False, now=start + RUNNING_LEASE).startswith("replayed")
    assert begin_handling(db, "h", "e1", redelivered=False, now=late) is None
    assert begin_handling(db, "h", "e1", redelivered=False, now=late).startswith("replayed")
    finish_handling(db, "h", "e1")
    after = late + 10 * RUNNING_LEASE
    assert begin_handling(db, "h", "e1", redelivered=False, now=after).startswith("replayed")  # done
