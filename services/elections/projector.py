"""The projector view (大屏) of an election and its revocable read-only links (issue 14).

Use cases of (ports, actor, input) like :mod:`.app`; no nameko here. The links work as the congress
service's, through the same shared code (:mod:`dmlib.links`: the store mixin, the document, the view;
purpose :data:`LINK_PURPOSE`; collection ``projector_links``, ``_id`` = the token): the election's
admins (:func:`policy.require_manager`) create, list and revoke them (revoking once); an unsigned or
unknown token is NotFound, a revoked one Forbidden with ``details.revoked``.

What the view shows (:func:`projector_data`): the electors due (应到), the ballots cast in the current
round of them as a live bar with the line an election needs to be valid (more than 2/3 of the electors
due take part, 《工会基层组织选举工作条例》 2016, :func:`rules.turnout_required`) and the approvals a
candidate needs (more than half of the electors due, :func:`rules.majority_required`); the candidates on
the ballot (public); once the election is published, who was elected and each candidate's approvals.
Never who voted, never a count before publication (the same rule as :func:`app.election_out`).
"""

from __future__ import annotations

from dmlib import links
from dmlib.auth import Actor

from . import policy
from . import rules as r
from .app import Ports, _audit, election_of, require_reader

LINK_PURPOSE = "elections.projector_link"
#: What a link shows (:attr:`dmlib.links.ProjectorLinks.link_subject` of the store).
SUBJECT = "election_id"


def create_link(p: Ports, actor: Actor, key: bytes, election_id: str) -> dict:
    """A new read-only projector link for an election (its admins)."""
    doc = election_of(p, election_id)
    policy.require_manager(actor, doc["union_path"])
    link = links.new_link(
        key, p.clock(), actor.member_id, doc["union_id"], doc["union_path"], election_id=election_id
    )
    audit = _audit(
        actor, "projector_link_created", "projector_link", election_id, doc, fields=("election_id",)
    )
    return links.link_view(p.store.insert_projector_link(link, audit), SUBJECT)


def list_links(p: Ports, actor: Actor, election_id: str) -> list[dict]:
    """The election's projector links, newest first, revoked ones included (its admins)."""
    doc = election_of(p, election_id)
    policy.require_manager(actor, doc["union_path"])
    return [links.link_view(d, SUBJECT) for d in p.store.projector_links_of(election_id)]


def revoke_link(p: Ports, actor: Actor, key: bytes, token: str) -> dict:
    """Revoke a link (the election's admins); Conflict if revoked already."""
    link = links.load_link(p.store, key, token)
    policy.require_manager(actor, link["union_path"])
    audit = _audit(
        actor, "projector_link_revoked", "projector_link", link["election_id"], link, fields=("revoked_at",)
    )
    return links.link_view(p.store.revoke_projector_link(token, p.clock(), actor.member_id, audit), SUBJECT)


def by_link(p: Ports, key: bytes, token: str) -> dict:
    """The projector data of the election a live link shows (no login; :func:`dmlib.links.live_link`)."""
    link = links.live_link(p.store, key, token)
    return projector_data(p, election_of(p, link["election_id"]))


def by_reader(p: Ports, actor: Actor, election_id: str) -> dict:
    """The projector data for a logged-in reader of the election (members, electors, admins)."""
    doc = election_of(p, election_id)
    require_reader(p, actor, doc)
    return projector_data(p, doc)


def projector_data(p: Ports, doc: dict) -> dict:
    """:class:`ProjectorOut` of elections (module docstring): counts and public names only."""
    due = doc.get("due")
    rid = doc.get("current_round") or (doc.get("rounds") or [None])[-1]
    rnd = p.store.get_round(rid) if rid else None
    current = None
    if rnd is not None:
        current = {
            "n": rnd["n"],
            "kind": rnd["kind"],
            "status": rnd["status"],
            "seats": rnd["seats"],
            "ballots": int(p.store.get_tally(rid).get("n", 0)),
            "candidates": [rnd["names"].get(c, c) for c in rnd["candidates"]],
        }
    result = None
    if doc["status"] == "published":
        approvals = (rnd or {}).get("tally", {}).get("approve", {})
        result = {
            "elected": [{"name": e["name"], "approvals": e["approvals"]} for e in doc.get("elected", [])],
            "approvals": [
                {"name": rnd["names"].get(c, c), "approve": approvals.get(c, 0)} for c in rnd["candidates"]
            ]
            if rnd is not None
            else [],
            "vacant": doc.get("vacant"),
        }
    return {
        "election_id": doc["_id"],
        "title": doc["title"],
        "kind": doc["kind"],
        "seats": doc["seats"],
        "status": doc["status"],
        "due": due,
        "turnout_required": r.turnout_required(due) if due else None,
        "majority_required": r.majority_required(due) if due else None,
        "round": current,
        "result": result,
    }
