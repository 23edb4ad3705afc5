"""Evaluation campaigns (星级职工之家评选): the campaign context built on the poll engine (:mod:`.polls`).
Its use cases, functions of ``(ports, actor, input[, members])`` that ask :mod:`.policy`, apply the
evaluation rules (:mod:`.evaluation`) and commit one guarded update of the campaign with its outbox
events; a new campaign's settings, the rules a stored campaign runs by, and its results table (pure
functions of the stored campaign document and the rating poll's counts).

A campaign document (collection ``campaigns``, ``_id`` = its rating poll's id) carries ``weights``,
``criteria``, ``thresholds`` and ``rules`` (``{min_participation, no_ballots, star_basis}``,
:class:`~.evaluation.CampaignRules`). Campaigns made before ``rules`` existed have none stored: they run by
the defaults, except a campaign already published without them, whose stored table was computed by
:data:`~.evaluation.LEGACY_RULES` (no floor, a home without ballots scored 0), which is what its page
then states.

Publication (:func:`publish_results`) commits, in one guarded write, the status ``published``, the
table, ``star_levels_due`` (``{union_id: 0-5}``, what the member registry must record) and the
``results_published`` event. Setting those star levels in the members service is follow-up work
(:func:`apply_star_levels`): tried right after the commit, and resumed from the ``followups``
collection by a timer (:func:`resume_follow_ups`) until every home's level is recorded
(``star_levels_set``, then ``star_levels_done_at``), so a crash or an outage of the members service
delays it and never loses it. Setting a star level is idempotent; progress is written every
:data:`STAR_LEVEL_BATCH` homes.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Protocol

from pymongo.errors import BulkWriteError, DuplicateKeyError

from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.contracts import voting as c
from dmlib.errors import BadInput, Conflict, NotFound, ServiceError
from dmlib.schemas import ID_RE, iso, page_out
from dmlib.state import event

from . import evaluation as ev
from . import policy, polls
from . import tally as t
from .polls import Ports

log = logging.getLogger(__name__)
#: Homes whose star level is set between two records of progress (a crash repeats at most these).
STAR_LEVEL_BATCH = 50
#: A follow-up marker whose campaign is still not published after this long belongs to a publication
#: that never committed (or was refused): dropped.
STALE_FOLLOW_UP = timedelta(hours=1)


class Members(Protocol):
    """The members service as the campaign context uses it (an RPC proxy, or a fake in unit tests)."""

    def get_union(self, union_id: str) -> dict: ...
    def list_unions(self, parent_id: str, kind: str) -> list[dict]: ...
    def count_members(self, union_ids: list[str]) -> dict: ...
    def set_star_level(self, union_id: str, star_level: int) -> dict: ...


def settings(data: dict) -> dict:
    """Weights, criteria, thresholds and rules of a new campaign from :class:`CampaignIn` data, the
    evaluation domain's defaults for what was left out; scores and floors rounded by :func:`ev.round2`."""
    weights = data.get("weights") or ev.WEIGHT_PRESETS[data.get("preset") or ev.DEFAULT_PRESET]
    given = {k: v for k, v in (data.get("rules") or {}).items() if v is not None}
    if "min_participation" in given:
        given["min_participation"] = ev.round2(given["min_participation"])
    return {
        "weights": dict(weights),
        "criteria": list(data.get("criteria") or ev.DEFAULT_CRITERIA),
        "thresholds": [ev.round2(x) for x in data.get("thresholds") or ev.DEFAULT_THRESHOLDS],
        "rules": ev.CampaignRules.from_doc(given).to_doc(),
    }


def rules_of(campaign: dict) -> ev.CampaignRules:
    """The rules the campaign runs by (defaults applied on read; see the module docstring)."""
    if "rules" not in campaign and campaign.get("status") == "published":
        return ev.LEGACY_RULES
    return ev.CampaignRules.from_doc(campaign.get("rules"))


def results_table(campaign: dict, counts: dict) -> list[ev.HomeResult]:
    """Every home's row under the campaign's weights, thresholds and rules, ranked (flagged homes last,
    without a place). ``counts`` are the rating poll's counts (live tally or recount)."""
    k = len(campaign["criteria"])
    rules = rules_of(campaign)
    results = []
    for h in campaign["homes"]:
        s = counts["s"].get(h["union_id"]) or t.subject_zero(k)
        tally = ev.HomeTally(
            ballots=s["n"],
            star_sums=tuple(s[f"c{i}"] for i in range(k)),
            star_counts=tuple(s[f"h{v}"] for v in range(1, 6)),
            opinions=s["op"],
        )
        results.append(
            ev.home_result(
                h["union_id"],
                tally,
                h["eligible"],
                campaign["unit_scores"].get(h["union_id"]),
                campaign["superior_scores"].get(h["union_id"]),
                campaign["weights"],
                campaign["thresholds"],
                rules,
            )
        )
    return ev.rank(results)


