"""Use cases of the congress service: functions of (store, actor, clock, input[, peers]).

Each asks :mod:`.policy` first (403), reads what the decision needs, applies :mod:`.rules` (409 with the
numbers) and commits through :mod:`.store` with one guarded, versioned write carrying its events in the
document's outbox (``store.change`` / ``store.create``; docs/architecture.md "Changing state") and, for a
change made by a person, its audit entry (:func:`_audit`, :mod:`dmlib.audit`): one per use case, at its
commit point; none for the system (timers, event handlers, the demo loader). A refusal writes nothing.

- ``store``: :class:`services.congress.store.CongressStore` (or the in-memory fake of the unit tests);
- ``actor``: :class:`dmlib.auth.Actor` from the verified token;
- ``clock``: a function returning the aware UTC ``datetime`` now;
- ``peers``: members and voting as the use cases need them (:class:`Peers`).

Inputs arrive loaded by the contract schemas (:mod:`dmlib.contracts.congress`); results are the stored
documents (or plain dicts) that the service shapes with :mod:`.views`. No nameko here.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pymongo.errors import DuplicateKeyError, PyMongoError

from dmlib.attachments import attachment_out, decode_attachments
from dmlib.audit import Audit, by_person, by_system
from dmlib.auth import Actor, service_actor
from dmlib.errors import BadInput, Conflict, NotFound, ServiceError
from dmlib.state import event, request_key

from . import policy, rules, views
from .store import congress_id_of

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
#: Bytes per agenda item attachment: the limit cases and disclosure use by default (5 MiB).
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


class Peers(Protocol):
    """What the use cases ask members and voting. The service's implementation decides whose token each
    call carries: the caller's (``union``, ``roster``, ``cast``, ``my_poll``) or the service's own."""

    def union(self, union_id: str) -> dict:
        """A union: ``id``, ``kind``, ``name``, ``path`` (NotFound)."""

    def roster(self, union_id: str) -> dict[str, dict]:
        """``{member id: {member_id, name, …}}`` of a union's whole roster."""

    def grant_delegate(self, member_id: str, congress_id: str) -> None:
        """Grant the ``delegate`` role (scope = congress id) in members (ServiceError when refused)."""

    def open_poll(self, spec: dict) -> dict:
        """Open a choice poll in voting: ``{"poll_id", …}`` (ServiceUnavailable when voting is down)."""

    def cast(self, poll_id: str, choice: str) -> dict:
        """The caller's ballot, with the caller's own token: ``{"receipt", …}``."""

    def close_poll(self, poll_id: str) -> dict:
        """Close a poll: its final ``status``, ``counts``, ``ballots``, ``eligible``, ``recount_matches``."""

    def poll(self, poll_id: str) -> dict:
        """A poll as the service reads it (``status``, ``owner``, ``ref``, ``counts``, ``ballots`` …)."""

    def my_poll(self, poll_id: str) -> dict:
        """A poll as the caller reads it (``has_voted``)."""

    def election(self, election_id: str) -> dict:
        """An election as the service reads it (elections' ``get_election``: ``status``, ``union_id``,
        ``electorate``, ``session_id``, ``due``, ``elected``, ``vacant``, ``rounds`` …; NotFound)."""

    def open_election(self, election_id: str) -> dict:
        """elections' ``open_voting`` with the caller's own token (the election's admins): the election
        with ``due``. Conflict from elections (slate, quorum, not this session's open election …)."""

    def my_election(self, election_id: str) -> dict:
        """An election as the caller reads it (``has_voted`` in the open round)."""

    def election_projector(self, election_id: str) -> dict:
        """elections' ``projector`` data as the service reads it: ``due``, ``turnout_required``,
        ``round`` ``{n, status, ballots, …}``; counts only."""


# ----- loading, shared pieces --------------------------------------------------------------------------
def load_congress(store, congress_id: str) -> dict:
    doc = store.get_congress(congress_id)
    if doc is None:
        raise NotFound(f"no congress {congress_id} / 职代会不存在", details={"congress_id": congress_id})
    return doc


def load_term(store, term_id: str) -> dict:
    doc = store.get_term(term_id)
    if doc is None:
        raise NotFound(f"no term {term_id} / 届次不存在", details={"term_id": term_id})
    return doc


def load_session(store, session_id: str) -> dict:
    doc = store.get_session(session_id)
    if doc is None:
        raise NotFound(f"no session {session_id} / 会议不存在", details={"session_id": session_id})
    return doc


def load_item(store, item_id: str) -> dict:
    doc = store.get_item(item_id)
    if doc is None:
        raise NotFound(f"no agenda item {item_id} / 议程不存在", details={"item_id": item_id})
    return doc


def _audit(
    actor: Actor | None, action: str, object_type: str, object_id: str, scoped: dict, **kwargs
) -> Audit | None:
    """:func:`dmlib.audit.by_person` for ``congress.<action>`` in the chain of ``scoped``'s union
    (``union_id``/``union_path``); ``role=`` for a delegate's own acts."""
    return by_person(
        actor,
        f"congress.{action}",
        object_type,
        object_id,
        scoped["union_id"],
        scoped["union_path"],
        **kwargs,
    )


def _system_audit(
    actor: Actor | None, action: str, object_type: str, object_id: str, scoped: dict, **kwargs
) -> Audit:
    """:func:`dmlib.audit.by_system` for ``congress.<action>``, done by the congress service itself (a
    change that must be audited although no person made it here: a vote's outcome from ``poll_closed``)."""
    return by_system(
        service_actor("congress"),
        f"congress.{action}",
        object_type,
        object_id,
        scoped["union_id"],
        scoped["union_path"],
        **kwargs,
    )


def present(store, session: dict) -> int:
    """实到: fixed when the session closed, else the count of its check-ins now."""
    final = session.get("present_final")
    return final if final is not None else store.present_count(session["_id"])


def session_view(store, session: dict, term: dict | None = None, with_items: bool = True) -> dict:
    """The session as :class:`SessionOut` (its term read unless given; its agenda unless told not)."""
    term = term if term is not None else load_term(store, session["term_id"])
    items = store.items_of(session["_id"]) if with_items else None
    return views.session(session, term, present(store, session), items)


def active_item(store, session: dict) -> dict | None:
    """The item the session names as open, unless it is decided already (the session's release is
    the second write of recording an outcome; until it lands, the decided item is not in the way)."""
    if not session.get("open_item"):
        return None
    item = store.get_item(session["open_item"])
    return item if item is not None and item["state"] in ("pending", "voting") else None


