"""The congress service: workers' congresses (职代会) of grassroots unions, their terms (届), delegates and
delegations, sessions (次会议) with agendas, check-in, quorum, and resolutions put to the vote through the
voting service's choice polls.

Rules (DESIGN.md §4, :mod:`services.congress.rules`): a session convenes only with at least two thirds of
ALL delegates of the term present (1986 条例 art. 18); a resolution is adopted only with more than half of
ALL delegates voting yes (art. 18; 企业民主管理规定 2012 art. 20), whatever the abstentions.

Who may do what: admins of the congress's union (or a union above it) run congresses and sessions; a
delegate (a document in this service's own ``delegates`` collection; the ``delegate`` role granted in
members, scope = congress id, is a convenience for pages) checks in and votes; members of the union read
the published sessions and outcomes. Every state change is one guarded, versioned write with its events
in the document's outbox (:mod:`dmlib.state`): no claims, no locks, no retry loops; the relay publishes
the events right after the commit and, for what that attempt leaves, every second. A change made by a
person also carries its audit entry in that write (``audit=self._audit(...)``, :mod:`dmlib.audit`): one
per use case, at its commit point; none for the system (timers, event handlers, the demo loader).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid

from pymongo.errors import DuplicateKeyError, PyMongoError

from dmlib.audit import Audit, role_over
from dmlib.auth import Actor, Identity
from dmlib.contracts import congress as c
from dmlib.errors import BadInput, Conflict, NotFound, ServiceError
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, event_handler, rpc
from dmlib.schemas import iso
from dmlib.state import OutboxRelay, event
from dmlib.storage import Mongo

from . import policy, rules
from .store import CongressStore, now

log = logging.getLogger(__name__)

ROSTER_PAGE = 5000


def congress_id_of(union_id: str) -> str:
    """The id of a union's congress (one per grassroots union): ``cg-<union id>``."""
    return f"cg-{union_id}"


