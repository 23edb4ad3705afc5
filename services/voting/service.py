"""The voting service's nameko entrypoints: load the input, call a use case, return its output.

The poll engine (choice and rating polls, ballots, tallies, the close, recounts) and the choice-poll use
cases are in :mod:`.polls`; the evaluation campaigns (星级职工之家评选) built on it in :mod:`.campaigns`;
who may do what in :mod:`.policy`; storage in :mod:`.store`. State changes commit their events to the
outbox (:mod:`dmlib.state`); each method that commits relays them at once (``relay_mine``), the
:class:`~dmlib.state.OutboxRelay` timer retries what that could not publish.
"""

from __future__ import annotations

import logging

import eventlet
from marshmallow import ValidationError
from nameko.timer import timer

from dmlib.auth import Identity
from dmlib.contracts import voting as c
from dmlib.contracts.needs import needs
from dmlib.errors import BadInput, ServiceError
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, invalid, rpc
from dmlib.state import OutboxRelay
from dmlib.storage import Mongo

from . import campaigns as camp
from . import evaluation as ev
from . import polls
from .providers import BallotKeys, OpenDocs
from .store import VotingStore, now

log = logging.getLogger(__name__)
#: Most ballots one :meth:`VotingService.cast_ratings` call takes (the gateway sends fewer).
BATCH_MAX = 500
#: Seconds between two passes of the publication follow-up (star levels still due).
FOLLOW_UP_INTERVAL_S = 10
#: Seconds between two folds of the rating polls' settled batches into their folded tallies.
FOLD_INTERVAL_S = 1


