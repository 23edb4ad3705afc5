"""Who may do what in the notify service: the one place it decides it.

Pure functions over :class:`dmlib.auth.Actor` (no nameko, no pymongo). ``require_*`` raise
:class:`dmlib.errors.Forbidden` with a plain bilingual message naming nothing of the object.

Rules (DESIGN.md §1, §3):

- an inbox and its preferences belong to a member: only members (an actor with a union) have them, and
  each reads and marks only their own (a message of someone else's inbox is answered as not found, so
  its existence is not revealed: that is :func:`services.notify.app.mark_read`'s scoping, not a refusal);
- the delivery log of a union's members is read by the admins of that union and of the unions above it;
- the progress of a fan-out (counts only, no personal data) by the system and any admin;
- running the daily digests on demand is for the system only (operators, tests).
"""

from __future__ import annotations

from collections.abc import Sequence

from dmlib.auth import Actor


def require_member(actor: Actor) -> None:
    """An inbox or preferences: members only (the system and unscoped accounts have none)."""
    actor.require(bool(actor.union_id), "only members have an inbox / 仅会员有站内信")


def require_log_reader(actor: Actor, union_path: Sequence[str]) -> None:
    """The delivery log of the union whose path is ``union_path``: its admins or those above; the system."""
    actor.require(
        actor.administers(union_path),
        "only admins of this union or above see its delivery log / 仅本级或上级工会管理员可查看",
    )


def require_fanout_reader(actor: Actor) -> None:
    """A fan-out's progress: the system and admins of any union."""
    actor.require(actor.is_system or bool(actor.admin_unions), "admins only / 仅限管理员")


def require_system(actor: Actor) -> None:
    """Operator jobs (sending the digests now): the system only."""
    actor.require(actor.is_system, "system only / 仅限系统")
