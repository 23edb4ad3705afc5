"""One in-memory fake of the contract of :class:`dmlib.storage.Store` (``change``/``create`` over
:mod:`dmlib.state`), shared by every ``tests/unit/*_fakes.py`` store (each subclasses it and adds its
service's domain-named methods).

The contract, as dmlib.state implements it on MongoDB and FerretDB:

- ``change``: the filter is ``_id`` plus ``expect`` (equality, a missing field being None, an array field
  matching when it holds the value; ``$ne``, ``$in``, ``$nin``, ``$exists``); ``set`` of dotted paths
  writes nested fields and ``inc`` adds to (nested) counters, a missing one counting as 0; ``_v`` +1; the
  events, then the ``change_recorded`` event of ``audit=`` (made from the document before), go into the
  document's ``outbox``. A missing ``_id`` raises NotFound; a failed ``expect`` raises what
  ``conflict(current document)`` returns (default :func:`dmlib.state.default_conflict`); nothing is
  written on a refusal.
- ``create``: ``_v`` 0, its events (and the audit event of the new fields) in the outbox; a duplicate
  ``_id`` raises pymongo's ``DuplicateKeyError`` and writes nothing.
- ``relay``: publishes every outbox entry (to ``publish``, else into :attr:`published`) and empties them.

What a test reads: ``events`` (every event ever committed, ``(type, body)`` in commit order),
``committed(type)``, ``pending_events()``, ``writes`` (successful writes), ``batches``. ``once``: keyed
creates as :meth:`dmlib.storage.Store.once` (``clock`` times the lease). Hooks for a
subclass: :meth:`_attempt` (before each write: outages, crashes) and :meth:`_unique` (extra unique
indexes)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from dmlib.errors import NotFound, ServiceError
from dmlib.state import REQUEST_LEASE, REQUESTS, default_conflict, in_progress

_MISSING = object()


def _get(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or ``_MISSING``."""
    for part in path.split("."):
        if not isinstance(doc, Mapping) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


def _equal(have: Any, want: Any) -> bool:
    have = None if have is _MISSING else have
    return have == want or (isinstance(have, list) and want in have)


def matches(doc: Mapping[str, Any], expect: Mapping[str, Any]) -> bool:
    """Whether ``doc`` matches the filter ``expect`` (the subset of MongoDB's filter language the use
    cases use, with MongoDB's meaning: a missing field equals None, an array matches a member)."""
    for key, want in expect.items():
        have = _get(doc, key)
        if isinstance(want, Mapping) and want and all(k.startswith("$") for k in want):
            for op, arg in want.items():
                if op == "$ne" and _equal(have, arg):
                    return False
                if op == "$in" and not any(_equal(have, a) for a in arg):
                    return False
                if op == "$nin" and any(_equal(have, a) for a in arg):
                    return False
                if op == "$exists" and (have is not _MISSING) != bool(arg):
                    return False
                if op not in ("$ne", "$in", "$nin", "$exists"):
                    raise NotImplementedError(f"fake store: filter operator {op}")
        elif not _equal(have, want):
            return False
    return True


