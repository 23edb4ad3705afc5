"""RPC on both sides, with one error mapping and a timeout (DESIGN.md §5, §9).

Serving: :func:`rpc` replaces ``nameko.rpc.rpc``. It declares :data:`dmlib.errors.EXPECTED` as expected
exceptions and maps, at the service boundary, what would otherwise cross as an untyped 500:

- wrong arguments (missing, unexpected, or of another type than the method's annotation says: a
  ``{"$regex": …}`` where a ``str`` id is expected never reaches pymongo; :func:`argument_checks`) and
  marshmallow ``ValidationError`` → :class:`BadInput` with a field message;
- the database unreachable (pymongo ``ConnectionFailure``) → :class:`ServiceUnavailable`.

Calling: :class:`Rpc` replaces ``nameko.rpc.RpcProxy``. nameko has no default RPC timeout, so every call
waits at most ``RPC_TIMEOUT`` seconds (config, default 10) and then raises :class:`ServiceUnavailable`;
the request message carries the same expiry, so a request nobody took in time is dropped by RabbitMQ
rather than executed after the caller gave up. A call to a service that is not running at all fails at
once (nameko's ``UnknownService``) and maps to :class:`ServiceUnavailable` too.

Broker failures (docs/architecture.md, "Failures"; drilled by tests/drills): a worker whose reply (or
event) cannot be published because RabbitMQ went away must not take its service down. nameko 2.14 sends
the RPC reply in ``handle_result``, outside the worker, and an error there kills the whole container
(its consumers are gone for good while the process lives on). :class:`ResilientRpc` logs it instead: the
request message stays unacknowledged, RabbitMQ requeues it, and nameko's consumer reconnects by itself
and runs it again (handlers are idempotent; a ballot meets its own insert and answers 409) unless its
expiry (the caller's timeout) has passed. An event that cannot be published inside a worker maps to
:class:`ServiceUnavailable` (503) like every other broker error.

Event handlers (:func:`event_handler`) whose work fails with :class:`ServiceUnavailable` (the database or
a called service unreachable) put the event back in their queue instead of acknowledging it: nameko
acknowledges a failed event by default, and such an event was lost for good. It is retried until the
dependency answers again (each attempt is bounded by the database's and RPC's timeouts); other errors
are acknowledged as before, so a bug does not loop.

Every event is checked before its handler runs (:class:`VerifiedEventHandler`, docs/events.md,
"Verification"): the envelope must be signed by the handler's declared source service
(:func:`dmlib.events.verify_envelope`), fresh (``EVENT_MAX_AGE_SECONDS``), and not taken by this handler
before (:func:`dmlib.events.begin_handling`, the former per-handler ``first_time``, now here so that no
handler can forget it). A refused event changes nothing: no worker runs, an ERROR (forged, stale) or
WARNING (replayed) line starting with ``event refused`` names the handler, source, event id and reason,
and the message is acknowledged, never requeued.
"""

from __future__ import annotations

import functools
import inspect
import logging
import types
import typing

import eventlet
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from nameko.events import BROADCAST, EventHandler
from nameko.exceptions import UnknownService
from nameko.messaging import Consumer
from nameko.rpc import ReplyListener, RpcConsumer, RpcProxy
from nameko.rpc import Rpc as NamekoRpc
from pymongo.errors import ConnectionFailure

from dmlib.errors import EXPECTED, BadInput, ServiceUnavailable
from dmlib.events import (
    DEFAULT_MAX_AGE_SECONDS,
    MAX_AGE_CONFIG,
    REFUSED,
    begin_handling,
    finish_handling,
    require_public_keys,
    verify_envelope,
)
from dmlib.queues import reply_queue, shared_queue
from dmlib.storage import Mongo

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 10.0


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


