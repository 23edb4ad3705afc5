"""The cases service (接诉即办): worker requests received, dispatched, handled within Chinese-working-day
limits and evaluated by the worker, with indicators kept as counters, 未诉先办 alerts and the 每月一题
view (DESIGN.md §4, docs/cases.md).

Entrypoints only: each loads its input with the contract schema (:mod:`dmlib.contracts.cases`), calls
its use case in :mod:`services.cases.app` (which asks :mod:`services.cases.policy`, applies
:mod:`services.cases.rules` and commits one guarded write with its outbox events through
:mod:`services.cases.store`), relays what it committed and dumps the output (:mod:`services.cases.views`).

Errors (all from :mod:`dmlib.errors`): BadInput 400 (field messages), Forbidden 403 (another union's
case, a role that may not act), NotFound 404 (no such case or union), Conflict 409 (wrong state, or
changed by someone else first), TooManyRequests 429 (progress-query codes and attempts).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from dmlib.auth import Identity, auth_secret
from dmlib.contracts import cases as c
from dmlib.contracts.needs import needs
from dmlib.errors import BadInput
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.state import OutboxRelay
from dmlib.storage import Mongo

from . import app, rules, views
from .store import CasesStore

log = logging.getLogger(__name__)

DEFAULT_WATCH_INTERVAL_S = 300.0


class Clock(DependencyProvider):
    """The service's notion of now (UTC). Tests move time by setting ``offset`` on the provider."""

    def setup(self) -> None:
        self.offset = timedelta(0)

    def get_dependency(self, worker_ctx) -> Clock:
        return self

    def now(self) -> datetime:
        from dmlib.state import now

        return now() + self.offset


def _int_map(text: str | None, default: dict[str, int]) -> dict[str, int]:
    """``general:5,difficult:15,complex:30`` → dict (missing classes keep their default)."""
    out = dict(default)
    for part in (text or "").split(","):
        if ":" in part:
            k, v = part.split(":", 1)
            if k.strip() in out:
                out[k.strip()] = int(v)
    return out


class SettingsProvider(DependencyProvider):
    """The configurable numbers (config.yaml; docs/cases.md "Configuration"): ``CASE_LIMIT_DAYS``
    (``general:5,difficult:15,complex:30``), ``CASE_SIGN_FOR_HOURS`` (2), ``CASE_CONTACT_DAYS`` (1),
    ``CASE_WORKDAY_HOURS`` (``9-17``), ``CASE_REMIND_BEFORE_HOURS`` (4), ``CASE_ALERT_THRESHOLD`` (5),
    ``CASE_ALERT_WINDOW_DAYS`` (30), ``CASE_QUERY_CODES_PER_HOUR`` (3), ``CASE_QUERY_CODE_TTL_S`` (600),
    ``CASE_QUERY_MAX_ATTEMPTS`` (5); the code hashing key is derived from ``AUTH_SECRET``."""

    def setup(self) -> None:
        cfg = self.container.config
        g = lambda k, d: int(cfg.get(k) or d)  # noqa: E731
        start, end = (int(x) for x in str(cfg.get("CASE_WORKDAY_HOURS") or "9-17").split("-"))
        self.settings = app.Settings(
            limits=rules.Limits(
                sign_for=g("CASE_SIGN_FOR_HOURS", rules.DEFAULT_SIGN_FOR_HOURS),
                contact=g("CASE_CONTACT_DAYS", rules.DEFAULT_CONTACT_DAYS),
                reply=_int_map(cfg.get("CASE_LIMIT_DAYS"), rules.DEFAULT_LIMIT_DAYS),
                workday=(start, end),
            ),
            remind_before_hours=g("CASE_REMIND_BEFORE_HOURS", rules.DEFAULT_REMIND_BEFORE_HOURS),
            alert_threshold=g("CASE_ALERT_THRESHOLD", rules.DEFAULT_ALERT_THRESHOLD),
            alert_window_days=g("CASE_ALERT_WINDOW_DAYS", rules.DEFAULT_ALERT_WINDOW_DAYS),
            codes_per_hour=g("CASE_QUERY_CODES_PER_HOUR", 3),
            code_ttl_s=g("CASE_QUERY_CODE_TTL_S", 600),
            max_attempts=g("CASE_QUERY_MAX_ATTEMPTS", 5),
            code_key=hmac.new(auth_secret(cfg).encode(), b"cases:query-code", hashlib.sha256).digest(),
            max_attachment_bytes=g("MAX_ATTACHMENT_BYTES", 5 * 1024 * 1024),
        )

    def get_dependency(self, worker_ctx) -> app.Settings:
        return self.settings