ROW_FIELDS = list(c.ResultRowOut().fields)
_OWN = [f for f in ROW_FIELDS if f in ev.HomeResult.__slots__]


def rows_out(campaign: dict, ranked: list[ev.HomeResult]) -> list[dict]:
    """The ranked rows in the shape of :class:`ResultRowOut`, built directly (a 1,000-home table is on
    the live-results path, where a schema dump per row costs more than the arithmetic)."""
    names = {h["union_id"]: h for h in campaign["homes"]}
    rows = []
    for r in ranked:
        row = {
            **{f: getattr(r, f) for f in _OWN},
            "name": names[r.union_id]["name"],
            "union_name": names[r.union_id]["union_name"],
            "criteria_means": list(r.criteria_means),
            "star_counts": list(r.star_counts),
            "flags": list(r.flags),
        }
        rows.append({k: row[k] for k in ROW_FIELDS})
    return rows


def stars_errors(stars: dict, criteria: int) -> tuple[list[int], dict]:
    """Checks ``{"c1": 1-5, …}`` against ``criteria`` marks (DESIGN.md §4: 1–5 stars on each criterion);
    (marks in order, field errors)."""
    errors: dict[str, list[str]] = {}
    marks: list[int] = []
    keys = [f"c{i + 1}" for i in range(criteria)]
    for key in keys:
        if key not in stars:
            errors[key] = ["missing: rate every criterion / 请为每一项打分"]
            continue
        v = stars[key]
        if isinstance(v, bool) or not isinstance(v, int):
            errors[key] = ["must be a whole number of stars 1-5 / 须为1-5的整数星"]
        elif not 1 <= v <= 5:
            errors[key] = ["must be 1-5 stars / 须为1至5星"]
        else:
            marks.append(v)
    for key in stars:
        if key not in keys:
            errors[key] = ["unknown criterion / 未知评价项目"]
    return marks, errors


# ===== use cases ==================================================================================
def audit(actor: Actor, action: str, campaign: dict, role: str | None = None, **kwargs) -> Audit | None:
    """:func:`dmlib.audit.by_person` for ``voting.<action>`` on ``campaign``, in the chain of the
    campaign's union; ``role="union_admin"`` for a home's own unit score."""
    return by_person(
        actor,
        f"voting.{action}",
        "campaign",
        campaign["_id"],
        campaign["union_id"],
        campaign["union_path"],
        role,
        **kwargs,
    )


def _published_conflict(current: dict) -> Conflict:
    return Conflict("results are published / 结果已公布，不能修改", details={"status": current.get("status")})


def _state_conflict(message: str):
    return lambda current: Conflict(message, details={"status": current.get("status")})


def campaign_of(p: Ports, campaign_id: str, cached: bool = False) -> dict:
    """The campaign (``cached``: an open one may come from the cache, read-only). NotFound."""
    load = p.store.get_campaign
    doc = p.cache.get("campaign", campaign_id, load) if cached else load(campaign_id)
    if doc is None:
        raise NotFound(f"no campaign {campaign_id} / 评选活动不存在", details={"campaign_id": campaign_id})
    return doc


def compared_recount(poll: dict | None) -> dict:
    """The poll's last recount if it compared anything, else {}: a ``busy`` recount (casts landing while
    it ran, :func:`.polls.recount_and_record`) says neither "equal" nor "differs", so pages show none."""
    recount = (poll or {}).get("recount") or {}
    return {} if recount.get("busy") else recount


