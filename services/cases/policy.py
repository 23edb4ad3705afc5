"""Who may do what with worker requests (接诉即办): the one place the cases service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of a case: ``receiving_path`` (root …
the union that received it) and ``handling_path`` (root … the union it is dispatched to). Rules
(DESIGN.md §1, docs/cases.md "Who does what"):

- a **member** files a case online at their own union and reads, rates their own cases;
- **staff** of a union = its ``hotline_staff``, its ``union_admin``/``superior_admin`` or those of a
  union above it: they record calls at that union, dispatch what it received (to itself or a union
  below), handle, transfer and follow up what is dispatched to it;
- **supervisors** of a case = ``superior_admin``s of a union strictly above the handling union: 督办/催办;
- indicators, alerts and the monthly topic of a union: its staff;
- operators' repairs and the limit round: the system.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmlib.auth import Actor

NOT_STAFF = "only staff of this union may do this / 仅本单位热线或工会工作人员可操作"
NOT_HANDLER = "only the handling union may do this / 仅承办工会可操作"
NOT_WORKER = "only the worker who filed this case may do this / 仅诉求人本人可操作"
NOT_READER = "you may not see this case / 无权查看该诉求件"
NOT_SUPERVISOR = "only a superior union of the handling union may supervise / 仅承办工会的上级工会可督办"
NOT_MEMBER = "only members may file a case online / 仅会员可在网上提交诉求"
NOT_BELOW = "a case can be dispatched only to this union or one below it / 只能派往本级或下级工会"
NOT_SYSTEM = "system only / 仅限系统"


def is_staff(actor: Actor, path: Sequence[str] | None) -> bool:
    """Hotline staff or admins of the union whose path is ``path`` or of a union above it; the system."""
    if not path:
        return actor.is_system
    return actor.administers(path) or bool(actor.scopes("hotline_staff") & set(path))


def staff_role(actor: Actor, path: Sequence[str]) -> str:
    """The role an action of a staff member is allowed under (for the audit entry and the history)."""
    if actor.is_system:
        return "system"
    if actor.scopes("hotline_staff") & set(path) and not actor.administers(path):
        return "hotline_staff"
    return "superior_admin" if actor.scopes("superior_admin") & set(path) else "union_admin"


def is_worker(actor: Actor, case: dict) -> bool:
    member = (case.get("worker") or {}).get("member_id")
    return member is not None and member == actor.member_id


def may_read(actor: Actor, case: dict) -> bool:
    return (
        is_worker(actor, case)
        or is_staff(actor, case["receiving_path"])
        or is_staff(actor, case.get("handling_path"))
    )


def require_member(actor: Actor) -> None:
    actor.require(actor.union_id is not None and not actor.is_system, NOT_MEMBER)


def require_staff(actor: Actor, path: Sequence[str]) -> None:
    actor.require(is_staff(actor, path), NOT_STAFF)


def require_receiver(actor: Actor, case: dict) -> None:
    """Dispatch: staff of the receiving union (or above)."""
    actor.require(is_staff(actor, case["receiving_path"]), NOT_STAFF)


def require_handler(actor: Actor, case: dict) -> None:
    """Sign for, contact, notes, replies, transfers: staff of the handling union (or above)."""
    actor.require(is_staff(actor, case.get("handling_path")), NOT_HANDLER)


def require_follow_up(actor: Actor, case: dict) -> None:
    """Return visits and notes: staff of the receiving or the handling union."""
    actor.require(
        is_staff(actor, case["receiving_path"]) or is_staff(actor, case.get("handling_path")), NOT_STAFF
    )


def require_worker(actor: Actor, case: dict) -> None:
    actor.require(is_worker(actor, case), NOT_WORKER)


def require_reader(actor: Actor, case: dict) -> None:
    actor.require(may_read(actor, case), NOT_READER)


def require_target_below(actor: Actor, origin_union: str, target_path: Sequence[str]) -> None:
    """A dispatch goes to the receiving union itself or a union below it."""
    actor.require(origin_union in target_path, NOT_BELOW)


def require_supervisor(actor: Actor, case: dict) -> None:
    path = list(case.get("handling_path") or [])
    above = set(path[:-1])
    actor.require(actor.is_system or bool(actor.scopes("superior_admin") & above), NOT_SUPERVISOR)


def needs_scopes(actor: Actor) -> set[str]:
    """The unions whose queues "what needs me" (``needs_of``) shows the actor, with the unions below:
    those they administer or staff the hotline of (:func:`is_staff`). Their own cases are theirs anyway."""
    return set(actor.admin_unions) | actor.scopes("hotline_staff")


def require_system(actor: Actor) -> None:
    actor.require(actor.is_system, NOT_SYSTEM)
