"""Use cases of 接诉即办: functions of (store, actor, clock, settings, peers, input) that ask
:mod:`.policy`, apply :mod:`.rules` and commit one guarded, versioned write of the case with its outbox
events and audit entry (``Store.change`` / ``Store.create``). After the commit point the indicator
counters get the difference of the case's contributions (:func:`rules.contribution_diff`) and the watch
list is kept; both are repaired by :func:`recount` should a crash fall in between."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from dmlib.attachments import attachment_out, decode_attachments
from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.contracts import cases as c
from dmlib.errors import BadInput, Conflict, NotFound, TooManyRequests
from dmlib.schemas import iso
from dmlib.state import event, request_key

from . import policy, rules
from .store import CASES

Clock = Callable[[], datetime]

CHANGED = "the case was changed by someone else just now; reload / 诉求件刚被他人处理，请刷新后重试"
NO_PROGRESS = "no case with this number, phone and code / 诉求编号、手机号或验证码有误"


@dataclass(frozen=True)
class Settings:
    """The configurable numbers (config.yaml, docs/cases.md "Configuration")."""

    limits: rules.Limits = field(default_factory=rules.Limits)
    remind_before_hours: int = rules.DEFAULT_REMIND_BEFORE_HOURS
    alert_threshold: int = rules.DEFAULT_ALERT_THRESHOLD
    alert_window_days: int = rules.DEFAULT_ALERT_WINDOW_DAYS
    codes_per_hour: int = 3
    code_ttl_s: int = 600
    max_attempts: int = 5
    code_key: bytes = b"cases:query-code"
    #: bytes per attachment (config ``MAX_ATTACHMENT_BYTES``, shared with disclosure: 5 MiB)
    max_attachment_bytes: int = 5 * 1024 * 1024


class Peers(Protocol):
    def union(self, union_id: str) -> dict:
        """``{id, name, path, parent_id}`` (NotFound)."""

    def member(self, member_id: str) -> dict:
        """``{member_id, name, union_id, phone}`` (NotFound)."""


class Sms(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Send an SMS (the one-time progress-query code)."""


# ----- shared pieces -------------------------------------------------------------------------------
def load_case(store, case_id: str) -> dict:
    doc = store.get(case_id) if isinstance(case_id, str) else None
    if doc is None:
        raise NotFound(f"no case {case_id} / 诉求件不存在", details={"case_id": case_id})
    return doc


def check_state(action: str, case: dict) -> None:
    try:
        rules.check_state(action, case["state"])
    except rules.RuleError as exc:
        raise Conflict(
            exc.message, details={"action": action, "state": case["state"]}, reason="case_moved_on"
        ) from None


def employer_key(employer: dict) -> str:
    """The union id of a union employer, else ``x`` + a hash of the normalised free-text name."""
    if employer.get("union_id"):
        return employer["union_id"]
    name = "".join(unicodedata.normalize("NFKC", employer["name"]).split()).lower()
    return "x" + hashlib.sha1(name.encode()).hexdigest()[:12]


def entry(action: str, case: dict, to_state: str, actor: Actor | None, role: str, at: datetime, **kw) -> dict:
    return {
        "action": action,
        "from_state": case.get("state"),
        "to_state": to_state,
        "round": case.get("round", 0),
        "by": actor.member_id if actor else "system",
        "by_name": (actor.name if actor else "") or ("系统" if role == "system" else ""),
        "role": role,
        "union_id": kw.pop("union_id", case.get("handling_union_id") or case.get("receiving_union_id")),
        "to_union_id": kw.pop("to_union_id", None),
        "at": at,
        "text": kw.pop("text", None),
        "internal": kw.pop("internal", False),
    }


def case_event(name: str, case: dict, **extra: Any) -> dict:
    """An event about ``case`` as it is after the change (docs/events.md)."""
    return event(
        name,
        case_id=case["_id"],
        case_type=case["case_type"],
        category=case["category"],
        title=case["title"],
        state=case["state"],
        round=case.get("round", 0),
        receiving_union_id=case["receiving_union_id"],
        union_id=case.get("handling_union_id"),
        union_path=list(case.get("union_path") or []),
        worker_id=(case.get("worker") or {}).get("member_id"),
        **extra,
    )


def case_audit(actor: Actor, action: str, case: dict, role: str | None, **kw) -> Audit | None:
    kw.setdefault("fields", ("state",))
    path = case.get("union_path") or case["receiving_path"]
    return by_person(actor, f"cases.{action}", "case", case["_id"], path[-1], path, role, **kw)


def commit(store, case: dict, changes: dict, events=lambda after: [], record: Audit | None = None) -> dict:
    """The guarded write of ``changes`` to ``case`` (unchanged since read: its ``_v``) with its events
    and audit entry; then the counters get the difference of its contributions."""
    after = {**case, **changes}
    doc = store.change(
        CASES,
        case["_id"],
        expect={"_v": case.get("_v")},
        set=changes,
        events=events(after),
        conflict=lambda current: Conflict(
            CHANGED, details={"case_id": case["_id"], "state": current["state"]}, reason="stale"
        ),
        audit=record,
    )
    store.bump(rules.contribution_diff(case, doc))
    return doc


def _round(case: dict, **changes) -> list[dict]:
    """The rounds with the current one updated."""
    rounds = [dict(r) for r in case["rounds"]]
    rounds[-1].update(changes)
    return rounds


