"""Events: facts in the past tense, each in a signed envelope (DESIGN.md §5; catalogue and rules in
docs/events.md).

Publishing: ``Events`` replaces nameko's ``EventDispatcher``: ``self.events.publish("member_registered",
member_id=…)`` sends :func:`signed_envelope` of the payload: the payload plus ``event_id`` (uuid4 hex),
``occurred_at`` (UTC, ISO 8601), ``publisher`` (the service name) and ``signature``, an Ed25519 signature
by the publishing service's own key over :func:`canonical` (publisher, event type and the whole payload,
``event_id`` and ``occurred_at`` included). Publish only after the write it reports has succeeded.

Keys (README, "Configuration"): one Ed25519 key pair per service, so that a service (or anyone holding its
broker account) can speak only for itself. ``EVENT_KEY_<SERVICE>`` (e.g. ``EVENT_KEY_CONGRESS``) is the
service's private key, ``EVENT_PUBLIC_KEYS`` every service's public key (``members:<key>,voting:<key>,…``);
keys are the 32 raw bytes in URL-safe base64 without padding. A service with an ``Events`` dependency
refuses to start without its own private key (or when it does not match its public key), a service with an
event handler without the public key of the handler's source. ``dm keys`` generates them (``make run``
puts them into ``.local/secrets.env``); a container needs only its own private key and the public keys.

Checking (done by :func:`dmlib.rpc.event_handler` for every handler, before it runs):
:func:`verify_envelope` (signed by the declared source service, fresh) and :func:`begin_handling` /
:func:`finish_handling` (not handled before by this handler: replays refused).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from nameko.events import EventDispatcher
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)

PUBLIC_KEYS_CONFIG = "EVENT_PUBLIC_KEYS"
MAX_AGE_CONFIG = "EVENT_MAX_AGE_SECONDS"
#: How old an event may be when a handler takes it: 14 days. Events wait in their durable queues while
#: the subscriber (or its database) is down and in the publisher's outbox while the broker is down; both
#: must survive a long unattended outage (a week-long public holiday such as the National Day "golden
#: week" plus the weekends around it) and still be handled. Anything older is a replay of a captured event.
DEFAULT_MAX_AGE_SECONDS = 14 * 24 * 3600
#: How far ``occurred_at`` may lie in the future (clocks of two hosts disagree a little, not more).
CLOCK_SKEW = timedelta(minutes=5)
#: How long a ``running`` handler record holds off a copy of its event that is not a redelivery
#: (:func:`begin_handling`): longer than any handler runs (each database call gives up after 60 s,
#: each RPC after its timeout), short enough that a record stranded by an outage delays the event only
#: minutes.
RUNNING_LEASE = timedelta(minutes=5)
#: The marker of every log line about a refused event (operators alert on it).
REFUSED = "event refused"


# ----- keys ---------------------------------------------------------------------------------------
def private_key_config(service: str) -> str:
    """The config key of ``service``'s private event key: ``EVENT_KEY_<SERVICE>``."""
    return f"EVENT_KEY_{service.upper()}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_text(key: Ed25519PrivateKey) -> str:
    """The public half of ``key`` as written in ``EVENT_PUBLIC_KEYS``."""
    return _b64(_raw(key.public_key()))


