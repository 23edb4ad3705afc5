"""The voting service: choice polls (congress resolutions), rating polls, ballots, live tallies, recounts,
and the Worker Home evaluation campaigns (星级职工之家评选) built on rating polls.

Secrecy (DESIGN.md §6): a ballot is stored under HMAC(VOTING_KEY, "poll:member"); one ``insert_one``
both enforces one ballot per voter (a second → Conflict 409) and keeps the member id out of the ballot.
The voter's receipt is derived from the ballot id; the published list shows receipts and contents.

Tallies: the live tally is ``$inc``-ed right after each ballot insert; closing a poll recounts every
ballot, records both, and raises an alarm (log, ``alarm`` flag on the poll, ``recount_mismatched``
event) when they differ: the live tally is never overwritten.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import eventlet
from cachetools import TTLCache
from nameko.extensions import DependencyProvider
from pymongo.errors import BulkWriteError, DuplicateKeyError

from dmlib.auth import Actor, Identity
from dmlib.contracts import voting as c
from dmlib.errors import BadInput, Conflict, NotFound
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.schemas import ID_RE, iso, page_out
from dmlib.secrets import require_secret
from dmlib.storage import Mongo

from . import campaigns as camp
from . import evaluation as ev
from . import policy
from . import tally as t
from .store import VotingStore, now

log = logging.getLogger(__name__)
ALREADY_VOTED = "already voted / 您已投票"
RECOUNT_SETTLE_S = 0.5


class BallotKeys(DependencyProvider):
    """The ballot key (config ``VOTING_KEY``, ≥ 16 characters, checked by :mod:`dmlib.secrets`): ballot
    ids and receipt codes."""

    def setup(self):
        self.key = require_secret(self.container.config, "VOTING_KEY", 16).encode()

    def get_dependency(self, worker_ctx):
        return self

    def ballot_id(self, poll_id: str, member_id: str) -> str:
        return t.ballot_id(self.key, poll_id, member_id)

    def receipt(self, ballot: str) -> str:
        return t.receipt_code(self.key, ballot)


class OpenDocCache:
    """Open campaigns and polls as last read, for the ballot hot path (cachetools ``TTLCache``).

    Only documents whose ``status`` is ``open`` are kept, for ``ttl`` seconds. A stale "open" is safe:
    the live tally's own ``open`` guard refuses, and removes, a ballot that arrives after the close
    (:meth:`VotingStore.count_ballot`), so a close still takes effect at once; a poll or campaign that
    is not open is read afresh every time. Saves two FerretDB reads per ballot (docs/benchmarks.md)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._docs: TTLCache = TTLCache(maxsize=1024, ttl=ttl)

    def get(self, kind: str, doc_id: str, load: Callable[[str], dict | None]) -> dict | None:
        """The ``kind`` document ``doc_id`` from the cache or from ``load(doc_id)``. Read-only: callers
        must not change it."""
        if self.ttl <= 0:
            return load(doc_id)
        doc = self._docs.get((kind, doc_id))
        if doc is None:
            doc = load(doc_id)
            if doc is not None and doc.get("status") == "open":
                self._docs[(kind, doc_id)] = doc
        return doc

    def forget(self, kind: str, doc_id: str) -> None:
        """Drop a document this process has just changed (other processes see it within ``ttl``)."""
        self._docs.pop((kind, doc_id), None)


class OpenDocs(DependencyProvider):
    """One :class:`OpenDocCache` per service process; config ``VOTING_CACHE_S`` (seconds, default 1;
    0 turns it off)."""

    def setup(self):
        self.cache = OpenDocCache(float(self.container.config.get("VOTING_CACHE_S", 1.0)))

    def get_dependency(self, worker_ctx):
        return self.cache


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def stars_errors(stars: dict, criteria: int) -> tuple[list[int], dict]:
    """Checks ``{"c1": 1-5, …}`` against ``criteria`` marks; (marks in order, field errors)."""
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