# ----- receive (接) -------------------------------------------------------------------------------------
def _receive(store, actor, clock, settings, peers, union: dict, data: dict, worker: dict, role: str) -> dict:
    employer = dict(data["employer"])
    if employer.get("union_id"):
        try:
            emp_union = peers.union(employer["union_id"])
        except NotFound:
            raise BadInput(
                "no such employer union / 用人单位工会不存在", fields={"employer": {"union_id": ["unknown"]}}
            ) from None
        employer["name"] = employer.get("name") or emp_union["name"]
        employer["path"] = list(emp_union["path"])
    employer["key"] = employer_key(employer)
    files = decode_attachments(data.get("attachments") or [], settings.max_attachment_bytes)  # 400/413

    def create() -> dict:
        at = clock()
        seq = store.next_seq(f"{rules.china_day(at):%y%m%d}")
        number = rules.case_number(at, seq)
        doc = {
            "_id": number,
            "case_type": data["case_type"],
            "category": data["category"],
            "title": data["title"],
            "description": data["description"],
            "channel": data["channel"],
            "worker": worker,
            "anonymous": bool(data.get("anonymous")),
            "employer": employer,
            "attachments": [
                {
                    "id": f["_id"],
                    "filename": f["filename"],
                    "content_type": f["content_type"],
                    "size": f["size"],
                }
                for f in files
            ],
            "state": "received",
            "round": 0,
            "receiving_union_id": union["id"],
            "receiving_union_name": union["name"],
            "receiving_path": list(union["path"]),
            "handling_union_id": None,
            "handling_union_name": None,
            "handling_path": None,
            "union_path": list(union["path"]),
            "complexity": None,
            "rounds": [],
            "supervised": False,
            "supervising_union_id": None,
            "reminders": 0,
            "history": [],
            "follow_ups": [],
            "received_at": at,
            "closed_at": None,
        }
        doc["history"] = [entry("receive", {**doc, "state": None}, "received", actor, role, at)]
        record = case_audit(
            actor,
            "case_received",
            doc,
            role if role != "worker" else "member",
            fields=("case_type", "category", "title", "state"),
        )
        for f in files:  # stored before the case that refers to them commits; dropped if it does not
            f.update(case_id=number, uploaded_at=at)
        store.store_files(files)
        try:
            created = store.create(
                CASES, doc, events=[case_event("case_received", doc, channel=doc["channel"])], audit=record
            )
        except BaseException:
            store.forget_files([f["_id"] for f in files])
            raise
        store.bump(rules.contribution_diff(None, created), {employer["key"]: employer["name"]})
        _note_alert(store, settings, created)
        return created

    # once per client_key: a retried filing returns the case filed first (Store.once)
    return store.once(
        request_key(actor.member_id, data.get("client_key")), CASES, create, lambda first: first
    )


def file_case(store, actor: Actor, clock: Clock, settings: Settings, peers: Peers, data: dict) -> dict:
    """A member files online at their own union (data: :class:`CaseIn`, loaded)."""
    policy.require_member(actor)
    if data.get("member_id"):
        raise BadInput(
            "you file as yourself / 网上诉求由会员本人提交", fields={"member_id": ["not for online filing"]}
        )
    if data["channel"] != "online":
        raise BadInput(
            "an online case is filed by the member / 网上诉求由会员本人提交",
            fields={"channel": ["online only"]},
        )
    union = peers.union(actor.union_id)
    worker = {
        "member_id": None if data["anonymous"] else actor.member_id,
        "name": "匿名" if data["anonymous"] else actor.name,
        "phone": None if data["anonymous"] else data.get("phone"),
    }
    return _receive(store, actor, clock, settings, peers, union, data, worker, "worker")


def record_call(
    store, actor: Actor, clock: Clock, settings: Settings, peers: Peers, union_id: str, data: dict
) -> dict:
    """Hotline staff record a call or visit at ``union_id`` (data: :class:`CaseIn`, loaded)."""
    union = peers.union(union_id)
    policy.require_staff(actor, union["path"])
    if data["channel"] == "online":
        raise BadInput(
            "a recorded call is phone or visit / 来电登记渠道须为电话或来访",
            fields={"channel": ["phone or visit"]},
        )
    member_id = data.get("member_id")
    if member_id:
        try:
            peers.member(member_id)
        except NotFound:
            raise BadInput("no such member / 会员不存在", fields={"member_id": ["unknown"]}) from None
    worker = {
        "member_id": None if data["anonymous"] else member_id,
        "name": "匿名" if data["anonymous"] else data["caller"]["name"],
        "phone": data["caller"]["phone"],
    }
    return _receive(
        store, actor, clock, settings, peers, union, data, worker, policy.staff_role(actor, union["path"])
    )


def _note_alert(store, settings: Settings, case: dict) -> None:
    """未诉先办: N cases of one category at one enterprise within D days raise (or extend) an alert."""
    at = case["received_at"]
    key = f"{case['employer']['key']}:{case['category']}"
    recent = store.note_receipt(key, at, case["_id"], at - timedelta(days=settings.alert_window_days))
    if len(recent) >= settings.alert_threshold:
        store.put_alert(_alert(settings, case, key, recent))


def _alert(settings: Settings, case: dict, key: str, recent: list[dict]) -> dict:
    recent = sorted(recent, key=lambda r: r["at"])
    path = case["employer"].get("path") or case["receiving_path"]
    return {
        "_id": f"{key}:{recent[0]['case_id']}",
        "employer_key": case["employer"]["key"],
        "employer_name": case["employer"]["name"],
        "category": case["category"],
        "count": len(recent),
        "window_days": settings.alert_window_days,
        "threshold": settings.alert_threshold,
        "first_at": recent[0]["at"],
        "last_at": recent[-1]["at"],
        "case_ids": [r["case_id"] for r in recent],
        "union_id": path[-1],
        "union_path": list(path),
    }


