"""The members service: unions (a tree), Worker Homes, departments, members, role grants, credentials.

Every method takes and returns JSON-able dicts (contracts in :mod:`dmlib.contracts.members`) and checks
the caller's token through :class:`dmlib.auth.Identity`. Scope rule (DESIGN.md §1): an admin of a union
acts on that union and the unions below it, never beside or above it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from datetime import UTC, datetime

import eventlet
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from pymongo.errors import DuplicateKeyError

from dmlib.auth import Identity
from dmlib.contracts import members as c
from dmlib.errors import BadInput, Conflict, NotFound, PayloadTooLarge, Unauthenticated
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.schemas import page_out
from dmlib.secrets import require_secret
from dmlib.storage import Mongo

from . import policy
from .importer import (
    BATCH_ROWS,
    FileProblem,
    ImportContext,
    check_row,
    duplicate_reason,
    member_document,
    national_id_hash,
    read_rows,
)
from .logins import LoginLimits
from .store import MembersStore, now

log = logging.getLogger(__name__)
DEFAULT_MAX_IMPORT_BYTES = 64 * 1024 * 1024
ERRORS_SAMPLE = 20
#: The service identity whose ``client_address`` :meth:`MembersService.authenticate` believes.
GATEWAY_ACTOR = "service:gateway"
#: The login-limit address bucket of every other caller of ``authenticate``.
RPC_CALLER_ADDRESS = "rpc-caller"


def _aware(value: datetime) -> datetime:
    """pymongo returns naive UTC datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Registry(DependencyProvider):
    """Password hashing (argon2id, in a native thread so the event loop keeps serving), the resident-ID
    hash key (config ``ID_HASH_KEY``, checked by :mod:`dmlib.secrets`) and the import size limit (``MAX_IMPORT_BYTES``)."""

    def setup(self):
        config = self.container.config
        self.id_key = require_secret(config, "ID_HASH_KEY", 16).encode()
        self.max_import_bytes = int(config.get("MAX_IMPORT_BYTES") or DEFAULT_MAX_IMPORT_BYTES)
        self.hasher = PasswordHasher()
        self.dummy_hash = self.hasher.hash("timing-equaliser")  # verified for unknown logins

    def get_dependency(self, worker_ctx):
        return self

    def hash_password(self, password: str) -> str:
        return tpool.execute(self.hasher.hash, password)

    def verify_password(self, password_hash: str, password: str) -> bool:
        try:
            return tpool.execute(self.hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def id_hash(self, national_id: str) -> str:
        return national_id_hash(self.id_key, national_id)


def _union_out(doc: dict, homes: dict[str, dict]) -> dict:
    home = homes.get(doc["_id"])
    return c.UnionOut().dump(
        {
            **doc,
            "id": doc["_id"],
            "member_count": doc.get("member_count", 0),
            "worker_home": {**home, "id": home["_id"]} if home else None,
        }
    )


class MembersService(HealthRpc):
    name = "members"

    store: MembersStore = Mongo(MembersStore)
    identity = Identity()
    registry = Registry()
    logins = LoginLimits()
    events = Events()
    members_rpc = Rpc("members")

    # ----- helpers -------------------------------------------------------------------------------
    def _union(self, union_id: str) -> dict:
        union = self.store.get_union(union_id)
        if union is None:
            raise NotFound(f"no union {union_id} / 工会不存在", details={"union_id": union_id})
        return union

    def _member_union_path(self, member_id: str) -> list[str]:
        """The path of a member's union, read without the member's record (for :mod:`.policy`)."""
        union_id = self.store.member_union(member_id)
        if union_id is None:
            raise NotFound(f"no member {member_id} / 会员不存在", details={"member_id": member_id})
        return self._union(union_id)["path"]

    def _member(self, member_id: str) -> dict:
        member = self.store.get_member(member_id)
        if member is None:
            raise NotFound(f"no member {member_id} / 会员不存在", details={"member_id": member_id})
        return member

    def _member_out(self, doc: dict, union_names: dict[str, str] | None = None) -> dict:
        if union_names is None:
            union = self.store.get_union(doc["union_id"]) or {}
            union_names = {doc["union_id"]: union.get("name", "")}
        return c.MemberOut().dump(
            {
                **doc,
                "id": doc["_id"],
                "member_no": doc["_id"],
                "union_name": union_names.get(doc["union_id"], ""),
                "national_id_last4": doc.get("id_last4", ""),
                "roles": doc.get("roles", []),
            }
        )

    # ----- unions --------------------------------------------------------------------------------
    @rpc
    def create_union(self, data: dict) -> dict:
        """Create a union under ``parent_id`` (a grassroots union gets its Worker Home at once).

        In: :class:`UnionIn`. Out: :class:`UnionOut`. Levels go down federation → district → street →
        grassroots (levels may be skipped). Only an admin of the parent may add a union; a root
        federation only the system. Errors: BadInput, NotFound (parent), Forbidden, Conflict (id taken).
        """
        data = c.UnionIn().load(data)
        actor = self.identity.actor
        parent = None
        if data["parent_id"]:
            parent = self._union(data["parent_id"])
            policy.require_admin(actor, parent["path"])
            if c.UNION_LEVEL[data["kind"]] <= c.UNION_LEVEL[parent["kind"]]:
                raise BadInput(
                    "a union sits below a higher level / 下级工会层级须低于上级",
                    fields={"kind": [f"cannot sit under a {parent['kind']}"]},
                )
            if parent["kind"] == "grassroots":
                raise BadInput(
                    "nothing sits under a grassroots union / 基层工会下不能再设工会",
                    fields={"parent_id": ["is a grassroots union"]},
                )
        else:
            policy.require_create_root(actor)
        union_id = data["id"] or f"u-{uuid.uuid4().hex[:10]}"
        doc = {
            "_id": union_id,
            "name": data["name"],
            "kind": data["kind"],
            "parent_id": data["parent_id"],
            "path": [*(parent["path"] if parent else []), union_id],
            "member_count": 0,
            "created_at": now(),
        }
        try:
            self.store.insert_union(doc)
        except DuplicateKeyError:
            raise Conflict(
                f"union id {union_id} is taken / 工会编号已存在", fields={"id": ["already exists"]}
            ) from None
        if data["kind"] == "grassroots":
            self.store.insert_worker_home(
                {
                    "_id": union_id,
                    "union_id": union_id,
                    "name": data["worker_home_name"] or f"{data['name']}职工之家",
                    "star_level": 0,
                    "created_at": now(),
                }
            )
        self.events.publish(
            "union_created", union_id=union_id, parent_id=data["parent_id"], kind=data["kind"]
        )
        return _union_out(doc, self.store.worker_homes([union_id]))

    @rpc
    def get_union(self, union_id: str) -> dict:
        """One union with its path (root … itself), member count and Worker Home. Any logged-in caller.

        Errors: NotFound, Unauthenticated."""
        self.identity.require_login()
        union = self._union(union_id)
        return _union_out(union, self.store.worker_homes([union_id]))

    @rpc
    def union_tree(self, root_id: str | None = None) -> list[dict]:
        """The union tree as nested :class:`UnionTreeOut` (``children`` sorted by name), from
        ``root_id`` or from every root. Any logged-in caller: the structure of the unions is public."""
        self.identity.require_login()
        unions = self.store.all_unions()
        homes = self.store.worker_homes()
        nodes = {u["_id"]: {**_union_out(u, homes), "children": []} for u in unions}
        roots = []
        for u in sorted(unions, key=lambda u: (u["name"], u["_id"])):
            parent = nodes.get(u.get("parent_id") or "")
            (parent["children"] if parent else roots).append(nodes[u["_id"]])
        if root_id is not None:
            if root_id not in nodes:
                raise NotFound(f"no union {root_id} / 工会不存在")
            return [nodes[root_id]]
        return roots

    @rpc
    def list_unions(self, under: str | None = None, kind: str | None = None) -> list[dict]:
        """Unions (flat, :class:`UnionOut`) at or below ``under``, optionally of one ``kind``.

        Used e.g. by voting to list the Worker Homes under a superior union. Any logged-in caller."""
        self.identity.require_login()
        if kind is not None and kind not in c.UNION_KINDS:
            raise BadInput(
                "unknown kind / 未知工会层级", fields={"kind": [f"one of {', '.join(c.UNION_KINDS)}"]}
            )
        homes = self.store.worker_homes()
        result = [
            _union_out(u, homes)
            for u in self.store.all_unions()
            if (under is None or under in u["path"]) and (kind is None or u["kind"] == kind)
        ]
        if under is not None and not result and self.store.get_union(under) is None:
            raise NotFound(f"no union {under} / 工会不存在")
        return sorted(result, key=lambda u: u["id"])

    @rpc
    def set_star_level(self, union_id: str, star_level: int) -> dict:
        """Record the star level of a union's Worker Home (0-5), e.g. from a published evaluation.

        Only the system (the voting service on publication) or an admin above the union."""
        actor = self.identity.actor
        union = self._union(union_id)
        if not isinstance(star_level, int) or not 0 <= star_level <= 5:
            raise BadInput("star level is 0-5 / 星级为0-5", fields={"star_level": ["must be an integer 0-5"]})
        policy.require_set_star_level(actor, union["path"])
        self.store.set_star_level(union_id, star_level)
        return _union_out(union, self.store.worker_homes([union_id]))

    # ----- departments ---------------------------------------------------------------------------
    @rpc
    def create_department(self, data: dict) -> dict:
        """Add a department (承办部门 when it handles proposals) to a grassroots union's enterprise.

        In: :class:`DepartmentIn`; Out: :class:`DepartmentOut`. Admins of the union or above."""
        data = c.DepartmentIn().load(data)
        union = self._union(data["union_id"])
        policy.require_admin(self.identity.actor, union["path"])
        if union["kind"] != "grassroots":
            raise BadInput(
                "departments belong to a grassroots union / 部门须属于基层工会",
                fields={"union_id": ["not a grassroots union"]},
            )
        doc = {
            "_id": data["id"] or f"d-{uuid.uuid4().hex[:10]}",
            "union_id": union["_id"],
            "name": data["name"],
        }
        if any(d["name"] == doc["name"] for d in self.store.departments(union["_id"])):
            raise Conflict(
                "a department of that name exists / 部门名称已存在", fields={"name": ["already exists"]}
            )
        try:
            self.store.insert_department(doc)
        except DuplicateKeyError:
            raise Conflict(
                f"department id {doc['_id']} is taken / 部门编号已存在", fields={"id": ["already exists"]}
            ) from None
        return c.DepartmentOut().dump({**doc, "id": doc["_id"]})

    @rpc
    def list_departments(self, union_id: str) -> list[dict]:
        """Departments of a grassroots union (:class:`DepartmentOut`). Any logged-in caller."""
        self.identity.require_login()
        self._union(union_id)
        return [c.DepartmentOut().dump({**d, "id": d["_id"]}) for d in self.store.departments(union_id)]

    # ----- members -------------------------------------------------------------------------------
    @rpc
    def register_member(self, data: dict) -> dict:
        """Register one member. In: :class:`MemberIn`; Out: :class:`MemberOut`.

        The resident ID is validated (GB 11643 check digit) and stored only as a keyed hash plus its
        last four characters. Admins of the member's union or above. Errors: BadInput, NotFound (union,
        department), Forbidden, Conflict (member number or resident ID already registered)."""
        data = c.MemberIn().load(data)
        actor = self.identity.actor
        union = self._union(data["union_id"])
        policy.require_admin(actor, union["path"])
        if union["kind"] != "grassroots":
            raise BadInput(
                "members join a grassroots union / 会员须属于基层工会",
                fields={"union_id": ["not a grassroots union"]},
            )
        if data["department_id"]:
            dep = self.store.get_department(data["department_id"])
            if dep is None or dep["union_id"] != union["_id"]:
                raise BadInput(
                    "unknown department / 部门不存在",
                    fields={"department_id": ["not a department of this union"]},
                )
        doc = member_document(data, self.registry.id_hash(data["national_id"]))
        doc["created_at"] = now()
        try:
            self.store.insert_member(doc)
        except DuplicateKeyError:
            field, reason = duplicate_reason(self.store.get_member(doc["_id"]) is not None)
            raise Conflict(reason, fields={field: [reason]}) from None
        self.store.add_to_roster(union["_id"], [doc])
        self.events.publish("member_registered", member_id=doc["_id"], union_id=union["_id"])
        return self._member_out(doc, {union["_id"]: union["name"]})

    @rpc
    def get_member(self, member_id: str) -> dict:
        """One member (:class:`MemberOut`): the member themself, or an admin of their union or above."""
        actor = self.identity.actor
        if actor.member_id != member_id:
            policy.require_read_member(actor, member_id, self._member_union_path(member_id))
        return self._member_out(self._member(member_id))

    @rpc
    def get_members(self, member_ids: list[str]) -> list[dict]:
        """Several members by number, for the services that show names (system or admins of each)."""
        actor = self.identity.actor
        if not isinstance(member_ids, list) or len(member_ids) > 1000:
            raise BadInput(
                "member_ids: a list of at most 1000 / 至多1000个",
                fields={"member_ids": ["a list of at most 1000 ids"]},
            )
        member_ids = [str(m) for m in member_ids]
        unions = {u["_id"]: u for u in self.store.all_unions()}
        if not actor.is_system:  # decide on each member's union before any record is read
            for m in member_ids:
                union_id = self.store.member_union(m)
                if union_id is not None:
                    policy.require_read_member(actor, m, unions[union_id]["path"])
        docs = self.store.get_members(member_ids)
        return [self._member_out(d, {k: u["name"] for k, u in unions.items()}) for d in docs]

    @rpc
    def list_members(self, query: dict) -> dict:
        """A page of a union's members, in registration order. In: :class:`MemberListIn`; Out:
        :class:`MemberPageOut`. Admins of the union or above. ``q`` searches name, member number and
        phone by prefix; ``include_below`` adds the members of the unions below."""
        query = c.MemberListIn().load(query)
        actor = self.identity.actor
        union = self._union(query["union_id"])
        policy.require_admin(actor, union["path"])
        unions = self.store.all_unions()
        names = {u["_id"]: u["name"] for u in unions}
        if query["include_below"]:
            scope = sorted((u for u in unions if union["_id"] in u["path"]), key=lambda u: u["_id"])
        else:
            scope = [union]
        page, per_page = query["page"], query["per_page"]
        items, total = self.store.roster_page(scope, query["q"], (page - 1) * per_page, per_page)
        return page_out([self._member_out(m, names) for m in items], total, page, per_page)

    @rpc
    def union_roster(self, union_id: str, offset: int = 0, limit: int = 5000) -> dict:
        """The member roster of a union for other services (eligibility, unread lists, fan-out).

        Out: ``{"union_id", "total", "offset", "members": [{"member_id", "name", "department_id", "locale"}]}``
        (``locale`` lets a notifier render in the member's language without a lookup per member),
        ``limit`` ≤ 5,000 entries from ``offset`` (page through large unions). The system or admins of
        the union or above. Cost: one ``_id`` lookup per 1,000 entries."""
        actor = self.identity.actor
        union = self._union(union_id)
        policy.require_admin(actor, union["path"])
        if not isinstance(offset, int) or not isinstance(limit, int) or offset < 0 or not 0 < limit <= 5000:
            raise BadInput(
                "offset ≥ 0, 0 < limit ≤ 5000 / 分页参数有误", fields={"limit": ["1-5000"], "offset": ["≥ 0"]}
            )
        count = union.get("member_count", 0)
        entries = self.store.roster(union_id, count, offset, offset + limit)
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

    @rpc
    def rebuild_rosters(self) -> dict:
        """Recompute the member rosters and counts from the registry (system only). Out: ``{union_id: n}``."""
        policy.require_system(self.identity.actor)
        return self.store.rebuild_rosters()

    @rpc
    def count_members(self, union_ids: list[str]) -> dict:
        """``{union_id: member count}`` (kept by counter, O(1) per union). Any logged-in caller."""
        self.identity.require_login()
        if not isinstance(union_ids, list):
            raise BadInput("union_ids must be a list / 须为列表", fields={"union_ids": ["not a list"]})
        unions = {u["_id"]: u for u in self.store.all_unions()}
        return {u: unions[u].get("member_count", 0) for u in union_ids if u in unions}

    # ----- roles and credentials -----------------------------------------------------------------
    def _scope_union_path(self, role: str, scope: str, missing_ok: bool = False) -> list[str] | None:
        """The path of the union a role's scope belongs to: the scope union of an admin role, the
        department's union of ``handler``; None for ``delegate`` (a congress) and, with ``missing_ok``,
        for an unknown scope (else NotFound)."""
        if role in ("union_admin", "superior_admin"):
            union = self.store.get_union(scope)
        elif role == "handler":
            dep = self.store.get_department(scope)
            union = self.store.get_union(dep["union_id"]) if dep else None
        else:
            return None
        if union is None:
            if missing_ok:
                return None
            raise NotFound(f"no such scope {scope} / 角色范围不存在", fields={"scope": ["unknown"]})
        return union["path"]

    @rpc
    def grant_role(self, data: dict) -> dict:
        """Grant a scoped role. In: :class:`GrantIn`; Out: :class:`MemberOut`.

        ``union_admin``/``superior_admin``: by an admin of that union or above (never to oneself);
        ``handler``: by an admin of the department's union; ``delegate``: by the system (congress service).
        The member must be in a union the actor administers, and the scope in the member's own union
        (a u01 department for a u01 member; rules in :func:`.policy.require_role_change`), decided
        before the member's record is read. Publishes ``roles_changed``. Errors: BadInput, NotFound
        (member, union, department), Forbidden (a plain message, nothing of the member)."""
        data = c.GrantIn().load(data)
        actor = self.identity.actor
        role, scope = data["role"], data["scope"]
        member_path = self._member_union_path(data["member_id"])
        policy.require_role_change(
            actor, data["member_id"], member_path, role, self._scope_union_path(role, scope), granting=True
        )
        member = self._member(data["member_id"])
        updated = self.store.add_role(member["_id"], {"role": role, "scope": scope})
        self.events.publish("roles_changed", member_id=member["_id"], role=role, scope=scope, granted=True)
        return self._member_out(updated)

    @rpc
    def revoke_role(self, data: dict) -> dict:
        """Withdraw a scoped role; the same rights as :meth:`grant_role`, decided before the member's
        record is read (an unknown scope: only the system). Out: :class:`MemberOut`."""
        data = c.GrantIn().load(data)
        actor = self.identity.actor
        role, scope = data["role"], data["scope"]
        member_path = self._member_union_path(data["member_id"])
        scope_path = self._scope_union_path(role, scope, missing_ok=True)
        policy.require_role_change(actor, data["member_id"], member_path, role, scope_path, granting=False)
        member = self._member(data["member_id"])
        updated = self.store.remove_role(member["_id"], {"role": role, "scope": scope})
        self.events.publish("roles_changed", member_id=member["_id"], role=role, scope=scope, granted=False)
        return self._member_out(updated)

    @rpc
    def authenticate(self, credentials: dict, client_address: str | None = None) -> dict:
        """Check a login name and password (argon2id). In: :class:`LoginIn` (the login is normalised:
        NFKC, trimmed, upper case, so ``m0100002`` logs in as ``M0100002``); ``client_address``: the
        client's IP address as the gateway saw it. Only the gateway chooses it: it is honoured when the
        call carries the gateway's service token (``service:gateway``, see ``AccountHttp._login``);
        any other caller is counted as the one address bucket :data:`RPC_CALLER_ADDRESS`, so an RPC
        caller cannot spread its attempts over invented addresses nor charge someone else's.

        Out: ``{"member_id", "name", "union_id", "roles": [{"role", "scope"}], "locale"}``, from which
        the gateway issues the token. No token needed. Errors: Unauthenticated (the same message for an
        unknown login and a wrong password), TooManyRequests (over ``LOGIN_ACCOUNT_LIMIT`` failures for
        this login or ``LOGIN_ADDRESS_LIMIT`` from this address in ``LOGIN_WINDOW_SECONDS``; details
        ``retry_after_s``; the password is then not checked; rules in :mod:`services.members.logins`),
        BadInput. The password is never logged nor put in an error."""
        data = c.LoginIn().load(credentials)
        caller = self.identity.actor_or_none
        if caller is None or caller.member_id != GATEWAY_ACTOR or not caller.is_system:
            client_address = RPC_CALLER_ADDRESS
        attempt = self.logins.begin(self.store, data["login"], client_address)
        cred = self.store.get_credential(data["login"])
        if cred is None:
            self.registry.verify_password(
                self.registry.dummy_hash, data["password"]
            )  # same time as a wrong password
            raise Unauthenticated("wrong login or password / 账号或密码错误")
        if not self.registry.verify_password(cred["password_hash"], data["password"]):
            raise Unauthenticated("wrong login or password / 账号或密码错误")
        member = self._member(cred["member_id"])
        attempt.succeeded()
        return {
            "member_id": member["_id"],
            "name": member["name"],
            "union_id": member["union_id"],
            "roles": member.get("roles", []),
            "locale": member.get("locale", "zh-CN"),
        }

    @timer(interval=3600)
    def purge_login_attempts(self) -> None:
        """Hourly: delete the failed-login counters of windows that have ended and the revoked tokens that
        have expired anyway (FerretDB has no TTL index)."""
        removed = self.store.purge_attempts(now())
        if removed:
            log.info("purged %d expired login-attempt counters", removed)
        self.store.purge_revoked_tokens(now())

    @rpc
    def revoke_token(self) -> dict:
        """Log out: revoke the caller's own token (the one this call carries) until it expires.

        Recorded by its ``jti`` (``revoked_tokens``), refused from now on by this process, and published
        as ``token_revoked`` ``{token_id, expires_at}`` so that every process of every service refuses it
        (:class:`dmlib.auth.RevocationListener`). Out: ``{"token_id", "expires_at"}`` (seconds since the
        epoch). Errors: Unauthenticated (no valid token: nothing to revoke)."""
        actor = self.identity.actor
        expires = datetime.fromtimestamp(actor.expires_at, UTC)
        self.store.revoke_token(actor.token_id, expires)
        self.identity.revoked(actor.token_id, actor.expires_at)
        self.events.publish("token_revoked", token_id=actor.token_id, expires_at=actor.expires_at)
        return {"token_id": actor.token_id, "expires_at": actor.expires_at}

    @rpc
    def revoked_tokens(self) -> list[dict]:
        """The revoked tokens that have not expired: ``[{"token_id", "expires_at"}]`` (seconds since the
        epoch), loaded by every process at start (:class:`dmlib.auth.Identity`). System only."""
        actor = self.identity.actor
        actor.require(actor.is_system, "system only / 仅限系统")
        return [
            {"token_id": d["_id"], "expires_at": int(_aware(d["expires_at"]).timestamp())}
            for d in self.store.revoked_tokens(now())
        ]

    @rpc
    def set_password(self, data: dict) -> dict:
        """Set a member's password (and optionally their login name). In: :class:`PasswordIn`.

        The member themself with ``current_password`` when they have one, or an admin of their union or
        above (a reset). Out: ``{"member_id", "login"}``. Errors: BadInput, Forbidden, Conflict (login
        taken), Unauthenticated (wrong current password)."""
        data = c.PasswordIn().load(data)
        actor = self.identity.actor
        own = policy.require_set_password(
            actor, data["member_id"], self._member_union_path(data["member_id"])
        )
        member = self._member(data["member_id"])
        login = data["login"] or member.get("login") or member["_id"]
        if own:
            current = self.store.get_credential(member.get("login") or member["_id"])
            if current and not self.registry.verify_password(
                current["password_hash"], data["current_password"] or ""
            ):
                raise Unauthenticated("current password is wrong / 原密码错误")
        existing = self.store.get_credential(login)
        if existing and existing["member_id"] != member["_id"]:
            raise Conflict("that login name is taken / 该账号名已被使用", fields={"login": ["taken"]})
        old_login = member.get("login")
        self.store.put_credential(login, member["_id"], self.registry.hash_password(data["new_password"]))
        if old_login and old_login != login:
            self.store.delete_credential(old_login, member["_id"])
        self.store.set_login(member["_id"], login)
        return {"member_id": member["_id"], "login": login}

    @rpc
    def profile(self) -> dict:
        """The caller's own record (:class:`MemberOut`) with the names of their union's path."""
        actor = self.identity.actor
        member = self._member(actor.member_id)
        union = self._union(member["union_id"])
        unions = {u["_id"]: u for u in self.store.all_unions()}
        out = self._member_out(member, {union["_id"]: union["name"]})
        out["union_path"] = [
            {"id": u, "name": unions[u]["name"], "kind": unions[u]["kind"]}
            for u in union["path"]
            if u in unions
        ]
        scopes = {g["scope"] for g in out["roles"]}
        out["scope_names"] = {s: unions[s]["name"] for s in scopes if s in unions}
        return out

    # ----- bulk import ---------------------------------------------------------------------------
    @rpc
    def start_import(self, data: dict) -> dict:
        """Start importing a member file (CSV or XLSX). In: :class:`ImportIn`; Out: :class:`ImportJobOut`.

        The rows are checked and written in the background in batches of 1,000; follow the progress
        with :meth:`get_import`. Admins only; each row's union must be within the admin's scope.
        Errors: BadInput (not base64, not .csv/.xlsx), PayloadTooLarge (over ``MAX_IMPORT_BYTES``)."""
        data = c.ImportIn().load(data)
        actor = self.identity.actor
        policy.require_importer(actor)
        try:
            content = base64.b64decode(data["content_b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(
                "content is not base64 / 文件内容编码有误", fields={"content_b64": ["not base64"]}
            ) from None
        if len(content) > self.registry.max_import_bytes:
            raise PayloadTooLarge(
                f"file over {self.registry.max_import_bytes // (1024 * 1024)} MiB / 文件过大",
                details={"limit_bytes": self.registry.max_import_bytes, "size_bytes": len(content)},
            )
        job = {
            "_id": uuid.uuid4().hex[:16],
            "filename": data["filename"],
            "status": "queued",
            "total": None,
            "processed": 0,
            "inserted": 0,
            "failed": 0,
            "error_batches": [],
            "errors_sample": [],
            "actor": actor.member_id,
            "admin_unions": sorted(actor.admin_unions) if not actor.is_system else ["*"],
            "has_password": bool(data["initial_password"]),
            "created_at": now(),
            "finished_at": None,
        }
        self.store.insert_job(job)
        self.members_rpc.run_import.call_async(job["_id"], data["content_b64"], data["initial_password"])
        return self._job_out(job)

    @rpc
    def run_import(self, job_id: str, content_b64: str, initial_password: str | None = None) -> dict:
        """Process an import job (sent by :meth:`start_import` to this service itself; resumable: after
        a restart the message is redelivered and the job goes on from the last recorded batch)."""
        actor = self.identity.actor
        peek = self.store.get_job(job_id)
        if peek is not None:  # decided before the job is claimed
            policy.require_import_owner(actor, peek["actor"])
        job = self.store.claim_job(job_id)
        if job is None:
            return {"id": job_id, "status": "finished"}
        self.identity.act_as_service()
        started, resume_from = time.monotonic(), job["processed"]
        admin_unions = set(job["admin_unions"])
        unions = {u["_id"]: u for u in self.store.all_unions()}
        departments: dict[str, dict[str, str]] = {}
        for d in self.store.departments():
            departments.setdefault(d["union_id"], {}).update({d["name"]: d["_id"], d["_id"]: d["_id"]})
        ctx = ImportContext(
            unions=unions,
            departments=departments,
            may_import_into=lambda u: policy.may_import_into(admin_unions, u["path"]),
            id_key=self.registry.id_key,
            job_id=job_id,
        )
        password_hash = self.registry.hash_password(initial_password) if initial_password else None
        counts = {"processed": job["processed"], "inserted": job["inserted"], "failed": job["failed"]}
        sample, error_batches = list(job["errors_sample"]), list(job["error_batches"])
        try:
            rows = read_rows(job["filename"], base64.b64decode(content_b64))
            batch_no, batch = 0, []
            for number, raw in rows:
                batch.append((number, raw))
                if len(batch) == BATCH_ROWS:
                    self._import_batch(
                        job_id,
                        batch_no,
                        batch,
                        ctx,
                        counts,
                        sample,
                        error_batches,
                        password_hash,
                        resume_from,
                    )
                    batch_no, batch = batch_no + 1, []
            self._import_batch(
                job_id, batch_no, batch, ctx, counts, sample, error_batches, password_hash, resume_from
            )
        except FileProblem as exc:
            self.store.update_job(job_id, status="failed", message=str(exc), finished_at=now())
            return self._job_out(self.store.get_job(job_id))
        elapsed = max(time.monotonic() - started, 1e-6)
        self.store.update_job(
            job_id,
            status="done",
            total=counts["processed"],
            rows_per_s=round((counts["processed"] - resume_from) / elapsed, 1),
            finished_at=now(),
        )
        self.events.publish(
            "members_imported", job_id=job_id, inserted=counts["inserted"], failed=counts["failed"]
        )
        log.info("import %s done: %s", job_id, counts)
        return self._job_out(self.store.get_job(job_id))

    def _import_batch(
        self, job_id, batch_no, batch, ctx, counts, sample, error_batches, password_hash, resume_from
    ):
        if not batch:
            return
        docs, errors, rows_of = [], [], []
        for number, raw in batch:
            doc, error = check_row(number, raw, ctx)
            if doc:
                docs.append(doc)
                rows_of.append(number)
            else:
                errors.append(error)
        if batch_no * BATCH_ROWS < resume_from:  # written before an interruption: already counted
            return
        stamp = now()
        for d in docs:
            d["created_at"] = stamp
            if password_hash:
                d["login"] = d["_id"]
        failed_idx = set()
        for werr in self.store.insert_members(docs):
            idx = werr["index"]
            if werr.get("code") == 11000:
                existing = self.store.get_member(docs[idx]["_id"])
                if existing and existing.get("import_job") == job_id:
                    continue  # written by this job before a restart
                field, reason = duplicate_reason(existing is not None)
            else:
                field, reason = None, werr.get("errmsg", "write failed")
            failed_idx.add(idx)
            errors.append({"row": rows_of[idx], "field": field, "reason": reason})
        inserted = [d for i, d in enumerate(docs) if i not in failed_idx]
        by_union: dict[str, list[dict]] = {}
        for d in inserted:
            by_union.setdefault(d["union_id"], []).append(d)
        for union_id, union_members in by_union.items():
            self.store.add_to_roster(union_id, union_members)
        if password_hash:
            self.store.insert_credentials(
                [
                    {
                        "_id": d["_id"],
                        "member_id": d["_id"],
                        "password_hash": password_hash,
                        "updated_at": stamp,
                    }
                    for d in inserted
                ]
            )
        errors.sort(key=lambda e: e["row"])
        if errors:
            self.store.save_error_batch(job_id, batch_no, errors)
            error_batches.append(batch_no)
            sample.extend(errors[: max(0, ERRORS_SAMPLE - len(sample))])
        counts["processed"] += len(batch)
        counts["inserted"] += len(inserted)
        counts["failed"] += len(errors)
        self.store.update_job(job_id, **counts, errors_sample=sample, error_batches=error_batches)
        eventlet.sleep(0)  # let progress readers in

    @rpc
    def get_import(self, job_id: str) -> dict:
        """Progress and outcome of an import job (:class:`ImportJobOut`): the admin who started it."""
        actor = self.identity.actor
        job = self.store.get_job(job_id)
        if job is None:
            raise NotFound(f"no import {job_id} / 导入任务不存在")
        policy.require_import_owner(actor, job["actor"])
        return self._job_out(job)

    @rpc
    def import_errors(self, job_id: str, page: int = 1) -> dict:
        """The bad rows of an import, 1,000 rows' worth of the file per page (:class:`ImportErrorsOut`)."""
        job_out = self.get_import(job_id)
        job = self.store.get_job(job_out["id"])
        batches = job["error_batches"]
        if not isinstance(page, int) or page < 1:
            raise BadInput("page is 1 or more / 页码须≥1", fields={"page": ["must be ≥ 1"]})
        items = self.store.error_batch(job_id, batches[page - 1]) if page <= len(batches) else []
        return {
            "items": items,
            "total": job["failed"],
            "page": page,
            "per_page": BATCH_ROWS,
            "pages": max(1, len(batches)),
        }

    def _job_out(self, job: dict) -> dict:
        return c.ImportJobOut().dump(
            {
                **job,
                "id": job["_id"],
                "created_at": job["created_at"].isoformat() if job.get("created_at") else None,
                "finished_at": job["finished_at"].isoformat() if job.get("finished_at") else None,
            }
        )