class Sms(DependencyProvider):
    """Sends the progress-query code to the phone of a case: POST ``{"to", "text", "message_id"}`` to
    ``SMS_URL`` (the SMS gateway notify uses; the code never travels on the broker). With no
    ``SMS_URL`` the code is not sent (logged as such, without the code)."""

    def setup(self) -> None:
        self.url = (self.container.config.get("SMS_URL") or "").strip() or None

    def get_dependency(self, worker_ctx) -> Sms:
        return self

    def send(self, phone: str, text: str) -> None:
        if not self.url:
            log.warning("progress-query code not sent: SMS_URL is empty")
            return
        requests.post(
            self.url, json={"to": phone, "text": text, "message_id": f"case-code:{phone[-4:]}"}, timeout=5
        )


class WatchTimer(Timer):
    """A timer whose interval comes from config ``CASE_WATCH_INTERVAL_S`` (default 300 s)."""

    def setup(self) -> None:
        self.interval = float(self.container.config.get("CASE_WATCH_INTERVAL_S") or self.interval)


@dataclass
class RpcPeers:
    """:class:`app.Peers` over RPC to members (asked as this service, after the policy allowed what it
    could decide without them)."""

    members: Any
    identity: Any

    def union(self, union_id: str) -> dict:
        return self.members.get_union(union_id)

    def member(self, member_id: str) -> dict:
        """A member, asked as this service (hotline staff need not administer the caller's union), the
        caller's identity restored afterwards."""
        token = self.identity.token
        self.identity.act_as_service()
        try:
            return self.members.get_member(member_id)
        finally:
            self.identity.use(token)


