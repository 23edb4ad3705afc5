"""Broker accounts: one RabbitMQ user per service and one for the operator tools, least privilege
(issue 12; DESIGN.md §5 "The broker is not trusted"; docs/architecture.md, "Security: broker accounts").

:data:`ACCOUNTS` is the one table. Each account's permissions are derived from nameko 2.14's names
(``nameko/rpc.py``, ``nameko/events.py``, ``nameko/standalone``):

- RPC: topic exchange ``nameko-rpc``; a service consumes its queue ``rpc-<service>`` (bound with
  ``<service>.*``); a caller publishes ``<target>.<method>`` with ``reply_to`` = a uuid4 and consumes its
  reply queue ``rpc.reply-<caller>-<uuid>`` (bound with that uuid); the server publishes the reply to
  ``nameko-rpc`` with the uuid as routing key. Standalone proxies (the ``dm`` tools, healthchecks) call
  themselves ``standalone_rpc_proxy``.
- Events: a service publishes to its topic exchange ``<service>.events`` with the event type as routing
  key; a handler consumes ``evt-<source>-<event>--<service>.<method>`` bound to ``<source>.events``.
- notify's own kombu plumbing (services/notify/delivery.py): exchange ``notify.delivery``, work queue
  ``notify.deliver``, delay queues ``notify.retry.<ms>ms`` dead-lettering back to the exchange.

RabbitMQ checks (https://www.rabbitmq.com/docs/access-control): declaring or deleting an exchange or queue
needs *configure* on it; publishing needs *write* on the exchange; consuming, ``basic.get`` and purging
need *read* on the queue; binding needs *write* on the queue and *read* on the exchange. kombu declares
a queue's exchange before binding, so a service needs *configure* (not *write*) on the exchanges it
binds to: ``nameko-rpc`` and the event exchanges of the services it listens to. Topic permissions (on
``nameko-rpc`` only) narrow the routing keys: a service may publish only requests to the services it
calls (and its own ``health``, for the healthcheck) and replies (a uuid), and may bind only
``<service>.*`` and uuids, so it can neither call what it does not use nor bind a queue of its own to
read other services' requests.

Used by ``scripts/servers.sh`` (``python -m dmtools.broker provision``), :mod:`dmtools.stack` (per-stack
users on a private vhost) and the tests (tests/adversarial/test_broker.py).

``python -m dmtools.broker migrate-queues`` turns a broker's classic service queues into quorum queues
(:func:`migrate_to_quorum`; docs/scaling.md, "Migrating a broker to quorum queues").
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # as dmtools.config (not imported: slow)

RPC_EXCHANGE = "nameko-rpc"
STANDALONE = "standalone_rpc_proxy"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
METHOD = "[A-Za-z0-9_]+"
ADMIN_USER = "dm-admin"
SECRETS_FILE = os.path.join(ROOT, ".local", "secrets.env")
API = "http://127.0.0.1:15672/api"


@dataclass(frozen=True)
class Account:
    """What one broker user may do. ``calls``: services whose RPC methods it calls; ``serves``: it runs
    an RPC service of its own name; ``consumes``: (source service, event type, handler method);
    ``queues``/``exchanges``: further names (regular expressions) it declares, writes and reads."""

    calls: tuple[str, ...] = ()
    serves: bool = True
    publishes: bool = True
    consumes: tuple[tuple[str, str, str], ...] = ()
    queues: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    standalone: bool = False
    tags: tuple[str, ...] = field(default=())


_N = "notify"
#: Every process of every service hears ``token_revoked`` on a broadcast queue of its own
#: (``dmlib.auth.RevocationListener``: ``evt-members-token_revoked--<service>.handle_token_revoked-<32 hex>``)
#: and loads the revoked tokens at start through a standalone proxy (``members.revoked_tokens``).
REVOCATION = ("members", "token_revoked", "handle_token_revoked")
PUBLISHERS = (
    "members",
    "congress",
    "proposals",
    "voting",
    "disclosure",
    "notify",
    "cases",
    "elections",
    "surveys",
)
#: service or tool → its account. The user name is the key (per-stack users get a prefix).
#: ``consumes`` lists every ``@event_handler`` of the service (checked against the code by
#: tests/unit/test_broker_accounts.py); ``calls`` every ``Rpc(...)`` dependency.
ACCOUNTS: dict[str, Account] = {
    "members": Account(),
    "gateway": Account(
        calls=(
            "members",
            "congress",
            "disclosure",
            "voting",
            "proposals",
            "notify",
            "audit",
            "cases",
            "surveys",
            "elections",
        ),
        serves=False,  # HTTP only: no RPC queue (its healthcheck is GET /healthz)
        publishes=False,
    ),
    "disclosure": Account(calls=("members",)),
    "voting": Account(calls=("members",)),
    "congress": Account(
        calls=("members", "voting", "elections"),
        consumes=(
            ("voting", "poll_closed", "handle_poll_closed"),
            ("elections", "election_published", "handle_election_published"),
        ),
    ),
    "proposals": Account(calls=("congress", "members")),
    "cases": Account(calls=("members",)),
    "surveys": Account(calls=("members", "congress")),
    "notify": Account(
        calls=("members", "voting", "congress", "surveys", "cases"),
        consumes=tuple(
            (source, event, f"handle_{event}")
            for source, events in (
                ("voting", ("poll_opened", "results_published")),
                ("disclosure", ("disclosure_published", "disclosure_corrected", "question_answered")),
                (
                    "congress",
                    ("session_planned", "session_convened", "vote_opened", "resolution_adopted")
                    + ("resolution_failed",),
                ),
                (
                    "proposals",
                    ("proposal_accepted", "proposal_assigned", "proposal_replied", "proposal_overdue"),
                ),
                (
                    "cases",
                    ("case_received", "case_dispatched", "case_overdue", "case_replied")
                    + ("case_reminded", "case_supervised"),
                ),
                ("elections", ("round_opened", "election_published")),
                ("surveys", ("survey_opened", "survey_reminded")),
            )
            for event in events
        ),
        queues=(r"notify\.deliver", r"notify\.retry\.[0-9]+ms"),
        exchanges=(r"notify\.delivery",),
    ),
    "elections": Account(calls=("members", "congress")),
    # The audit log: entries arrive only as ``change_recorded`` events of each publisher.
    "audit": Account(
        calls=("members",),
        publishes=False,
        consumes=tuple((source, "change_recorded", f"handle_{source}_change") for source in PUBLISHERS),
    ),
    # The operator tools (`dm`: wait, health, demo loader, import, benchmarks): RPC calls only, through
    # nameko's standalone proxy; no service of their own, no events.
    "dm": Account(
        calls=(
            "members",
            "disclosure",
            "voting",
            "congress",
            "proposals",
            "notify",
            "audit",
            "cases",
            "elections",
            "surveys",
        ),
        serves=False,
        publishes=False,
        standalone=True,
    ),
}
SERVICES = tuple(name for name in ACCOUNTS if name != "dm")


def _alt(names) -> str:
    return "^(" + "|".join(names) + ")$"


def _esc(name: str) -> str:
    return name.replace(".", r"\.").replace("-", r"\-")


@dataclass(frozen=True)
class Permissions:
    """Regular expressions as RabbitMQ takes them, and the topic permissions on ``nameko-rpc``."""

    configure: str
    write: str
    read: str
    topic_write: str
    topic_read: str


def permissions(name: str) -> Permissions:
    """The permissions of account ``name`` (a key of :data:`ACCOUNTS`) on one vhost.

    A service account: configure its queues, its event exchange, ``nameko-rpc`` and the event exchanges
    it binds to; write (publish, bind) its own event exchange, ``nameko-rpc`` and its queues; read
    (consume, bind from) its queues, ``nameko-rpc`` and the event exchanges it binds to. Every service
    also gets the standalone reply queues of its own healthcheck (``dm health <service>``) and of the
    load of revoked tokens at start, and its broadcast queue for ``token_revoked`` (:data:`REVOCATION`)."""
    a = ACCOUNTS[name]
    service = name != "dm"
    callers = ([] if a.standalone else [name] * bool(a.calls)) + [STANDALONE]
    queues = [rf"rpc\.reply\-{_esc(c)}\-{UUID}" for c in callers]
    if a.serves:
        queues.append(rf"rpc\-{_esc(name)}")
    queues += [f"evt\\-{_esc(s)}\\-{_esc(e)}\\-\\-{_esc(name)}\\.{_esc(m)}" for s, e, m in a.consumes]
    if service:
        s, e, m = REVOCATION
        queues.append(f"evt\\-{_esc(s)}\\-{_esc(e)}\\-\\-{_esc(name)}\\.{_esc(m)}\\-[0-9a-f]{{32}}")
    queues += list(a.queues)
    own_exchange = [rf"{_esc(name)}\.events"] if a.publishes else []
    consumed = [s for s, _, _ in a.consumes] + [REVOCATION[0]] * service
    sources = [rf"{_esc(s)}\.events" for s in dict.fromkeys(consumed)]
    rpc = [_esc(RPC_EXCHANGE)]
    keys = [rf"{_esc(t)}\.{METHOD}" for t in a.calls]
    if a.serves and name not in a.calls:
        keys.append(rf"{_esc(name)}\.health")
    if service and "members" not in a.calls:
        keys.append(r"members\.revoked_tokens")
    binds = ([rf"{_esc(name)}\.\*"] if a.serves else []) + [UUID]
    return Permissions(
        configure=_alt(queues + own_exchange + rpc + sources + list(a.exchanges)),
        write=_alt(queues + own_exchange + rpc + list(a.exchanges)),
        read=_alt(queues + rpc + sources + list(a.exchanges)),
        topic_write=_alt(keys + [UUID]),
        topic_read=_alt(binds),
    )


# ----- provisioning through the management API -------------------------------------------------------
class Broker:
    """The management API of one node, as an administrator."""

    def __init__(self, api: str, user: str, password: str):
        self.api = api.rstrip("/")
        self.auth = (user, password)

    def _call(self, method: str, path: str, json=None, ok=(200, 201, 204)) -> requests.Response:
        r = requests.request(method, f"{self.api}{path}", json=json, auth=self.auth, timeout=30)
        if r.status_code not in ok:
            raise RuntimeError(f"RabbitMQ API {method} {path}: HTTP {r.status_code} {r.text[:300]}")
        return r

    def ensure_vhost(self, vhost: str) -> None:
        self._call("PUT", f"/vhosts/{quote(vhost, safe='')}")

    def delete_vhost(self, vhost: str) -> None:
        self._call("DELETE", f"/vhosts/{quote(vhost, safe='')}", ok=(200, 204, 404))

    def set_user(self, user: str, password: str, tags: str = "") -> None:
        """Create the user or reset its password and tags (idempotent)."""
        self._call("PUT", f"/users/{quote(user, safe='')}", json={"password": password, "tags": tags})

    def delete_user(self, user: str) -> None:
        self._call("DELETE", f"/users/{quote(user, safe='')}", ok=(200, 204, 404))

    def users(self) -> list[str]:
        return [u["name"] for u in self._call("GET", "/users").json()]

    def grant(self, vhost: str, user: str, account: str) -> None:
        """Give ``user`` the permissions of ``account`` on ``vhost`` (replacing what it had there)."""
        p = permissions(account)
        v, u = quote(vhost, safe=""), quote(user, safe="")
        self._call(
            "PUT", f"/permissions/{v}/{u}", json={"configure": p.configure, "write": p.write, "read": p.read}
        )
        self._call(
            "PUT",
            f"/topic-permissions/{v}/{u}",
            json={"exchange": RPC_EXCHANGE, "write": p.topic_write, "read": p.topic_read},
        )

    def grant_all(self, vhost: str, user: str) -> None:
        self._call(
            "PUT",
            f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )

    def queues(self, vhost: str) -> list[dict]:
        """The management API's record of every queue of ``vhost`` (``name``, ``type``, ``durable``,
        ``messages``, ``consumers``, ``arguments``, …)."""
        return self._call("GET", f"/queues/{quote(vhost, safe='')}").json()

    def provision(self, vhost: str, passwords: dict[str, str], prefix: str = "") -> dict[str, str]:
        """One user ``<prefix><account>`` per account of :data:`ACCOUNTS` with ``passwords[account]``,
        its permissions on ``vhost`` (created if missing); returns account → user name."""
        self.ensure_vhost(vhost)
        users = {}
        for account in ACCOUNTS:
            user = f"{prefix}{account}"
            self.set_user(user, passwords[account])
            self.grant(vhost, user, account)
            users[account] = user
        return users


# ----- classic → quorum queues ----------------------------------------------------------------------
def service_queue(queue: dict) -> bool:
    """Whether a queue (management API record) is one that ``AMQP_QUEUE_TYPE=quorum`` declares as a quorum
    queue (:func:`dmlib.queues.shared_queue`): durable, neither exclusive nor auto-deleted, and not an RPC
    reply queue (``rpc.reply-…``, transient and per process)."""
    return (
        bool(queue.get("durable"))
        and not queue.get("exclusive")
        and not queue.get("auto_delete")
        and not str(queue.get("name", "")).startswith("rpc.reply-")
    )


def migrate_to_quorum(broker: Broker, vhost: str = "/") -> list[str]:
    """Re-declare every classic :func:`service_queue` of ``vhost`` as a quorum queue with the same name,
    arguments (plus those :func:`dmlib.queues.shared_queue` adds) and bindings; returns their names.

    RabbitMQ cannot change a queue's type in place (declaring it again with ``x-queue-type: quorum`` fails
    with ``PRECONDITION_FAILED``), so each queue is deleted and made again at once. Run it with every
    service stopped and the queues drained: it refuses (``RuntimeError`` naming them, nothing changed)
    while any such queue holds a message or has a consumer, and each delete is ``if-empty``/``if-unused``
    so that a message the management API did not count yet (its figures lag a few seconds) stops it
    rather than being lost (the queues done so far are named; run it again once they are drained). Events published while a
    subscriber's queue is being re-made would be dropped: nobody publishes with the services stopped."""
    from kombu import Queue

    from dmlib.queues import shared_queue

    v = quote(vhost, safe="")
    classic = [q for q in broker.queues(vhost) if service_queue(q) and q.get("type", "classic") == "classic"]
    busy = [
        f"{q['name']} ({q.get('messages', 0)} messages, {q.get('consumers', 0)} consumers)"
        for q in classic
        if q.get("messages") or q.get("consumers")
    ]
    if busy:
        raise RuntimeError("stop the services and let these queues drain first: " + "; ".join(busy))
    done = []
    for q in classic:
        name = quote(q["name"], safe="")
        bindings = [
            b
            for b in broker._call("GET", f"/queues/{v}/{name}/bindings").json()
            if b.get("source")  # the default exchange's implicit binding is not made by hand
        ]
        arguments = shared_queue(
            Queue(q["name"], durable=True, queue_arguments=q.get("arguments") or {}),
            {"AMQP_QUEUE_TYPE": "quorum"},
        ).queue_arguments
        try:
            broker._call("DELETE", f"/queues/{v}/{name}?if-empty=true&if-unused=true")
        except RuntimeError:  # a message or a consumer the overview did not show yet: the queue is kept
            raise RuntimeError(
                f"stop the services and let these queues drain first: {q['name']} (not empty or in use)"
                + (f"; already quorum queues: {', '.join(done)}" if done else "")
            ) from None
        broker._call(
            "PUT", f"/queues/{v}/{name}", json={"durable": True, "auto_delete": False, "arguments": arguments}
        )
        for b in bindings:
            broker._call(
                "POST",
                f"/bindings/{v}/e/{quote(b['source'], safe='')}/q/{name}",
                json={"routing_key": b["routing_key"], "arguments": b.get("arguments") or {}},
            )
        done.append(q["name"])
    return done


