"""Use cases of the proposals service: functions of (store, actor, clock, input[, peers]).

Each asks :mod:`.policy` first (403), reads what the decision needs, applies :mod:`.rules` (409 with the
numbers) and commits ONE guarded, versioned write with its events in the document's outbox
(``store.change`` / ``store.create``; docs/architecture.md "Changing state"), and, for a change made
by a person, its audit entry (:func:`audit`; "The audit log"). A proposal's transition
is guarded by its ``_v`` as read: someone else moving it first gets :data:`CHANGED` (409) and nothing is
written. Derived lists (a member's page, a department's inbox, the reminder watch list) are written
just before the commit point and are filtered on read, so a crash or an outage between the two leaves
nothing wrong behind (store.py). The service relays the committed events (``relay_mine``) and dumps
the result (views.py). No nameko here; the other services are reached through :class:`Peers`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.contracts import proposals as c
from dmlib.errors import BadInput, Conflict, NotFound
from dmlib.schemas import iso, page_out
from dmlib.state import event, request_key

from . import policy, rules
from .store import PROPOSALS, REMINDERS, WINDOWS, proposal_id

Clock = Callable[[], datetime]

CHANGED = "the proposal was changed by someone else just now; reload / 提案刚被他人处理，请刷新后重试"
NOT_OPEN = "the collection window of this session is not open / 本次会议提案征集未开放"


class Peers(Protocol):
    """What the use cases ask other services (congress, members)."""

    def session(self, session_id: str) -> dict:
        """A congress session: ``union_id``, ``congress_id``, ``term_id``, ``title`` (NotFound)."""

    def union(self, union_id: str) -> dict:
        """A union: ``id``, ``path``, ``name``."""

    def delegates(self, term_id: str) -> dict[str, str]:
        """``{member id: name}`` of a term's delegates."""

    def departments(self, union_id: str, fresh: bool = False) -> dict[str, str]:
        """``{department id: name}`` of a union (``fresh``: not from a cache)."""


# ----- loading, shared pieces --------------------------------------------------------------------------
def load_window(store, session_id: str) -> dict:
    w = store.get_window(session_id) if isinstance(session_id, str) else None
    if w is None:
        raise NotFound(
            f"no proposal window for session {session_id} / 该会议尚未开启提案征集",
            details={"session_id": session_id},
        )
    return w


def load_proposal(store, pid: str) -> dict:
    p = store.get(pid) if isinstance(pid, str) else None
    if p is None:
        raise NotFound(f"no proposal {pid} / 提案不存在", details={"proposal_id": pid})
    return p


def check_state(action: str, state: str) -> str:
    """:func:`rules.check_state` with its refusal as Conflict (409)."""
    try:
        return rules.check_state(action, state)
    except rules.RuleError as exc:
        raise Conflict(
            exc.message, details={"action": action, "state": state}, reason="proposal_moved_on"
        ) from None


def entry(action: str, src: str | None, dst: str, actor: Actor, role: str, at: datetime, note=None) -> dict:
    """One history entry: who (member id, name, role) did what, from which state to which, when."""
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