class VotingService(HealthRpc):
    name = "voting"

    store: VotingStore = Mongo(VotingStore)
    identity = Identity()
    keys = BallotKeys()
    open_docs = OpenDocs()
    events = Events()
    members_rpc = Rpc("members")

    # ===== helpers ==================================================================================
    def _poll(self, poll_id: str, with_voters: bool = False, cached: bool = False) -> dict:
        """The poll (``with_voters``: with its voter list; ``cached``: an open poll may come from
        :class:`OpenDocCache`, read-only). NotFound if there is none."""
        if cached:
            poll = self.open_docs.get("poll", poll_id, self.store.poll_header)
        else:
            poll = self.store.get_poll(poll_id) if with_voters else self.store.poll_header(poll_id)
        if poll is None:
            raise NotFound(f"no poll {poll_id} / 投票不存在", details={"poll_id": poll_id})
        return poll

    def _voted(self, poll_id: str, member_id: str) -> tuple[bool, str | None]:
        bid = self.keys.ballot_id(poll_id, member_id)
        ballot = self.store.get_ballot(poll_id, bid)
        return (True, ballot["receipt"]) if ballot else (False, None)

    def _check_window(self, poll: dict) -> None:
        if poll["status"] != "open":
            raise Conflict(
                "voting is not open / 投票未开放或已结束",
                details={"poll_id": poll["_id"], "status": poll["status"]},
            )
        at = now()
        opens, closes = aware(poll.get("opens_at")), aware(poll.get("closes_at"))
        if opens and at < opens:
            raise Conflict("voting has not started yet / 投票尚未开始", details={"opens_at": iso(opens)})
        if closes and at >= closes:
            raise Conflict("voting has ended / 投票已截止", details={"closes_at": iso(closes)})

    def _cast(self, poll_id: str, member_id: str, ballot: dict, inc: dict, part: str | None = None) -> str:
        """Insert the ballot (one per voter), then add it to the live tally (subject ``part`` of a rating
        poll). Returns the receipt."""
        bid = self.keys.ballot_id(poll_id, member_id)
        receipt = self.keys.receipt(bid)
        doc = {"_id": bid, "receipt": receipt, "day": now().strftime("%Y-%m-%d"), **ballot, "pending": True}
        try:
            self.store.insert_ballot(poll_id, doc)
        except DuplicateKeyError:
            raise Conflict(ALREADY_VOTED, details={"poll_id": poll_id}) from None
        if not self.store.count_ballot(poll_id, bid, inc, part):
            raise Conflict("voting has ended / 投票已截止", details={"poll_id": poll_id})
        # ``pending`` lets the close find a cast a crash cut between these writes (_repair_interrupted)
        self.store.settle_ballot(poll_id, bid)
        return receipt

    def _counts(self, poll: dict, tally: dict) -> dict:
        if poll["kind"] == "choice":
            return t.choice_counts(tally, poll["options"])
        return t.rating_counts(tally, [s["id"] for s in poll["subjects"]], poll["criteria"])

    def _recount(self, poll: dict) -> tuple[dict, int]:
        """Counts from every ballot, and how many ballots are still marked ``pending`` (the pass over
        every ballot reads only what it counts; :meth:`_repair_interrupted` reads those few again)."""
        fields = ["choice"] if poll["kind"] == "choice" else ["subject", "stars", "opinion"]
        pending = 0

        def ballots():
            nonlocal pending
            for b in self.store.iter_ballots(poll["_id"], [*fields, "pending"]):
                pending += bool(b.get("pending"))
                yield b

        if poll["kind"] == "choice":
            return t.recount_choices(ballots(), poll["options"]), pending
        return t.recount_ratings(ballots(), [s["id"] for s in poll["subjects"]], poll["criteria"]), pending

    def _repair_interrupted(self, poll: dict, live: dict, recounted: dict, pending: list[dict]) -> dict:
        """On a closed poll: bring into the live tally the casts a crash cut between the ballot insert
        and the tally ``$inc``. Candidates are the ballots still marked ``pending``; the tally is only
        changed when, part by part, a subset of them accounts for the difference exactly (anything else
        stays an alarm: "a mismatch is an alarm, not silently overwritten", issue 3). Pending ballots
        whose ``$inc`` had landed are just settled. Out: ``{"ballots", "pending", "parts"}`` or {} when
        nothing could be explained (nothing is changed then)."""
        if poll["kind"] == "choice":
            index = {opt: i for i, opt in enumerate(poll["options"])}
            diff = t.subtract(
                {"n": sum(recounted.values()), **{f"o{index[o]}": v for o, v in recounted.items()}},
                {"n": sum(live.values()), **{f"o{index[o]}": v for o, v in live.items()}},
            )
            groups = {None: (diff, [t.choice_inc(index[b["choice"]]) for b in pending])}
        else:
            groups = {}
            for subject, counted in recounted["s"].items():
                mine = [b for b in pending if b["subject"] == subject]
                diff = t.subtract(counted, live["s"].get(subject, {}))
                if diff or mine:
                    incs = [t.rating_inc(b["stars"], isinstance(b.get("opinion"), str)) for b in mine]
                    groups[subject] = (diff, incs)
        fixes = {}
        for part, (diff, incs) in groups.items():
            if t.explaining_subset(diff, incs) is None:
                return {}
            if diff:
                fixes[part] = diff
        self.store.add_to_tally(poll["_id"], fixes)
        self.store.settle_ballots(poll["_id"], [b["_id"] for b in pending])
        added = sum(d.get("n", 0) for d in fixes.values())
        if added:
            log.warning("poll %s: %d interrupted cast(s) added to the live tally", poll["_id"], added)
        return {"ballots": added, "pending": len(pending), "parts": {str(k): v for k, v in fixes.items()}}

    def _recount_and_record(self, poll: dict) -> dict:
        """Recount every ballot and compare with the live tally; a mismatch that persists after a short
        settle (a refused late ballot being removed) is an alarm. Both figures are recorded."""
        live = self._counts(poll, self.store.get_tally(poll["_id"]))
        recounted, pending = self._recount(poll)
        if recounted != live:
            eventlet.sleep(RECOUNT_SETTLE_S)
            live = self._counts(poll, self.store.get_tally(poll["_id"]))
            recounted, pending = self._recount(poll)
        record: dict = {"at": now(), "matches": recounted == live, "live": live, "recounted": recounted}
        if poll["status"] == "closed" and pending:  # rare (a crash)
            repaired = self._repair_interrupted(
                poll, live, recounted, self.store.pending_ballots(poll["_id"])
            )
            if repaired:
                live = self._counts(poll, self.store.get_tally(poll["_id"]))
                record.update(matches=recounted == live, live=live, repaired=repaired)
        matches = record["matches"]
        changes = {"recount": record}
        if not matches:
            changes["alarm"] = True
            log.error("RECOUNT MISMATCH in poll %s: live %s, recount %s", poll["_id"], live, recounted)
        self.store.update_poll(poll["_id"], **changes)
        if not matches:
            self.events.publish(
                "recount_mismatched",
                poll_id=poll["_id"],
                owner=poll.get("owner", ""),
                ref=poll.get("ref", ""),
            )
        return record

    def _ballot_total(self, poll: dict, tally: dict) -> int:
        return int(tally.get("n", 0))

    def _closed_out(self, poll: dict) -> dict:
        tally = self.store.get_tally(poll["_id"])
        counts = self._counts(poll, tally)
        if poll["kind"] == "rating":
            counts = {s: v["n"] for s, v in counts["s"].items()}
        return c.ClosedPollOut().dump(
            {
                "poll_id": poll["_id"],
                "status": "closed",
                "counts": counts,
                "ballots": self._ballot_total(poll, tally),
                "eligible": poll["eligible"],
                "recount_matches": bool((poll.get("recount") or {}).get("matches")),
            }
        )

    def _close(self, poll: dict) -> dict:
        """Close an open poll (idempotent): stop the tally, recount (repairing interrupted casts), shuffle
        the ballots so that their storage order no longer tells the order of casting
        (:meth:`VotingStore.shuffle_ballots`), publish ``poll_closed``. Called again on a closed poll, it
        finishes what a crash or an outage cut short (the recount, the shuffle) and answers the same."""
        if poll["status"] == "open":
            self.store.close_tally(poll["_id"])
            moved = self.store.set_poll_status(poll["_id"], "open", "closed", closed_at=now())
            if moved is not None:
                self._recount_and_record(moved)
                self.store.shuffle_ballots(poll["_id"])
                poll = self._poll(poll["_id"])
                out = self._closed_out(poll)
                self.events.publish(
                    "poll_closed",
                    poll_id=poll["_id"],
                    kind=poll["kind"],
                    owner=poll.get("owner", ""),
                    ref=poll.get("ref", ""),
                    counts=out["counts"],
                    ballots=out["ballots"],
                    eligible=out["eligible"],
                )
                return out
            poll = self._poll(poll["_id"])
        if poll["status"] != "closed":
            raise Conflict("the poll is not open / 投票未开放", details={"status": poll["status"]})
        if "recount" not in poll:  # the close was cut short before its recount
            self._recount_and_record(poll)
        self.store.shuffle_ballots(poll["_id"])
        return self._closed_out(self._poll(poll["_id"]))

    # ===== choice polls (the contract the congress service codes against) ==========================
    @rpc
    def open_choice_poll(self, data: dict) -> dict:
        """Open a choice poll (e.g. a congress resolution, item by item). System only.

        In: :class:`ChoicePollIn` ``{"title", "options" (default yes/no/abstain), "voters": [member ids],
        "secret" (default true), "owner", "ref", "closes_at"}``. Out: ``{"poll_id", "kind": "choice",
        "status": "open", "title", "options", "secret", "owner", "ref", "eligible", "ballots": 0}``.
        Publishes ``poll_opened``. Errors: BadInput, Forbidden (not system)."""
        data = c.ChoicePollIn().load(data)
        actor = self.identity.actor
        policy.require_system(actor, "only a service opens choice polls / 仅系统可发起表决")
        poll_id = f"p{uuid.uuid4().hex[:15]}"
        voters = sorted(set(data["voters"]))
        poll = {
            "_id": poll_id,
            "kind": "choice",
            "status": "open",
            "title": data["title"],
            "options": data["options"],
            "voters": voters,
            "secret": data["secret"],
            "owner": data["owner"],
            "ref": data["ref"],
            "eligible": len(voters),
            "closes_at": data["closes_at"],
            "union_id": data["union_id"],
            "union_path": data["union_path"],
            "congress_id": data["congress_id"],
            "alarm": False,
            "created_at": now(),
        }
        self.store.create_poll(poll, t.choice_zero(data["options"]))
        self.events.publish(
            "poll_opened", poll_id=poll_id, kind="choice", owner=data["owner"], ref=data["ref"]
        )
        return self._poll_out(poll, {"n": 0}, actor)

    @rpc
    def cast_choice(self, poll_id: str, data: dict) -> dict:
        """Cast the caller's ballot in a choice poll. In: :class:`ChoiceIn` ``{"choice": option}``.

        Out: ``{"poll_id", "receipt"}``. Errors: BadInput (unknown option), NotFound, Forbidden (not
        an eligible voter), Conflict (not open, past ``closes_at``, or already voted: 您已投票)."""
        data = c.ChoiceIn().load(data)
        actor = self.identity.actor
        poll = self._poll(poll_id)
        if poll["kind"] != "choice":
            raise BadInput("not a choice poll / 非表决投票", fields={"poll_id": ["not a choice poll"]})
        if data["choice"] not in poll["options"]:
            raise BadInput(
                "unknown option / 无此选项", fields={"choice": [f"one of: {', '.join(poll['options'])}"]}
            )
        policy.require_cast_choice(actor, self.store.is_voter(poll_id, actor.member_id))
        self._check_window(poll)
        ballot = {"choice": data["choice"]}
        if not poll["secret"]:
            ballot["voter"] = actor.member_id
        receipt = self._cast(
            poll_id, actor.member_id, ballot, t.choice_inc(poll["options"].index(data["choice"]))
        )
        return {"poll_id": poll_id, "receipt": receipt}

    @rpc
    def close_poll(self, poll_id: str) -> dict:
        """Close a choice poll and recount it. System only; idempotent (closing a closed poll returns the
        same result). Out: ``{"poll_id", "status": "closed", "counts": {option: n}, "ballots",
        "eligible", "recount_matches"}``. Publishes ``poll_closed``. Errors: NotFound, Forbidden."""
        actor = self.identity.actor
        policy.require_system(actor, "only a service closes polls / 仅系统可结束表决")
        poll = self._poll(poll_id)
        if poll["kind"] != "choice":
            raise BadInput(
                "close a campaign instead / 请结束评选活动", fields={"poll_id": ["not a choice poll"]}
            )
        return self._close(poll)

    @rpc
    def get_poll(self, poll_id: str) -> dict:
        """A poll as the caller may see it: eligible voters, admins, or the system. A rating poll is seen
        by whoever sees its campaign (its superior union's admins, the admins and members of its Worker
        Homes), not by the admin of an unrelated union (DESIGN.md §1: "a union_admin of union A can do
        nothing to union B"; found by tests/e2e/test_authz_matrix.py).

        Out: :class:`PollOut` with ``status``, ``ballots``, ``eligible``, ``has_voted`` and ``receipt``
        (the caller's), and ``counts`` only once closed or when the poll is not secret."""
        actor = self.identity.actor
        poll = self._poll(poll_id)
        self._require_poll_reader(actor, poll)
        return self._poll_out(poll, self.store.get_tally(poll_id), actor)

    def _require_poll_reader(self, actor: Actor, poll: dict) -> None:
        """:mod:`.policy` on the poll's scope facts (a campaign's for a rating poll)."""
        if poll["kind"] == "choice":
            allowed = policy.sees_choice_poll(
                actor, poll, lambda: self.store.is_voter(poll["_id"], actor.member_id)
            )
        elif poll.get("owner") == "evaluations" and self.store.get_campaign(poll.get("ref", "")):
            allowed = policy.sees_campaign(actor, self._campaign(poll["ref"]))
        else:
            allowed = policy.sees_rating_poll(actor, poll)
        policy.require_read_poll(actor, allowed)

    def _poll_out(self, poll: dict, tally: dict, actor: Actor) -> dict:
        out = {
            "poll_id": poll["_id"],
            "kind": poll["kind"],
            "status": poll["status"],
            "title": poll["title"],
            "options": poll.get("options", []),
            "secret": poll.get("secret", True),
            "owner": poll.get("owner", ""),
            "ref": poll.get("ref", ""),
            "eligible": poll["eligible"],
            "ballots": int(tally.get("n", 0)),
            "closes_at": iso(poll.get("closes_at")),
            "alarm": bool(poll.get("alarm")),
            "recount_matches": (poll.get("recount") or {}).get("matches"),
        }
        if not actor.is_system:
            out["has_voted"], out["receipt"] = self._voted(poll["_id"], actor.member_id)
        else:
            out["has_voted"], out["receipt"] = False, None
        if poll["status"] == "closed" or not poll.get("secret", True):
            counts = self._counts(poll, tally)
            out["counts"] = (
                counts if poll["kind"] == "choice" else {s: v["n"] for s, v in counts["s"].items()}
            )
        return c.PollOut().dump(out)

    # ===== receipts, the published list, recounts =================================================
    @rpc
    def verify_receipt(self, poll_id: str, receipt: str) -> dict:
        """Is the ballot with this receipt in the poll's list? A rating poll: any logged-in caller (a
        receipt reveals nobody); a choice poll (a congress vote): those who may read the poll
        (:func:`.policy.sees_choice_poll`). Out: :class:`ReceiptCheckOut`. Errors: NotFound (poll),
        Forbidden, BadInput (not a 12-character code)."""
        actor = self.identity.require_login()
        poll = self._poll(poll_id)
        if poll["kind"] == "choice":
            self._require_poll_reader(actor, poll)
        code = (receipt or "").strip().upper().replace("-", "").replace(" ", "")
        if len(code) != 12 or any(ch not in "0123456789ABCDEF" for ch in code):
            raise BadInput(
                "a receipt is 12 characters 0-9, A-F / 回执码为12位",
                fields={"receipt": ["12 hex characters"]},
            )
        doc = self.store.find_receipt(poll_id, code)
        return c.ReceiptCheckOut().dump(
            {
                "poll_id": poll_id,
                "receipt": code,
                "found": doc is not None,
                "ballot": doc and self._published(doc),
            }
        )

    @staticmethod
    def _published(doc: dict) -> dict:
        return {
            "receipt": doc["receipt"],
            "choice": doc.get("choice"),
            "subject": doc.get("subject"),
            "stars": doc.get("stars"),
        }

    @rpc
    def list_ballots(self, poll_id: str, page: int = 1, per_page: int = 100) -> dict:
        """The published ballot list of a closed poll, by receipt: ``{"items": [{receipt, choice |
        subject, stars}], "total", …}``. Anyone who may see the poll. Errors: Conflict while open."""
        self.get_poll(poll_id)
        poll = self._poll(poll_id)
        if poll["status"] != "closed":
            raise Conflict("the list is published when voting closes / 投票结束后公布选票清单")
        if not isinstance(page, int) or page < 1 or not isinstance(per_page, int) or not 1 <= per_page <= 500:
            raise BadInput(
                "page ≥ 1, per_page 1-500 / 分页参数有误", fields={"page": ["≥ 1"], "per_page": ["1-500"]}
            )
        docs, total = self.store.ballot_page(poll_id, (page - 1) * per_page, per_page)
        return page_out([self._published(d) for d in docs], total, page, per_page)

    @rpc
    def recount(self, poll_id: str) -> dict:
        """Recount every ballot of a poll now and compare with the live tally (system or admins of the
        campaign). Out: ``{"at", "matches", "live", "recounted"}``; a mismatch raises the alarm."""
        actor = self.identity.actor
        poll = self._poll(poll_id)
        if poll["kind"] == "rating":
            policy.require_campaign_admin(actor, self._campaign(poll_id))
        else:
            policy.require_system(actor)
        record = self._recount_and_record(poll)
        return {**record, "at": iso(record["at"])}

    # ===== evaluation campaigns =====================================================================
    def _campaign(self, campaign_id: str, cached: bool = False) -> dict:
        """The campaign (``cached``: an open one may come from :class:`OpenDocCache`, read-only)."""
        load = self.store.get_campaign
        doc = self.open_docs.get("campaign", campaign_id, load) if cached else load(campaign_id)
        if doc is None:
            raise NotFound(
                f"no campaign {campaign_id} / 评选活动不存在", details={"campaign_id": campaign_id}
            )
        return doc

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
        actor = self.identity.actor
        union = self.members_rpc.get_union(data["union_id"])
        policy.require_create_campaign(actor, union["path"])
        under = self.members_rpc.list_unions(data["union_id"], "grassroots")
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
        counts = self.members_rpc.count_members(chosen)
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
            **camp.settings(data),
            "opens_at": data["opens_at"],
            "closes_at": data["closes_at"],
            "homes": homes,
            "unit_scores": {},
            "superior_scores": {},
            "created_by": actor.member_id,
            "created_at": now(),
        }
        try:
            self.store.insert_campaign(doc)
        except DuplicateKeyError:
            raise Conflict(
                f"campaign id {campaign_id} is taken / 评选编号已存在", fields={"id": ["taken"]}
            ) from None
        return self._campaign_out(doc, actor)

    @rpc
    def open_campaign(self, campaign_id: str) -> dict:
        """Open member voting: creates the rating poll (one ballot per member, each member rates their own
        union's Worker Home) with the current member counts as the eligible figures. Campaign admins.
        Errors: Conflict (not a draft). Publishes ``poll_opened``."""
        actor = self.identity.actor
        campaign = self._campaign(campaign_id)
        policy.require_campaign_admin(actor, campaign)
        if campaign["status"] != "draft":
            raise Conflict(
                "the campaign is not a draft / 评选活动已开始", details={"status": campaign["status"]}
            )
        ids = [h["union_id"] for h in campaign["homes"]]
        counts = self.members_rpc.count_members(ids)
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
            "created_at": now(),
        }
        moved = self.store.move_campaign(campaign_id, ("draft",), "open", homes=homes, opened_at=now())
        if moved is None:
            raise Conflict("the campaign is not a draft / 评选活动已开始")
        try:
            self.store.create_poll(poll, *t.rating_zero(ids, len(campaign["criteria"])))
        except DuplicateKeyError:
            pass  # reopened after an interrupted open: the poll exists
        self.events.publish(
            "poll_opened", poll_id=campaign_id, kind="rating", owner="evaluations", ref=campaign_id
        )
        return self._campaign_out(moved, actor)

    @rpc
    def close_campaign(self, campaign_id: str) -> dict:
        """Close member voting, recount and shuffle the ballots (:meth:`_close`; campaign admins).
        Idempotent once closed; called again after an interrupted close, it finishes it. Out:
        :class:`CampaignOut`. Errors: Forbidden, NotFound, Conflict (not open), ServiceUnavailable."""
        actor = self.identity.actor
        campaign = self._campaign(campaign_id)
        policy.require_campaign_admin(actor, campaign)
        if campaign["status"] in ("closed", "published"):
            return self._campaign_out(campaign, actor)
        if campaign["status"] != "open":
            raise Conflict(
                "the campaign is not open / 评选活动未开始", details={"status": campaign["status"]}
            )
        self._close(self._poll(campaign_id))
        moved = self.store.move_campaign(campaign_id, ("open",), "closed", closed_at=now())
        return self._campaign_out(moved or self._campaign(campaign_id), actor)

    @rpc
    def set_unit_score(self, campaign_id: str, union_id: str, data: dict) -> dict:
        """The unit score (单位评家, 0-100) of one Worker Home, by that union's own admin only.

        In: :class:`ScoreIn` ``{"score"}``. Errors: BadInput, NotFound, Forbidden (another union's home,
        even for admins above it), Conflict (results published)."""
        data = c.ScoreIn().load(data)
        actor = self.identity.actor
        campaign = self._campaign(campaign_id)
        if union_id not in {h["union_id"] for h in campaign["homes"]}:
            raise NotFound("this Worker Home is not in the campaign / 该职工之家未参评")
        policy.require_unit_score(actor, union_id)
        score = ev.round2(data["score"])  # half-up: 88.125 → 88.13
        updated = self.store.set_scores(campaign_id, "unit_scores", {union_id: score})
        self.open_docs.forget("campaign", campaign_id)
        if updated is None:
            raise Conflict("results are published / 结果已公布，不能修改")
        return self._campaign_out(updated, actor)

    @rpc
    def set_superior_scores(self, campaign_id: str, data: dict) -> dict:
        """Superior scores (上级评家, 0-100) for homes of the campaign, by its superior admins.

        In: :class:`SuperiorScoresIn` ``{"scores": {union_id: score}}``; all checked before any is
        stored. Errors: BadInput, Forbidden, Conflict (published)."""
        data = c.SuperiorScoresIn().load(data)
        actor = self.identity.actor
        campaign = self._campaign(campaign_id)
        policy.require_campaign_admin(actor, campaign)
        homes = {h["union_id"] for h in campaign["homes"]}
        unknown = sorted(set(data["scores"]) - homes)
        if unknown:
            raise BadInput(
                "not Worker Homes of this campaign / 非本次参评的职工之家",
                fields={"scores": {u: ["not in this campaign"] for u in unknown}},
            )
        scores = {u: ev.round2(v) for u, v in data["scores"].items()}  # half-up: 88.125 → 88.13
        updated = self.store.set_scores(campaign_id, "superior_scores", scores)
        self.open_docs.forget("campaign", campaign_id)
        if updated is None:
            raise Conflict("results are published / 结果已公布，不能修改")
        return self._campaign_out(updated, actor)

    @rpc
    def cast_rating(self, campaign_id: str, data: dict) -> dict:
        """A member rates their own union's Worker Home: 1-5 whole stars on every criterion and an
        optional opinion (≤ 2,000 characters). One ballot per member per campaign, stored secretly.

        In: :class:`RatingIn` ``{"stars": {"c1": 1-5, …}, "opinion", "home"}``. Out: ``{"poll_id",
        "campaign_id", "home", "receipt"}``. Errors: BadInput (stars 0, 6, 2.5, "five", a missing or
        unknown criterion, opinion too long), NotFound, Forbidden (not a member of a participating union,
        or another union's home), Conflict (outside the window; already voted: 您已投票)."""
        data = c.RatingIn().load(data)
        campaign = self._campaign(campaign_id, cached=True)
        marks, errors = stars_errors(data["stars"], len(campaign["criteria"]))
        if errors:
            raise BadInput(
                "rate every criterion with 1-5 stars / 请为每一项打1-5星", fields={"stars": errors}
            )
        actor = self.identity.actor
        home = actor.union_id
        policy.require_rate_home(actor, (h["union_id"] for h in campaign["homes"]), data["home"])
        if campaign["status"] != "open":
            raise Conflict(
                "voting is not open / 评选投票未开放或已结束", details={"status": campaign["status"]}
            )
        poll = self._poll(campaign_id, cached=True)
        self._check_window(poll)
        opinion = (data["opinion"] or "").strip() or None
        receipt = self._cast(
            campaign_id,
            actor.member_id,
            {"subject": home, "stars": marks, "opinion": opinion},
            t.rating_inc(marks, opinion is not None),
            part=home,
        )
        return {"poll_id": campaign_id, "campaign_id": campaign_id, "home": home, "receipt": receipt}

    @rpc
    def get_campaign(self, campaign_id: str) -> dict:
        """A campaign with live participation per home (:class:`CampaignOut`) and, for a member, ``me``:
        ``{"home", "has_voted", "receipt"}``. Members of participating unions and admins."""
        actor = self.identity.actor
        campaign = self._campaign(campaign_id)
        policy.require_sees_campaign(actor, campaign)
        return self._campaign_out(campaign, actor)

    @rpc
    def list_campaigns(self) -> list[dict]:
        """The campaigns the caller takes part in or runs, newest first (:class:`CampaignOut` without
        per-home rows)."""
        actor = self.identity.actor
        docs = [d for d in self.store.all_campaigns() if policy.sees_campaign(actor, d)]
        docs.sort(key=lambda d: (d.get("year") or 0, d["created_at"]), reverse=True)
        out = []
        for d in docs:
            item = self._campaign_out(d, actor, with_homes=False)
            out.append(item)
        return out

    def _campaign_out(
        self,
        campaign: dict,
        actor: Actor,
        with_homes: bool = True,
        tally: dict | None = None,
        poll: dict | None = None,
    ) -> dict:
        """The campaign as :class:`CampaignOut` for ``actor`` (``tally`` and ``poll`` when already read)."""
        if tally is None:
            tally = self.store.get_tally(campaign["_id"]) if campaign["status"] != "draft" else {}
        per = tally.get("s", {})
        is_admin = policy.is_campaign_admin(actor, campaign)
        homes = []
        for h in campaign["homes"] if with_homes else ():
            n = int(per.get(h["union_id"], {}).get("n", 0))
            own = actor.has("union_admin", h["union_id"])
            homes.append(
                {
                    **h,
                    "voters": n,
                    "participation": ev.participation(n, h["eligible"]),
                    "unit_score": campaign["unit_scores"].get(h["union_id"]) if is_admin or own else None,
                    "superior_score": campaign["superior_scores"].get(h["union_id"])
                    if is_admin or own
                    else None,
                }
            )
        eligible = sum(h["eligible"] for h in campaign["homes"])
        ballots = int(tally.get("n", 0))
        if poll is None and campaign["status"] != "draft":
            poll = self.store.poll_header(campaign["_id"])
        out = c.CampaignOut().dump(
            {
                **campaign,
                "id": campaign["_id"],
                "criteria": [{"key": f"c{i + 1}", "name": n} for i, n in enumerate(campaign["criteria"])],
                "rules": camp.rules_of(campaign).to_doc(),
                "opens_at": iso(campaign.get("opens_at")),
                "closes_at": iso(campaign.get("closes_at")),
                "poll_id": campaign["_id"],
                "eligible": eligible,
                "ballots": ballots,
                "opinions": sum(int(v.get("op", 0)) for v in per.values()),
                "participation": ev.participation(ballots, eligible),
                "homes": homes if with_homes else [],
                "alarm": bool(poll and poll.get("alarm")),
                "recount_matches": ((poll or {}).get("recount") or {}).get("matches"),
                "published_at": iso(campaign.get("published_at")),
            }
        )
        if not actor.is_system and actor.union_id:
            voted, receipt = (False, None)
            if poll is not None:
                voted, receipt = self._voted(campaign["_id"], actor.member_id)
            mine = actor.union_id if actor.union_id in {h["union_id"] for h in campaign["homes"]} else None
            out["me"] = {"home": mine, "has_voted": voted, "receipt": receipt}
        out["is_admin"] = is_admin
        return out

    @rpc
    def campaign_results(self, campaign_id: str, as_json: bool = False) -> dict | str:
        """Results per home: member, unit, superior score, total, star level, participation, opinions,
        ranked under the campaign's rules (:mod:`.campaigns`): homes flagged ``no_member_ballots`` or
        ``low_participation`` have star level 0 and ``rank`` null, after the ranked ones. Campaign admins see them live at any time (``live: true``, from the live tally); everyone
        who takes part sees them once published (the stored table). Out: :class:`ResultsOut`; with
        ``as_json`` the same already serialised as JSON text, so that the gateway can pass a 1,000-home
        table through without decoding and re-encoding it (a third of the live-results time)."""
        actor = self.identity.actor
        campaign = self._campaign(campaign_id, cached=True)
        policy.require_sees_campaign(actor, campaign)
        if campaign["status"] != "published":
            policy.require_live_results(actor, campaign)
        poll = self._poll(campaign_id, cached=True) if campaign["status"] != "draft" else None
        tally = self.store.get_tally(campaign_id) if poll else {}
        if campaign["status"] == "published":
            rows = campaign["results"]["rows"]
            distribution = campaign["results"]["star_distribution"]
            live = False
        else:
            counts = self._counts(poll, tally) if poll else {"n": 0, "s": {}}
            ranked = camp.results_table(campaign, counts)
            rows, distribution, live = camp.rows_out(campaign, ranked), ev.star_distribution(ranked), True
        recount = (poll or {}).get("recount")
        out = c.ResultsOut().dump(
            {
                "campaign": self._campaign_out(campaign, actor, with_homes=False, tally=tally, poll=poll),
                "live": live,
                "rows": [],
                "star_distribution": distribution,
                "recount": {"at": iso(recount["at"]), "matches": recount["matches"]} if recount else None,
            }
        )
        out["rows"] = rows  # already in ResultRowOut's shape (see _rows_out)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":")) if as_json else out

    @rpc
    def publish_results(self, campaign_id: str) -> dict:
        """Publish a closed campaign's results (campaign admins): needs every unit and superior score and
        a recount equal to the live tally. Stores the table, sets each home's star level in the member
        registry, publishes ``results_published``. Errors: Conflict (not closed, scores missing, recount
        alarm), Forbidden. Idempotent once published."""
        actor = self.identity.actor
        campaign = self._campaign(campaign_id)
        policy.require_campaign_admin(actor, campaign)
        if campaign["status"] == "published":
            return self.campaign_results(campaign_id)
        if campaign["status"] != "closed":
            raise Conflict(
                "close the campaign first / 请先结束评选投票", details={"status": campaign["status"]}
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
            )
        poll = self._poll(campaign_id)
        record = self._recount_and_record(poll)
        if not record["matches"]:
            raise Conflict(
                "the recount differs from the live tally: alarm raised / 复核计票与实时计票不一致，已告警"
            )
        ranked = camp.results_table(campaign, record["recounted"])
        results = {
            "rows": camp.rows_out(campaign, ranked),
            "star_distribution": ev.star_distribution(ranked),
        }
        moved = self.store.move_campaign(
            campaign_id,
            ("closed",),
            "published",
            results=results,
            published_at=now(),
            rules=camp.rules_of(campaign).to_doc(),  # the rules of the stored table, for good
        )
        if moved is None:
            return self.campaign_results(campaign_id)
        self.identity.act_as_service()
        for r in ranked:
            self.members_rpc.set_star_level(r.union_id, r.star_level)
        self.events.publish(
            "results_published",
            campaign_id=campaign_id,
            union_id=campaign["union_id"],
            homes=len(ranked),
            ballots=record["recounted"]["n"],
            star_levels={r.union_id: r.star_level for r in ranked},
        )
        return self.campaign_results(campaign_id)

    @rpc
    def campaign_opinions(
        self, campaign_id: str, home: str | None = None, page: int = 1, per_page: int = 50
    ) -> dict:
        """Anonymous opinions (征求意见) of a campaign: campaign admins (all homes or ``home``), or a union
        admin for their own home. Out: :class:`OpinionPageOut` (text, home, day; never who wrote it). The
        day is there while voting is open only: the close removes it with the casting order (ballot
        secrecy at rest, docs/storage.md), so ``cast_at`` is then empty."""
        actor = self.identity.actor
        campaign = self._campaign(campaign_id)
        if home is not None and (not isinstance(home, str) or not ID_RE.match(home)):
            raise BadInput("not a home id / 无效的编号", fields={"home": ["not an id"]})
        policy.require_opinions(actor, campaign, home)
        if not isinstance(page, int) or page < 1 or not isinstance(per_page, int) or not 1 <= per_page <= 500:
            raise BadInput("page ≥ 1, per_page 1-500 / 分页参数有误", fields={"page": ["≥ 1"]})
        if campaign["status"] == "draft":
            docs = []
        else:
            docs = self.store.opinions(campaign_id, home)
        items = [
            {"home": d["subject"], "text": d["opinion"], "cast_at": d.get("day", "")}
            for d in docs[(page - 1) * per_page : page * per_page]
        ]
        return page_out(items, len(docs), page, per_page)

    @rpc
    def load_ratings(self, campaign_id: str, ballots: list[dict]) -> dict:
        """Bulk loading of rating ballots for the demo and benchmarks (system only, campaign open).

        ``ballots`` = ``[{"member_id", "home", "stars": [1-5 …], "opinion"}]``, every one checked before
        any is written; stored exactly as cast ballots are (secret ids, receipts, live tally). Out:
        ``{"loaded": n}``. Errors: BadInput, Forbidden, Conflict (not open, or a voter already voted)."""
        actor = self.identity.actor
        policy.require_system(actor)
        campaign = self._campaign(campaign_id)
        if campaign["status"] != "open":
            raise Conflict("voting is not open / 评选投票未开放")
        if not isinstance(ballots, list) or len(ballots) > 20000:
            raise BadInput(
                "ballots: a list of at most 20,000 / 至多20000张", fields={"ballots": ["too many"]}
            )
        homes = {h["union_id"] for h in campaign["homes"]}
        k = len(campaign["criteria"])
        docs, seen = [], set()
        incs: dict[str, list[dict]] = {}
        day = now().strftime("%Y-%m-%d")
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
            bid = self.keys.ballot_id(campaign_id, b["member_id"])
            if bid in seen:
                raise BadInput(
                    f"ballot {i}: same voter twice / 重复投票人", fields={"ballots": {str(i): ["duplicate"]}}
                )
            seen.add(bid)
            opinion = (b.get("opinion") or "").strip() or None
            docs.append(
                {
                    "_id": bid,
                    "receipt": self.keys.receipt(bid),
                    "day": day,
                    "subject": b["home"],
                    "stars": stars,
                    "opinion": opinion,
                }
            )
            incs.setdefault(b["home"], []).append(t.rating_inc(stars, opinion is not None))
        try:
            self.store.bulk_ballots(campaign_id, docs, {h: t.merge_inc(i) for h, i in incs.items()})
        except BulkWriteError:
            raise Conflict("a voter had already voted: nothing loaded / 有投票人已投票，未载入") from None
        return {"loaded": len(docs)}