def election_live(peers: Peers, item: dict) -> dict | None:
    """The live figures of an election item's open round, from the election projector of the elections
    service (the owner): ``{ballots, eligible (= the electors due: the delegates present when voting
    opened), turnout_required (> 2/3 of due, 条例 2016), round}``; None when there is no election yet or
    elections cannot say (logged)."""
    if not item.get("election_id") or item["state"] != "voting":
        return None
    try:
        data = peers.election_projector(item["election_id"])
    except ServiceError as exc:
        log.warning("election %s not readable: %s", item["election_id"], exc)
        return None
    rnd = data.get("round") or {}
    return {
        "ballots": rnd.get("ballots"),
        "eligible": data.get("due"),
        "turnout_required": data.get("turnout_required"),
        "round": rnd.get("n"),
        "round_status": rnd.get("status"),
    }


def live_ballots(peers: Peers, item: dict) -> dict:
    """The ballots cast so far on the item being voted, from their owner: an election item's
    :func:`election_live` (``ballots``, ``eligible``, ``turnout_required``, ``round``, ``round_status``), a
    resolution's from its poll in voting (``ballots``, ``eligible``); ``{}`` when there is nothing to
    count yet or the owner cannot say (logged)."""
    if item["kind"] == "election":
        return election_live(peers, item) or {}
    if not item.get("poll_id"):
        return {}
    try:
        poll = peers.poll(item["poll_id"])
    except ServiceError as exc:
        log.warning("poll %s not readable: %s", item["poll_id"], exc)
        return {}
    return {"ballots": poll.get("ballots"), "eligible": poll.get("eligible")}


def release_vote(store, session_id: str, item_id: str) -> None:
    """The session no longer names ``item_id`` as open (nothing to do if it does not any more). A
    database failure here is logged: the item is then found decided (or pending, and opening it
    again resumes), so nothing stays blocked."""
    try:
        store.change("sessions", session_id, expect={"open_item": item_id}, set={"open_item": None})
    except Conflict:
        pass
    except PyMongoError as exc:
        log.warning("session %s still names %s as open: %s", session_id, item_id, exc)


# ----- congresses, terms, delegations ------------------------------------------------------------------
def create_congress(store, actor: Actor, clock: Clock, peers: Peers, data: dict) -> dict:
    """Set up the congress of a grassroots union (data: :class:`CongressIn`, loaded); returns it.
    BadInput (not grassroots), Forbidden, Conflict (exists)."""
    union = peers.union(data["union_id"])
    policy.require_union_admin(actor, union["path"])
    if union["kind"] != "grassroots":
        raise BadInput(
            "a congress belongs to a grassroots union / 职代会须属于基层工会",
            fields={"union_id": ["not a grassroots union / 不是基层工会"]},
        )
    doc = {
        "_id": congress_id_of(union["id"]),
        "union_id": union["id"],
        "union_path": union["path"],
        "union_name": union["name"],
        "name": data["name"] or union["name"].removesuffix("工会") + "职工代表大会",
        "created_at": clock(),
        "created_by": actor.member_id,
    }
    try:
        store.insert_congress(
            doc,
            [event("congress_created", congress_id=doc["_id"], union_id=doc["union_id"])],
            _audit(actor, "congress_created", "congress", doc["_id"], doc, fields=("name",)),
        )
    except DuplicateKeyError:
        raise Conflict(
            "this union already has a congress / 该工会已设职代会",
            details={"congress_id": doc["_id"]},
            reason="congress_exists",
        ) from None
    return doc


def get_congress(store, actor: Actor, congress_id: str) -> tuple[dict, list[dict]]:
    """(congress, its terms by number). Readers only."""
    congress = load_congress(store, congress_id)
    policy.require_reader(actor, {**congress, "congress_id": congress["_id"]})
    return congress, store.terms_of(congress_id)


def create_term(store, actor: Actor, clock: Clock, congress_id: str, data: dict) -> dict:
    """Open term ``data["number"]`` (:class:`TermIn`, loaded) of a congress; returns the term.
    Admins. Conflict when the number exists."""
    congress = load_congress(store, congress_id)
    policy.require_admin(actor, congress)
    doc = {
        "_id": f"{congress_id}-t{data['number']}",
        "congress_id": congress_id,
        "union_id": congress["union_id"],
        "union_path": congress["union_path"],
        "number": data["number"],
        "start": data["start"].isoformat(),
        "end": data["end"].isoformat(),
        "delegations": [{"id": f"g{i}", "name": d["name"]} for i, d in enumerate(data["delegations"], 1)],
        "delegation_counts": {},
        "delegate_count": 0,
        "manager_count": 0,
        "session_count": 0,
        "created_at": clock(),
    }
    try:
        store.insert_term(
            doc,
            _audit(
                actor,
                "term_created",
                "term",
                doc["_id"],
                doc,
                fields=("number", "start", "end", "delegations"),
            ),
        )
    except DuplicateKeyError:
        raise Conflict(
            f"term {data['number']} exists / 第{data['number']}届已存在",
            fields={"number": ["already exists / 已存在"]},
        ) from None
    return doc


def get_term(store, actor: Actor, term_id: str) -> dict:
    term = load_term(store, term_id)
    policy.require_reader(actor, term)
    return term


def add_delegation(store, actor: Actor, term_id: str, data: dict) -> dict:
    """Add a delegation (:class:`DelegationIn`, loaded) to a term; returns the term. Admins.
    Conflict when the name is taken (or the term changed meanwhile)."""
    term = load_term(store, term_id)
    policy.require_admin(actor, term)
    if any(d["name"] == data["name"] for d in term.get("delegations", [])):
        raise Conflict("a delegation of that name exists / 代表团名称已存在", fields={"name": ["taken"]})
    delegation = {"id": f"g{uuid.uuid4().hex[:6]}", "name": data["name"]}
    return store.change(
        "terms",
        term_id,
        expect={"_v": term.get("_v")},  # unchanged since read: the name check still holds
        set={"delegations": [*term.get("delegations", []), delegation]},
        audit=_audit(actor, "delegation_added", "term", term_id, term, note=delegation),
    )


