"""MongoDB storage: one DependencyProvider for every service (STYLE.md rule 2).

A service declares a :class:`Store` subclass with domain-named methods and its indexes, and injects it::

    class MembersStore(Store):
        indexes = {"members": [IndexModel("id_hash", unique=True)]}
        def get_member(self, member_id): ...

    class MembersService:
        name = "members"
        store = Mongo(MembersStore)

The client is made in ``setup()`` from the nameko config key ``MONGO_URI``; the database is named after
the service (with the optional ``MONGO_DB_PREFIX``, which tests use for isolation); declared indexes are
created idempotently at ``start()``; the client is closed at ``stop()``/``kill()``.

What the local server (FerretDB 1.24, SQLite backend) can and cannot do is measured in ``docs/storage.md``:
only ``_id`` equality is answered from an index, so hot paths address documents by ``_id``; a ``$group``
stage computes only its first ``$sum`` accumulator, so group with one accumulator per stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from nameko.extensions import DependencyProvider
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib import state
from dmlib.audit import Audit
from dmlib.errors import ServiceError

DEFAULT_MONGO_URI = "mongodb://127.0.0.1:27017/"
T = TypeVar("T")


class Store:
    """Base of the per-service store: domain-named methods over one database.

    ``indexes`` maps a collection name to the :class:`pymongo.IndexModel` list it needs.
    """

    indexes: ClassVar[dict[str, list[IndexModel]]] = {}

    def __init__(self, db: Database, *, service: str | None = None, request_id: str | None = None):
        self.db = db
        self.batches: list[str] = []  # outbox batches this worker committed, for the immediate relay
        self.service = service  # the service name and the gateway's request id: for audit entries
        self.request_id = request_id
        self._keyed: tuple[str, str] | None = None  # the keyed create under way (Store.once)

    # --- the one way to change state (dmlib.state; docs/architecture.md, "Changing state") ----------
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
        audit: Audit | None = None,
    ) -> dict:
        """A guarded, versioned update with its events in the document's outbox
        (:func:`dmlib.state.update`); returns the document after. Raises NotFound or Conflict.
        ``audit``: a change made for a person; its audit entry commits with it (:mod:`dmlib.audit`)."""
        recorder = None
        if audit is not None:

            def recorder(before: dict) -> dict:
                return audit.event(before, set, inc, service=self.service, request_id=self.request_id)

        doc, batch = state.update(
            self.db,
            collection,
            doc_id,
            expect=expect,
            set=set,
            inc=inc,
            events=events,
            conflict=conflict,
            audit=recorder,
        )
        if batch:
            self.batches.append(batch)
        return doc

    def create(
        self,
        collection: str,
        doc: Mapping[str, Any],
        *,
        events: Iterable[Mapping[str, Any]] = (),
        audit: Audit | None = None,
    ):
        """Insert a new document (``_v`` 0) with its events (:func:`dmlib.state.insert`); returns it.
        A duplicate ``_id`` raises pymongo's ``DuplicateKeyError``. ``audit``: a creation made for a
        person; its audit entry (the new document's fields) commits with it (:mod:`dmlib.audit`)."""
        keyed = None
        if self._keyed is not None and self._keyed[1] == collection:  # Store.once: name it first
            keyed, self._keyed = self._keyed[0], None
            state.bind_request(self.db, keyed, collection, doc["_id"])
        entry = None
        if audit is not None:
            entry = audit.event(None, doc, service=self.service, request_id=self.request_id)
        try:
            full, batch = state.insert(self.db, collection, doc, events=events, audit=entry)
        except DuplicateKeyError:
            if keyed is not None:  # that _id is another request's document, not this one's
                state.unbind_request(self.db, keyed)
            raise
        if batch:
            self.batches.append(batch)
        return full

    def once(
        self,
        key: str | None,
        collection: str,
        create: Callable[[], T],
        first: Callable[[dict], T],
    ) -> T:
        """A create that a client may retry, made once per idempotency key (:func:`dmlib.state.begin_request`).

        ``key``: :func:`dmlib.state.request_key` of the actor and the client's key (None: no key, just
        ``create()``). A repeat returns ``first(document)`` of the document the first request inserted
        into ``collection`` (its first :meth:`create` there, bound to the key just before the insert);
        Conflict while the first still runs. An error before that insert frees the key again."""
        if key is None:
            return create()
        done = state.begin_request(self.db, key)
        if done is not None:
            return first(done)
        self._keyed = (key, collection)
        try:
            return create()
        except BaseException:
            self._keyed = None
            state.drop_request(self.db, key)
            raise
        finally:
            self._keyed = None

    def relay(self, publish: Callable[..., Any], *, mine: bool = False) -> int:
        """Publish pending outbox events with ``publish`` (``Events.publish``): with ``mine``, only those
        this store committed (the immediate attempt after a commit), else every pending one (the timer).
        Never raises; what fails stays pending (:func:`dmlib.state.relay`)."""
        if mine:
            batches, self.batches = self.batches, []
            return state.relay(self.db, publish, batches=batches) if batches else 0
        return state.relay(self.db, publish)

    @classmethod
    def ensure_indexes(cls, db: Database) -> None:
        """Create the declared indexes; creating an existing index is a no-op on MongoDB and FerretDB.

        One index per command: FerretDB 1.24.2 panics (and drops the connection) when one
        ``createIndexes`` names two or more indexes that already exist, i.e. at every restart of a
        service whose collection has two indexes (measured 2026-11-21; one at a time is fine)."""
        for collection, models in cls.indexes.items():
            for model in models:
                db[collection].create_indexes([model])


def make_client(uri: str) -> MongoClient:
    """A pymongo client with bounded waits: a server that is down fails the call within ~3 s."""
    return MongoClient(
        uri,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        socketTimeoutMS=60000,
        tz_aware=True,
        uuidRepresentation="standard",
    )


def database_name(config: dict, service_name: str) -> str:
    """The database of a service: ``MONGO_DB_PREFIX`` + service name (ASCII, DESIGN.md §6)."""
    return f"{config.get('MONGO_DB_PREFIX') or ''}{service_name}"


class Mongo(DependencyProvider):
    """Injects an instance of ``store_cls`` bound to the service's own database."""

    def __init__(self, store_cls: type[Store], **kwargs):
        self.store_cls = store_cls
        super().__init__(**kwargs)

    def setup(self) -> None:
        config = self.container.config
        self.client = make_client(config.get("MONGO_URI") or DEFAULT_MONGO_URI)
        self.db = self.client[database_name(config, self.container.service_name)]

    def start(self) -> None:
        self.store_cls.ensure_indexes(self.db)

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx) -> Store:
        return self.store_cls(
            self.db, service=self.container.service_name, request_id=request_id_of(worker_ctx)
        )


def request_id_of(worker_ctx) -> str | None:
    """The request a worker serves: context data ``request_id`` (set by the gateway's entrypoint for
    each HTTP request and carried along every RPC and event that follows), else the first call id of
    the worker's call chain (a command-line tool, a timer)."""
    data = getattr(worker_ctx, "data", None) or {}
    if data.get("request_id"):
        return str(data["request_id"])
    stack = getattr(worker_ctx, "call_id_stack", None) or []
    return stack[0] if stack else None
