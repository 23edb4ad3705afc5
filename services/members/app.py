"""Use cases of the member registry (DESIGN.md §1): functions of (store, actor, clock, input[, registry])
that ask the policy first, apply the rules and commit one guarded write with its outbox events and, for a
change made by a person, its audit entry (docs/architecture.md, "Changing state", "The audit log").

- ``store``: :class:`services.members.store.MembersStore` (or the in-memory fake of the unit tests);
- ``actor``: :class:`dmlib.auth.Actor` from the verified token;
- ``clock``: a function returning the aware UTC ``datetime`` now;
- ``registry``: password hashing and the resident-ID hash key (:class:`Registry`).

Inputs arrive loaded by the contract schemas (:mod:`dmlib.contracts.members`); results are plain dicts
that the service dumps with the output schemas. Errors: :mod:`dmlib.errors` (BadInput, Forbidden,
NotFound, Conflict, Unauthenticated, PayloadTooLarge), each with its code; nothing here reads message text.

The import (:func:`start_import`, :func:`run_import`, :func:`resume_imports`) is resumable: the file and
the job are stored, each batch of :data:`rules.BATCH_ROWS` rows is written (members keyed by their number
and resident-ID hash, the roster keyed by job and batch, credentials keyed by login) and then committed on
the job by a write guarded by the batch number and the runner's lease; a crash or an outage at any point
leaves the job to the next run (the resume timer, once the lease has run out), which re-checks the rows
before its batch and writes the rest, so no row is lost or written twice. A page's import is *staged*
first (``stage``: the file stored, its rows counted by the timer, :func:`check_staged`) and runs only once
its admin confirms the count (:func:`confirm_import`, issue 16).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthenticated
from dmlib.schemas import iso, page_out
from dmlib.state import event

from . import policy, rules
from .importer import FileProblem, read_rows
from .store import KEY_GROUP

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
#: A marker of a job that was never created (its start was interrupted) is dropped after this long.
STALE_DUE = timedelta(hours=1)
#: A staged import not confirmed within this long ends (``failed``, its file deleted).
STAGED_TTL = timedelta(hours=24)
STAGED_EXPIRED = "not started within 24 hours; upload the file again / 24小时内未确认导入，请重新上传文件"


class Registry(Protocol):
    id_key: bytes
    max_import_bytes: int
    import_lease_s: float
    dummy_hash: str

    def hash_password(self, password: str) -> str: ...
    def verify_password(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
    def id_hash(self, national_id: str) -> str: ...


def aware(value: datetime) -> datetime:
    """pymongo returns naive UTC datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _audit(actor: Actor, action: str, object_type: str, object_id: str, union: dict, **kw) -> Audit | None:
    """:func:`dmlib.audit.by_person` for ``members.<action>`` in the chain of ``union``."""
    return by_person(actor, f"members.{action}", object_type, object_id, union["_id"], union["path"], **kw)


# ----- reading -------------------------------------------------------------------------------------
def union_of(store, union_id: str) -> dict:
    union = store.get_union(union_id)
    if union is None:
        raise NotFound(f"no union {union_id} / 工会不存在", details={"union_id": union_id})
    return union


def member_of(store, member_id: str) -> dict:
    member = store.get_member(member_id)
    if member is None:
        raise NotFound(f"no member {member_id} / 会员不存在", details={"member_id": member_id})
    return member


def member_union_path(store, member_id: str) -> list[str]:
    """The path of a member's union, read without the member's record (for :mod:`.policy`)."""
    union_id = store.member_union(member_id)
    if union_id is None:
        raise NotFound(f"no member {member_id} / 会员不存在", details={"member_id": member_id})
    return union_of(store, union_id)["path"]


def union_view(doc: dict, homes: dict[str, dict]) -> dict:
    """A union as :class:`UnionOut` dumps it."""
    home = homes.get(doc["_id"])
    return {
        **doc,
        "id": doc["_id"],
        "member_count": doc.get("member_count", 0),
        "worker_home": {**home, "id": home["_id"]} if home else None,
    }


def member_view(store, doc: dict, union_names: dict[str, str] | None = None) -> dict:
    """A member as :class:`MemberOut` dumps it (never the resident ID: only its last four)."""
    if union_names is None:
        union = store.get_union(doc["union_id"]) or {}
        union_names = {doc["union_id"]: union.get("name", "")}
    return {
        **doc,
        "id": doc["_id"],
        "member_no": doc["_id"],
        "union_name": union_names.get(doc["union_id"], ""),
        "national_id_last4": doc.get("id_last4", ""),
        "roles": doc.get("roles", []),
        "titles": doc.get("titles", []),
    }