# ----- delegates ---------------------------------------------------------------------------------------
def _check_and_insert_delegates(
    store, clock: Clock, term: dict, roster: dict[str, dict], entries: list[dict], audit: Audit | None
) -> list[dict]:
    """Validate every entry, then insert them all and count them on the term at the version ``term``
    was read at (another change of the term meanwhile: Conflict, nothing kept), with ``audit`` (its
    note gets the elected member ids). Returns the documents."""
    term_id = term["_id"]
    delegations = {d["id"] for d in term.get("delegations", [])}
    bad: dict[str, dict[str, list[str]]] = {}
    taken: dict[str, dict[str, list[str]]] = {}
    for i, d in enumerate(entries):
        if d["member_id"] not in roster:
            bad.setdefault(str(i), {})["member_id"] = ["not a member of this union / 不是本单位会员"]
        if d["delegation_id"] not in delegations:
            bad.setdefault(str(i), {})["delegation_id"] = ["no such delegation / 代表团不存在"]
    if bad:
        raise BadInput("some delegates cannot be elected / 部分代表信息有误", fields={"delegates": bad})
    for i, d in enumerate(entries):
        if store.get_delegate(term_id, d["member_id"]) is not None:
            taken[str(i)] = {"member_id": ["already a delegate of this term / 已是本届代表"]}
    if taken:
        raise Conflict(
            "already delegates / 已是本届代表", fields={"delegates": taken}, reason="already_delegates"
        )
    at = clock()
    docs = [
        {
            "_id": f"{term_id}:{d['member_id']}",
            "term_id": term_id,
            "congress_id": term["congress_id"],
            "member_id": d["member_id"],
            "name": roster[d["member_id"]]["name"],
            "delegation_id": d["delegation_id"],
            "category": d["category"],
            "elected_at": at,
        }
        for d in entries
    ]
    if audit is not None:
        audit = dataclasses.replace(audit, note={"member_ids": [d["member_id"] for d in docs]})
    clashes = store.insert_delegates(term, docs, [], audit)
    if clashes:
        raise Conflict(
            "already delegates / 已是本届代表", details={"member_ids": clashes}, reason="already_delegates"
        )
    return docs


def elect_delegates(
    store, actor: Actor, clock: Clock, peers: Peers, term_id: str, data: dict
) -> tuple[dict, int]:
    """Record the delegates of :class:`ElectIn` (loaded) in a term, all or none, grant each the
    ``delegate`` role in members (a refused grant is logged: the delegates collection decides), then
    commit ``delegates_elected`` with the number granted. Returns (term after, number elected). Admins.
    BadInput (per entry), Conflict (already a delegate; a session of the term is convened)."""
    term = load_term(store, term_id)
    policy.require_admin(actor, term)
    if store.convened_sessions(term_id):
        raise Conflict(
            "a session of this term is in progress / 本届有会议正在进行，暂不能增补代表",
            details={"term_id": term_id},
            reason="session_in_progress",
        )
    roster = peers.roster(term["union_id"])
    docs = _check_and_insert_delegates(
        store,
        clock,
        load_term(store, term_id),
        roster,
        data["delegates"],
        _audit(actor, "delegates_elected", "term", term_id, term),
    )
    granted = 0
    for d in docs:
        try:
            peers.grant_delegate(d["member_id"], term["congress_id"])
            granted += 1
        except ServiceError as exc:  # the role is a convenience; the delegates collection decides
            log.warning("delegate role for %s not granted: %s", d["member_id"], exc)
    store.change(  # the event after the grants, which it counts (an unconditional write)
        "terms",
        term_id,
        events=[
            event(
                "delegates_elected",
                congress_id=term["congress_id"],
                term_id=term_id,
                member_ids=[d["member_id"] for d in docs],
                roles_granted=granted,
            )
        ],
    )
    return load_term(store, term_id), len(docs)


def list_delegates(store, actor: Actor, term_id: str) -> list[dict]:
    """The delegates of a term by delegation then member number, each with ``delegation_name``."""
    term = load_term(store, term_id)
    policy.require_reader(actor, term)
    names = {d["id"]: d["name"] for d in term.get("delegations", [])}
    docs = sorted(store.delegates_of(term_id), key=lambda d: (d["delegation_id"], d["member_id"]))
    return [{**d, "delegation_name": names.get(d["delegation_id"], "")} for d in docs]


# ----- sessions and agenda -----------------------------------------------------------------------------
def create_session(store, actor: Actor, clock: Clock, term_id: str, data: dict) -> dict:
    """Plan a session of a term with its agenda (:class:`SessionIn`, loaded). Returns its
    :class:`SessionOut`. Admins. Once per ``client_key`` (a retried plan returns the session planned
    first: :meth:`Store.once`)."""
    term = load_term(store, term_id)
    policy.require_admin(actor, term)
    # every item's files checked and decoded before anything is written (400 / 413)
    files = [decode_attachments(i.get("attachments") or [], MAX_ATTACHMENT_BYTES) for i in data["agenda"]]

    def make(session_id: str, number: int) -> tuple[dict, list[dict]]:
        items = [
            {
                **i,
                "_id": f"{session_id}-i{n}",
                "session_id": session_id,
                "order": n,
                "state": "pending",
                "attachments": _stored_files(store, f"{session_id}-i{n}", item_files),
            }
            for n, (i, item_files) in enumerate(zip(data["agenda"], files, strict=True), 1)
        ]
        doc = {
            "_id": session_id,
            "term_id": term_id,
            "congress_id": term["congress_id"],
            "union_id": term["union_id"],
            "union_path": term["union_path"],
            "number": number,
            "kind": data["kind"],
            "title": data["title"],
            "scheduled_at": data["scheduled_at"],
            "state": "planned",
            "due_count": None,
            "present_final": None,
            "open_item": None,
            "quorum_reached_at": None,
            "created_at": clock(),
            "created_by": actor.member_id,
        }
        return doc, items

    def events(doc: dict) -> list[dict]:
        return [
            event("session_planned", congress_id=term["congress_id"], term_id=term_id, session_id=doc["_id"])
        ]

    def audit(doc: dict) -> Audit | None:
        return _audit(
            actor,
            "session_planned",
            "session",
            doc["_id"],
            term,
            fields=("number", "kind", "title", "scheduled_at", "state"),
            note={"agenda_items": len(data["agenda"])},
        )

    def create() -> dict:
        doc, items = store.insert_session(term, make, events, audit)
        return views.session(doc, term, present(store, doc), items)

    return store.once(
        request_key(actor.member_id, data.get("client_key")),
        "sessions",
        create,
        lambda first: session_view(store, first, term),
    )