def campaign_out(
    p: Ports,
    campaign: dict,
    actor: Actor,
    with_homes: bool = True,
    tally: dict | None = None,
    poll: dict | None = None,
) -> dict:
    """The campaign as :class:`CampaignOut` for ``actor`` (``tally`` and ``poll`` when already read):
    scores only for its admins and each home's own admin; ``me`` for a member."""
    if tally is None:
        tally = p.store.get_tally(campaign["_id"]) if campaign["status"] != "draft" else {}
    per = tally.get("s", {})
    is_admin = policy.is_campaign_admin(actor, campaign)
    homes = []
    for h in campaign["homes"] if with_homes else ():
        n = int(per.get(h["union_id"], {}).get("n", 0))
        sees_scores = is_admin or actor.has("union_admin", h["union_id"])
        homes.append(
            {
                **h,
                "voters": n,
                "participation": ev.participation(n, h["eligible"]),
                "unit_score": campaign["unit_scores"].get(h["union_id"]) if sees_scores else None,
                "superior_score": campaign["superior_scores"].get(h["union_id"]) if sees_scores else None,
            }
        )
    eligible = sum(h["eligible"] for h in campaign["homes"])
    ballots = int(tally.get("n", 0))
    if poll is None and campaign["status"] != "draft":
        poll = p.store.poll_header(campaign["_id"])
    out = c.CampaignOut().dump(
        {
            **campaign,
            "id": campaign["_id"],
            "criteria": [{"key": f"c{i + 1}", "name": n} for i, n in enumerate(campaign["criteria"])],
            "rules": rules_of(campaign).to_doc(),
            "opens_at": iso(campaign.get("opens_at")),
            "closes_at": iso(campaign.get("closes_at")),
            "poll_id": campaign["_id"],
            "eligible": eligible,
            "ballots": ballots,
            "opinions": sum(int(v.get("op", 0)) for v in per.values()),
            "participation": ev.participation(ballots, eligible),
            "homes": homes if with_homes else [],
            "alarm": bool(poll and poll.get("alarm")),
            "recount_matches": compared_recount(poll).get("matches"),
            "published_at": iso(campaign.get("published_at")),
        }
    )
    if not actor.is_system and actor.union_id:
        voted, receipt = (False, None)
        if poll is not None:
            voted, receipt = polls.voted(p, campaign["_id"], actor.member_id)
        mine = actor.union_id if actor.union_id in {h["union_id"] for h in campaign["homes"]} else None
        out["me"] = {"home": mine, "has_voted": voted, "receipt": receipt}
    out["is_admin"] = is_admin
    return out


def create_campaign(p: Ports, actor: Actor, data: dict, members: Members) -> dict:
    """A draft campaign from :class:`CampaignIn` data over the Worker Homes under ``union_id`` (superior
    admins of that union or above). Out: :class:`CampaignOut`. BadInput, NotFound, Forbidden, Conflict."""
    union = members.get_union(data["union_id"])
    policy.require_create_campaign(actor, union["path"])
    under = members.list_unions(data["union_id"], "grassroots")
    available = {u["id"]: u for u in under if u.get("worker_home")}
    if data["homes"] is None:
        chosen = sorted(available)
    else:
        unknown = [h for h in data["homes"] if h not in available]
        if unknown:
            raise BadInput(
                "not Worker Homes under this union / 不是本工会下属的职工之家",
                fields={"homes": [f"unknown: {', '.join(unknown)}"]},
            )
        chosen = sorted(set(data["homes"]))
    if not chosen:
        raise BadInput("no Worker Homes to evaluate / 没有可参评的职工之家", fields={"homes": ["empty"]})
    counts = members.count_members(chosen)
    campaign_id = data["id"] or f"ev{uuid.uuid4().hex[:12]}"
    homes = [
        {
            "union_id": h,
            "name": available[h]["worker_home"]["name"],
            "union_name": available[h]["name"],
            "eligible": int(counts.get(h, 0)),
        }
        for h in chosen
    ]
    doc = {
        "_id": campaign_id,
        "title": data["title"],
        "union_id": union["id"],
        "union_name": union["name"],
        "union_path": union["path"],
        "year": data["year"],
        "status": "draft",
        **settings(data),
        "opens_at": data["opens_at"],
        "closes_at": data["closes_at"],
        "homes": homes,
        "unit_scores": {},
        "superior_scores": {},
        "created_by": actor.member_id,
        "created_at": p.clock(),
    }
    try:
        doc = p.store.create(
            "campaigns",
            doc,
            audit=audit(
                actor, "campaign_created", doc, fields=("title", "year", "status", "weights", "homes")
            ),
        )
    except DuplicateKeyError:
        raise Conflict(
            f"campaign id {campaign_id} is taken / 评选编号已存在", fields={"id": ["taken"]}
        ) from None
    return campaign_out(p, doc, actor)