class VotingService(OutboxRelay, HealthRpc):
    name = "voting"

    store: VotingStore = Mongo(VotingStore)
    identity = Identity()
    keys = BallotKeys()
    open_docs = OpenDocs()
    events = Events()
    members_rpc = Rpc("members")

    @property
    def ports(self) -> polls.Ports:
        return polls.Ports(
            store=self.store, keys=self.keys, cache=self.open_docs, clock=now, sleep=eventlet.sleep
        )

    def _campaign_or_none(self, campaign_id: str) -> dict | None:
        return self.store.get_campaign(campaign_id) if campaign_id else None

    # ===== choice polls (the contract the congress service codes against) ==========================
    @rpc
    def open_choice_poll(self, data: dict) -> dict:
        """Open a choice poll (e.g. a congress resolution, item by item). System only.

        In: :class:`ChoicePollIn` ``{"title", "options" (default yes/no/abstain), "voters": [member ids],
        "secret" (default true), "owner", "ref", "closes_at"}``. Out: ``{"poll_id", "kind": "choice",
        "status": "open", "title", "options", "secret", "owner", "ref", "eligible", "ballots": 0}``.
        Publishes ``poll_opened`` (committed with the poll). Errors: BadInput, Forbidden (not system)."""
        data = c.ChoicePollIn().load(data)
        out = polls.open_choice_poll(self.ports, self.identity.actor, data)
        self.relay_mine()
        return out

    @rpc
    def cast_choice(self, poll_id: str, data: dict) -> dict:
        """Cast the caller's ballot in a choice poll. In: :class:`ChoiceIn` ``{"choice": option}``.

        Out: ``{"poll_id", "receipt"}``. Errors: BadInput (unknown option), NotFound, Forbidden (not
        an eligible voter), Conflict (not open, past ``closes_at``, or already voted: 您已投票, with
        ``details.reason`` = ``already_voted``)."""
        data = c.ChoiceIn().load(data)
        return polls.cast_choice(self.ports, self.identity.actor, poll_id, data)

    @rpc
    def close_poll(self, poll_id: str) -> dict:
        """Close a choice poll and recount it. System only; idempotent (closing a closed poll returns the
        same result, finishing a close a crash cut short). Out: ``{"poll_id", "status": "closed",
        "counts": {option: n}, "ballots", "eligible", "recount_matches"}``. Publishes ``poll_closed``
        (committed with the close's recount). Errors: NotFound, Forbidden, BadInput (a rating poll)."""
        out = polls.close_poll(self.ports, self.identity.actor, poll_id)
        self.relay_mine()
        return out

    @rpc
    def get_poll(self, poll_id: str) -> dict:
        """A poll as the caller may see it: eligible voters, admins, or the system. A rating poll is seen
        by whoever sees its campaign (its superior union's admins, the admins and members of its Worker
        Homes), not by the admin of an unrelated union (DESIGN.md §1: "a union_admin of union A can do
        nothing to union B"; found by tests/e2e/test_authz_matrix.py).

        Out: :class:`PollOut` with ``status``, ``ballots``, ``eligible``, ``has_voted`` and ``receipt``
        (the caller's), and ``counts`` only once closed or when the poll is not secret."""
        return polls.get_poll(self.ports, self.identity.actor, poll_id, self._campaign_or_none)

    # ===== receipts, the published list, recounts =================================================
    @rpc
    def verify_receipt(self, poll_id: str, receipt: str) -> dict:
        """Is the ballot with this receipt in the poll's list? A rating poll: any logged-in caller (a
        receipt reveals nobody); a choice poll (a congress vote): those who may read the poll
        (:func:`.policy.sees_choice_poll`). Out: :class:`ReceiptCheckOut`. Errors: NotFound (poll),
        Forbidden, BadInput (not a 12-character code)."""
        actor = self.identity.require_login()
        return polls.verify_receipt(self.ports, actor, poll_id, receipt, self._campaign_or_none)

    @rpc
    def list_ballots(self, poll_id: str, page: int = 1, per_page: int = 100) -> dict:
        """The published ballot list of a closed poll, by receipt: ``{"items": [{receipt, choice |
        subject, stars}], "total", …}``. Anyone who may see the poll. Errors: Conflict while open."""
        return polls.list_ballots(
            self.ports, self.identity.actor, poll_id, page, per_page, self._campaign_or_none
        )

    @rpc
    def recount(self, poll_id: str) -> dict:
        """Recount every ballot of a poll now and compare with the live tally (system or admins of the
        campaign). Out: ``{"at", "matches", "live", "recounted"}``; a mismatch raises the alarm
        (``recount_mismatched``)."""
        out = polls.recount(self.ports, self.identity.actor, poll_id, self._campaign_or_none)
        self.relay_mine()
        return out

    # ===== evaluation campaigns =====================================================================
    @rpc
    def campaign_defaults(self) -> dict:
        """What a new campaign gets for a field left out (any logged-in caller; for the set-up form).
        Out: :class:`CampaignDefaultsOut` ``{"preset", "presets": {name: weights}, "criteria",
        "thresholds", "rules": {"min_participation", "no_ballots", "star_basis"}}``."""
        self.identity.require_login()
        return c.CampaignDefaultsOut().dump(ev.defaults())

    @rpc
    def create_campaign(self, data: dict) -> dict:
        """Create an evaluation campaign (draft) over the Worker Homes of the unions under ``union_id``.

        In: :class:`CampaignIn`; weights from ``weights`` or ``preset`` ("2018": member 50 / unit 25 /
        superior 25, the default; "2017": 40 / 30 / 30), criteria (default the five of DESIGN.md §4),
        thresholds (default 90/80/70/60/50 for 5…1 stars), ``rules`` (``min_participation`` percent,
        default 30; ``no_ballots`` exclude | zero, default exclude; ``star_basis`` published | exact,
        default published: :class:`evaluation.CampaignRules`). Only a superior admin of ``union_id`` or
        above. Out: :class:`CampaignOut`. Errors: BadInput, NotFound, Forbidden, Conflict (id taken)."""
        data = c.CampaignIn().load(data)
        return camp.create_campaign(self.ports, self.identity.actor, data, self.members_rpc)

    @rpc
    def open_campaign(self, campaign_id: str) -> dict:
        """Open member voting: creates the rating poll (one ballot per member, each member rates their own
        union's Worker Home) with the current member counts as the eligible figures. Campaign admins.
        Errors: Conflict (not a draft). Publishes ``poll_opened``."""
        out = camp.open_campaign(self.ports, self.identity.actor, campaign_id, self.members_rpc)
        self.relay_mine()
        return out

    @rpc
    def close_campaign(self, campaign_id: str) -> dict:
        """Close member voting, recount and shuffle the ballots (:func:`.polls.close`; campaign admins).
        Idempotent once closed; called again after an interrupted close, it finishes it. Out:
        :class:`CampaignOut`. Errors: Forbidden, NotFound, Conflict (not open), ServiceUnavailable."""
        out = camp.close_campaign(self.ports, self.identity.actor, campaign_id)
        self.relay_mine()
        return out

    @rpc
    def set_unit_score(self, campaign_id: str, union_id: str, data: dict) -> dict:
        """The unit score (单位评家, 0-100) of one Worker Home, by that union's own admin only.

        In: :class:`ScoreIn` ``{"score"}``. Errors: BadInput, NotFound, Forbidden (another union's home,
        even for admins above it), Conflict (results published)."""
        data = c.ScoreIn().load(data)
        return camp.set_unit_score(self.ports, self.identity.actor, campaign_id, union_id, data)

    @rpc
    def set_superior_scores(self, campaign_id: str, data: dict) -> dict:
        """Superior scores (上级评家, 0-100) for homes of the campaign, by its superior admins.

        In: :class:`SuperiorScoresIn` ``{"scores": {union_id: score}}``; all checked before any is
        stored. Errors: BadInput, Forbidden, Conflict (published)."""
        data = c.SuperiorScoresIn().load(data)
        return camp.set_superior_scores(self.ports, self.identity.actor, campaign_id, data)

    @rpc
    def cast_rating(self, campaign_id: str, data: dict) -> dict:
        """A member rates their own union's Worker Home: 1-5 whole stars on every criterion and an
        optional opinion (≤ 2,000 characters). One ballot per member per campaign, stored secretly.

        In: :class:`RatingIn` ``{"stars": {"c1": 1-5, …}, "opinion", "home"}``. Out: ``{"poll_id",
        "campaign_id", "home", "receipt"}``. Errors: BadInput (stars 0, 6, 2.5, "five", a missing or
        unknown criterion, opinion too long), NotFound, Forbidden (not a member of a participating union,
        or another union's home), Conflict (outside the window; already voted: 您已投票, with
        ``details.reason`` = ``already_voted``)."""
        data = c.RatingIn().load(data)
        return camp.cast_rating(self.ports, self.identity.actor, campaign_id, data)

    @rpc
    def cast_ratings(self, items: list) -> list[dict]:
        """Group commit of rating ballots (issue 17): the gateway gathers the ballots that arrive within
        a few milliseconds (``services.gateway.ballots``) and sends them in one call; each is checked and
        answered as :meth:`cast_rating` would, and the batch is stored with one ``insert_many`` and its
        sums per Worker Home in its own marker, folded later (:func:`.polls.cast_many`).

        In: at most :data:`BATCH_MAX` items ``{"token": the member's token, "campaign_id", "data":
        RatingIn}`` (each item is authorised by its own token, not by the caller's). Out: per item, in
        order, ``{"ok": {"poll_id", "campaign_id", "home", "receipt"}}`` or ``{"error": {"error",
        "message", "fields", "details"}}`` (:meth:`dmlib.errors.ServiceError.to_dict`; 401 bad token,
        400, 403, 404, 409 as :meth:`cast_rating`). Errors of the whole call: BadInput (not a list of
        such items, more than :data:`BATCH_MAX`)."""
        if len(items) > BATCH_MAX or not all(
            isinstance(i, dict) and isinstance(i.get("campaign_id"), str) and isinstance(i.get("data"), dict)
            for i in items
        ):
            raise BadInput(
                f"items: at most {BATCH_MAX} of {{token, campaign_id, data}} / 批量投票格式有误",
                fields={"items": ["invalid"]},
            )
        casts, outcomes = [], [None] * len(items)
        for n, item in enumerate(items):
            try:
                actor = self.identity.verify(item.get("token"))
                casts.append((n, (actor, item["campaign_id"], c.RatingIn().load(item["data"]))))
            except ValidationError as exc:
                outcomes[n] = invalid(exc)
            except ServiceError as exc:
                outcomes[n] = exc
        results = camp.cast_ratings(self.ports, [cast for _, cast in casts])
        for (n, _), result in zip(casts, results, strict=True):
            outcomes[n] = result
        return [{"error": o.to_dict()} if isinstance(o, ServiceError) else {"ok": o} for o in outcomes]

    @rpc
    def get_campaign(self, campaign_id: str) -> dict:
        """A campaign with live participation per home (:class:`CampaignOut`) and, for a member, ``me``:
        ``{"home", "has_voted", "receipt"}``. Members of participating unions and admins."""
        return camp.get_campaign(self.ports, self.identity.actor, campaign_id)

    @rpc
    def list_campaigns(self) -> list[dict]:
        """The campaigns the caller takes part in or runs, newest first (:class:`CampaignOut` without
        per-home rows)."""
        return camp.list_campaigns(self.ports, self.identity.actor)

    @rpc
    def needs_of(self) -> dict:
        """What needs the caller among evaluation campaigns, for their "what needs me" home (issue 16):
        open campaigns of their Worker Home they have not voted in (``campaign_open``, ``due_at`` the
        closing time), open choice polls (congress votes) they are a voter of and have not voted in
        (``choice_vote``, ``scope`` the owner's reference); for the campaign's admins, ``evaluation_ballots`` per Worker Home (ballots of
        eligible). Read-only. Out: :class:`dmlib.contracts.needs.NeedsOut`."""
        return needs("voting", **camp.needs_of(self.ports, self.identity.actor))

    @rpc
    def campaign_results(self, campaign_id: str, as_json: bool = False) -> dict | str:
        """Results per home: member, unit, superior score, total, star level, participation, opinions,
        ranked under the campaign's rules (:mod:`.campaigns`): homes flagged ``no_member_ballots`` or
        ``low_participation`` have star level 0 and ``rank`` null, after the ranked ones. Campaign admins
        see them live at any time (``live: true``, from the live tally); everyone who takes part sees them
        once published (the stored table). Out: :class:`ResultsOut`; with ``as_json`` the same already
        serialised as JSON text, so that the gateway can pass a 1,000-home table through without decoding
        and re-encoding it (a third of the live-results time)."""
        return camp.campaign_results(self.ports, self.identity.actor, campaign_id, as_json)

    @rpc
    def publish_results(self, campaign_id: str) -> dict:
        """Publish a closed campaign's results (campaign admins): needs every unit and superior score and
        a recount equal to the live tally. Stores the table and commits ``results_published`` with it;
        each home's star level is then set in the member registry, at once and, after a crash or an
        outage of members, by the follow-up timer until done (:mod:`.campaigns`). Out:
        :class:`ResultsOut`. Errors: Conflict (not closed, scores missing, recount alarm), Forbidden.
        Idempotent once published (and a repeat also resumes the star levels)."""
        actor = self.identity.actor
        camp.publish_results(self.ports, actor, campaign_id)
        self.relay_mine()
        out = camp.campaign_results(self.ports, actor, campaign_id)
        self._star_levels(campaign_id)
        return out

    def _star_levels(self, campaign_id: str) -> None:
        """The immediate attempt at a publication's follow-up; what fails is left to the timer."""
        self.identity.act_as_service()
        try:
            camp.apply_star_levels(self.ports, campaign_id, self.members_rpc)
        except Exception as exc:  # members or the database away: resume_follow_ups finishes it
            log.warning("star levels of campaign %s left to the follow-up timer: %s", campaign_id, exc)

    @timer(interval=FOLD_INTERVAL_S)
    def fold_tallies(self) -> None:
        """Add the settled batches of every rating poll to its folded tally (:func:`.polls.fold`: exactly
        once, whatever the number of voting instances folding at the same time)."""
        polls.fold_all(self.ports)

    @timer(interval=FOLLOW_UP_INTERVAL_S)
    def resume_follow_ups(self) -> None:
        """Finish the star levels of publications that a crash or an outage interrupted."""
        self.identity.act_as_service()
        camp.resume_follow_ups(self.ports, self.members_rpc)

    @rpc
    def campaign_opinions(
        self, campaign_id: str, home: str | None = None, page: int = 1, per_page: int = 50
    ) -> dict:
        """Anonymous opinions (征求意见) of a campaign: campaign admins (all homes or ``home``), or a union
        admin for their own home. Out: :class:`OpinionPageOut` (text, home, day; never who wrote it). The
        day is there while voting is open only: the close removes it with the casting order (ballot
        secrecy at rest, docs/storage.md), so ``cast_at`` is then empty."""
        return camp.campaign_opinions(self.ports, self.identity.actor, campaign_id, home, page, per_page)

    @rpc
    def load_ratings(self, campaign_id: str, ballots: list[dict]) -> dict:
        """Bulk loading of rating ballots for the demo and benchmarks (system only, campaign open).

        ``ballots`` = ``[{"member_id", "home", "stars": [1-5 …], "opinion"}]``, every one checked before
        any is written; stored exactly as cast ballots are (secret ids, receipts, live tally). Out:
        ``{"loaded": n}``. Errors: BadInput, Forbidden, Conflict (not open, or a voter already voted)."""
        return camp.load_ratings(self.ports, self.identity.actor, campaign_id, ballots)