def add_agenda_item(store, actor: Actor, session_id: str, data: dict) -> dict:
    """Append an agenda item (:class:`AgendaItemIn`, loaded) to a session not closed; returns it.
    Admins. Conflict (closed)."""
    session = load_session(store, session_id)
    policy.require_admin(actor, session)
    if session["state"] == "closed":
        raise Conflict(
            "the session is closed / 会议已闭幕", details={"state": "closed"}, reason="session_closed"
        )
    files = decode_attachments(data.get("attachments") or [], MAX_ATTACHMENT_BYTES)  # 400/413, none written
    audit = _audit(
        actor, "agenda_item_added", "item", "", session, fields=("title", "kind", "secret", "order")
    )

    def make(item_id: str) -> dict:
        return {**data, "state": "pending", "attachments": _stored_files(store, item_id, files)}

    return store.add_item(session_id, make, audit)


def _stored_files(store, item_id: str, files: list[dict]) -> list[dict]:
    """Store an item's decoded files (each its own document, ``item_id`` on it) and return what the
    item lists of them (:class:`AttachmentOut`). Written before the item: a crash in between leaves files
    no item lists, never an item listing a missing file."""
    store.store_files([{**f, "item_id": item_id} for f in files])
    return [
        {"id": f["_id"], "filename": f["filename"], "content_type": f["content_type"], "size": f["size"]}
        for f in files
    ]


def get_attachment(store, actor: Actor, item_id: str, attachment_id: str) -> dict:
    """A file of an agenda item for whoever may read its session (:func:`policy.require_reader`: members
    of the union, its delegates, admins), decided before the file is read: ``{id, filename,
    content_type, size (bytes), content_b64}``. NotFound for an unknown item or a file not its own."""
    item = load_item(store, item_id)
    policy.require_reader(actor, load_session(store, item["session_id"]))
    doc = store.get_attachment(attachment_id) if isinstance(attachment_id, str) else None
    if doc is None or doc.get("item_id") != item_id:
        raise NotFound("no such attachment / 附件不存在")
    return attachment_out(doc)


def get_session(store, actor: Actor, session_id: str) -> dict:
    """A session as :class:`SessionOut` with its agenda. Readers."""
    session = load_session(store, session_id)
    policy.require_reader(actor, session)
    return session_view(store, session)


def needs_of(store, actor: Actor) -> dict:
    """What needs the caller in the workers' congress (issue 16, :mod:`dmlib.contracts.needs`): items
    ``session_due`` for the planned or convened sessions of the terms they are a delegate of
    (:func:`policy.needs_congresses`) where they have not checked in yet (``due_at`` the scheduled
    time; convened ones first). No queues. Cost: a scan of each congress's sessions (a few per term),
    one delegate and one presence lookup per session."""
    items = []
    for congress_id in sorted(policy.needs_congresses(actor)):
        for s in store.sessions_of(congress_id):
            if s["state"] not in ("planned", "convened"):
                continue
            if store.get_delegate(s["term_id"], actor.member_id) is None:
                continue
            if store.is_present(s["_id"], actor.member_id):
                continue
            items.append(
                {
                    "kind": "session_due",
                    "id": s["_id"],
                    "title": s["title"],
                    "union_id": s["union_id"],
                    "due_at": s.get("scheduled_at"),
                    "scope": s["state"],
                }
            )
    items.sort(key=lambda i: (i["scope"] != "convened", str(i["due_at"] or "")))
    return {"items": items, "queues": []}


def list_sessions(store, actor: Actor, congress_id: str) -> list[dict]:
    """Every session of a congress as :class:`SessionOut`, newest first. Readers."""
    congress = load_congress(store, congress_id)
    policy.require_reader(actor, {**congress, "congress_id": congress_id})
    terms = {t["_id"]: t for t in store.terms_of(congress_id)}
    out = [session_view(store, s, terms[s["term_id"]]) for s in store.sessions_of(congress_id)]
    return sorted(out, key=lambda s: (s["term_id"], s["number"]), reverse=True)


def session_counts(store, actor: Actor, peers: Peers, session_id: str) -> dict:
    """Live counts of a session (:class:`CountsOut` fields): 应到, 实到, required, quorum, the yes votes
    a resolution needs (``adoption_required``, what a confirmation states), per delegation, and the open item with the ballots voting has (None when voting cannot say)."""
    session = load_session(store, session_id)
    policy.require_reader(actor, session)
    term = load_term(store, session["term_id"])
    present_ids, by = store.presence(session_id)
    due, here = views.due(session, term), len(present_ids)
    open_item = None
    if item := active_item(store, session):
        open_item = {"id": item["_id"], "title": item["title"], "secret": item["secret"], "ballots": None}
        if item["kind"] == "election":
            open_item["election_id"] = item.get("election_id")
        live = live_ballots(peers, item)
        open_item.update({k: live[k] for k in ("ballots", "eligible") if k in live})
    return {
        "session_id": session_id,
        "state": session["state"],
        "due_count": due,
        "present_count": here,
        "required": rules.quorum_required(due),
        "quorum": rules.quorum(here, due),
        "adoption_required": rules.adoption_required(due),
        "by_delegation": views.by_delegation(term, by),
        "open_item": open_item,
    }