def open_campaign(p: Ports, actor: Actor, campaign_id: str, members: Members) -> dict:
    """Open member voting (campaign admins): the rating poll first (one ballot per member, each rating
    their own union's Worker Home; eligible = current member counts), then the campaign ``draft`` →
    ``open`` with ``poll_opened``, the commit point (a retry after a crash between finds the poll made).
    Conflict (not a draft)."""
    campaign = campaign_of(p, campaign_id)
    policy.require_campaign_admin(actor, campaign)
    if campaign["status"] != "draft":
        raise Conflict(
            "the campaign is not a draft / 评选活动已开始",
            details={"status": campaign["status"]},
            reason="campaign_not_draft",
        )
    ids = [h["union_id"] for h in campaign["homes"]]
    counts = members.count_members(ids)
    homes = [{**h, "eligible": int(counts.get(h["union_id"], h["eligible"]))} for h in campaign["homes"]]
    poll = {
        "_id": campaign_id,
        "kind": "rating",
        "status": "open",
        "title": campaign["title"],
        "subjects": [{"id": h["union_id"], "name": h["name"]} for h in homes],
        "criteria": len(campaign["criteria"]),
        "secret": True,
        "owner": "evaluations",
        "ref": campaign_id,
        "eligible": sum(h["eligible"] for h in homes),
        "opens_at": campaign.get("opens_at"),
        "closes_at": campaign.get("closes_at"),
        "alarm": False,
        "counted_at_close": False,
        "created_at": p.clock(),
    }
    try:
        p.store.create_poll(poll, *t.rating_zero(ids, len(campaign["criteria"])))
    except DuplicateKeyError:
        pass  # opened again after an interrupted open: the poll exists
    opened = p.store.change(
        "campaigns",
        campaign_id,
        expect={"status": "draft"},
        set={"status": "open", "homes": homes, "opened_at": p.clock()},
        events=[
            event("poll_opened", poll_id=campaign_id, kind="rating", owner="evaluations", ref=campaign_id)
        ],
        conflict=_state_conflict("the campaign is not a draft / 评选活动已开始"),
        audit=audit(actor, "campaign_opened", campaign, fields=("status",)),
    )
    return campaign_out(p, opened, actor)


def close_campaign(p: Ports, actor: Actor, campaign_id: str) -> dict:
    """Close member voting (campaign admins): close the rating poll (:func:`polls.close`: recount,
    ``poll_closed``, shuffle), then the campaign ``open`` → ``closed``. Idempotent once closed; called
    again after an interrupted close, it finishes it. Conflict (not open)."""
    campaign = campaign_of(p, campaign_id)
    policy.require_campaign_admin(actor, campaign)
    if campaign["status"] in ("closed", "published"):
        return campaign_out(p, campaign, actor)
    if campaign["status"] != "open":
        raise Conflict(
            "the campaign is not open / 评选活动未开始",
            details={"status": campaign["status"]},
            reason="campaign_not_open",
        )
    polls.close(p, polls.poll_of(p, campaign_id))
    try:
        campaign = p.store.change(
            "campaigns",
            campaign_id,
            expect={"status": "open"},
            set={"status": "closed", "closed_at": p.clock()},
            audit=audit(actor, "campaign_closed", campaign, fields=("status",)),
        )
    except Conflict:  # closed by another call meanwhile
        campaign = campaign_of(p, campaign_id)
    p.cache.forget("campaign", campaign_id)
    return campaign_out(p, campaign, actor)


def cast_rating(p: Ports, actor: Actor, campaign_id: str, data: dict) -> dict:
    """``actor`` rates their own union's Worker Home (:class:`RatingIn` data). Out: ``{"poll_id",
    "campaign_id", "home", "receipt"}``. BadInput, NotFound, Forbidden, Conflict (window; already voted,
    ``details.reason`` = ``already_voted``). :func:`cast_ratings` with one."""
    [outcome] = cast_ratings(p, [(actor, campaign_id, data)])
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def _checked_rating(p: Ports, actor: Actor, campaign_id: str, data: dict) -> tuple:
    """One rating ballot checked as :func:`cast_ratings` needs it: ``(member_id, ballot, $inc, home)``.
    Cached reads only (the ballot path). BadInput, NotFound, Forbidden, Conflict (window)."""
    campaign = campaign_of(p, campaign_id, cached=True)
    marks, errors = stars_errors(data["stars"], len(campaign["criteria"]))
    if errors:
        raise BadInput("rate every criterion with 1-5 stars / 请为每一项打1-5星", fields={"stars": errors})
    home = actor.union_id
    policy.require_rate_home(actor, (h["union_id"] for h in campaign["homes"]), data["home"])
    if campaign["status"] != "open":
        raise Conflict(
            "voting is not open / 评选投票未开放或已结束",
            details={"status": campaign["status"]},
            reason="campaign_not_open",
        )
    polls.check_window(p, polls.poll_of(p, campaign_id, cached=True))
    opinion = (data["opinion"] or "").strip() or None
    ballot = {"subject": home, "stars": marks, "opinion": opinion}
    return actor.member_id, ballot, t.rating_inc(marks, opinion is not None), home


