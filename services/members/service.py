"""The members service: unions (a tree), Worker Homes, departments, members, role grants, credentials.

Entrypoints only: each loads its input with the contract schema (:mod:`dmlib.contracts.members`), calls
its use case in :mod:`services.members.app` and dumps the output. Who may do what is decided in
:mod:`services.members.policy` (scope rule, DESIGN.md §1: an admin of a union acts on that union and the
unions below it, never beside or above it), state changes commit with their events (and, for people,
their audit entries) in the outbox (``OutboxRelay`` publishes them), pure rules live in
:mod:`services.members.rules`, storage in :mod:`services.members.store`.
"""

from __future__ import annotations

import logging
import os
import uuid

import eventlet
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from dmlib.auth import Identity
from dmlib.contracts import members as c
from dmlib.contracts.needs import needs
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import rpc
from dmlib.secrets import require_secret
from dmlib.state import OutboxRelay, now
from dmlib.storage import Mongo

from . import app, policy
from .logins import LoginLimits
from .rules import national_id_hash
from .store import MembersStore

log = logging.getLogger(__name__)
DEFAULT_MAX_IMPORT_BYTES = 64 * 1024 * 1024
#: Seconds an import runner holds a job between two batch commits; after that the resume timer of any
#: process may take the job over (config ``IMPORT_LEASE_SECONDS``).
DEFAULT_IMPORT_LEASE_S = 60
#: The service identity whose ``client_address`` :meth:`MembersService.authenticate` believes.
GATEWAY_ACTOR = "service:gateway"
#: The login-limit address bucket of every other caller of ``authenticate``.
RPC_CALLER_ADDRESS = "rpc-caller"
#: argon2id parameters of new password hashes: OWASP Password Storage Cheat Sheet's first option
#: (m = 19 MiB, t = 2, p = 1), its stated minimum. Hashes stored with other parameters (argon2-cffi's
#: default before issue 17: m = 64 MiB, t = 3, p = 4) still verify and are rewritten with these on the
#: member's next successful login (:func:`.app.authenticate`). ~22 ms of one core per hash here (the former: 123 ms).
PASSWORD_PARAMETERS = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}


