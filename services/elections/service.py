"""The elections service (选举): elections of a grassroots union's committee, its chair or the delegates
of a congress, with candidates and their nomination records, electors read from their owner (the
members service's roster, or the congress service's delegates of a term), rounds that are each a secret
ballot with receipts, a live tally and a recount, results by the rules of 《工会基层组织选举工作条例》
(:mod:`.rules`), publication and the official results report (DOCX) and XLSX (:mod:`.report`).

Entrypoints only: load the input with the contract (:mod:`dmlib.contracts.elections`), call the use case
(:mod:`.app`), return its output. Who may do what: :mod:`.policy`. State changes commit their events to
the outbox (:mod:`dmlib.state`); each committing method relays at once, the ``OutboxRelay`` timer retries.
Why a service of its own rather than poll kinds in ``voting``: docs/elections.md.
"""

from __future__ import annotations

import base64

import eventlet
from nameko.extensions import DependencyProvider

from dmlib.auth import Identity
from dmlib.contracts import elections as c
from dmlib.contracts.needs import needs
from dmlib.errors import BadInput
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.links import LinkKey
from dmlib.rpc import Rpc, rpc
from dmlib.secrets import require_secret
from dmlib.state import OutboxRelay
from dmlib.storage import Mongo

from . import app, appraisals, projector, report
from .store import ElectionsStore, now

ROSTER_PAGE = 5000
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class BallotKey(DependencyProvider):
    """The ballot key: config ``VOTING_KEY`` (≥ 16 characters, :mod:`dmlib.secrets`), the same secret
    the voting service keys its ballots with (round ids and poll ids never collide)."""

    def setup(self):
        self.key = require_secret(self.container.config, "VOTING_KEY", 16).encode()

    def get_dependency(self, worker_ctx):
        return self.key


class Peers:
    """The members and congress services as the use cases need them (:class:`.app.Members`), asked as
    this service: only after the policy allowed the caller."""

    def __init__(self, members_rpc, congress_rpc, identity):
        self.members_rpc, self.congress_rpc, self.identity = members_rpc, congress_rpc, identity

    def get_union(self, union_id: str) -> dict:
        return self.members_rpc.get_union(union_id)

    def get_member(self, member_id: str) -> dict:
        self.identity.act_as_service()
        return self.members_rpc.get_member(member_id)

    def roster(self, union_id: str) -> list[str]:
        self.identity.act_as_service()
        out: list[str] = []
        while True:
            part = self.members_rpc.union_roster(union_id, len(out), ROSTER_PAGE)
            out.extend(m["member_id"] for m in part["members"])
            if not part["members"] or len(out) >= part["total"]:
                return out

    def unions_under(self, union_id: str) -> list[str]:
        """The grassroots unions at or below ``union_id``."""
        self.identity.act_as_service()
        return [u["id"] for u in self.members_rpc.list_unions(union_id, "grassroots")]

    def record_titles(self, award_id: str, titles: list[dict]) -> dict:
        """The awarded titles onto the member records (members' ``record_titles``; idempotent)."""
        self.identity.act_as_service()
        return self.members_rpc.record_titles("elections", award_id, titles)

    def search_members(self, union_id: str, q: str, limit: int) -> list[dict]:
        """Members of a union whose name, number or phone starts with ``q`` (members' ``list_members``
        search), as ``[{"member_id", "name"}]``."""
        self.identity.act_as_service()
        page = self.members_rpc.list_members({"union_id": union_id, "q": q, "per_page": limit})
        return [{"member_id": m["id"], "name": m.get("name", "")} for m in page["items"]]

    def delegates(self, term_id: str) -> list[dict]:
        self.identity.act_as_service()
        return self.congress_rpc.list_delegates(term_id)

    def present_delegates(self, session_id: str) -> dict:
        """The congress session's state, quorum, open election and the delegates checked in now."""
        self.identity.act_as_service()
        return self.congress_rpc.present_delegates(session_id)


