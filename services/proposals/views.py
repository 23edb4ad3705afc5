"""What the proposals service answers: documents shaped into the output schemas of
``dmlib.contracts.proposals`` (pure: no nameko, no pymongo)."""

from __future__ import annotations

from datetime import datetime

from dmlib.auth import Actor
from dmlib.contracts import proposals as c
from dmlib.schemas import iso

from . import policy, rules


def proposal(p: dict, actor: Actor | None, now: datetime) -> dict:
    """:class:`ProposalOut` of a proposal, ``my_roles`` being the actor's relations to it."""
    names = p.get("departments", {})
    rounds = [
        {
            "round": r["round"],
            "departments": [{"id": d, "name": names.get(d, d)} for d in r["department_ids"]],
            "assigned_at": iso(r["assigned_at"]),
            "deadline": iso(r["deadline"]),
            "replied_at": iso(r.get("replied_at")),
            "on_time": rules.is_on_time(r["replied_at"], r["deadline"]) if r.get("replied_at") else None,
        }
        for r in p.get("rounds", [])
    ]
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
            "my_roles": sorted(policy.relations(actor, p)) if actor else [],
        }
    )


def window(w: dict) -> dict:
    """:class:`WindowOut` of a window (``proposal_count`` = the numbers given so far)."""
    return c.WindowOut().dump(
        {
            **w,
            "session_id": w["_id"],
            "opened_at": iso(w.get("opened_at")),
            "closed_at": iso(w.get("closed_at")),
            "proposal_count": w.get("seq", 0),
        }
    )