class Registry(DependencyProvider):
    """Password hashing (argon2id with :data:`PASSWORD_PARAMETERS`, in eventlet's pool of native threads
    so the event loop keeps serving: argon2-cffi releases the GIL, so two hashes use two cores; at most
    ``PASSWORD_HASH_THREADS`` hashes at once, default the number of cores: more only share the cores and
    each holds its 19 MiB, so every login of a burst would finish late instead of most finishing early), the resident-ID
    hash key (config ``ID_HASH_KEY``, checked by :mod:`dmlib.secrets`), the import size limit
    (``MAX_IMPORT_BYTES``) and an import runner's lease (``IMPORT_LEASE_SECONDS``); ``runner`` names
    this process's import runner."""

    def setup(self):
        config = self.container.config
        self.id_key = require_secret(config, "ID_HASH_KEY", 16).encode()
        self.max_import_bytes = int(config.get("MAX_IMPORT_BYTES") or DEFAULT_MAX_IMPORT_BYTES)
        self.import_lease_s = float(config.get("IMPORT_LEASE_SECONDS") or DEFAULT_IMPORT_LEASE_S)
        self.runner = f"{self.container.service_name}:{uuid.uuid4().hex[:12]}"
        self.hasher = PasswordHasher(**PASSWORD_PARAMETERS)
        self.dummy_hash = self.hasher.hash("timing-equaliser")  # verified for unknown logins
        self.hash_slots = Semaphore(int(config.get("PASSWORD_HASH_THREADS") or os.cpu_count() or 1))

    def get_dependency(self, worker_ctx):
        return self

    def hash_password(self, password: str) -> str:
        with self.hash_slots:
            return tpool.execute(self.hasher.hash, password)

    def verify_password(self, password_hash: str, password: str) -> bool:
        try:
            with self.hash_slots:
                return tpool.execute(self.hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True if ``password_hash`` (already verified) was made with other parameters than ours."""
        return self.hasher.check_needs_rehash(password_hash)

    def id_hash(self, national_id: str) -> str:
        return national_id_hash(self.id_key, national_id)


class MembersService(OutboxRelay, HealthRpc):
    name = "members"

    store: MembersStore = Mongo(MembersStore)
    identity = Identity()
    registry = Registry()
    logins = LoginLimits()
    events = Events()

    # ----- unions --------------------------------------------------------------------------------
    @rpc
    def create_union(self, data: dict) -> dict:
        """Create a union under ``parent_id`` (a grassroots union gets its Worker Home at once).

        In: :class:`UnionIn`. Out: :class:`UnionOut`. Levels go down federation → district → street →
        grassroots (levels may be skipped; :func:`.rules.check_placement`). Only an admin of the parent
        may add a union; a root federation only the system. Commits ``union_created`` (audited as
        ``members.union_created`` in the parent's chain). Errors: BadInput, NotFound (parent),
        Forbidden, Conflict (id taken)."""
        data = c.UnionIn().load(data)
        out = app.create_union(self.store, self.identity.actor, now, data)
        self.relay_mine()
        return c.UnionOut().dump(out)

    @rpc
    def get_union(self, union_id: str) -> dict:
        """One union with its path (root … itself), member count and Worker Home. Any logged-in caller.

        Errors: NotFound, Unauthenticated."""
        return c.UnionOut().dump(app.get_union(self.store, self.identity.actor, union_id))

    @rpc
    def union_tree(self, root_id: str | None = None) -> list[dict]:
        """The union tree as nested :class:`UnionTreeOut` (``children`` sorted by name), from
        ``root_id`` or from every root. Any logged-in caller: the structure of the unions is public."""
        return c.UnionTreeOut(many=True).dump(app.union_tree(self.store, self.identity.actor, root_id))

    @rpc
    def list_unions(self, under: str | None = None, kind: str | None = None) -> list[dict]:
        """Unions (flat, :class:`UnionOut`) at or below ``under``, optionally of one ``kind``.

        Used e.g. by voting to list the Worker Homes under a superior union. Any logged-in caller.
        Errors: BadInput (unknown kind), NotFound (``under``)."""
        out = app.list_unions(self.store, self.identity.actor, under, kind, c.UNION_KINDS)
        return [c.UnionOut().dump(u) for u in out]

    @rpc
    def set_star_level(self, union_id: str, star_level: int) -> dict:
        """Record the star level of a union's Worker Home (0-5), e.g. from a published evaluation.

        Only the system (the voting service on publication) or an admin above the union (audited as
        ``members.star_level_set``). Out: :class:`UnionOut`. Errors: BadInput, NotFound, Forbidden."""
        out = app.set_star_level(self.store, self.identity.actor, union_id, star_level)
        self.relay_mine()
        return c.UnionOut().dump(out)

    # ----- departments ---------------------------------------------------------------------------
    @rpc
    def create_department(self, data: dict) -> dict:
        """Add a department (承办部门 when it handles proposals) to a grassroots union's enterprise.

        In: :class:`DepartmentIn`; Out: :class:`DepartmentOut`. Admins of the union or above (audited as
        ``members.department_created``). Errors: BadInput (not grassroots), NotFound, Forbidden,
        Conflict (name or id taken)."""
        data = c.DepartmentIn().load(data)
        out = app.create_department(self.store, self.identity.actor, data)
        self.relay_mine()
        return c.DepartmentOut().dump(out)

    @rpc
    def list_departments(self, union_id: str) -> list[dict]:
        """Departments of a grassroots union (:class:`DepartmentOut`). Any logged-in caller."""
        return [
            c.DepartmentOut().dump(d) for d in app.list_departments(self.store, self.identity.actor, union_id)
        ]

    # ----- members -------------------------------------------------------------------------------
    @rpc
    def register_member(self, data: dict) -> dict:
        """Register one member. In: :class:`MemberIn`; Out: :class:`MemberOut`.

        The resident ID is validated (GB 11643 check digit) and stored only as a keyed hash plus its
        last four characters. Admins of the member's union or above. Commits ``member_registered``
        (audited as ``members.member_registered``: name, union, department). Errors: BadInput,
        NotFound (union, department), Forbidden, Conflict (member number or resident ID registered)."""
        data = c.MemberIn().load(data)
        out = app.register_member(self.store, self.identity.actor, now, self.registry, data)
        self.relay_mine()
        return c.MemberOut().dump(out)

    @rpc
    def get_member(self, member_id: str) -> dict:
        """One member (:class:`MemberOut`): the member themself, or an admin of their union or above.

        Decided on the member's union before the record is read. Errors: NotFound, Forbidden."""
        return c.MemberOut().dump(app.get_member(self.store, self.identity.actor, member_id))

    @rpc
    def get_members(self, member_ids: list[str]) -> list[dict]:
        """Several members by number (at most 1,000), for the services that show names (system or
        admins of each member's union). Errors: BadInput, Forbidden."""
        out = app.get_members(self.store, self.identity.actor, member_ids)
        return [c.MemberOut().dump(m) for m in out]

    @rpc
    def list_members(self, query: dict) -> dict:
        """A page of a union's members, in registration order. In: :class:`MemberListIn`; Out:
        :class:`MemberPageOut`. Admins of the union or above. ``include_below`` adds the members of the
        unions below. ``q`` searches by prefix of name, member number or phone over at most 5,000 members
        in scope; over more, by name prefix (2 characters or more), exact phone or exact member number,
        from the search keys (:func:`.app.list_members`). ``department_id`` keeps one department's
        members (roster order), ``role`` the holders of a role in the unions in scope (by member number),
        ``q`` then a prefix as above (:func:`.app.filtered_page`; issue 16). Errors: BadInput (a
        1-character ``q`` over more than 5,000 members, a department outside the scope, an unknown role),
        NotFound, Forbidden."""
        query = c.MemberListIn().load(query)
        out = app.list_members(self.store, self.identity.actor, query)
        return c.MemberPageOut().dump(out)

    @rpc
    def union_roster(self, union_id: str, offset: int = 0, limit: int = 5000) -> dict:
        """The member roster of a union for other services (eligibility, unread lists, fan-out).

        Out: ``{"union_id", "total", "offset", "members": [{"member_id", "name", "department_id", "locale"}]}``
        (``locale`` lets a notifier render in the member's language without a lookup per member),
        ``limit`` ≤ 5,000 entries from ``offset`` (page through large unions). The system or admins of
        the union or above. Cost: one ``_id`` lookup per 1,000 entries. Errors: BadInput, NotFound,
        Forbidden."""
        return app.union_roster(self.store, self.identity.actor, union_id, offset, limit)

    @rpc
    def record_titles(self, source: str, ref: str, titles: list[dict]) -> dict:
        """Record honorary titles on member records (system only: the elections service, when a
        双爱双评 round's awarded list is published). In: ``source`` (``elections``), ``ref`` (the
        round), :class:`TitleIn` list ``[{"member_id", "category", "title"}]``; idempotent per source,
        ref and category. The titles appear in :class:`MemberOut` ``titles``. Out: ``{"recorded",
        "unknown"}``. Errors: BadInput, Forbidden."""
        titles = c.TitleIn(many=True).load(titles)
        return app.record_titles(self.store, self.identity.actor, now, source, ref, titles)

    @rpc
    def rebuild_rosters(self) -> dict:
        """Recompute the member rosters and counts, and the search keys, from the registry (system only).
        Out: ``{union_id: n}``."""
        policy.require_system(self.identity.actor)
        counts = self.store.rebuild_rosters()
        self.store.rebuild_search_keys()
        return counts

    @rpc
    def count_members(self, union_ids: list[str]) -> dict:
        """``{union_id: member count}`` (kept by counter, O(1) per union). Any logged-in caller."""
        return app.count_members(self.store, self.identity.actor, union_ids)

    @rpc
    def profile(self) -> dict:
        """The caller's own record (:class:`MemberOut`) with the names of their union's path
        (``union_path``) and of their roles' scopes (``scope_names``)."""
        return c.ProfileOut().dump(app.profile(self.store, self.identity.actor))

    # ----- roles and credentials -----------------------------------------------------------------
    @rpc
    def grant_role(self, data: dict) -> dict:
        """Grant a scoped role. In: :class:`GrantIn`; Out: :class:`MemberOut`.

        ``union_admin``/``superior_admin``: by an admin of that union or above (never to oneself);
        ``handler``: by an admin of the department's union; ``delegate``: by the system (congress service).
        The member must be in a union the actor administers, and the scope in the member's own union
        (a u01 department for a u01 member; rules in :func:`.policy.require_role_change`), decided
        before the member's record is read. Commits ``roles_changed`` (audited as
        ``members.role_granted``). Errors: BadInput, NotFound (member, union, department), Forbidden (a
        plain message, nothing of the member), Conflict (the member changed meanwhile)."""
        data = c.GrantIn().load(data)
        out = app.change_role(self.store, self.identity.actor, data, granting=True)
        self.relay_mine()
        return c.MemberOut().dump(out)

    @rpc
    def revoke_role(self, data: dict) -> dict:
        """Withdraw a scoped role; the same rights as :meth:`grant_role`, decided before the member's
        record is read (an unknown scope: only the system). Commits ``roles_changed`` (audited as
        ``members.role_revoked``). Out: :class:`MemberOut`."""
        data = c.GrantIn().load(data)
        out = app.change_role(self.store, self.identity.actor, data, granting=False)
        self.relay_mine()
        return c.MemberOut().dump(out)

    @rpc
    def role_holders(self, scope: str, roles: list[str]) -> list[dict]:
        """Who holds one of ``roles`` (e.g. ``["union_admin", "hotline_staff"]``) in ``scope`` (a union,
        department or congress id): ``[{"member_id", "name", "roles": [the matching roles], "locale"}]``
        ordered by member number; ``[]`` for a scope nobody holds. The system only (a notifier finding a
        case's handlers, issue 13). Served by the derived ``role_holders`` index kept with every grant and
        revoke (docs/storage.md): one ``_id`` lookup plus one per holder, never a scan. Errors: BadInput
        (:class:`RoleHoldersIn`: an id, 1+ grantable role names), Forbidden."""
        data = c.RoleHoldersIn().load({"scope": scope, "roles": roles})
        return app.role_holders(self.store, self.identity.actor, data["scope"], data["roles"])

    @rpc
    def authenticate(self, credentials: dict, client_address: str | None = None) -> dict:
        """Check a login name and password (argon2id). In: :class:`LoginIn` (the login is normalised:
        NFKC, trimmed, upper case, so ``m0100002`` logs in as ``M0100002``); ``client_address``: the
        client's IP address as the gateway saw it. Only the gateway chooses it: it is honoured when the
        call carries the gateway's service token (``service:gateway``, see ``AccountRoutes._login``);
        any other caller is counted as the one address bucket :data:`RPC_CALLER_ADDRESS`, so an RPC
        caller cannot spread its attempts over invented addresses nor charge someone else's.

        Out: ``{"member_id", "name", "union_id", "roles": [{"role", "scope"}], "locale"}``, from which
        the gateway issues the token. No token needed. Errors: Unauthenticated (the same message for an
        unknown login and a wrong password), TooManyRequests (over ``LOGIN_ACCOUNT_LIMIT`` failures for
        this login or ``LOGIN_ADDRESS_LIMIT`` from this address in ``LOGIN_WINDOW_SECONDS``; details
        ``retry_after_s``; the password is then not checked; rules in :mod:`services.members.logins`),
        BadInput. The password is never logged nor put in an error."""
        data = c.LoginIn().load(credentials)
        if not policy.may_name_client_address(self.identity.actor_or_none, GATEWAY_ACTOR):
            client_address = RPC_CALLER_ADDRESS
        with self.logins.begin(self.store, data["login"], client_address) as attempt:
            return app.authenticate(self.store, self.registry, attempt, data)

    @rpc
    def renew_login(self) -> dict:
        """The caller's login record read again, for renewing their token within its session (the
        gateway's ``POST /api/v1/auth/refresh``): the same shape as :meth:`authenticate`'s answer, with
        the roles as they are now. No password, no argon2 (cheap). Errors: Unauthenticated (no valid
        token, or its session was logged out), Forbidden (a service token), NotFound (member gone)."""
        return app.renew_login(self.store, self.identity.actor)

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
        """Log out: revoke the caller's own session (the token this call carries and every token renewed
        from the same login) until the session ends.

        Recorded by the session id (``sid``; a token without one: its ``jti``) in ``revoked_tokens``
        with ``token_revoked`` ``{token_id: the session id, expires_at: the session's end}`` in
        the same write (published by the outbox relay), refused from now on by this process, and, once
        the event is out, by every process of every service (:class:`dmlib.auth.RevocationListener`).
        Out: ``{"token_id", "expires_at"}`` (seconds since the epoch). Errors: Unauthenticated (no valid
        token: nothing to revoke)."""
        actor = self.identity.actor  # one's own token: any logged-in caller
        out = app.revoke_token(self.store, actor)
        self.identity.revoked(actor.session, actor.session_end)
        self.relay_mine()
        return out

    @rpc
    def revoked_tokens(self) -> list[dict]:
        """The revoked tokens that have not expired: ``[{"token_id", "expires_at"}]`` (seconds since the
        epoch), loaded by every process at start (:class:`dmlib.auth.Identity`). System only."""
        return app.revoked_tokens(self.store, self.identity.actor, now)

    @rpc
    def set_password(self, data: dict) -> dict:
        """Set a member's password (and optionally their login name). In: :class:`PasswordIn`.

        The member themself with ``current_password`` when they have one, or an admin of their union or
        above (a reset); audited as ``members.password_set`` / ``members.password_reset`` (never the
        password nor its hash). Out: ``{"member_id", "login"}``. Errors: BadInput, Forbidden, Conflict
        (login taken), Unauthenticated (wrong current password)."""
        data = c.PasswordIn().load(data)
        out = app.set_password(self.store, self.identity.actor, now, self.registry, data)
        self.relay_mine()
        return out

    # ----- bulk import ---------------------------------------------------------------------------
    @rpc
    def start_import(self, data: dict) -> dict:
        """Start importing a member file (CSV or XLSX). In: :class:`ImportIn`; Out: :class:`ImportJobOut`.

        With ``stage`` the job waits (``staged``) until :meth:`confirm_import`; meanwhile the timer
        counts its rows (``total``). The file and the job are stored; the rows are checked and written in the background in batches
        of 1,000 by the :meth:`resume_imports` timer (within a second), resumably: a crash or an outage
        delays the import, never loses or doubles a row. Follow the progress with :meth:`get_import`.
        Admins only; each row's union must be within the admin's scope. Audited as
        ``members.import_started`` and, at the end, ``members.members_imported``. Errors: BadInput
        (not base64, not .csv/.xlsx), Forbidden, PayloadTooLarge (over ``MAX_IMPORT_BYTES``)."""
        data = c.ImportIn().load(data)
        job = app.start_import(self.store, self.identity.actor, now, self.registry, data)
        self.relay_mine()
        return self._job_out(job)

    @rpc
    def confirm_import(self, job_id: str) -> dict:
        """Start a staged import (``start_import`` with ``stage``) once its rows are counted: the admin
        who staged it confirmed the count on the import page (issue 16). Out: :class:`ImportJobOut`
        (queued). Errors: NotFound, Forbidden, Conflict ``import_not_staged``."""
        return self._job_out(app.confirm_import(self.store, self.identity.actor, job_id))

    @timer(interval=1.0)
    def resume_imports(self) -> None:
        """Every second: run the unfinished import jobs whose runner's lease is free (new jobs, and jobs
        a crash or an outage interrupted), batch after batch (:func:`.app.run_import`); count the rows
        of staged jobs and end those never confirmed (:func:`.app.check_staged`)."""
        if app.resume_imports(
            self.store, now, self.registry, self.registry.runner, pause=lambda: eventlet.sleep(0)
        ):
            self.relay_mine()

    @rpc
    def get_import(self, job_id: str) -> dict:
        """Progress and outcome of an import job (:class:`ImportJobOut`): the admin who started it, or
        the system. Errors: NotFound, Forbidden."""
        return self._job_out(app.get_import(self.store, self.identity.actor, job_id))

    @rpc
    def needs_of(self) -> dict:
        """What needs the caller in the member registry, for their "what needs me" home (issue 16): their
        own import jobs of the last 30 days with bad rows (``import_errors``: file name, ``count`` bad
        rows). Read-only; admins only (others get nothing). Out: :class:`dmlib.contracts.needs.NeedsOut`."""
        return needs("members", **app.needs_of(self.store, self.identity.actor, now()))

    @rpc
    def import_errors(self, job_id: str, page: int = 1) -> dict:
        """The bad rows of an import, 1,000 rows' worth of the file per page (:class:`ImportErrorsOut`).

        The admin who started it, or the system. Errors: BadInput (page < 1), NotFound, Forbidden."""
        return app.import_errors(self.store, self.identity.actor, job_id, page)

    @staticmethod
    def _job_out(job: dict) -> dict:
        return c.ImportJobOut().dump(
            {
                **job,
                "id": job["_id"],
                "created_at": job["created_at"].isoformat() if job.get("created_at") else None,
                "finished_at": job["finished_at"].isoformat() if job.get("finished_at") else None,
            }
        )