# ----- check-in and quorum -----------------------------------------------------------------------------
def check_in(store, actor: Actor, clock: Clock, session_id: str, data: dict) -> dict:
    """Check a delegate in (:class:`CheckInIn`, loaded; ``member_id`` None = oneself), idempotently;
    commits ``quorum_reached`` once, when a planned session first has ⌈2/3⌉ of all delegates present
    (1986 条例 art. 18). Returns :class:`CheckInOut` fields. BadInput (an admin naming a non-delegate),
    Forbidden, Conflict (closed)."""
    session = load_session(store, session_id)
    member_id = data["member_id"] or actor.member_id
    by_admin = member_id != actor.member_id
    if by_admin:
        policy.require_admin(actor, session)
    delegate = store.get_delegate(session["term_id"], member_id)
    if delegate is None:
        if by_admin:
            raise BadInput(
                "not a delegate of this term / 不是本届职工代表",
                fields={"member_id": ["not a delegate of this term / 不是本届职工代表"]},
            )
        policy.require_self_check_in(actor, False)
    if session["state"] == "closed":
        raise Conflict(
            "the session is closed / 会议已闭幕", details={"state": "closed"}, reason="session_closed"
        )
    audit = _audit(
        actor,
        "delegate_checked_in",
        "check_in",
        f"{session_id}:{member_id}",
        session,
        role=None if by_admin else "delegate",
        fields=("member_id", "delegation_id", "by"),
    )
    first = store.check_in(session_id, delegate, actor.member_id, clock(), audit)
    term = load_term(store, session["term_id"])
    due, here = views.due(session, term), store.present_count(session_id)
    if first and session["state"] == "planned" and rules.quorum(here, due):
        try:  # once per session: the write that marks it carries the event
            store.change(
                "sessions",
                session_id,
                expect={"state": "planned", "quorum_reached_at": None},
                set={"quorum_reached_at": clock()},
                events=[
                    event(
                        "quorum_reached",
                        congress_id=session["congress_id"],
                        session_id=session_id,
                        present_count=here,
                        due_count=due,
                    )
                ],
            )
        except Conflict:
            pass  # another check-in reached it first, or the session convened meanwhile
    return {
        "session_id": session_id,
        "member_id": member_id,
        "already": not first,
        "present_count": here,
        "due_count": due,
    }


def convene_session(store, actor: Actor, clock: Clock, session_id: str) -> dict:
    """planned → convened, only with present ≥ ⌈2/3⌉ of ALL delegates of the term (1986 条例 art. 18);
    应到 is then fixed on the session. Returns :class:`SessionOut`. Admins. Conflict with ``{due_count,
    present_count, required}`` when short, ``{state}`` when not planned."""
    session = load_session(store, session_id)
    policy.require_admin(actor, session)
    term = load_term(store, session["term_id"])
    due = term.get("delegate_count", 0)
    here = store.present_count(session_id)  # only grows while planned
    if session["state"] == "planned" and not rules.quorum(here, due):
        required = rules.quorum_required(due)
        raise Conflict(
            f"quorum not reached: {here} present of {due} delegates, {required} needed "
            f"/ 未达法定人数：应到{due}人，实到{here}人，须至少{required}人",
            details={"due_count": due, "present_count": here, "required": required},
            reason="quorum_not_reached",
        )

    def not_planned(current: dict) -> Conflict:
        return Conflict(
            "the session is not planned (already convened or closed) / 会议已开幕或已闭幕",
            details={"state": current["state"]},
            reason="session_not_planned",
        )

    if session["state"] != "planned":
        raise not_planned(session)
    after = store.change(
        "sessions",
        session_id,
        expect={"state": "planned"},
        set={"state": "convened", "due_count": due, "convened_at": clock(), "convened_by": actor.member_id},
        audit=_audit(
            actor,
            "session_convened",
            "session",
            session_id,
            session,
            fields=("state", "due_count", "convened_at"),
            note={"present_count": here},
        ),
        events=[
            event(
                "session_convened",
                congress_id=session["congress_id"],
                term_id=session["term_id"],
                session_id=session_id,
                due_count=due,
                present_count=here,
            )
        ],
        conflict=not_planned,
    )
    return session_view(store, after, term)


def close_session(store, actor: Actor, clock: Clock, session_id: str) -> dict:
    """Close a session (convened → closed; a planned one is called off), refused while a vote is open;
    实到 is then fixed. Returns :class:`SessionOut`. Admins. Conflict (closed, a vote open, changed)."""
    session = load_session(store, session_id)
    policy.require_admin(actor, session)
    state = session["state"]

    def refused(current: dict) -> Conflict:
        if current["state"] == "closed":
            return Conflict(
                "the session is already closed / 会议已闭幕",
                details={"state": "closed"},
                reason="session_closed",
            )
        if active_item(store, current):
            return Conflict(
                "close the open vote first / 请先结束正在进行的表决",
                details={"open_item": current["open_item"]},
                reason="another_vote_open",
            )
        return Conflict("the session changed meanwhile, try again / 会议状态已变化，请重试", reason="stale")

    if state == "closed" or active_item(store, session):
        raise refused(session)
    after = store.change(
        "sessions",
        session_id,
        # a decided item may still be named (its release is the second write of close_vote)
        expect={"state": state, "open_item": session.get("open_item")},
        set={
            "state": "closed",
            "open_item": None,
            "closed_at": clock(),
            "closed_by": actor.member_id,
            "present_final": store.present_count(session_id),
        },
        audit=_audit(
            actor,
            "session_closed",
            "session",
            session_id,
            session,
            fields=("state", "open_item", "closed_at", "present_final"),
        ),
        events=[
            event(
                "session_closed",
                congress_id=session["congress_id"],
                session_id=session_id,
                convened=state == "convened",
            )
        ],
        conflict=refused,
    )
    return session_view(store, after)


