"""The notify service: tells members what concerns them (DESIGN.md §3), exactly once per member per event.

Event handlers decide who to tell by asking the owning services over RPC (as the system), render each
message from ``templates/<locale>/<kind>.txt`` in the member's language and store/queue it:

- inbox: always (the record); e-mail and SMS: the member's preferences per kind of event
  (:mod:`services.notify.rules`), only on channels configured here (``SMTP_URI``, ``SMS_URL``);
- every message has the ``_id`` ``<event id>:<member>:<channel>``, inserted once, so a redelivered or
  duplicated event sends nothing twice;
- push messages go to the delivery queue in bulk (kombu, :mod:`services.notify.delivery`); at most
  ``NOTIFY_HOURLY_LIMIT`` immediate push messages per member per hour, the rest (and everything for
  members who chose the daily digest) go into the next daily digest;
- the delivery worker (``deliver``, nameko ``consume`` via ``dmlib.rpc.consume``) sends one message, logs the try on the message,
  and on a transient failure puts the job into a delay queue (TTL + dead-lettering back to the work
  queue) until ``NOTIFY_RETRY_DELAYS`` are used up; then the message is ``failed`` and
  ``notification_failed`` is published from the message's outbox (``OutboxRelay``);
- every change of state is a guarded write (:mod:`.store`); a message a crash or an outage left
  ``queued``, ``sending`` or ``retrying`` without a job is re-queued by the ``resume_deliveries`` timer.

This module holds the nameko entrypoints, the audiences and the fan-out (which asks other services over
RPC); the use cases are in :mod:`.app`, who may do what in :mod:`.policy`.

Large audiences (a union's roster) are paged 5,000 members at a time from ``members.union_roster``,
rendered, inserted with ``insert_many`` and announced on each union's feed (see :mod:`.store`); memory
holds one page at a time. Progress is logged per batch and kept in ``fanouts``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from dmlib.auth import Identity
from dmlib.contracts import notify as c
from dmlib.errors import NotFound
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, consume, event_handler, rpc
from dmlib.state import OutboxRelay
from dmlib.storage import Mongo

from . import app
from .delivery import WORK_QUEUE, CourierProvider, SendersProvider
from .render import Templates
from .rules import CST, KINDS, LOCALES, Prefs, digest_day, hour_bucket, message_id
from .store import NotifyStore, now

log = logging.getLogger(__name__)
ROSTER_PAGE = 5000
MEMBERS_PAGE = 1000


@dataclass(frozen=True)
class Settings:
    base_url: str
    hourly_limit: int


class SettingsProvider(DependencyProvider):
    """``NOTIFY_BASE_URL`` (links in e-mail and SMS; default http://127.0.0.1:8000) and
    ``NOTIFY_HOURLY_LIMIT`` (immediate push messages per member per hour, default 5; 0 = no limit)."""

    def setup(self) -> None:
        config = self.container.config
        raw_limit = config.get("NOTIFY_HOURLY_LIMIT")
        self.settings = Settings(
            base_url=(config.get("NOTIFY_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            hourly_limit=5 if raw_limit in (None, "") else int(raw_limit),
        )

    def get_dependency(self, worker_ctx) -> Settings:
        return self.settings


def _iso_minute(value: str | None) -> str:
    """``2026-11-30T08:00:00Z`` → ``2026-11-30 16:00`` (China time), for message texts."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return at.astimezone(CST).strftime("%Y-%m-%d %H:%M") if at.tzinfo else at.strftime("%Y-%m-%d %H:%M")


class NotifyService(OutboxRelay, HealthRpc):
    name = "notify"

    store: NotifyStore = Mongo(NotifyStore)
    identity = Identity()
    events = Events()
    templates = Templates()
    courier = CourierProvider()
    senders = SendersProvider()
    settings = SettingsProvider()
    members_rpc = Rpc("members")
    voting_rpc = Rpc("voting")
    congress_rpc = Rpc("congress")
    surveys_rpc = Rpc("surveys")
    cases_rpc = Rpc("cases")

    # ===== audiences ==============================================================================
    def _roster_pages(self, union_id: str) -> Iterator[list[dict]]:
        """A union's members, 5,000 per RPC call, as recipients ``{member_id, name, locale, union_id}``."""
        offset = 0
        while True:
            page = self.members_rpc.union_roster(union_id, offset, ROSTER_PAGE)
            members = page["members"]
            if not members:
                return
            yield [
                {
                    "member_id": m["member_id"],
                    "name": m["name"],
                    "locale": m.get("locale") or "zh-CN",
                    "union_id": union_id,
                }
                for m in members
            ]
            offset += len(members)
            if offset >= page["total"]:
                return

    def _member_pages(self, member_ids: Iterable[str]) -> Iterator[list[dict]]:
        """Named members (delegates, a proposer and co-signers, an asker), 1,000 per RPC call."""
        ids = list(dict.fromkeys(m for m in member_ids if m))
        for i in range(0, len(ids), MEMBERS_PAGE):
            found = self.members_rpc.get_members(ids[i : i + MEMBERS_PAGE])
            yield [
                {
                    "member_id": m["id"],
                    "name": m["name"],
                    "locale": m.get("locale") or "zh-CN",
                    "union_id": m["union_id"],
                }
                for m in found
            ]

    # ===== fan-out ================================================================================
    def _fanout(
        self,
        payload: dict,
        kind: str,
        context: dict,
        link: str,
        unions: list[str] | None = None,
        member_ids: Iterable[str] | None = None,
        extra: Callable[[dict], dict] | None = None,
    ) -> dict:
        """Render, store and queue the messages of one event for its audience: the members of
        ``unions`` (paged rosters, announced on the unions' feeds) or the named ``member_ids`` (put in
        their boxes directly). Idempotent: replaying the event inserts and queues nothing twice.
        Returns ``{"members", "inbox", "push", "queued", "seconds"}``."""
        event_id = payload["event_id"]
        started = time.perf_counter()
        self.store.fanout_started(event_id, kind)
        state = {
            "prefs": self.store.all_prefs(),
            "available": self.senders.available,
            "paths": {},
            "bucket": hour_bucket(now()),
            "texts": {},
        }
        state["default_push"] = Prefs.from_doc(None).push_channels(kind, state["available"])
        totals = {"members": 0, "inbox": 0, "push": 0, "queued": 0, "batches": 0}

        def run(batch: list[dict], direct: bool) -> None:
            n_inbox, n_push, n_queued = self._batch(
                event_id, kind, batch, context, link, extra, state, direct
            )
            totals["members"] += len(batch)
            totals["inbox"] += n_inbox
            totals["push"] += n_push
            totals["queued"] += n_queued
            totals["batches"] += 1
            elapsed = time.perf_counter() - started
            log.info(
                "fan-out %s %s: batch %d done, %d members, %d inbox + %d push messages new, %d queued, "
                "%.0f members/s",
                kind,
                event_id,
                totals["batches"],
                totals["members"],
                totals["inbox"],
                totals["push"],
                totals["queued"],
                totals["members"] / elapsed if elapsed else 0,
            )
            self.store.fanout_progress(event_id, **totals)

        for union_id in unions or []:
            for batch in self._roster_pages(union_id):
                run(batch, direct=False)
            self.store.add_to_feed(union_id, event_id)
        if member_ids is not None:
            for batch in self._member_pages(member_ids):
                run(batch, direct=True)
        totals["seconds"] = round(time.perf_counter() - started, 3)
        self.store.fanout_done(event_id, **totals)
        return totals

    def _path(self, state: dict, union_id: str) -> list[str]:
        paths = state["paths"]
        if union_id not in paths:
            try:
                paths[union_id] = self.members_rpc.get_union(union_id)["path"]
            except NotFound:
                paths[union_id] = [union_id]
        return paths[union_id]

    def _text(self, event_id, kind, locale, context, variant, link, state) -> dict:
        """The inbox and SMS texts of a member's language and context, rendered once per fan-out and
        stored once (``texts``): these blocks do not use the member's name. A variant is rendered in
        every locale at once (ids differing only in the locale: :func:`.store.text_in`), so the inbox
        shows each message in the reader's page language (issue 16)."""
        shape = json.dumps(variant, sort_keys=True, ensure_ascii=False, default=str)
        if (locale, shape) not in state["texts"]:
            base = self.settings.base_url
            ctx = {**context, **variant, "name": "", "url": base + link, "base_url": base}
            digest = hashlib.sha1(shape.encode()).hexdigest()[:12]
            texts = []
            for loc in dict.fromkeys((locale, *LOCALES)):
                rendered = self.templates.render(kind, loc, ctx, ("subject", "inbox", "sms"))
                texts.append(
                    {
                        "_id": f"{event_id}:{loc}:{digest}",
                        "kind": kind,
                        "subject": rendered["subject"],
                        "body": rendered["inbox"],
                        "sms": rendered["sms"],
                        "link": link,
                    }
                )
            self.store.insert_texts(texts)
            for loc, text in zip(dict.fromkeys((locale, *LOCALES)), texts, strict=True):
                state["texts"][(loc, shape)] = text
        return state["texts"][(locale, shape)]

    def _batch(self, event_id, kind, batch, context, link, extra, state, direct) -> tuple[int, int, int]:
        at = now()
        base = self.settings.base_url
        inbox_docs, outbox_docs = [], []
        for r in batch:
            prefs = state["prefs"].get(r["member_id"])
            push = (
                Prefs.from_doc(prefs).push_channels(kind, state["available"])
                if prefs
                else state["default_push"]
            )
            variant = extra(r) if extra else {}
            text = self._text(event_id, kind, r["locale"], context, variant, link, state)
            inbox_docs.append(
                {
                    "_id": message_id(event_id, r["member_id"], "inbox"),
                    "member_id": r["member_id"],
                    "union_id": r["union_id"],
                    "event_id": event_id,
                    "kind": kind,
                    "text": text["_id"],
                    "at": at,
                    "read_at": None,
                }
            )
            if not push:
                continue
            digest_mode = (prefs or {}).get("digest") == "daily"
            email = None
            if "email" in push:  # the e-mail greets the member by name: rendered for each one
                ctx = {**context, **variant, "name": r["name"], "url": base + link, "base_url": base}
                email = self.templates.render(kind, r["locale"], ctx, ("email",))["email"]
            for channel in push:
                status = "digest" if digest_mode else "queued"
                outbox_docs.append(
                    {
                        "_id": message_id(event_id, r["member_id"], channel),
                        "member_id": r["member_id"],
                        "name": r["name"],
                        "union_id": r["union_id"],
                        "union_path": self._path(state, r["union_id"]),
                        "event_id": event_id,
                        "kind": kind,
                        "channel": channel,
                        "locale": r["locale"],
                        "subject": text["subject"],
                        "body": email if channel == "email" else text["sms"],
                        "link": link,
                        "status": status,
                        "attempts": 0,
                        "log": [
                            {
                                "at": at,
                                "status": status,
                                "note": "daily digest chosen" if status == "digest" else "",
                            }
                        ],
                        "at": at,
                        "updated_at": at,
                    }
                )
        new_inbox = self.store.insert_inbox(inbox_docs)
        new_push = self.store.insert_outbox(outbox_docs)
        jobs = []
        for d in outbox_docs:
            if d["_id"] not in new_push:
                continue
            if d["status"] == "queued":  # the hourly limit is applied by the worker, before it sends
                jobs.append(d["_id"])
            else:
                app.defer(self.store, d, at)
        self.courier.publish_jobs(jobs)
        if direct:  # every message of the batch, new or not: a replay completes an interrupted run
            self.store.push_to_boxes({d["member_id"]: d["_id"] for d in inbox_docs})
        return len(new_inbox), len(new_push), len(jobs)

    # ===== event handlers =========================================================================
    @event_handler("voting", "poll_opened")
    def handle_poll_opened(self, payload: dict) -> None:
        """A Worker Home evaluation campaign opened (rating poll owned by ``evaluations``): every member of
        every participating union (their Worker Home's members), inbox + their chosen channels."""
        if payload.get("owner") != "evaluations" or payload.get("kind") != "rating":
            return
        self.identity.act_as_service()
        campaign = self.voting_rpc.get_campaign(payload["ref"])
        self._fanout(
            payload,
            "campaign_opened",
            {
                "title": campaign["title"],
                "union_name": campaign.get("union_name") or "",
                "closes_at": _iso_minute(campaign.get("closes_at")),
            },
            f"/evaluations/{campaign['id']}",
            unions=[h["union_id"] for h in campaign["homes"]],
        )

    @event_handler("voting", "results_published")
    def handle_results_published(self, payload: dict) -> None:
        """A campaign's results: the members of each evaluated union, with their own home's star level."""
        self.identity.act_as_service()
        campaign = self.voting_rpc.get_campaign(payload["campaign_id"])
        stars = payload.get("star_levels") or {}
        self._fanout(
            payload,
            "results_published",
            {"title": campaign["title"], "ballots": payload.get("ballots", 0)},
            f"/evaluations/{campaign['id']}/results",
            unions=[h["union_id"] for h in campaign["homes"]],
            extra=lambda r: {"star_level": stars.get(r["union_id"], 0)},
        )

    def _disclosure(self, payload: dict, kind: str) -> None:
        self.identity.act_as_service()
        self._fanout(
            payload,
            kind,
            {
                "title": payload.get("title") or "",
                "mandatory": bool(payload.get("mandatory")),
                "revision": payload.get("revision") or 1,
                "reason": payload.get("reason") or "",
            },
            f"/disclosures/{payload['item_id']}",
            unions=[payload["union_id"]],
        )

    @event_handler("disclosure", "disclosure_published")
    def handle_disclosure_published(self, payload: dict) -> None:
        """A disclosure item published: every member of the union (its audience)."""
        self._disclosure(payload, "disclosure_published")

    @event_handler("disclosure", "disclosure_corrected")
    def handle_disclosure_corrected(self, payload: dict) -> None:
        """A disclosure item corrected: every member of the union, like a publication."""
        self._disclosure(payload, "disclosure_corrected")

    @event_handler("disclosure", "question_answered")
    def handle_question_answered(self, payload: dict) -> None:
        """A question answered: the asker, unless they asked anonymously (then nobody knows who asked)."""
        if not payload.get("asker_id"):
            return
        self.identity.act_as_service()
        self._fanout(
            payload,
            "question_answered",
            {},
            f"/disclosures/{payload['item_id']}#questions",
            member_ids=[payload["asker_id"]],
        )

    @event_handler("elections", "round_opened")
    def handle_round_opened(self, payload: dict) -> None:
        """A round of an election opened: its electors (the union's members, the delegates of the term
        when delegates elect, or the delegates present at the congress session for a session's
        election item), told to vote."""
        self.identity.act_as_service()
        context = {
            "title": payload.get("title") or "",
            "n": payload.get("n") or 1,
            "round_kind": payload.get("kind") or "first",
            "seats": payload.get("seats") or 0,
        }
        link = f"/elections/{payload['election_id']}"
        if payload.get("electorate") == "session" and payload.get("session_id"):
            # a congress session's election: the delegates checked in there (congress, the owner)
            present = self.congress_rpc.present_delegates(payload["session_id"])
            self._fanout(payload, "election_round_opened", context, link, member_ids=present["member_ids"])
        elif payload.get("electorate") == "term" and payload.get("term_id"):
            delegates = self.congress_rpc.list_delegates(payload["term_id"])
            self._fanout(
                payload,
                "election_round_opened",
                context,
                link,
                member_ids=[d["member_id"] for d in delegates],
            )
        else:
            self._fanout(payload, "election_round_opened", context, link, unions=[payload["union_id"]])

    @event_handler("elections", "election_published")
    def handle_election_published(self, payload: dict) -> None:
        """An election's results published: every member of the union."""
        self.identity.act_as_service()
        context = {"title": payload.get("title") or "", "elected": payload.get("elected") or 0}
        self._fanout(
            payload,
            "election_published",
            context,
            f"/elections/{payload['election_id']}",
            unions=[payload["union_id"]],
        )

    def _session_delegates(self, payload: dict, kind: str, context: dict) -> None:
        self.identity.act_as_service()
        session = self.congress_rpc.get_session(payload["session_id"])
        delegates = self.congress_rpc.list_delegates(session["term_id"])
        self._fanout(
            payload,
            kind,
            {
                "title": session["title"],
                "scheduled_at": _iso_minute(session.get("scheduled_at")),
                **context(session),
            },
            f"/congress/sessions/{session['id']}",
            member_ids=[d["member_id"] for d in delegates],
        )

    @event_handler("congress", "session_planned")
    def handle_session_planned(self, payload: dict) -> None:
        """A session planned: the delegates of its term."""
        self._session_delegates(payload, "session_planned", lambda s: {})

    @event_handler("congress", "session_convened")
    def handle_session_convened(self, payload: dict) -> None:
        """A session convened: the delegates of its term, with 应到/实到."""
        self._session_delegates(
            payload,
            "session_convened",
            lambda s: {
                "due_count": payload.get("due_count", 0),
                "present_count": payload.get("present_count", 0),
            },
        )

    @event_handler("congress", "vote_opened")
    def handle_vote_opened(self, payload: dict) -> None:
        """A vote opened on a resolution: the delegates of the term (congress exposes no list of those
        present; the message says that those present vote)."""

        def item_title(session: dict) -> dict:
            item = next((i for i in session.get("items", []) if i["id"] == payload["item_id"]), None)
            return {"item_title": item["title"] if item else payload["item_id"]}

        self._session_delegates(payload, "vote_opened", item_title)

    def _resolution(self, payload: dict, kind: str) -> None:
        self.identity.act_as_service()
        session = self.congress_rpc.get_session(payload["session_id"])
        self._fanout(
            payload,
            kind,
            {k: payload.get(k, 0) for k in ("yes", "no", "abstain", "due", "required")}
            | {"title": payload.get("title") or ""},
            f"/congress/{payload['congress_id']}",
            unions=[session["union_id"]],
        )

    @event_handler("congress", "resolution_adopted")
    def handle_resolution_adopted(self, payload: dict) -> None:
        """A resolution adopted: every member of the union (it binds them all), with the counts."""
        self._resolution(payload, "resolution_adopted")

    @event_handler("congress", "resolution_failed")
    def handle_resolution_failed(self, payload: dict) -> None:
        """A resolution failed: every member of the union, with the counts and the yes votes needed."""
        self._resolution(payload, "resolution_failed")

    def _proposal(self, payload: dict, kind: str) -> None:
        self.identity.act_as_service()
        proposer = payload.get("proposer_id")
        cosigners = list(payload.get("cosigner_ids") or [])
        self._fanout(
            payload,
            kind,
            {
                "subject": payload.get("subject") or payload["proposal_id"],
                "deadline": _iso_minute(payload.get("deadline"))[:10],
            },
            f"/proposals/{payload['proposal_id']}",
            member_ids=[proposer, *cosigners],
            extra=lambda r: {"role": "proposer" if r["member_id"] == proposer else "cosigner"},
        )

    @event_handler("proposals", "proposal_accepted")
    def handle_proposal_accepted(self, payload: dict) -> None:
        """A proposal accepted (立案): its proposer and co-signers."""
        self._proposal(payload, "proposal_accepted")

    @event_handler("proposals", "proposal_assigned")
    def handle_proposal_assigned(self, payload: dict) -> None:
        """A proposal assigned to its departments (交办): its proposer and co-signers."""
        self._proposal(payload, "proposal_assigned")

    @event_handler("proposals", "proposal_replied")
    def handle_proposal_replied(self, payload: dict) -> None:
        """A department replied (答复): its proposer and co-signers, asked to rate the reply."""
        self._proposal(payload, "proposal_replied")

    @event_handler("proposals", "proposal_overdue")
    def handle_proposal_overdue(self, payload: dict) -> None:
        """A proposal past its deadline (催办): its proposer and co-signers. The early reminder (``overdue``
        false: due within 3 days) is for the departments, not the proposer: not sent."""
        if payload.get("overdue") is False:
            return
        self._proposal(payload, "proposal_overdue")

    def _case(self, payload: dict, kind: str) -> None:
        """A case event for the worker who filed it (nobody for a non-member caller or an anonymous
        suggestion: ``worker_id`` null)."""
        self.identity.act_as_service()
        worker = payload.get("worker_id")
        if not worker:
            return
        self._fanout(
            payload,
            kind,
            {
                "subject": payload.get("title") or payload["case_id"],
                "case_id": payload["case_id"],
                "deadline": _iso_minute(payload.get("deadline"))[:10],
            },
            f"/cases/{payload['case_id']}",
            member_ids=[worker],
        )

    def _case_staff(self, payload: dict, kind: str, supervisors: bool = False, **context) -> None:
        """A case event for the union staff who handle it: the ``union_admin`` and ``hotline_staff`` of
        the handling union, and with ``supervisors`` the ``union_admin`` and ``superior_admin`` of the
        union above it (督办; the handling union itself at the root). The handling union is read from
        cases and the union above from members (the owners), never from the event body; the holders from
        ``members.role_holders``. Their messages are a fan-out of their own (event id + ``:staff``), so a
        worker who is also staff gets both and a redelivery inserts nothing twice."""
        self.identity.act_as_service()
        case = self.cases_rpc.get_case(payload["case_id"])
        union_id = case.get("handling_union_id")
        if not union_id:
            return
        staff = self.members_rpc.role_holders(union_id, ["union_admin", "hotline_staff"])
        if supervisors:
            parent = self.members_rpc.get_union(union_id).get("parent_id") or union_id
            staff += self.members_rpc.role_holders(parent, ["union_admin", "superior_admin"])
        member_ids = list(dict.fromkeys(h["member_id"] for h in staff))
        if not member_ids:
            return
        self._fanout(
            {**payload, "event_id": f"{payload['event_id']}:staff"},
            kind,
            {
                "subject": case.get("title") or payload["case_id"],
                "case_id": payload["case_id"],
                "union_name": case.get("handling_union_name") or union_id,
                "deadline": _iso_minute(payload.get("deadline"))[:10],
                **context,
            },
            f"/cases/{payload['case_id']}",
            member_ids=member_ids,
        )

    @event_handler("cases", "case_received")
    def handle_case_received(self, payload: dict) -> None:
        """A case received (接): its worker, with the case number to quote."""
        self._case(payload, "case_received")

    @event_handler("cases", "case_dispatched")
    def handle_case_dispatched(self, payload: dict) -> None:
        """A case dispatched or transferred (派, 转办) or reopened for round 2: its worker, and the
        handling union's admins and hotline staff (``case_assigned``: to sign for it)."""
        self._case(payload, "case_dispatched")
        self._case_staff(payload, "case_assigned", sign_for_by=_iso_minute(payload.get("sign_for_by")))

    @event_handler("cases", "case_reminded")
    def handle_case_reminded(self, payload: dict) -> None:
        """A reminder (催办) before or after a limit (sign-for, contact, reply): the handling union's
        admins and hotline staff (never the worker)."""
        self._case_staff(
            payload,
            "case_reminded",
            limit=payload.get("limit") or "reply",
            when=payload.get("when") or "before",
            due_at=_iso_minute(payload.get("due_at")),
        )

    @event_handler("cases", "case_supervised")
    def handle_case_supervised(self, payload: dict) -> None:
        """A superior admin's supervision or chase (督办, 催办): the handling union's admins and hotline
        staff."""
        self._case_staff(payload, "case_supervised")

    @event_handler("cases", "case_overdue")
    def handle_case_overdue(self, payload: dict) -> None:
        """A case past its reply limit, escalated to the superior union (督办): its worker, the handling
        union's admins and hotline staff and the superior union's admins (``case_escalated``)."""
        self._case(payload, "case_overdue")
        self._case_staff(payload, "case_escalated", supervisors=True)

    @event_handler("cases", "case_replied")
    def handle_case_replied(self, payload: dict) -> None:
        """The final reply of a round (答复): its worker, asked to rate it."""
        self._case(payload, "case_replied")

    def _survey(self, payload: dict, kind: str, page: Callable[..., dict]) -> None:
        """A survey's members, paged from the surveys service as the system (``page(survey_id, offset,
        limit)``): never their answers, only who is in the audience or has not submitted yet."""
        self.identity.act_as_service()
        member_ids: list[str] = []
        offset, total = 0, 1
        while offset < total:
            part = page(payload["survey_id"], offset, ROSTER_PAGE)
            member_ids.extend(m["member_id"] for m in part["members"])
            total, offset = part["total"], offset + ROSTER_PAGE
        self._fanout(
            payload,
            kind,
            {
                "title": payload.get("title") or "",
                "closes_at": _iso_minute(payload.get("closes_at")),
                "reminder": payload.get("reminder") or 0,
            },
            f"/surveys/{payload['survey_id']}",
            member_ids=member_ids,
        )

    @event_handler("surveys", "survey_opened")
    def handle_survey_opened(self, payload: dict) -> None:
        """A survey opened: every member of its audience (``surveys.audience_members``)."""
        self._survey(payload, "survey_opened", self.surveys_rpc.audience_members)

    @event_handler("surveys", "survey_reminded")
    def handle_survey_reminded(self, payload: dict) -> None:
        """A reminder: the members of the audience who have not submitted when notify asks
        (``surveys.pending_members``); the message says nothing about anyone's answers."""
        self._survey(payload, "survey_reminded", self.surveys_rpc.pending_members)

    # ===== delivery (use cases in .app) ===========================================================
    def _delivery(self) -> app.Delivery:
        return app.Delivery(
            senders=self.senders,
            courier=self.courier,
            member_of=self.members_rpc.get_member,
            hourly_limit=self.settings.hourly_limit,
            render=self.templates.render,
            base_url=self.settings.base_url,
        )

    @consume(queue=WORK_QUEUE)
    def deliver(self, job: dict) -> None:
        """Send one push message (job ``{"id": message id}`` from the work queue, first try or retry):
        :func:`services.notify.app.deliver` (a duplicate or early job does nothing; transient failure →
        ``retrying`` and a delay-queue job; the last try or a permanent failure → ``failed`` with
        ``notification_failed`` in the same write, published from the outbox)."""
        mid = job.get("id") if isinstance(job, dict) else None
        if not mid or not isinstance(mid, str):
            log.warning("delivery job without id: %r", job)
            return
        self.identity.act_as_service()  # the address is read from members as the system
        app.deliver(self.store, now, self._delivery(), mid)
        self.relay_mine()

    @timer(interval=60)
    def resume_deliveries(self) -> None:
        """Every minute: re-queue push messages whose delivery job a crash or an outage lost
        (:func:`services.notify.app.resume_deliveries`)."""
        app.resume_deliveries(self.store, now, self.courier)

    # ===== digests ================================================================================
    @timer(interval=600)
    def send_due_digests(self) -> None:
        """Every 10 minutes: send the digests of the days that are over (China time), once each."""
        app.send_digests(self.store, now, self._delivery(), digest_day(now() - timedelta(days=1)))

    @rpc
    def run_digests(self, through_day: str | None = None) -> dict:
        """Send the pending digests of days up to ``through_day`` (``YYYY-MM-DD``, China time; default
        yesterday) now. System only (Forbidden otherwise; BadInput for another date format). Idempotent
        per member per day: the digest e-mail has the ``_id`` ``digest-<day>:<member>:email`` and the
        digest is closed last. Out: ``{"sent"}``."""
        return app.run_digests(self.store, self.identity.actor, now, self._delivery(), through_day)

    # ===== the inbox ==============================================================================
    @rpc
    def inbox(self, query: dict | None = None) -> dict:
        """A page of the caller's own inbox, newest first. In: :class:`InboxIn` (``page``, ``per_page``
        ≤ 100, default 20; ``unread``). Out: :class:`InboxOut` (``items`` with ``read``, ``unread``
        count). Members only (Forbidden). Cost: two ``_id`` lookups plus one per message shown."""
        query = c.InboxIn().load(query or {})
        out = app.inbox(self.store, self.identity.actor, query)
        return {**out, "items": [c.MessageOut().dump(m) for m in out["items"]]}

    @rpc
    def unread_count(self) -> dict:
        """``{"unread": n}`` for the caller (shown on every page). Two ``_id`` lookups when nothing is new."""
        return app.unread_count(self.store, self.identity.actor)

    @rpc
    def mark_read(self, data: dict) -> dict:
        """Mark messages of the caller's own inbox read. In: :class:`MarkReadIn` (``ids`` ≤ 200, or
        ``all``). Every id must be in the caller's inbox, else NotFound and nothing is marked.
        Out: ``{"marked", "unread"}``."""
        data = c.MarkReadIn().load(data)
        return app.mark_read(self.store, self.identity.actor, now, data)

    # ===== preferences ============================================================================
    @rpc
    def get_prefs(self) -> dict:
        """The caller's preferences (:class:`PrefsOut`): push channels per group (defaults when never set),
        digest mode, the channels this server offers, the hourly limit, and whether the registry has an
        e-mail address and a mobile number for them. Members only."""
        return c.PrefsOut().dump(app.get_prefs(self.store, self.identity.actor, self._delivery()))

    @rpc
    def set_prefs(self, data: dict) -> dict:
        """Replace the caller's preferences. In: :class:`PrefsIn` ``{"channels": {group: [email|sms]},
        "digest": "immediate"|"daily"}`` (groups not given keep no push channel). Out: :class:`PrefsOut`.
        Audited (``notify.preferences_set``, in the chain of the member's union)."""
        data = c.PrefsIn().load(data)
        out = app.set_prefs(
            self.store,
            self.identity.actor,
            now,
            self._delivery(),
            data,
            c.GROUPS,
            self.members_rpc.get_union,
        )
        return c.PrefsOut().dump(out)

    # ===== the delivery log (admins) ================================================================
    @rpc
    def delivery_log(self, query: dict) -> dict:
        """The push messages (e-mail, SMS, digests) of the members of a union and the unions below it,
        newest first, with counts per status, failures and retries. In: :class:`DeliveryLogIn`
        (``union_id``, ``status``, ``channel``, ``page``, ``per_page``). Out: :class:`DeliveryLogOut`.
        Admins of the union or above (Forbidden); NotFound for an unknown union. A scan of ``outbox``
        (an admin report; see docs/storage.md)."""
        query = c.DeliveryLogIn().load(query)
        union = self.members_rpc.get_union(query["union_id"])
        out = app.delivery_log(self.store, self.identity.actor, union, query)
        return {**out, "items": [c.DeliveryOut().dump(i) for i in out["items"]]}

    @rpc
    def fanout_status(self, event_id: str) -> dict:
        """Progress of the fan-out of one event (system and admins): ``{state, members, inbox, push,
        queued, batches, seconds}``."""
        return app.fanout_status(self.store, self.identity.actor, event_id)


__all__ = ["NotifyService", "KINDS"]