def _accepts(annotation) -> tuple[type, ...] | None:
    """The JSON types an argument annotated ``annotation`` may take (None: not checked)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [_accepts(a) for a in typing.get_args(annotation)]
        return None if any(p is None for p in parts) else tuple(t for p in parts for t in p)
    if annotation is type(None):
        return (type(None),)
    base = origin or annotation
    if base is float:
        return (int, float)
    return (base,) if base in _TYPE_NAMES else None


def argument_checks(fn) -> dict[str, tuple[type, ...]]:
    """``{argument: accepted types}`` from ``fn``'s annotations (``str``, ``int``, ``bool``, ``dict``,
    ``list``, ``float``, their ``| None``); an argument annotated otherwise (or not) is not checked."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - an annotation that cannot be resolved is simply not checked
        return {}
    hints.pop("return", None)
    return {name: t for name, hint in hints.items() if (t := _accepts(hint)) is not None}


def _wrong_type(value, accepted: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in accepted:
        return True  # True is an int to Python, not to a caller
    return not isinstance(value, accepted)


def invalid(exc: ValidationError) -> BadInput:
    """The :class:`BadInput` of a marshmallow ``ValidationError`` (its field messages)."""
    return BadInput(
        "invalid input / 输入有误",
        fields=exc.messages_dict if isinstance(exc.messages, dict) else {"_schema": exc.messages},
    )


def _boundary(fn):
    """Translate argument, validation and database errors into typed errors."""
    signature = inspect.signature(fn)
    checks = argument_checks(fn)

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise BadInput(f"{fn.__name__}: {exc}") from None
        wrong = {
            name: [f"must be {' or '.join(_TYPE_NAMES.get(t, 'null') for t in checks[name])}"]
            for name, value in bound.arguments.items()
            if name in checks and _wrong_type(value, checks[name])
        }
        if wrong:
            raise BadInput("invalid input / 输入有误", fields=wrong)
        try:
            return fn(self, *args, **kwargs)
        except ValidationError as exc:
            raise invalid(exc) from None
        except ConnectionFailure as exc:
            log.warning("database unavailable in %s: %s", fn.__name__, exc)
            raise ServiceUnavailable(
                "database unavailable, try again shortly / 数据库暂不可用，请稍后再试"
            ) from None
        except OperationalError as exc:  # an event publish (or a reply) with the broker gone
            log.warning("message broker unavailable in %s: %s", fn.__name__, exc)
            raise ServiceUnavailable("message broker unavailable / 消息服务暂不可用") from None

    return wrapper


class QuorumRpcConsumer(RpcConsumer):
    """nameko's consumer of a service's RPC queue, declared as ``AMQP_QUEUE_TYPE`` says
    (:func:`dmlib.queues.shared_queue`: a quorum queue on a cluster)."""

    def setup(self):
        super().setup()
        self.queue = shared_queue(self.queue, self.container.config)


class ResilientRpc(NamekoRpc):
    """nameko's RPC entrypoint whose reply, when the broker is gone, is given up (logged), not fatal;
    its queue is declared by :class:`QuorumRpcConsumer`."""

    rpc_consumer = QuorumRpcConsumer()

    def handle_result(self, message, worker_ctx, result, exc_info):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except (OperationalError, OSError) as exc:
            log.warning(
                "reply of %s not sent, message broker unavailable (%s): the request is redelivered",
                worker_ctx.entrypoint.method_name,
                exc,
            )
            return result, exc_info


def rpc(fn=None, **kwargs):
    """``@rpc`` for service methods: typed errors, argument check, ``expected_exceptions`` set."""
    kwargs.setdefault("expected_exceptions", EXPECTED)

    def decorate(f):
        return ResilientRpc.decorator(**kwargs)(_boundary(f))

    return decorate(fn) if fn is not None else decorate


class RetryingEventHandler(EventHandler):
    """nameko's event handler that requeues an event whose handling met :class:`ServiceUnavailable`,
    and survives an acknowledgement lost with the broker (the event is redelivered; handlers are
    idempotent). Its queue is declared as ``AMQP_QUEUE_TYPE`` says (:func:`dmlib.queues.shared_queue`)."""

    def setup(self):
        super().setup()  # nameko makes self.queue and registers with the queue consumer (declared at start)
        self.queue = shared_queue(self.queue, self.container.config)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        try:
            if exc_info is not None and issubclass(exc_info[0], ServiceUnavailable):
                log.warning(
                    "%s: %s; the event goes back to the queue", worker_ctx.entrypoint.method_name, exc_info[1]
                )
                self.queue_consumer.requeue_message(message)
                return result, exc_info
            return super().handle_result(message, worker_ctx, result, exc_info)
        except (OperationalError, OSError) as exc:
            log.warning(
                "%s: message broker unavailable (%s); the event is redelivered",
                worker_ctx.entrypoint.method_name,
                exc,
            )
            return result, exc_info


class ResilientReplyListener(ReplyListener):
    """nameko's listener for RPC replies, which acknowledges each reply before handing it to the caller:
    an acknowledgement lost with the broker raised out of its thread and killed the calling service (the
    gateway, in the RabbitMQ restart drill). The reply is handed over anyway; nothing is redelivered to
    an exclusive reply queue. The reply queue is transient (:func:`dmlib.queues.reply_queue`: on a cluster
    a durable one could not be declared again after its node died)."""

    def setup(self):
        super().setup()
        self.queue = reply_queue(self.queue)

    def handle_message(self, body, message):
        try:
            self.queue_consumer.ack_message(message)
        except (OperationalError, OSError) as exc:
            log.warning("reply not acknowledged, message broker unavailable (%s)", exc)
        client_event = self._reply_events.pop(message.properties.get("correlation_id"), None)
        if client_event is not None:
            client_event.send(body)


class VerifiedEventHandler(RetryingEventHandler):
    """An event handler that runs only for an event signed by its source service, fresh, and new to it.

    Config: ``EVENT_PUBLIC_KEYS`` must hold the source service's public key and the service must have a
    database (:class:`dmlib.storage.Mongo`, where ``processed_events`` is kept), else the service does
    not start; ``EVENT_MAX_AGE_SECONDS`` (default 14 days, :data:`dmlib.events.DEFAULT_MAX_AGE_SECONDS`).

    A ``BROADCAST`` handler (every process of every service hears the event, e.g. ``token_revoked``)
    keeps no replay record: a record shared by a service's processes would let only the first of them
    act, and such a handler's effect must be idempotent (adding a token id to a set). Signature and
    age are checked all the same, and it needs no database.
    """

    def setup(self) -> None:
        config = self.container.config
        self.public_key = require_public_keys(config, [self.source_service])[self.source_service]
        self.max_age_s = float(config.get(MAX_AGE_CONFIG) or DEFAULT_MAX_AGE_SECONDS)
        self.mongo = next((d for d in self.container.dependencies if isinstance(d, Mongo)), None)
        self.replay_guard = self.handler_type != BROADCAST
        if self.replay_guard and self.mongo is None:
            raise RuntimeError(
                f"{self.container.service_name}.{self.method_name}: an event handler needs the service's "
                "database (dmlib.storage.Mongo) to refuse replayed events"
            )
        super().setup()

    def _refuse(self, body, message, reason: str, level: int) -> None:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        log.log(
            level,
            "%s: handler=%s.%s source=%s event_type=%s event_id=%s reason=%s",
            REFUSED,
            self.container.service_name,
            self.method_name,
            self.source_service,
            self.event_type,
            event_id,
            reason,
        )
        try:
            self.queue_consumer.ack_message(message)
        except (OperationalError, OSError) as exc:  # redelivered later, and refused again
            log.warning("refused event not acknowledged, message broker unavailable (%s)", exc)

    def handle_message(self, body, message):
        reason = verify_envelope(body, self.source_service, self.event_type, self.public_key, self.max_age_s)
        if reason is not None:
            self._refuse(body, message, reason, logging.ERROR)
            return
        if not self.replay_guard:
            super().handle_message(body, message)
            return
        redelivered = bool((message.delivery_info or {}).get("redelivered"))
        try:
            reason = begin_handling(self.mongo.db, self.method_name, body["event_id"], redelivered)
        except ConnectionFailure as exc:
            log.warning(
                "%s: database unavailable (%s); the event goes back to the queue", self.method_name, exc
            )
            self.queue_consumer.requeue_message(message)
            return
        if reason is not None:
            self._refuse(body, message, reason, logging.WARNING)
            return
        super().handle_message(body, message)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        retried = exc_info is not None and issubclass(exc_info[0], ServiceUnavailable)
        if (
            self.replay_guard and not retried
        ):  # done (or failed for good: acknowledged, so never redelivered): now a replay
            try:
                finish_handling(self.mongo.db, self.method_name, worker_ctx.args[0]["event_id"])
            except ConnectionFailure as exc:  # stays "running": a redelivery, or a copy after the lease
                # (dmlib.events.RUNNING_LEASE), runs it again
                log.warning("%s: handled event not marked done (%s)", self.method_name, exc)
        return super().handle_result(message, worker_ctx, result, exc_info)


class SharedQueueConsumer(Consumer):
    """nameko's ``@consume`` whose queue is declared as ``AMQP_QUEUE_TYPE`` says
    (:func:`dmlib.queues.shared_queue`); use :func:`consume`."""

    def setup(self):
        self.queue = shared_queue(self.queue, self.container.config)
        super().setup()


def consume(queue, **kwargs):
    """``@consume(queue)`` (nameko's, for queues kombu declares itself, e.g. notify's delivery work
    queue) with the queue type of this deployment."""
    return SharedQueueConsumer.decorator(queue, **kwargs)


def event_handler(source_service: str, event_type: str, **kwargs):
    """``@event_handler(source, event_type)``: a :class:`VerifiedEventHandler` (signature, age and replay
    checked before the handler runs; an outage requeues) with the same boundary as :func:`rpc`."""

    def decorate(f):
        return VerifiedEventHandler.decorator(source_service, event_type, **kwargs)(_boundary(f))

    return decorate


class TimedMethod:
    def __init__(self, method_proxy, timeout: float, target: str):
        self._method = method_proxy
        self._timeout = timeout
        self._target = target

    def __call__(self, *args, **kwargs):
        with eventlet.Timeout(self._timeout, False):
            return self._call(*args, **kwargs).result()
        raise ServiceUnavailable(
            f"{self._target} did not answer within {self._timeout:g} s / 服务未在规定时间内响应",
            details={"service": self._target, "timeout_s": self._timeout},
        )

    def call_async(self, *args, **kwargs):
        """Send without waiting; ``.result()`` on the reply waits (unbounded: use for fire-and-forget)."""
        return self._call(*args, **kwargs)

    def _call(self, *args, **kwargs):
        try:
            return self._method.call_async(*args, **kwargs)
        except UnknownService:
            raise ServiceUnavailable(
                f"{self._target} is not running / 服务未运行", details={"service": self._target}
            ) from None
        except (OperationalError, OSError):
            raise ServiceUnavailable(
                "message broker unavailable / 消息服务暂不可用", details={"service": self._target}
            ) from None


class TimedServiceProxy:
    def __init__(self, proxy, timeout: float, target: str):
        self._proxy = proxy
        self._timeout = timeout
        self._target = target

    def __getattr__(self, name: str) -> TimedMethod:
        return TimedMethod(getattr(self._proxy, name), self._timeout, self._target)


class Rpc(RpcProxy):
    """``Rpc("members")``: a proxy to another service whose calls time out (config ``RPC_TIMEOUT``)."""

    rpc_reply_listener = ResilientReplyListener()

    def setup(self):
        self.timeout = float(self.container.config.get("RPC_TIMEOUT") or DEFAULT_TIMEOUT)
        self.options.setdefault("expiration", self.timeout)
        # Publisher confirms stay on (nameko's default): without them a request to a service that is not
        # running comes back as NO_ROUTE on the channel's *next* publish, and the wrong call fails.
        super().setup()

    def get_dependency(self, worker_ctx):
        return TimedServiceProxy(super().get_dependency(worker_ctx), self.timeout, self.target_service)
