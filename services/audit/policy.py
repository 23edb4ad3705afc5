"""Who may read the audit log (one place, used by every entrypoint of the audit service).

- An admin (``union_admin`` or ``superior_admin``) reads the log of the union they administer and of
  every union below it; so the federation's admin reads all of it (DESIGN.md §1: scoped roles).
- The system (``dm audit-verify``, role ``system``) verifies every chain; an admin verifies the chains
  of the unions they administer.
- Nobody writes through an RPC: entries arrive only as ``change_recorded`` events, and no update or
  delete exists.
"""

from __future__ import annotations

from collections.abc import Iterable

from dmlib.auth import Actor


def require_reader(actor: Actor, union_path: Iterable[str]) -> None:
    """Forbidden (403) unless ``actor`` administers the union of ``union_path`` (root … itself)."""
    actor.require(
        actor.administers(union_path),
        "only admins of this union or above read its audit log / 仅本级或上级工会管理员可查看审计日志",
    )


def require_verify_all(actor: Actor) -> None:
    """Forbidden unless the system: verifying every union's chain at once is an operator's command."""
    actor.require(actor.is_system, "only the operator verifies every chain / 仅运维可校验全部审计链")
