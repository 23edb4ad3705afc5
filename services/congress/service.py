"""The congress service: workers' congresses (职代会) of grassroots unions, their terms (届), delegates and
delegations, sessions (次会议) with agendas, check-in, quorum, and resolutions put to the vote through the
voting service's choice polls.

Rules (DESIGN.md §4, :mod:`services.congress.rules`): a session convenes only with at least two thirds of
ALL delegates of the term present (1986 条例 art. 18); a resolution is adopted only with more than half of
ALL delegates voting yes (art. 18; 企业民主管理规定 2012 art. 20), whatever the abstentions.

Who may do what: admins of the congress's union (or a union above it) run congresses and sessions; a
delegate (a document in this service's own ``delegates`` collection; the ``delegate`` role granted in
members, scope = congress id, is a convenience for pages) checks in and votes; members of the union read
the published sessions and outcomes (:mod:`.policy`).

This module holds the nameko entrypoints only: load the input schema, call the use case of ``app.py``
(which asks ``policy.py``, applies ``rules.py`` and commits one guarded write with its outbox events and
audit entry through ``store.py``), relay what it committed (``relay_mine``; the ``OutboxRelay`` timer
retries what fails), dump the output (``views.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dmlib.auth import Identity
from dmlib.contracts import congress as c
from dmlib.contracts.needs import needs
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.links import LinkKey
from dmlib.rpc import Rpc, event_handler, rpc
from dmlib.state import OutboxRelay
from dmlib.storage import Mongo

from . import app, projector, views
from .store import CongressStore, now

ROSTER_PAGE = 5000


@dataclass
class RpcPeers:
    """:class:`app.Peers` over RPC to members, voting and elections. Calls for the service itself switch
    the worker's token to the service's (``act_as_service``); the others carry the caller's token."""

    identity: Any
    members: Any
    voting: Any
    elections: Any = None

    def union(self, union_id: str) -> dict:
        return self.members.get_union(union_id)

    def roster(self, union_id: str) -> dict[str, dict]:
        roster: dict[str, dict] = {}
        offset = 0
        while True:
            page = self.members.union_roster(union_id, offset, ROSTER_PAGE)
            for m in page["members"]:
                roster[m["member_id"]] = m
            offset += len(page["members"])
            if not page["members"] or offset >= page["total"]:
                return roster

    def grant_delegate(self, member_id: str, congress_id: str) -> None:
        self.identity.act_as_service()
        self.members.grant_role({"member_id": member_id, "role": "delegate", "scope": congress_id})

    def open_poll(self, spec: dict) -> dict:
        self.identity.act_as_service()
        return self.voting.open_choice_poll(spec)

    def cast(self, poll_id: str, choice: str) -> dict:
        return self.voting.cast_choice(poll_id, {"choice": choice})

    def close_poll(self, poll_id: str) -> dict:
        self.identity.act_as_service()
        return self.voting.close_poll(poll_id)

    def poll(self, poll_id: str) -> dict:
        self.identity.act_as_service()
        return self.voting.get_poll(poll_id)

    def my_poll(self, poll_id: str) -> dict:
        return self.voting.get_poll(poll_id)

    def election(self, election_id: str) -> dict:
        self.identity.act_as_service()
        return self.elections.get_election(election_id)

    def open_election(self, election_id: str) -> dict:
        return self.elections.open_voting(election_id, {})

    def my_election(self, election_id: str) -> dict:
        return self.elections.get_election(election_id)

    def election_projector(self, election_id: str) -> dict:
        self.identity.act_as_service()
        return self.elections.projector(election_id)