# ----- votes on resolutions ----------------------------------------------------------------------------
def open_vote(store, actor: Actor, clock: Clock, peers: Peers, item_id: str) -> dict:
    """Put an item to the vote: (1) the session names it open (one at a time, only while convened),
    (2) voting opens a choice poll for the delegates present now, (3) the commit point: the item is
    ``voting`` with its poll and ``vote_opened``. Voting failing releases (1) and re-raises (the item
    stays pending); an opening cut short by a crash resumes. Returns the item. Admins. Conflict
    (a report, session not convened, another vote open, already voted on)."""
    item = load_item(store, item_id)
    sid = item["session_id"]
    session = load_session(store, sid)
    policy.require_admin(actor, session)
    if item["kind"] == "report":
        raise Conflict(
            "reports are heard, not voted on / 报告事项不表决",
            details={"kind": "report"},
            reason="report_not_voted",
        )
    if item["kind"] == "election" and not item.get("election_id"):
        raise Conflict(
            "set up or link the election of this item first / 请先为本项选举设立或关联选举",
            details={"election_id": None},
            reason="election_not_linked",
        )
    if session["state"] != "convened":
        raise Conflict(
            "votes are taken only in a convened session / 会议开幕后方可表决",
            details={"state": session["state"]},
            reason="session_not_convened",
        )
    if item["state"] != "pending":
        raise Conflict(
            "this item has been voted on / 该事项已表决",
            details={"state": item["state"]},
            reason="already_decided",
        )
    if session.get("open_item") != item_id:  # else: resuming an opening cut short by a crash or an outage
        active = active_item(store, session)
        if active:
            raise Conflict(
                "another vote is open / 另一项表决正在进行",
                details={"open_item": active["_id"]},
                reason="another_vote_open",
            )

        def refused(current: dict) -> Conflict:
            if current["state"] != "convened":
                return Conflict(
                    "the session is closed / 会议已闭幕",
                    details={"state": current["state"]},
                    reason="session_closed",
                )
            return Conflict(
                "another vote is open / 另一项表决正在进行",
                details={"open_item": current["open_item"]},
                reason="another_vote_open",
            )

        # step 1: the session names the item (one vote at a time); a decided item may still be named
        store.change(
            "sessions",
            sid,
            expect={"state": "convened", "open_item": session.get("open_item")},
            set={"open_item": item_id},
            conflict=refused,
        )
    if item["kind"] == "election":
        return _open_election(store, actor, clock, peers, item, session)
    voters, _ = store.presence(sid)
    try:
        poll = peers.open_poll(
            {
                "title": item["title"],
                "options": list(rules.CHOICES),
                "voters": voters,
                "secret": bool(item["secret"]),
                "owner": "congress",
                "ref": item_id,
                "union_id": session["union_id"],
                "union_path": session["union_path"],
                "congress_id": session["congress_id"],
            }
        )
    except Exception:
        release_vote(store, sid, item_id)
        raise
    # step 2, the commit point: the item is open for voting, with its event
    return store.change(
        "items",
        item_id,
        expect={"state": "pending"},
        set={"state": "voting", "poll_id": poll["poll_id"], "opened_at": clock(), "eligible": len(voters)},
        audit=_audit(actor, "vote_opened", "item", item_id, session),
        events=[
            event(
                "vote_opened",
                congress_id=session["congress_id"],
                session_id=sid,
                item_id=item_id,
                poll_id=poll["poll_id"],
                eligible=len(voters),
            )
        ],
        conflict=lambda current: Conflict(
            "this item has been voted on / 该事项已表决",
            details={"state": current["state"]},
            reason="already_decided",
        ),
    )


def _open_election(store, actor: Actor, clock: Clock, peers: Peers, item: dict, session: dict) -> dict:
    """Steps 2 and 3 of :func:`open_vote` for an election item, once the session names it open:
    elections' ``open_voting`` (with the admin's token) fixes the electors from
    :func:`present_delegates` (the delegates checked in now; it refuses unless the session is convened
    and quorate, 1986 条例 art. 18, and names this item's election), then the item is ``voting`` with
    ``eligible`` = the electors due and ``vote_opened``. Elections refusing releases the session (the
    item stays pending) and re-raises; an election found already voting (an opening cut short after
    elections answered) is taken as opened."""
    sid, eid = session["_id"], item["election_id"]
    try:
        opened = peers.open_election(eid)
    except Conflict:
        try:
            opened = peers.election(eid)
        except Exception:
            release_vote(store, sid, item["_id"])
            raise
        if opened.get("status") == "nominating":
            release_vote(store, sid, item["_id"])
            raise
    except Exception:
        release_vote(store, sid, item["_id"])
        raise
    due = int(opened.get("due") or 0)
    return store.change(
        "items",
        item["_id"],
        expect={"state": "pending", "election_id": eid},
        set={"state": "voting", "opened_at": clock(), "eligible": due},
        audit=_audit(actor, "vote_opened", "item", item["_id"], session, note={"election_id": eid}),
        events=[
            event(
                "vote_opened",
                congress_id=session["congress_id"],
                session_id=sid,
                item_id=item["_id"],
                poll_id=None,
                election_id=eid,
                eligible=due,
            )
        ],
        conflict=lambda current: Conflict(
            "this item has been voted on / 该事项已表决",
            details={"state": current["state"]},
            reason="already_decided",
        ),
    )


def link_election(store, actor: Actor, peers: Peers, item_id: str, data: dict) -> dict:
    """Name the election (:class:`ElectionLinkIn`, loaded) an agenda item of kind ``election`` runs:
    an election of the elections service, read from it (as the service), of the session's union,
    whose electorate is this very session, still ``nominating``. Allowed while the item is pending and
    the session not closed; linking again replaces the link. Returns the item. Admins. BadInput (not
    an election of this union and session), NotFound, Forbidden, Conflict (not an election item,
    voted on, session closed, election not nominating)."""
    item = load_item(store, item_id)
    session = load_session(store, item["session_id"])
    policy.require_admin(actor, session)
    if item["kind"] != "election":
        raise Conflict(
            "only an election item runs an election / 仅选举事项可关联选举",
            details={"kind": item["kind"]},
            reason="not_an_election_item",
        )
    if session["state"] == "closed":
        raise Conflict(
            "the session is closed / 会议已闭幕", details={"state": "closed"}, reason="session_closed"
        )
    if item["state"] != "pending":
        raise Conflict(
            "this item has been voted on / 该事项已表决",
            details={"state": item["state"]},
            reason="already_decided",
        )
    eid = data["election_id"]
    election = peers.election(eid)
    if (
        election.get("union_id") != session["union_id"]
        or election.get("electorate") != "session"
        or election.get("session_id") != session["_id"]
    ):
        raise BadInput(
            "not an election of this union among the delegates present at this session "
            "/ 不是本单位以本次会议到会代表为选举人的选举",
            fields={"election_id": ["electorate must be this session / 选举人须为本次会议到会代表"]},
        )
    if election.get("status") != "nominating":
        raise Conflict(
            "the election has left nomination / 该选举已结束提名",
            details={"status": election.get("status")},
            reason="nominations_closed",
        )
    return store.change(
        "items",
        item_id,
        expect={"state": "pending", "election_id": item.get("election_id")},
        set={"election_id": eid},
        audit=_audit(actor, "election_linked", "item", item_id, session, fields=("election_id",)),
        conflict=lambda current: Conflict(
            "the item changed meanwhile, try again / 议程已变化，请重试",
            details={"state": current["state"]},
            reason="stale",
        ),
    )


