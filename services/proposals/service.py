"""The proposals service (提案): the whole lifecycle of a delegate's proposal, from the collection window of
a congress session to the satisfaction rating and the excellent mark (DESIGN.md §4).

Who may do what (checked on the verified token of every call, DESIGN.md §1):

- admins of the congress's union or a union above it open and close a session's collection window,
  review (accept / convert to a suggestion / reject with a reason), assign to departments, mark closed
  proposals excellent, and see the desk, the register and the statistics;
- delegates of the congress (the ``delegate`` grant, scope = congress id, that congress has members
  grant when it records them) draft proposals, invite co-signers, co-sign others' drafts, and submit their
  own while the window is open with at least the window's minimum of co-signers;
- handlers of an assigned department (``handler`` grant, scope = department id) reply;
- the proposer and the co-signers rate the reply; the proposer's rating moves the proposal (closed, or
  back to the departments for ONE more round when dissatisfied);
- members of the union read the public list of accepted proposals with their replies and the statistics.

Every transition is :func:`rules.check_move` (actor first: 403, then state: 409) followed by ONE guarded
atomic update ``find_one_and_update({"_id", "state": expected, …})`` that also appends the history entry
(who, role, when); ``None`` back means someone else moved it first: 409.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import Timer
from pymongo.errors import DuplicateKeyError

from dmlib.auth import Actor, Identity
from dmlib.contracts import proposals as c
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.schemas import iso
from dmlib.storage import Mongo

from . import rules
from .store import ProposalsStore
from .store import proposal_id as proposal_id_of

log = logging.getLogger(__name__)

DEFAULT_REMINDER_INTERVAL_S = 3600.0
STALE_CLAIM = timedelta(seconds=60)
DEPARTMENT_TTL = 60.0
CHANGED = "the proposal was changed by someone else just now; reload / 提案刚被他人处理，请刷新后重试"


class Clock(DependencyProvider):
    """The service's notion of now (UTC). Tests move time by setting ``offset`` on the provider
    (``nameko.testing.utils.get_extension(container, Clock).offset = timedelta(days=1)``)."""

    def setup(self) -> None:
        self.offset = timedelta(0)

    def get_dependency(self, worker_ctx) -> Clock:
        return self

    def now(self) -> datetime:
        from .store import now

        return now() + self.offset


class DepartmentCache(DependencyProvider):
    """Department names per union as members gave them, kept :data:`DEPARTMENT_TTL` (departments change
    rarely; assignment validates against them and must not wait on members for each proposal)."""

    def setup(self) -> None:
        self.entries: dict[str, tuple[float, dict[str, str]]] = {}

    def get_dependency(self, worker_ctx) -> DepartmentCache:
        return self

    def get(self, union_id: str) -> dict[str, str] | None:
        entry = self.entries.get(union_id)
        return entry[1] if entry and time.monotonic() - entry[0] < DEPARTMENT_TTL else None

    def put(self, union_id: str, names: dict[str, str]) -> None:
        self.entries[union_id] = (time.monotonic(), names)


class ReminderTimer(Timer):
    """A timer whose interval comes from config ``REMINDER_INTERVAL_S`` (default 3,600 s)."""

    def setup(self) -> None:
        self.interval = float(self.container.config.get("REMINDER_INTERVAL_S") or self.interval)


def _shift(value, delta: timedelta):
    """Every datetime inside ``value`` (dicts and lists too) moved by ``delta``."""
    if isinstance(value, datetime):
        return value - delta
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    return value


class ProposalsService(HealthRpc):
    name = "proposals"

    store: ProposalsStore = Mongo(ProposalsStore)
    identity = Identity()
    events = Events()
    clock = Clock()
    department_cache = DepartmentCache()
    congress_rpc = Rpc("congress")
    members_rpc = Rpc("members")

    # ----- helpers: loading, roles ---------------------------------------------------------------
    def _window(self, session_id: str) -> dict:
        w = self.store.get_window(session_id) if isinstance(session_id, str) else None
        if w is None:
            raise NotFound(
                f"no proposal window for session {session_id} / 该会议尚未开启提案征集",
                details={"session_id": session_id},
            )
        return w

    def _proposal(self, proposal_id: str) -> dict:
        p = self.store.get(proposal_id) if isinstance(proposal_id, str) else None
        if p is None:
            raise NotFound(f"no proposal {proposal_id} / 提案不存在", details={"proposal_id": proposal_id})
        return p

    @staticmethod
    def _roles(actor: Actor, p: dict, handler_of: set[str] | None = None) -> set[str]:
        """The actor's relations to a proposal: proposer, cosigner (the proposer counts as one for
        rating), invited, delegate, admin, handler (``handler_of``: the departments they handle)."""
        roles: set[str] = set()
        me = actor.member_id
        if me == p["proposer"]["member_id"]:
            roles |= {"proposer", "cosigner"}
        if me in p.get("cosigner_ids", []):
            roles.add("cosigner")
        if me in {i["member_id"] for i in p.get("invited", [])}:
            roles.add("invited")
        if actor.has("delegate", p["congress_id"]):
            roles.add("delegate")
        if actor.administers(p["union_path"]):
            roles.add("admin")
        current = set(p["rounds"][-1]["department_ids"]) if p.get("rounds") else set()
        if handler_of or any(actor.has("handler", d) for d in current):
            roles.add("handler")
        return roles

    def _departments(self, union_id: str, fresh: bool = False) -> dict[str, str]:
        """``{department id: name}`` of a union (members, cached for a minute)."""
        names = None if fresh else self.department_cache.get(union_id)
        if names is None:
            names = {d["id"]: d["name"] for d in self.members_rpc.list_departments(union_id)}
            self.department_cache.put(union_id, names)
        return names

    @staticmethod
    def _check(action: str, state: str, roles: set[str]) -> str:
        try:
            return rules.check_move(action, state, roles)
        except rules.RuleError as exc:
            if exc.kind == "actor":
                raise Forbidden(exc.message, details={"action": action}) from None
            raise Conflict(exc.message, details={"action": action, "state": state}) from None

    def _require_reader(self, actor: Actor, scoped: dict) -> None:
        """Members of the union, the congress's delegates, admins of the union or above, the system."""
        actor.require(
            actor.union_id == scoped["union_id"]
            or actor.administers(scoped["union_path"])
            or actor.has("delegate", scoped["congress_id"]),
            "only members of this union see its proposals / 仅本单位会员可查看提案",
            union_id=scoped["union_id"],
        )

    def _require_admin(self, actor: Actor, scoped: dict) -> None:
        actor.require(
            actor.administers(scoped["union_path"]),
            "only admins of this union may do this / 仅本单位工会管理员可操作",
            union_id=scoped["union_id"],
        )

    def _entry(self, action: str, src: str | None, dst: str, actor: Actor, role: str, at, note=None) -> dict:
        return {
            "action": action,
            "from_state": src,
            "to_state": dst,
            "by": actor.member_id,
            "by_name": actor.name,
            "role": role,
            "at": at,
            "note": note,
        }

    def _claim(self, p: dict) -> None:
        """Win the proposal's next transition (its history length as read) or raise Conflict: the
        exclusive step of every write (see :meth:`ProposalsStore.claim`). A claim left by a writer that
        died before its update (older than :data:`STALE_CLAIM`) is released once."""
        version = len(p["history"])
        if self.store.claim(p["_id"], version, self.clock.now()):
            return
        if self.store.release_stale_claim(p["_id"], version, self.clock.now() - STALE_CLAIM):
            current = self.store.get(p["_id"])
            if (
                current
                and len(current["history"]) == version
                and self.store.claim(p["_id"], version, self.clock.now())
            ):
                return
        raise Conflict(CHANGED, details={"proposal_id": p["_id"], "expected_state": p["state"]})

    def _move(self, p: dict, guard: dict, update: dict) -> dict:
        """The transition: claim it, then one guarded atomic update of the state read (plus ``guard``)
        that also appends the history entry. Conflict (409) when someone else moved it first."""
        self._claim(p)
        doc = self.store.move(p["_id"], {"state": p["state"], **guard}, update)
        if doc is None:
            raise Conflict(CHANGED, details={"proposal_id": p["_id"], "expected_state": p["state"]})
        return doc

    def _publish(self, event: str, p: dict, **extra) -> None:
        """Every proposal event carries the ids a notifier needs (docs/events.md)."""
        self.events.publish(
            event,
            proposal_id=p["_id"],
            session_id=p["session_id"],
            congress_id=p["congress_id"],
            union_id=p["union_id"],
            subject=p["subject"],
            proposer_id=p["proposer"]["member_id"],
            cosigner_ids=list(p.get("cosigner_ids", [])),
            department_ids=list(p["rounds"][-1]["department_ids"]) if p.get("rounds") else [],
            state=p["state"],
            **extra,
        )

    # ----- helpers: shaping ----------------------------------------------------------------------
    def _out(self, p: dict, actor: Actor | None = None, now: datetime | None = None) -> dict:
        now = now or self.clock.now()
        names = p.get("departments", {})
        rounds = []
        for r in p.get("rounds", []):
            rounds.append(
                {
                    "round": r["round"],
                    "departments": [{"id": d, "name": names.get(d, d)} for d in r["department_ids"]],
                    "assigned_at": iso(r["assigned_at"]),
                    "deadline": iso(r["deadline"]),
                    "replied_at": iso(r.get("replied_at")),
                    "on_time": rules.is_on_time(r["replied_at"], r["deadline"])
                    if r.get("replied_at")
                    else None,
                }
            )
        current = p["rounds"][-1] if p.get("rounds") else None
        open_deadline = current["deadline"] if current and p["state"] == "assigned" else None
        return c.ProposalOut().dump(
            {
                **p,
                "id": p["_id"],
                "category_label": c.CATEGORIES.get(p["category"], p["category"]),
                "proposer": {**p["proposer"], "at": iso(p["created_at"])},
                "invited": [{**i, "at": None} for i in p.get("invited", [])],
                "cosigners": [{**x, "at": iso(x["at"])} for x in p.get("cosigners", [])],
                "review": {**p["review"], "at": iso(p["review"]["at"])} if p.get("review") else None,
                "round": p.get("round", 0),
                "rounds": rounds,
                "deadline": iso(current["deadline"]) if current else None,
                "days_left": rules.days_left(open_deadline, now) if open_deadline else None,
                "overdue": bool(open_deadline and now > open_deadline),
                "replies": [{**r, "at": iso(r["at"])} for r in p.get("replies", [])],
                "ratings": [{**r, "at": iso(r["at"])} for r in p.get("ratings", [])],
                "excellent": p.get("excellent", False),
                "history": [{**h, "at": iso(h["at"])} for h in p.get("history", [])],
                "created_at": iso(p["created_at"]),
                "submitted_at": iso(p.get("submitted_at")),
                "closed_at": iso(p.get("closed_at")),
                "my_roles": sorted(self._roles(actor, p)) if actor else [],
            }
        )

    def _window_out(self, w: dict) -> dict:
        return c.WindowOut().dump(
            {
                **w,
                "session_id": w["_id"],
                "opened_at": iso(w.get("opened_at")),
                "closed_at": iso(w.get("closed_at")),
                "proposal_count": w.get("seq", 0),
            }
        )

    # ----- collection windows --------------------------------------------------------------------
    @rpc
    def open_window(self, session_id: str, data: dict | None = None) -> dict:
        """Open (or re-open) the collection window (提案征集) of a congress session.

        In: :class:`WindowIn` (``min_cosigners`` default 2, ``deadline_days`` default 20; both apply to
        what follows). Out: :class:`WindowOut`. Admins of the congress's union or above. The session must
        exist (asked of congress). Publishes ``proposal_window_opened``. Errors: BadInput, NotFound
        (session), Forbidden."""
        data = c.WindowIn().load(data or {})
        actor = self.identity.actor
        session = self.congress_rpc.get_session(session_id)
        union = self.members_rpc.get_union(session["union_id"])
        scoped = {"union_id": union["id"], "union_path": union["path"]}
        self._require_admin(actor, scoped)
        fields = {
            "congress_id": session["congress_id"],
            "term_id": session["term_id"],
            "union_id": union["id"],
            "union_path": union["path"],
            "union_name": union["name"],
            "session_title": session["title"],
            **data,
        }
        w = self.store.open_window(session_id, fields, self.clock.now(), actor.member_id)
        self.events.publish(
            "proposal_window_opened",
            session_id=session_id,
            congress_id=w["congress_id"],
            union_id=w["union_id"],
            term_id=w["term_id"],
            min_cosigners=w["min_cosigners"],
        )
        return self._window_out(w)

    @rpc
    def close_window(self, session_id: str) -> dict:
        """Close a session's collection window: no more drafts, co-signatures or submissions (drafts
        stay drafts). Admins. Out: :class:`WindowOut`. Errors: NotFound, Forbidden, Conflict (not open)."""
        actor = self.identity.actor
        w = self._window(session_id)
        self._require_admin(actor, w)
        closed = self.store.close_window(session_id, self.clock.now(), actor.member_id)
        if closed is None:
            raise Conflict(
                "the collection window is not open / 提案征集未在进行中", details={"status": w["status"]}
            )
        self.events.publish(
            "proposal_window_closed",
            session_id=session_id,
            congress_id=w["congress_id"],
            union_id=w["union_id"],
        )
        return self._window_out(closed)

    @rpc
    def get_window(self, session_id: str) -> dict:
        """The collection window of a session (:class:`WindowOut`); ``status`` ``none`` when never opened
        (the session is then looked up in congress, which checks the caller may see it). Members of the
        union, its delegates, admins."""
        actor = self.identity.actor
        w = self.store.get_window(session_id) if isinstance(session_id, str) else None
        if w is None:
            s = self.congress_rpc.get_session(session_id)
            return c.WindowOut().dump(
                {
                    "session_id": session_id,
                    "congress_id": s["congress_id"],
                    "union_id": s["union_id"],
                    "term_id": s["term_id"],
                    "session_title": s["title"],
                    "status": "none",
                    "min_cosigners": rules.DEFAULT_MIN_COSIGNERS,
                    "deadline_days": rules.DEFAULT_DEADLINE_DAYS,
                    "proposal_count": 0,
                }
            )
        self._require_reader(actor, w)
        return self._window_out(w)

    @rpc
    def list_windows(self, congress_id: str) -> list[dict]:
        """The collection windows of a congress's sessions, newest session first ([:class:`WindowOut`]).
        Members of the union, its delegates, admins (an empty list when none was opened)."""
        actor = self.identity.actor
        windows = self.store.windows_of(str(congress_id))
        if windows:
            self._require_reader(actor, windows[0])
        return [self._window_out(w) for w in sorted(windows, key=lambda w: w["_id"], reverse=True)]

    # ----- drafting, co-signing, submitting --------------------------------------------------------
    @rpc
    def create_proposal(self, session_id: str, data: dict) -> dict:
        """Draft a proposal in a session's open window and invite co-signers.

        In: :class:`ProposalIn` (subject 5-100 characters, category, reasons and measures 10-4,000,
        ``invite``: member numbers of delegates of the same term, not oneself). Out: :class:`ProposalOut`
        (state ``draft``, id ``<session id>-p<NNN>``). Delegates of the congress only (403). Errors:
        BadInput (fields; an invitee who is not a delegate), NotFound (window), Forbidden, Conflict
        (window not open). Publishes ``cosigners_invited`` when someone was invited."""
        data = c.ProposalIn().load(data)
        actor = self.identity.actor
        w = self._window(session_id)
        actor.require(
            actor.has("delegate", w["congress_id"]) and not actor.is_system,
            "only delegates of this congress submit proposals / 仅本届职代会代表可提交提案",
            congress_id=w["congress_id"],
        )
        if w["status"] != "open":
            raise Conflict(
                "the collection window of this session is not open / 本次会议提案征集未开放",
                details={"status": w["status"]},
            )
        invited = []
        if data["invite"]:
            delegates = {d["member_id"]: d["name"] for d in self.congress_rpc.list_delegates(w["term_id"])}
            problems = {
                str(i): ["yourself / 不能邀请自己"]
                if m == actor.member_id
                else ["not a delegate of this congress / 不是本届职代会代表"]
                for i, m in enumerate(data["invite"])
                if m == actor.member_id or m not in delegates
            }
            if problems:
                raise BadInput("invalid co-signer invitation / 附议邀请有误", fields={"invite": problems})
            invited = [{"member_id": m, "name": delegates[m]} for m in data["invite"]]
        at = self.clock.now()
        doc = {
            "_id": None,
            "number": None,
            "session_id": session_id,
            "congress_id": w["congress_id"],
            "term_id": w["term_id"],
            "union_id": w["union_id"],
            "union_path": w["union_path"],
            "subject": data["subject"],
            "category": data["category"],
            "reasons": data["reasons"],
            "measures": data["measures"],
            "proposer": {"member_id": actor.member_id, "name": actor.name},
            "invited": invited,
            "cosigners": [],
            "cosigner_ids": [],
            "min_cosigners": w["min_cosigners"],
            "state": "draft",
            "review": None,
            "round": 0,
            "rounds": [],
            "departments": {},
            "pending_departments": [],
            "replies": [],
            "ratings": [],
            "rated_keys": [],
            "excellent": False,
            "history": [self._entry("draft", None, "draft", actor, "proposer", at)],
            "created_at": at,
            "submitted_at": None,
            "closed_at": None,
        }
        for _ in range(5):  # a number taken by a concurrent draft (FerretDB's $inc is not isolated): next
            number = self.store.next_number(session_id)
            if number is None:
                raise Conflict("the collection window of this session is not open / 本次会议提案征集未开放")
            doc.update(_id=proposal_id_of(session_id, number), number=number)
            try:
                self.store.insert_proposal(doc)
                break
            except DuplicateKeyError:
                continue
        else:
            raise Conflict("too many proposals at once, please retry / 提交过于集中，请重试")
        if invited:
            self._publish("cosigners_invited", doc, invited_ids=[i["member_id"] for i in invited])
        return self._out(doc, actor, at)

    @rpc
    def cosign(self, proposal_id: str) -> dict:
        """Co-sign (附议) a draft. Delegates of the same congress, while the window is open; not one's own
        proposal (403), not twice (409). Out: :class:`ProposalOut`. Publishes ``proposal_cosigned``."""
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        roles = self._roles(actor, p)
        if "proposer" in roles:
            raise Forbidden("you cannot co-sign your own proposal / 不能附议自己的提案")
        self._check("cosign", p["state"], roles)
        if actor.member_id in p["cosigner_ids"]:
            raise Conflict("you have already co-signed this proposal / 您已附议过该提案")
        if self._window(p["session_id"])["status"] != "open":
            raise Conflict("the collection window of this session is not open / 本次会议提案征集未开放")
        at = self.clock.now()
        me = {"member_id": actor.member_id, "name": actor.name, "at": at}
        doc = self._move(
            p,
            {"cosigner_ids": {"$ne": actor.member_id}},
            {
                "$push": {
                    "cosigners": me,
                    "cosigner_ids": actor.member_id,
                    "history": self._entry("cosign", "draft", "draft", actor, "delegate", at),
                }
            },
        )
        self.store.note_cosigner(actor.member_id, doc["session_id"], doc["_id"])
        self._publish("proposal_cosigned", doc, cosigner_id=actor.member_id)
        return self._out(doc, actor, at)

    @rpc
    def submit(self, proposal_id: str) -> dict:
        """Submit one's draft: only while the session's window is open (409 outside it) and with at least
        the window's minimum of co-signers (409 with ``details`` {cosigners, required, missing}). The
        proposer only (403). Out: :class:`ProposalOut` (``submitted``). Publishes ``proposal_submitted``."""
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        self._check("submit", p["state"], self._roles(actor, p))
        w = self._window(p["session_id"])
        if w["status"] != "open":
            raise Conflict(
                "submission is possible only while the collection window is open / 提案征集期外不能提交",
                details={"status": w["status"]},
            )
        missing = rules.cosigners_missing(len(p["cosigner_ids"]), w["min_cosigners"])
        if missing:
            raise Conflict(
                f"{missing} more co-signer(s) needed / 还需{missing}名代表附议",
                details={
                    "cosigners": len(p["cosigner_ids"]),
                    "required": w["min_cosigners"],
                    "missing": missing,
                },
            )
        at = self.clock.now()
        doc = self._move(
            p,
            {},
            {
                "$set": {"state": "submitted", "submitted_at": at, "min_cosigners": w["min_cosigners"]},
                "$push": {"history": self._entry("submit", "draft", "submitted", actor, "proposer", at)},
            },
        )
        self._publish("proposal_submitted", doc)
        return self._out(doc, actor, at)

    # ----- review, assignment ----------------------------------------------------------------------
    @rpc
    def review(self, proposal_id: str, data: dict) -> dict:
        """Review a submitted proposal: ``accept`` (立案), ``convert`` (转为意见建议) or ``reject`` (不予立案,
        with a written reason). In: :class:`ReviewIn`. Admins of the union (403 for anyone else, e.g. a
        delegate); only a submitted proposal (409). Two admins at once: exactly one wins, the other
        gets 409. Publishes ``proposal_accepted`` / ``proposal_converted`` / ``proposal_rejected``."""
        data = c.ReviewIn().load(data)
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        target = self._check(data["decision"], p["state"], self._roles(actor, p))
        at = self.clock.now()
        review = {
            "decision": data["decision"],
            "reason": data["reason"],
            "by": actor.member_id,
            "by_name": actor.name,
            "at": at,
        }
        doc = self._move(
            p,
            {},
            {
                "$set": {"state": target, "review": review},
                "$push": {
                    "history": self._entry(
                        data["decision"], "submitted", target, actor, "admin", at, data["reason"] or None
                    )
                },
            },
        )
        event = {
            "accept": "proposal_accepted",
            "convert": "proposal_converted",
            "reject": "proposal_rejected",
        }
        self._publish(event[data["decision"]], doc, reason=data["reason"])
        return self._out(doc, actor, at)

    @rpc
    def assign(self, proposal_id: str, data: dict) -> dict:
        """Assign (交办) an accepted proposal to one or more departments of the union with a deadline
        (``deadline_days``, default the window's, 20). In: :class:`AssignIn`. Admins; accepted proposals
        only (409). Errors: BadInput (a department not of this union). Publishes ``proposal_assigned``."""
        data = c.AssignIn().load(data)
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        self._check("assign", p["state"], self._roles(actor, p))
        deps = self._departments(p["union_id"])
        if any(d not in deps for d in data["department_ids"]):  # perhaps new since cached: ask again
            deps = self._departments(p["union_id"], fresh=True)
        unknown = {
            str(i): ["not a department of this union / 非本单位部门"]
            for i, d in enumerate(data["department_ids"])
            if d not in deps
        }
        if unknown:
            raise BadInput("unknown department / 部门不存在", fields={"department_ids": unknown})
        days = data["deadline_days"] or self._window(p["session_id"])["deadline_days"]
        at = self.clock.now()
        first = {
            "round": 1,
            "department_ids": data["department_ids"],
            "assigned_at": at,
            "deadline": rules.deadline_of(at, days),
            "replied_at": None,
        }
        names = "、".join(deps[d] for d in data["department_ids"])
        doc = self._move(
            p,
            {},
            {
                "$set": {
                    "state": "assigned",
                    "round": 1,
                    "rounds": [first],
                    "departments": {d: deps[d] for d in data["department_ids"]},
                    "pending_departments": data["department_ids"],
                },
                "$push": {
                    "history": self._entry(
                        "assign", "accepted", "assigned", actor, "admin", at, f"{names}，{days}天内答复"
                    )
                },
            },
        )
        self.store.add_to_inboxes(data["department_ids"], doc["_id"])
        self.store.watch(doc["_id"])
        self._publish("proposal_assigned", doc, round=1, deadline=iso(first["deadline"]))
        return self._out(doc, actor, at)

    # ----- reply ---------------------------------------------------------------------------------
    @rpc
    def reply(self, proposal_id: str, data: dict) -> dict:
        """A handling department's written reply. In: :class:`ReplyIn` (``text``; ``department_id`` when
        the handler serves several). Handlers only (403 for anyone else); the proposal must be with the
        departments (409, e.g. a rejected one); the department must be one it is assigned to (403) and not
        have replied in this round (409). When the last assigned department has replied, the
        proposal is ``replied`` and ``proposal_replied`` is published."""
        data = c.ReplyIn().load(data)
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        # any handler may learn the state (409 for a proposal not with the departments); only the handler
        # of an assigned department may reply (403). The names were stored at assignment: no members call.
        mine = sorted(actor.scopes("handler"))
        self._check("reply", p["state"], self._roles(actor, p, set(mine)))
        union_deps = p["departments"]
        if data["department_id"]:
            if data["department_id"] not in mine:
                raise Forbidden("you do not handle that department / 您不是该部门的承办人")
            mine = [data["department_id"]]
        current = p["rounds"][-1]
        assigned_mine = [d for d in mine if d in current["department_ids"]]
        if not assigned_mine:
            raise Forbidden(
                "this proposal is not assigned to your department / 该提案未交办给您所在部门",
                details={"department_ids": current["department_ids"]},
            )
        pending = [d for d in assigned_mine if d in p["pending_departments"]]
        if not pending:
            raise Conflict("your department has already replied in this round / 本部门本轮已答复")
        dep = pending[0]
        at = self.clock.now()
        entry = {
            "round": p["round"],
            "department_id": dep,
            "department_name": union_deps[dep],
            "text": data["text"],
            "by": actor.member_id,
            "by_name": actor.name,
            "at": at,
        }
        last = p["pending_departments"] == [dep]
        if last:
            rounds = [*p["rounds"][:-1], {**current, "replied_at": at}]
            doc = self._move(
                p,
                {"round": p["round"], "pending_departments": [dep]},
                {
                    "$set": {"state": "replied", "pending_departments": [], "rounds": rounds},
                    "$push": {
                        "replies": entry,
                        "history": self._entry(
                            "reply", "assigned", "replied", actor, "handler", at, union_deps[dep]
                        ),
                    },
                },
            )
        else:
            doc = self._move(
                p,
                {"round": p["round"], "pending_departments": dep},
                {
                    "$pull": {"pending_departments": dep},
                    "$push": {
                        "replies": entry,
                        "history": self._entry(
                            "reply", "assigned", "assigned", actor, "handler", at, union_deps[dep]
                        ),
                    },
                },
            )
            if not doc["pending_departments"]:  # the others replied meanwhile: this worker completes it
                rounds = [*doc["rounds"][:-1], {**doc["rounds"][-1], "replied_at": at}]
                self._claim(doc)
                done = self.store.move(
                    doc["_id"],
                    {"state": "assigned", "round": doc["round"], "pending_departments": []},
                    {
                        "$set": {"state": "replied", "rounds": rounds},
                        "$push": {
                            "history": self._entry(
                                "replies_complete", "assigned", "replied", actor, "handler", at
                            )
                        },
                    },
                )
                doc, last = (done, True) if done else (doc, False)
        if last:
            self.store.unwatch(doc["_id"])
            self._publish("proposal_replied", doc, round=doc["round"])
        return self._out(doc, actor, at)

    # ----- rating, excellence --------------------------------------------------------------------
    @rpc
    def rate(self, proposal_id: str, data: dict) -> dict:
        """Rate the reply (satisfied / partly / dissatisfied). In: :class:`RateIn`. The proposer and the
        co-signers, once per round each (409 twice). The proposer's rating decides: satisfied or partly →
        ``closed``; dissatisfied → back to the same departments for ONE more round with a new deadline
        (``assigned``, round 2), or ``closed`` if it was already the second round. Co-signers may rate while
        the proposal is replied or closed; their ratings count in the statistics. Publishes
        ``proposal_rated`` and then ``proposal_closed`` or ``proposal_assigned`` (round 2)."""
        data = c.RateIn().load(data)
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        roles = self._roles(actor, p)
        actor.require(
            "cosigner" in roles,
            "only the proposer or a co-signer may rate the reply / 仅提案人或附议人可评价答复",
        )
        r = p["round"]
        key = f"{actor.member_id}:{r}"
        if key in p.get("rated_keys", []):
            raise Conflict("you have already rated this reply / 您已评价过本轮答复")
        at = self.clock.now()
        rating = {
            "round": r,
            "member_id": actor.member_id,
            "name": actor.name,
            "satisfaction": data["satisfaction"],
            "comment": data["comment"],
            "at": at,
        }
        guard = {"round": r, "rated_keys": {"$ne": key}}
        push = {"ratings": rating, "rated_keys": key}
        if "proposer" not in roles:
            if p["state"] not in ("replied", "closed"):
                raise Conflict("there is no reply to rate / 尚无可评价的答复", details={"state": p["state"]})
            doc = self._move(
                p,
                guard,
                {
                    "$push": {
                        **push,
                        "history": self._entry(
                            "rate",
                            p["state"],
                            p["state"],
                            actor,
                            "cosigner",
                            at,
                            c.SATISFACTION_ZH[data["satisfaction"]],
                        ),
                    }
                },
            )
            self._publish(
                "proposal_rated", doc, rater_id=actor.member_id, satisfaction=data["satisfaction"], round=r
            )
            return self._out(doc, actor, at)
        action = rules.rating_move(data["satisfaction"], r)
        target = self._check(action, p["state"], roles)
        note = c.SATISFACTION_ZH[data["satisfaction"]] + (f"：{data['comment']}" if data["comment"] else "")
        history = self._entry(action, "replied", target, actor, "proposer", at, note)
        if action == "return":
            days = self._window(p["session_id"])["deadline_days"]
            again = p["rounds"][-1]["department_ids"]
            nxt = {
                "round": r + 1,
                "department_ids": again,
                "assigned_at": at,
                "deadline": rules.deadline_of(at, days),
                "replied_at": None,
            }
            doc = self._move(
                p,
                guard,
                {
                    "$set": {"state": "assigned", "round": r + 1, "pending_departments": again},
                    "$push": {**push, "rounds": nxt, "history": history},
                },
            )
            self.store.watch(doc["_id"])
            self._publish(
                "proposal_rated", doc, rater_id=actor.member_id, satisfaction=data["satisfaction"], round=r
            )
            self._publish("proposal_assigned", doc, round=r + 1, deadline=iso(nxt["deadline"]))
        else:
            doc = self._move(
                p,
                guard,
                {"$set": {"state": "closed", "closed_at": at}, "$push": {**push, "history": history}},
            )
            self._publish(
                "proposal_rated", doc, rater_id=actor.member_id, satisfaction=data["satisfaction"], round=r
            )
            self._publish("proposal_closed", doc, satisfaction=data["satisfaction"], rounds=r)
        return self._out(doc, actor, at)

    @rpc
    def mark_excellent(self, proposal_id: str) -> dict:
        """Mark a closed proposal excellent (优秀提案). Admins; closed proposals only, once (409).
        Publishes ``proposal_marked_excellent``."""
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        self._check("mark_excellent", p["state"], self._roles(actor, p))
        if p.get("excellent"):
            raise Conflict("already marked excellent / 已评为优秀提案")
        at = self.clock.now()
        doc = self._move(
            p,
            {"excellent": False},
            {
                "$set": {"excellent": True},
                "$push": {"history": self._entry("mark_excellent", "closed", "closed", actor, "admin", at)},
            },
        )
        self._publish("proposal_marked_excellent", doc)
        return self._out(doc, actor, at)

    # ----- reading -------------------------------------------------------------------------------
    @rpc
    def get_proposal(self, proposal_id: str) -> dict:
        """One proposal with its co-signers, review, rounds, replies, ratings and full history
        (:class:`ProposalOut`, ``my_roles`` = the caller's relations to it). Drafts: their proposer,
        invitees, co-signers, the congress's delegates and admins; after submission: members of the union."""
        actor = self.identity.actor
        p = self._proposal(proposal_id)
        roles = self._roles(actor, p)
        if p["state"] == "draft":
            actor.require(
                bool(roles & {"proposer", "cosigner", "invited", "delegate", "admin"}),
                "a draft is seen only by delegates / 草稿仅代表可见",
            )
        else:
            self._require_reader(actor, p)
        return self._out(p, actor)

    @rpc
    def list_session(self, session_id: str, view: str = "public") -> list[dict]:
        """A session's proposals in number order ([:class:`ProposalOut`]). ``view``: ``public`` — accepted
        ones (立案: accepted, assigned, replied, closed) with their replies, for members of the union;
        ``desk`` — everything submitted (not drafts), for admins. Cost: one ``_id`` lookup per proposal."""
        actor = self.identity.actor
        if view not in ("public", "desk"):
            raise BadInput("view: public | desk", fields={"view": ["public | desk"]})
        w = self._window(session_id)
        if view == "desk":
            self._require_admin(actor, w)
            keep = set(rules.STATES) - {"draft"}
        else:
            self._require_reader(actor, w)
            keep = set(rules.ACCEPTED_STATES)
        now = self.clock.now()
        docs = self.store.get_many(self.store.session_ids(session_id))
        return [self._out(p, actor, now) for p in docs if p["state"] in keep]

    @rpc
    def my_proposals(self, session_id: str) -> dict:
        """The caller's proposals of a session and the drafts they are invited to co-sign (or have
        co-signed): ``{"window": WindowOut, "own": [ProposalOut], "invitations": [ProposalOut]}``."""
        actor = self.identity.actor
        window = self.get_window(session_id)
        person = self.store.person(actor.member_id, session_id)
        now = self.clock.now()
        return {
            "window": window,
            "own": [self._out(p, actor, now) for p in self.store.get_many(person.get("own", []))],
            "invitations": [self._out(p, actor, now) for p in self.store.get_many(person.get("invited", []))],
        }

    @rpc
    def inbox(self, department_id: str) -> list[dict]:
        """A department's inbox: every proposal ever assigned to it, the ones awaiting its reply first
        (then by deadline). Handlers of the department and the system. [:class:`ProposalOut`]"""
        actor = self.identity.actor
        actor.require(
            actor.has("handler", str(department_id)),
            "only the department's handlers see its inbox / 仅本部门承办人可查看",
        )
        now = self.clock.now()
        docs = self.store.get_many(self.store.inbox(str(department_id)))
        out = [self._out(p, actor, now) for p in docs]
        return sorted(out, key=lambda p: (department_id not in p["pending_departments"], p["deadline"] or ""))

    @rpc
    def statistics(self, session_id: str) -> dict:
        """Statistics of a session (:class:`StatsOut`, see :func:`rules.session_stats`): submitted,
        accepted, converted, rejected, on-time replies, closed, satisfaction shares, excellent, by
        category. Members of the union, delegates, admins."""
        actor = self.identity.actor
        w = self._window(session_id)
        self._require_reader(actor, w)
        docs = self.store.get_many(self.store.session_ids(session_id))
        return c.StatsOut().dump({"session_id": session_id, **rules.session_stats(docs, self.clock.now())})

    @rpc
    def register(self, session_id: str) -> dict:
        """The session's proposal register (提案登记表) for export: ``{"window": WindowOut, "proposals":
        [ProposalOut]}`` with every submitted proposal. Admins."""
        actor = self.identity.actor
        w = self._window(session_id)
        self._require_admin(actor, w)
        now = self.clock.now()
        docs = self.store.get_many(self.store.session_ids(session_id))
        return {
            "window": self._window_out(w),
            "proposals": [self._out(p, actor, now) for p in docs if p["state"] != "draft"],
        }

    # ----- reminders -----------------------------------------------------------------------------
    @ReminderTimer.decorator(interval=DEFAULT_REMINDER_INTERVAL_S)
    def remind(self) -> None:
        """Timer: publish ``proposal_overdue`` for assigned proposals past or near their deadline."""
        self.identity.act_as_service()
        result = self._send_reminders(self.clock.now())
        if result["published"]:
            log.info("proposal reminders: %s", result)

    @rpc
    def send_reminders(self, at: str | None = None) -> dict:
        """Run the reminder round now (as the timer does), at ``at`` (ISO 8601, default now). System only.
        Out: ``{"checked", "published", "day"}``."""
        actor = self.identity.actor
        actor.require(actor.is_system, "system only / 仅限系统")
        try:
            when = datetime.fromisoformat(at) if at else self.clock.now()
        except (TypeError, ValueError):
            raise BadInput("at: an ISO 8601 time / 时间格式有误", fields={"at": ["ISO 8601"]}) from None
        if when.tzinfo is None:
            raise BadInput("at: give a time zone / 须带时区", fields={"at": ["needs a time zone"]})
        return self._send_reminders(when)

    def _send_reminders(self, when: datetime) -> dict:
        """One ``proposal_overdue`` per proposal per China calendar day: the reminder's record
        (``<proposal>:<day>``) is inserted first, and only the insert that succeeds publishes, so timer
        ticks, redeliveries and several instances never send a second one that day."""
        day = rules.reminder_day(when).isoformat()
        checked = published = 0
        for pid in self.store.watched():
            p = self.store.get(pid)
            if p is None or p["state"] != "assigned":
                self.store.unwatch(pid)
                continue
            checked += 1
            deadline = p["rounds"][-1]["deadline"]
            kind = rules.reminder_kind(deadline, when)
            if kind and self.store.first_reminder(pid, day, kind, when):
                published += 1
                self._publish(
                    "proposal_overdue",
                    p,
                    overdue=kind == "overdue",
                    days_left=rules.days_left(deadline, when),
                    deadline=iso(deadline),
                    round=p["round"],
                    pending_department_ids=list(p["pending_departments"]),
                    day=day,
                )
        return {"checked": checked, "published": published, "day": day}

    # ----- operators -----------------------------------------------------------------------------
    @rpc
    def backdate(self, proposal_id: str, days: int) -> dict:
        """Move every time of a proposal ``days`` into the past (history, rounds and deadlines, replies,
        ratings): for taking over records of proposals handled before this system, and for the demo.
        System only. Out: :class:`ProposalOut`. Errors: BadInput (days not 1-3650), Conflict (changed)."""
        actor = self.identity.actor
        actor.require(actor.is_system, "system only / 仅限系统")
        if not isinstance(days, int) or not 0 < days <= 3650:
            raise BadInput("days: 1-3650", fields={"days": ["1-3650"]})
        p = self._proposal(proposal_id)
        shifted = _shift(p, timedelta(days=days))
        if not self.store.replace(shifted, p["state"]):
            raise Conflict(CHANGED)
        return self._out(shifted, actor)

    @rpc
    def rebuild_indexes(self) -> dict:
        """Rebuild the derived lists (sessions, people, inboxes, the timer's watch list) from the
        proposals. System only."""
        actor = self.identity.actor
        actor.require(actor.is_system, "system only / 仅限系统")
        return self.store.rebuild_indexes()
