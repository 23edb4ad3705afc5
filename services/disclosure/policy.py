"""Who may do what with factory-affairs disclosure: the one place the disclosure service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of the object: ``union_id`` and
``union_path`` (root … itself) of the union whose board it is (an item, a question's item, the union's
own index or its record from the members service). No nameko, no pymongo. ``require_*`` raise
:class:`dmlib.errors.Forbidden` with a plain bilingual message naming nothing of the object.

Rules (DESIGN.md §1, §4 "Disclosure"; 企业民主管理规定 2012 ch. 4, 厂务公开 to the enterprise's own workers):

- the members of the union (``actor.union_id``) read its board, open its items, files and revisions,
  and ask questions; only their opens record a read receipt;
- the admins of the union or of a union above it (``actor.administers(path)``) publish, correct,
  withdraw, answer, see read rates, the unread list and the question desk, repair counters; they may
  read the board too (without a receipt) and see every open question;
- a question still open is seen by its asker (recognised by the keyed hash) and the admins; an answered
  one by every reader;
- migrations (bulk receipts, an earlier register, index rebuilds) are the system's alone;
- anyone else: refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmlib.auth import Actor

NOT_A_READER = "only members of this union may see its disclosures / 仅本单位会员可查看厂务公开"
NOT_AN_ADMIN = "only admins of this union may do this / 仅本单位工会管理员可操作"
NOT_AN_ASKER = "only members of this union may ask about its disclosures / 仅本单位会员可提问"
NOT_SYSTEM = "system only / 仅限系统"


def is_member(actor: Actor, union_id: str) -> bool:
    """A member of the union itself (not an admin above it): their opens are read receipts."""
    return actor.union_id is not None and actor.union_id == union_id


def may_manage(actor: Actor, union_path: Sequence[str]) -> bool:
    """Admins of the union whose path is ``union_path`` or of a union above it; the system."""
    return actor.administers(union_path)


def may_read(actor: Actor, union_id: str, union_path: Sequence[str]) -> bool:
    """Members of the union and those who manage it."""
    return is_member(actor, union_id) or may_manage(actor, union_path)


def require_manager(actor: Actor, union_path: Sequence[str]) -> None:
    """Publish, correct, withdraw, answer, read rates, the question desk, recount."""
    actor.require(may_manage(actor, union_path), NOT_AN_ADMIN)


def require_reader(actor: Actor, union_id: str, union_path: Sequence[str]) -> None:
    """The board, an item, its revisions, files and questions."""
    actor.require(may_read(actor, union_id, union_path), NOT_A_READER)


def require_asker(actor: Actor, union_id: str) -> None:
    """Asking a question: members of the item's union only (admins answer, they do not ask)."""
    actor.require(is_member(actor, union_id), NOT_AN_ASKER)


def may_see_question(actor: Actor, union_path: Sequence[str], answered: bool, mine: bool) -> bool:
    """An answered question is public to the readers; an open one only to its asker and the admins."""
    return answered or mine or may_manage(actor, union_path)


def needs_scopes(actor: Actor) -> tuple[str | None, set[str]]:
    """What "what needs me" shows the actor (``needs_of``): the board of their own union (as a reader,
    with receipts) and the desks of the unions they administer and those below (as a manager)."""
    return actor.union_id, set(actor.admin_unions)


def require_system(actor: Actor) -> None:
    """Migrations and repairs of derived indexes: the system only."""
    actor.require(actor.is_system, NOT_SYSTEM)