def private_text(key: Ed25519PrivateKey) -> str:
    """``key`` as written in ``EVENT_KEY_<SERVICE>``."""
    return _b64(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A private key from its config text; ``ValueError`` when it is not 32 bytes of base64."""
    try:
        raw = _unb64(str(text))
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError("not an Ed25519 key (32 bytes)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def parse_public_keys(text: str | None) -> dict[str, Ed25519PublicKey]:
    """``EVENT_PUBLIC_KEYS`` (``service:key,service:key``) → ``{service: public key}``.
    ``ValueError`` naming the entry that is not ``service:<32 bytes of base64>``."""
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in str(text or "").replace(";", ",").split(","):
        if not entry.strip():
            continue
        service, _, value = entry.strip().partition(":")
        try:
            raw = _unb64(value)
            if len(raw) != 32:
                raise ValueError
            keys[service.strip()] = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"{PUBLIC_KEYS_CONFIG}: the entry for {service.strip()!r} is not a key"
            ) from None
    return keys


def _hint() -> str:
    return "see README, 'Configuration'; `make run` generates them into .local/secrets.env (`dm keys`)"


def require_signing_key(config: dict, service: str) -> Ed25519PrivateKey:
    """``service``'s private key from the nameko config, checked: present, a key, and (when
    ``EVENT_PUBLIC_KEYS`` names the service) the private half of that public key. Raises
    ``RuntimeError`` naming the config key, never the value: the service does not start."""
    name = private_key_config(service)
    text = config.get(name)
    if not text:
        raise RuntimeError(f"{name} must be set: the service signs its events with it ({_hint()})")
    try:
        key = load_private_key(text)
    except ValueError as exc:
        raise RuntimeError(f"{name} is not an Ed25519 private key: {exc} ({_hint()})") from None
    published = require_public_keys(config, ()).get(service)
    if published is not None and _raw(published) != _raw(key.public_key()):
        raise RuntimeError(
            f"{name} does not match the key of {service!r} in {PUBLIC_KEYS_CONFIG} ({_hint()})"
        )
    return key


def require_public_keys(config: dict, services: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """Every public key of ``EVENT_PUBLIC_KEYS``, checked to name each of ``services``; else
    ``RuntimeError`` (the service does not start)."""
    try:
        keys = parse_public_keys(config.get(PUBLIC_KEYS_CONFIG))
    except ValueError as exc:
        raise RuntimeError(f"{exc} ({_hint()})") from None
    missing = sorted(set(services) - set(keys))
    if missing:
        raise RuntimeError(
            f"{PUBLIC_KEYS_CONFIG} lacks the public key of {', '.join(missing)}: their events cannot be "
            f"verified ({_hint()})"
        )
    return keys


def event_keys(services: Iterable[str], existing: dict[str, str] | None = None) -> dict[str, str]:
    """Config entries for ``services``: ``EVENT_KEY_<SERVICE>`` for each (kept from ``existing`` when
    present there, generated otherwise) and ``EVENT_PUBLIC_KEYS`` derived from every private key."""
    existing = existing or {}
    out: dict[str, str] = {}
    for service in services:
        name = private_key_config(service)
        out[name] = existing.get(name) or private_text(Ed25519PrivateKey.generate())
    out[PUBLIC_KEYS_CONFIG] = ",".join(
        f"{service}:{public_text(load_private_key(out[private_key_config(service)]))}" for service in services
    )
    return out


# ----- envelopes ----------------------------------------------------------------------------------
def now_iso() -> str:
    """Now, UTC, ISO 8601 with milliseconds and ``Z`` (the form of ``occurred_at``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical(publisher: str, event_type: str, payload: dict) -> bytes:
    """The bytes a signature covers: ``{"event_type", "payload", "publisher"}`` as JSON with sorted keys,
    no spaces, UTF-8 (``payload`` without ``signature``). A payload must be JSON as it travels (str, int,
    float, bool, None, lists, dicts with string keys): anything else is a ``TypeError`` here, at publish."""
    body = {k: v for k, v in payload.items() if k != "signature"}
    return json.dumps(
        {"event_type": event_type, "payload": body, "publisher": publisher},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode()


def envelope(**payload: Any) -> dict[str, Any]:
    """The payload with ``event_id`` (uuid4 hex) and ``occurred_at`` (:func:`now_iso`) added, kept if
    already present: what an outbox records at the commit (``dmlib.state.event``), signed when relayed."""
    payload.setdefault("event_id", uuid.uuid4().hex)
    payload.setdefault("occurred_at", now_iso())
    return payload


def signed_envelope(publisher: str, event_type: str, payload: dict, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The message body of an event: ``payload`` with ``event_id`` and ``occurred_at`` (kept if already
    there), ``publisher`` and ``signature`` (URL-safe base64 of the Ed25519 signature of
    :func:`canonical`). Needs no nameko worker (an outbox relay can call it)."""
    body = envelope(**payload)
    body.pop("signature", None)
    body["publisher"] = publisher
    body["signature"] = _b64(key.sign(canonical(publisher, event_type, body)))
    return body


def verify_envelope(
    body: Any,
    source: str,
    event_type: str,
    public_key: Ed25519PublicKey,
    max_age_s: float = DEFAULT_MAX_AGE_SECONDS,
    at: datetime | None = None,
) -> str | None:
    """Why an event that claims to come from ``source`` must be refused, or None when it may be handled:
    not an envelope, unsigned, published by another service, a bad signature (forged, altered, or signed
    with another service's key), no usable ``event_id``/``occurred_at``, older than ``max_age_s`` or from
    the future (beyond :data:`CLOCK_SKEW`). Replays are :func:`begin_handling`'s business."""
    if not isinstance(body, dict):
        return "not an event envelope"
    signature = body.get("signature")
    if not signature or not isinstance(signature, str):
        return "unsigned"
    if body.get("publisher") != source:
        return f"publisher {body.get('publisher')!r} is not the source service"
    try:
        public_key.verify(_unb64(signature), canonical(source, event_type, body))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return f"bad signature: not signed with {source}'s key"
    event_id = body.get("event_id")
    if not event_id or not isinstance(event_id, str):
        return "no event_id"
    try:
        occurred = datetime.fromisoformat(str(body.get("occurred_at")).replace("Z", "+00:00"))
    except ValueError:
        return "no valid occurred_at"
    if occurred.tzinfo is None:
        return "occurred_at without a time zone"
    at = at or datetime.now(UTC)
    if occurred < at - timedelta(seconds=max_age_s):
        return f"stale: occurred_at {body['occurred_at']} is older than {max_age_s:.0f} s"
    if occurred > at + CLOCK_SKEW:
        return f"occurred_at {body['occurred_at']} lies in the future"
    return None


# ----- replays ------------------------------------------------------------------------------------
def begin_handling(
    db: Database, handler: str, event_id: str, redelivered: bool, *, now: datetime | None = None
) -> str | None:
    """Record that ``handler`` takes ``event_id`` (collection ``processed_events``, ``_id`` =
    ``<handler>:<event id>``, one atomic insert). Returns why it must be refused, or None:

    - never seen: recorded as ``running``, handled;
    - ``done`` (or recorded by the former ``first_time``): a replay, refused;
    - ``running`` and the broker redelivers the message (``redelivered``: requeued after
      ``ServiceUnavailable``, or unacknowledged when a worker or connection died): handled again, since the
      first attempt did not finish; a copy published anew (not redelivered) while it runs is refused;
    - ``running`` for longer than :data:`RUNNING_LEASE` (its worker died, or the database went away
      between the handler's effect and :func:`finish_handling`, so the record was never marked ``done``):
      any copy takes it again, once (the lease is renewed by a write guarded by the ``at`` it read, so two
      late copies do not both run). Handlers are idempotent by their own guards, so running one again
      after an effect that did happen changes nothing; without the lease such a record refused every
      later copy for ever.

    ``redelivered`` is set by RabbitMQ, not by whoever publishes, so a replay cannot claim it. ``now``:
    the time (tests pass a fixed clock).
    """
    now = now or datetime.now(UTC)
    key = f"{handler}:{event_id}"
    try:
        db.processed_events.insert_one({"_id": key, "state": "running", "at": now})
        return None
    except DuplicateKeyError:
        pass
    seen = db.processed_events.find_one({"_id": key}) or {}
    if seen.get("state") != "running":
        return "replayed: this handler has already taken this event_id"
    if redelivered:
        return None
    started = seen.get("at")
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    if started is not None and now - started > RUNNING_LEASE:
        taken = db.processed_events.update_one(
            {"_id": key, "state": "running", "at": seen["at"]}, {"$set": {"at": now}}
        )
        if taken.modified_count == 1:
            return None
    return "replayed: this handler has already taken this event_id"


def finish_handling(db: Database, handler: str, event_id: str) -> None:
    """Mark ``handler``'s record of ``event_id`` ``done``: from now on the event is a replay."""
    db.processed_events.update_one(
        {"_id": f"{handler}:{event_id}"}, {"$set": {"state": "done", "done_at": datetime.now(UTC)}}
    )


class Events(EventDispatcher):
    """Injects an object with ``publish(event_type, **payload) -> event_id`` that sends the payload in a
    :func:`signed_envelope` signed with this service's key (``EVENT_KEY_<SERVICE>``, required at start)."""

    def setup(self) -> None:
        self.signing_key = require_signing_key(self.container.config, self.container.service_name)
        super().setup()

    def get_dependency(self, worker_ctx):
        dispatch = super().get_dependency(worker_ctx)
        publisher, key = self.container.service_name, self.signing_key

        class Publisher:
            @staticmethod
            def publish(event_type: str, **payload: Any) -> str:
                body = signed_envelope(publisher, event_type, payload, key)
                dispatch(event_type, body)
                return body["event_id"]

        return Publisher()