def cast_ratings(p: Ports, casts: list[tuple[Actor, str, dict]]) -> list[dict | ServiceError]:
    """Group commit of rating ballots (issue 17): ``casts`` are ``(actor, campaign_id, RatingIn data)``,
    each checked as :func:`cast_rating` checks one, then one :func:`polls.cast_many` per campaign.
    Returns per cast, in order, ``{"poll_id", "campaign_id", "home", "receipt"}`` or its typed error."""
    outcomes: list[dict | ServiceError | None] = [None] * len(casts)
    per_poll: dict[str, list[tuple[int, tuple]]] = {}
    for i, (actor, campaign_id, data) in enumerate(casts):
        try:
            checked = _checked_rating(p, actor, campaign_id, data)
        except ServiceError as exc:
            outcomes[i] = exc
            continue
        per_poll.setdefault(campaign_id, []).append((i, checked))
    for campaign_id, entries in per_poll.items():
        results = polls.cast_many(p, campaign_id, [entry for _, entry in entries])
        for (i, entry), result in zip(entries, results, strict=True):
            outcomes[i] = (
                result
                if isinstance(result, ServiceError)
                else {"poll_id": campaign_id, "campaign_id": campaign_id, "home": entry[3], "receipt": result}
            )
    return outcomes


def get_campaign(p: Ports, actor: Actor, campaign_id: str) -> dict:
    """A campaign with live participation per home (who sees the campaign)."""
    campaign = campaign_of(p, campaign_id)
    policy.require_sees_campaign(actor, campaign)
    return campaign_out(p, campaign, actor)


def list_campaigns(p: Ports, actor: Actor) -> list[dict]:
    """The campaigns ``actor`` takes part in or runs, newest first, without per-home rows."""
    docs = [d for d in p.store.all_campaigns() if policy.sees_campaign(actor, d)]
    docs.sort(key=lambda d: (d.get("year") or 0, d["created_at"]), reverse=True)
    return [campaign_out(p, d, actor, with_homes=False) for d in docs]


def needs_of(p: Ports, actor: Actor) -> dict:
    """What needs the caller among evaluation campaigns (issue 16, :mod:`dmlib.contracts.needs`), of the
    open campaigns (by :func:`policy.needs_parts`):

    - items ``campaign_open``: a campaign their Worker Home takes part in and they have not voted in
      (``due_at`` its closing time, ``at`` its opening; one ballot lookup each);
    - items ``choice_vote``: an open choice poll (a congress resolution's vote) the caller is a voter of
      and has not voted in (``scope`` the owner's reference: the agenda item);
    - queues, for the campaign's admins, one row per Worker Home: ``evaluation_ballots`` (``count``
      ballots of ``of`` eligible members, ``due_at`` the closing time; the overview's evaluation status).
    Cost: a scan of the campaigns (a handful a year) and one tally read per open campaign."""
    items: list[dict] = []
    queues: list[dict] = []
    for campaign in p.store.all_campaigns():
        if campaign["status"] != "open":
            continue
        voter, admin = policy.needs_parts(actor, campaign)
        if voter and not polls.voted(p, campaign["_id"], actor.member_id)[0]:
            items.append(
                {
                    "kind": "campaign_open",
                    "id": campaign["_id"],
                    "title": campaign["title"],
                    "union_id": actor.union_id,
                    "due_at": campaign.get("closes_at"),
                    "at": campaign.get("opened_at") or campaign.get("opens_at"),
                }
            )
        if admin:
            per = p.store.get_tally(campaign["_id"]).get("s", {})
            queues.extend(
                {
                    "kind": "evaluation_ballots",
                    "scope": h["union_id"],
                    "scope_name": h.get("union_name", ""),
                    "union_id": h["union_id"],
                    "count": int(per.get(h["union_id"], {}).get("n", 0)),
                    "of": h["eligible"],
                    "due_at": campaign.get("closes_at"),
                }
                for h in campaign["homes"]
            )
    for poll in p.store.open_choice_polls():
        if policy.needs_vote(actor, p.store.is_voter(poll["_id"], actor.member_id)):
            if not polls.voted(p, poll["_id"], actor.member_id)[0]:
                items.append(
                    {
                        "kind": "choice_vote",
                        "id": poll["_id"],
                        "title": poll["title"],
                        "union_id": poll.get("union_id"),
                        "scope": poll.get("ref"),
                        "due_at": poll.get("closes_at"),
                        "at": poll.get("created_at"),
                    }
                )
    return {"items": items, "queues": queues}