# ----- unions --------------------------------------------------------------------------------------
def create_union(store, actor: Actor, clock: Clock, data: dict) -> dict:
    """A union under ``data["parent_id"]`` (rules: :func:`rules.check_placement`); a grassroots union gets
    its Worker Home, written just before the union (the commit point, with ``union_created``)."""
    parent = None
    if data["parent_id"]:
        parent = union_of(store, data["parent_id"])
        policy.require_admin(actor, parent["path"])
        rules.check_placement(data["kind"], parent)
    else:
        policy.require_create_root(actor)
    union_id = data["id"] or f"u-{uuid.uuid4().hex[:10]}"
    taken = Conflict(f"union id {union_id} is taken / 工会编号已存在", fields={"id": ["already exists"]})
    if store.get_union(union_id) is not None:
        raise taken
    doc = {
        "_id": union_id,
        "name": data["name"],
        "kind": data["kind"],
        "parent_id": data["parent_id"],
        "path": rules.union_path(parent, union_id),
        "member_count": 0,
        "created_at": clock(),
    }
    if data["kind"] == "grassroots":
        store.add_worker_home(
            {
                "_id": union_id,
                "union_id": union_id,
                "name": data["worker_home_name"] or f"{data['name']}职工之家",
                "star_level": 0,
                "created_at": clock(),
            }
        )
    scope = parent if parent else doc
    try:
        store.create(
            "unions",
            doc,
            events=[
                event("union_created", union_id=union_id, parent_id=data["parent_id"], kind=data["kind"])
            ],
            audit=_audit(
                actor, "union_created", "union", union_id, scope, fields=("name", "kind", "parent_id")
            ),
        )
    except DuplicateKeyError:
        raise taken from None
    return union_view(doc, store.worker_homes([union_id]))


def get_union(store, actor: Actor, union_id: str) -> dict:
    policy.require_login(actor)
    return union_view(union_of(store, union_id), store.worker_homes([union_id]))


def union_tree(store, actor: Actor, root_id: str | None) -> list[dict]:
    """Nested unions (``children`` sorted by name) from ``root_id`` or every root."""
    policy.require_login(actor)
    unions = store.all_unions()
    homes = store.worker_homes()
    nodes = {u["_id"]: {**union_view(u, homes), "children": []} for u in unions}
    roots = []
    for u in sorted(unions, key=lambda u: (u["name"], u["_id"])):
        parent = nodes.get(u.get("parent_id") or "")
        (parent["children"] if parent else roots).append(nodes[u["_id"]])
    if root_id is not None:
        if root_id not in nodes:
            raise NotFound(f"no union {root_id} / 工会不存在")
        return [nodes[root_id]]
    return roots


def list_unions(
    store, actor: Actor, under: str | None, kind: str | None, kinds: tuple[str, ...]
) -> list[dict]:
    policy.require_login(actor)
    if kind is not None and kind not in kinds:
        raise BadInput("unknown kind / 未知工会层级", fields={"kind": [f"one of {', '.join(kinds)}"]})
    homes = store.worker_homes()
    result = [
        union_view(u, homes)
        for u in store.all_unions()
        if (under is None or under in u["path"]) and (kind is None or u["kind"] == kind)
    ]
    if under is not None and not result and store.get_union(under) is None:
        raise NotFound(f"no union {under} / 工会不存在")
    return sorted(result, key=lambda u: u["id"])


def set_star_level(store, actor: Actor, union_id: str, star_level: Any) -> dict:
    """The star level of a union's Worker Home (0-5): the system (voting, on publication) or an admin of
    a union above. Audited when a person sets it."""
    union = union_of(store, union_id)
    level = rules.check_star_level(star_level)
    policy.require_set_star_level(actor, union["path"])
    store.change(
        "worker_homes",
        union_id,
        set={"star_level": level},
        audit=_audit(actor, "star_level_set", "worker_home", union_id, union),
    )
    return union_view(union, store.worker_homes([union_id]))


# ----- departments ---------------------------------------------------------------------------------
def create_department(store, actor: Actor, data: dict) -> dict:
    union = union_of(store, data["union_id"])
    policy.require_admin(actor, union["path"])
    rules.check_department_union(union)
    doc = {"_id": data["id"] or f"d-{uuid.uuid4().hex[:10]}", "union_id": union["_id"], "name": data["name"]}
    if any(d["name"] == doc["name"] for d in store.departments(union["_id"])):
        raise Conflict(
            "a department of that name exists / 部门名称已存在",
            fields={"name": ["already exists"]},
            reason="department_name_taken",
        )
    try:
        store.create(
            "departments", doc, audit=_audit(actor, "department_created", "department", doc["_id"], union)
        )
    except DuplicateKeyError:
        raise Conflict(
            f"department id {doc['_id']} is taken / 部门编号已存在", fields={"id": ["already exists"]}
        ) from None
    return {**doc, "id": doc["_id"]}


def list_departments(store, actor: Actor, union_id: str) -> list[dict]:
    policy.require_login(actor)
    union_of(store, union_id)
    return [{**d, "id": d["_id"]} for d in store.departments(union_id)]


# ----- members -------------------------------------------------------------------------------------
def register_member(store, actor: Actor, clock: Clock, registry: Registry, data: dict) -> dict:
    """One member: committed with ``member_registered`` (the audit entry records name, union and
    department, never the resident ID, phone or e-mail), then added to the union's roster."""
    union = union_of(store, data["union_id"])
    policy.require_admin(actor, union["path"])
    rules.check_member_union(union)
    if data["department_id"]:
        dep = store.get_department(data["department_id"])
        if dep is None or dep["union_id"] != union["_id"]:
            raise BadInput(
                "unknown department / 部门不存在",
                fields={"department_id": ["not a department of this union"]},
            )
    doc = rules.member_document(data, registry.id_hash(data["national_id"]))
    doc["created_at"] = clock()
    try:
        store.create(
            "members",
            doc,
            events=[event("member_registered", member_id=doc["_id"], union_id=union["_id"])],
            audit=_audit(
                actor,
                "member_registered",
                "member",
                doc["_id"],
                union,
                fields=("name", "union_id", "department_id"),
            ),
        )
    except DuplicateKeyError:
        field, reason = rules.duplicate_reason(store.get_member(doc["_id"]) is not None)
        raise Conflict(reason, fields={field: [reason]}) from None
    store.add_to_roster(union["_id"], [doc])
    store.add_search_keys([doc])
    return member_view(store, doc, {union["_id"]: union["name"]})