def present_delegates(store, actor: Actor, session_id: str) -> dict:
    """Who may vote at a session now (:class:`PresentOut` fields): the delegates checked in (sorted
    member ids), 应到 / 实到 with the quorum (at least two thirds of ALL delegates, 1986 条例 art. 18),
    and ``open_election``: the election of the open agenda item when it is an election item. The
    elections service reads this to fix a session election's electors. Readers (and the system)."""
    session = load_session(store, session_id)
    policy.require_reader(actor, session)
    term = load_term(store, session["term_id"])
    ids, _ = store.presence(session_id)
    due = views.due(session, term)
    item = active_item(store, session)
    return {
        "session_id": session_id,
        "union_id": session["union_id"],
        "state": session["state"],
        "due_count": due,
        "present_count": len(ids),
        "required": rules.quorum_required(due),
        "quorum": rules.quorum(len(ids), due),
        "open_election": item.get("election_id") if item and item["kind"] == "election" else None,
        "member_ids": sorted(ids),
    }


def record_election(
    store, clock: Clock, item: dict, session: dict, election: dict, actor: Actor | None = None
) -> dict:
    """Record the published result of an item's election once (:func:`rules.election_outcome`, read
    from elections): a guarded write voting → decided with ``election_recorded`` (and the admin's audit
    entry when ``actor`` asked for it); the loser of a race returns the recorded item. Then the session's
    open item is released. Conflict when the election is not published."""
    outcome = rules.election_outcome(election)
    if outcome is None or outcome["election_id"] != item.get("election_id"):
        raise Conflict(
            "the election's results are not published yet: close its rounds and publish them "
            "/ 选举结果尚未公布：请先结束投票并公布结果",
            details={"status": election.get("status")},
            reason="not_published",
        )
    try:
        decided = store.change(
            "items",
            item["_id"],
            expect={"state": "voting", "election_id": item["election_id"]},
            set={"state": "decided", "election_outcome": outcome, "decided_at": clock()},
            audit=_audit(
                actor,
                "election_recorded",
                "item",
                item["_id"],
                session,
                fields=("state", "decided_at"),
                note={"elected": len(outcome["elected"]), "vacant": outcome["vacant"]},
            ),
            events=[
                event(
                    "election_recorded",
                    congress_id=session["congress_id"],
                    term_id=session["term_id"],
                    session_id=session["_id"],
                    item_id=item["_id"],
                    election_id=item["election_id"],
                    title=item["title"],
                    due=outcome["due"],
                    elected=len(outcome["elected"]),
                    vacant=outcome["vacant"],
                )
            ],
        )
    except Conflict:
        decided = load_item(store, item["_id"])
        if decided["state"] != "decided":
            raise
    release_vote(store, session["_id"], item["_id"])
    return decided


def election_published(store, clock: Clock, peers: Peers, payload: dict) -> dict | None:
    """An ``election_published`` event: the item running that election (if it is voting) records the
    result read from elections (as the system) and only if elections says it is published: the event
    only says which election to look at (DESIGN.md §5, "The broker is not trusted"). Returns the
    decided item, or None when nothing was recorded."""
    eid = payload.get("election_id")
    if not isinstance(eid, str) or not eid:
        return None
    item = store.item_of_election(eid)
    if item is None or item["kind"] != "election" or item["state"] != "voting":
        return None
    election = peers.election(item["election_id"])
    if election.get("status") != "published" or election.get("election_id") != item["election_id"]:
        log.warning(
            "election_published %s: elections says %s is %s: nothing recorded",
            payload.get("event_id"),
            eid,
            election.get("status"),
        )
        return None
    return record_election(store, clock, item, load_session(store, item["session_id"]), election)


def cast_vote(store, actor: Actor, peers: Peers, item_id: str, data: dict) -> dict:
    """A delegate's ballot (:class:`VoteIn`, loaded) on the open item, forwarded to voting with the
    delegate's own token. Returns :class:`VoteOut` fields. Forbidden (not a delegate of the term, not
    checked in), Conflict (not open for voting; a second ballot, from voting)."""
    item = load_item(store, item_id)
    session = load_session(store, item["session_id"])
    policy.require_delegate_vote(actor, store.get_delegate(session["term_id"], actor.member_id) is not None)
    if item["kind"] == "election":
        raise Conflict(
            "an election is voted on its ballot page / 选举请在选票页投票",
            details={"election_id": item.get("election_id")},
            reason="vote_on_ballot_page",
        )
    if item["state"] != "voting" or not item.get("poll_id"):
        raise Conflict(
            "this item is not open for voting / 该事项不在表决中",
            details={"state": item["state"]},
            reason="vote_not_open",
        )
    policy.require_checked_in(actor, store.is_present(session["_id"], actor.member_id))
    receipt = peers.cast(item["poll_id"], data["choice"])
    return {"item_id": item_id, "poll_id": item["poll_id"], "receipt": receipt["receipt"]}


def close_vote(store, actor: Actor, clock: Clock, peers: Peers, item_id: str) -> dict:
    """Close the vote on an item and record its outcome (:func:`record_outcome`); an item decided
    already is returned as it is. An election item's rounds are closed and its results published in
    elections: here its published result is recorded (:func:`record_election`, read from elections).
    Returns the item. Admins. Conflict (not voting; an election not yet published)."""
    item = load_item(store, item_id)
    session = load_session(store, item["session_id"])
    policy.require_admin(actor, session)
    if item["state"] in rules.DECIDED_STATES:
        return item
    if item["kind"] == "election" and item["state"] == "voting":
        return record_election(store, clock, item, session, peers.election(item["election_id"]), actor)
    if item["state"] != "voting" or not item.get("poll_id"):
        raise Conflict(
            "this item is not open for voting / 该事项不在表决中",
            details={"state": item["state"]},
            reason="vote_not_open",
        )
    closed = peers.close_poll(item["poll_id"])
    return record_outcome(store, clock, item, session, closed, actor)


