"""Group commit of ballots on the gateway's side (issue 17): the rating ballots that arrive within a few
milliseconds go to the voting service in one RPC (``voting.cast_ratings``), which stores them with one
``insert_many`` and writes the batch's sums per Worker Home once, into the batch's marker (folded into
the tally in the background); each request still gets its own answer (201 with its
receipt, or its own 400/401/403/404/409).

How a batch forms (one gateway process, eventlet: no locks needed). A request appends its ballot to the
process's queue. If no batch is gathering, this request's worker becomes the batch's *leader*: it waits
``BALLOT_BATCH_MS`` (config, default :data:`DEFAULT_WINDOW_MS`) or until ``BALLOT_BATCH_MAX`` (default
:data:`DEFAULT_MAX`) ballots are queued, takes the queue, and makes the RPC with its own ``voting_rpc``
(its timeout and error mapping); the next arrival starts the next batch meanwhile. Every request,
leader included, then waits for its own item of the answer. A failure of the whole call (voting down:
503) is every request's answer; nothing of a failed call is half-answered, and a ballot the voting
service stored before failing is found by the voter's retry (409 already voted, with its receipt on the
page). Each item carries its member's own token, and the voting service verifies each one.
"""

from __future__ import annotations

import eventlet
from eventlet.event import Event
from eventlet.timeout import Timeout
from nameko.extensions import DependencyProvider

from dmlib.auth import CONTEXT_KEY
from dmlib.errors import from_dict

#: Milliseconds a batch gathers ballots before it is sent (the latency it adds to a lone ballot).
DEFAULT_WINDOW_MS = 3.0
#: Most ballots in one RPC (the voting service takes up to ``services.voting.service.BATCH_MAX``).
DEFAULT_MAX = 100


class BallotBatcher(DependencyProvider):
    """The process's batch queue; injects :class:`Ballots` into each worker."""

    def setup(self) -> None:
        config = self.container.config
        self.window_s = float(config.get("BALLOT_BATCH_MS") or DEFAULT_WINDOW_MS) / 1000
        self.max = int(config.get("BALLOT_BATCH_MAX") or DEFAULT_MAX)
        self.queue: list[tuple[dict, Event]] = []
        self.gathering: Event | None = None  # the leader waits on it; sent early when the batch is full

    def get_dependency(self, worker_ctx) -> Ballots:
        return Ballots(self, worker_ctx)

    def submit(self, voting_rpc, item: dict) -> dict:
        """Queue ``item`` (``{"token", "campaign_id", "data"}``), lead the batch if none is gathering, and
        return this item's answer (``{"ok": …}`` or ``{"error": …}``); raises what the whole call raised."""
        done = Event()
        self.queue.append((item, done))
        if self.gathering is None:
            self._lead(voting_rpc)
        elif len(self.queue) >= self.max and not self.gathering.ready():
            self.gathering.send(None)
        return done.wait()

    def _lead(self, voting_rpc) -> None:
        gathering = self.gathering = Event()
        with Timeout(self.window_s, False):
            gathering.wait()
        batch, self.queue, self.gathering = self.queue, [], None
        for start in range(0, len(batch), self.max):
            chunk = batch[start : start + self.max]
            try:
                answers = voting_rpc.cast_ratings([item for item, _ in chunk])
            except Exception as exc:  # noqa: BLE001 - every request of the call gets the same error
                for _, done in chunk:
                    done.send_exception(exc)
                continue
            for (_, done), answer in zip(chunk, answers, strict=True):
                done.send(answer)
            eventlet.sleep(0)


class Ballots:
    """What a worker uses: :meth:`cast_rating`."""

    def __init__(self, provider: BallotBatcher, worker_ctx):
        self._provider = provider
        self._ctx = worker_ctx

    def cast_rating(self, voting_rpc, campaign_id: str, data: dict) -> dict:
        """Cast the caller's rating ballot through the batch; ``{"poll_id", "campaign_id", "home",
        "receipt"}`` as ``voting.cast_rating`` answers, or its typed error raised."""
        item = {"token": self._ctx.data.get(CONTEXT_KEY), "campaign_id": campaign_id, "data": data}
        answer = self._provider.submit(voting_rpc, item)
        if "error" in answer:
            raise from_dict(answer["error"])
        return answer["ok"]