def get_member(store, actor: Actor, member_id: str) -> dict:
    if actor.member_id != member_id:
        policy.require_read_member(actor, member_id, member_union_path(store, member_id))
    return member_view(store, member_of(store, member_id))


def get_members(store, actor: Actor, member_ids: list[str]) -> list[dict]:
    if len(member_ids) > 1000:
        raise BadInput(
            "member_ids: a list of at most 1000 / 至多1000个",
            fields={"member_ids": ["a list of at most 1000 ids"]},
        )
    member_ids = [str(m) for m in member_ids]
    unions = {u["_id"]: u for u in store.all_unions()}
    if not actor.is_system:  # decide on each member's union before any record is read
        for m in member_ids:
            union_id = store.member_union(m)
            if union_id is not None:
                policy.require_read_member(actor, m, unions[union_id]["path"])
    names = {k: u["name"] for k, u in unions.items()}
    return [member_view(store, d, names) for d in store.get_members(member_ids)]


def list_members(store, actor: Actor, query: dict) -> dict:
    """A page of the members of a union (and, with ``include_below``, of the unions below), in roster
    order, or of those matching ``q``. Up to :data:`rules.ROSTER_SEARCH_LIMIT` members in scope, ``q``
    is a prefix of name, member number or phone and the rosters are read (bounded); above it, ``q`` needs
    :data:`rules.NAME_KEY_CHARS` characters (else BadInput) and is looked up in the search keys: exact
    member number, exact phone, name prefix (:meth:`MembersStore.search_page`: O(page) for the whole
    federation, bounded for a part of it)."""
    union = union_of(store, query["union_id"])
    policy.require_admin(actor, union["path"])
    unions = store.all_unions()
    names = {u["_id"]: u["name"] for u in unions}
    if query["include_below"]:
        scope = sorted((u for u in unions if union["_id"] in u["path"]), key=lambda u: u["_id"])
    else:
        scope = [union]
    page, per_page = query["page"], query["per_page"]
    skip, q = (page - 1) * per_page, query["q"]
    if query.get("department_id") or query.get("role"):
        items, total = filtered_page(store, scope, query, skip, per_page)
        return page_out([member_view(store, m, names) for m in items], total, page, per_page)
    if q and sum(u.get("member_count", 0) for u in scope) > rules.ROSTER_SEARCH_LIMIT:
        if len(rules.fold(q)) < rules.NAME_KEY_CHARS:
            raise BadInput(
                f"search with at least {rules.NAME_KEY_CHARS} characters / 请至少输入{rules.NAME_KEY_CHARS}个字符",
                fields={"q": [f"at least {rules.NAME_KEY_CHARS} characters over this many members"]},
            )
        ids = {u["_id"] for u in scope}
        everywhere = all(u["_id"] in ids for u in unions if u.get("member_count"))
        items, total = store.search_page(q, None if everywhere else ids, skip, per_page)
    else:
        items, total = store.roster_page(scope, q, skip, per_page)
    return page_out([member_view(store, m, names) for m in items], total, page, per_page)


def filtered_page(store, scope: list[dict], query: dict, skip: int, limit: int) -> tuple[list[dict], int]:
    """A page of the members of the unions ``scope`` in one department (``department_id``) and/or
    holding one role (``role``), optionally matching ``q`` (a prefix of name, member number or phone),
    and the total (issue 16: the member directory's filters).

    - ``department_id``: a department of a union in ``scope`` (else BadInput on the field); its union's
      roster is read (``_id`` lookups of its chunks) and kept where the entry's department matches, in
      roster order.
    - ``role``: the role holders (``role_holders``, by ``_id``) of the scopes that role has in each
      union of ``scope`` (:func:`rules.role_scopes`: the union, its departments, its congress), each
      checked against the member's record; ordered by member number (a stable order). Cost: one lookup
      per union in scope (and per department for ``handler``) plus one per holder.
    """
    by_id = {u["_id"]: u for u in scope}
    q, dep_id, role = query.get("q"), query.get("department_id"), query.get("role")
    if dep_id:
        dep = store.get_department(dep_id)
        if dep is None or dep["union_id"] not in by_id:
            raise BadInput(
                "no such department in this union / 本工会无此部门",
                fields={"department_id": ["not a department of a union in scope"]},
            )
        scope = [by_id[dep["union_id"]]]
    if role:
        found: dict[str, dict] = {}
        for u in scope:
            departments = [d["_id"] for d in store.departments(u["_id"])] if role == "handler" else []
            for role_scope in rules.role_scopes(role, u["_id"], departments):
                for m in store.get_members([i for i in store.role_holder_ids(role_scope) if i not in found]):
                    if m["union_id"] in by_id and any(
                        g["role"] == role and g["scope"] == role_scope for g in m.get("roles") or []
                    ):
                        found[m["_id"]] = m
        members = [found[i] for i in sorted(found)]
        members = [
            m
            for m in members
            if (not dep_id or m.get("department_id") == dep_id)
            and (not q or rules.member_matches_prefix(q, m["_id"], m["name"], m.get("phone") or ""))
        ]
        return members[skip : skip + limit], len(members)
    entries = [
        e
        for u in scope
        for e in store.roster(u["_id"], u.get("member_count", 0))
        if e.get("d") == dep_id and (not q or rules.member_matches_prefix(q, e["i"], e["n"], e.get("p", "")))
    ]
    wanted = [store.get_member(e["i"]) for e in entries[skip : skip + limit]]
    return [m for m in wanted if m], len(entries)


