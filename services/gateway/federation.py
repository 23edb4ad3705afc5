"""The union filter of the admins' lists (issue 16, "Federation views"): every list an admin sees covers
their union and the unions below, and lets them pick one. Which unions those are is the members
service's answer (it owns the tree, ``members.list_unions``); whether the caller may read the list of the
union picked stays with the service that owns the list (its ``policy.py``)."""

from __future__ import annotations


def unions_to_pick(members_rpc, web, actor, kind: str | None = "grassroots") -> list[dict]:
    """The unions of ``kind`` (None: any) that ``actor`` administers or that lie below a union they
    administer, ``[{id, name}]`` by id; empty for a caller who administers nothing. One
    ``members.list_unions`` call per administered union (a refused or unknown one counts as none)."""
    found: dict[str, dict] = {}
    for union_id in sorted(actor.admin_unions):
        for u in web.visible(members_rpc.list_unions, union_id, kind, default=[]):
            found[u["id"]] = {"id": u["id"], "name": u["name"]}
    return [found[k] for k in sorted(found)]