def campaign_results(p: Ports, actor: Actor, campaign_id: str, as_json: bool = False) -> dict | str:
    """Results per home (:class:`ResultsOut`): live for the campaign's admins, the stored table for
    everyone who takes part once published; ``as_json``: already serialised."""
    campaign = campaign_of(p, campaign_id, cached=True)
    policy.require_sees_campaign(actor, campaign)
    if campaign["status"] != "published":
        policy.require_live_results(actor, campaign)
    poll = polls.poll_of(p, campaign_id, cached=True) if campaign["status"] != "draft" else None
    tally = p.store.get_tally(campaign_id) if poll else {}
    if campaign["status"] == "published":
        rows = campaign["results"]["rows"]
        distribution = campaign["results"]["star_distribution"]
        live = False
    else:
        counts = polls.counts_of(poll, tally) if poll else {"n": 0, "s": {}}
        ranked = results_table(campaign, counts)
        rows, distribution, live = rows_out(campaign, ranked), ev.star_distribution(ranked), True
    recount = compared_recount(poll) or None
    out = c.ResultsOut().dump(
        {
            "campaign": campaign_out(p, campaign, actor, with_homes=False, tally=tally, poll=poll),
            "live": live,
            "rows": [],
            "star_distribution": distribution,
            "recount": {"at": iso(recount["at"]), "matches": recount["matches"]} if recount else None,
        }
    )
    out["rows"] = rows  # already in ResultRowOut's shape (see rows_out)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")) if as_json else out


def publish_results(p: Ports, actor: Actor, campaign_id: str) -> bool:
    """Publish a closed campaign's results (campaign admins): needs every unit and superior score and a
    recount equal to the live tally. Commits in one guarded write (``closed`` → ``published``) the
    table, its rules, ``star_levels_due`` and ``results_published``; a follow-up marker is written just
    before (see the module docstring). Returns True when this call published, False when the campaign
    already was (idempotent). Conflict (not closed, scores missing, recount alarm), Forbidden."""
    campaign = campaign_of(p, campaign_id)
    policy.require_campaign_admin(actor, campaign)
    if campaign["status"] == "published":
        return False
    if campaign["status"] != "closed":
        raise Conflict(
            "close the campaign first / 请先结束评选投票",
            details={"status": campaign["status"]},
            reason="close_first",
        )
    ids = [h["union_id"] for h in campaign["homes"]]
    missing = {
        "unit_scores": [u for u in ids if u not in campaign["unit_scores"]],
        "superior_scores": [u for u in ids if u not in campaign["superior_scores"]],
    }
    if missing["unit_scores"] or missing["superior_scores"]:
        raise Conflict(
            "scores are missing / 尚有单位评分或上级评分未录入",
            details={k: v for k, v in missing.items() if v},
            reason="scores_missing",
        )
    record = polls.recount_and_record(p, polls.poll_of(p, campaign_id))
    if not record["matches"]:
        raise Conflict(
            "the recount differs from the live tally: alarm raised / 复核计票与实时计票不一致，已告警"
        )
    ranked = results_table(campaign, record["recounted"])
    levels = {r.union_id: r.star_level for r in ranked}
    marker = p.store.add_follow_up(campaign_id, p.clock())
    try:
        p.store.change(
            "campaigns",
            campaign_id,
            expect={"status": "closed"},
            set={
                "status": "published",
                "results": {
                    "rows": rows_out(campaign, ranked),
                    "star_distribution": ev.star_distribution(ranked),
                },
                "published_at": p.clock(),
                "rules": rules_of(campaign).to_doc(),  # the rules of the stored table, for good
                "star_levels_due": levels,
                "star_levels_set": {},
            },
            events=[
                event(
                    "results_published",
                    campaign_id=campaign_id,
                    union_id=campaign["union_id"],
                    homes=len(ranked),
                    ballots=record["recounted"]["n"],
                    star_levels=levels,
                )
            ],
            audit=audit(
                actor,
                "results_published",
                campaign,
                fields=("status",),
                note={"homes": len(ranked), "ballots": record["recounted"]["n"]},
            ),
        )
    except Conflict:  # published (or changed) by another call first: its own marker stands
        p.store.drop_follow_up(marker)
        if campaign_of(p, campaign_id)["status"] == "published":
            return False
        raise
    return True