def union_roster(store, actor: Actor, union_id: str, offset: int, limit: int) -> dict:
    union = union_of(store, union_id)
    policy.require_admin(actor, union["path"])
    if offset < 0 or not 0 < limit <= 5000:
        raise BadInput(
            "offset ≥ 0, 0 < limit ≤ 5000 / 分页参数有误", fields={"limit": ["1-5000"], "offset": ["≥ 0"]}
        )
    count = union.get("member_count", 0)
    entries = store.roster(union_id, count, offset, offset + limit)
    return {
        "union_id": union_id,
        "total": count,
        "offset": offset,
        "members": [
            {
                "member_id": e["i"],
                "name": e["n"],
                "department_id": e.get("d") or None,
                "locale": e.get("l") or "zh-CN",
            }
            for e in entries
        ],
    }


def count_members(store, actor: Actor, union_ids: list[str]) -> dict:
    policy.require_login(actor)
    unions = {u["_id"]: u for u in store.all_unions()}
    return {u: unions[u].get("member_count", 0) for u in union_ids if u in unions}


def profile(store, actor: Actor) -> dict:
    """The caller's own record with the names of their union's path and of their roles' scopes."""
    member = member_of(store, actor.member_id)
    union = union_of(store, member["union_id"])
    unions = {u["_id"]: u for u in store.all_unions()}
    out = member_view(store, member, {union["_id"]: union["name"]})
    out["union_path"] = [
        {"id": u, "name": unions[u]["name"], "kind": unions[u]["kind"]} for u in union["path"] if u in unions
    ]
    scopes = {g["scope"] for g in out["roles"]}
    out["scope_names"] = {s: unions[s]["name"] for s in scopes if s in unions}
    return out


# ----- roles ---------------------------------------------------------------------------------------
def scope_union_path(store, role: str, scope: str, missing_ok: bool = False) -> list[str] | None:
    """The path of the union a role's scope belongs to (:func:`rules.scope_kind`): the scope union of
    an admin role, the department's union of ``handler``; None for ``delegate`` (a congress) and, with
    ``missing_ok``, for an unknown scope (else NotFound)."""
    kind = rules.scope_kind(role)
    if kind == "union":
        union = store.get_union(scope)
    elif kind == "department":
        dep = store.get_department(scope)
        union = store.get_union(dep["union_id"]) if dep else None
    else:
        return None
    if union is None:
        if missing_ok:
            return None
        raise NotFound(f"no such scope {scope} / 角色范围不存在", fields={"scope": ["unknown"]})
    return union["path"]


def change_role(store, actor: Actor, data: dict, granting: bool) -> dict:
    """Grant or withdraw ``{role, scope}`` (rules in :func:`policy.require_role_change`, decided before
    the member's record is read); one write guarded by the member's version, with ``roles_changed``."""
    role, scope, member_id = data["role"], data["scope"], data["member_id"]
    member_path = member_union_path(store, member_id)
    scope_path = scope_union_path(store, role, scope, missing_ok=not granting)
    policy.require_role_change(actor, member_id, member_path, role, scope_path, granting=granting)
    member = member_of(store, member_id)
    change = rules.with_role if granting else rules.without_role
    union = union_of(store, member["union_id"])
    if granting:  # listed before the grant commits: the list of role holders is a superset of them
        store.hold_role(scope, member_id, (member.get("_v") or 0) + 1)
    after = store.change(
        "members",
        member_id,
        expect={"_v": member.get("_v")},
        set={"roles": change(member.get("roles", []), role, scope)},
        events=[event("roles_changed", member_id=member_id, role=role, scope=scope, granted=granting)],
        audit=_audit(
            actor,
            "role_granted" if granting else "role_revoked",
            "member",
            member_id,
            union,
            note={"role": role, "scope": scope},
        ),
    )
    if not granting and not any(g["scope"] == scope for g in after.get("roles") or []):
        store.drop_role_holder(scope, member_id, after["_v"])
    return member_view(store, after, {union["_id"]: union["name"]})


# ----- titles --------------------------------------------------------------------------------------
def record_titles(store, actor: Actor, clock: Clock, source: str, ref: str, titles: list[dict]) -> dict:
    """Record honorary titles awarded by another service (system only: the elections service when a
    双爱双评 round's awarded list is published). Idempotent: a member's title from the same ``source``,
    ``ref`` and ``category`` is kept once. Each member's record is one write guarded by its version.
    Out: ``{"recorded": n, "unknown": [member ids not registered]}``."""
    policy.require_system(actor)
    recorded, unknown = 0, []
    for t in titles:
        member = store.get_member(t["member_id"])
        if member is None:
            unknown.append(t["member_id"])
            continue
        have = member.get("titles", [])
        if any((h["source"], h["ref"], h.get("category")) == (source, ref, t["category"]) for h in have):
            continue
        entry = {
            "source": source,
            "ref": ref,
            "category": t["category"],
            "title": t["title"],
            "at": iso(clock()),
        }
        store.change(
            "members", member["_id"], expect={"_v": member.get("_v")}, set={"titles": [*have, entry]}
        )
        recorded += 1
    return {"recorded": recorded, "unknown": unknown}


