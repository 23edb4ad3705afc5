"""How a stored case is shown: to staff (:func:`case`, everything), to the worker (:func:`progress`, no
internal notes, staff reduced to their union) and as a queue row (:func:`summary`)."""

from __future__ import annotations

from datetime import datetime

from dmlib.auth import Actor
from dmlib.contracts import cases as c
from dmlib.schemas import iso

from . import policy, rules


def _limits(rnd: dict, now: datetime) -> list[dict]:
    out = []
    for limit in ("sign_for", "contact", "reply"):
        due, met = rnd["due"].get(limit), rnd["met"].get(limit)
        out.append(
            {
                "limit": limit,
                "due_at": iso(due),
                "met_at": iso(met),
                "on_time": None if met is None else met <= due,
                "overdue": met is None and now > due,
                "colour": rules.colour(now, due, met is not None),
            }
        )
    return out


def _clock(case: dict, now: datetime) -> dict:
    """Deadline, working days left, overdue flag and colour of the case's current round."""
    if not case.get("rounds") or case["state"] not in rules.OPEN_STATES:
        return {
            "deadline": iso(case["rounds"][-1]["due"]["reply"]) if case.get("rounds") else None,
            "working_days_left": None,
            "overdue": False,
            "colour": "grey",
        }
    rnd = case["rounds"][-1]
    due = rnd["due"]["reply"]
    open_limits = [rnd["due"][k] for k in ("sign_for", "contact", "reply") if rnd["met"].get(k) is None]
    nearest = min(open_limits) if open_limits else due
    return {
        "deadline": iso(due),
        "working_days_left": rules.working_days_between(now, due),
        "overdue": now > due,
        "colour": rules.colour(now, nearest, False),
    }


def _history(case: dict, internal: bool) -> list[dict]:
    return [
        {
            **h,
            "action_label": c.HISTORY_ACTIONS.get(h["action"], h["action"]),
            "at": iso(h["at"]),
            "by_name": h["by_name"] if internal else (h["by_name"] if h["role"] == "worker" else ""),
        }
        for h in case["history"]
        if internal or not h.get("internal")
    ]


def case(doc: dict, actor: Actor, now: datetime) -> dict:
    internal = policy.is_staff(actor, doc["receiving_path"]) or policy.is_staff(
        actor, doc.get("handling_path")
    )
    roles = [
        r
        for r, ok in (
            ("worker", policy.is_worker(actor, doc)),
            ("receiver", policy.is_staff(actor, doc["receiving_path"])),
            ("handler", policy.is_staff(actor, doc.get("handling_path"))),
            (
                "supervisor",
                bool(doc.get("handling_path"))
                and bool(actor.scopes("superior_admin") & set(doc["handling_path"][:-1])),
            ),
        )
        if ok
    ]
    worker = doc.get("worker") or {}
    out = {
        **doc,
        "id": doc["_id"],
        "case_type_label": c.CASE_TYPES[doc["case_type"]],
        "category_label": c.CATEGORIES[doc["category"]],
        "state_label": c.STATES[doc["state"]],
        "worker": {
            "member_id": worker.get("member_id"),
            "name": worker.get("name", ""),
            "phone_masked": rules.mask_phone(worker.get("phone")),
        },
        "rounds": [
            {
                **r,
                "dispatched_at": iso(r["dispatched_at"]),
                "replied_at": iso(r.get("replied_at")),
                "limits": _limits(r, now),
                "rating": {**r["rating"], "at": iso(r["rating"]["at"])} if r.get("rating") else None,
            }
            for r in doc.get("rounds") or []
        ],
        **_clock(doc, now),
        "history": _history(doc, internal),
        "follow_ups": [{**f, "at": iso(f["at"])} for f in doc.get("follow_ups") or []] if internal else [],
        "received_at": iso(doc["received_at"]),
        "closed_at": iso(doc.get("closed_at")),
        "my_roles": roles,
    }
    return c.CaseOut().dump(out)


def progress(doc: dict, now: datetime) -> dict:
    replies = []
    for r in doc.get("rounds") or []:
        replies += [
            {"round": r["round"], "kind": "interim", "text": i["text"], "at": iso(i["at"])}
            for i in r.get("interim") or []
        ]
        if r.get("reply"):
            replies.append(
                {"round": r["round"], "kind": "final", "text": r["reply"], "at": iso(r["replied_at"])}
            )
    out = {
        "id": doc["_id"],
        "case_type_label": c.CASE_TYPES[doc["case_type"]],
        "category_label": c.CATEGORIES[doc["category"]],
        "title": doc["title"],
        "state": doc["state"],
        "state_label": c.STATES[doc["state"]],
        "round": doc.get("round", 0),
        "handling_union_name": doc.get("handling_union_name"),
        "deadline": _clock(doc, now)["deadline"],
        "history": _history(doc, False),
        "replies": replies,
        "can_rate": doc["state"] == "replied" and bool((doc.get("worker") or {}).get("member_id")),
        "received_at": iso(doc["received_at"]),
        "closed_at": iso(doc.get("closed_at")),
    }
    return c.ProgressOut().dump(out)


def summary(doc: dict, now: datetime) -> dict:
    return {
        "id": doc["_id"],
        "case_type": doc["case_type"],
        "category": doc["category"],
        "category_label": c.CATEGORIES[doc["category"]],
        "title": doc["title"],
        "state": doc["state"],
        "state_label": c.STATES[doc["state"]],
        "round": doc.get("round", 0),
        "handling_union_id": doc.get("handling_union_id"),
        "employer_name": doc["employer"]["name"],
        **_clock(doc, now),
        "supervised": bool(doc.get("supervised")),
        "received_at": iso(doc["received_at"]),
    }


def alert(a: dict) -> dict:
    return c.AlertOut().dump(
        {
            **a,
            "id": a["_id"],
            "category_label": c.CATEGORIES[a["category"]],
            "first_at": iso(a["first_at"]),
            "last_at": iso(a["last_at"]),
        }
    )