def _set_path(doc: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    doc[last] = value


def _inc_path(doc: dict, path: str, n: int) -> None:
    *parents, last = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    doc[last] = (doc.get(last) or 0) + n


class FakeStore:
    """In memory: ``collections[name][_id]`` (see the module docstring for the contract)."""

    #: the service name given to audit entries (as ``Store.service``)
    service = "fake"
    #: whether ``writes`` counts the successful change/create writes (a subclass may count its own way)
    count_writes = True

    def __init__(self) -> None:
        self.collections: dict[str, dict[Any, Any]] = {}
        self.events: list[tuple[str, dict]] = []  # every event committed (audit included), in order
        self.published: list[tuple[str, dict]] = []  # what relay() sent without a publish function
        self.batches: list[str] = []  # one per write with events, as Store.batches
        self.writes = 0
        self._keyed: tuple[str, str] | None = None  # the keyed create under way (once)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # for REQUEST_LEASE

    def col(self, name: str) -> dict[Any, Any]:
        return self.collections.setdefault(name, {})

    # --- hooks ---------------------------------------------------------------------------------------
    def _attempt(self, op: str, collection: str) -> None:
        """Called before every change/create ("change" or "create"): raise here to fake an outage."""

    def _unique(self, collection: str, doc: Mapping[str, Any]) -> None:
        """Raise DuplicateKeyError here for a unique index other than ``_id``."""

    # --- the one way to change state -----------------------------------------------------------------
    def change(
        self,
        collection: str,
        doc_id: Any,
        *,
        expect: Mapping[str, Any] | None = None,
        set: Mapping[str, Any] | None = None,  # noqa: A002 (the MongoDB operator's name)
        inc: Mapping[str, int] | None = None,
        events: Iterable[Mapping[str, Any]] = (),
        conflict: Callable[[dict], ServiceError] | None = None,
        audit=None,
    ) -> dict:
        self._attempt("change", collection)
        doc = self.col(collection).get(doc_id)
        if doc is None:
            raise NotFound(f"no {collection} {doc_id} / 对象不存在", details={"id": doc_id})
        expect = dict(expect or {})
        if not matches(doc, expect):
            raise (conflict or default_conflict(collection, doc_id, expect))(copy.deepcopy(doc))
        before = copy.deepcopy(doc)
        for path, value in (set or {}).items():
            _set_path(doc, path, copy.deepcopy(value))
        for path, n in {"_v": 1, **(inc or {})}.items():
            _inc_path(doc, path, n)
        audited = [audit.event(before, set, inc, service=self.service, request_id=None)] if audit else []
        self._commit(collection, doc, [*events, *audited])
        return copy.deepcopy(doc)

    def create(
        self,
        collection: str,
        doc: Mapping[str, Any],
        *,
        events: Iterable[Mapping[str, Any]] = (),
        audit=None,
    ) -> dict:
        self._attempt("create", collection)
        if doc["_id"] in self.col(collection):
            raise DuplicateKeyError(f"E11000 duplicate key {collection} {doc['_id']}")
        self._unique(collection, doc)
        if self._keyed is not None and self._keyed[1] == collection:  # Store.once: name it first
            self.col(REQUESTS)[self._keyed[0]].update(collection=collection, doc_id=doc["_id"])
            self._keyed = None
        full = {**copy.deepcopy(dict(doc)), "_v": 0}
        self.col(collection)[doc["_id"]] = full
        audited = [audit.event(None, doc, service=self.service, request_id=None)] if audit else []
        self._commit(collection, full, [*events, *audited])
        return copy.deepcopy(full)

    def _commit(self, collection: str, doc: dict, events: Iterable[Mapping[str, Any]]) -> None:
        if self.count_writes:
            self.writes += 1
        events = [copy.deepcopy(dict(e)) for e in events]
        for e in events:
            doc.setdefault("outbox", {})[e["body"]["event_id"]] = e
            self.events.append((e["type"], e["body"]))
        if events:
            self.batches.append(f"{collection}:{doc['_id']}:{len(self.events)}")

    # --- keyed creates (Store.once, dmlib.state.begin_request) -----------------------------------------
    def once(self, key: str | None, collection: str, create: Callable[[], Any], first: Callable[[dict], Any]):
        """A create made once per idempotency key: a repeat returns ``first`` of the document the first
        request inserted into ``collection``; Conflict while a record names no document yet and is
        younger than REQUEST_LEASE (:attr:`clock`); an error before the insert frees the key."""
        if key is None:
            return create()
        requests = self.col(REQUESTS)
        seen = requests.get(key)
        if seen is not None:
            done = self.col(seen["collection"]).get(seen["doc_id"]) if seen["doc_id"] is not None else None
            if done is not None:
                return first(copy.deepcopy(done))
            if self.clock() - seen["at"] <= REQUEST_LEASE:
                raise in_progress()
        requests[key] = {"_id": key, "at": self.clock(), "collection": None, "doc_id": None}
        self._keyed = (key, collection)
        try:
            return create()
        except BaseException:
            rec = requests.get(key) or {}
            if rec.get("doc_id") is None or rec["doc_id"] not in self.col(rec["collection"]):
                requests.pop(key, None)
            raise
        finally:
            self._keyed = None

    # --- what tests read -----------------------------------------------------------------------------
    def committed(self, event_type: str | None = None) -> list[tuple[str, dict]]:
        """Every committed event ``(type, body)`` (of one type), oldest first."""
        return [(t, b) for t, b in self.events if event_type in (None, t)]

    def pending_events(self) -> list[tuple[str, dict]]:
        """Committed but not yet relayed: ``(type, body)`` of every outbox entry."""
        return [
            (e["type"], e["body"])
            for col in self.collections.values()
            for d in col.values()
            if isinstance(d, dict)
            for e in d.get("outbox", {}).values()
        ]

    def relay(self, publish=None, *, mine: bool = False) -> int:
        """Publish every outbox entry (to ``publish(type, **body)`` or :attr:`published`) and empty the
        outboxes; returns how many."""
        done = 0
        for col in self.collections.values():
            for doc in col.values():
                if not isinstance(doc, dict):
                    continue
                for entry in doc.pop("outbox", {}).values():
                    if publish is None:
                        self.published.append((entry["type"], entry["body"]))
                    else:
                        publish(entry["type"], **entry["body"])
                    done += 1
        self.batches = []
        return done
