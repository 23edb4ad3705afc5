"""Who may do what in the member registry: the one place the members service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of the object (a union's path, a
member's union path, a department's union); no nameko, no pymongo. Each ``require_*`` raises
:class:`dmlib.errors.Forbidden` with a plain message that names nothing of the object (no name, phone,
e-mail or ID tail: a refusal must not leak the personal data it protects). The service loads only the
facts a decision needs (e.g. a member's union path, not the member), decides, then reads the rest.

Rules (DESIGN.md §1): an admin (``union_admin`` or ``superior_admin``) of a union acts on that union
and the unions below it, never beside or above it; a member reads their own record; delegates are
elected through the congress (the system grants them); a role's scope is one the actor administers and
belongs to the member's own union (a department of the member's union; an admin role of the member's
union or a union above it).
"""

from __future__ import annotations

from collections.abc import Sequence

from dmlib.auth import ADMIN_ROLES, Actor

NOT_ADMIN = "only admins of this union or a union above it may do this / 仅本级或上级工会管理员可操作"
NOT_YOURS = "this member is outside your unions / 该会员不在您管理的工会范围内"
SCOPE_NOT_ADMINISTERED = "you do not administer this role's scope / 您无权授予该范围的角色"
SCOPE_ELSEWHERE = "a role's scope must be in the member's own union / 角色范围须属于该会员所在工会"


def require_admin(actor: Actor, union_path: Sequence[str]) -> None:
    """Admins of the union whose path (root … itself) is ``union_path``, or of a union above it; the system."""
    actor.require(actor.administers(union_path), NOT_ADMIN)


def require_create_root(actor: Actor) -> None:
    """A root federation (no parent): the system only."""
    actor.require(actor.is_system, "only the system creates a root federation / 仅系统可创建顶级总工会")


def require_set_star_level(actor: Actor, union_path: Sequence[str]) -> None:
    """A Worker Home's star level: the system (voting, on publication) or an admin of a union above."""
    actor.require(
        actor.is_system or actor.administers(list(union_path)[:-1]),
        "only a superior union sets star levels / 仅上级工会可评定星级",
    )


def require_login(actor: Actor) -> None:
    """The union structure (tree, departments, member counts) is public to every logged-in caller: a
    verified token (checked by ``Identity`` before this) is all it takes."""
    actor.require(bool(actor.member_id), "log in first / 请先登录")


def require_system(actor: Actor) -> None:
    actor.require(actor.is_system, "system only / 仅限系统")


def require_read_member(actor: Actor, member_id: str, union_path: Sequence[str]) -> None:
    """A member's record: the member themself, admins of their union or above, the system."""
    actor.require(actor.member_id == member_id or actor.administers(union_path), NOT_YOURS)


def require_manage_member(actor: Actor, union_path: Sequence[str]) -> None:
    """Change a member (reset their password, grant or withdraw a role): admins of the member's union
    or above, the system. Checked before anything of the member is read or changed."""
    actor.require(actor.administers(union_path), NOT_YOURS)


def require_role_change(
    actor: Actor,
    member_id: str,
    member_union_path: Sequence[str],
    role: str,
    scope_union_path: Sequence[str] | None,
    granting: bool,
) -> None:
    """Grant (``granting``) or withdraw ``role`` for a member whose union has path ``member_union_path``.

    ``scope_union_path``: the path of the union the scope belongs to (the scope union itself for an
    admin role, the department's union for ``handler``; None for ``delegate``, whose scope is a congress).
    Rules: the actor administers the member's union; ``delegate`` only by the system (elected through
    the congress); for the other roles the actor administers the scope's union, and the scope belongs to
    the member's own union (a handler: a department of the member's union; an admin role: the member's
    union or one above it); nobody grants themself a role."""
    require_manage_member(actor, member_union_path)
    if role not in ADMIN_ROLES and role != "handler":
        actor.require(actor.is_system, "delegates are elected through the congress / 职工代表由职代会产生")
        return
    path = list(scope_union_path or [])
    actor.require(bool(path) and actor.administers(path), SCOPE_NOT_ADMINISTERED)
    if role == "handler":
        actor.require(path[-1] == list(member_union_path)[-1], SCOPE_ELSEWHERE)
    else:
        actor.require(path[-1] in member_union_path, SCOPE_ELSEWHERE)
        if granting:
            actor.require(
                actor.is_system or actor.member_id != member_id,
                "one cannot grant oneself a role / 不能给自己授权",
            )


def require_set_password(actor: Actor, member_id: str, union_path: Sequence[str]) -> bool:
    """Set a member's password: the member themself (True: they must give their current password) or
    an admin of their union or above, or the system (False: a reset)."""
    if actor.member_id == member_id and not actor.is_system:
        return True
    require_manage_member(actor, union_path)
    return False


def require_importer(actor: Actor) -> None:
    """Start an import: union admins (each row is then checked against their unions) and the system."""
    actor.require(
        bool(actor.admin_unions) or actor.is_system,
        "only union admins import members / 仅工会管理员可导入会员",
    )


def require_import_owner(actor: Actor, job_actor: str) -> None:
    """An import job's progress, errors and processing: the admin who started it, or the system."""
    actor.require(actor.is_system or actor.member_id == job_actor, "not your import / 非本人发起的导入")


def needs_imports(actor: Actor) -> bool:
    """ "What needs me" (``needs_of``) lists import jobs with bad rows to the admin who started them (the
    rule of :func:`require_import_owner`: only their own jobs are read)."""
    return bool(actor.admin_unions) and not actor.is_system


def may_name_client_address(caller: Actor | None, gateway: str) -> bool:
    """Whose word on a login's client address counts (the login limiter's address bucket): only the
    gateway's, i.e. a system token for the service identity ``gateway``; any other caller of
    ``authenticate`` is counted as one bucket, so it can neither spread its attempts nor charge others."""
    return caller is not None and caller.is_system and caller.member_id == gateway


def may_import_into(admin_unions: set[str], union_path: Sequence[str]) -> bool:
    """May an import started by admins of ``admin_unions`` (``"*"``: the system) write into this union?"""
    return "*" in admin_unions or bool(admin_unions & set(union_path))
