"""The surveys service (职工问卷调查): a union builds a questionnaire, sends it to the members of chosen
unions, departments or the delegates of a congress term, collects answers (drafts, resume, one response
per member), and reads results kept incrementally in counters (docs/surveys.md).

Entrypoints only: each loads its input with the contract schema (:mod:`dmlib.contracts.surveys`), calls
its use case in :mod:`services.surveys.app` and dumps the output. Who may do what is decided in
:mod:`services.surveys.policy`, state changes commit with their events in the outbox
(:mod:`services.surveys.store`; ``OutboxRelay`` publishes them), pure rules (validation of each question
kind, skip logic, counting, minimum-group merging) live in :mod:`services.surveys.rules`.

Common errors: Unauthenticated (no or bad token), BadInput (400, field messages), Forbidden (403),
NotFound (404), Conflict (409: wrong state, window closed, already answered, changed meanwhile).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from dmlib.auth import Identity, auth_secret
from dmlib.contracts import surveys as c
from dmlib.contracts.needs import needs
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.schemas import PageIn
from dmlib.state import OutboxRelay
from dmlib.state import now as utc_now
from dmlib.storage import Mongo

from . import app
from .store import SurveysStore

ROSTER_PAGE = 5000


class Settings(DependencyProvider):
    """The key of respondent hashes: HMAC-SHA256(``AUTH_SECRET``, "surveys:respondent") (the way the
    disclosure service derives its anonymity key), and the clock (tests shift it with ``offset``)."""

    def setup(self):
        self.respondent_key = hmac.new(
            auth_secret(self.container.config).encode(), b"surveys:respondent", hashlib.sha256
        ).digest()
        self.offset = timedelta(0)

    def get_dependency(self, worker_ctx):
        return self

    def now(self) -> datetime:
        return utc_now() + self.offset

    def respondent(self, survey_id: str, member_id: str) -> str:
        """The id of a member's response (and draft) to a survey: HMAC(key, "survey:member") in hex, so
        one insert enforces one response per member and the stored response holds no member id."""
        return hmac.new(self.respondent_key, f"{survey_id}:{member_id}".encode(), hashlib.sha256).hexdigest()


class Directory:
    """Membership as its owners know it (:class:`services.surveys.app.Directory`): unions, rosters and
    departments from members, delegates from congress; asked as this service after the policy allowed
    the caller."""

    def __init__(self, members_rpc, congress_rpc, identity):
        self.members_rpc, self.congress_rpc, self.identity = members_rpc, congress_rpc, identity

    def get_union(self, union_id: str) -> dict:
        """``{id, name, path, kind, member_count}`` (NotFound from members)."""
        return self.members_rpc.get_union(union_id)

    def unions_under(self, union_id: str) -> list[dict]:
        """The union and every union below it."""
        return self.members_rpc.list_unions(union_id)

    def roster(self, union_id: str) -> list[dict]:
        """``[{member_id, name, department_id, locale}]`` of the union itself."""
        self.identity.act_as_service()
        roster: list[dict] = []
        while True:
            part = self.members_rpc.union_roster(union_id, len(roster), ROSTER_PAGE)
            roster.extend(part["members"])
            if not part["members"] or len(roster) >= part["total"]:
                return roster

    def departments(self, union_id: str) -> list[dict]:
        """``[{id, name, …}]`` of a grassroots union."""
        self.identity.act_as_service()
        return self.members_rpc.list_departments(union_id)

    def term_union(self, term_id: str) -> str:
        """The union whose congress the term belongs to (congress ids are ``cg-<union id>``)."""
        self.identity.act_as_service()
        return self.congress_rpc.get_term(term_id)["congress_id"].removeprefix("cg-")

    def delegates(self, term_id: str) -> list[dict]:
        """The delegates of a congress term: ``[{member_id, name, union_id?, …}]``."""
        self.identity.act_as_service()
        return self.congress_rpc.list_delegates(term_id)


class SurveysService(OutboxRelay, HealthRpc):
    name = "surveys"

    store: SurveysStore = Mongo(SurveysStore)
    identity = Identity()
    events = Events()
    settings = Settings()
    members_rpc = Rpc("members")
    congress_rpc = Rpc("congress")

    @property
    def directory(self) -> Directory:
        return Directory(self.members_rpc, self.congress_rpc, self.identity)

    # ----- templates -----------------------------------------------------------------------------
    @rpc
    def list_templates(self, language: str = "zh") -> list[dict]:
        """The questionnaires to start from (职工需求调查 ``needs``, 职工满意度调查 ``satisfaction``,
        食堂满意度调查 ``canteen``) in ``zh`` or ``en``. Out: [:class:`TemplateOut`]. Any logged-in caller.
        Errors: BadInput (unknown language)."""
        return c.TemplateOut(many=True).dump(app.list_templates(self.identity.actor, language))

    @rpc
    def get_template(self, key: str, language: str = "zh") -> dict:
        """One template as the ``sections`` (and ``title``, ``description``, ``language``) of a
        :class:`SurveyIn`: add ``union_id`` and ``audience`` and pass it to :meth:`create_survey`.
        Any logged-in caller. Errors: BadInput (unknown language), NotFound (unknown key)."""
        return app.get_template(self.identity.actor, key, language)

    # ----- building ------------------------------------------------------------------------------
    @rpc
    def create_survey(self, data: dict) -> dict:
        """Create a survey (status ``draft``). In: :class:`SurveyIn`; the questionnaire as a whole is
        checked too (unique ids, skip logic pointing at an earlier single/multiple/rating question and
        at values it offers, options of choice questions, number bounds). Out: :class:`SurveyOut`.
        Admins of ``union_id`` or above; every union, department or term of the audience must be in
        their care. Audited ``surveys.survey_created``. Errors: BadInput, NotFound (union), Forbidden."""
        data = c.SurveyIn().load(data)
        out = app.create_survey(self.store, self.identity.actor, self.settings.now(), self.directory, data)
        self.relay_mine()
        return c.SurveyOut().dump(out)

    @rpc
    def update_survey(self, survey_id: str, data: dict) -> dict:
        """Replace a draft's questionnaire and settings. In: :class:`SurveyUpdateIn` (with the ``version``
        read). Out: :class:`SurveyOut`. Admins of the survey's union. Errors: BadInput, NotFound,
        Forbidden, Conflict (not a draft any more, or changed meanwhile). Audited ``surveys.survey_updated``."""
        data = c.SurveyUpdateIn().load(data)
        out = app.update_survey(
            self.store, self.identity.actor, self.settings.now(), self.directory, survey_id, data
        )
        self.relay_mine()
        return c.SurveyOut().dump(out)

    @rpc
    def get_survey(self, survey_id: str) -> dict:
        """The survey with its questionnaire: for its admins (any status) and, once open or closed, for
        the members of its audience. Out: :class:`SurveyOut`. Errors: NotFound, Forbidden."""
        return c.SurveyOut().dump(app.get_survey(self.store, self.identity.actor, survey_id))

    @rpc
    def list_surveys(self, union_id: str, query: dict | None = None) -> dict:
        """The surveys run by a union, newest first, for its admins. In: :class:`SurveyListIn`
        (``status``, paging). Out: :class:`SurveyPageOut`. Errors: BadInput, Forbidden."""
        query = c.SurveyListIn().load(query or {})
        return c.SurveyPageOut().dump(
            app.list_surveys(self.store, self.identity.actor, self.directory, union_id, query)
        )

    @rpc
    def my_surveys(self) -> list[dict]:
        """The open (and recently closed) surveys whose audience holds the caller, with ``mine``
        (not_started | draft | submitted). Out: [:class:`SurveySummaryOut`]."""
        out = app.my_surveys(self.store, self.identity.actor, self.settings)
        return c.SurveySummaryOut(many=True).dump(out)

    @rpc
    def needs_of(self) -> dict:
        """What needs the caller among surveys, for their "what needs me" home (issue 16): open surveys
        of their audience not yet submitted (``survey_open``, ``due_at`` the closing time); per union
        they administer or below, ``surveys_running`` (count, nearest closing as ``due_at``, ``overdue``
        = closing within 3 days). Read-only. Out: :class:`dmlib.contracts.needs.NeedsOut`."""
        out = app.needs_of(self.store, self.identity.actor, self.settings.now(), self.settings)
        return needs("surveys", **out)

    # ----- window --------------------------------------------------------------------------------
    @rpc
    def open_survey(self, survey_id: str) -> dict:
        """Open a draft by hand: the audience is read from its owners (members, congress) and fixed as
        the survey's audience (``eligible``); commits ``survey_opened`` (notify tells the audience).
        Admins of the survey's union. Out: :class:`SurveyOut`. Errors: NotFound, Forbidden, Conflict (not
        a draft; an empty audience; ``closes_at`` passed). Audited ``surveys.survey_opened``."""
        out = app.open_survey(self.store, self.identity.actor, self.settings.now(), self.directory, survey_id)
        self.relay_mine()
        return c.SurveyOut().dump(out)

    @rpc
    def close_survey(self, survey_id: str) -> dict:
        """Close an open survey by hand: no more answers or drafts; commits ``survey_closed``. Admins of
        the survey's union. Out: :class:`SurveyOut`. Errors: NotFound, Forbidden, Conflict (not open).
        Audited ``surveys.survey_closed``."""
        out = app.close_survey(self.store, self.identity.actor, self.settings.now(), survey_id)
        self.relay_mine()
        return c.SurveyOut().dump(out)

    @rpc
    def remind(self, survey_id: str) -> dict:
        """Remind the members of the audience who have not submitted: commits ``survey_reminded``
        (notify asks :meth:`pending_members` for whom; nobody learns anything about answers). Admins of
        the survey's union. Out: ``{"survey_id", "reminder" (1…), "pending" (members to remind)}``.
        Errors: NotFound, Forbidden, Conflict (not open). Audited ``surveys.reminder_sent``."""
        out = app.remind(self.store, self.identity.actor, self.settings.now(), self.settings, survey_id)
        self.relay_mine()
        return out

    @timer(interval=30)
    def follow_window(self) -> None:
        """Open the drafts whose ``opens_at`` has come and close the open surveys whose ``closes_at`` has
        passed (the system acts; each move is one guarded write, so two processes cannot both do it)."""
        self.identity.act_as_service()
        app.follow_window(self.store, self.settings.now(), self.directory)
        self.relay_mine()

    # ----- answering -----------------------------------------------------------------------------
    @rpc
    def my_response(self, survey_id: str) -> dict:
        """The caller's draft (to resume) or submitted response. Members of the audience. Out:
        :class:`MyResponseOut`. Errors: NotFound, Forbidden (not in the audience)."""
        out = app.my_response(self.store, self.identity.actor, self.settings, survey_id)
        return c.MyResponseOut().dump(out)

    @rpc
    def save_draft(self, survey_id: str, data: dict) -> dict:
        """Save answers so far (partial; replaces the previous draft). In: :class:`ResponseIn`, each given
        answer checked against its question. Out: :class:`MyResponseOut` (``draft``). Members of the
        audience while the survey is open. Errors: BadInput (``answers.<question id>`` messages; nothing
        saved), Forbidden, Conflict (not open; already submitted)."""
        data = c.ResponseIn().load(data)
        out = app.save_draft(
            self.store, self.identity.actor, self.settings.now(), self.settings, survey_id, data
        )
        return c.MyResponseOut().dump(out)

    @rpc
    def submit_response(self, survey_id: str, data: dict) -> dict:
        """Submit the caller's response: every required question shown by the skip logic answered, no
        answer to a hidden question, each answer valid for its kind. One response per member, enforced
        by one insert under the respondent hash (anonymous: the stored response holds no member id;
        named: it holds the member id and name). The counters of the results move with it. Members of the
        audience while open. Out: :class:`MyResponseOut` (``submitted``, with ``receipt``). Errors:
        BadInput (field messages; nothing stored), Forbidden, Conflict (not open; already submitted)."""
        data = c.ResponseIn().load(data)
        out = app.submit_response(
            self.store, self.identity.actor, self.settings.now(), self.settings, survey_id, data
        )
        return c.MyResponseOut().dump(out)

    # ----- results -------------------------------------------------------------------------------
    @rpc
    def results(self, survey_id: str) -> dict:
        """Results per question from the counters (a fixed handful of ``_id`` reads, whatever the number
        of responses). Admins of the survey's union. Out: :class:`ResultsOut` (``withheld`` for an
        anonymous survey with fewer than ``min_group`` responses). Errors: NotFound, Forbidden."""
        return c.ResultsOut().dump(app.results(self.store, self.identity.actor, survey_id))

    @rpc
    def crosstab(self, survey_id: str, question_id: str, query: dict) -> dict:
        """One single, multiple or rating question by union or by department (In: :class:`CrosstabIn`),
        groups below the minimum merged into ``other`` (其他) until every shown group has at least
        ``min_group`` responses. Admins. Out: :class:`CrosstabOut`. Errors: BadInput (a kind that does not
        cross-tab), NotFound, Forbidden."""
        query = c.CrosstabIn().load(query)
        return c.CrosstabOut().dump(
            app.crosstab(self.store, self.identity.actor, survey_id, question_id, query)
        )

    @rpc
    def participation(self, survey_id: str) -> dict:
        """Live participation: eligible, responses, drafts, rate, by union and by department (groups
        below the minimum merged into ``other`` for anonymous surveys). Admins. Out:
        :class:`ParticipationOut`. Errors: NotFound, Forbidden."""
        return c.ParticipationOut().dump(app.participation(self.store, self.identity.actor, survey_id))

    @rpc
    def texts(self, survey_id: str, question_id: str, query: dict | None = None) -> dict:
        """Free texts of a short or long text question, in arrival order, paged and searchable
        (In: :class:`TextsIn`). Anonymous surveys show the text only. Admins. Out: :class:`TextPageOut`.
        Errors: BadInput (not a text question), NotFound, Forbidden; withheld (empty) below the minimum."""
        query = c.TextsIn().load(query or {})
        return c.TextPageOut().dump(app.texts(self.store, self.identity.actor, survey_id, question_id, query))

    @rpc
    def raw_answers(self, survey_id: str, query: dict | None = None) -> dict:
        """The raw-answers iterator for exports: responses in arrival order, a page at a time (In:
        :class:`RawIn`), groups below the minimum named 其他/other; member id and name only for named
        surveys. Admins. Out: :class:`RawPageOut` (``next`` null at the end). Errors: NotFound, Forbidden."""
        query = c.RawIn().load(query or {})
        return c.RawPageOut().dump(app.raw_answers(self.store, self.identity.actor, survey_id, query))

    @rpc
    def respondents(self, survey_id: str, query: dict | None = None) -> dict:
        """Who answered a named survey (Conflict for an anonymous one), in arrival order. Admins. In:
        :class:`dmlib.schemas.PageIn`. Out: :class:`RespondentPageOut`."""
        query = PageIn().load(query or {})
        return c.RespondentPageOut().dump(app.respondents(self.store, self.identity.actor, survey_id, query))

    @rpc
    def recount(self, survey_id: str) -> dict:
        """Rebuild the counters from the stored responses (the source of truth) and say whether they had
        drifted. System or the survey's admins. Out: ``{"survey_id", "responses", "drifted" (bool)}``."""
        return app.recount(self.store, self.identity.actor, survey_id)

    # ----- for notify ----------------------------------------------------------------------------
    @rpc
    def audience_members(self, survey_id: str, offset: int = 0, limit: int = 5000) -> dict:
        """A page of the audience (system only: notify's fan-out of ``survey_opened``). Out:
        :class:`AudiencePageOut`, ``members`` = ``[{"member_id", "locale"}]``."""
        return c.AudiencePageOut().dump(
            app.audience_members(
                self.store, self.identity.actor, self.settings, survey_id, offset, limit, pending=False
            )
        )

    @rpc
    def pending_members(self, survey_id: str, offset: int = 0, limit: int = 5000) -> dict:
        """A page of the audience members who have not submitted (system only: notify's fan-out of
        ``survey_reminded``); paged over the audience, so a page may hold fewer than ``limit``. Out:
        :class:`AudiencePageOut` (``total`` = the audience size)."""
        return c.AudiencePageOut().dump(
            app.audience_members(
                self.store, self.identity.actor, self.settings, survey_id, offset, limit, pending=True
            )
        )