def alerts_of(settings: Settings, cases: list[dict]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """The alerts and the tallies (receipts within the window of each key's last one) that
    :func:`_note_alert` would have left after receiving ``cases`` in order, computed in memory."""
    window = timedelta(days=settings.alert_window_days)
    tallies: dict[str, list[dict]] = {}
    alerts: dict[str, dict] = {}
    for case in sorted(cases, key=lambda d: d["received_at"]):
        at = case["received_at"]
        key = f"{case['employer']['key']}:{case['category']}"
        recent = [r for r in tallies.get(key, []) if r["at"] > at - window] + [
            {"at": at, "case_id": case["_id"]}
        ]
        tallies[key] = recent
        if len(recent) >= settings.alert_threshold:
            alert = _alert(settings, case, key, recent)
            alerts[alert["_id"]] = alert
    return alerts, tallies


# ----- dispatch (派) ------------------------------------------------------------------------------------
def dispatch(
    store, actor: Actor, clock: Clock, settings: Settings, peers: Peers, case_id: str, data: dict
) -> dict:
    case = load_case(store, case_id)
    policy.require_receiver(actor, case)
    check_state("dispatch", case)
    target = peers.union(data["union_id"])
    policy.require_target_below(actor, case["receiving_union_id"], target["path"])
    at = clock()
    rnd = rules.new_round(1, at, data["complexity"], settings.limits)
    role = policy.staff_role(actor, case["receiving_path"])
    changes = {
        "state": "dispatched",
        "round": 1,
        "complexity": data["complexity"],
        "handling_union_id": target["id"],
        "handling_union_name": target["name"],
        "handling_path": list(target["path"]),
        "union_path": list(target["path"]),
        "rounds": [rnd],
        "history": [
            *case["history"],
            entry(
                "dispatch",
                {**case, "round": 1},
                "dispatched",
                actor,
                role,
                at,
                to_union_id=target["id"],
                text=data.get("note") or None,
            ),
        ],
    }
    doc = commit(
        store,
        case,
        changes,
        lambda after: [_dispatched_event(after, transfer=False)],
        case_audit(actor, "case_dispatched", case, role, fields=("state", "handling_union_id", "complexity")),
    )
    store.watch(doc["_id"])
    return doc


def _dispatched_event(
    case: dict, transfer: bool, from_union: str | None = None, direction: str | None = None
) -> dict:
    rnd = case["rounds"][-1]
    return case_event(
        "case_dispatched",
        case,
        transfer=transfer,
        from_union_id=from_union,
        direction=direction,
        complexity=rnd["complexity"],
        deadline=iso(rnd["due"]["reply"]),
        sign_for_by=iso(rnd["due"]["sign_for"]),
        contact_by=iso(rnd["due"]["contact"]),
    )


def transfer(
    store, actor: Actor, clock: Clock, settings: Settings, peers: Peers, case_id: str, data: dict
) -> dict:
    """分级主办: hand the case down to a union below the handling one or up to one above it."""
    case = load_case(store, case_id)
    policy.require_handler(actor, case)
    check_state("transfer", case)
    target = peers.union(data["union_id"])
    here = case["handling_union_id"]
    if target["id"] == here:
        raise Conflict(
            "the case is already with this union / 诉求件已在该工会",
            details={"union_id": here},
            reason="already_there",
        )
    if here in target["path"]:
        direction = "down"
    elif target["id"] in case["handling_path"]:
        direction = "up"
    else:
        raise BadInput(
            "transfer only down or up the union tree / 只能向下级或上级工会转办",
            fields={"union_id": ["not above or below the handling union / 非上下级工会"]},
        )
    at = clock()
    rnd = case["rounds"][-1]
    due = rules.round_limits(at, rnd["complexity"], settings.limits, deadline=rnd["due"]["reply"])
    role = policy.staff_role(actor, case["handling_path"])
    changes = {
        "state": "dispatched",
        "handling_union_id": target["id"],
        "handling_union_name": target["name"],
        "handling_path": list(target["path"]),
        "union_path": list(target["path"]),
        "rounds": _round(case, due=due, met={"sign_for": None, "contact": None, "reply": None}),
        "history": [
            *case["history"],
            entry(
                "transfer", case, "dispatched", actor, role, at, to_union_id=target["id"], text=data["reason"]
            ),
        ],
    }
    return commit(
        store,
        case,
        changes,
        lambda after: [_dispatched_event(after, True, here, direction)],
        case_audit(
            actor,
            "case_transferred",
            case,
            role,
            fields=("state", "handling_union_id"),
            note={"from": here, "to": target["id"], "reason": data["reason"]},
        ),
    )


# ----- handle (办) --------------------------------------------------------------------------------------
def sign_for(store, actor: Actor, clock: Clock, case_id: str) -> dict:
    case = load_case(store, case_id)
    policy.require_handler(actor, case)
    check_state("sign_for", case)
    at = clock()
    role = policy.staff_role(actor, case["handling_path"])
    met = {**case["rounds"][-1]["met"], "sign_for": at}
    return commit(
        store,
        case,
        {
            "state": "signed",
            "rounds": _round(case, met=met),
            "history": [*case["history"], entry("sign_for", case, "signed", actor, role, at)],
        },
        record=case_audit(actor, "case_signed_for", case, role),
    )


def contact(store, actor: Actor, clock: Clock, case_id: str, data: dict) -> dict:
    case = load_case(store, case_id)
    policy.require_handler(actor, case)
    check_state("contact", case)
    at = clock()
    role = policy.staff_role(actor, case["handling_path"])
    met = dict(case["rounds"][-1]["met"])
    met["contact"] = met.get("contact") or at
    text = f"{c.CONTACT_METHODS[data['method']]}{('：' + data['note']) if data.get('note') else ''}"
    return commit(
        store,
        case,
        {
            "state": "in_progress",
            "rounds": _round(case, met=met),
            "history": [*case["history"], entry("contact", case, "in_progress", actor, role, at, text=text)],
        },
        record=case_audit(actor, "case_contacted", case, role),
    )


def add_note(store, actor: Actor, clock: Clock, case_id: str, data: dict) -> dict:
    case = load_case(store, case_id)
    policy.require_follow_up(actor, case)
    check_state("note", case)
    at = clock()
    role = policy.staff_role(actor, case.get("handling_path") or case["receiving_path"])
    return commit(
        store,
        case,
        {
            "history": [
                *case["history"],
                entry("note", case, case["state"], actor, role, at, text=data["text"], internal=True),
            ]
        },
        record=case_audit(actor, "note_added", case, role, fields=()),
    )


def interim_reply(store, actor: Actor, clock: Clock, case_id: str, data: dict) -> dict:
    case = load_case(store, case_id)
    policy.require_handler(actor, case)
    check_state("interim_reply", case)
    at = clock()
    role = policy.staff_role(actor, case["handling_path"])
    interim = [*case["rounds"][-1].get("interim", []), {"text": data["text"], "at": at}]
    return commit(
        store,
        case,
        {
            "rounds": _round(case, interim=interim),
            "history": [
                *case["history"],
                entry("interim_reply", case, case["state"], actor, role, at, text=data["text"]),
            ],
        },
        record=case_audit(actor, "interim_replied", case, role, fields=()),
    )


def reply(store, actor: Actor, clock: Clock, case_id: str, data: dict) -> dict:
    case = load_case(store, case_id)
    policy.require_handler(actor, case)
    check_state("reply", case)
    at = clock()
    role = policy.staff_role(actor, case["handling_path"])
    rnd = case["rounds"][-1]
    on_time = at <= rnd["due"]["reply"]
    doc = commit(
        store,
        case,
        {
            "state": "replied",
            "rounds": _round(case, reply=data["text"], replied_at=at, met={**rnd["met"], "reply": at}),
            "history": [
                *case["history"],
                entry("reply", case, "replied", actor, role, at, text=data["text"]),
            ],
        },
        lambda after: [case_event("case_replied", after, on_time=on_time)],
        case_audit(actor, "case_replied", case, role, note={"round": case["round"], "on_time": on_time}),
    )
    store.unwatch(doc["_id"])
    return doc


# ----- evaluate (评) ------------------------------------------------------------------------------------
def _rate(
    store, actor, clock, settings, case: dict, data: dict, via: str, role: str, extra_history=None
) -> dict:
    at = clock()
    outcome = rules.after_rating(case["round"], data["satisfaction"])
    rating = {
        "satisfaction": data["satisfaction"],
        "resolved": data["resolved"],
        "comment": data.get("comment") or "",
        "at": at,
        "via": via,
    }
    history = [*case["history"], *(extra_history or [])]
    text = f"{c.SATISFACTION[data['satisfaction']]}；{'已解决' if data['resolved'] else '未解决'}"
    if data.get("comment"):
        text += f"；{data['comment']}"
    rounds = _round(case, rating=rating)
    if outcome == "close":
        history.append(entry("rate", case, "closed", actor, role, at, text=text))
        changes = {"state": "closed", "closed_at": at, "rounds": rounds, "history": history}
        events = lambda after: [  # noqa: E731
            case_event(
                "case_rated",
                after,
                satisfaction=data["satisfaction"],
                resolved=data["resolved"],
                via=via,
                reopened=False,
            ),
            case_event("case_closed", after),
        ]
    else:
        second = rules.new_round(2, at, case["complexity"], settings.limits)
        history.append(entry("rate", case, "replied", actor, role, at, text=text))
        history.append(
            entry(
                "reopen",
                {**case, "round": 2},
                "dispatched",
                None,
                "system",
                at,
                to_union_id=case["handling_union_id"],
            )
        )
        changes = {"state": "dispatched", "round": 2, "rounds": [*rounds, second], "history": history}
        events = lambda after: [  # noqa: E731
            case_event(
                "case_rated",
                after,
                satisfaction=data["satisfaction"],
                resolved=data["resolved"],
                via=via,
                reopened=True,
            ),
            _dispatched_event(after, transfer=False),
        ]
    audit_action = "case_rated" if via == "worker" else "follow_up_recorded"
    doc = commit(
        store,
        case,
        changes,
        events,
        case_audit(
            actor,
            audit_action,
            case,
            role if role != "worker" else "member",
            note={"satisfaction": data["satisfaction"], "resolved": data["resolved"], "round": case["round"]},
        ),
    )
    if outcome == "reopen":
        store.watch(doc["_id"])
    return doc


def rate(store, actor: Actor, clock: Clock, settings: Settings, case_id: str, data: dict) -> dict:
    case = load_case(store, case_id)
    policy.require_worker(actor, case)
    check_state("rate", case)
    return _rate(store, actor, clock, settings, case, data, "worker", "worker")


def follow_up(store, actor: Actor, clock: Clock, settings: Settings, case_id: str, data: dict) -> dict:
    """回访; with a rating, for a caller without a member account, while the case is replied."""
    case = load_case(store, case_id)
    policy.require_follow_up(actor, case)
    check_state("follow_up", case)
    at = clock()
    role = policy.staff_role(actor, case.get("handling_path") or case["receiving_path"])
    visit = {"text": data["text"], "by_name": actor.name, "at": at}
    hist = entry("follow_up", case, case["state"], actor, role, at, text=data["text"])
    if data.get("satisfaction"):
        if case["state"] != "replied":
            raise Conflict(
                "the case is already rated / 该诉求件已评价",
                details={"state": case["state"]},
                reason="case_already_rated",
            )
        if (case.get("worker") or {}).get("member_id"):
            raise Conflict(
                "a member rates online / 会员须本人网上评价",
                details={"worker": "member"},
                reason="member_rates_online",
            )
        case2 = {**case, "follow_ups": [*case["follow_ups"], visit]}
        case2["history"] = [*case["history"], hist]
        doc = _rate(store, actor, clock, settings, {**case2}, data, "follow_up", role)
        return doc
    return commit(
        store,
        case,
        {"follow_ups": [*case["follow_ups"], visit], "history": [*case["history"], hist]},
        record=case_audit(actor, "follow_up_recorded", case, role, fields=()),
    )


def supervise(store, actor: Actor, clock: Clock, case_id: str, data: dict) -> dict:
    case = load_case(store, case_id)
    policy.require_supervisor(actor, case)
    check_state("supervise", case)
    at = clock()
    path = case["handling_path"]
    supervisor = next(
        (u for u in reversed(path[:-1]) if u in actor.scopes("superior_admin")),
        path[-2] if len(path) > 1 else path[-1],
    )
    return commit(
        store,
        case,
        {
            "supervised": True,
            "supervising_union_id": supervisor,
            "history": [
                *case["history"],
                entry(
                    "supervise",
                    case,
                    case["state"],
                    actor,
                    "superior_admin",
                    at,
                    union_id=supervisor,
                    text=data["note"],
                ),
            ],
        },
        lambda after: [
            case_event("case_supervised", after, supervising_union_id=supervisor, note=data["note"])
        ],
        case_audit(actor, "case_supervised", case, "superior_admin", fields=("supervised",)),
    )


# ----- the limit round: reminders (催办) and escalation (督办) ---------------------------------------------
def check_limits(store, clock_now: datetime, settings: Settings) -> dict:
    """For every watched case: a reminder once per limit and ``when`` (``before``: within
    ``remind_before_hours`` of the limit, at most its second half; ``after``: past it), and for a reply limit passed, escalation to
    the parent of the handling union once per round. Each is one guarded write whose guard (the
    ``reminded`` key, ``overdue_at``) makes a repeat or a concurrent run a no-op."""
    out = {"checked": 0, "reminded": 0, "escalated": 0}
    for case_id in store.watched():
        case = store.get(case_id)
        if case is None or case["state"] not in rules.OPEN_STATES:
            store.unwatch(case_id)
            continue
        out["checked"] += 1
        for _ in range(3):  # a concurrent write: read again and retry
            try:
                r, e = _check_case(store, case, clock_now, settings)
                out["reminded"] += r
                out["escalated"] += e
                break
            except Conflict:
                case = store.get(case_id)
                if case is None or case["state"] not in rules.OPEN_STATES:
                    break
    return out


def _check_case(store, case: dict, now: datetime, settings: Settings) -> tuple[int, int]:
    rnd = case["rounds"][-1]
    due, met = rnd["due"], rnd["met"]
    reminded = list(rnd.get("reminded") or [])
    new_keys, events = [], []
    for limit in ("sign_for", "contact", "reply"):
        if met.get(limit) is not None:
            continue
        # "before": within remind_before_hours of the limit, but at most its second half (a 2-hour
        # sign-for limit is reminded after 1 hour, not at once)
        ahead = min(timedelta(hours=settings.remind_before_hours), (due[limit] - rnd["dispatched_at"]) / 2)
        when = "after" if now > due[limit] else ("before" if now > due[limit] - ahead else None)
        key = f"{limit}:{when}:{iso(due[limit])}"
        if when and key not in reminded:
            new_keys.append(key)
            events.append(("case_reminded", {"limit": limit, "when": when, "due_at": iso(due[limit])}))
    escalate = rnd.get("overdue_at") is None and now > due["reply"]
    if not new_keys and not escalate:
        return 0, 0
    path = case["handling_path"]
    supervisor = path[-2] if len(path) > 1 else path[-1]
    changes: dict = {"rounds": _round(case, reminded=reminded + new_keys)}
    history = list(case["history"])
    for _name, body in events:
        history.append(
            entry(
                "remind",
                case,
                case["state"],
                None,
                "system",
                now,
                text=f"{c.LIMITS[body['limit']]}{'将到期' if body['when'] == 'before' else '已超时'}",
            )
        )
    if escalate:
        changes["rounds"][-1]["overdue_at"] = now
        changes.update(supervised=True, supervising_union_id=supervisor)
        history.append(
            entry(
                "supervise",
                case,
                case["state"],
                None,
                "system",
                now,
                union_id=supervisor,
                text="超过办结时限，自动提级督办",
            )
        )
    changes["history"] = history
    changes["reminders"] = case.get("reminders", 0) + len(new_keys)

    def make(after):
        out = [case_event(n, after, **b) for n, b in events]
        if escalate:
            out.append(
                case_event("case_overdue", after, deadline=iso(due["reply"]), supervising_union_id=supervisor)
            )
        return out

    commit(store, case, changes, make)
    return len(new_keys), int(escalate)


# ----- reading -------------------------------------------------------------------------------------------
def get_attachment(store, actor: Actor, case_id: str, attachment_id: Any) -> dict:
    """A file of a case for whoever may read the case (its worker; staff of the receiving or handling
    union or above: :func:`policy.require_reader`), decided before the file is read."""
    case = load_case(store, case_id)
    policy.require_reader(actor, case)
    doc = store.get_attachment(attachment_id) if isinstance(attachment_id, str) else None
    if doc is None or doc.get("case_id") != case_id:
        raise NotFound("no such attachment / 附件不存在")
    return attachment_out(doc)


def get_case(store, actor: Actor, case_id: str) -> dict:
    case = load_case(store, case_id)
    policy.require_reader(actor, case)
    return case


def my_cases(store, actor: Actor) -> list[dict]:
    docs, _ = store.find_cases({"worker.member_id": actor.member_id})
    return docs


#: States in which a case still waits for the unions ("received": not dispatched yet).
WAITING_STATES = ("received", *rules.OPEN_STATES)


def needs_of(store, actor: Actor, now: datetime) -> dict:
    """What needs the caller among cases (issue 16, :mod:`dmlib.contracts.needs`):

    - items ``case_mine``: their own cases not closed (newest first; ``due_at`` the reply limit);
    - queues, per union handling (or, undispatched, holding) cases at or below a union they staff
      (:func:`policy.needs_scopes`): ``cases_open`` (waiting cases; ``oldest_at`` the oldest receipt,
      ``overdue`` past the reply limit) and ``cases_near_limit`` (those whose nearest limit is due
      today or the next working day or has passed: the queue's amber and red, :func:`rules.colour`).
    Cost: :meth:`store.waiting_cases` once per staffed union, and the worker's own cases (:func:`my_cases`)."""
    from . import views  # the clock of a row is the view's

    items = [
        {
            "kind": "case_mine",
            "id": d["_id"],
            "title": d["title"],
            "union_id": d.get("handling_union_id") or d.get("receiving_union_id"),
            "due_at": views.summary(d, now)["deadline"],
            "at": d["received_at"],
        }
        for d in my_cases(store, actor)
        if d["state"] != "closed"
    ]
    rows: dict[str, list[tuple[dict, dict]]] = {}
    seen: set[str] = set()
    for scope in sorted(policy.needs_scopes(actor)):
        for d in store.waiting_cases(scope, WAITING_STATES):
            if d["_id"] in seen or not policy.is_staff(actor, d.get("union_path")):
                continue
            seen.add(d["_id"])
            uid = d.get("handling_union_id") or d["receiving_union_id"]
            rows.setdefault(uid, []).append((d, views.summary(d, now)))
    queues: list[dict] = []
    for uid in sorted(rows):
        waiting = rows[uid]
        base = {"scope": uid, "union_id": uid}
        queues.append(
            {
                **base,
                "kind": "cases_open",
                "count": len(waiting),
                "oldest_at": min(d["received_at"] for d, _ in waiting),
                "overdue": sum(1 for _, v in waiting if v["overdue"]),
            }
        )
        near = [(d, v) for d, v in waiting if v["colour"] in ("amber", "red")]
        queues.append(
            {
                **base,
                "kind": "cases_near_limit",
                "count": len(near),
                "oldest_at": min((d["received_at"] for d, _ in near), default=None),
                "overdue": sum(1 for _, v in near if v["overdue"]),
            }
        )
    return {"items": items, "queues": queues}


#: The free-text queue search (``q``) looks at this many cases of the filter, newest first: a bound on
#: the work of one search whatever the size of the union's history (FerretDB matches text by decoding
#: documents; no text index). ``searched_all`` false in the answer: older cases were not searched.
SEARCH_SCAN = 5000


def queue(store, actor: Actor, peers: Peers, data: dict, now: datetime) -> tuple[list[dict], int]:
    """A union's queue: filter, then most urgent first (overdue, then the nearest deadline; ``sort``
    ``newest`` / ``oldest``: by the time received), paged.
    ``scope`` ``own``: cases dispatched to the union, and those it received and has not dispatched yet.
    ``q``: text in the title, employer name or worker name (:func:`rules.matches_search`) among the
    newest :data:`SEARCH_SCAN` cases of the other filters; sets ``data["searched_all"]``."""
    from . import views  # the colour and urgency of a row are the view's

    union = _staff_of_union(actor, peers, data["union_id"])
    query: dict = {"union_path": union["id"]}
    for k in ("state", "category", "case_type", "supervised"):
        if data.get(k) is not None:
            query[k] = data[k]
    searched = None
    if data.get("q"):  # explicitly bounded: the newest SEARCH_SCAN cases of the filter, matched here
        docs, searched = store.find_cases(query, limit=SEARCH_SCAN)
        docs = [d for d in docs if rules.matches_search(d, data["q"])]
    else:
        docs, _ = store.find_cases(query)
    if data["scope"] == "own":
        docs = [d for d in docs if (d.get("handling_union_id") or d["receiving_union_id"]) == union["id"]]
    rows = [views.summary(d, now) for d in docs]
    if data.get("overdue") is not None:
        rows = [r for r in rows if r["overdue"] == data["overdue"]]
    if data.get("sort") in ("newest", "oldest"):  # issue 16: sorting; the case number keeps it stable
        rows.sort(key=lambda r: (r["received_at"], r["id"]), reverse=data["sort"] == "newest")
    else:
        rows.sort(key=lambda r: (not r["overdue"], r["deadline"] or "9999", r["id"]))
    start = (data["page"] - 1) * data["per_page"]
    if searched is not None:
        data["searched_all"] = searched <= SEARCH_SCAN
    return rows[start : start + data["per_page"]], len(rows)


# ----- progress query -------------------------------------------------------------------------------------
def _hash(settings: Settings, *parts: str) -> str:
    return hmac.new(settings.code_key, ":".join(parts).encode(), hashlib.sha256).hexdigest()


def request_query_code(store, clock: Clock, settings: Settings, sms: Sms, data: dict) -> dict:
    at = clock()
    phone_hash = _hash(settings, "phone", data["phone"])
    n = store.count_code_request(f"{data['case_number']}:{phone_hash[:16]}:{at:%Y%m%d%H}")
    if n > settings.codes_per_hour:
        raise TooManyRequests(
            "too many codes asked; try again later / 获取验证码过于频繁，请稍后再试",
            details={"retry_after": 3600 - at.minute * 60 - at.second},
            reason="too_many_codes",
        )
    case = store.get(data["case_number"])
    if case is not None and (case.get("worker") or {}).get("phone") == data["phone"]:
        code = f"{secrets.randbelow(10**6):06d}"
        store.put_code(
            case["_id"],
            {
                "code_hash": _hash(settings, case["_id"], code),
                "phone_hash": phone_hash,
                "expires_at": at + timedelta(seconds=settings.code_ttl_s),
                "attempts": 0,
            },
        )
        sms.send(
            data["phone"],
            f"【工会12351】您的诉求{case['_id']}进度查询验证码：{code}，{settings.code_ttl_s // 60}分钟内有效。",
        )
    return {"sent": True, "expires_in": settings.code_ttl_s}


def query_progress(store, clock: Clock, settings: Settings, data: dict) -> dict:
    at = clock()
    held = store.get_code(data["case_number"])
    if (
        held is None
        or held["phone_hash"] != _hash(settings, "phone", data["phone"])
        or held["expires_at"] < at
    ):
        raise NotFound(NO_PROGRESS, reason="progress_not_found")
    if held.get("attempts", 0) >= settings.max_attempts:
        raise TooManyRequests(
            "too many wrong codes; ask for a new one / 验证码错误次数过多，请重新获取",
            reason="too_many_codes",
        )
    code_hash = _hash(settings, data["case_number"], data["code"])
    if not hmac.compare_digest(code_hash, held["code_hash"]):
        if store.failed_code(data["case_number"]) >= settings.max_attempts:
            raise TooManyRequests(
                "too many wrong codes; ask for a new one / 验证码错误次数过多，请重新获取",
                reason="too_many_codes",
            )
        raise NotFound(NO_PROGRESS, reason="progress_not_found")
    if not store.use_code(data["case_number"], code_hash):
        raise NotFound(NO_PROGRESS, reason="progress_not_found")
    return load_case(store, data["case_number"])


# ----- indicators, alerts, topic ------------------------------------------------------------------------
def _staff_of_union(actor: Actor, peers: Peers, union_id: str) -> dict:
    union = peers.union(union_id)
    policy.require_staff(actor, union["path"])
    return union


def indicators(store, actor: Actor, clock: Clock, peers: Peers, data: dict) -> dict:
    union = _staff_of_union(actor, peers, data["union_id"])
    current = rules.month_of(clock())
    to_m = data.get("to_month") or current
    from_m = data.get("from_month") or to_m
    ms = rules.months(from_m, to_m)
    if len(ms) > 36:
        raise BadInput("at most 36 months / 最多36个月", fields={"from_month": ["at most 36 months"]})
    return indicators_from(store.counters([f"{union['id']}:{m}" for m in ms]), union["id"], ms)


def indicators_from(docs: dict, union_id: str, ms: list[str]) -> dict:
    """Sum counter documents into the dashboard (pure but for its input)."""
    total: dict = {}
    by_month, by_cat, by_union = [], {}, {}
    for m in ms:
        d = docs.get(f"{union_id}:{m}") or {}
        counts = rules.add_counts({}, d.get("m"))
        rules.add_counts(total, counts)
        by_month.append({"month": m, "counts": counts, "rates": rules.rates(counts)})
        for cat, part in (d.get("c") or {}).items():
            rules.add_counts(by_cat.setdefault(cat, {}), part)
        for u, part in (d.get("u") or {}).items():
            rules.add_counts(by_union.setdefault(u, {}), part)
    return {
        "union_id": union_id,
        "from_month": ms[0],
        "to_month": ms[-1],
        "counts": {k: total.get(k, 0) for k in c.METRICS},
        "rates": rules.rates(total),
        "formulas": dict(rules.FORMULAS),
        "by_month": by_month,
        "by_category": [
            {"category": k, "label": c.CATEGORIES[k], "counts": by_cat[k], "rates": rules.rates(by_cat[k])}
            for k in c.CATEGORIES
            if k in by_cat
        ],
        "by_union": [
            {"union_id": u, "counts": v, "rates": rules.rates(v)} for u, v in sorted(by_union.items())
        ],
    }


def alerts(store, actor: Actor, peers: Peers, union_id: str) -> list[dict]:
    _staff_of_union(actor, peers, union_id)
    return sorted(store.alerts_under(union_id), key=lambda a: a["last_at"], reverse=True)


def topic(store, actor: Actor, clock: Clock, peers: Peers, data: dict) -> dict:
    union = _staff_of_union(actor, peers, data["union_id"])
    month = data.get("month") or rules.month_of(clock())
    y, m = int(month[:4]), int(month[5:])
    back = []
    for _ in range(6):
        back.insert(0, f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    docs = store.counters([f"{union['id']}:{x}" for x in back])
    cur = docs.get(f"{union['id']}:{month}") or {}
    cats = sorted(((k, v.get("received", 0)) for k, v in (cur.get("c") or {}).items()), key=lambda x: -x[1])
    top_categories = [
        {
            "category": k,
            "label": c.CATEGORIES.get(k, k),
            "count": n,
            "trend": [
                ((docs.get(f"{union['id']}:{x}") or {}).get("c") or {}).get(k, {}).get("received", 0)
                for x in back
            ],
        }
        for k, n in cats[:5]
        if n
    ]
    emps = sorted((cur.get("e") or {}).items(), key=lambda x: -x[1])[:10]
    top_employers = [
        {
            "employer_key": k,
            "name": (cur.get("en") or {}).get(k, k),
            "count": n,
            "top_category": max(
                (cur.get("ec") or {}).get(k, {}).items(), key=lambda x: x[1], default=(None, 0)
            )[0],
        }
        for k, n in emps
        if n
    ]
    return {
        "union_id": union["id"],
        "month": month,
        "top_categories": top_categories,
        "top_employers": top_employers,
    }


# ----- operators ------------------------------------------------------------------------------------------
def _shift(value, delta: timedelta):
    if isinstance(value, datetime):
        return value - delta
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items() if k != "reminded"} | (
            {"reminded": value["reminded"]} if "reminded" in value else {}
        )
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    return value


def backdate(store, actor: Actor, case_id: str, days: int) -> dict:
    policy.require_system(actor)
    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise BadInput("days: 1-3650", fields={"days": ["1-3650"]})
    case = load_case(store, case_id)
    delta = timedelta(days=days)
    keys = ("received_at", "closed_at", "rounds", "history", "follow_ups")
    return commit(store, case, {k: _shift(case.get(k), delta) for k in keys})


def recount(store, actor: Actor, settings: Settings) -> dict:
    """Rebuild counters, alerts, tallies and the watch list from the cases (a scan; the alerts computed
    in memory by :func:`alerts_of`)."""
    policy.require_system(actor)
    cases = list(store.all_cases())
    incs: dict = {}
    for case in cases:
        rules.counter_increments(case, 1, incs)
        if case["state"] in rules.OPEN_STATES:
            store.watch(case["_id"])
    store.reset_counters()
    names = {d["employer"]["key"]: d["employer"]["name"] for d in cases}
    store.bump({k: {f: v for f, v in d.items() if v} for k, d in incs.items()}, names)
    alerts, tallies = alerts_of(settings, cases)
    store.reset_alerts()
    for key, recent in tallies.items():
        store.set_tally(key, recent)
    for alert in alerts.values():
        store.put_alert(alert)
    return {"cases": len(cases), "counters": len(incs), "alerts": len(alerts)}


# ----- taking over history (the demo, migrations) ----------------------------------------------------------
class ReplayStore:
    """The store for replaying a past case: the use cases run on the case in memory (the same guards:
    ``_v``, NotFound, the conflict callback; shallow copies: the use cases build new values and never
    change what they read in place) and :meth:`flush` inserts the result once, without events
    (nobody is notified of last year's cases), audit entries (the operator's migration, not people's
    changes now) or derived documents (counters, alerts, watch list: :func:`recount` rebuilds them once
    at the end). Only the day's sequence is taken from the database."""

    def __init__(self, store, days: dict[str, int] | None = None):
        self.inner = store
        self.docs: dict[str, dict] = {}
        self.days = dict(days or {})  # YYMMDD → cases of that day still to number in this batch
        self.pool: dict[str, list[int]] = {}

    def create(self, collection, doc, **kw):
        self.docs[doc["_id"]] = {**doc, "_v": 0}
        return dict(self.docs[doc["_id"]])

    def change(self, collection, doc_id, *, expect=None, set=None, inc=None, conflict=None, **kw):  # noqa: A002
        doc = self.docs.get(doc_id)
        if doc is None:
            raise NotFound(f"no case {doc_id} / 诉求件不存在")
        if any(doc.get(k) != v for k, v in (expect or {}).items()):
            raise (conflict or (lambda current: Conflict(CHANGED, reason="stale")))(doc)
        doc.update(set or {})
        for k, n in {"_v": 1, **(inc or {})}.items():
            doc[k] = (doc.get(k) or 0) + n
        return dict(doc)

    def once(self, key, collection, create, first):
        """A replayed case carries no idempotency key (the import is keyed by its cases' numbers)."""
        return create()

    def get(self, case_id):
        return dict(self.docs[case_id]) if case_id in self.docs else self.inner.get(case_id)

    def next_seq(self, day):
        """The day's next number, reserved for the batch's cases of that day in one ``$inc``."""
        if not self.pool.get(day):
            n = max(1, self.days.pop(day, 1))
            last = self.inner.reserve_seq(day, n)
            self.pool[day] = list(range(last - n + 1, last + 1))
        return self.pool[day].pop(0)

    def flush(self) -> None:
        """Insert the replayed cases (``_v`` 0, no outbox) in one write."""
        if self.docs:
            self.inner.insert_replayed([{**d, "_v": 0} for d in self.docs.values()])
        self.docs = {}

    def __getattr__(self, name):
        if name in ("bump", "note_receipt", "put_alert", "watch", "unwatch"):
            return lambda *a, **k: []
        if name in ("store_files", "forget_files"):  # a replayed case's files are stored as they come
            return getattr(self.inner, name)
        raise AttributeError(name)


class CachedPeers:
    """Peers whose unions are asked once per replay batch (the tree does not change meanwhile)."""

    def __init__(self, peers):
        self.peers, self.unions = peers, {}

    def union(self, union_id):
        if union_id not in self.unions:
            self.unions[union_id] = self.peers.union(union_id)
        return self.unions[union_id]

    def member(self, member_id):
        return self.peers.member(member_id)


def _replay_actor(who: dict) -> Actor:
    from dmlib.auth import Grant

    grants = (Grant(who["role"], who["scope"]),) if who.get("role") else ()
    return Actor(who["member_id"], who.get("name", ""), who.get("union_id"), grants)


def replay(
    store, actor: Actor, settings: Settings, peers: Peers, spec: dict, quiet: ReplayStore | None = None
) -> dict:
    """Replay one past case through the ordinary use cases at its own times, in memory, then insert it
    once (:class:`ReplayStore`; data: :class:`ReplayIn`): ``file`` (by a member) or ``call`` (by staff at ``union_id``), then ``steps``
    (``dispatch``, ``transfer``, ``sign_for``, ``contact``, ``note``, ``interim_reply``, ``reply``,
    ``rate``, ``follow_up``, ``supervise``, ``check`` = the limit round for this case), each by its
    ``by`` person at its ``at``. Quiet: follow with :func:`recount`. System only. ``peers`` may be a
    :class:`CachedPeers` and ``quiet`` a :class:`ReplayStore` shared by a batch (then flushed by the
    caller, all cases in one insert)."""
    policy.require_system(actor)
    batch = quiet is not None
    quiet = quiet or ReplayStore(store)
    at = spec["at"]
    clock = lambda: at  # noqa: E731
    who = _replay_actor(spec["by"])
    data = c.CaseIn().load(spec["case"])
    if spec["case"].get("channel", "online") == "online":
        case = file_case(quiet, who, clock, settings, peers, data)
    else:
        case = record_call(quiet, who, clock, settings, peers, spec["union_id"], data)
    cid = case["_id"]
    for step in spec.get("steps") or []:
        at = step["at"]
        who = _replay_actor(step["by"]) if step.get("by") else actor
        d = step.get("data") or {}
        kind = step["action"]
        if kind == "dispatch":
            dispatch(quiet, who, clock, settings, peers, cid, c.DispatchIn().load(d))
        elif kind == "transfer":
            transfer(quiet, who, clock, settings, peers, cid, c.TransferIn().load(d))
        elif kind == "sign_for":
            sign_for(quiet, who, clock, cid)
        elif kind == "contact":
            contact(quiet, who, clock, cid, c.ContactIn().load(d))
        elif kind == "note":
            add_note(quiet, who, clock, cid, c.NoteIn().load(d))
        elif kind == "interim_reply":
            interim_reply(quiet, who, clock, cid, c.ReplyIn().load(d))
        elif kind == "reply":
            reply(quiet, who, clock, cid, c.ReplyIn().load(d))
        elif kind == "rate":
            rate(quiet, who, clock, settings, cid, c.RateIn().load(d))
        elif kind == "follow_up":
            follow_up(quiet, who, clock, settings, cid, c.FollowUpIn().load(d))
        elif kind == "supervise":
            supervise(quiet, who, clock, cid, c.SuperviseIn().load(d))
        elif kind == "check":
            doc = load_case(quiet, cid)
            if doc["state"] in rules.OPEN_STATES:
                _check_case(quiet, doc, at, settings)
        else:
            raise BadInput(f"unknown step {kind}", fields={"steps": [f"unknown action {kind}"]})
    doc = load_case(quiet, cid)
    if not batch:
        quiet.flush()
    return doc
