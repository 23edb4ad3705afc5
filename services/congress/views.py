"""Output shaping of the congress service: stored documents → the contract's output schemas
(:mod:`dmlib.contracts.congress`). Pure: the counts a view needs (实到) are passed in by the use case."""

from __future__ import annotations

from dmlib.contracts import congress as c
from dmlib.schemas import iso

from . import rules


def due(session: dict, term: dict) -> int:
    """应到: frozen on the session when it convened, else all delegates of the term now."""
    frozen = session.get("due_count")
    return frozen if frozen is not None else term.get("delegate_count", 0)


def term(doc: dict) -> dict:
    """:class:`TermOut`: delegations with their delegate counts and the 20 % managers flag."""
    counts = doc.get("delegation_counts", {})
    return c.TermOut().dump(
        {
            **doc,
            "id": doc["_id"],
            "delegations": [
                {**d, "delegate_count": counts.get(d["id"], 0)} for d in doc.get("delegations", [])
            ],
            "managers_over_limit": rules.managers_over_limit(
                doc.get("manager_count", 0), doc.get("delegate_count", 0)
            ),
        }
    )


def congress(doc: dict, terms: list[dict]) -> dict:
    """:class:`CongressOut` with its terms (term documents)."""
    return c.CongressOut().dump({**doc, "id": doc["_id"], "terms": [term(t) for t in terms]})


def item(doc: dict) -> dict:
    """:class:`ItemOut`."""
    return c.ItemOut().dump(
        {
            **doc,
            "id": doc["_id"],
            "poll_id": doc.get("poll_id"),
            "election_id": doc.get("election_id"),
            "election_outcome": doc.get("election_outcome"),
            "decided_at": iso(doc.get("decided_at")),
            "starts_at": iso(doc.get("starts_at")),
            "place": doc.get("place", ""),
            "attachments": doc.get("attachments", []),
        }
    )


def session(doc: dict, term_doc: dict, present: int, items: list[dict] | None = None) -> dict:
    """:class:`SessionOut`: 应到, 实到 (``present``), the quorum figures, and the agenda ``items`` (the
    open item is named only while it is pending or voting, when the items are given)."""
    d = due(doc, term_doc)
    out = {
        **doc,
        "id": doc["_id"],
        "scheduled_at": iso(doc.get("scheduled_at")),
        "convened_at": iso(doc.get("convened_at")),
        "closed_at": iso(doc.get("closed_at")),
        "due_count": d,
        "present_count": present,
        "required": rules.quorum_required(d),
        "quorum": rules.quorum(present, d),
        "open_item": doc.get("open_item")
        if items is None
        or any(i["_id"] == doc.get("open_item") and i["state"] in ("pending", "voting") for i in items)
        else None,
        "items": [item(i) for i in (items if items is not None else [])],
    }
    return c.SessionOut().dump(out)


def by_delegation(term_doc: dict, present_by: dict[str, int]) -> list[dict]:
    """``[{id, name, due, present}]`` per delegation of the term."""
    counts = term_doc.get("delegation_counts", {})
    return [
        {
            "id": d["id"],
            "name": d["name"],
            "due": counts.get(d["id"], 0),
            "present": present_by.get(d["id"], 0),
        }
        for d in term_doc.get("delegations", [])
    ]