def record_outcome(
    store, clock: Clock, item: dict, session: dict, poll: dict, actor: Actor | None = None
) -> dict:
    """Record the outcome of a closed poll once: adopted iff yes > 1/2 of ALL delegates of the term
    (1986 条例 art. 18; 企业民主管理规定 2012 art. 20), whatever the abstentions; a guarded write
    (voting → adopted/failed) with the ``resolution_*`` event and its ``congress.vote_closed`` audit
    entry with the counts (by ``actor`` when an admin closed it, else, from the ``poll_closed`` event, by
    the congress service as the system: the outcome of a vote is always in the log); whoever loses the race (the admin's close or the ``poll_closed`` event)
    returns the recorded item. Then the session's open item is released (both do it, so this returns
    only once the next vote may open). Returns the decided item."""
    result = rules.outcome(
        poll.get("counts") or {},
        int(poll.get("ballots", 0)),
        int(poll.get("eligible", 0)),
        session.get("due_count") or 0,
    )
    outcome = {
        "yes": result.yes,
        "no": result.no,
        "abstain": result.abstain,
        "ballots": result.ballots,
        "eligible": result.eligible,
        "due": result.due,
        "required": result.required,
        "adopted": result.adopted,
        "recount_matches": poll.get("recount_matches"),
    }
    try:
        decided = store.change(
            "items",
            item["_id"],
            expect={"state": "voting", "poll_id": item.get("poll_id")},
            set={"state": result.state, "outcome": outcome, "decided_at": clock()},
            audit=(_audit if actor is not None else _system_audit)(
                actor,
                "vote_closed",
                "item",
                item["_id"],
                session,
                fields=("state", "decided_at"),
                note={k: outcome[k] for k in ("yes", "no", "abstain", "due", "required", "adopted")},
            ),
            events=[
                event(
                    f"resolution_{result.state}",
                    congress_id=session["congress_id"],
                    term_id=session["term_id"],
                    session_id=session["_id"],
                    item_id=item["_id"],
                    poll_id=item.get("poll_id"),
                    title=item["title"],
                    **{
                        k: outcome[k]
                        for k in ("yes", "no", "abstain", "ballots", "eligible", "due", "required")
                    },
                )
            ],
        )
    except Conflict:
        decided = load_item(store, item["_id"])
        if decided["state"] not in ("adopted", "failed"):
            raise
    release_vote(store, session["_id"], item["_id"])
    return decided


def poll_closed(store, clock: Clock, peers: Peers, payload: dict) -> dict | None:
    """A ``poll_closed`` event: the item it names (``ref``) gets its outcome recorded if it is voting
    on that very poll and voting (read through ``peers.poll``, as the system) says the poll is closed
    and ours; never from the counts, state or poll id in the message (DESIGN.md §5, "The broker is not
    trusted"; issue 12). Returns the decided item, or None when nothing was recorded."""
    if payload.get("owner") != "congress" or not payload.get("ref"):
        return None
    item = store.get_item(str(payload["ref"]))
    if item is None or item["state"] != "voting" or not item.get("poll_id"):
        return None
    if payload.get("poll_id") != item["poll_id"]:
        log.warning(
            "poll_closed %s names poll %s, but item %s is bound to poll %s: ignored",
            payload.get("event_id"),
            payload.get("poll_id"),
            item["_id"],
            item["poll_id"],
        )
        return None
    poll = peers.poll(item["poll_id"])
    if poll.get("status") != "closed" or poll.get("owner") != "congress" or poll.get("ref") != item["_id"]:
        log.warning(
            "poll_closed %s: voting says poll %s is %s (owner %s, ref %s): no outcome recorded",
            payload.get("event_id"),
            item["poll_id"],
            poll.get("status"),
            poll.get("owner"),
            poll.get("ref"),
        )
        return None
    return record_outcome(store, clock, item, load_session(store, item["session_id"]), poll)


# ----- the delegate's view and the minutes -------------------------------------------------------------
def my_status(store, actor: Actor, peers: Peers, session_id: str) -> dict:
    """The caller's place in a session: ``{session_id, member_id, is_delegate, delegation, checked_in,
    open_item: {id, title, secret, has_voted} | None}``. Readers and the term's delegates."""
    session = load_session(store, session_id)
    delegate = store.get_delegate(session["term_id"], actor.member_id)
    if delegate is None:
        policy.require_reader(actor, session)
    term = load_term(store, session["term_id"])
    names = {d["id"]: d["name"] for d in term.get("delegations", [])}
    checked_in = delegate is not None and store.is_present(session_id, actor.member_id)
    open_item = None
    if item := active_item(store, session):
        open_item = {
            "id": item["_id"],
            "title": item["title"],
            "secret": item["secret"],
            "has_voted": False,
            "kind": item["kind"],
            "election_id": item.get("election_id"),
        }
        if checked_in and item["kind"] == "election" and item["state"] == "voting":
            try:
                open_item["has_voted"] = bool(peers.my_election(item["election_id"]).get("has_voted"))
            except ServiceError as exc:
                log.warning("election %s not readable for %s: %s", item["election_id"], actor.member_id, exc)
        elif checked_in and item.get("poll_id"):
            try:
                open_item["has_voted"] = bool(peers.my_poll(item["poll_id"]).get("has_voted"))
            except ServiceError as exc:
                log.warning("poll %s not readable for %s: %s", item["poll_id"], actor.member_id, exc)
    return {
        "session_id": session_id,
        "member_id": actor.member_id,
        "is_delegate": delegate is not None,
        "delegation": names.get(delegate["delegation_id"], "") if delegate else None,
        "checked_in": checked_in,
        "open_item": open_item,
    }


def minutes(store, actor: Actor, session_id: str) -> dict:
    """What the minutes (会议纪要) record: ``{congress, term (TermOut), session (SessionOut), held,
    delegations [{id, name, due, present}], present [{member_id, name, delegation}], absent}``. Readers.
    ``held``: whether the session convened; until it has (planned, or called off) nobody is absent and
    ``absent`` is empty (issue 16: the minutes of a session not yet held listed every delegate)."""
    session = load_session(store, session_id)
    policy.require_reader(actor, session)
    term = load_term(store, session["term_id"])
    congress = load_congress(store, session["congress_id"])
    names = {d["id"]: d["name"] for d in term.get("delegations", [])}
    present_ids, by = store.presence(session_id)
    present_set = set(present_ids)
    held = session.get("convened_at") is not None
    here, absent = [], []
    for d in sorted(store.delegates_of(term["_id"]), key=lambda d: (d["delegation_id"], d["member_id"])):
        entry = {
            "member_id": d["member_id"],
            "name": d["name"],
            "delegation": names.get(d["delegation_id"], ""),
        }
        if d["member_id"] in present_set:
            here.append(entry)
        elif held:
            absent.append(entry)
    return {
        "congress": {"id": congress["_id"], "name": congress["name"], "union_name": congress["union_name"]},
        "term": views.term(term),
        "session": session_view(store, session, term),
        "held": held,
        "delegations": views.by_delegation(term, by),
        "present": here,
        "absent": absent,
    }