def proposal_event(name: str, p: dict, **extra: Any) -> dict:
    """An event about proposal ``p`` (as it is after the change) with the ids a notifier needs
    (docs/events.md)."""
    return event(
        name,
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


def audit(
    actor: Actor, action: str, object_type: str, object_id: str, scoped: dict, role: str | None = None, **kw
) -> Audit | None:
    """:func:`dmlib.audit.by_person` for ``proposals.<action>`` in the chain of the union of ``scoped``
    (a window or a proposal); ``role`` the role it was allowed under (``delegate``, ``handler``)."""
    return by_person(
        actor,
        f"proposals.{action}",
        object_type,
        object_id,
        scoped["union_id"],
        scoped["union_path"],
        role,
        **kw,
    )


def proposal_audit(actor: Actor, action: str, p: dict, role: str | None = None, **kw) -> Audit | None:
    """:func:`audit` of a change to proposal ``p`` (recording ``state`` unless ``fields`` says)."""
    kw.setdefault("fields", ("state",))
    return audit(actor, action, "proposal", p["_id"], p, role, **kw)


def commit(
    store,
    p: dict,
    changes: dict,
    events: Callable[[dict], list] = lambda after: [],
    record: Audit | None = None,
) -> dict:
    """The transition of proposal ``p``: ``changes`` applied if it is unchanged since read (its ``_v``),
    with ``events(the proposal after)`` and the audit entry of ``record`` in its outbox, in one write.
    Conflict (:data:`CHANGED`) when someone else moved it first."""
    after = {**p, **changes}
    return store.change(
        PROPOSALS,
        p["_id"],
        expect={"_v": p.get("_v")},
        set=changes,
        events=events(after),
        conflict=lambda current: Conflict(
            CHANGED, details={"proposal_id": p["_id"], "expected_state": p["state"]}, reason="stale"
        ),
        audit=record,
    )


# ----- collection windows ------------------------------------------------------------------------------
#: What a window's audit entries record besides its status: its rules (data: :class:`WindowIn`).
WINDOW_RULES = ("min_cosigners", "deadline_days")


def open_window(store, actor: Actor, clock: Clock, peers: Peers, session_id: str, data: dict) -> dict:
    """Open (or re-open) a session's window (data: :class:`WindowIn`, loaded). Returns the window."""
    session = peers.session(session_id)
    union = peers.union(session["union_id"])
    policy.require_admin(actor, {"union_id": union["id"], "union_path": union["path"]})
    fields = {
        "congress_id": session["congress_id"],
        "term_id": session["term_id"],
        "union_id": union["id"],
        "union_path": union["path"],
        "union_name": union["name"],
        "session_title": session["title"],
        **data,
        "status": "open",
        "opened_at": clock(),
        "opened_by": actor.member_id,
        "closed_at": None,
    }
    opened = event(
        "proposal_window_opened",
        session_id=session_id,
        congress_id=fields["congress_id"],
        union_id=fields["union_id"],
        term_id=fields["term_id"],
        min_cosigners=fields["min_cosigners"],
    )
    record = audit(actor, "window_opened", "window", session_id, fields, fields=("status", *WINDOW_RULES))
    if store.get_window(session_id) is None:
        doc = {"_id": session_id, **fields, "seq": 0}
        created = store.create_new(WINDOWS, doc, events=[opened], audit=record)
        if created is not None:
            return created
    # re-opening keeps ``seq`` (the session's proposals); opening is idempotent, so unconditional
    return store.change(WINDOWS, session_id, expect={}, set=fields, events=[opened], audit=record)


def close_window(store, actor: Actor, clock: Clock, session_id: str) -> dict:
    """Close a session's window (Conflict when it is not open). Returns the window."""
    w = load_window(store, session_id)
    policy.require_admin(actor, w)
    return store.change(
        WINDOWS,
        session_id,
        expect={"status": "open"},
        set={"status": "closed", "closed_at": clock(), "closed_by": actor.member_id},
        events=[
            event(
                "proposal_window_closed",
                session_id=session_id,
                congress_id=w["congress_id"],
                union_id=w["union_id"],
            )
        ],
        conflict=lambda current: Conflict(
            "the collection window is not open / 提案征集未在进行中",
            details={"status": current["status"]},
            reason="window_not_open",
        ),
        audit=audit(actor, "window_closed", "window", session_id, w, fields=("status",)),
    )


def get_window(store, actor: Actor, peers: Peers, session_id: str) -> dict:
    """A session's window; one with ``status`` ``none`` and the defaults when never opened (the session
    is then read from congress, which checks that the caller may see it)."""
    w = store.get_window(session_id) if isinstance(session_id, str) else None
    if w is None:
        s = peers.session(session_id)
        return {
            "_id": session_id,
            "congress_id": s["congress_id"],
            "union_id": s["union_id"],
            "term_id": s["term_id"],
            "session_title": s["title"],
            "status": "none",
            "min_cosigners": rules.DEFAULT_MIN_COSIGNERS,
            "deadline_days": rules.DEFAULT_DEADLINE_DAYS,
            "seq": 0,
        }
    policy.require_reader(actor, w)
    return w


def list_windows(store, actor: Actor, congress_id: str) -> list[dict]:
    """A congress's windows, newest session first (empty when none was opened)."""
    windows = store.windows_of(str(congress_id))
    if windows:
        policy.require_reader(actor, windows[0])
    return sorted(windows, key=lambda w: w["_id"], reverse=True)


# ----- drafting, co-signing, submitting ------------------------------------------------------------
def create_proposal(store, actor: Actor, clock: Clock, peers: Peers, session_id: str, data: dict) -> dict:
    """Draft a proposal (data: :class:`ProposalIn`, loaded) in an open window; invitees must be delegates
    of the term and not the proposer (BadInput per position). Takes the window's next number (one
    ``$inc`` guarded by the window being open), lists the draft on the people's pages, then creates it
    with ``cosigners_invited`` when someone was invited (the commit point). Once per ``client_key`` (a
    retried draft returns the proposal drafted first: :meth:`Store.once`)."""
    w = load_window(store, session_id)
    policy.require_drafter(actor, w)
    if w["status"] != "open":
        raise Conflict(NOT_OPEN, details={"status": w["status"]}, reason="collection_closed")
    invited = []
    if data["invite"]:
        delegates = peers.delegates(w["term_id"])
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

    def create() -> dict:
        at = clock()
        number = store.change(
            WINDOWS,
            session_id,
            expect={"status": "open"},
            inc={"seq": 1},
            conflict=lambda current: Conflict(
                NOT_OPEN, details={"status": current["status"]}, reason="collection_closed"
            ),
        )["seq"]
        pid = proposal_id(session_id, number)
        store.note_person(actor.member_id, session_id, "own", pid)
        for i in invited:
            store.note_person(i["member_id"], session_id, "invited", pid)
        doc = {
            "_id": pid,
            "number": number,
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
            "history": [entry("draft", None, "draft", actor, "proposer", at)],
            "created_at": at,
            "submitted_at": None,
            "closed_at": None,
        }
        events = (
            [proposal_event("cosigners_invited", doc, invited_ids=[i["member_id"] for i in invited])]
            if invited
            else []
        )
        record = proposal_audit(
            actor,
            "proposal_drafted",
            doc,
            "delegate",
            fields=("subject", "category", "state"),
            note={"invited": [i["member_id"] for i in invited]} if invited else None,
        )
        created = store.create_new(PROPOSALS, doc, events=events, audit=record)
        if created is None:  # the number was given once by the window's guarded $inc: not expected
            raise Conflict(
                "this proposal number is taken, please retry / 提案编号冲突，请重试",
                details={"id": pid},
                reason="stale",
            )
        return created

    return store.once(
        request_key(actor.member_id, data.get("client_key")), PROPOSALS, create, lambda first: first
    )


def cosign(store, actor: Actor, clock: Clock, pid: str) -> dict:
    """Co-sign a draft: a delegate of the congress, not the proposer, once, while the window is open."""
    p = load_proposal(store, pid)
    policy.require_cosigner(policy.relations(actor, p))
    check_state("cosign", p["state"])
    if actor.member_id in p["cosigner_ids"]:
        raise Conflict(
            "you have already co-signed this proposal / 您已附议过该提案", reason="already_cosigned"
        )
    if load_window(store, p["session_id"])["status"] != "open":
        raise Conflict(NOT_OPEN, reason="collection_closed")
    at = clock()
    store.note_person(actor.member_id, p["session_id"], "invited", pid)
    return commit(
        store,
        p,
        {
            "cosigners": [*p["cosigners"], {"member_id": actor.member_id, "name": actor.name, "at": at}],
            "cosigner_ids": [*p["cosigner_ids"], actor.member_id],
            "history": [*p["history"], entry("cosign", "draft", "draft", actor, "delegate", at)],
        },
        lambda after: [proposal_event("proposal_cosigned", after, cosigner_id=actor.member_id)],
        proposal_audit(actor, "proposal_cosigned", p, "delegate", fields=("cosigner_ids",)),
    )


def submit(store, actor: Actor, clock: Clock, pid: str) -> dict:
    """Submit one's draft while the window is open with at least its minimum of co-signers (409 with
    {cosigners, required, missing})."""
    p = load_proposal(store, pid)
    policy.require_move("submit", policy.relations(actor, p))
    check_state("submit", p["state"])
    w = load_window(store, p["session_id"])
    if w["status"] != "open":
        raise Conflict(
            "submission is possible only while the collection window is open / 提案征集期外不能提交",
            details={"status": w["status"]},
            reason="collection_closed",
        )
    missing = rules.cosigners_missing(len(p["cosigner_ids"]), w["min_cosigners"])
    if missing:
        raise Conflict(
            f"{missing} more co-signer(s) needed / 还需{missing}名代表附议",
            details={"cosigners": len(p["cosigner_ids"]), "required": w["min_cosigners"], "missing": missing},
            reason="cosigners_needed",
        )
    at = clock()
    return commit(
        store,
        p,
        {
            "state": "submitted",
            "submitted_at": at,
            "min_cosigners": w["min_cosigners"],
            "history": [*p["history"], entry("submit", "draft", "submitted", actor, "proposer", at)],
        },
        lambda after: [proposal_event("proposal_submitted", after)],
        proposal_audit(actor, "proposal_submitted", p, "delegate"),
    )


# ----- review, assignment --------------------------------------------------------------------------
REVIEW_EVENTS = {
    "accept": "proposal_accepted",
    "convert": "proposal_converted",
    "reject": "proposal_rejected",
}


def review(store, actor: Actor, clock: Clock, pid: str, data: dict) -> dict:
    """Accept, convert or reject a submitted proposal (data: :class:`ReviewIn`, loaded)."""
    p = load_proposal(store, pid)
    decision = data["decision"]
    policy.require_move(decision, policy.relations(actor, p))
    target = check_state(decision, p["state"])
    at = clock()
    review_ = {
        "decision": decision,
        "reason": data["reason"],
        "by": actor.member_id,
        "by_name": actor.name,
        "at": at,
    }
    return commit(
        store,
        p,
        {
            "state": target,
            "review": review_,
            "history": [
                *p["history"],
                entry(decision, "submitted", target, actor, "admin", at, data["reason"] or None),
            ],
        },
        lambda after: [proposal_event(REVIEW_EVENTS[decision], after, reason=data["reason"])],
        proposal_audit(actor, REVIEW_EVENTS[decision], p, note={"reason": data["reason"] or None}),
    )


def assign(store, actor: Actor, clock: Clock, peers: Peers, pid: str, data: dict) -> dict:
    """Assign an accepted proposal to departments of its union with a deadline (data: :class:`AssignIn`,
    loaded; ``deadline_days`` default the window's). BadInput for a department not of the union."""
    p = load_proposal(store, pid)
    policy.require_move("assign", policy.relations(actor, p))
    check_state("assign", p["state"])
    deps = peers.departments(p["union_id"])
    if any(d not in deps for d in data["department_ids"]):  # perhaps new since cached: ask again
        deps = peers.departments(p["union_id"], fresh=True)
    unknown = {
        str(i): ["not a department of this union / 非本单位部门"]
        for i, d in enumerate(data["department_ids"])
        if d not in deps
    }
    if unknown:
        raise BadInput("unknown department / 部门不存在", fields={"department_ids": unknown})
    days = data["deadline_days"] or load_window(store, p["session_id"])["deadline_days"]
    at = clock()
    first = {
        "round": 1,
        "department_ids": data["department_ids"],
        "assigned_at": at,
        "deadline": rules.deadline_of(at, days),
        "replied_at": None,
    }
    names = "、".join(deps[d] for d in data["department_ids"])
    store.add_to_inboxes(data["department_ids"], pid)
    store.watch(pid, at)
    return commit(
        store,
        p,
        {
            "state": "assigned",
            "round": 1,
            "rounds": [first],
            "departments": {d: deps[d] for d in data["department_ids"]},
            "pending_departments": data["department_ids"],
            "history": [
                *p["history"],
                entry("assign", "accepted", "assigned", actor, "admin", at, f"{names}，{days}天内答复"),
            ],
        },
        lambda after: [proposal_event("proposal_assigned", after, round=1, deadline=iso(first["deadline"]))],
        proposal_audit(
            actor,
            "proposal_assigned",
            p,
            fields=("state", "round", "pending_departments"),
            note={"deadline_days": days},
        ),
    )


# ----- reply -------------------------------------------------------------------------------------
def reply(store, actor: Actor, clock: Clock, pid: str, data: dict) -> dict:
    """A department's written reply (data: :class:`ReplyIn`, loaded). Any handler learns the state
    (409); only a handler of an assigned department replies (403), once per round (409). The last
    department's reply makes the proposal ``replied`` and commits ``proposal_replied``."""
    p = load_proposal(store, pid)
    policy.require_move("reply", policy.relations(actor, p, handler_of=actor.scopes("handler")))
    check_state("reply", p["state"])
    current = p["rounds"][-1]
    ours = policy.replying_departments(actor, data["department_id"], current["department_ids"])
    pending = [d for d in ours if d in p["pending_departments"]]
    if not pending:
        raise Conflict(
            "your department has already replied in this round / 本部门本轮已答复", reason="already_replied"
        )
    dep = pending[0]
    names = p["departments"]
    at = clock()
    answer = {
        "round": p["round"],
        "department_id": dep,
        "department_name": names[dep],
        "text": data["text"],
        "by": actor.member_id,
        "by_name": actor.name,
        "at": at,
    }
    remaining = [d for d in p["pending_departments"] if d != dep]
    target = "assigned" if remaining else "replied"
    record = proposal_audit(
        actor,
        "proposal_replied",
        p,
        "handler",
        fields=("state", "pending_departments"),
        note={"department_id": dep, "round": p["round"]},
    )
    changes: dict[str, Any] = {
        "pending_departments": remaining,
        "replies": [*p["replies"], answer],
        "history": [*p["history"], entry("reply", "assigned", target, actor, "handler", at, names[dep])],
    }
    if remaining:
        return commit(store, p, changes, record=record)
    changes |= {"state": "replied", "rounds": [*p["rounds"][:-1], {**current, "replied_at": at}]}
    after = commit(
        store,
        p,
        changes,
        lambda after: [proposal_event("proposal_replied", after, round=p["round"])],
        record,
    )
    store.unwatch(pid)  # tidying only: the reminder round drops a proposal no longer assigned anyway
    return after


# ----- rating, excellence ------------------------------------------------------------------------
def rate(store, actor: Actor, clock: Clock, pid: str, data: dict) -> dict:
    """Rate the reply (data: :class:`RateIn`, loaded): the proposer and the co-signers, once per round
    each. The proposer's rating decides (:func:`rules.rating_move`): closed, or back to the same
    departments for one more round with a new deadline. Co-signers rate a replied or closed proposal."""
    p = load_proposal(store, pid)
    roles = policy.relations(actor, p)
    policy.require_rater(actor, roles)
    r = p["round"]
    key = f"{actor.member_id}:{r}"
    if key in p.get("rated_keys", []):
        raise Conflict("you have already rated this reply / 您已评价过本轮答复", reason="already_rated")
    at = clock()
    satisfaction = data["satisfaction"]
    rating = {
        "round": r,
        "member_id": actor.member_id,
        "name": actor.name,
        "satisfaction": satisfaction,
        "comment": data["comment"],
        "at": at,
    }
    changes: dict[str, Any] = {
        "ratings": [*p.get("ratings", []), rating],
        "rated_keys": [*p.get("rated_keys", []), key],
    }

    record = proposal_audit(
        actor,
        "proposal_rated",
        p,
        "delegate",
        fields=("state", "round"),
        note={"satisfaction": satisfaction, "round": r},
    )

    def rated(after: dict) -> dict:
        return proposal_event(
            "proposal_rated", after, rater_id=actor.member_id, satisfaction=satisfaction, round=r
        )

    if "proposer" not in roles:
        if p["state"] not in ("replied", "closed"):
            raise Conflict(
                "there is no reply to rate / 尚无可评价的答复",
                details={"state": p["state"]},
                reason="no_reply_yet",
            )
        note = c.SATISFACTION_ZH[satisfaction]
        changes["history"] = [
            *p["history"],
            entry("rate", p["state"], p["state"], actor, "cosigner", at, note),
        ]
        return commit(store, p, changes, lambda after: [rated(after)], record)
    action = rules.rating_move(satisfaction, r)
    policy.require_move(action, roles)
    target = check_state(action, p["state"])
    note = c.SATISFACTION_ZH[satisfaction] + (f"：{data['comment']}" if data["comment"] else "")
    changes["history"] = [*p["history"], entry(action, "replied", target, actor, "proposer", at, note)]
    if action == "return":
        again = p["rounds"][-1]["department_ids"]
        deadline = rules.deadline_of(at, load_window(store, p["session_id"])["deadline_days"])
        nxt = {
            "round": r + 1,
            "department_ids": again,
            "assigned_at": at,
            "deadline": deadline,
            "replied_at": None,
        }
        changes |= {
            "state": "assigned",
            "round": r + 1,
            "pending_departments": again,
            "rounds": [*p["rounds"], nxt],
        }
        store.watch(pid, at)
        return commit(
            store,
            p,
            changes,
            lambda after: [
                rated(after),
                proposal_event("proposal_assigned", after, round=r + 1, deadline=iso(deadline)),
            ],
            record,
        )
    changes |= {"state": "closed", "closed_at": at}
    return commit(
        store,
        p,
        changes,
        lambda after: [
            rated(after),
            proposal_event("proposal_closed", after, satisfaction=satisfaction, rounds=r),
        ],
        record,
    )


def mark_excellent(store, actor: Actor, clock: Clock, pid: str) -> dict:
    """Mark a closed proposal excellent, once (409)."""
    p = load_proposal(store, pid)
    policy.require_move("mark_excellent", policy.relations(actor, p))
    check_state("mark_excellent", p["state"])
    if p.get("excellent"):
        raise Conflict("already marked excellent / 已评为优秀提案", reason="already_excellent")
    at = clock()
    return commit(
        store,
        p,
        {
            "excellent": True,
            "history": [*p["history"], entry("mark_excellent", "closed", "closed", actor, "admin", at)],
        },
        lambda after: [proposal_event("proposal_marked_excellent", after)],
        proposal_audit(actor, "proposal_marked_excellent", p, fields=("excellent",)),
    )


# ----- reading -----------------------------------------------------------------------------------
def get_proposal(store, actor: Actor, pid: str) -> dict:
    p = load_proposal(store, pid)
    policy.require_see_proposal(actor, p)
    return p


def list_session(store, actor: Actor, session_id: str, view: str) -> list[dict]:
    """``public``: accepted proposals, for readers; ``desk``: everything submitted, for admins."""
    if view not in ("public", "desk"):
        raise BadInput("view: public | desk", fields={"view": ["public | desk"]})
    w = load_window(store, session_id)
    if view == "desk":
        policy.require_admin(actor, w)
        keep = set(rules.STATES) - {"draft"}
    else:
        policy.require_reader(actor, w)
        keep = set(rules.ACCEPTED_STATES)
    return [p for p in store.get_many(store.session_ids(session_id)) if p["state"] in keep]


def my_proposals(store, actor: Actor, peers: Peers, session_id: str) -> tuple[dict, list[dict], list[dict]]:
    """(the window, the caller's own proposals, the drafts they are invited to or co-signed). Entries a
    write listed before a commit that never came are left out here."""
    window = get_window(store, actor, peers, session_id)
    person = store.person(actor.member_id, session_id)
    me = actor.member_id
    own = [p for p in store.get_many(person.get("own", [])) if p["proposer"]["member_id"] == me]
    invitations = [
        p
        for p in store.get_many(person.get("invited", []))
        if me in p.get("cosigner_ids", []) or me in {i["member_id"] for i in p.get("invited", [])}
    ]
    return window, own, invitations


def inbox(store, actor: Actor, department_id: str) -> list[dict]:
    """Every proposal ever assigned to the department, those awaiting its reply first, then by deadline."""
    department_id = str(department_id)
    policy.require_handles(actor, department_id)
    docs = [
        p
        for p in store.get_many(store.inbox(department_id))
        if any(department_id in r["department_ids"] for r in p.get("rounds", []))
    ]
    return sorted(
        docs,
        key=lambda p: (
            department_id not in p["pending_departments"],
            iso(p["rounds"][-1]["deadline"]) if p.get("rounds") else "",
        ),
    )


NEEDS_LIMIT = 20
#: Proposals still with the union or the departments (neither drafts nor settled): the desks' open work.
OPEN_STATES = ("submitted", "accepted", "assigned", "replied")


def needs_of(store, actor: Actor, clock: Clock) -> dict:
    """What needs the caller among proposals (issue 16, :mod:`dmlib.contracts.needs`), by
    :func:`policy.needs_scopes`:

    - items, for a delegate, in the open collection windows of their congresses: ``proposal_cosign``
      (drafts they are invited to co-sign and have not), ``proposal_draft`` (their own drafts not yet
      submitted); and, in any window, ``proposal_rate`` (replies to their proposals, or ones they
      co-signed, that they have not rated); ``scope`` is the session, ``at`` the draft's or reply's time;
    - queues, per department they handle: ``proposals_to_reply`` (awaiting its reply; ``oldest_at`` the
      oldest assignment, ``overdue`` past the deadline, :func:`rules.reminder_kind`); per union they
      administer or below with a window: ``proposals_to_review`` (submitted, not reviewed; ``oldest_at``
      the oldest submission) and ``proposals_open`` (submitted, accepted, assigned or replied;
      ``overdue`` those with a department past its deadline).
    Cost: one lookup per proposal of the sessions concerned (60 a session)."""
    congresses, departments, unions = policy.needs_scopes(actor)
    now, me = clock(), actor.member_id
    items: list[dict] = []
    for congress_id in sorted(congresses):
        for w in store.windows_of(congress_id):
            person = store.person(me, w["_id"])
            for p in store.get_many([*person.get("own", []), *person.get("invited", [])]):
                mine = p["proposer"]["member_id"] == me
                raters = {p["proposer"]["member_id"], *p.get("cosigner_ids", [])}
                kind = None
                if w["status"] == "open" and p["state"] == "draft":
                    if mine:
                        kind = "proposal_draft"
                    elif me in {i["member_id"] for i in p.get("invited", [])} and me not in p.get(
                        "cosigner_ids", []
                    ):
                        kind = "proposal_cosign"
                elif p["state"] == "replied" and me in raters and not _rated(p, me):
                    kind = "proposal_rate"
                if kind:
                    at = p["replies"][-1].get("at") if kind == "proposal_rate" and p.get("replies") else None
                    items.append(
                        {
                            "kind": kind,
                            "id": p["_id"],
                            "title": p["subject"],
                            "union_id": p["union_id"],
                            "scope": p["session_id"],
                            "at": at or p["created_at"],
                        }
                    )
    queues: list[dict] = []
    for dep in sorted(departments):
        waiting = [
            p for p in store.get_many(store.inbox(dep)) if dep in p["pending_departments"] and p.get("rounds")
        ]
        queues.append(
            {
                "kind": "proposals_to_reply",
                "scope": dep,
                "scope_name": _department_name(waiting, dep),
                "union_id": waiting[0]["union_id"] if waiting else None,
                "count": len(waiting),
                "oldest_at": min((p["rounds"][-1]["assigned_at"] for p in waiting), default=None),
                "overdue": sum(1 for p in waiting if _overdue(p, now)),
            }
        )
    by_union: dict[str, list[dict]] = {}
    names: dict[str, str] = {}
    for w in store.windows_under(unions):
        if not policy.may_administer(actor, w):
            continue
        names[w["union_id"]] = w.get("union_name", "")
        docs = store.get_many(store.session_ids(w["_id"]))
        by_union.setdefault(w["union_id"], []).extend(p for p in docs if p["state"] in OPEN_STATES)
    for uid in sorted(by_union):
        open_ = by_union[uid]
        review = [p for p in open_ if p["state"] == "submitted"]
        base = {"scope": uid, "scope_name": names[uid], "union_id": uid}
        queues.append(
            {
                **base,
                "kind": "proposals_to_review",
                "count": len(review),
                "oldest_at": min((p["submitted_at"] for p in review if p.get("submitted_at")), default=None),
            }
        )
        queues.append(
            {
                **base,
                "kind": "proposals_open",
                "count": len(open_),
                "overdue": sum(1 for p in open_ if _overdue(p, now)),
            }
        )
    return {"items": items[: NEEDS_LIMIT * 3], "queues": queues}


def _rated(p: dict, member_id: str) -> bool:
    """Whether the member rated the current round's reply (the keys :func:`rate` records)."""
    return f"{member_id}:{p['round']}" in p.get("rated_keys", [])


def _overdue(p: dict, now: datetime) -> bool:
    """A department still owes its reply past the current round's deadline."""
    rounds = p.get("rounds") or []
    return bool(
        rounds
        and p.get("pending_departments")
        and rules.reminder_kind(rounds[-1]["deadline"], now) == "overdue"
    )


def _department_name(docs: list[dict], dep: str) -> str:
    return next((p["departments"][dep] for p in docs if dep in p.get("departments", {})), "")


def queue(store, actor: Actor, query: dict) -> dict:
    """A page of a proposal queue (issue 16, "Queues"): the review desk of a session (``session_id``:
    every submitted proposal, not drafts; admins of its union or above) or a department's inbox
    (``department_id``: every proposal ever assigned to it; its handlers). Filters ``state``,
    ``awaiting`` (inbox: awaiting this department's reply), ``q`` (a number, or text in the subject or
    the proposer's name, case-folded), ``sort`` (:data:`c.QUEUE_SORTS`, ending with the number: a stable
    order), ``page``/``per_page`` (≤ :data:`c.QUEUE_PAGE_MAX`).

    Out: ``page_out`` of proposal documents plus ``counts`` (the whole queue per state), ``awaiting``
    and ``department`` ``{id, name}`` (the inbox's department, named as the assignment named it).
    Cost: one ``_id`` lookup per proposal of the session or the inbox (hundreds at most), then a sort
    in memory: no scan, no server-side sort (FerretDB sorts by scanning, docs/storage.md)."""
    session_id, dep = query.get("session_id"), query.get("department_id")
    if session_id:
        w = load_window(store, session_id)
        policy.require_admin(actor, w)
        docs = [p for p in store.get_many(store.session_ids(session_id)) if p["state"] != "draft"]
        default_sort = "number"
    else:
        dep = str(dep)
        policy.require_handles(actor, dep)
        docs = [
            p
            for p in store.get_many(store.inbox(dep))
            if any(dep in r["department_ids"] for r in p.get("rounds", []))
        ]
        default_sort = "awaiting"
    counts: dict[str, int] = {}
    for p in docs:
        counts[p["state"]] = counts.get(p["state"], 0) + 1
    waiting = [p for p in docs if dep and dep in p.get("pending_departments", [])]
    kept = rules.queue_filter(docs, state=query.get("state"), q=query.get("q"))
    if dep and query.get("awaiting") is not None:
        kept = [p for p in kept if (dep in p.get("pending_departments", [])) == query["awaiting"]]
    sort = query.get("sort") or default_sort
    kept = rules.queue_sorted(kept, sort, dep)
    page, per_page = query.get("page", 1), query.get("per_page", 20)
    start = (page - 1) * per_page
    department = None
    if dep:
        names = next((p["departments"] for p in docs if dep in p.get("departments", {})), {})
        department = {"id": dep, "name": names.get(dep, dep)}
    return {
        **page_out(kept[start : start + per_page], len(kept), page, per_page),
        "counts": counts,
        "awaiting": len(waiting),
        "sort": sort,
        "department": department,
    }


def statistics(store, actor: Actor, clock: Clock, session_id: str) -> dict:
    """:func:`rules.session_stats` of a session's proposals, for its readers."""
    w = load_window(store, session_id)
    policy.require_reader(actor, w)
    return rules.session_stats(store.get_many(store.session_ids(session_id)), clock())


def register(store, actor: Actor, session_id: str) -> tuple[dict, list[dict]]:
    """(the window, every submitted proposal): the register, for admins."""
    w = load_window(store, session_id)
    policy.require_admin(actor, w)
    return w, [p for p in store.get_many(store.session_ids(session_id)) if p["state"] != "draft"]


# ----- reminders, operators ------------------------------------------------------------------------
#: How long a watch-list entry is kept for a proposal not (yet) assigned: the watch is written just
#: before the assignment commits, so a reminder round between the two must not drop it.
WATCH_GRACE = timedelta(minutes=10)


def reminder_round(store, when: datetime) -> dict:
    """One ``proposal_overdue`` per assigned proposal past or near its deadline per China day: the day's
    reminder document (``<proposal>:<day>``) is created with the event in its outbox, and a second
    creation that day finds it there, so ticks, redeliveries and several instances never send twice.
    Out: ``{"checked", "published", "day"}``."""
    day = rules.reminder_day(when).isoformat()
    checked = published = 0
    for pid in store.watched():
        p = store.get(pid)
        if p is None or p["state"] != "assigned":
            store.unwatch(pid, before=when - WATCH_GRACE)  # not one still being assigned
            continue
        checked += 1
        deadline = p["rounds"][-1]["deadline"]
        kind = rules.reminder_kind(deadline, when)
        if kind is None:
            continue
        overdue = proposal_event(
            "proposal_overdue",
            p,
            overdue=kind == "overdue",
            days_left=rules.days_left(deadline, when),
            deadline=iso(deadline),
            round=p["round"],
            pending_department_ids=list(p["pending_departments"]),
            day=day,
        )
        doc = {"_id": f"{pid}:{day}", "kind": kind, "at": when}
        if store.create_new(REMINDERS, doc, events=[overdue]) is not None:
            published += 1
    return {"checked": checked, "published": published, "day": day}


def send_reminders(store, actor: Actor, clock: Clock, at: str | None) -> dict:
    """The reminder round at ``at`` (ISO 8601 with a time zone; default now), for the system."""
    policy.require_system(actor)
    try:
        when = datetime.fromisoformat(at) if at else clock()
    except (TypeError, ValueError):
        raise BadInput("at: an ISO 8601 time / 时间格式有误", fields={"at": ["ISO 8601"]}) from None
    if when.tzinfo is None:
        raise BadInput("at: give a time zone / 须带时区", fields={"at": ["needs a time zone"]})
    return reminder_round(store, when)


def shift(value, delta: timedelta):
    """Every datetime inside ``value`` (dicts and lists too) moved ``delta`` into the past."""
    if isinstance(value, datetime):
        return value - delta
    if isinstance(value, list):
        return [shift(v, delta) for v in value]
    if isinstance(value, dict):
        return {k: shift(v, delta) for k, v in value.items()}
    return value


def backdate(store, actor: Actor, pid: str, days: int) -> dict:
    """Move every time of a proposal ``days`` (1-3650) into the past, for the system (taking over
    records of proposals handled before this system; the demo). Conflict when changed meanwhile."""
    policy.require_system(actor)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 < days <= 3650:
        raise BadInput("days: 1-3650", fields={"days": ["1-3650"]})
    p = load_proposal(store, pid)
    moved = {k: v for k, v in shift(p, timedelta(days=days)).items() if k not in ("_id", "_v", "outbox")}
    return commit(store, p, moved)


def rebuild_indexes(store, actor: Actor) -> dict:
    """Rebuild the derived lists from the proposals, for the system."""
    policy.require_system(actor)
    return store.rebuild_indexes()
