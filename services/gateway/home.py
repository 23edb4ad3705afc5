"""The "what needs me" home and the federation overview (issue 16).

The home asks every service that owns something a person may have to do (``needs_of``, one small
read-only RPC per service, each deciding through its own policy what the caller sees; the answer shape is
:mod:`dmlib.contracts.needs`) in **one round**: every request is sent first (``call_async``), then each
reply is awaited against one shared deadline (:data:`NEEDS_TIMEOUT_S`). A service that is down, slow or
refuses does not break the page: its part shows as unavailable (:func:`gather`).

What the page shows is built by pure functions (:func:`home_view`, :func:`overview_rows`), tested with
hand-written answers in tests/unit/test_home.py: each thing to do links to the page where it is done
(:data:`ITEM_LINKS`, :data:`QUEUE_LINKS`), each queue shows its count and its oldest item's age.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import eventlet

from dmlib.errors import Forbidden

from .http import page
from .routing import Router

log = logging.getLogger(__name__)

#: The whole home waits at most this long for the services' answers (one deadline for all of them);
#: below the RPC timeout on purpose: a slow service costs the page a part, not the page.
NEEDS_TIMEOUT_S = 6.0

#: The services asked, in the order their parts appear: (dependency name on the gateway, service name).
NEEDS_SOURCES: tuple[tuple[str, str], ...] = (
    ("members_rpc", "members"),
    ("voting_rpc", "voting"),
    ("congress_rpc", "congress"),
    ("elections_rpc", "elections"),
    ("surveys_rpc", "surveys"),
    ("proposals_rpc", "proposals"),
    ("disclosure_rpc", "disclosure"),
    ("cases_rpc", "cases"),
)


def _session_of_item(item: dict) -> str:
    """A congress vote is cast on its session's page: the poll's ``scope`` is the agenda item, whose id is
    ``<session id>-i<n>`` (services/congress/store.py); without one, the congress home."""
    ref = item.get("scope") or ""
    return f"/congress/sessions/{ref.rsplit('-i', 1)[0]}" if "-i" in ref else "/congress"


#: Where each kind of thing to do is done: a format string over the item (``id``, ``scope``,
#: ``union_id``) or a function of it.
ITEM_LINKS: dict[str, str | Callable[[dict], str]] = {
    "choice_vote": _session_of_item,
    "campaign_open": "/evaluations/{id}/rate",
    "session_due": "/congress/sessions/{id}",
    "election_ballot": "/elections/{id}/ballot",
    "appraisal_ballot": "/appraisals/{id}",
    "award_ballot": "/award-rounds/{id}/ballot",
    "survey_open": "/surveys/{id}",
    "proposal_cosign": "/proposals/{id}",
    "proposal_draft": "/proposals/{id}",
    "proposal_rate": "/proposals/{id}",
    "disclosure_unread": "/disclosures/{id}",
    "case_mine": "/cases/{id}",
    "import_errors": "/imports/{id}",
}

#: Where each queue is worked through: a format string over the queue row (``scope``, ``union_id``).
QUEUE_LINKS: dict[str, str] = {
    "surveys_running": "/surveys",
    "proposals_to_reply": "/proposals/inbox/{scope}",
    "proposals_to_review": "/proposals",
    "proposals_open": "/proposals",
    "questions_waiting": "/unions/{scope}/disclosures/questions",
    "mandatory_reads": "/unions/{scope}/disclosures/dashboard",
    "cases_open": "/unions/{scope}/cases",
    "cases_near_limit": "/unions/{scope}/cases",
}

#: Queue kinds that are figures for the overview, not work waiting (not listed as queues on the home).
FIGURES = ("mandatory_reads", "proposals_open", "evaluation_ballots")


def gather(calls: Mapping[str, Callable], timeout: float = NEEDS_TIMEOUT_S, clock=time.monotonic) -> dict:
    """``{name: answer or None}`` for ``{name: rpc method}``: every call is sent before any reply is
        awaited (``call_async``), then each reply gets what is left of one ``timeout`` (seconds; once it
    has passed, a reply already back is still taken). A call
        that fails to send, answers with an error or is not back in time gives None (logged), never raises."""
    pending: dict[str, object] = {}
    out: dict[str, object] = {}
    for name, method in calls.items():
        try:
            pending[name] = method.call_async()
        except Exception as exc:  # noqa: BLE001 - a service down must not break the home
            log.warning("needs_of: %s not asked: %s", name, exc)
            out[name] = None
    end = clock() + timeout
    for name, reply in pending.items():
        out[name] = None
        left = max(0.0, end - clock())  # past the deadline: only a reply already back is taken
        try:
            with eventlet.Timeout(left, False):
                out[name] = reply.result()
                continue
            log.warning("needs_of: %s not back within %.1f s", name, timeout)
        except Exception as exc:  # noqa: BLE001 - the part shows as unavailable
            log.warning("needs_of: %s failed: %s", name, exc)
    return out


def _href(link, obj: dict) -> str | None:
    if link is None:
        return None
    return link(obj) if callable(link) else link.format(**{"scope": None, "union_id": None, **obj})


def _parse(value) -> datetime | None:
    if not value:
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def age_days(value, now: datetime) -> int | None:
    """Whole days from ``value`` (ISO 8601 or datetime) to ``now``; None without a value."""
    at = _parse(value)
    return None if at is None else max(0, (now - at).days)


def home_view(answers: Mapping[str, dict | None], now: datetime) -> dict:
    """What the home shows from the services' answers (``{service: NeedsOut or None}``):

    ``{"items": [item + {"service", "href", "days_left"}], "queues": [queue + {"service", "href",
    "age_days"}], "unavailable": [service], "nothing": bool}``. Items are sorted by their closing date
    (those without one last), queues by the age of their oldest item (oldest first); queues that are
    figures (:data:`FIGURES`) and empty queues are left out."""
    items, queues, unavailable = [], [], []
    for service, answer in answers.items():
        if answer is None:
            unavailable.append(service)
            continue
        for item in answer.get("items", []):
            link = ITEM_LINKS.get(item["kind"])
            due = _parse(item.get("due_at"))
            items.append(
                {
                    **item,
                    "service": service,
                    "href": _href(link, item),
                    "days_left": None if due is None else (due - now).days,
                }
            )
        for queue in answer.get("queues", []):
            if queue["kind"] in FIGURES or not queue.get("count"):
                continue
            link = QUEUE_LINKS.get(queue["kind"])
            queues.append(
                {
                    **queue,
                    "service": service,
                    "href": _href(link, queue),
                    "age_days": age_days(queue.get("oldest_at"), now),
                }
            )
    items.sort(key=lambda i: (i.get("due_at") is None, i.get("due_at") or "", i["kind"], i["id"]))
    queues.sort(key=lambda q: (-(q["age_days"] or 0), q["kind"], q["scope"]))
    return {
        "items": items,
        "queues": queues,
        "unavailable": unavailable,
        "nothing": not items and not queues and not unavailable,
    }


#: The overview's columns: (key, queue kind, what of the row is taken).
OVERVIEW_COLUMNS = (
    ("open_proposals", "proposals_open", "count"),
    ("overdue_proposals", "proposals_open", "overdue"),
    ("to_review", "proposals_to_review", "count"),
    ("questions_waiting", "questions_waiting", "count"),
    ("open_cases", "cases_open", "count"),
    ("cases_near_limit", "cases_near_limit", "count"),
    ("surveys_running", "surveys_running", "count"),
)


def overview_rows(
    unions: list[dict], members: Mapping[str, int], answers: Mapping[str, dict | None]
) -> list[dict]:
    """One row per union of ``unions`` (``{id, name, kind, path}``, the root first): its members, the
    figures of :data:`OVERVIEW_COLUMNS` from the services' queues (None when that service did not
    answer), and the read rate of its mandatory disclosures (receipts ÷ (mandatory items × members),
    as services/disclosure/rules.py ``rate``; None without items or members) and the participation of
    its Worker Home in the open evaluation campaign (ballots ÷ eligible members; None when it takes part in
    none the caller runs)."""
    by_kind: dict[tuple[str, str], dict] = {}
    answered: set[str] = set()
    for answer in answers.values():
        if answer is None:
            continue
        for q in answer.get("queues", []):
            answered.add(q["kind"])
            by_kind[(q["kind"], q["scope"])] = q
    kinds_of = {
        "disclosure": ("mandatory_reads", "questions_waiting"),
        "cases": ("cases_open", "cases_near_limit"),
    }
    kinds_of |= {"proposals": ("proposals_open", "proposals_to_review"), "surveys": ("surveys_running",)}
    kinds_of |= {"voting": ("evaluation_ballots",)}
    up = {k for s, a in answers.items() if a is not None for k in kinds_of.get(s, ())}
    rows = []
    for u in unions:
        row = {
            "id": u["id"],
            "name": u["name"],
            "kind": u.get("kind"),
            "depth": len(u.get("path", [])),
            "members": members.get(u["id"]),
        }
        for key, kind, part in OVERVIEW_COLUMNS:
            row[key] = (by_kind.get((kind, u["id"])) or {}).get(part, 0) if kind in up else None
        reads = by_kind.get(("mandatory_reads", u["id"]))
        count = members.get(u["id"]) or 0
        if "mandatory_reads" not in up:
            row["read_rate"] = None
        elif reads and reads.get("of") and count:
            row["read_rate"] = min(1.0, reads["count"] / (reads["of"] * count))
        else:
            row["read_rate"] = None
        ballots = by_kind.get(("evaluation_ballots", u["id"]))
        row["evaluation_participation"] = (
            ballots["count"] / ballots["of"]
            if ballots and ballots.get("of") and "evaluation_ballots" in up
            else None
        )
        rows.append(row)
    return rows


class HomeRoutes(Router):
    """The home (``/``) and the federation overview (``/unions/<union_id>/overview``)."""

    uses = ("members_rpc", *(dep for dep, _ in NEEDS_SOURCES))

    def _needs(self) -> dict:
        return gather({service: getattr(self, dep).needs_of for dep, service in NEEDS_SOURCES})

    @page("GET", "/")
    def home(self, request):
        """The "what needs me" home: the caller's things to do with their closing dates and links, the
        queues of what they handle or administer with counts and the oldest item's age (per union for
        admins, across the unions below), the parts whose service did not answer marked unavailable,
        then the grid of every capability. The needs come from each service's ``needs_of`` in one round
        (:func:`gather`)."""
        profile = self.members_rpc.profile()
        view = home_view(self._needs(), datetime.now(UTC))
        return self.web.render("home.html", request=request, profile=profile, needs=view)

    @page("GET", "/unions/<union_id>/overview")
    def federation_overview(self, request, union_id):
        """Key figures per union at and below ``union_id`` (members, open and overdue proposals, proposals
        to review, questions waiting, disclosure read rate, open cases and those near their limit,
        running surveys, participation in the open evaluation campaign) in a table with a chart. Admins of the union or of a union above it (403
        otherwise; each figure is also limited by its service's policy). Errors: NotFound (union)."""
        actor = self.identity.actor
        union = self.members_rpc.get_union(union_id)
        if not actor.administers(union["path"]):
            raise Forbidden("only admins of this union may see its overview / 仅本单位及上级工会管理员可查看")
        unions = self.members_rpc.list_unions(union_id)
        unions.sort(key=lambda u: (len(u.get("path", [])), u["name"]))
        members = {u["id"]: u.get("member_count") for u in unions}
        answers = self._needs()
        rows = overview_rows(unions, members, answers)
        return self.web.render(
            "overview.html",
            request=request,
            union=union,
            rows=rows,
            unavailable=[s for s, a in answers.items() if a is None],
        )