def role_holders(store, actor: Actor, scope: str, roles: list[str]) -> list[dict]:
    """The members holding one of ``roles`` in ``scope`` (the system only: other services find whom to
    notify). The derived list (``role_holders``, a superset) is checked against each member's record, so
    a revoke whose list update was lost never counts. Cost: one ``_id`` lookup plus one per listed member."""
    policy.require_system(actor)
    wanted = set(roles)
    out = []
    for m in store.get_members(store.role_holder_ids(scope)):
        held = sorted(
            {g["role"] for g in m.get("roles") or [] if g["scope"] == scope and g["role"] in wanted}
        )
        if held:
            out.append(
                {
                    "member_id": m["_id"],
                    "name": m["name"],
                    "roles": held,
                    "locale": m.get("locale") or "zh-CN",
                }
            )
    return out


# ----- credentials ---------------------------------------------------------------------------------
def set_password(store, actor: Actor, clock: Clock, registry: Registry, data: dict) -> dict:
    """Set a member's password (and maybe their login): the member with their current password, or an
    admin of their union or above (a reset). The credential's write is the commit point and carries the
    audit entry (``password_set`` / ``password_reset``: who and when, never the password or its hash);
    then an old login name is retired (``member_id`` and hash emptied: it logs no one in and may be taken
    again) and the member's ``login`` follows."""
    own = policy.require_set_password(actor, data["member_id"], member_union_path(store, data["member_id"]))
    member = member_of(store, data["member_id"])
    login = data["login"] or member.get("login") or member["_id"]
    if own:
        current = store.get_credential(member.get("login") or member["_id"])
        if current and not registry.verify_password(current["password_hash"], data["current_password"] or ""):
            raise Unauthenticated("current password is wrong / 原密码错误", reason="wrong_current_password")
    existing = store.get_credential(login)
    if existing and existing.get("member_id") not in (None, member["_id"]):  # None: a retired login
        raise Conflict(
            "that login name is taken / 该账号名已被使用", fields={"login": ["taken"]}, reason="login_taken"
        )
    union = union_of(store, member["union_id"])
    audit = _audit(
        actor,
        "password_set" if own else "password_reset",
        "member",
        member["_id"],
        union,
        role="member" if own else None,
        fields=("member_id", "updated_at"),
    )
    fields = {
        "member_id": member["_id"],
        "password_hash": registry.hash_password(data["new_password"]),
        "updated_at": clock(),
    }
    if existing:
        store.change("credentials", login, expect={"_v": existing.get("_v")}, set=fields, audit=audit)
    else:
        try:
            store.create("credentials", {"_id": login, **fields}, audit=audit)
        except DuplicateKeyError:
            raise Conflict(
                "that login name is taken / 该账号名已被使用",
                fields={"login": ["taken"]},
                reason="login_taken",
            ) from None
    old_login = member.get("login")
    if old_login and old_login != login:  # retired, not deleted: its outbox may still hold an audit entry
        try:
            store.change(
                "credentials",
                old_login,
                expect={"member_id": member["_id"]},
                set={"member_id": None, "password_hash": None, "updated_at": clock()},
            )
        except (Conflict, NotFound):
            pass  # retired already, or never written
    if old_login != login:
        store.change("members", member["_id"], set={"login": login})
    return {"member_id": member["_id"], "login": login}


def authenticate(store, registry: Registry, attempt, data: dict) -> dict:
    """Check a login and password; ``attempt`` is the login-limit charge (:mod:`.logins`): ``failed()``
    before each Unauthenticated, ``succeeded()`` after a right password. Unauthenticated with one message for an unknown login and a wrong password.

    A right password whose stored hash has older argon2 parameters than the registry's is hashed again
    and stored (a write guarded by the old hash: a password changed meanwhile is left alone), so every
    active member's hash reaches the current parameters at their next login (issue 17)."""
    cred = store.get_credential(data["login"])
    if cred is None or not cred.get("password_hash"):  # unknown, or a retired login
        registry.verify_password(registry.dummy_hash, data["password"])  # same time as a wrong password
        attempt.failed()
        raise Unauthenticated("wrong login or password / 账号或密码错误", reason="wrong_password")
    if not registry.verify_password(cred["password_hash"], data["password"]):
        attempt.failed()
        raise Unauthenticated("wrong login or password / 账号或密码错误", reason="wrong_password")
    member = member_of(store, cred["member_id"])
    attempt.succeeded()
    if registry.needs_rehash(cred["password_hash"]):
        upgrade_hash(store, registry, cred, data["password"])
    return {
        "member_id": member["_id"],
        "name": member["name"],
        "union_id": member["union_id"],
        "roles": member.get("roles", []),
        "locale": member.get("locale", "zh-CN"),
    }


def upgrade_hash(store, registry: Registry, cred: dict, password: str) -> None:
    """Store ``password`` (just verified against ``cred``) hashed with the current parameters. Not audited:
    the password does not change, only how it is kept. Lost races are fine: the next login tries again."""
    try:
        store.change(
            "credentials",
            cred["_id"],
            expect={"_v": cred.get("_v"), "password_hash": cred["password_hash"]},
            set={"password_hash": registry.hash_password(password)},
        )
    except (Conflict, NotFound):
        pass  # changed meanwhile (a new password, or another login's upgrade): nothing to do