class ElectionsService(OutboxRelay, HealthRpc):
    name = "elections"

    store: ElectionsStore = Mongo(ElectionsStore)
    identity = Identity()
    events = Events()
    key = BallotKey()
    link_key: bytes = LinkKey(projector.LINK_PURPOSE)  # signs projector links (dmlib.links)
    members_rpc = Rpc("members")
    congress_rpc = Rpc("congress")

    @property
    def ports(self) -> app.Ports:
        peers = Peers(self.members_rpc, self.congress_rpc, self.identity)
        return app.Ports(store=self.store, key=self.key, peers=peers, clock=now, sleep=eventlet.sleep)

    # ----- set-up and nomination -----------------------------------------------------------------
    @rpc
    def create_election(self, data: dict) -> dict:
        """Set up an election of a grassroots union (its admins or those above).

        In: :class:`ElectionIn` ``{"union_id", "title", "kind": committee | chair | delegates, "seats",
        "electorate": union | term | session, "term_id", "session_id", "rules": {"contested" (default true), "margin_pct"
        (default 5), "shortfall": further_round | vacant, "write_ins" (default true)}}``. A committee is
        always contested (差额). Out: the election (status ``nominating``). Commits ``election_created``.
        Errors: BadInput, NotFound (union), Forbidden."""
        data = c.ElectionIn().load(data)
        out = app.create_election(self.ports, self.identity.actor, data)
        self.relay_mine()
        return out

    @rpc
    def nominate(self, election_id: str, data: dict) -> dict:
        """Add a candidate with the nomination record (admins, while nominating).

        In: :class:`NominationIn` ``{"member_id", "source", "supporters", "note"}``; the candidate must
        be a member of the union. Out: the election. Errors: BadInput, NotFound, Forbidden, Conflict
        (nominations closed, already a candidate)."""
        data = c.NominationIn().load(data)
        out = app.nominate(self.ports, self.identity.actor, election_id, data)
        self.relay_mine()
        return out

    @rpc
    def open_voting(self, election_id: str, data: dict | None = None) -> dict:
        """Close nominations, fix the electors (the union's members, the term's delegates, or the
        delegates present at the congress session now: ``due`` = those present when voting opened) and
        open round 1 (admins). A session election opens only from its congress agenda item, while the
        session is convened and quorate (1986 条例 art. 18). In: :class:`OpenRoundIn` ``{"closes_at"}``. Out: the election with ``due``,
        ``turnout_required`` (> 2/3 of due) and ``majority_required`` (> 1/2 of due). Commits
        ``election_opened`` and ``round_opened``. Errors: Conflict (the slate does not fit the seats:
        差额 margin or 等额; no electors; already open), Forbidden, NotFound."""
        data = c.OpenRoundIn().load(data or {})
        out = app.open_voting(self.ports, self.identity.actor, election_id, data)
        self.relay_mine()
        return out

    # ----- voting --------------------------------------------------------------------------------
    @rpc
    def cast(self, election_id: str, data: dict) -> dict:
        """Cast the caller's ballot in the open round: one per elector, secret.

        In: :class:`ElectionBallotIn` ``{"marks": {candidate: approve | disapprove | abstain},
        "write_ins": [member id]}`` (unmarked = abstain; write-ins must be electors, none in a runoff).
        Out: ``{"election_id", "round_id", "receipt", "valid"}``; a ballot approving more people than
        seats is stored and counted as invalid (``valid`` false). Errors: BadInput, NotFound, Forbidden
        (not an elector), Conflict (not open; already voted: ``details.reason`` = ``already_voted``)."""
        data = c.ElectionBallotIn().load(data)
        return app.cast(self.ports, self.identity.actor, election_id, data)

    @rpc
    def load_ballots(self, election_id: str, ballots: list[dict]) -> dict:
        """Bulk loading of ballots for the demo (system only, a round open). In: ``[{"member_id",
        "marks", "write_ins"}]``, all checked before any is stored. Out: ``{"round_id", "loaded"}``.
        Errors: BadInput, Forbidden, Conflict (not open; a voter in the batch had voted)."""
        ballots = c.LoadedBallotIn(many=True).load(ballots)
        return app.load_ballots(self.ports, self.identity.actor, election_id, ballots)

    @rpc
    def close_round(self, election_id: str) -> dict:
        """Close the open round, recount it, decide it and open the next round if the rules ask for one
        (a runoff among those tied at the last seat; 另行选举 for seats left; a repeat when turnout was
        not above 2/3), else mark the election decided (admins; idempotent). Out: the election.
        Commits ``round_closed``, then ``round_opened`` or ``election_decided``. Errors: Conflict (no
        round open), Forbidden, NotFound."""
        out = app.close_round(self.ports, self.identity.actor, election_id)
        self.relay_mine()
        return out

    @rpc
    def publish(self, election_id: str) -> dict:
        """Publish a decided election (admins): the results become visible to the union's members.
        Needs every round's recount to equal its live tally. Commits ``election_published``. Errors:
        Conflict (not decided, a recount alarm), Forbidden."""
        out = app.publish(self.ports, self.identity.actor, election_id)
        self.relay_mine()
        return out

    # ----- reading -------------------------------------------------------------------------------
    @rpc
    def get_election(self, election_id: str) -> dict:
        """An election: candidates with their nomination records, rounds (counts and decisions of closed
        rounds for its admins, for everyone once published), the caller's ``has_voted`` and ``receipt``
        in the open round. Members of the union, electors, admins. Errors: NotFound, Forbidden."""
        return app.get_election(self.ports, self.identity.actor, election_id)

    @rpc
    def needs_of(self) -> dict:
        """Ballots open to the caller, for their "what needs me" home (issue 16): elections voting now
        (``election_ballot``), open appraisals (``appraisal_ballot``) and 双爱双评 rounds voting now
        (``award_ballot``) where they are an elector and have not voted. Read-only. Out:
        :class:`dmlib.contracts.needs.NeedsOut`."""
        return needs("elections", **appraisals.needs_of(self.ports, self.identity.actor))

    @rpc
    def list_elections(self) -> list[dict]:
        """The elections of the caller's union and of the unions they administer, newest first."""
        return app.list_elections(self.ports, self.identity.require_login())

    @rpc
    def find_electors(self, election_id: str, q: str) -> list[dict]:
        """The write-in picker (另选他人): electors of the election whose name (or member number) starts
        with ``q`` (1-50 characters), not candidates of the open round, at most 20, as ``[{"member_id",
        "name"}]`` (no other personal data). Electors and admins, while a round is open. Errors: BadInput,
        NotFound, Forbidden, Conflict (no round open)."""
        return app.find_electors(self.ports, self.identity.require_login(), election_id, q)

    @rpc
    def verify_receipt(self, round_id: str, receipt: str) -> dict:
        """Is the ballot with this receipt in the round's list? Out: ``{"round_id", "receipt", "found",
        "ballot": {"receipt", "marks", "write_ins"} | null}``. Errors: BadInput, NotFound, Forbidden."""
        return app.verify_receipt(self.ports, self.identity.require_login(), round_id, receipt)

    @rpc
    def list_ballots(self, round_id: str, page: int = 1, per_page: int = 100) -> dict:
        """The published ballot list of a closed round, by receipt (never by voter or casting order).
        Errors: Conflict while open, Forbidden, NotFound, BadInput."""
        return app.list_ballots(self.ports, self.identity.actor, round_id, page, per_page)

    @rpc
    def recount(self, round_id: str) -> dict:
        """Recount a round now and compare with the live tally (admins; audited). Out: ``{"at",
        "matches", "live", "recounted"}``; a mismatch raises the alarm (``recount_mismatched``)."""
        out = app.recount(self.ports, self.identity.actor, round_id)
        self.relay_mine()
        return out

    @rpc
    def results_report(self, election_id: str, fmt: str = "docx") -> dict:
        """The official results report (选举结果报告, ``docx``) or the results workbook (``xlsx``):
        electors due, took part, valid and invalid ballots, approvals per candidate per round, elected.
        Admins once decided; members once published. Out: ``{"filename", "content_type",
        "content_b64"}``. Errors: BadInput (format), Conflict (not decided / not published), Forbidden."""
        if fmt not in ("docx", "xlsx"):
            raise BadInput("docx or xlsx / 仅支持 docx 或 xlsx", fields={"fmt": ["docx or xlsx"]})
        election = app.report_data(self.ports, self.identity.actor, election_id)
        body = report.report_docx(election) if fmt == "docx" else report.results_xlsx(election)
        return {
            "filename": f"{election_id}-{'选举结果报告' if fmt == 'docx' else '选举结果'}.{fmt}",
            "content_type": DOCX if fmt == "docx" else XLSX,
            "content_b64": base64.b64encode(body).decode(),
        }

    # ----- appraisals (述职评议 / 民主评议) --------------------------------------------------------------
    @rpc
    def create_appraisal(self, data: dict) -> dict:
        """Open an appraisal of subjects (members of a grassroots union: delegates or cadres) by every
        member of the union (its admins). In: :class:`AppraisalIn` ``{"union_id", "title", "subjects":
        [member id], "threshold_pct" (default 60)}``. Out: the appraisal (status ``open``, ``due``
        raters). Commits ``appraisal_opened``. Errors: BadInput (a subject not of the union), NotFound,
        Forbidden."""
        data = c.AppraisalIn().load(data)
        out = appraisals.create_appraisal(self.ports, self.identity.actor, data)
        self.relay_mine()
        return out

    @rpc
    def rate(self, appraisal_id: str, data: dict) -> dict:
        """A rater's one ballot, secret: :class:`RatingIn` ``{"marks": {subject: satisfied | partly |
        dissatisfied}, "comments": {subject: text}}``. Out: ``{"appraisal_id", "receipt"}``. Errors:
        BadInput, Forbidden (not a member of the union), Conflict (closed; already rated:
        ``already_voted``)."""
        data = c.RatingIn().load(data)
        return appraisals.rate(self.ports, self.identity.actor, appraisal_id, data)

    @rpc
    def load_ratings(self, appraisal_id: str, ballots: list[dict]) -> dict:
        """Bulk loading of appraisal ballots for the demo (system only): ``[{"member_id", "marks",
        "comments"}]``, all checked first. Out: ``{"id", "loaded"}``."""
        ballots = c.LoadedRatingIn(many=True).load(ballots)
        return appraisals.load_ratings(self.ports, self.identity.actor, appraisal_id, ballots)

    @rpc
    def close_appraisal(self, appraisal_id: str) -> dict:
        """Close, recount and rank (admins; idempotent). Out: the appraisal with ``results``: per subject
        counts, ``rate`` ((满意 + 基本满意) ÷ valid, percent text), ``rank``, ``below_threshold``,
        ``dissatisfied_majority``. Commits ``appraisal_closed`` (and ``recount_mismatched``)."""
        out = appraisals.close_appraisal(self.ports, self.identity.actor, appraisal_id)
        self.relay_mine()
        return out

    @rpc
    def publish_appraisal(self, appraisal_id: str) -> dict:
        """Publish the results to the union (admins; a matching recount). Commits
        ``appraisal_published``. Errors: Conflict, Forbidden."""
        out = appraisals.publish_appraisal(self.ports, self.identity.actor, appraisal_id)
        self.relay_mine()
        return out

    @rpc
    def get_appraisal(self, appraisal_id: str) -> dict:
        """An appraisal: subjects, raters due, ballots so far, the caller's receipt; ``results`` for its
        admins once closed and for the union's members once published."""
        return appraisals.get_appraisal(self.ports, self.identity.actor, appraisal_id)

    @rpc
    def list_appraisals(self, union_id: str, page: int = 1, per_page: int = 50) -> dict:
        """The appraisals of a union, newest first, paged (``page`` ≥ 1, ``per_page`` 1-200): members
        of the union, its admins and those above. Out: ``{"items": [{"appraisal_id", "union_id",
        "title", "status", "subjects" (count), "due", "created_at"}], "total", "page", "per_page",
        "pages", "union_id", "can_manage"}``. Errors: BadInput (paging), NotFound (union), Forbidden."""
        return appraisals.list_appraisals(self.ports, self.identity.require_login(), union_id, page, per_page)

    @rpc
    def appraisal_comments(self, appraisal_id: str, subject: str) -> list[str]:
        """The anonymous comments on one subject once closed (admins)."""
        return appraisals.appraisal_comments(self.ports, self.identity.actor, appraisal_id, subject)

    # ----- 双爱双评 --------------------------------------------------------------------------------------
    @rpc
    def create_award_round(self, data: dict) -> dict:
        """A 双爱双评 round over a union and every union below it (its admins). In: :class:`AwardRoundIn`
        ``{"union_id", "title", "k", "places": {"good_worker": n, "good_manager": n}}``. Out: the round
        (``nominating``)."""
        data = c.AwardRoundIn().load(data)
        out = appraisals.create_award_round(self.ports, self.identity.actor, data)
        self.relay_mine()
        return out

    @rpc
    def nominate_award(self, award_id: str, data: dict) -> dict:
        """Nominate (members of the unions in scope, or admins): :class:`AwardNominationIn`
        ``{"category", "member_id", "citation"}``. Errors: BadInput (nominee out of scope), Conflict
        (closed, already nominated), Forbidden."""
        data = c.AwardNominationIn().load(data)
        out = appraisals.nominate_award(self.ports, self.identity.actor, award_id, data)
        self.relay_mine()
        return out

    @rpc
    def open_award_vote(self, award_id: str) -> dict:
        """Open the vote (admins): every member of the unions in scope may vote once. Commits
        ``award_vote_opened``."""
        out = appraisals.open_award_vote(self.ports, self.identity.actor, award_id)
        self.relay_mine()
        return out

    @rpc
    def vote_award(self, award_id: str, data: dict) -> dict:
        """A member's one secret ballot: :class:`AwardBallotIn` ``{"choices": {category: [nominee]}}``,
        at most ``k`` per category. Out: ``{"award_id", "receipt"}``. Errors: BadInput (over k, not a
        nominee), Forbidden, Conflict (not open; already voted)."""
        data = c.AwardBallotIn().load(data)
        return appraisals.vote_award(self.ports, self.identity.actor, award_id, data)

    @rpc
    def load_award_ballots(self, award_id: str, ballots: list[dict]) -> dict:
        """Bulk loading of 双爱双评 ballots for the demo (system only): ``[{"member_id", "choices"}]``."""
        ballots = c.LoadedAwardBallotIn(many=True).load(ballots)
        return appraisals.load_award_ballots(self.ports, self.identity.actor, award_id, ballots)

    @rpc
    def close_award_vote(self, award_id: str) -> dict:
        """Close, recount, rank and award per category (admins; idempotent). Out: the round with
        ``results`` ``{category: {"ranking", "awarded", "tied"}}``."""
        out = appraisals.close_award_vote(self.ports, self.identity.actor, award_id)
        self.relay_mine()
        return out

    @rpc
    def settle_award_tie(self, award_id: str, data: dict) -> dict:
        """Settle a tie across the last place of a category (admins; closed, not yet published; audited).
        In: :class:`AwardTieIn` ``{"category", "awarded": [member id among the tied, exactly the places
        left], "reason"}``. Out: the round; the category's result gains ``settled`` ``{"tied", "chosen",
        "reason", "by", "at"}``. Errors: BadInput, Conflict (not closed, no tie), Forbidden, NotFound."""
        data = c.AwardTieIn().load(data)
        out = appraisals.settle_award_tie(self.ports, self.identity.actor, award_id, data)
        self.relay_mine()
        return out

    @rpc
    def publish_awards(self, award_id: str) -> dict:
        """Publish the awarded list (admins; refused while a tie straddles the last place). Commits
        ``awards_published`` with the awarded member ids per category."""
        out = appraisals.publish_awards(self.ports, self.identity.actor, award_id)
        self.relay_mine()
        return out

    @rpc
    def list_award_rounds(self, union_id: str, page: int = 1, per_page: int = 50) -> dict:
        """The 双爱双评 rounds covering a union (its own and those of the unions above it), newest
        first, paged (``page`` ≥ 1, ``per_page`` 1-200): members of the union, its admins and those
        above. Out: ``{"items": [{"award_id", "union_id", "title", "status", "k", "places",
        "nominees": {category: count}, "created_at"}], "total", "page", "per_page", "pages",
        "union_id", "can_manage"}``. Errors: BadInput (paging), NotFound (union), Forbidden."""
        return appraisals.list_award_rounds(
            self.ports, self.identity.require_login(), union_id, page, per_page
        )

    @rpc
    def get_award_round(self, award_id: str) -> dict:
        """A 双爱双评 round (members of the unions in scope, admins); results for admins once closed and
        for everyone once published."""
        return appraisals.get_award_round(self.ports, self.identity.actor, award_id)

    # ----- the projector view (大屏) and its read-only links -------------------------------------
    @rpc
    def projector(self, election_id: str) -> dict:
        """What the projector view of an election shows (:class:`ProjectorOut`): electors due, ballots
        cast in the current round, the turnout needed for a valid election (> 2/3 of due) and the
        approvals needed to be elected (> 1/2 of due) (条例 2016, :mod:`.rules`), the candidates; the
        results once published. Never who voted. Members of the union, electors, admins. Errors:
        NotFound, Forbidden."""
        out = projector.by_reader(self.ports, self.identity.actor, election_id)
        return c.ProjectorOut().dump(out)

    @rpc
    def projector_by_link(self, token: str) -> dict:
        """The projector view through a read-only link, WITHOUT a login (:class:`ProjectorOut`).
        Errors: NotFound (a token not signed by this service or not stored), Forbidden with
        ``details`` ``{"revoked": true}``."""
        return c.ProjectorOut().dump(projector.by_link(self.ports, self.link_key, token))

    @rpc
    def create_projector_link(self, election_id: str) -> dict:
        """A new revocable read-only projector link (:class:`ProjectorLinkOut`; the page is
        ``/projector/elections/<token>``). The election's admins. Errors: NotFound, Forbidden."""
        out = projector.create_link(self.ports, self.identity.actor, self.link_key, election_id)
        self.relay_mine()
        return c.ProjectorLinkOut().dump(out)

    @rpc
    def list_projector_links(self, election_id: str) -> list[dict]:
        """The election's projector links, newest first, revoked ones included. Admins."""
        out = projector.list_links(self.ports, self.identity.actor, election_id)
        return c.ProjectorLinkOut(many=True).dump(out)

    @rpc
    def revoke_projector_link(self, token: str) -> dict:
        """Revoke a projector link of an election (its admins). Errors: NotFound, Forbidden, Conflict
        (already revoked)."""
        out = projector.revoke_link(self.ports, self.identity.actor, self.link_key, token)
        self.relay_mine()
        return c.ProjectorLinkOut().dump(out)
