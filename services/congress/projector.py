"""The projector view (大屏) of a session: what the hall sees, and the revocable read-only links that show
it without a login (issue 14).

Use cases of (store, actor, clock, input[, peers]) like :mod:`.app`; no nameko here.

- A **projector link** is a random token signed with the service's link key (:mod:`dmlib.links`,
  purpose :data:`LINK_PURPOSE`; stored, shown and read by the code it shares with the elections
  service: :class:`dmlib.links.ProjectorLinks` and its functions), stored in ``projector_links`` under
  the token itself (``_id``: one index lookup per poll) with the session, its union and who made it.
  The admins of the session's union or above (:func:`policy.require_admin`) create, list and revoke
  links; revoking is a guarded write, once (a second one is a Conflict). A token that is not signed by this service, or not
  stored, is NotFound; a revoked one is Forbidden with ``details.revoked`` true, so the page can say so.
- The **projector data** (:func:`projector_data`) holds counts only: 应到 / 实到, the quorum needed
  (⌈2/3⌉ of all delegates, 1986 条例 art. 18), the item being voted with ballots cast of eligible, and
  the last outcome with its counts (adopted iff yes > 1/2 of ALL delegates, art. 18). No member id,
  name or choice of anyone: who voted is never in it. An election item being voted shows its open
  round's ballots of the electors due (the delegates present when voting opened) from the elections
  service's projector data (:func:`.app.live_ballots`); its outcome, once published, the names elected
  (public, as on the election's own projector view).
"""

from __future__ import annotations

from dmlib import links
from dmlib.auth import Actor

from . import policy, rules, views
from .app import Clock, Peers, _audit, active_item, live_ballots, load_session, load_term, present

#: The purpose the link key is derived for (:func:`dmlib.links.link_key`).
LINK_PURPOSE = "congress.projector_link"
#: What a link shows (:attr:`dmlib.links.ProjectorLinks.link_subject` of the store).
SUBJECT = "session_id"


def create_link(store, actor: Actor, clock: Clock, key: bytes, session_id: str) -> dict:
    """A new read-only projector link for a session (admins). Returns :class:`ProjectorLinkOut` fields."""
    session = load_session(store, session_id)
    policy.require_admin(actor, session)
    doc = links.new_link(
        key,
        clock(),
        actor.member_id,
        session["union_id"],
        session["union_path"],
        session_id=session_id,
        congress_id=session["congress_id"],
    )
    audit = _audit(
        actor, "projector_link_created", "projector_link", session_id, session, fields=("session_id",)
    )
    return links.link_view(store.insert_projector_link(doc, audit), SUBJECT)


def list_links(store, actor: Actor, session_id: str) -> list[dict]:
    """The projector links of a session, newest first, revoked ones included (admins)."""
    session = load_session(store, session_id)
    policy.require_admin(actor, session)
    return [links.link_view(d, SUBJECT) for d in store.projector_links_of(session_id)]


def revoke_link(store, actor: Actor, clock: Clock, key: bytes, token: str) -> dict:
    """Revoke a link (admins of its session's union or above); Conflict if it was revoked already."""
    link = links.load_link(store, key, token)
    policy.require_admin(actor, link)
    audit = _audit(
        actor,
        "projector_link_revoked",
        "projector_link",
        link["session_id"],
        link,
        fields=("revoked_at",),
    )
    return links.link_view(store.revoke_projector_link(token, clock(), actor.member_id, audit), SUBJECT)


def by_link(store, peers: Peers, key: bytes, token: str) -> dict:
    """The projector data of the session a live link shows (no login): NotFound (unknown or forged
    token), Forbidden with ``details`` ``{"revoked": true}`` (revoked) (:func:`dmlib.links.live_link`)."""
    link = links.live_link(store, key, token)
    return projector_data(store, peers, load_session(store, link["session_id"]))


def by_reader(store, actor: Actor, peers: Peers, session_id: str) -> dict:
    """The projector data for a logged-in reader of the session (:func:`policy.require_reader`)."""
    session = load_session(store, session_id)
    policy.require_reader(actor, session)
    return projector_data(store, peers, session)


def projector_data(store, peers: Peers, session: dict) -> dict:
    """:class:`ProjectorOut`: counts only, never who checked in or voted (module docstring)."""
    term = load_term(store, session["term_id"])
    due, here = views.due(session, term), present(store, session)
    items = store.items_of(session["_id"])
    voting = None
    if item := active_item(store, session):
        voting = {"title": item["title"], "secret": item["secret"], "ballots": None, "eligible": None}
        if item["kind"] == "election":
            voting["kind"] = "election"
        voting.update(live_ballots(peers, item))
    decided = [i for i in items if (i.get("outcome") or i.get("election_outcome")) and i.get("decided_at")]
    last = max(decided, key=lambda i: i["decided_at"], default=None)
    outcome = None
    if last is not None and last.get("election_outcome"):
        o = last["election_outcome"]
        outcome = {
            "title": last["title"],
            "kind": "election",
            "due": o["due"],
            "elected": [e["name"] for e in o["elected"]],
            "vacant": o.get("vacant"),
        }
    elif last is not None:
        o = last["outcome"]
        outcome = {"title": last["title"], **{k: o.get(k) for k in OUTCOME_FIELDS}}
    return {
        "session_id": session["_id"],
        "title": session["title"],
        "state": session["state"],
        "due_count": due,
        "present_count": here,
        "required": rules.quorum_required(due),
        "quorum": rules.quorum(here, due),
        "voting": voting,
        "outcome": outcome,
        "items": [{"order": i["order"], "title": i["title"], "state": i["state"]} for i in items],
    }


OUTCOME_FIELDS = ("yes", "no", "abstain", "ballots", "eligible", "due", "required", "adopted")
