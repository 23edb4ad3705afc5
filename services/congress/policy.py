"""Who may do what in a workers' congress: the one place the congress service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of the object: ``scoped`` is any
congress, term, session or agenda item document (each carries ``union_id``, ``union_path`` (root …
itself) and, for reads, ``congress_id``). No nameko, no pymongo. ``require_*`` raise
:class:`dmlib.errors.Forbidden` with a plain message naming nothing of the object.

Rules (DESIGN.md §1, §4; 1986 条例): the admins of the congress's union and of the unions above it run
it (congress, terms, delegations, elections, sessions, agenda, check-in desk, opening and closing votes);
the union's members, the congress's delegates and those admins read its record; only delegates of the
term check themselves in; only the delegates present when a vote opened vote (voting checks that).
"""

from __future__ import annotations

from collections.abc import Sequence

from dmlib.auth import Actor


def require_admin(actor: Actor, scoped: dict) -> None:
    """Admins of the congress's union or of a union above it; the system."""
    require_union_admin(actor, scoped["union_path"])


def require_union_admin(actor: Actor, union_path: Sequence[str]) -> None:
    """Admins of the union whose path is ``union_path`` or above (e.g. to set up its congress)."""
    actor.require(
        actor.administers(union_path),
        "only admins of this union run its congress / 仅本级或上级工会管理员可操作职代会",
    )


def may_read(actor: Actor, scoped: dict) -> bool:
    """Members of the union, its congress's delegates, admins of it or above, the system."""
    return (
        actor.union_id == scoped["union_id"]
        or actor.administers(scoped["union_path"])
        or actor.has("delegate", scoped["congress_id"])
    )


def require_reader(actor: Actor, scoped: dict) -> None:
    actor.require(may_read(actor, scoped), "only members of this union see its congress / 仅本单位会员可查看")


def needs_congresses(actor: Actor) -> set[str]:
    """The congresses whose coming and running sessions "what needs me" (``needs_of``) shows the actor:
    those they are a delegate of (each session then only if they are a delegate of its term)."""
    return actor.scopes("delegate")


def require_self_check_in(actor: Actor, is_delegate: bool) -> None:
    """Checking oneself in: delegates of the session's term only."""
    actor.require(is_delegate, "only delegates of this term check in / 仅本届职工代表可签到")


def require_delegate_vote(actor: Actor, is_delegate: bool) -> None:
    """Voting on an item: delegates of the session's term only."""
    actor.require(is_delegate, "only delegates of this term vote / 仅本届职工代表可表决")


def require_checked_in(actor: Actor, is_present: bool) -> None:
    """A delegate votes only once checked in to the session (the present are the poll's voters)."""
    actor.require(is_present, "check in before voting / 请先签到再表决")
