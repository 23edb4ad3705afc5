"""The proposals service (提案): the whole lifecycle of a delegate's proposal, from the collection window of
a congress session to the satisfaction rating and the excellent mark (DESIGN.md §4).

Who may do what is decided in ``policy.py`` (on the verified token of every call, DESIGN.md §1).

This module holds the nameko entrypoints only: load the input schema, call the use case of ``app.py``
(which asks ``policy.py``, applies ``rules.py`` and commits one guarded write with its outbox events
through ``store.py``), relay what it committed (``relay_mine``; the ``OutboxRelay`` timer retries what
fails), dump the output (``views.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from dmlib.auth import Identity
from dmlib.contracts import proposals as c
from dmlib.contracts.needs import needs
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.state import OutboxRelay
from dmlib.storage import Mongo

from . import app, views
from .store import ProposalsStore

log = logging.getLogger(__name__)

DEFAULT_REMINDER_INTERVAL_S = 3600.0
DEPARTMENT_TTL = 60.0


class Clock(DependencyProvider):
    """The service's notion of now (UTC). Tests move time by setting ``offset`` on the provider
    (``nameko.testing.utils.get_extension(container, Clock).offset = timedelta(days=1)``)."""

    def setup(self) -> None:
        self.offset = timedelta(0)

    def get_dependency(self, worker_ctx) -> Clock:
        return self

    def now(self) -> datetime:
        from .store import now

        return now() + self.offset


class DepartmentCache(DependencyProvider):
    """Department names per union as members gave them, kept :data:`DEPARTMENT_TTL` (departments change
    rarely; assignment validates against them and must not wait on members for each proposal)."""

    def setup(self) -> None:
        self.entries: dict[str, tuple[float, dict[str, str]]] = {}

    def get_dependency(self, worker_ctx) -> DepartmentCache:
        return self

    def get(self, union_id: str) -> dict[str, str] | None:
        entry = self.entries.get(union_id)
        return entry[1] if entry and time.monotonic() - entry[0] < DEPARTMENT_TTL else None

    def put(self, union_id: str, names: dict[str, str]) -> None:
        self.entries[union_id] = (time.monotonic(), names)


class ReminderTimer(Timer):
    """A timer whose interval comes from config ``REMINDER_INTERVAL_S`` (default 3,600 s)."""

    def setup(self) -> None:
        self.interval = float(self.container.config.get("REMINDER_INTERVAL_S") or self.interval)


@dataclass
class RpcPeers:
    """:class:`app.Peers` over RPC to congress and members (department names cached)."""

    congress: Any
    members: Any
    cache: DepartmentCache

    def session(self, session_id: str) -> dict:
        return self.congress.get_session(session_id)

    def union(self, union_id: str) -> dict:
        return self.members.get_union(union_id)

    def delegates(self, term_id: str) -> dict[str, str]:
        return {d["member_id"]: d["name"] for d in self.congress.list_delegates(term_id)}

    def departments(self, union_id: str, fresh: bool = False) -> dict[str, str]:
        names = None if fresh else self.cache.get(union_id)
        if names is None:
            names = {d["id"]: d["name"] for d in self.members.list_departments(union_id)}
            self.cache.put(union_id, names)
        return names


class ProposalsService(OutboxRelay, HealthRpc):
    name = "proposals"

    store: ProposalsStore = Mongo(ProposalsStore)
    identity = Identity()
    events = Events()
    clock = Clock()
    department_cache = DepartmentCache()
    congress_rpc = Rpc("congress")
    members_rpc = Rpc("members")

    @property
    def peers(self) -> RpcPeers:
        return RpcPeers(self.congress_rpc, self.members_rpc, self.department_cache)

    def _done(self, p: dict) -> dict:
        """Relay what this worker committed, then the proposal as the caller sees it."""
        self.relay_mine()
        return views.proposal(p, self.identity.actor, self.clock.now())

    def _many(self, docs: list[dict]) -> list[dict]:
        actor, now = self.identity.actor, self.clock.now()
        return [views.proposal(p, actor, now) for p in docs]

    # ----- collection windows --------------------------------------------------------------------
    @rpc
    def open_window(self, session_id: str, data: dict | None = None) -> dict:
        """Open (or re-open) the collection window (提案征集) of a congress session.

        In: :class:`WindowIn` (``min_cosigners`` default 2, ``deadline_days`` default 20; both apply to
        what follows). Out: :class:`WindowOut`. Admins of the congress's union or above. The session must
        exist (asked of congress). Publishes ``proposal_window_opened``. Errors: BadInput, NotFound
        (session), Forbidden."""
        data = c.WindowIn().load(data or {})
        w = app.open_window(self.store, self.identity.actor, self.clock.now, self.peers, session_id, data)
        self.relay_mine()
        return views.window(w)

    @rpc
    def close_window(self, session_id: str) -> dict:
        """Close a session's collection window: no more drafts, co-signatures or submissions (drafts
        stay drafts). Admins. Out: :class:`WindowOut`. Publishes ``proposal_window_closed``. Errors:
        NotFound, Forbidden, Conflict (not open)."""
        w = app.close_window(self.store, self.identity.actor, self.clock.now, session_id)
        self.relay_mine()
        return views.window(w)

    @rpc
    def get_window(self, session_id: str) -> dict:
        """The collection window of a session (:class:`WindowOut`); ``status`` ``none`` when never opened
        (the session is then looked up in congress, which checks the caller may see it). Members of the
        union, its delegates, admins."""
        return views.window(app.get_window(self.store, self.identity.actor, self.peers, session_id))

    @rpc
    def list_windows(self, congress_id: str) -> list[dict]:
        """The collection windows of a congress's sessions, newest session first ([:class:`WindowOut`]).
        Members of the union, its delegates, admins (an empty list when none was opened)."""
        return [views.window(w) for w in app.list_windows(self.store, self.identity.actor, congress_id)]

    # ----- drafting, co-signing, submitting --------------------------------------------------------
    @rpc
    def create_proposal(self, session_id: str, data: dict) -> dict:
        """Draft a proposal in a session's open window and invite co-signers.

        In: :class:`ProposalIn` (subject 5-100 characters, category, reasons and measures 10-4,000,
        ``invite``: member numbers of delegates of the same term, not oneself). Out: :class:`ProposalOut`
        (state ``draft``, id ``<session id>-p<NNN>``). Delegates of the congress only (403). Errors:
        BadInput (fields; an invitee who is not a delegate), NotFound (window), Forbidden, Conflict
        (window not open). Publishes ``cosigners_invited`` when someone was invited."""
        data = c.ProposalIn().load(data)
        p = app.create_proposal(self.store, self.identity.actor, self.clock.now, self.peers, session_id, data)
        return self._done(p)

    @rpc
    def cosign(self, proposal_id: str) -> dict:
        """Co-sign (附议) a draft. Delegates of the same congress, while the window is open; not one's own
        proposal (403), not twice (409). Out: :class:`ProposalOut`. Publishes ``proposal_cosigned``."""
        return self._done(app.cosign(self.store, self.identity.actor, self.clock.now, proposal_id))

    @rpc
    def submit(self, proposal_id: str) -> dict:
        """Submit one's draft: only while the session's window is open (409 outside it) and with at least
        the window's minimum of co-signers (409 with ``details`` {cosigners, required, missing}). The
        proposer only (403). Out: :class:`ProposalOut` (``submitted``). Publishes ``proposal_submitted``."""
        return self._done(app.submit(self.store, self.identity.actor, self.clock.now, proposal_id))

    # ----- review, assignment ----------------------------------------------------------------------
    @rpc
    def review(self, proposal_id: str, data: dict) -> dict:
        """Review a submitted proposal: ``accept`` (立案), ``convert`` (转为意见建议) or ``reject`` (不予立案,
        with a written reason). In: :class:`ReviewIn`. Admins of the union (403 for anyone else, e.g. a
        delegate); only a submitted proposal (409). Two admins at once: exactly one wins, the other
        gets 409. Publishes ``proposal_accepted`` / ``proposal_converted`` / ``proposal_rejected``."""
        data = c.ReviewIn().load(data)
        return self._done(app.review(self.store, self.identity.actor, self.clock.now, proposal_id, data))

    @rpc
    def assign(self, proposal_id: str, data: dict) -> dict:
        """Assign (交办) an accepted proposal to one or more departments of the union with a deadline
        (``deadline_days``, default the window's, 20). In: :class:`AssignIn`. Admins; accepted proposals
        only (409). Errors: BadInput (a department not of this union). Publishes ``proposal_assigned``."""
        data = c.AssignIn().load(data)
        p = app.assign(self.store, self.identity.actor, self.clock.now, self.peers, proposal_id, data)
        return self._done(p)

    # ----- reply ---------------------------------------------------------------------------------
    @rpc
    def reply(self, proposal_id: str, data: dict) -> dict:
        """A handling department's written reply. In: :class:`ReplyIn` (``text``; ``department_id`` when
        the handler serves several). Handlers only (403 for anyone else); the proposal must be with the
        departments (409, e.g. a rejected one); the department must be one it is assigned to (403) and not
        have replied in this round (409). When the last assigned department has replied, the
        proposal is ``replied`` and ``proposal_replied`` is published."""
        data = c.ReplyIn().load(data)
        return self._done(app.reply(self.store, self.identity.actor, self.clock.now, proposal_id, data))

    # ----- rating, excellence --------------------------------------------------------------------
    @rpc
    def rate(self, proposal_id: str, data: dict) -> dict:
        """Rate the reply (satisfied / partly / dissatisfied). In: :class:`RateIn`. The proposer and the
        co-signers, once per round each (409 twice). The proposer's rating decides: satisfied or partly →
        ``closed``; dissatisfied → back to the same departments for ONE more round with a new deadline
        (``assigned``, round 2), or ``closed`` if it was already the second round. Co-signers may rate while
        the proposal is replied or closed; their ratings count in the statistics. Publishes
        ``proposal_rated`` and then ``proposal_closed`` or ``proposal_assigned`` (round 2)."""
        data = c.RateIn().load(data)
        return self._done(app.rate(self.store, self.identity.actor, self.clock.now, proposal_id, data))

    @rpc
    def mark_excellent(self, proposal_id: str) -> dict:
        """Mark a closed proposal excellent (优秀提案). Admins; closed proposals only, once (409).
        Publishes ``proposal_marked_excellent``."""
        return self._done(app.mark_excellent(self.store, self.identity.actor, self.clock.now, proposal_id))

    # ----- reading -------------------------------------------------------------------------------
    @rpc
    def get_proposal(self, proposal_id: str) -> dict:
        """One proposal with its co-signers, review, rounds, replies, ratings and full history
        (:class:`ProposalOut`, ``my_roles`` = the caller's relations to it). Drafts: their proposer,
        invitees, co-signers, the congress's delegates and admins; after submission: members of the union."""
        actor = self.identity.actor
        return views.proposal(app.get_proposal(self.store, actor, proposal_id), actor, self.clock.now())

    @rpc
    def list_session(self, session_id: str, view: str = "public") -> list[dict]:
        """A session's proposals in number order ([:class:`ProposalOut`]). ``view``: ``public`` — accepted
        ones (立案: accepted, assigned, replied, closed) with their replies, for members of the union;
        ``desk`` — everything submitted (not drafts), for admins. Cost: one ``_id`` lookup per proposal."""
        return self._many(app.list_session(self.store, self.identity.actor, session_id, view))

    @rpc
    def my_proposals(self, session_id: str) -> dict:
        """The caller's proposals of a session and the drafts they are invited to co-sign (or have
        co-signed): ``{"window": WindowOut, "own": [ProposalOut], "invitations": [ProposalOut]}``."""
        window, own, invitations = app.my_proposals(self.store, self.identity.actor, self.peers, session_id)
        return {
            "window": views.window(window),
            "own": self._many(own),
            "invitations": self._many(invitations),
        }

    @rpc
    def needs_of(self) -> dict:
        """What needs the caller among proposals, for their "what needs me" home (issue 16): for a
        delegate, drafts to co-sign (``proposal_cosign``), own drafts to submit (``proposal_draft``) in
        open windows, replies to rate (``proposal_rate``); per department they handle,
        ``proposals_to_reply`` (count, oldest assignment, overdue); per union they administer or below,
        ``proposals_to_review`` (count, oldest submission) and ``proposals_open`` (count, overdue).
        Read-only; each part only where :func:`policy.needs_scopes` gives the caller a scope. Out:
        :class:`dmlib.contracts.needs.NeedsOut`."""
        return needs("proposals", **app.needs_of(self.store, self.identity.actor, self.clock.now))

    @rpc
    def inbox(self, department_id: str) -> list[dict]:
        """A department's inbox: every proposal ever assigned to it, the ones awaiting its reply first
        (then by deadline). Handlers of the department and the system. [:class:`ProposalOut`]"""
        return self._many(app.inbox(self.store, self.identity.actor, department_id))

    @rpc
    def queue(self, query: dict) -> dict:
        """A page of a proposal queue (issue 16): the review desk of a session (``session_id``; admins of
        its union or above) or a department's inbox (``department_id``; its handlers). In:
        :class:`QueueIn` (``state``, ``awaiting``, ``q``, ``sort``, ``page``, ``per_page`` ≤ 100); Out:
        :class:`QueuePageOut` (``items`` [ProposalOut], ``total``, ``pages``, ``counts`` per state,
        ``awaiting``, ``sort``, ``department`` {id, name}). Errors: BadInput (fields), NotFound (no
        window), Forbidden. Cost: see :func:`.app.queue`."""
        out = app.queue(self.store, self.identity.actor, c.QueueIn().load(query or {}))
        return c.QueuePageOut().dump({**out, "items": self._many(out["items"])})

    @rpc
    def statistics(self, session_id: str) -> dict:
        """Statistics of a session (:class:`StatsOut`, see :func:`rules.session_stats`): submitted,
        accepted, converted, rejected, on-time replies, closed, satisfaction shares, excellent, by
        category. Members of the union, delegates, admins."""
        stats = app.statistics(self.store, self.identity.actor, self.clock.now, session_id)
        return c.StatsOut().dump({"session_id": session_id, **stats})

    @rpc
    def register(self, session_id: str) -> dict:
        """The session's proposal register (提案登记表) for export: ``{"window": WindowOut, "proposals":
        [ProposalOut]}`` with every submitted proposal. Admins."""
        window, docs = app.register(self.store, self.identity.actor, session_id)
        return {"window": views.window(window), "proposals": self._many(docs)}

    # ----- reminders -----------------------------------------------------------------------------
    @ReminderTimer.decorator(interval=DEFAULT_REMINDER_INTERVAL_S)
    def remind(self) -> None:
        """Timer: commit ``proposal_overdue`` for assigned proposals past or near their deadline."""
        self.identity.act_as_service()
        result = app.reminder_round(self.store, self.clock.now())
        self.relay_mine()
        if result["published"]:
            log.info("proposal reminders: %s", result)

    @rpc
    def send_reminders(self, at: str | None = None) -> dict:
        """Run the reminder round now (as the timer does), at ``at`` (ISO 8601, default now). System only.
        Out: ``{"checked", "published", "day"}`` (``published``: reminders committed this round)."""
        result = app.send_reminders(self.store, self.identity.actor, self.clock.now, at)
        self.relay_mine()
        return result

    # ----- operators -----------------------------------------------------------------------------
    @rpc
    def backdate(self, proposal_id: str, days: int) -> dict:
        """Move every time of a proposal ``days`` into the past (history, rounds and deadlines, replies,
        ratings): for taking over records of proposals handled before this system, and for the demo.
        System only. Out: :class:`ProposalOut`. Errors: BadInput (days not 1-3650), Conflict (changed)."""
        return self._done(app.backdate(self.store, self.identity.actor, proposal_id, days))

    @rpc
    def rebuild_indexes(self) -> dict:
        """Rebuild the derived lists (people, inboxes, the timer's watch list) from the proposals. System
        only."""
        return app.rebuild_indexes(self.store, self.identity.actor)
