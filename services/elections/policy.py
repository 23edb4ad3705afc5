"""Who may do what with elections: the one place the elections service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of the election (``union_id``,
``union_path`` root … the union). ``require_*`` raise :class:`dmlib.errors.Forbidden` with a plain
bilingual message.

Rules (DESIGN.md §1; 条例 2016: the union's committee, under its superior union, runs the election):

- the admins of the union or of a union above it set up an election, nominate candidates, open and
  close rounds, publish, export the report, recount;
- the electors (recorded when voting opens) cast one ballot per round and see the election;
- the members of the union see the election and, once published, its results; the published ballot
  lists and receipt checks of closed rounds are open to those who see the election;
- bulk loading of ballots (the demo) is the system's alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmlib.auth import Actor

NOT_AN_ADMIN = "only admins of this union may do this / 仅本单位工会管理员可操作"
NOT_A_READER = "only members of this union may see this election / 仅本单位会员可查看本次选举"
NOT_AN_ELECTOR = "you are not an elector of this election / 您不是本次选举的选举人"
NOT_SYSTEM = "system only / 仅限系统"


def may_manage(actor: Actor, union_path: Sequence[str]) -> bool:
    return actor.administers(union_path)


def may_read(actor: Actor, union_id: str, union_path: Sequence[str], is_elector: bool) -> bool:
    """Members of the union, electors (e.g. delegates of another union's congress term), admins."""
    return actor.union_id == union_id or is_elector or may_manage(actor, union_path)


def require_manager(actor: Actor, union_path: Sequence[str]) -> None:
    actor.require(may_manage(actor, union_path), NOT_AN_ADMIN)


def require_reader(actor: Actor, union_id: str, union_path: Sequence[str], is_elector: bool) -> None:
    actor.require(may_read(actor, union_id, union_path, is_elector), NOT_A_READER)


def needs_ballot(actor: Actor, is_elector: bool) -> bool:
    """ "What needs me" (``needs_of``) lists an open ballot for its electors (raters, voters) only, never
    for the system: the same rule as :func:`require_elector`, asked as a question."""
    return is_elector and not actor.is_system


def require_elector(actor: Actor, is_elector: bool) -> None:
    """Casting: electors only (an admin who is not an elector may not vote; nor may the system)."""
    actor.require(is_elector and not actor.is_system, NOT_AN_ELECTOR)


def require_system(actor: Actor) -> None:
    actor.require(actor.is_system, NOT_SYSTEM)
