"""RPC on both sides, with one error mapping and a timeout (DESIGN.md §5, §9).

Serving: :func:`rpc` replaces ``nameko.rpc.rpc``. It declares :data:`dmlib.errors.EXPECTED` as expected
exceptions and maps, at the service boundary, what would otherwise cross as an untyped 500:

- wrong arguments (missing, unexpected) and marshmallow ``ValidationError`` → :class:`BadInput`;
- the database unreachable (pymongo ``ConnectionFailure``) → :class:`ServiceUnavailable`.

Calling: :class:`Rpc` replaces ``nameko.rpc.RpcProxy``. nameko has no default RPC timeout, so every call
waits at most ``RPC_TIMEOUT`` seconds (config, default 10) and then raises :class:`ServiceUnavailable`;
the request message carries the same expiry, so a request nobody took in time is dropped by RabbitMQ
rather than executed after the caller gave up. A call to a service that is not running at all fails at
once (nameko's ``UnknownService``) and maps to :class:`ServiceUnavailable` too.
"""

from __future__ import annotations

import functools
import inspect
import logging

import eventlet
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from nameko.events import event_handler as nameko_event_handler
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy
from nameko.rpc import rpc as nameko_rpc
from pymongo.errors import ConnectionFailure

from dmlib.errors import EXPECTED, BadInput, ServiceUnavailable

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 10.0


def _boundary(fn):
    """Translate argument, validation and database errors into typed errors."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise BadInput(f"{fn.__name__}: {exc}") from None
        try:
            return fn(self, *args, **kwargs)
        except ValidationError as exc:
            raise BadInput(
                "invalid input / 输入有误",
                fields=exc.messages_dict if isinstance(exc.messages, dict) else {"_schema": exc.messages},
            ) from None
        except ConnectionFailure as exc:
            log.warning("database unavailable in %s: %s", fn.__name__, exc)
            raise ServiceUnavailable(
                "database unavailable, try again shortly / 数据库暂不可用，请稍后再试"
            ) from None

    return wrapper


def rpc(fn=None, **kwargs):
    """``@rpc`` for service methods: typed errors, argument check, ``expected_exceptions`` set."""
    kwargs.setdefault("expected_exceptions", EXPECTED)

    def decorate(f):
        return nameko_rpc(**kwargs)(_boundary(f))

    return decorate(fn) if fn is not None else decorate


def event_handler(source_service: str, event_type: str, **kwargs):
    """``@event_handler`` with the same boundary as :func:`rpc` (handlers must still be idempotent)."""

    def decorate(f):
        return nameko_event_handler(source_service, event_type, **kwargs)(_boundary(f))

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

    def setup(self):
        self.timeout = float(self.container.config.get("RPC_TIMEOUT") or DEFAULT_TIMEOUT)
        self.options.setdefault("expiration", self.timeout)
        super().setup()

    def get_dependency(self, worker_ctx):
        return TimedServiceProxy(super().get_dependency(worker_ctx), self.timeout, self.target_service)