class CongressService(OutboxRelay, HealthRpc):
    name = "congress"

    store: CongressStore = Mongo(CongressStore)
    identity = Identity()
    events = Events()
    members_rpc = Rpc("members")
    voting_rpc = Rpc("voting")

    # ----- helpers: loading and scope ------------------------------------------------------------
    def _congress(self, congress_id: str) -> dict:
        doc = self.store.get_congress(congress_id)
        if doc is None:
            raise NotFound(f"no congress {congress_id} / 职代会不存在", details={"congress_id": congress_id})
        return doc

    def _term(self, term_id: str) -> dict:
        doc = self.store.get_term(term_id)
        if doc is None:
            raise NotFound(f"no term {term_id} / 届次不存在", details={"term_id": term_id})
        return doc

    def _session(self, session_id: str) -> dict:
        doc = self.store.get_session(session_id)
        if doc is None:
            raise NotFound(f"no session {session_id} / 会议不存在", details={"session_id": session_id})
        return doc

    def _item(self, item_id: str) -> dict:
        doc = self.store.get_item(item_id)
        if doc is None:
            raise NotFound(f"no agenda item {item_id} / 议程不存在", details={"item_id": item_id})
        return doc

    @staticmethod
    def _audit(
        actor: Actor, action: str, object_type: str, object_id: str, scoped: dict, **kwargs
    ) -> Audit | None:
        """The audit record of a change made for a person (:mod:`dmlib.audit`): ``action`` is the verb
        (recorded as ``congress.<action>``), ``scoped`` carries ``union_id``/``union_path``; the role is
        the admin grant it was allowed under unless ``role=`` says (``delegate``). None for the system
        (timers, event handlers, the demo loader): only changes by people are audited."""
        if actor.is_system:
            return None
        return Audit(
            actor=actor,
            role=kwargs.pop("role", None) or role_over(actor, scoped["union_path"]),
            action=f"congress.{action}",
            object_type=object_type,
            object_id=object_id,
            union_id=scoped["union_id"],
            union_path=tuple(scoped["union_path"]),
            **kwargs,
        )

    # ----- helpers: shaping ----------------------------------------------------------------------
    @staticmethod
    def _term_out(term: dict) -> dict:
        counts = term.get("delegation_counts", {})
        return c.TermOut().dump(
            {
                **term,
                "id": term["_id"],
                "delegations": [
                    {**d, "delegate_count": counts.get(d["id"], 0)} for d in term.get("delegations", [])
                ],
                "managers_over_limit": rules.managers_over_limit(
                    term.get("manager_count", 0), term.get("delegate_count", 0)
                ),
            }
        )

    @staticmethod
    def _due(session: dict, term: dict) -> int:
        """应到: frozen on the session when it convened, else all delegates of the term now."""
        frozen = session.get("due_count")
        return frozen if frozen is not None else term.get("delegate_count", 0)

    @staticmethod
    def _item_out(item: dict) -> dict:
        return c.ItemOut().dump(
            {
                **item,
                "id": item["_id"],
                "poll_id": item.get("poll_id"),
                "decided_at": iso(item.get("decided_at")),
            }
        )

    def _present(self, session: dict) -> int:
        """实到: fixed when the session closed, else the count of its check-ins now."""
        final = session.get("present_final")
        return final if final is not None else self.store.present_count(session["_id"])

    def _session_out(self, session: dict, term: dict, items: list[dict] | None = None) -> dict:
        due, present = self._due(session, term), self._present(session)
        out = {
            **session,
            "id": session["_id"],
            "scheduled_at": iso(session.get("scheduled_at")),
            "convened_at": iso(session.get("convened_at")),
            "closed_at": iso(session.get("closed_at")),
            "due_count": due,
            "present_count": present,
            "required": rules.quorum_required(due),
            "quorum": rules.quorum(present, due),
            "open_item": session.get("open_item")
            if items is None
            or any(
                i["_id"] == session.get("open_item") and i["state"] in ("pending", "voting") for i in items
            )
            else None,
            "items": [self._item_out(i) for i in (items if items is not None else [])],
        }
        return c.SessionOut().dump(out)

    # ----- congresses, terms, delegations --------------------------------------------------------
    @rpc
    def create_congress(self, data: dict) -> dict:
        """Set up the workers' congress of a grassroots union. In: :class:`CongressIn`; Out:
        :class:`CongressOut`. Its id is ``cg-<union id>`` (one per union). Admins of the union or above.
        Errors: BadInput (not a grassroots union), NotFound (union), Forbidden, Conflict (exists)."""
        data = c.CongressIn().load(data)
        actor = self.identity.actor
        union = self.members_rpc.get_union(data["union_id"])
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
            "created_at": now(),
            "created_by": actor.member_id,
        }
        try:
            self.store.insert_congress(
                doc,
                [event("congress_created", congress_id=doc["_id"], union_id=doc["union_id"])],
                self._audit(actor, "congress_created", "congress", doc["_id"], doc, fields=("name",)),
            )
        except DuplicateKeyError:
            raise Conflict(
                "this union already has a congress / 该工会已设职代会", details={"congress_id": doc["_id"]}
            ) from None
        self.relay_mine()
        return c.CongressOut().dump({**doc, "id": doc["_id"], "terms": []})

    @rpc
    def get_congress(self, congress_id: str) -> dict:
        """A congress with its terms (:class:`CongressOut`). Members of the union, its delegates, admins."""
        congress = self._congress(congress_id)
        policy.require_reader(self.identity.actor, {**congress, "congress_id": congress["_id"]})
        terms = [self._term_out(t) for t in self.store.terms_of(congress_id)]
        return c.CongressOut().dump({**congress, "id": congress["_id"], "terms": terms})

    @rpc
    def create_term(self, congress_id: str, data: dict) -> dict:
        """Open a term (届) of a congress. In: :class:`TermIn` (``number``, ``start``, ``end`` ISO dates,
        ``delegations`` ``[{"name"}]``, ids ``g1``, ``g2``, … in order). Out: :class:`TermOut`; its id is
        ``<congress id>-t<number>``. Admins only. Errors: BadInput, NotFound, Forbidden, Conflict (the
        number exists)."""
        data = c.TermIn().load(data)
        actor = self.identity.actor
        congress = self._congress(congress_id)
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
            "created_at": now(),
        }
        try:
            self.store.insert_term(
                doc,
                self._audit(
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
        return self._term_out(doc)

    @rpc
    def get_term(self, term_id: str) -> dict:
        """A term with its delegations, delegate and manager counts and the 20 % flag (:class:`TermOut`)."""
        term = self._term(term_id)
        policy.require_reader(self.identity.actor, term)
        return self._term_out(term)

    @rpc
    def add_delegation(self, term_id: str, data: dict) -> dict:
        """Add a delegation (代表团/组) to a term. In: :class:`DelegationIn`. Out: :class:`TermOut`.
        Admins only. Errors: BadInput, NotFound, Forbidden, Conflict (name taken)."""
        data = c.DelegationIn().load(data)
        actor = self.identity.actor
        term = self._term(term_id)
        policy.require_admin(actor, term)
        if any(d["name"] == data["name"] for d in term.get("delegations", [])):
            raise Conflict("a delegation of that name exists / 代表团名称已存在", fields={"name": ["taken"]})
        delegation = {"id": f"g{uuid.uuid4().hex[:6]}", "name": data["name"]}
        after = self.store.change(
            "terms",
            term_id,
            expect={"_v": term.get("_v")},  # unchanged since read: the name check still holds
            set={"delegations": [*term.get("delegations", []), delegation]},
            audit=self._audit(actor, "delegation_added", "term", term_id, term, note=delegation),
        )
        return self._term_out(after)

    # ----- delegates -----------------------------------------------------------------------------
    def _union_roster(self, union_id: str) -> dict[str, dict]:
        roster: dict[str, dict] = {}
        offset = 0
        while True:
            page = self.members_rpc.union_roster(union_id, offset, ROSTER_PAGE)
            for m in page["members"]:
                roster[m["member_id"]] = m
            offset += len(page["members"])
            if not page["members"] or offset >= page["total"]:
                return roster

    def _check_and_insert_delegates(
        self, term: dict, roster: dict[str, dict], entries: list[dict], audit: Audit | None = None
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
            if self.store.get_delegate(term_id, d["member_id"]) is not None:
                taken[str(i)] = {"member_id": ["already a delegate of this term / 已是本届代表"]}
        if taken:
            raise Conflict("already delegates / 已是本届代表", fields={"delegates": taken})
        at = now()
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
        clashes = self.store.insert_delegates(term, docs, [], audit)
        if clashes:
            raise Conflict("already delegates / 已是本届代表", details={"member_ids": clashes})
        return docs

    @rpc
    def elect_delegates(self, term_id: str, data: dict) -> dict:
        """Record delegates elected into a term, all or none. In: :class:`ElectIn`
        (``{"delegates": [{"member_id", "delegation_id", "category"}]}``, ≤ 1,000). Out: :class:`ElectOut`.

        Each must be a member of the congress's union (checked against its roster), not yet a delegate of
        the term, and placed in an existing delegation. Grants each the ``delegate`` role (scope = congress
        id) in members and publishes ``delegates_elected``. The term's ``managers_over_limit`` flag says
        when managers exceed 20 % (企业民主管理规定 art. 14). Admins only. Errors: BadInput with the
        failing entries (``fields.delegates.<index>``), Forbidden, NotFound, Conflict (already a delegate;
        a session of the term is in progress, whose 应到 is fixed)."""
        data = c.ElectIn().load(data)
        actor = self.identity.actor
        term = self._term(term_id)
        policy.require_admin(actor, term)
        if self.store.convened_sessions(term_id):
            raise Conflict(
                "a session of this term is in progress / 本届有会议正在进行，暂不能增补代表",
                details={"term_id": term_id},
            )
        roster = self._union_roster(term["union_id"])
        docs = self._check_and_insert_delegates(
            self._term(term_id),
            roster,
            data["delegates"],
            self._audit(actor, "delegates_elected", "term", term_id, term),
        )
        self.identity.act_as_service()
        granted = 0
        for d in docs:
            try:
                self.members_rpc.grant_role(
                    {"member_id": d["member_id"], "role": "delegate", "scope": term["congress_id"]}
                )
                granted += 1
            except ServiceError as exc:  # the role is a convenience; the delegates collection decides
                log.warning("delegate role for %s not granted: %s", d["member_id"], exc)
        self.store.change(  # the event after the grants, which it counts (an unconditional write)
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
        self.relay_mine()
        return c.ElectOut().dump({"term": self._term_out(self._term(term_id)), "elected": len(docs)})

    @rpc
    def list_delegates(self, term_id: str) -> list[dict]:
        """The delegates of a term (:class:`DelegateOut`), by delegation then member number (代表名单).
        Members of the union, its delegates, admins."""
        term = self._term(term_id)
        policy.require_reader(self.identity.actor, term)
        names = {d["id"]: d["name"] for d in term.get("delegations", [])}
        docs = sorted(self.store.delegates_of(term_id), key=lambda d: (d["delegation_id"], d["member_id"]))
        return [
            c.DelegateOut().dump({**d, "delegation_name": names.get(d["delegation_id"], "")}) for d in docs
        ]

    # ----- sessions and agenda -------------------------------------------------------------------
    @rpc
    def create_session(self, term_id: str, data: dict) -> dict:
        """Plan a session (次会议) of a term with its agenda. In: :class:`SessionIn`. Out:
        :class:`SessionOut` (state ``planned``; id ``<term id>-s<number>``, numbered in order). Admins."""
        data = c.SessionIn().load(data)
        actor = self.identity.actor
        term = self._term(term_id)
        policy.require_admin(actor, term)

        def make(session_id: str, number: int) -> tuple[dict, list[dict]]:
            items = [
                {**i, "_id": f"{session_id}-i{n}", "session_id": session_id, "order": n, "state": "pending"}
                for n, i in enumerate(data["agenda"], 1)
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
                "created_at": now(),
                "created_by": actor.member_id,
            }
            return doc, items

        def events(doc: dict) -> list[dict]:
            return [
                event(
                    "session_planned", congress_id=term["congress_id"], term_id=term_id, session_id=doc["_id"]
                )
            ]

        def audit(doc: dict) -> Audit | None:
            return self._audit(
                actor,
                "session_planned",
                "session",
                doc["_id"],
                term,
                fields=("number", "kind", "title", "scheduled_at", "state"),
                note={"agenda_items": len(data["agenda"])},
            )

        doc, items = self.store.insert_session(term, make, events, audit)
        self.relay_mine()
        return self._session_out(doc, term, items)

    @rpc
    def add_agenda_item(self, session_id: str, data: dict) -> dict:
        """Append an agenda item (report, resolution or election) to a session not yet closed.
        In: :class:`AgendaItemIn`. Out: :class:`ItemOut`. Admins. Errors: Conflict (closed)."""
        data = c.AgendaItemIn().load(data)
        actor = self.identity.actor
        session = self._session(session_id)
        policy.require_admin(actor, session)
        if session["state"] == "closed":
            raise Conflict("the session is closed / 会议已闭幕", details={"state": "closed"})
        audit = self._audit(
            actor, "agenda_item_added", "item", "", session, fields=("title", "kind", "secret", "order")
        )
        return self._item_out(self.store.add_item(session_id, {**data, "state": "pending"}, audit))

    @rpc
    def get_session(self, session_id: str) -> dict:
        """A session with its agenda, outcomes and counts (:class:`SessionOut`). Members of the union."""
        session = self._session(session_id)
        policy.require_reader(self.identity.actor, session)
        return self._session_out(session, self._term(session["term_id"]), self.store.items_of(session_id))

    @rpc
    def list_sessions(self, congress_id: str) -> list[dict]:
        """The published record: every session of a congress, newest first, with its agenda items and the
        outcome of each vote (counts). Members of the union, its delegates, admins. Out: [SessionOut]."""
        congress = self._congress(congress_id)
        policy.require_reader(self.identity.actor, {**congress, "congress_id": congress_id})
        terms = {t["_id"]: t for t in self.store.terms_of(congress_id)}
        sessions = self.store.sessions_of(congress_id)
        out = [self._session_out(s, terms[s["term_id"]], self.store.items_of(s["_id"])) for s in sessions]
        return sorted(out, key=lambda s: (s["term_id"], s["number"]), reverse=True)

    @rpc
    def session_counts(self, session_id: str) -> dict:
        """Live due/present counts of a session (:class:`CountsOut`), polled by the console every ~1.5 s.

        ``due_count`` (应到) = all delegates of the term, ``present_count`` (实到) = delegates checked in,
        ``required`` = ⌈2/3 × due⌉, ``quorum`` = present ≥ required (1986 条例 art. 18); ``by_delegation``
        ``[{id, name, due, present}]``; ``open_item`` ``{id, title, secret, ballots, eligible}`` or null.
        Cost: two ``_id`` lookups and a read of the session's check-ins (~8 ms at 120), plus one voting RPC
        while a vote is open. Members of the union."""
        session = self._session(session_id)
        policy.require_reader(self.identity.actor, session)
        term = self._term(session["term_id"])
        present_ids, by = self.store.presence(session_id)
        due, present = self._due(session, term), len(present_ids)
        dcounts = term.get("delegation_counts", {})
        open_item = None
        if item := self._active_item(session):
            open_item = {"id": item["_id"], "title": item["title"], "secret": item["secret"], "ballots": None}
            if item.get("poll_id"):
                self.identity.act_as_service()
                try:
                    poll = self.voting_rpc.get_poll(item["poll_id"])
                    open_item.update(ballots=poll.get("ballots"), eligible=poll.get("eligible"))
                except ServiceError as exc:
                    log.warning("poll %s not readable: %s", item["poll_id"], exc)
        return c.CountsOut().dump(
            {
                "session_id": session_id,
                "state": session["state"],
                "due_count": due,
                "present_count": present,
                "required": rules.quorum_required(due),
                "quorum": rules.quorum(present, due),
                "by_delegation": [
                    {
                        "id": d["id"],
                        "name": d["name"],
                        "due": dcounts.get(d["id"], 0),
                        "present": by.get(d["id"], 0),
                    }
                    for d in term.get("delegations", [])
                ],
                "open_item": open_item,
            }
        )

    # ----- check-in and quorum -------------------------------------------------------------------
    @rpc
    def check_in(self, session_id: str, data: dict | None = None) -> dict:
        """Check a delegate in (签到), idempotently. In: :class:`CheckInIn` (``member_id`` when an admin
        checks someone in; omitted = oneself). Out: :class:`CheckInOut` with ``already`` true when the
        delegate had checked in before (counted once: the check-in's key is the member id). Publishes
        ``quorum_reached`` once, when a planned session first has ⌈2/3⌉ of all delegates present.

        Errors: BadInput (``member_id`` of a non-delegate from an admin); Forbidden (a non-delegate
        checking in, or checking someone else in without being an admin); NotFound; Conflict (closed)."""
        data = c.CheckInIn().load(data or {})
        actor = self.identity.actor
        session = self._session(session_id)
        member_id = data["member_id"] or actor.member_id
        by_admin = member_id != actor.member_id
        if by_admin:
            policy.require_admin(actor, session)
        delegate = self.store.get_delegate(session["term_id"], member_id)
        if delegate is None:
            if by_admin:
                raise BadInput(
                    "not a delegate of this term / 不是本届职工代表",
                    fields={"member_id": ["not a delegate of this term / 不是本届职工代表"]},
                )
            policy.require_self_check_in(actor, False)
        if session["state"] == "closed":
            raise Conflict("the session is closed / 会议已闭幕", details={"state": "closed"})
        audit = self._audit(
            actor,
            "delegate_checked_in",
            "check_in",
            f"{session_id}:{member_id}",
            session,
            role=None if by_admin else "delegate",
            fields=("member_id", "delegation_id", "by"),
        )
        first = self.store.check_in(session_id, delegate, actor.member_id, audit)
        term = self._term(session["term_id"])
        due, present = self._due(session, term), self.store.present_count(session_id)
        if first and session["state"] == "planned" and rules.quorum(present, due):
            try:  # once per session: the write that marks it carries the event
                self.store.change(
                    "sessions",
                    session_id,
                    expect={"state": "planned", "quorum_reached_at": None},
                    set={"quorum_reached_at": now()},
                    events=[
                        event(
                            "quorum_reached",
                            congress_id=session["congress_id"],
                            session_id=session_id,
                            present_count=present,
                            due_count=due,
                        )
                    ],
                )
                self.relay_mine()
            except Conflict:
                pass  # another check-in reached it first, or the session convened meanwhile
        return c.CheckInOut().dump(
            {
                "session_id": session_id,
                "member_id": member_id,
                "already": not first,
                "present_count": present,
                "due_count": due,
            }
        )

    @rpc
    def convene_session(self, session_id: str) -> dict:
        """Convene a planned session (planned → convened), only with present ≥ 2/3 of ALL delegates of the
        term (1986 条例 art. 18); 应到 is then fixed for the session. Out: :class:`SessionOut`. Publishes
        ``session_convened``. Admins. Errors: Conflict with ``details`` ``{due_count, present_count,
        required}`` when short of the quorum, or ``{state}`` when the session is not planned (two admins
        convening at once: exactly one succeeds)."""
        actor = self.identity.actor
        session = self._session(session_id)
        policy.require_admin(actor, session)
        term = self._term(session["term_id"])
        due = term.get("delegate_count", 0)
        present = self.store.present_count(session_id)  # only grows while planned
        if session["state"] == "planned" and not rules.quorum(present, due):
            required = rules.quorum_required(due)
            raise Conflict(
                f"quorum not reached: {present} present of {due} delegates, {required} needed "
                f"/ 未达法定人数：应到{due}人，实到{present}人，须至少{required}人",
                details={"due_count": due, "present_count": present, "required": required},
            )

        def not_planned(current: dict) -> Conflict:
            return Conflict(
                "the session is not planned (already convened or closed) / 会议已开幕或已闭幕",
                details={"state": current["state"]},
            )

        if session["state"] != "planned":
            raise not_planned(session)
        after = self.store.change(
            "sessions",
            session_id,
            expect={"state": "planned"},
            set={"state": "convened", "due_count": due, "convened_at": now(), "convened_by": actor.member_id},
            audit=self._audit(
                actor,
                "session_convened",
                "session",
                session_id,
                session,
                fields=("state", "due_count", "convened_at"),
                note={"present_count": present},
            ),
            events=[
                event(
                    "session_convened",
                    congress_id=session["congress_id"],
                    term_id=session["term_id"],
                    session_id=session_id,
                    due_count=due,
                    present_count=present,
                )
            ],
            conflict=not_planned,
        )
        self.relay_mine()
        return self._session_out(after, term, self.store.items_of(session_id))

    @rpc
    def close_session(self, session_id: str) -> dict:
        """Close a session (convened → closed; a planned one may be called off). Refused while a vote is
        open. 实到 is then fixed. Out: :class:`SessionOut`. Publishes ``session_closed``. Admins.
        Errors: Conflict (already closed, a vote open)."""
        actor = self.identity.actor
        session = self._session(session_id)
        policy.require_admin(actor, session)
        state = session["state"]

        def refused(current: dict) -> Conflict:
            if current["state"] == "closed":
                return Conflict("the session is already closed / 会议已闭幕", details={"state": "closed"})
            if self._active_item(current):
                return Conflict(
                    "close the open vote first / 请先结束正在进行的表决",
                    details={"open_item": current["open_item"]},
                )
            return Conflict("the session changed meanwhile, try again / 会议状态已变化，请重试")

        if state == "closed" or self._active_item(session):
            raise refused(session)
        after = self.store.change(
            "sessions",
            session_id,
            # a decided item may still be named (its release is the second write of close_vote)
            expect={"state": state, "open_item": session.get("open_item")},
            set={
                "state": "closed",
                "open_item": None,
                "closed_at": now(),
                "closed_by": actor.member_id,
                "present_final": self.store.present_count(session_id),
            },
            audit=self._audit(
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
        self.relay_mine()
        return self._session_out(after, self._term(session["term_id"]), self.store.items_of(session_id))

    # ----- votes on resolutions ------------------------------------------------------------------
    @rpc
    def open_vote(self, item_id: str) -> dict:
        """Put a resolution (or election) item to the vote: voting opens a choice poll (yes / no /
        abstain) for the delegates present now, secret or named as the item says. One item at a time per
        session, only while it is convened. Out: :class:`ItemOut` (state ``voting``, ``poll_id``).
        Publishes ``vote_opened``. Admins. Errors: Conflict (session not convened, another vote open, item
        already voted on, or a report), ServiceUnavailable (voting down: the item stays pending)."""
        actor = self.identity.actor
        item = self._item(item_id)
        sid = item["session_id"]
        session = self._session(sid)
        policy.require_admin(actor, session)
        if item["kind"] == "report":
            raise Conflict("reports are heard, not voted on / 报告事项不表决", details={"kind": "report"})
        if session["state"] != "convened":
            raise Conflict(
                "votes are taken only in a convened session / 会议开幕后方可表决",
                details={"state": session["state"]},
            )
        if item["state"] != "pending":
            raise Conflict("this item has been voted on / 该事项已表决", details={"state": item["state"]})
        if session.get("open_item") != item_id:  # else: resuming an opening cut short by a crash or an outage
            active = self._active_item(session)
            if active:
                raise Conflict(
                    "another vote is open / 另一项表决正在进行", details={"open_item": active["_id"]}
                )

            def refused(current: dict) -> Conflict:
                if current["state"] != "convened":
                    return Conflict("the session is closed / 会议已闭幕", details={"state": current["state"]})
                return Conflict(
                    "another vote is open / 另一项表决正在进行", details={"open_item": current["open_item"]}
                )

            # step 1: the session names the item (one vote at a time); a decided item may still be named
            self.store.change(
                "sessions",
                sid,
                expect={"state": "convened", "open_item": session.get("open_item")},
                set={"open_item": item_id},
                conflict=refused,
            )
        voters, _ = self.store.presence(sid)
        self.identity.act_as_service()
        try:
            poll = self.voting_rpc.open_choice_poll(
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
            self._release_vote(sid, item_id)
            raise
        # step 2, the commit point: the item is open for voting, with its event
        item = self.store.change(
            "items",
            item_id,
            expect={"state": "pending"},
            set={"state": "voting", "poll_id": poll["poll_id"], "opened_at": now(), "eligible": len(voters)},
            audit=self._audit(actor, "vote_opened", "item", item_id, session),
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
                "this item has been voted on / 该事项已表决", details={"state": current["state"]}
            ),
        )
        self.relay_mine()
        return self._item_out(item)

    def _active_item(self, session: dict) -> dict | None:
        """The item the session names as open, unless it is decided already (the session's release is
        the second write of recording an outcome; until it lands, the decided item is not in the way)."""
        if not session.get("open_item"):
            return None
        item = self.store.get_item(session["open_item"])
        return item if item is not None and item["state"] in ("pending", "voting") else None

    def _release_vote(self, session_id: str, item_id: str) -> None:
        """The session no longer names ``item_id`` as open (nothing to do if it does not any more). A
        database failure here is logged: the item is then found decided (or pending, and opening it
        again resumes), so nothing stays blocked."""
        try:
            self.store.change("sessions", session_id, expect={"open_item": item_id}, set={"open_item": None})
        except Conflict:
            pass
        except PyMongoError as exc:
            log.warning("session %s still names %s as open: %s", session_id, item_id, exc)

    @rpc
    def cast_vote(self, item_id: str, data: dict) -> dict:
        """A delegate's ballot on the open item: checked here, then forwarded to voting with the
        delegate's own token (voting keeps the ballot and its secrecy). In: :class:`VoteIn`
        (``{"choice": "yes" | "no" | "abstain"}``). Out: :class:`VoteOut` with the receipt code.

        Errors: BadInput (choice); Forbidden (not a delegate of the term, not checked in); Conflict (the
        item is not open for voting, or a second ballot); NotFound."""
        data = c.VoteIn().load(data)
        actor = self.identity.actor
        item = self._item(item_id)
        session = self._session(item["session_id"])
        policy.require_delegate_vote(
            actor, self.store.get_delegate(session["term_id"], actor.member_id) is not None
        )
        if item["state"] != "voting" or not item.get("poll_id"):
            raise Conflict(
                "this item is not open for voting / 该事项不在表决中", details={"state": item["state"]}
            )
        policy.require_checked_in(actor, self.store.is_present(session["_id"], actor.member_id))
        receipt = self.voting_rpc.cast_choice(item["poll_id"], {"choice": data["choice"]})
        return c.VoteOut().dump(
            {"item_id": item_id, "poll_id": item["poll_id"], "receipt": receipt["receipt"]}
        )

    @rpc
    def close_vote(self, item_id: str) -> dict:
        """Close the vote on an item and record the outcome: adopted only if yes > 1/2 of ALL delegates of
        the term (1986 条例 art. 18; 企业民主管理规定 2012 art. 20), whatever the abstentions. Out:
        :class:`ItemOut` with ``outcome`` (counts, ``due``, ``required``, ``adopted``). Publishes
        ``resolution_adopted`` or ``resolution_failed`` exactly once (two admins closing at once, or the
        ``poll_closed`` event arriving first: one records, the others read it). Admins. Errors: Conflict
        (not voting)."""
        actor = self.identity.actor
        item = self._item(item_id)
        session = self._session(item["session_id"])
        policy.require_admin(actor, session)
        if item["state"] in ("adopted", "failed"):
            return self._item_out(item)
        if item["state"] != "voting" or not item.get("poll_id"):
            raise Conflict(
                "this item is not open for voting / 该事项不在表决中", details={"state": item["state"]}
            )
        self.identity.act_as_service()
        closed = self.voting_rpc.close_poll(item["poll_id"])
        return self._item_out(self._record_outcome(item, session, closed, actor))

    def _record_outcome(self, item: dict, session: dict, poll: dict, actor: Actor | None = None) -> dict:
        """Record the outcome of a closed poll once: a guarded write (voting → adopted/failed) with the
        ``resolution_*`` event (and, when ``actor`` closed it, its audit entry with the counts); whoever
        loses the race (the admin's close or the ``poll_closed`` event) returns the recorded item. Then
        the session's open item is released (both do it, so this returns only once the next vote may
        open). Returns the decided item."""
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
            decided = self.store.change(
                "items",
                item["_id"],
                expect={"state": "voting", "poll_id": item.get("poll_id")},
                set={"state": result.state, "outcome": outcome, "decided_at": now()},
                audit=self._audit(
                    actor,
                    "vote_closed",
                    "item",
                    item["_id"],
                    session,
                    fields=("state", "decided_at"),
                    note={k: outcome[k] for k in ("yes", "no", "abstain", "due", "required", "adopted")},
                )
                if actor is not None
                else None,
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
            decided = self._item(item["_id"])
            if decided["state"] not in ("adopted", "failed"):
                raise
        self._release_vote(session["_id"], item["_id"])
        self.relay_mine()
        return decided

    @event_handler("voting", "poll_closed")
    def handle_poll_closed(self, payload: dict) -> None:
        """A choice poll of ours closed (e.g. at its ``closes_at``): record the outcome if not yet done.

        The event only says *which* item to look at (``ref``); the outcome is decided from what voting
        answers for the poll bound to that item when its vote was opened (``item.poll_id``), read over
        RPC as the system, and only once voting says that poll is closed: never from the counts, state or
        poll id in the message (DESIGN.md §5, "The broker is not trusted"; issue 12)."""
        if payload.get("owner") != "congress" or not payload.get("ref"):
            return
        item = self.store.get_item(str(payload["ref"]))
        if item is None or item["state"] != "voting" or not item.get("poll_id"):
            return
        if payload.get("poll_id") != item["poll_id"]:
            log.warning(
                "poll_closed %s names poll %s, but item %s is bound to poll %s: ignored",
                payload.get("event_id"),
                payload.get("poll_id"),
                item["_id"],
                item["poll_id"],
            )
            return
        self.identity.act_as_service()
        poll = self.voting_rpc.get_poll(item["poll_id"])
        if (
            poll.get("status") != "closed"
            or poll.get("owner") != "congress"
            or poll.get("ref") != item["_id"]
        ):
            log.warning(
                "poll_closed %s: voting says poll %s is %s (owner %s, ref %s): no outcome recorded",
                payload.get("event_id"),
                item["poll_id"],
                poll.get("status"),
                poll.get("owner"),
                poll.get("ref"),
            )
            return
        self._record_outcome(item, self._session(item["session_id"]), poll)

    # ----- the delegate's view and the minutes ---------------------------------------------------
    @rpc
    def my_status(self, session_id: str) -> dict:
        """The caller's place in a session, for the delegate's page: ``{"session_id", "member_id",
        "is_delegate", "delegation", "checked_in", "open_item": {id, title, secret, has_voted} | null}``.
        Anyone who may read the session."""
        actor = self.identity.actor
        session = self._session(session_id)
        delegate = self.store.get_delegate(session["term_id"], actor.member_id)
        if delegate is None:
            policy.require_reader(actor, session)
        term = self._term(session["term_id"])
        names = {d["id"]: d["name"] for d in term.get("delegations", [])}
        checked_in = delegate is not None and self.store.is_present(session_id, actor.member_id)
        open_item = None
        if item := self._active_item(session):
            open_item = {
                "id": item["_id"],
                "title": item["title"],
                "secret": item["secret"],
                "has_voted": False,
            }
            if checked_in and item.get("poll_id"):
                try:
                    open_item["has_voted"] = bool(self.voting_rpc.get_poll(item["poll_id"]).get("has_voted"))
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

    @rpc
    def minutes(self, session_id: str) -> dict:
        """Everything the minutes (会议纪要) of a session record: ``{"congress", "term", "session"
        (SessionOut with items and outcomes), "delegations": [{id, name, due, present}], "present":
        [{member_id, name, delegation}], "absent": [...]}``. Members of the union, delegates, admins."""
        session = self._session(session_id)
        policy.require_reader(self.identity.actor, session)
        term = self._term(session["term_id"])
        congress = self._congress(session["congress_id"])
        names = {d["id"]: d["name"] for d in term.get("delegations", [])}
        present_ids, by = self.store.presence(session_id)
        present_set = set(present_ids)
        present, absent = [], []
        for d in sorted(
            self.store.delegates_of(term["_id"]), key=lambda d: (d["delegation_id"], d["member_id"])
        ):
            entry = {
                "member_id": d["member_id"],
                "name": d["name"],
                "delegation": names.get(d["delegation_id"], ""),
            }
            (present if d["member_id"] in present_set else absent).append(entry)
        counts = term.get("delegation_counts", {})
        return {
            "congress": {
                "id": congress["_id"],
                "name": congress["name"],
                "union_name": congress["union_name"],
            },
            "term": self._term_out(term),
            "session": self._session_out(session, term, self.store.items_of(session_id)),
            "delegations": [
                {
                    "id": d["id"],
                    "name": d["name"],
                    "due": counts.get(d["id"], 0),
                    "present": by.get(d["id"], 0),
                }
                for d in term.get("delegations", [])
            ],
            "present": present,
            "absent": absent,
        }
