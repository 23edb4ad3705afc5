"""Who may do what with proposals: the one place the proposals service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of the object: a window or a proposal
document (each carries ``union_id``, ``union_path`` (root … itself) and ``congress_id``). No nameko, no
pymongo. ``require_*`` raise :class:`dmlib.errors.Forbidden` with a plain bilingual message that names
nothing of the object (no subject, no member's name).

Rules (DESIGN.md §1, §4):

- admins of the congress's union or a union above it open and close a session's collection window,
  review, assign, mark closed proposals excellent, and see the desk and the register;
- delegates of the congress (``delegate`` grant, scope = congress id) draft proposals and co-sign others'
  drafts (not their own); the proposer submits;
- handlers of a department (``handler`` grant, scope = department id) see its inbox and reply to
  proposals assigned to it;
- the proposer and the co-signers rate the reply;
- members of the union, the congress's delegates and those admins read submitted proposals, the public
  list and the statistics; a draft is seen by its proposer, invitees, co-signers, the congress's
  delegates and admins;
- the reminder round, back-dating and index repair: the system only.

A move of the state machine (:data:`rules.MOVES`) names the relation it needs; :func:`require_move`
checks it here, before :func:`rules.check_state` checks the state, so a wrong person learns nothing
about the state.
"""

from __future__ import annotations

from collections.abc import Iterable

from dmlib.auth import Actor
from dmlib.errors import Forbidden

from . import rules

NOT_ADMIN = "only admins of this union may do this / 仅本单位工会管理员可操作"
NOT_READER = "only members of this union see its proposals / 仅本单位会员可查看提案"


def relations(actor: Actor, p: dict, handler_of: Iterable[str] = ()) -> set[str]:
    """The actor's relations to proposal ``p``: ``proposer``, ``cosigner`` (the proposer counts as one
    for rating), ``invited``, ``delegate`` (of its congress), ``admin`` (of its union or above),
    ``handler`` (of a department of the current round, or any handler when ``handler_of`` is given:
    the departments they handle, so that any handler learns the state before the department check)."""
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
    if set(handler_of) or any(actor.has("handler", d) for d in current):
        roles.add("handler")
    return roles


def require_move(action: str, roles: Iterable[str]) -> None:
    """The actor holds the relation that ``action`` needs (:data:`rules.MOVES`)."""
    move = rules.MOVES[action]
    en, zh = rules.ROLE_WORDS[move.role]
    if move.role not in set(roles):
        raise Forbidden(
            f"only {en} may {action.replace('_', ' ')} this proposal / 仅{zh}可进行此操作",
            details={"action": action},
            reason="not_your_step",
        )


def require_admin(actor: Actor, scoped: dict) -> None:
    """Admins of the union of ``scoped`` (a window or a proposal) or of a union above it; the system."""
    actor.require(actor.administers(scoped["union_path"]), NOT_ADMIN, union_id=scoped["union_id"])


def may_administer(actor: Actor, scoped: dict) -> bool:
    """:func:`require_admin` as a question (the "what needs me" desks list only what it allows)."""
    return actor.administers(scoped["union_path"])


def may_read(actor: Actor, scoped: dict) -> bool:
    """Members of the union, the congress's delegates, admins of the union or above, the system."""
    return (
        actor.union_id == scoped["union_id"]
        or actor.administers(scoped["union_path"])
        or actor.has("delegate", scoped["congress_id"])
    )


def require_reader(actor: Actor, scoped: dict) -> None:
    actor.require(may_read(actor, scoped), NOT_READER, union_id=scoped["union_id"])


def require_see_proposal(actor: Actor, p: dict) -> None:
    """A draft: its proposer, invitees, co-signers, the congress's delegates and admins. After
    submission: every reader of the union (:func:`may_read`)."""
    if p["state"] == "draft":
        actor.require(
            bool(relations(actor, p) & {"proposer", "cosigner", "invited", "delegate", "admin"}),
            "a draft is seen only by delegates / 草稿仅代表可见",
        )
    else:
        require_reader(actor, p)


def require_drafter(actor: Actor, window: dict) -> None:
    """Drafting a proposal: delegates of the window's congress (a person: not the system)."""
    actor.require(
        actor.has("delegate", window["congress_id"]) and not actor.is_system,
        "only delegates of this congress submit proposals / 仅本届职代会代表可提交提案",
        congress_id=window["congress_id"],
    )


def require_cosigner(roles: Iterable[str]) -> None:
    """Co-signing: a delegate of the congress (:func:`require_move`), never the proposer."""
    if "proposer" in set(roles):
        raise Forbidden("you cannot co-sign your own proposal / 不能附议自己的提案", reason="own_proposal")
    require_move("cosign", roles)


def require_rater(actor: Actor, roles: Iterable[str]) -> None:
    """Rating a reply: the proposer or a co-signer."""
    actor.require(
        "cosigner" in set(roles),
        "only the proposer or a co-signer may rate the reply / 仅提案人或附议人可评价答复",
    )


def require_handles(actor: Actor, department_id: str) -> None:
    """Acting for a department (its inbox, a reply in its name): its handlers; the system."""
    actor.require(
        actor.has("handler", str(department_id)),
        "only the department's handlers may do this / 仅本部门承办人可操作",
    )


def replying_departments(actor: Actor, department_id: str | None, assigned: Iterable[str]) -> list[str]:
    """The departments of the current round the actor may reply for: ``department_id`` when given (it
    must be theirs), else every one of theirs that is assigned. Forbidden when none is."""
    mine = sorted(actor.scopes("handler"))
    if department_id:
        if department_id not in mine:
            raise Forbidden(
                "you do not handle that department / 您不是该部门的承办人", reason="not_your_department"
            )
        mine = [department_id]
    assigned = list(assigned)
    ours = [d for d in mine if d in assigned]
    if not ours:
        raise Forbidden(
            "this proposal is not assigned to your department / 该提案未交办给您所在部门",
            details={"department_ids": assigned},
            reason="not_your_department",
        )
    return ours


def needs_scopes(actor: Actor) -> tuple[set[str], set[str], set[str]]:
    """What "what needs me" shows the actor (``needs_of``): (the congresses they are a delegate of: their
    own drafts and invitations there; the departments they handle: their inbox; the unions they
    administer: the desks of those unions and the unions below)."""
    return actor.scopes("delegate"), actor.scopes("handler"), set(actor.admin_unions)


def require_system(actor: Actor) -> None:
    """Operators' and timers' work (reminder round, back-dating, index repair): the system only."""
    actor.require(actor.is_system, "system only / 仅限系统")