class CongressService(OutboxRelay, HealthRpc):
    name = "congress"

    store: CongressStore = Mongo(CongressStore)
    identity = Identity()
    events = Events()
    members_rpc = Rpc("members")
    voting_rpc = Rpc("voting")
    elections_rpc = Rpc("elections")
    link_key: bytes = LinkKey(projector.LINK_PURPOSE)  # signs projector links (dmlib.links)

    @property
    def peers(self) -> RpcPeers:
        return RpcPeers(self.identity, self.members_rpc, self.voting_rpc, self.elections_rpc)

    # ----- congresses, terms, delegations --------------------------------------------------------
    @rpc
    def create_congress(self, data: dict) -> dict:
        """Set up the workers' congress of a grassroots union. In: :class:`CongressIn`; Out:
        :class:`CongressOut`. Its id is ``cg-<union id>`` (one per union). Admins of the union or above.
        Publishes ``congress_created``. Errors: BadInput (not a grassroots union), NotFound (union),
        Forbidden, Conflict (exists)."""
        data = c.CongressIn().load(data)
        doc = app.create_congress(self.store, self.identity.actor, now, self.peers, data)
        self.relay_mine()
        return views.congress(doc, [])

    @rpc
    def get_congress(self, congress_id: str) -> dict:
        """A congress with its terms (:class:`CongressOut`). Members of the union, its delegates, admins."""
        return views.congress(*app.get_congress(self.store, self.identity.actor, congress_id))

    @rpc
    def create_term(self, congress_id: str, data: dict) -> dict:
        """Open a term (届) of a congress. In: :class:`TermIn` (``number``, ``start``, ``end`` ISO dates,
        ``delegations`` ``[{"name"}]``, ids ``g1``, ``g2``, … in order). Out: :class:`TermOut`; its id is
        ``<congress id>-t<number>``. Admins only. Errors: BadInput, NotFound, Forbidden, Conflict (the
        number exists)."""
        data = c.TermIn().load(data)
        term = app.create_term(self.store, self.identity.actor, now, congress_id, data)
        self.relay_mine()
        return views.term(term)

    @rpc
    def get_term(self, term_id: str) -> dict:
        """A term with its delegations, delegate and manager counts and the 20 % flag (:class:`TermOut`)."""
        return views.term(app.get_term(self.store, self.identity.actor, term_id))

    @rpc
    def add_delegation(self, term_id: str, data: dict) -> dict:
        """Add a delegation (代表团/组) to a term. In: :class:`DelegationIn`. Out: :class:`TermOut`.
        Admins only. Errors: BadInput, NotFound, Forbidden, Conflict (name taken)."""
        data = c.DelegationIn().load(data)
        term = app.add_delegation(self.store, self.identity.actor, term_id, data)
        self.relay_mine()
        return views.term(term)

    # ----- delegates -----------------------------------------------------------------------------
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
        term, elected = app.elect_delegates(self.store, self.identity.actor, now, self.peers, term_id, data)
        self.relay_mine()
        return c.ElectOut().dump({"term": views.term(term), "elected": elected})

    @rpc
    def list_delegates(self, term_id: str) -> list[dict]:
        """The delegates of a term (:class:`DelegateOut`), by delegation then member number (代表名单).
        Members of the union, its delegates, admins."""
        return c.DelegateOut(many=True).dump(app.list_delegates(self.store, self.identity.actor, term_id))

    # ----- sessions and agenda -------------------------------------------------------------------
    @rpc
    def create_session(self, term_id: str, data: dict) -> dict:
        """Plan a session (次会议) of a term with its agenda. In: :class:`SessionIn`. Out:
        :class:`SessionOut` (state ``planned``; id ``<term id>-s<number>``, numbered in order). Admins.
        Publishes ``session_planned``."""
        data = c.SessionIn().load(data)
        out = app.create_session(self.store, self.identity.actor, now, term_id, data)
        self.relay_mine()
        return out

    @rpc
    def add_agenda_item(self, session_id: str, data: dict) -> dict:
        """Append an agenda item (report, resolution or election) to a session not yet closed.
        In: :class:`AgendaItemIn` (text, ``starts_at``, ``place``, up to 5 attachments of 5 MiB each).
        Out: :class:`ItemOut`. Admins. Errors: BadInput (bad file), PayloadTooLarge (file over 5 MiB),
        Conflict (closed)."""
        data = c.AgendaItemIn().load(data)
        item = app.add_agenda_item(self.store, self.identity.actor, session_id, data)
        self.relay_mine()
        return views.item(item)

    @rpc
    def get_item_attachment(self, item_id: str, attachment_id: str) -> dict:
        """A file of an agenda item: ``{"id", "filename", "content_type", "size" (bytes),
        "content_b64"}``. Whoever may read the session (members of the union, its delegates, admins).
        Errors: Forbidden, NotFound (item, or a file not of this item)."""
        return app.get_attachment(self.store, self.identity.actor, item_id, attachment_id)

    @rpc
    def get_session(self, session_id: str) -> dict:
        """A session with its agenda, outcomes and counts (:class:`SessionOut`). Members of the union."""
        return app.get_session(self.store, self.identity.actor, session_id)

    @rpc
    def needs_of(self) -> dict:
        """What needs the caller in the congress, for their "what needs me" home (issue 16): the planned
        or convened sessions of their terms as a delegate that they have not checked in to
        (``session_due``, ``due_at`` the scheduled time, ``scope`` the session's state). Read-only. Out:
        :class:`dmlib.contracts.needs.NeedsOut`."""
        return needs("congress", **app.needs_of(self.store, self.identity.actor))

    @rpc
    def list_sessions(self, congress_id: str) -> list[dict]:
        """The published record: every session of a congress, newest first, with its agenda items and the
        outcome of each vote (counts). Members of the union, its delegates, admins. Out: [SessionOut]."""
        return app.list_sessions(self.store, self.identity.actor, congress_id)

    @rpc
    def session_counts(self, session_id: str) -> dict:
        """Live due/present counts of a session (:class:`CountsOut`), polled by the console every ~1.5 s.

        ``due_count`` (应到) = all delegates of the term, ``present_count`` (实到) = delegates checked in,
        ``required`` = ⌈2/3 × due⌉, ``quorum`` = present ≥ required (1986 条例 art. 18); ``by_delegation``
        ``[{id, name, due, present}]``; ``open_item`` ``{id, title, secret, ballots, eligible}`` or null.
        Cost: two ``_id`` lookups and a read of the session's check-ins (~8 ms at 120), plus one voting RPC
        while a vote is open. Members of the union."""
        return c.CountsOut().dump(app.session_counts(self.store, self.identity.actor, self.peers, session_id))

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
        out = app.check_in(self.store, self.identity.actor, now, session_id, data)
        self.relay_mine()
        return c.CheckInOut().dump(out)

    @rpc
    def convene_session(self, session_id: str) -> dict:
        """Convene a planned session (planned → convened), only with present ≥ 2/3 of ALL delegates of the
        term (1986 条例 art. 18); 应到 is then fixed for the session. Out: :class:`SessionOut`. Publishes
        ``session_convened``. Admins. Errors: Conflict with ``details`` ``{due_count, present_count,
        required}`` when short of the quorum, or ``{state}`` when the session is not planned (two admins
        convening at once: exactly one succeeds)."""
        out = app.convene_session(self.store, self.identity.actor, now, session_id)
        self.relay_mine()
        return out

    @rpc
    def close_session(self, session_id: str) -> dict:
        """Close a session (convened → closed; a planned one may be called off). Refused while a vote is
        open. 实到 is then fixed. Out: :class:`SessionOut`. Publishes ``session_closed``. Admins.
        Errors: Conflict (already closed, a vote open)."""
        out = app.close_session(self.store, self.identity.actor, now, session_id)
        self.relay_mine()
        return out

    # ----- votes on resolutions ------------------------------------------------------------------
    @rpc
    def open_vote(self, item_id: str) -> dict:
        """Put a resolution or election item to the vote. A resolution: voting opens a choice poll (yes /
        no / abstain) for the delegates present now, secret or named as the item says. An election:
        elections' ``open_voting`` of the item's election (with the caller's token), whose electors due
        are the delegates present now (``present_delegates``); its rounds are closed and its results
        published in elections, by its rules (valid only if more than 2/3 of the delegates present
        when voting opened take part; elected only with approvals of more than half of them; 条例 2016,
        services/elections/rules.py). One item at a time per session, only while it is convened (two
        thirds of ALL delegates present, 1986 条例 art. 18). Out: :class:`ItemOut` (state ``voting``,
        ``poll_id`` or ``election_id``). Publishes ``vote_opened``. Admins. Errors: Conflict (session
        not convened, another vote open, item already voted on, a report, an election item without its
        election, elections refusing), ServiceUnavailable (voting / elections down: the item stays
        pending)."""
        item = app.open_vote(self.store, self.identity.actor, now, self.peers, item_id)
        self.relay_mine()
        return views.item(item)

    @rpc
    def link_election(self, item_id: str, data: dict) -> dict:
        """Name the election an agenda item of kind ``election`` runs. In: :class:`ElectionLinkIn`
        (``{"election_id"}``): an election of the elections service of the session's union, electorate
        ``session`` with this session's id, status ``nominating`` (read from elections). Out:
        :class:`ItemOut` with ``election_id``. Admins; while the item is pending and the session not
        closed. Errors: BadInput (another union's or another electorate's election), NotFound,
        Forbidden, Conflict (not an election item, voted on, closed, election past nomination)."""
        data = c.ElectionLinkIn().load(data)
        item = app.link_election(self.store, self.identity.actor, self.peers, item_id, data)
        self.relay_mine()
        return views.item(item)

    @rpc
    def present_delegates(self, session_id: str) -> dict:
        """Who may vote at a session now (:class:`PresentOut`): ``member_ids`` of the delegates checked
        in, ``due_count`` / ``present_count`` / ``required`` / ``quorum`` (≥ 2/3 of ALL delegates, 1986
        条例 art. 18), ``state`` and ``open_election`` (the election of the open agenda item, if it is an
        election item). The elections service reads it when a session election opens voting (its
        electors due = these delegates). Readers of the session and the system. Errors: NotFound,
        Forbidden."""
        return c.PresentOut().dump(app.present_delegates(self.store, self.identity.actor, session_id))

    @rpc
    def cast_vote(self, item_id: str, data: dict) -> dict:
        """A delegate's ballot on the open item: checked here, then forwarded to voting with the
        delegate's own token (voting keeps the ballot and its secrecy). In: :class:`VoteIn`
        (``{"choice": "yes" | "no" | "abstain"}``). Out: :class:`VoteOut` with the receipt code.

        Errors: BadInput (choice); Forbidden (not a delegate of the term, not checked in); Conflict (the
        item is not open for voting, or a second ballot); NotFound."""
        data = c.VoteIn().load(data)
        return c.VoteOut().dump(app.cast_vote(self.store, self.identity.actor, self.peers, item_id, data))

    @rpc
    def close_vote(self, item_id: str) -> dict:
        """Close the vote on an item and record the outcome: adopted only if yes > 1/2 of ALL delegates of
        the term (1986 条例 art. 18; 企业民主管理规定 2012 art. 20), whatever the abstentions. Out:
        :class:`ItemOut` with ``outcome`` (counts, ``due``, ``required``, ``adopted``). Publishes
        ``resolution_adopted`` or ``resolution_failed`` exactly once (two admins closing at once, or the
        ``poll_closed`` event arriving first: one records, the others read it). An election item: records
        its election's published result read from elections (``election_outcome``: elected, vacant,
        due; state ``decided``; ``election_recorded``), as the ``election_published`` event also does.
        Admins. Errors: Conflict (not voting; the election not yet published)."""
        item = app.close_vote(self.store, self.identity.actor, now, self.peers, item_id)
        self.relay_mine()
        return views.item(item)

    @event_handler("elections", "election_published")
    def handle_election_published(self, payload: dict) -> None:
        """An election was published: the agenda item running it (kind ``election``, voting) records the
        result (the elected, vacant seats, electors due), read from elections as the system and only if
        elections says that election is published: the event only names the election (DESIGN.md §5,
        "The broker is not trusted"). Publishes ``election_recorded``."""
        if app.election_published(self.store, now, self.peers, payload) is not None:
            self.relay_mine()

    @event_handler("voting", "poll_closed")
    def handle_poll_closed(self, payload: dict) -> None:
        """A choice poll of ours closed (e.g. at its ``closes_at``): record the outcome if not yet done.

        The event only says *which* item to look at (``ref``); the outcome is decided from what voting
        answers for the poll bound to that item when its vote was opened (``item.poll_id``), read over
        RPC as the system, and only once voting says that poll is closed: never from the counts, state or
        poll id in the message (DESIGN.md §5, "The broker is not trusted"; issue 12)."""
        if app.poll_closed(self.store, now, self.peers, payload) is not None:
            self.relay_mine()

    # ----- the delegate's view and the minutes ---------------------------------------------------
    @rpc
    def my_status(self, session_id: str) -> dict:
        """The caller's place in a session, for the delegate's page: ``{"session_id", "member_id",
        "is_delegate", "delegation", "checked_in", "open_item": {id, title, secret, has_voted} | null}``.
        Anyone who may read the session."""
        return app.my_status(self.store, self.identity.actor, self.peers, session_id)

    @rpc
    def minutes(self, session_id: str) -> dict:
        """Everything the minutes (会议纪要) of a session record: ``{"congress", "term", "session"
        (SessionOut with items and outcomes), "held" (convened?), "delegations": [{id, name, due,
        present}], "present": [{member_id, name, delegation}], "absent": [...] (empty until the session
        has convened)}``. Members of the union, delegates, admins."""
        return app.minutes(self.store, self.identity.actor, session_id)

    # ----- the projector view (大屏) and its read-only links -------------------------------------
    @rpc
    def projector(self, session_id: str) -> dict:
        """What the projector view of a session shows (:class:`ProjectorOut`): 应到 / 实到, the quorum
        needed (⌈2/3⌉ of all delegates, 1986 条例 art. 18), the item being voted with ballots cast of
        eligible, the last outcome with counts. Counts only: no member id, name or choice. Readers of
        the session (members of the union, delegates, admins). Errors: NotFound, Forbidden."""
        out = projector.by_reader(self.store, self.identity.actor, self.peers, session_id)
        return c.ProjectorOut().dump(out)

    @rpc
    def projector_by_link(self, token: str) -> dict:
        """The projector view through a read-only link, WITHOUT a login (:class:`ProjectorOut`, the same
        counts as :meth:`projector`). Errors: NotFound (a token not signed by this service or not
        stored), Forbidden with ``details`` ``{"revoked": true}`` (the link was revoked)."""
        out = projector.by_link(self.store, self.peers, self.link_key, token)
        return c.ProjectorOut().dump(out)

    @rpc
    def create_projector_link(self, session_id: str) -> dict:
        """A new revocable read-only projector link for a session (:class:`ProjectorLinkOut`; the page is
        ``/projector/congress/<token>``). Admins of the session's union or above. Errors: NotFound,
        Forbidden."""
        out = projector.create_link(self.store, self.identity.actor, now, self.link_key, session_id)
        self.relay_mine()
        return c.ProjectorLinkOut().dump(out)

    @rpc
    def list_projector_links(self, session_id: str) -> list[dict]:
        """The projector links of a session, newest first, revoked ones included ([ProjectorLinkOut]).
        Admins. Errors: NotFound, Forbidden."""
        out = projector.list_links(self.store, self.identity.actor, session_id)
        return c.ProjectorLinkOut(many=True).dump(out)

    @rpc
    def revoke_projector_link(self, token: str) -> dict:
        """Revoke a projector link: its page then says so and its JSON answers 403. Admins of the
        session's union or above. Errors: NotFound, Forbidden, Conflict (already revoked)."""
        out = projector.revoke_link(self.store, self.identity.actor, now, self.link_key, token)
        self.relay_mine()
        return c.ProjectorLinkOut().dump(out)