def apply_star_levels(p: Ports, campaign_id: str, members: Members) -> bool:
    """The follow-up of a publication: record each home's star level in the member registry (as the
    service: the caller acts as it), :data:`STAR_LEVEL_BATCH` homes between two records of progress
    (``star_levels_set``), then ``star_levels_done_at``. Idempotent; a failure (members down: an error
    from ``members``) leaves the rest for the next attempt. Returns True when nothing is left to do
    (also for a campaign published before this follow-up existed), False when it is not published."""
    campaign = p.store.get_campaign(campaign_id)
    if campaign is None or campaign["status"] != "published":
        return False
    due = campaign.get("star_levels_due") or {}
    done = campaign.get("star_levels_set") or {}
    todo = sorted(u for u, level in due.items() if done.get(u) != level)
    for i in range(0, len(todo), STAR_LEVEL_BATCH):
        batch = todo[i : i + STAR_LEVEL_BATCH]
        for union_id in batch:
            members.set_star_level(union_id, due[union_id])
        p.store.change("campaigns", campaign_id, set={f"star_levels_set.{u}": due[u] for u in batch})
    if due and not campaign.get("star_levels_done_at"):
        p.store.change("campaigns", campaign_id, set={"star_levels_done_at": p.clock()})
    return True


def resume_follow_ups(p: Ports, members: Members) -> int:
    """The timer's pass over the ``followups`` markers: finish each published campaign's star levels
    (:func:`apply_star_levels`) and drop its marker; drop a marker whose campaign is still unpublished
    after :data:`STALE_FOLLOW_UP` (a publication that never committed). A failure is logged and leaves
    the marker for the next pass. Returns how many markers were finished."""
    finished = 0
    try:
        markers = p.store.follow_ups()
    except Exception as exc:  # the database away: the next pass resumes
        log.warning("follow-ups not read: %s", exc)
        return 0
    for marker in markers:
        try:
            if apply_star_levels(p, marker["campaign_id"], members):
                p.store.drop_follow_up(marker["_id"])
                finished += 1
            elif p.clock() - polls.aware(marker["at"]) > STALE_FOLLOW_UP:
                p.store.drop_follow_up(marker["_id"])
        except Exception as exc:  # members or the database away: the next pass resumes
            log.warning("star levels of campaign %s still pending: %s", marker["campaign_id"], exc)
    return finished


def campaign_opinions(
    p: Ports, actor: Actor, campaign_id: str, home: str | None, page: int, per_page: int
) -> dict:
    """Anonymous opinions of a campaign (campaign admins: all homes or ``home``; a union admin: their
    own home). Out: :class:`OpinionPageOut`. BadInput, NotFound, Forbidden."""
    campaign = campaign_of(p, campaign_id)
    if home is not None and (not isinstance(home, str) or not ID_RE.match(home)):
        raise BadInput("not a home id / 无效的编号", fields={"home": ["not an id"]})
    policy.require_opinions(actor, campaign, home)
    if not isinstance(page, int) or page < 1 or not isinstance(per_page, int) or not 1 <= per_page <= 500:
        raise BadInput("page ≥ 1, per_page 1-500 / 分页参数有误", fields={"page": ["≥ 1"]})
    docs = [] if campaign["status"] == "draft" else p.store.opinions(campaign_id, home)
    items = [
        {"home": d["subject"], "text": d["opinion"], "cast_at": d.get("day", "")}
        for d in docs[(page - 1) * per_page : page * per_page]
    ]
    return page_out(items, len(docs), page, per_page)