class CasesService(OutboxRelay, HealthRpc):
    name = "cases"

    store: CasesStore = Mongo(CasesStore)
    identity = Identity()
    events = Events()
    clock = Clock()
    members_rpc = Rpc("members")
    settings_ = SettingsProvider()
    sms = Sms()

    @property
    def peers(self) -> RpcPeers:
        return RpcPeers(self.members_rpc, self.identity)

    def _done(self, doc: dict) -> dict:
        """Relay what this worker committed, then the case as the caller sees it."""
        self.relay_mine()
        return views.case(doc, self.identity.actor, self.clock.now())

    def _args(self):
        return self.store, self.identity.actor, self.clock.now

    # ----- settings --------------------------------------------------------------------------------
    @rpc
    def settings(self) -> dict:
        """The configured numbers and the enumerations with their Chinese labels (:class:`SettingsOut`):
        reply limits per complexity class (working days, config ``CASE_LIMIT_DAYS``, default 5/15/30),
        sign-for limit (working hours, ``CASE_SIGN_FOR_HOURS``, 2), first-contact limit (working days,
        ``CASE_CONTACT_DAYS``, 1), 未诉先办 threshold N and window D (``CASE_ALERT_THRESHOLD`` 5,
        ``CASE_ALERT_WINDOW_DAYS`` 30). Anyone logged in."""
        st = self.settings_
        return c.SettingsOut().dump(
            {
                "limit_days": dict(st.limits.reply or rules.DEFAULT_LIMIT_DAYS),
                "sign_for_hours": st.limits.sign_for,
                "contact_days": st.limits.contact,
                "alert_threshold": st.alert_threshold,
                "alert_window_days": st.alert_window_days,
                "case_types": c.CASE_TYPES,
                "categories": c.CATEGORIES,
                "complexity": c.COMPLEXITY,
                "states": c.STATES,
                "satisfaction": c.SATISFACTION,
            }
        )

    # ----- receive (接) ----------------------------------------------------------------------------
    @rpc
    def file_case(self, data: dict) -> dict:
        """A member files a case online (接). In: :class:`CaseIn` with ``channel`` ``online`` (no
        ``caller``; ``anonymous`` only for a suggestion). The receiving union is the member's own union.
        Out: :class:`CaseOut` in state ``received`` with its case number (``id``, 11 digits ``YYMMDD`` +
        daily sequence, China time). Publishes ``case_received``; audit ``cases.case_received``.
        Attachments: up to 5 files (pdf, png, jpg, xlsx, docx, csv, txt) of at most
        ``MAX_ATTACHMENT_BYTES`` (5 MiB) each, stored with the case (``get_attachment``).
        Errors: BadInput (fields; an ``employer.union_id`` that does not exist; a file name of another
        type, bad base64, an empty file), PayloadTooLarge (a file over the limit), Forbidden (not a
        member)."""
        data = c.CaseIn().load(data)
        return self._done(app.file_case(*self._args(), self.settings_, self.peers, data))

    @rpc
    def record_call(self, union_id: str, data: dict) -> dict:
        """Hotline staff record a phone call or visit (接) at their union ``union_id`` (the receiving
        union, which leads: 分级主办). In: :class:`CaseIn` with ``channel`` ``phone``/``visit`` and
        ``caller`` {name, phone} (``member_id`` when the caller is a member). Out: :class:`CaseOut`
        (``received``). ``hotline_staff`` or an admin of ``union_id`` (or above). Publishes
        ``case_received``. Attachments as for :meth:`file_case`. Errors: BadInput, PayloadTooLarge,
        NotFound (union), Forbidden."""
        data = c.CaseIn().load(data)
        return self._done(app.record_call(*self._args(), self.settings_, self.peers, union_id, data))

    # ----- dispatch (派) ---------------------------------------------------------------------------
    @rpc
    def dispatch(self, case_id: str, data: dict) -> dict:
        """Dispatch (派单) a received case: to the employer's grassroots union or to the receiving union
        itself, with its complexity class. In: :class:`DispatchIn`. Sets round 1's limits: sign-for
        (working hours), first contact (working days) and reply (working days by complexity), counted
        on the Chinese working calendar (statutory holidays and make-up working days, ``rules.py``).
        Staff/admins of the receiving union or above; the target must be the receiving union or a union
        below it (Forbidden otherwise). Only ``received`` (409). Publishes ``case_dispatched``.
        Out: :class:`CaseOut`."""
        data = c.DispatchIn().load(data)
        return self._done(app.dispatch(*self._args(), self.settings_, self.peers, case_id, data))

    @rpc
    def transfer(self, case_id: str, data: dict) -> dict:
        """Transfer (转办) a case down to a union below the handling union or up to one above it, with a
        reason (in the history). In: :class:`TransferIn`. The reply deadline stays; the sign-for and
        contact limits restart. Staff/admins of the handling union or above. States ``dispatched``,
        ``signed``, ``in_progress`` (409 otherwise); not to the same union (409). Publishes
        ``case_dispatched`` (``transfer`` true). Out: :class:`CaseOut`."""
        data = c.TransferIn().load(data)
        return self._done(app.transfer(*self._args(), self.settings_, self.peers, case_id, data))

    # ----- handle (办) -----------------------------------------------------------------------------
    @rpc
    def sign_for(self, case_id: str) -> dict:
        """Sign for (签收) a dispatched case. Staff/admins of the handling union. Only ``dispatched``
        (409). Records whether it was within the sign-for limit. Out: :class:`CaseOut`."""
        return self._done(app.sign_for(*self._args(), case_id))

    @rpc
    def contact(self, case_id: str, data: dict) -> dict:
        """Record the first (or a further) contact with the worker (联系). In: :class:`ContactIn`. The
        first one moves ``signed`` → ``in_progress`` and decides the response (响应: signed for and
        contacted within limits). Staff/admins of the handling union; ``signed``/``in_progress`` (409).
        Out: :class:`CaseOut`."""
        return self._done(app.contact(*self._args(), case_id, c.ContactIn().load(data or {})))

    @rpc
    def add_note(self, case_id: str, data: dict) -> dict:
        """An internal note (内部记录; never shown to the worker). In: :class:`NoteIn`. Staff/admins of
        the handling or receiving union or above; any state but ``received``. Out: :class:`CaseOut`."""
        return self._done(app.add_note(*self._args(), case_id, c.NoteIn().load(data)))

    @rpc
    def interim_reply(self, case_id: str, data: dict) -> dict:
        """An interim reply to the worker (阶段性答复, shown in the progress query). In:
        :class:`ReplyIn`. Handling union staff/admins; ``in_progress`` (409). Out: :class:`CaseOut`."""
        return self._done(app.interim_reply(*self._args(), case_id, c.ReplyIn().load(data)))

    @rpc
    def reply(self, case_id: str, data: dict) -> dict:
        """The written final reply (答复): ``in_progress`` → ``replied``; closes the round's reply limit
        (on time or not). In: :class:`ReplyIn`. Handling union staff/admins (403), ``in_progress``
        (409: sign for and contact first). Publishes ``case_replied``. Out: :class:`CaseOut`."""
        return self._done(app.reply(*self._args(), case_id, c.ReplyIn().load(data)))

    # ----- evaluate (评) ---------------------------------------------------------------------------
    @rpc
    def rate(self, case_id: str, data: dict) -> dict:
        """The worker rates the reply (评价). In: :class:`RateIn`. Only the member who filed it (403),
        only ``replied`` (409). 满意 / 基本满意 → ``closed``; 不满意 in round 1 → round 2 at the same
        union (``dispatched``, new limits; publishes ``case_dispatched`` with ``round`` 2); 不满意 in
        round 2 → ``closed``. Publishes ``case_rated`` (and ``case_closed`` when it closes).
        Out: :class:`CaseOut`."""
        return self._done(app.rate(*self._args(), self.settings_, case_id, c.RateIn().load(data)))

    @rpc
    def follow_up(self, case_id: str, data: dict) -> dict:
        """A return visit (回访) by hotline staff or an admin of the receiving or handling union (or
        above): ``replied`` or ``closed`` (409). With ``satisfaction``/``resolved`` it records the
        rating of a caller who cannot rate online (only while ``replied``, for a case without a member
        filer; it then acts as :meth:`rate`). In: :class:`FollowUpIn`. Out: :class:`CaseOut`."""
        return self._done(app.follow_up(*self._args(), self.settings_, case_id, c.FollowUpIn().load(data)))

    @rpc
    def supervise(self, case_id: str, data: dict) -> dict:
        """Supervision (督办) or a reminder (催办) by a superior admin of a union above the handling
        union (403 otherwise), while the case is open (``dispatched``, ``signed``, ``in_progress``; 409).
        In: :class:`SuperviseIn`. Publishes ``case_supervised``. Out: :class:`CaseOut`."""
        return self._done(app.supervise(*self._args(), case_id, c.SuperviseIn().load(data)))

    # ----- reading ---------------------------------------------------------------------------------
    @rpc
    def get_case(self, case_id: str) -> dict:
        """One case with its rounds, limits and full history (:class:`CaseOut`). The filing member
        sees it without internal notes (:class:`ProgressOut` fields are a subset); staff and admins of
        the receiving or handling union or above see everything. NotFound, Forbidden."""
        return views.case(
            app.get_case(self.store, self.identity.actor, case_id), self.identity.actor, self.clock.now()
        )

    @rpc
    def get_attachment(self, case_id: str, attachment_id: str) -> dict:
        """One attachment of a case: ``{"id", "filename", "content_type", "size" (bytes), "content_b64"}``.
        Its worker and the staff who may read the case (``get_case``'s readers); decided before the file
        is read. Errors: NotFound (case, or a file not of this case), Forbidden."""
        return app.get_attachment(self.store, self.identity.actor, case_id, attachment_id)

    @rpc
    def my_cases(self) -> list[dict]:
        """The caller's own cases, newest first ([:class:`CaseSummaryOut`])."""
        now = self.clock.now()
        return [views.summary(d, now) for d in app.my_cases(self.store, self.identity.actor)]

    @rpc
    def needs_of(self) -> dict:
        """What needs the caller among cases, for their "what needs me" home (issue 16): their own cases
        not closed (``case_mine``, with the reply limit as ``due_at``); per union at or below one they
        administer or staff: ``cases_open`` (count, oldest receipt, overdue) and ``cases_near_limit``
        (nearest limit due within a working day or passed; rules.colour amber/red). Read-only. Out:
        :class:`dmlib.contracts.needs.NeedsOut`."""
        return needs("cases", **app.needs_of(self.store, self.identity.actor, self.clock.now()))

    @rpc
    def queue(self, data: dict) -> dict:
        """A union's case queue with filters and paging (:class:`QueueIn` → :class:`QueueOut`), most
        urgent first (overdue, then by deadline) or, with ``sort`` ``newest`` / ``oldest``, by the time
        received, rows coloured by time limit. Staff/admins of the union
        or above (``scope`` ``tree``: superior admins). ``q`` (1-50 characters): free text in the title,
        employer name or worker name, case- and width-insensitive, among the newest 5,000 cases of the
        other filters (``searched_all`` false: there were more, the older ones were not searched; null
        without ``q``). Errors: BadInput (field messages), NotFound (union), Forbidden."""
        data = c.QueueIn().load(data)
        rows, total = app.queue(self.store, self.identity.actor, self.peers, data, self.clock.now())
        return c.QueueOut().dump(
            {
                "items": rows,
                "total": total,
                "page": data["page"],
                "per_page": data["per_page"],
                "pages": max(1, -(-total // data["per_page"])),
                "searched_all": data.get("searched_all"),
            }
        )

    # ----- progress query (no login) ---------------------------------------------------------------
    @rpc
    def request_query_code(self, data: dict) -> dict:
        """Send a one-time 6-digit code by SMS to the phone of a case (:class:`QueryCodeIn` →
        :class:`QueryCodeOut`). Answers the same whether or not the case/phone pair exists (no probing).
        Rate-limited per case number and phone (``CASE_QUERY_CODES_PER_HOUR``, default 3) →
        TooManyRequests. Codes live ``CASE_QUERY_CODE_TTL_S`` (600 s) and are stored hashed."""
        data = c.QueryCodeIn().load(data)
        return app.request_query_code(self.store, self.clock.now, self.settings_, self.sms, data)

    @rpc
    def query_progress(self, data: dict) -> dict:
        """The progress query (:class:`ProgressIn` → :class:`ProgressOut`): state, deadline, history
        and replies without internal notes. The code is used once; ``CASE_QUERY_MAX_ATTEMPTS``
        (default 5) wrong codes per code → TooManyRequests. A wrong code / number / phone → NotFound
        (one message for all three)."""
        data = c.ProgressIn().load(data)
        return views.progress(
            app.query_progress(self.store, self.clock.now, self.settings_, data), self.clock.now()
        )

    # ----- indicators, alerts, topic ---------------------------------------------------------------
    @rpc
    def indicators(self, data: dict) -> dict:
        """Indicators of a union and every union below it over whole months (:class:`IndicatorsIn` →
        :class:`IndicatorsOut`): counts, rates with their formulas (响应率 = responded ÷ dispatched;
        解决率 = resolved ÷ rated; 满意率 = (satisfied + partly) ÷ rated, and satisfied ÷ rated;
        办结率 = closed ÷ due; 按时办结率 = closed on time ÷ due; docs/cases.md), by month, by category
        and by direct child union. Read from counters (one ``_id`` lookup per union and month), never a
        scan of cases. Admins and hotline staff of the union or above."""
        data = c.IndicatorsIn().load(data)
        return c.IndicatorsOut().dump(
            app.indicators(self.store, self.identity.actor, self.clock.now, self.peers, data)
        )

    @rpc
    def alerts(self, union_id: str) -> list[dict]:
        """未诉先办 alerts in a union's tree, newest first ([:class:`AlertOut`]): one enterprise with at
        least ``CASE_ALERT_THRESHOLD`` cases of one category received within ``CASE_ALERT_WINDOW_DAYS``.
        Superior admins (and admins of the union itself)."""
        return [views.alert(a) for a in app.alerts(self.store, self.identity.actor, self.peers, union_id)]

    @rpc
    def topic(self, data: dict) -> dict:
        """每月一题 (:class:`TopicIn` → :class:`TopicOut`): the month's top categories (with a 6-month
        trend) and top enterprises of a union's tree. Admins of the union or above."""
        data = c.TopicIn().load(data)
        return c.TopicOut().dump(app.topic(self.store, self.identity.actor, self.clock.now, self.peers, data))

    # ----- timer: reminders (催办) and overdue escalation (督办) ----------------------------------------
    @WatchTimer.decorator(interval=DEFAULT_WATCH_INTERVAL_S)
    def watch(self) -> None:
        """Timer: :meth:`check_limits` as the system."""
        self.identity.act_as_service()
        result = app.check_limits(self.store, self.clock.now(), self.settings_)
        self.relay_mine()
        if result["reminded"] or result["escalated"]:
            log.info("case limits: %s", result)

    @rpc
    def check_limits(self, at: str | None = None) -> dict:
        """Run the limit round now, at ``at`` (ISO 8601, default now). System only. For each open case:
        a reminder (``case_reminded``) once per limit before it ends (``CASE_REMIND_BEFORE_HOURS``,
        default 4 working hours) and once after; a case past its reply limit is escalated to the superior
        union exactly once per round (``case_overdue``, ``supervised`` true), however often this runs
        and however many instances run (guarded writes). Out: ``{"checked", "reminded", "escalated"}``."""
        from dmlib.errors import Forbidden

        if not self.identity.actor.is_system:
            raise Forbidden("system only / 仅限系统")
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else self.clock.now()
        except (AttributeError, ValueError):
            raise BadInput("at: ISO 8601", fields={"at": ["ISO 8601"]}) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        result = app.check_limits(self.store, when, self.settings_)
        self.relay_mine()
        return result

    # ----- operators -------------------------------------------------------------------------------
    @rpc
    def backdate(self, case_id: str, days: int) -> dict:
        """Move every time of a case ``days`` into the past (for taking over records and the demo;
        follow with :meth:`recount_indicators`). System only. Errors: BadInput (days not 1-3650)."""
        return self._done(app.backdate(self.store, self.identity.actor, case_id, days))

    @rpc
    def replay_cases(self, specs: list) -> dict:
        """Take over past cases (the demo, a migration): each :class:`ReplayIn` is run through the
        ordinary use cases at its own times, without events, audit entries or derived documents (follow
        with :meth:`recount_indicators`). System only. Out: ``{"cases": [ids]}``. Errors: BadInput (the
        position and field of a bad spec), Forbidden, Conflict/Forbidden of a step that the rules refuse."""
        from dmlib.errors import Forbidden

        if not self.identity.actor.is_system:
            raise Forbidden("system only / 仅限系统")
        loaded = []
        for i, spec in enumerate(specs[:500]):
            try:
                loaded.append(c.ReplayIn().load(spec))
            except Exception as exc:
                raise BadInput(
                    f"replay spec {i} is invalid", fields={str(i): getattr(exc, "messages", str(exc))}
                ) from None
        days = Counter(f"{rules.china_day(s['at']):%y%m%d}" for s in loaded)
        quiet, peers = app.ReplayStore(self.store, days), app.CachedPeers(self.peers)
        ids = [
            app.replay(self.store, self.identity.actor, self.settings_, peers, s, quiet)["_id"]
            for s in loaded
        ]
        quiet.flush()
        return {"cases": ids}

    @rpc
    def recount_indicators(self) -> dict:
        """Rebuild the indicator counters and alert tallies from the cases (an operator's repair; a scan).
        System only. Out: ``{"cases", "counters"}``."""
        return app.recount(self.store, self.identity.actor, self.settings_)
