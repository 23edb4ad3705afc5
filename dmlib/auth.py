"""Identity: signed, expiring tokens and the one auth provider every service uses (DESIGN.md §5).

The gateway authenticates a request (password login) and issues a JWT (HS256, shared ``AUTH_SECRET``).
The token travels with every RPC and event as nameko context data (key ``auth_token``); nameko copies
context data to the calls a worker makes, so identity follows the whole chain. Each service verifies the
token itself through :class:`Identity` and gets an :class:`Actor`: the member and their scoped roles.
Services never trust an unsigned id.

Sessions (issue 17): a login starts a session (claim ``sid`` = the first token's ``jti``, ending at claim
``sexp``, ``SESSION_MAX_SECONDS`` later, default 30 days); ``POST /api/v1/auth/refresh`` renews the token
within it (roles read again, a new ``jti``, the same ``sid``), so a member logs in once per session, not
per ``TOKEN_TTL_SECONDS``.

Logout revokes the session (issue 12, 17): members records the session id (a token without one: its
``jti``) until the session's end and publishes ``token_revoked``; every process keeps the revoked ids of live tokens in a small in-memory set
(:class:`Identity`), filled once at start by ``members.revoked_tokens()`` and kept current by a
broadcast handler (:class:`RevocationListener`: every process of every service gets every
``token_revoked``, even several instances of one service). A check is one set lookup per request; the
list survives restarts (members' database) and never grows beyond the sessions still alive.

Roles and their scopes (DESIGN.md §1):

========================  ====================================================================
role                      scope id
========================  ====================================================================
``member``                implicit: the member's own union (``Actor.union_id``)
``delegate``              a congress id
``handler``               a department id
``union_admin``           a union id; covers that union and the unions below it
``superior_admin``        a union id (a federation or district); covers the unions below it
``hotline_staff``         a union id: staff of its 12351 hotline / service station; record calls,
                          dispatch and handle cases, return visits (cases service) for that union and below
``system``                ``*``: a service acting on its own behalf (timers, event handlers)
========================  ====================================================================
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import eventlet
import jwt
from nameko.events import BROADCAST
from nameko.extensions import DependencyProvider

from dmlib.errors import Forbidden, Unauthenticated
from dmlib.rpc import event_handler
from dmlib.secrets import require_secret

log = logging.getLogger(__name__)

ROLE_SCOPES = {
    "delegate": "congress",
    "handler": "department",
    "union_admin": "union",
    "superior_admin": "union",
    "hotline_staff": "union",
    "system": "*",
}
ROLES = ("member", *ROLE_SCOPES)
ADMIN_ROLES = ("union_admin", "superior_admin")
CONTEXT_KEY = "auth_token"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 8 * 3600
#: The longest a login session lasts (config ``SESSION_MAX_SECONDS``): a session's tokens are renewed
#: (``POST /api/v1/auth/refresh``) until this long after the password was checked, then the member logs in
#: again. Each token still lives at most ``TOKEN_TTL_SECONDS`` (the idle limit). docs/security.md.
DEFAULT_SESSION_MAX_SECONDS = 30 * 24 * 3600
SERVICE_TTL_SECONDS = 300


@dataclass(frozen=True)
class Grant:
    """One role held in one scope (a union, congress or department id)."""

    role: str
    scope: str


@dataclass(frozen=True)
class Actor:
    """Who is asking: a member with scoped roles, or a service acting for itself."""

    member_id: str
    name: str = ""
    union_id: str | None = None
    grants: tuple[Grant, ...] = ()
    token_id: str = field(default="", compare=False)
    expires_at: int = field(default=0, compare=False)
    #: The login session the token belongs to (claim ``sid``: the ``jti`` of the session's first token)
    #: and the session's end (claim ``sexp``, seconds since the epoch); "" / 0 when the token has none.
    session_id: str = field(default="", compare=False)
    session_expires_at: int = field(default=0, compare=False)

    @property
    def session(self) -> str:
        """The id a logout revokes: the session's (every token renewed from one login), else the token's."""
        return self.session_id or self.token_id

    @property
    def session_end(self) -> int:
        """When the session ends (seconds since the epoch): no token of it is valid after this."""
        return self.session_expires_at or self.expires_at

    @property
    def is_system(self) -> bool:
        return any(g.role == "system" for g in self.grants)

    def has(self, role: str, scope: str | None = None) -> bool:
        """True if the actor holds ``role`` (in ``scope`` when given). ``system`` holds every role."""
        if self.is_system:
            return True
        if role == "member":
            return self.union_id is not None and (scope is None or scope == self.union_id)
        return any(g.role == role and (scope is None or g.scope == scope) for g in self.grants)

    def scopes(self, role: str) -> set[str]:
        """The scope ids in which the actor holds ``role``."""
        return {g.scope for g in self.grants if g.role == role}

    @property
    def admin_unions(self) -> set[str]:
        """Unions the actor administers directly (each also covers the unions below it)."""
        return {g.scope for g in self.grants if g.role in ADMIN_ROLES}

    def administers(self, union_path: Iterable[str]) -> bool:
        """True if the actor administers the union whose path (root … itself) is ``union_path``.

        A union admin or superior admin of a union covers it and every union below it.
        """
        if self.is_system:
            return True
        return bool(self.admin_unions & set(union_path))

    def require(self, allowed: bool, message: str, **details) -> None:
        """Raise :class:`Forbidden` with ``message`` unless ``allowed``."""
        if not allowed:
            raise Forbidden(message, details=details or None)

    def to_dict(self) -> dict:
        return {
            "member_id": self.member_id,
            "name": self.name,
            "union_id": self.union_id,
            "roles": [{"role": g.role, "scope": g.scope} for g in self.grants],
            "expires_at": self.expires_at,
        }


def issue_token(
    secret: str, actor: Actor, ttl_seconds: int = DEFAULT_TTL_SECONDS, session_max_seconds: int | None = None
) -> str:
    """Sign a token for ``actor`` valid for ``ttl_seconds``; carries a random ``jti``.

    Session: when ``actor`` carries a ``session_id`` (a renewal) the token stays in that session and never
    outlives its end (``exp`` ≤ ``sexp``); otherwise it starts a new session (``sid`` = its ``jti``)
    ending ``session_max_seconds`` from now (default: with the token)."""
    now = int(time.time())
    jti = uuid.uuid4().hex
    if actor.session_id:
        sid, sexp = actor.session_id, actor.session_end
    else:
        sid, sexp = jti, now + (session_max_seconds or ttl_seconds)
    claims = {
        "sub": actor.member_id,
        "name": actor.name,
        "union": actor.union_id,
        "grants": [[g.role, g.scope] for g in actor.grants],
        "iat": now,
        "exp": min(now + ttl_seconds, sexp),
        "jti": jti,
        "sid": sid,
        "sexp": sexp,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str | None) -> Actor:
    """The :class:`Actor` of a valid token; :class:`Unauthenticated` if missing, forged or expired."""
    if not token:
        raise Unauthenticated("login required / 请先登录")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "jti"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("session expired, please log in again / 登录已过期，请重新登录") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("invalid token / 无效的登录凭证") from exc
    return Actor(
        member_id=claims["sub"],
        name=claims.get("name", ""),
        union_id=claims.get("union"),
        grants=tuple(Grant(role, scope) for role, scope in claims.get("grants", [])),
        token_id=claims["jti"],
        expires_at=claims["exp"],
        session_id=str(claims.get("sid") or ""),
        session_expires_at=int(claims.get("sexp") or 0),
    )


def service_actor(service_name: str) -> Actor:
    return Actor(member_id=f"service:{service_name}", name=service_name, grants=(Grant("system", "*"),))


def csrf_token(secret: str, actor: Actor) -> str:
    """The CSRF token bound to one login session (its ``sid``, so a renewed token keeps the forms
    valid; the ``jti`` for a token without a session): HMAC-SHA256, hex, 32 characters."""
    return hmac.new(secret.encode(), f"csrf:{actor.session}".encode(), hashlib.sha256).hexdigest()[:32]


def auth_secret(config: dict) -> str:
    """``AUTH_SECRET`` (≥ 32 characters, not a published test value): see :mod:`dmlib.secrets`."""
    return require_secret(config, "AUTH_SECRET", 32)


class Identified:
    """What :class:`Identity` injects into a worker."""

    def __init__(self, worker_ctx, provider: Identity):
        self._ctx = worker_ctx
        self._provider = provider
        self._actor: Actor | None = None

    @property
    def ttl(self) -> int:
        """Lifetime of the tokens this provider issues, in seconds."""
        return self._provider.ttl

    @property
    def token(self) -> str | None:
        return self._ctx.data.get(CONTEXT_KEY)

    @property
    def actor(self) -> Actor:
        """The verified actor of this call; raises :class:`Unauthenticated` without a valid token or
        with a revoked one (logged out)."""
        if self._actor is None:
            self._actor = self._provider.verify(self.token)
        return self._actor

    def verify(self, token: str | None) -> Actor:
        """The actor of another token than this call's (an item of a batch: each carries its own);
        :class:`Unauthenticated` as for :attr:`actor`."""
        return self._provider.verify(token)

    def revoked(self, token_id: str, expires_at: int) -> None:
        """Record in this process that the token ``token_id`` (expiring at ``expires_at``) is revoked."""
        self._provider.revoke(token_id, expires_at)

    def require_login(self) -> Actor:
        """The actor, for methods open to anyone logged in; raises :class:`Unauthenticated` otherwise."""
        return self.actor

    @property
    def actor_or_none(self) -> Actor | None:
        try:
            return self.actor
        except Unauthenticated:
            return None

    def issue(self, actor: Actor, ttl_seconds: int | None = None) -> str:
        """Sign a token for ``actor`` and make it this worker's identity for the calls that follow: a new
        login session (up to ``SESSION_MAX_SECONDS``), or, when ``actor`` carries a ``session_id``, a
        renewal within that session (see :func:`issue_token`)."""
        provider = self._provider
        token = issue_token(provider.secret, actor, ttl_seconds or provider.ttl, provider.session_max)
        self.use(token)
        return token

    def use(self, token: str) -> None:
        """Make ``token`` the identity of the calls this worker makes from now on."""
        self._ctx.data[CONTEXT_KEY] = token
        self._actor = None

    def act_as_service(self) -> Actor:
        """For timers and event handlers: act as this service (role ``system``) for the calls that follow."""
        self.issue(service_actor(self._ctx.container.service_name), SERVICE_TTL_SECONDS)
        return self.actor

    def csrf_token(self) -> str:
        return csrf_token(self._provider.secret, self.actor)


class Identity(DependencyProvider):
    """The auth provider: verifies the caller's token (config ``AUTH_SECRET``, ``TOKEN_TTL_SECONDS``) and
    refuses revoked ones. At start it loads the revoked ids of live tokens from members
    (``revoked_tokens``, through a standalone RPC proxy as this service, retried with back-off until
    members answers); :class:`RevocationListener` adds the ones revoked later."""

    def setup(self) -> None:
        config = self.container.config
        self.secret = auth_secret(config)
        self.ttl = int(config.get("TOKEN_TTL_SECONDS") or DEFAULT_TTL_SECONDS)
        self.session_max = int(config.get("SESSION_MAX_SECONDS") or DEFAULT_SESSION_MAX_SECONDS)
        self.revoked_ids: dict[str, int] = {}
        self.revocations_loaded = False

    def start(self) -> None:
        self.container.spawn_managed_thread(self._load_revocations)

    def _load_revocations(self) -> None:
        from nameko.standalone.rpc import ClusterRpcProxy

        delay = 1.0
        while True:
            token = issue_token(self.secret, service_actor(self.container.service_name), SERVICE_TTL_SECONDS)
            try:
                timeout = float(self.container.config.get("RPC_TIMEOUT") or 10)
                with ClusterRpcProxy(
                    self.container.config, context_data={CONTEXT_KEY: token}, timeout=timeout
                ) as rpc:
                    for entry in rpc.members.revoked_tokens():
                        self.revoke(entry["token_id"], entry["expires_at"])
                self.revocations_loaded = True
                log.info("%s: %d revoked tokens loaded", self.container.service_name, len(self.revoked_ids))
                return
            except Exception as exc:  # noqa: BLE001 - members not up yet: try again later
                log.debug("revoked tokens not loaded yet (%s: %s); retrying", type(exc).__name__, exc)
            eventlet.sleep(delay)
            delay = min(delay * 2, 30.0)

    def revoke(self, token_id: str, expires_at: int) -> None:
        """Refuse ``token_id`` from now on in this process (until ``expires_at``, when it dies anyway)."""
        now = int(time.time())
        if len(self.revoked_ids) >= 1024 and len(self.revoked_ids) % 1024 == 0:
            self.revoked_ids = {k: v for k, v in self.revoked_ids.items() if v > now}
        if int(expires_at) > now:
            self.revoked_ids[token_id] = int(expires_at)

    def verify(self, token: str | None) -> Actor:
        """:func:`verify_token`, and :class:`Unauthenticated` for a revoked (logged-out) token or session."""
        actor = verify_token(self.secret, token)
        if actor.token_id in self.revoked_ids or actor.session in self.revoked_ids:
            raise Unauthenticated("logged out, please log in again / 已退出登录，请重新登录")
        return actor

    def get_dependency(self, worker_ctx) -> Identified:
        return Identified(worker_ctx, self)


class RevocationListener:
    """Mixin for every service (with an ``identity = Identity()``): each process hears every
    ``token_revoked`` (a broadcast queue per process, gone with it; a process started later loads the
    list at start instead) and refuses that token from then on."""

    @event_handler("members", "token_revoked", handler_type=BROADCAST, reliable_delivery=False)
    def handle_token_revoked(self, payload: dict) -> None:
        """``token_revoked``: ``{token_id, expires_at}`` (seconds since the epoch)."""
        self.identity.revoked(str(payload["token_id"]), int(payload["expires_at"]))