def amqp_uri(host: str, port: int, user: str, password: str, vhost: str = "/") -> str:
    """``pyamqp://user:password@host:port/<vhost>`` with every part quoted."""
    path = "" if vhost == "/" else quote(vhost, safe="")
    return f"pyamqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{path}"


def secret_key(account: str) -> str:
    """The name of ``account``'s password in ``.local/secrets.env`` (``AMQP_PASSWORD_<ACCOUNT>``)."""
    return f"AMQP_PASSWORD_{account.upper()}"


def new_password() -> str:
    return secrets.token_urlsafe(24)


def read_env_file(path: str = SECRETS_FILE) -> dict[str, str]:
    """``KEY=value`` lines of a secrets file (``scripts/secrets.sh`` writes it); {} when it is missing."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line and not line.startswith("#"))


def admin_credentials(env: dict | None = None) -> tuple[str, str]:
    """The management account: ``RABBITMQ_ADMIN_USER``/``RABBITMQ_ADMIN_PASSWORD`` from the environment,
    else from ``.local/secrets.env``; raises when there is none (no default password anywhere)."""
    env = {**read_env_file(), **(env if env is not None else os.environ)}
    password = env.get("RABBITMQ_ADMIN_PASSWORD")
    if not password:
        raise RuntimeError(
            "RABBITMQ_ADMIN_PASSWORD is not set and .local/secrets.env has none: run scripts/servers.sh"
        )
    return env.get("RABBITMQ_ADMIN_USER") or ADMIN_USER, password


def bootstrap_admin(rabbitmqctl: list[str], user: str, password: str, vhost: str = "/") -> None:
    """With ``rabbitmqctl`` (node access, no password): create ``user`` or reset its password to
    ``password``, tag it administrator, give it every permission on ``vhost``, and delete ``guest``."""

    def ctl(*args: str, stdin: str | None = None, ok_codes=(0,)) -> subprocess.CompletedProcess:
        r = subprocess.run([*rabbitmqctl, *args], input=stdin, capture_output=True, text=True, timeout=120)
        if r.returncode not in ok_codes:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
        return r

    listed = [line.split("\t")[0] for line in ctl("list_users", "--silent").stdout.splitlines()]
    if user in listed:
        ctl("change_password", user, stdin=password + "\n")
    else:
        ctl("add_user", user, stdin=password + "\n")
    ctl("set_user_tags", user, "administrator")
    ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    if "guest" in listed:
        ctl("delete_user", "guest")


def provision_node(
    rabbitmqctl: list[str], api: str, env: dict[str, str], vhost: str = "/", prefix: str = ""
) -> None:
    """What ``scripts/servers.sh`` does on every start: the admin account (rabbitmqctl), then one user per
    account with the passwords in ``env`` (``AMQP_PASSWORD_<ACCOUNT>``), every password reset to the
    current one, ``guest`` gone."""
    bootstrap_admin(rabbitmqctl, env.get("RABBITMQ_ADMIN_USER") or ADMIN_USER, env["RABBITMQ_ADMIN_PASSWORD"])
    broker = Broker(api, env.get("RABBITMQ_ADMIN_USER") or ADMIN_USER, env["RABBITMQ_ADMIN_PASSWORD"])
    broker.provision(vhost, {a: env[secret_key(a)] for a in ACCOUNTS}, prefix)


def definitions(vhost: str = "/") -> dict:
    """RabbitMQ definitions (``load_definitions``) of every account on ``vhost``, with the password of
    each as the placeholder ``@AMQP_PASSWORD_<ACCOUNT>@`` (``@RABBITMQ_ADMIN_PASSWORD@`` for
    ``dm-admin``), which deploy/rabbitmq/init.sh fills from the environment. No ``guest``: a node that
    loads definitions at boot does not create its default user."""
    users = [{"name": ADMIN_USER, "password": "@RABBITMQ_ADMIN_PASSWORD@", "tags": "administrator"}]
    users += [{"name": a, "password": f"@{secret_key(a)}@", "tags": ""} for a in ACCOUNTS]
    perms = [{"user": ADMIN_USER, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}]
    topics = []
    for a in ACCOUNTS:
        p = permissions(a)
        perms.append({"user": a, "vhost": vhost, "configure": p.configure, "write": p.write, "read": p.read})
        topics.append(
            {
                "user": a,
                "vhost": vhost,
                "exchange": RPC_EXCHANGE,
                "write": p.topic_write,
                "read": p.topic_read,
            }
        )
    return {"users": users, "vhosts": [{"name": vhost}], "permissions": perms, "topic_permissions": topics}


DEFINITIONS_TEMPLATE = os.path.join(ROOT, "deploy", "rabbitmq", "definitions.template.json")


def secret_keys() -> list[str]:
    """Every broker secret ``scripts/secrets.sh`` generates."""
    return ["RABBITMQ_ADMIN_PASSWORD", *(secret_key(a) for a in ACCOUNTS)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dmtools.broker", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("keys", help="print the names of the broker secrets, one a line")
    e = sub.add_parser("uris", help="print AMQP_URI_<ACCOUNT>=… lines from the environment's passwords")
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--port", type=int, default=5672)
    sub.add_parser("definitions", help="print deploy/rabbitmq/definitions.template.json (docker-compose)")
    v = sub.add_parser("provision", help="admin by rabbitmqctl, then every account through the API")
    v.add_argument("--rabbitmqctl", default="rabbitmqctl", help="command (split on spaces)")
    v.add_argument("--api", default=API)
    m = sub.add_parser(
        "migrate-queues", help="make the classic service queues of a vhost quorum queues (services stopped)"
    )
    m.add_argument("--api", default=API)
    m.add_argument("--vhost", default="/")
    args = p.parse_args(argv)
    if args.cmd == "keys":
        print("\n".join(secret_keys()))
    elif args.cmd == "definitions":
        print(json.dumps(definitions(), indent=2))
    elif args.cmd == "uris":
        for a in ACCOUNTS:
            uri = amqp_uri(args.host, args.port, a, os.environ[secret_key(a)])
            print(f"AMQP_URI_{a.upper()}={uri}")
    elif args.cmd == "migrate-queues":
        migrated = migrate_to_quorum(Broker(args.api, *admin_credentials()), args.vhost)
        print(f"{len(migrated)} queues are quorum queues now" + "".join(f"\n  {n}" for n in migrated))
    else:
        provision_node(args.rabbitmqctl.split(), args.api, dict(os.environ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
