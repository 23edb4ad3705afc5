"""Helpers of the crash drill (tests/drills/test_crash_drill.py): the event spy, the subscriber table,
commands retried the way a person retries them, and the killer.

- :class:`EventSpy`: a queue of the drill's own, bound to every publisher's event exchange (``#``), that
  records every copy of every event RabbitMQ routed: what was published, how often (a relay may publish an
  event twice: a crash between the broker's acknowledgement and the ``$unset`` of the outbox entry).
- :func:`subscribers`: ``(publisher, event type) → [(service, handler)]``, read from the services'
  ``dmlib.rpc.event_handler`` entrypoints (one table, the code's own), broadcast handlers left out.
- :class:`Person`: one actor's RPC calls, each repeated until it is answered, as a person repeats a click
  whose page did not answer: after a timeout or a 503 it waits until the service answers its health check
  (the request already sent may then have been carried out: ``landed`` looks first), then sends it again.
  A Conflict that says the step is already done (``done_if``) counts as done.
- :class:`Killer`: ``kill -9`` of the owning services at seeded random moments, each started again at
  once and waited for; FerretDB stopped once on the way.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from kombu import Connection, Exchange, Queue
from nameko.exceptions import RemoteError, RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.errors import Conflict, ServiceUnavailable
from tests.helpers import token

CALL_TIMEOUT_S = 6  # a person gives up waiting for a page after this and tries again
GIVE_UP_S = 120  # a step not done after this fails the drill


# ----- the spy ------------------------------------------------------------------------------------
class EventSpy:
    """Every copy of every event of ``publishers`` routed by RabbitMQ, as ``(publisher, type, body)``."""

    def __init__(self, amqp_uri: str, publishers: list[str]):
        self.amqp_uri, self.publishers = amqp_uri, publishers
        self.seen: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("event spy not bound within 30 s")
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)

    def _run(self) -> None:
        with Connection(self.amqp_uri) as conn:
            bindings = [
                Queue(
                    "crash-drill-spy",
                    Exchange(f"{p}.events", type="topic", durable=True),
                    routing_key="#",
                    durable=False,
                    auto_delete=True,
                )
                for p in self.publishers
            ]
            channel = conn.channel()
            for q in bindings:
                q(channel).declare()

            def on_message(body, message):
                publisher = message.delivery_info["exchange"].removesuffix(".events")
                with self.lock:
                    self.seen.append((publisher, message.delivery_info["routing_key"], body))
                message.ack()

            with conn.Consumer(bindings[:1], callbacks=[on_message], channel=channel):
                self.ready.set()
                while not self.stopping.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass

    def events(self) -> dict[str, tuple[str, str, dict, int]]:
        """event_id → (publisher, type, body, copies published)."""
        with self.lock:
            copies = Counter(b["event_id"] for _, _, b in self.seen)
            return {b["event_id"]: (p, t, b, copies[b["event_id"]]) for p, t, b in self.seen}


def subscribers(service_classes: dict[str, type]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """``(source service, event type) → [(service name, handler method)]`` of every replay-guarded
    ``dmlib.rpc.event_handler`` of ``service_classes`` (name → class)."""
    from nameko.events import BROADCAST

    from dmlib.rpc import VerifiedEventHandler

    table: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for name, cls in service_classes.items():
        for attr in dir(cls):
            for ep in getattr(getattr(cls, attr, None), "nameko_entrypoints", ()):
                if isinstance(ep, VerifiedEventHandler) and ep.handler_type != BROADCAST:
                    table[(ep.source_service, ep.event_type)].append((name, attr))
    return table


# ----- people and their commands ------------------------------------------------------------------
@dataclass
class Tally:
    """Counts shared by every person of the drill."""

    commands: int = 0
    retried: int = 0
    landed_before_retry: int = 0
    already_done: int = 0
    steps: dict[str, str] = field(default_factory=dict)  # workflow → the step it is in now
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **n: int) -> None:
        with self.lock:
            for k, v in n.items():
                setattr(self, k, getattr(self, k) + v)


def transient(exc: BaseException) -> bool:
    """A failure a person meets when a service is down or restarting: no answer in time, a 503, the
    broker refusing the call."""
    if isinstance(exc, RpcTimeout | ServiceUnavailable | ConnectionError | OSError | TimeoutError):
        return True
    return isinstance(exc, RemoteError) and exc.exc_type in ("ServiceUnavailable", "RpcTimeout")


class Person:
    """An actor calling RPC methods with their own token, through a proxy of their own."""

    def __init__(self, amqp_uri: str, actor, tally: Tally, workflow: str):
        self.amqp_uri, self.actor, self.tally, self.workflow = amqp_uri, actor, tally, workflow
        self._cluster = None
        self._proxy = None

    def _rpc(self):
        if self._proxy is None:
            self._cluster = ClusterRpcProxy(
                {"AMQP_URI": self.amqp_uri},
                context_data={"auth_token": token(self.actor)},
                timeout=CALL_TIMEOUT_S,
            )
            self._proxy = self._cluster.start()
        return self._proxy

    def _reset(self) -> None:
        if self._cluster is not None:
            try:
                self._cluster.stop()
            except Exception:  # noqa: BLE001 (a proxy whose connection the broker dropped)
                pass
        self._cluster = self._proxy = None

    def close(self) -> None:
        self._reset()

    def healthy(self, service: str) -> None:
        """Wait until ``service`` answers again (a person reloading the page)."""
        deadline = time.monotonic() + GIVE_UP_S
        while True:
            try:
                getattr(self._rpc(), service).health()
                return
            except Exception as exc:  # noqa: BLE001
                if not transient(exc) or time.monotonic() > deadline:
                    raise
                self._reset()
                time.sleep(0.3)

    def do(
        self,
        step: str,
        service: str,
        method: str,
        *args,
        done_if: Callable[[Conflict], bool] | None = None,
        landed: Callable[[], object] | None = None,
    ):
        """Call ``service.method(*args)`` until it is answered. ``done_if(conflict)``: the Conflict says
        the step is done already (a repeat of a command that landed). ``landed()``: for a command that
        creates something new each time (no id of the caller's), what it created if it did land, looked
        up before sending it again. Returns the answer (None for a Conflict taken as done)."""
        self.tally.steps[self.workflow] = step
        self.tally.add(commands=1)
        deadline = time.monotonic() + GIVE_UP_S
        attempt = 0
        while True:
            if attempt:
                self.tally.add(retried=1)
                self.healthy(service)
                if landed is not None and (found := landed()):
                    self.tally.add(landed_before_retry=1)
                    return found
            attempt += 1
            try:
                return getattr(getattr(self._rpc(), service), method)(*args)
            except Conflict as exc:
                if done_if is not None and done_if(exc):
                    self.tally.add(already_done=1)
                    return None
                raise
            except Exception as exc:  # noqa: BLE001
                if not transient(exc) or time.monotonic() > deadline:
                    raise AssertionError(f"{self.workflow}: step {step!r} failed: {exc!r}") from exc
                self._reset()


# ----- faults -------------------------------------------------------------------------------------
class Killer:
    """``kill -9`` each of ``targets`` at ``kills`` seeded random moments (``delay`` seconds apart, drawn
    from ``rng``), starting it again at once and waiting until it answers; before kill number
    ``ferret_at`` FerretDB is killed, kept down ``ferret_down_s`` and started again."""

    def __init__(self, drill, targets: list[str], kills: int, rng: random.Random, delay=(0.5, 3.0)):
        self.drill, self.targets, self.kills, self.rng, self.delay = drill, targets, kills, rng, delay
        self.ferret_at = rng.randint(2, kills - 1)
        self.ferret_down_s = 3.0
        self.killed: Counter[str] = Counter()
        self.restarted: Counter[str] = Counter()
        self.ferret_stops = 0
        self.points: list[dict[str, str]] = []  # the step each workflow was in at each kill
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Killer:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            for n in range(1, self.kills + 1):
                time.sleep(self.rng.uniform(*self.delay))
                if n == self.ferret_at:
                    self.drill.ferret.restart(down_s=self.ferret_down_s, kill=True)
                    self.ferret_stops += 1
                    time.sleep(self.rng.uniform(*self.delay))
                self.points.append(dict(self.drill.tally.steps))
                for name in self.targets:
                    assert self.drill.stack.kill(name) == -9
                    self.killed[name] += 1
                for name in self.targets:
                    self.drill.stack.start(name)
                    self.restarted[name] += 1
                self.drill.wait_healthy(self.targets)
        except BaseException as exc:  # noqa: BLE001 (reported by join)
            self.error = exc
        finally:
            self.done.set()