def renew_login(store, actor: Actor) -> dict:
    """The caller's login record again (for a token renewal): what :func:`authenticate` returns, read
    now, so roles granted or withdrawn since the login hold in the renewed token."""
    if actor.is_system:
        raise Forbidden("a service token is not renewed / 服务令牌不可续期")
    member = member_of(store, actor.member_id)
    return {
        "member_id": member["_id"],
        "name": member["name"],
        "union_id": member["union_id"],
        "roles": member.get("roles", []),
        "locale": member.get("locale", "zh-CN"),
    }


def revoke_token(store, actor: Actor) -> dict:
    """Log out: the token's session (every token renewed from that login; a token without a session:
    its ``jti``) is recorded until the session's end, committed with ``token_revoked``."""
    token_id, expires_at = actor.session, actor.session_end
    try:
        store.create(
            "revoked_tokens",
            {"_id": token_id, "expires_at": datetime.fromtimestamp(expires_at, UTC)},
            events=[event("token_revoked", token_id=token_id, expires_at=expires_at)],
        )
    except DuplicateKeyError:
        pass  # revoked already (a repeated logout): the event went out with the first
    return {"token_id": token_id, "expires_at": expires_at}


def revoked_tokens(store, actor: Actor, clock: Clock) -> list[dict]:
    policy.require_system(actor)
    return [
        {"token_id": d["_id"], "expires_at": int(aware(d["expires_at"]).timestamp())}
        for d in store.revoked_tokens(clock())
    ]