def load_ratings(p: Ports, actor: Actor, campaign_id: str, ballots: list[dict]) -> dict:
    """Bulk loading of rating ballots (system only, campaign open), every one checked before any is
    written, stored as cast ballots are. Out: ``{"loaded": n}``. BadInput, Forbidden, Conflict."""
    policy.require_system(actor)
    campaign = campaign_of(p, campaign_id)
    if campaign["status"] != "open":
        raise Conflict("voting is not open / 评选投票未开放")
    if not isinstance(ballots, list) or len(ballots) > 20000:
        raise BadInput("ballots: a list of at most 20,000 / 至多20000张", fields={"ballots": ["too many"]})
    homes = {h["union_id"] for h in campaign["homes"]}
    k = len(campaign["criteria"])
    docs, seen = [], set()
    incs: dict[str, list[dict]] = {}
    day = p.clock().strftime("%Y-%m-%d")
    for i, b in enumerate(ballots):
        stars = b.get("stars") if isinstance(b, dict) else None
        ok = (
            isinstance(stars, list)
            and len(stars) == k
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in stars)
            and b.get("home") in homes
            and isinstance(b.get("member_id"), str)
            and (
                b.get("opinion") is None
                or (isinstance(b["opinion"], str) and len(b["opinion"]) <= c.OPINION_MAX)
            )
        )
        if not ok:
            raise BadInput(
                f"ballot {i} is invalid / 第{i}张选票有误", fields={"ballots": {str(i): ["invalid"]}}
            )
        bid = p.keys.ballot_id(campaign_id, b["member_id"])
        if bid in seen:
            raise BadInput(
                f"ballot {i}: same voter twice / 重复投票人", fields={"ballots": {str(i): ["duplicate"]}}
            )
        seen.add(bid)
        opinion = (b.get("opinion") or "").strip() or None
        docs.append(
            {
                "_id": bid,
                "receipt": p.keys.receipt(bid),
                "day": day,
                "subject": b["home"],
                "stars": stars,
                "opinion": opinion,
            }
        )
        incs.setdefault(b["home"], []).append(t.rating_inc(stars, opinion is not None))
    try:
        p.store.bulk_ballots(campaign_id, docs, {h: t.merge_inc(i) for h, i in incs.items()})
    except BulkWriteError:
        raise Conflict("a voter had already voted: nothing loaded / 有投票人已投票，未载入") from None
    return {"loaded": len(docs)}


def set_unit_score(p: Ports, actor: Actor, campaign_id: str, union_id: str, data: dict) -> dict:
    """The unit score (单位评家, 0-100, half-up to 2 places) of one Worker Home, by that union's own admin
    only. NotFound (campaign, home not in it), Forbidden, Conflict (published)."""
    policy.require_unit_score(actor, union_id)  # decided on the home alone, before the campaign is read
    campaign = campaign_of(p, campaign_id)
    if union_id not in {h["union_id"] for h in campaign["homes"]}:
        raise NotFound("this Worker Home is not in the campaign / 该职工之家未参评")
    record = audit(actor, "unit_score_set", campaign, role="union_admin", note={"home": union_id})
    return _set_scores(p, actor, campaign_id, "unit_scores", {union_id: data["score"]}, record)


def set_superior_scores(p: Ports, actor: Actor, campaign_id: str, data: dict) -> dict:
    """Superior scores (上级评家, 0-100) for homes of the campaign, by its admins; all checked before
    any is stored. BadInput (not a home of it), Forbidden, Conflict (published)."""
    campaign = campaign_of(p, campaign_id)
    policy.require_campaign_admin(actor, campaign)
    unknown = sorted(set(data["scores"]) - {h["union_id"] for h in campaign["homes"]})
    if unknown:
        raise BadInput(
            "not Worker Homes of this campaign / 非本次参评的职工之家",
            fields={"scores": {u: ["not in this campaign"] for u in unknown}},
        )
    record = audit(actor, "superior_scores_set", campaign)
    return _set_scores(p, actor, campaign_id, "superior_scores", data["scores"], record)


def _set_scores(
    p: Ports, actor: Actor, campaign_id: str, field: str, scores: dict, record: Audit | None
) -> dict:
    """One guarded write of score entries (half-up: 88.125 → 88.13) unless the results are published.
    A repeat that changes no score (a person sending the same form again after a timeout) writes
    nothing, so it leaves no second audit entry."""
    rounded = {home: ev.round2(score) for home, score in scores.items()}
    current = p.store.get_campaign(campaign_id)
    if (
        current is not None
        and current["status"] in ("draft", "open", "closed")
        and all((current.get(field) or {}).get(home) == value for home, value in rounded.items())
    ):
        return campaign_out(p, current, actor)
    updated = p.store.change(
        "campaigns",
        campaign_id,
        expect={"status": {"$in": ["draft", "open", "closed"]}},
        set={f"{field}.{home}": value for home, value in rounded.items()},
        conflict=_published_conflict,
        audit=record,
    )
    p.cache.forget("campaign", campaign_id)
    return campaign_out(p, updated, actor)