# ----- bulk import ---------------------------------------------------------------------------------
def start_import(store, actor: Actor, clock: Clock, registry: Registry, data: dict) -> dict:
    """Store the file and create the job (queued; with ``stage``: staged, waiting for
    :func:`confirm_import`); :func:`run_import` does the rows. The initial password is hashed here, once,
    and kept (as its hash) on the job until it ends. The job's creation is audited (``import_started``)
    in the chain of the importing admin's highest union."""
    policy.require_importer(actor)
    try:
        content = base64.b64decode(data["content_b64"], validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(
            "content is not base64 / 文件内容编码有误", fields={"content_b64": ["not base64"]}
        ) from None
    if len(content) > registry.max_import_bytes:
        raise PayloadTooLarge(
            f"file over {registry.max_import_bytes // (1024 * 1024)} MiB / 文件过大",
            details={"limit_bytes": registry.max_import_bytes, "size_bytes": len(content)},
        )
    job_id = uuid.uuid4().hex[:16]
    scope = _import_scope(store, actor)
    parts = store.save_import_file(job_id, content)
    job = {
        "_id": job_id,
        "filename": data["filename"],
        "status": "staged" if data.get("stage") else "queued",
        "total": None,
        "processed": 0,
        "inserted": 0,
        "failed": 0,
        "error_batches": [],
        "errors_sample": [],
        "actor": actor.member_id,
        "actor_name": actor.name,
        "admin_unions": sorted(actor.admin_unions) if not actor.is_system else ["*"],
        "scope": {"_id": scope["_id"], "path": scope["path"]} if scope else None,
        "has_password": bool(data["initial_password"]),
        "password_hash": registry.hash_password(data["initial_password"])
        if data["initial_password"]
        else None,
        "file_parts": parts,
        "next_batch": 0,
        "lease_until": None,
        "created_at": clock(),
        "finished_at": None,
    }
    store.mark_import_due(job_id, clock())
    store.create(
        "import_jobs",
        job,
        audit=_audit(actor, "import_started", "import", job_id, scope, fields=("filename", "has_password"))
        if scope
        else None,
    )
    return job


def confirm_import(store, actor: Actor, job_id: str) -> dict:
    """Start a staged import whose rows have been counted (its admin saw the count and confirmed, issue
    16): staged → queued, run by the next timer pass. Errors: NotFound, Forbidden (not the admin who
    staged it), Conflict ``import_not_staged`` (already started, ended, or its rows not counted yet)."""
    job = get_import(store, actor, job_id)

    def refused(current: dict) -> Conflict:
        return Conflict(
            "the import is not waiting for a confirmation / 该导入不在待确认状态",
            details={"status": current["status"], "total": current.get("total")},
            reason="import_not_staged",
        )

    if job["status"] != "staged" or job.get("total") is None:
        raise refused(job)
    return store.change(
        "import_jobs",
        job_id,
        expect={"status": "staged", "_v": job.get("_v")},
        set={"status": "queued"},
        conflict=refused,
    )


def check_staged(store, clock: Clock, job: dict, pause=lambda: None) -> dict:
    """The timer's work on a staged job: count its rows once (the number its confirmation states; a file
    that cannot be read ends the job ``failed`` with the reason), and end a job not confirmed within
    :data:`STAGED_TTL`. Each write is guarded by the job's state, so two runners count at most twice and
    write once. Returns the job after."""
    guard = {"status": "staged", "_v": job.get("_v")}
    ended = {"status": "failed", "finished_at": clock(), "password_hash": None}
    try:
        if clock() - aware(job["created_at"]) > STAGED_TTL:
            return store.change(
                "import_jobs", job["_id"], expect=guard, set={**ended, "message": STAGED_EXPIRED}
            )
        if job.get("total") is not None:
            return job
        try:
            total = 0
            for total, _ in enumerate(
                read_rows(job["filename"], store.import_file(job["_id"], job.get("file_parts", 1))), 1
            ):
                if total % rules.BATCH_ROWS == 0:
                    pause()
        except FileProblem as exc:
            return store.change("import_jobs", job["_id"], expect=guard, set={**ended, "message": str(exc)})
        return store.change("import_jobs", job["_id"], expect=guard, set={"total": total})
    except Conflict:  # another runner (or the confirmation) was first
        return store.get_job(job["_id"]) or job


def _import_scope(store, actor: Actor) -> dict | None:
    """The union whose audit chain records an admin's import: the highest union they administer."""
    if actor.is_system:
        return None
    unions = [u for u in (store.get_union(s) for s in sorted(actor.admin_unions)) if u is not None]
    return min(unions, key=lambda u: len(u["path"]), default=None)


def get_import(store, actor: Actor, job_id: str) -> dict:
    job = store.get_job(job_id)
    if job is None:
        raise NotFound(f"no import {job_id} / 导入任务不存在")
    policy.require_import_owner(actor, job["actor"])
    return job


#: Imports with bad rows stay on their admin's home this long after they finished.
NEEDS_IMPORT_DAYS = 30


def needs_of(store, actor: Actor, now: datetime) -> dict:
    """What needs the caller among member imports (issue 16, :mod:`dmlib.contracts.needs`): items
    ``import_errors``, their own import jobs that finished (or are running) with bad rows in the last
    :data:`NEEDS_IMPORT_DAYS` days (``title`` the file name, ``count`` its bad rows), newest first. No
    queues."""
    if not policy.needs_imports(actor):
        return {"items": [], "queues": []}
    since = now - timedelta(days=NEEDS_IMPORT_DAYS)
    jobs = [
        j
        for j in store.jobs_of(actor.member_id)
        if j.get("failed") and _aware(j.get("finished_at") or j["created_at"]) >= since
    ]
    jobs.sort(key=lambda j: _aware(j["created_at"]), reverse=True)
    return {
        "items": [
            {
                "kind": "import_errors",
                "id": j["_id"],
                "title": j["filename"],
                "count": j["failed"],
                "at": j.get("finished_at") or j["created_at"],
            }
            for j in jobs
        ],
        "queues": [],
    }


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def import_errors(store, actor: Actor, job_id: str, page: int) -> dict:
    job = get_import(store, actor, job_id)
    if page < 1:
        raise BadInput("page is 1 or more / 页码须≥1", fields={"page": ["must be ≥ 1"]})
    batches = job["error_batches"]
    items = store.error_batch(job_id, batches[page - 1]) if page <= len(batches) else []
    return {
        "items": items,
        "total": job["failed"],
        "page": page,
        "per_page": rules.BATCH_ROWS,
        "pages": max(1, len(batches)),
    }


def resume_imports(store, clock: Clock, registry: Registry, runner: str, pause=lambda: None) -> int:
    """The timer's pass over the ``import_due`` markers: run every unfinished job whose lease is free
    (:func:`run_import`), drop the markers of ended jobs and of jobs never created (after
    :data:`STALE_DUE`). A failure is logged and leaves the job for the next pass. Returns how many jobs
    ended in this pass."""
    ended = 0
    for marker in store.imports_due():
        try:
            job = store.get_job(marker["_id"])
            if job is None:
                if clock() - aware(marker["at"]) > STALE_DUE:
                    store.drop_import_due(marker["_id"])
                continue
            if job["status"] == "staged":
                job = check_staged(store, clock, job, pause)
            if job["status"] in ("queued", "running"):
                job = run_import(store, clock, registry, job["_id"], runner, pause)
            if job is not None and job["status"] in ("done", "failed"):
                store.drop_import_file(job["_id"], job.get("file_parts", 0))
                store.drop_import_due(job["_id"])
                ended += 1
        except Exception as exc:  # the database away, or another runner took the job: next pass
            log.warning("import %s still pending: %s", marker["_id"], exc)
    return ended


def run_import(
    store, clock: Clock, registry: Registry, job_id: str, runner: str, pause=lambda: None
) -> dict | None:
    """Run (or go on with) an import job as ``runner``: take its lease (a write guarded by the job's
    version: another runner's live lease means None, nothing done), then each batch from ``next_batch``
    on: write its members, roster entries, credentials and bad rows (all keyed, so a batch written
    before an interruption is written again without doubles), then commit the batch on the job (guarded
    by ``next_batch`` and this runner: a lost lease stops the run). The last write marks the job done
    with ``members_imported`` (and, for a person's import, the audit entry ``members_imported``).
    Returns the job after, or None when another runner holds it."""
    job = store.get_job(job_id)
    now = clock()
    if job is None or job["status"] not in ("queued", "running"):
        return job
    if job.get("lease_until") and aware(job["lease_until"]) > now:
        return None
    try:
        job = store.change(
            "import_jobs",
            job_id,
            expect={"_v": job.get("_v")},
            set={"status": "running", "runner": runner, "lease_until": now + _lease(registry)},
        )
    except Conflict:
        return None
    started, resume_from = time.monotonic(), job["next_batch"]
    admin_unions = set(job["admin_unions"])
    departments: dict[str, dict[str, str]] = {}
    for d in store.departments():
        departments.setdefault(d["union_id"], {}).update({d["name"]: d["_id"], d["_id"]: d["_id"]})
    ctx = rules.ImportContext(
        unions={u["_id"]: u for u in store.all_unions()},
        departments=departments,
        may_import_into=lambda u: policy.may_import_into(admin_unions, u["path"]),
        id_key=registry.id_key,
        job_id=job_id,
    )
    try:
        rows = read_rows(job["filename"], store.import_file(job_id, job.get("file_parts", 1)))
        batch: list[tuple[int, dict]] = []
        batch_no = 0
        for number, raw in rows:
            batch.append((number, raw))
            if len(batch) == rules.BATCH_ROWS:
                job = _import_batch(store, clock, registry, job, batch_no, batch, ctx, runner)
                if (batch_no + 1) % KEY_GROUP == 0 and batch_no >= resume_from:
                    _flush_search_keys(store, job_id)
                batch_no, batch = batch_no + 1, []
                pause()
        job = _import_batch(store, clock, registry, job, batch_no, batch, ctx, runner)
        _flush_search_keys(store, job_id)  # the last group
    except FileProblem as exc:
        _flush_search_keys(store, job_id)  # the rows inserted before the problem
        return store.change(
            "import_jobs",
            job_id,
            expect={"runner": runner, "status": "running"},
            set={
                "status": "failed",
                "message": str(exc),
                "finished_at": clock(),
                "password_hash": None,
                "lease_until": None,
            },
        )
    elapsed = max(time.monotonic() - started, 1e-6)
    processed = job["processed"]
    scope = job.get("scope")
    done = store.change(
        "import_jobs",
        job_id,
        expect={"runner": runner, "status": "running", "next_batch": job["next_batch"]},
        set={
            "status": "done",
            "total": processed,
            "rows_per_s": round(max(0, processed - resume_from * rules.BATCH_ROWS) / elapsed, 1),
            "finished_at": clock(),
            "password_hash": None,
            "lease_until": None,
        },
        events=[event("members_imported", job_id=job_id, inserted=job["inserted"], failed=job["failed"])],
        audit=_audit(
            Actor(member_id=job["actor"], name=job.get("actor_name", "")),
            "members_imported",
            "import",
            job_id,
            scope,
            fields=("status", "total"),
            note={"inserted": job["inserted"], "failed": job["failed"]},
        )
        if scope
        else None,
    )
    log.info("import %s done: %s", job_id, {k: done[k] for k in ("processed", "inserted", "failed")})
    return done


def _flush_search_keys(store, job_id: str) -> None:
    """Add the kept search-key entries of ``job_id``'s batches to the keys, group after group in order (a
    key's guard remembers the last group it took per job, so a group a crash left is flushed before any
    later one)."""
    for group in store.pending_search_groups(job_id):
        store.flush_search_keys(job_id, group)


def _lease(registry: Registry) -> timedelta:
    return timedelta(seconds=registry.import_lease_s)


def _import_batch(
    store, clock: Clock, registry: Registry, job: dict, batch_no: int, batch: list, ctx, runner: str
) -> dict:
    """Check one batch's rows (always: the checks remember the file's earlier rows) and, if the job has
    not committed it yet, write it and commit it on the job."""
    if not batch:
        return job
    docs, errors, rows_of = [], [], []
    for number, raw in batch:
        doc, error = rules.check_row(number, raw, ctx)
        if doc:
            docs.append(doc)
            rows_of.append(number)
        else:
            errors.append(error)
    if batch_no < job["next_batch"]:  # committed before an interruption
        return job
    job_id, stamp = job["_id"], clock()
    for d in docs:
        d["created_at"] = stamp
        if job.get("password_hash"):
            d["login"] = d["_id"]
    failed_idx = set()
    for werr in store.insert_members(docs):
        idx = werr["index"]
        if werr.get("code") == 11000:
            existing = store.get_member(docs[idx]["_id"])
            if existing and existing.get("import_job") == job_id:
                continue  # written by this job before an interruption
            field, reason = rules.duplicate_reason(existing is not None)
        else:
            field, reason = None, werr.get("errmsg", "write failed")
        failed_idx.add(idx)
        errors.append({"row": rows_of[idx], "field": field, "reason": reason})
    inserted = [d for i, d in enumerate(docs) if i not in failed_idx]
    by_union: dict[str, list[dict]] = {}
    for d in inserted:
        by_union.setdefault(d["union_id"], []).append(d)
    for union_id, union_members in by_union.items():
        store.add_import_batch_to_roster(union_id, job_id, batch_no, union_members)
    store.queue_search_entries(job_id, batch_no, inserted)  # added to the keys by its group's flush
    if job.get("password_hash"):
        store.insert_credentials(
            [
                {
                    "_id": d["_id"],
                    "member_id": d["_id"],
                    "password_hash": job["password_hash"],
                    "updated_at": stamp,
                    "_v": 0,
                }
                for d in inserted
            ]
        )
    errors.sort(key=lambda e: e["row"])
    sets: dict[str, Any] = {
        "next_batch": batch_no + 1,
        "lease_until": clock() + _lease(registry),
        "processed": job["processed"] + len(batch),
        "inserted": job["inserted"] + len(inserted),
        "failed": job["failed"] + len(errors),
    }
    if errors:
        store.save_error_batch(job_id, batch_no, errors)
        sets["error_batches"] = [*job["error_batches"], batch_no]
        sets["errors_sample"] = rules.add_sample(job["errors_sample"], errors)
    return store.change(
        "import_jobs",
        job_id,
        expect={"runner": runner, "next_batch": batch_no, "status": "running"},
        set=sets,
        conflict=lambda current: Conflict(
            "another runner took the import / 导入已由他处继续", details={"id": job_id}
        ),
    )
