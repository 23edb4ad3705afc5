"""Private servers for the failure drills: a RabbitMQ node and a FerretDB instance of their own, on free
loopback ports with their data under a temporary directory, so that the drills can stop, kill and restart
them without touching the shared servers (127.0.0.1:5672 / 15672 / 27017) that other tests are using.

- :class:`PrivateRabbit`: ``/usr/lib/rabbitmq/bin/rabbitmq-server`` run in the foreground as node
  ``drill-<random>@localhost`` (AMQP, Erlang distribution and management API on free ports, all bound to
  127.0.0.1; its own config, env and plugins files, so /etc/rabbitmq is not read). Its Mnesia directory
  is kept between :meth:`stop` and :meth:`start`, so durable queues and persistent messages survive a
  restart, as on a real server. :meth:`provision` sets it up as ``scripts/servers.sh`` sets up the local
  broker (the same :func:`dmtools.broker.provision_node`): an admin account, one user per service and
  one for the tools, no ``guest``; :attr:`broker` is then its management API as that admin.
- :class:`PrivateCluster`: three such nodes (``cluster-<random>-1@localhost`` …) that form one RabbitMQ
  cluster by themselves at their first start (``classic_config`` peer discovery, the same Erlang cookie:
  the user's), for the cluster drill (docs/scaling.md).
- :class:`PrivateHaproxy`: Debian's ``haproxy`` (installed by ``scripts/setup.sh``) in front of the
  cluster's AMQP ports (TCP) and of the gateway processes (HTTP), with health checks, on free ports.
- :class:`PrivateFerret`: ``.local/bin/ferretdb`` (built by ``scripts/setup.sh``), SQLite backend with its
  files in its own directory, kept across restarts.

Both start within a bounded time or raise, and are stopped for good by :meth:`close`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid

import requests

from dmtools.broker import ACCOUNTS, Broker, new_password, provision_node, secret_key
from dmtools.stack import free_port
from tests.helpers import ROOT

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
FERRETDB = os.path.join(ROOT, ".local", "bin", "ferretdb")
HAPROXY = "/usr/sbin/haproxy"


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, timeout: float, what: str, log_path: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tail = ""
            if log_path and os.path.exists(log_path):
                with open(log_path, errors="replace") as f:
                    tail = f.read()[-3000:]
            raise RuntimeError(f"{what} not ready within {timeout:g} s\n{tail}")
        time.sleep(0.2)


class _Server:
    proc: subprocess.Popen | None = None
    log_path: str

    def _spawn(self, cmd: list[str], env: dict | None = None) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            cmd, cwd=self.base, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def stop(self, kill: bool = False, timeout: float = 60) -> None:
        """Stop the server (SIGTERM: a clean shutdown; ``kill``: SIGKILL) and wait until it is gone."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
        wait_for(lambda: not listening(self.port), 30, f"{type(self).__name__} port release")

    def restart(self, down_s: float = 0.0, kill: bool = False) -> None:
        """Stop, stay down ``down_s`` seconds (requests meanwhile must fail fast), start again."""
        self.stop(kill=kill)
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        self.stop(kill=True)


class PrivateRabbit(_Server):
    """A RabbitMQ node of our own with the management plugin (``api``) on a free port."""

    def __init__(self, base: str, node: str | None = None, peers: tuple[str, ...] = ()):
        """A node under ``base``/rabbitmq (or ``base``/``node`` when ``node`` is named); ``peers``: the
        names of every node of the cluster it is to form (:class:`PrivateCluster`)."""
        self.base = os.path.join(base, node.split("@")[0] if node else "rabbitmq")
        os.makedirs(self.base, exist_ok=True)
        self.node = node or f"drill-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port, self.mgmt_port = free_port(), free_port(), free_port()
        self.log_path = os.path.join(self.base, "console.log")
        conf = os.path.join(self.base, "rabbitmq.conf")
        with open(conf, "w") as f:
            f.write(
                f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
                f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.mgmt_port}\n"
                "loopback_users.guest = true\n"
            )
            if peers:
                f.write("cluster_formation.peer_discovery_backend = classic_config\n")
                for i, peer in enumerate(peers, 1):
                    f.write(f"cluster_formation.classic_config.nodes.{i} = {peer}\n")
        plugins = os.path.join(self.base, "enabled_plugins")
        with open(plugins, "w") as f:
            f.write("[rabbitmq_management].\n")
        env_file = os.path.join(self.base, "rabbitmq-env.conf")
        open(env_file, "w").close()
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": conf,
            "RABBITMQ_CONF_ENV_FILE": env_file,
            "RABBITMQ_ENABLED_PLUGINS_FILE": plugins,
            "RABBITMQ_MNESIA_BASE": os.path.join(self.base, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.base, "log"),
            "RABBITMQ_PID_FILE": os.path.join(self.base, "rabbit.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.auth = ("guest", "guest")  # a fresh node's; :meth:`provision` replaces it
        #: the secrets :meth:`provision` used (``RABBITMQ_ADMIN_PASSWORD``, ``AMQP_PASSWORD_<ACCOUNT>``)
        self.secrets: dict[str, str] = {}

    def provision(self) -> None:
        """Accounts as ``scripts/servers.sh`` makes them, with fresh passwords (kept in :attr:`secrets`)."""
        self.secrets = {
            "RABBITMQ_ADMIN_PASSWORD": new_password(),
            **{secret_key(a): new_password() for a in ACCOUNTS},
        }
        provision_node([RABBITMQCTL, "-n", self.node], self.api, self.secrets)
        self.auth = ("dm-admin", self.secrets["RABBITMQ_ADMIN_PASSWORD"])

    @property
    def broker(self) -> Broker:
        """The management API as the admin account (after :meth:`provision`)."""
        return Broker(self.api, *self.auth)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}/api"

    def _api_ready(self) -> bool:
        try:
            return requests.get(f"{self.api}/overview", auth=self.auth, timeout=2).ok
        except requests.RequestException:
            return False

    def start(self, timeout: float = 120) -> None:
        self._spawn([RABBITMQ_SERVER], self.env)
        wait_for(lambda: listening(self.port), timeout, f"RabbitMQ {self.node}", self.log_path)
        wait_for(self._api_ready, timeout, f"RabbitMQ {self.node} management API", self.log_path)

    def queue_depths(self, vhost: str) -> dict[str, int]:
        """name → messages (ready + unacknowledged) of every queue of ``vhost``."""
        from urllib.parse import quote

        r = requests.get(f"{self.api}/queues/{quote(vhost, safe='')}", auth=self.auth, timeout=10)
        r.raise_for_status()
        return {q["name"]: int(q.get("messages", 0)) for q in r.json()}


class PrivateCluster:
    """Three :class:`PrivateRabbit` nodes forming one cluster. The first starts alone; the other two find
    it through ``classic_config`` and join it at their first start. :meth:`provision` then makes the
    accounts once (users, vhosts and permissions are cluster-wide)."""

    def __init__(self, base: str, size: int = 3):
        tag = uuid.uuid4().hex[:6]
        names = tuple(f"cluster-{tag}-{i}@localhost" for i in range(1, size + 1))
        self.nodes = [PrivateRabbit(base, name, peers=names) for name in names]

    def start(self, timeout: float = 120) -> None:
        first, *others = self.nodes
        first.start(timeout)
        for node in others:  # both boot at once (two cores); each joins the running first node
            node._spawn([RABBITMQ_SERVER], node.env)
        for node in others:
            wait_for(lambda n=node: listening(n.port), timeout, f"RabbitMQ {node.node}", node.log_path)
            wait_for(node._api_ready, timeout, f"RabbitMQ {node.node} management API", node.log_path)
        wait_for(
            lambda: len(self.running_nodes(first)) == len(self.nodes),
            timeout,
            "the RabbitMQ cluster",
            first.log_path,
        )

    def provision(self) -> None:
        """Accounts on the whole cluster (through the first node), the same on every node."""
        first, *others = self.nodes
        first.provision()
        for node in others:
            node.secrets, node.auth = first.secrets, first.auth

    @staticmethod
    def running_nodes(via: PrivateRabbit) -> list[str]:
        """The names of the cluster's running nodes, as ``via``'s management API reports them."""
        try:
            r = requests.get(f"{via.api}/nodes", auth=via.auth, timeout=5)
            return [n["name"] for n in r.json() if n.get("running")] if r.ok else []
        except requests.RequestException:
            return []

    def node(self, name: str) -> PrivateRabbit:
        return next(n for n in self.nodes if n.node == name)

    def queues(self, vhost: str, via: PrivateRabbit | None = None) -> dict[str, dict]:
        """name → the management API's record (``type``, ``node`` = leader, ``members``…) of every queue
        of ``vhost``, asked of ``via`` (default: the first node that answers)."""
        from urllib.parse import quote

        for node in [via] if via else self.nodes:
            try:
                r = requests.get(f"{node.api}/queues/{quote(vhost, safe='')}", auth=node.auth, timeout=10)
            except requests.RequestException:
                continue
            if r.ok:
                return {q["name"]: q for q in r.json()}
        raise RuntimeError("no node of the cluster answers")

    def close(self) -> None:
        for node in self.nodes:
            node.close()


class PrivateHaproxy(_Server):
    """HAProxy (Debian's, ``scripts/setup.sh``) on a free loopback port, in front of either the cluster's
    AMQP ports (``amqp_backends``: TCP, round robin) or the gateway processes (``http_backends``: HTTP,
    round robin, checked by ``GET /healthz``). A backend is taken out after two failed checks one second
    apart; a connection to one that has just died is redispatched to another (``option redispatch``).
    The same shape as deploy/haproxy/haproxy.cfg (docker compose)."""

    def __init__(self, base: str, name: str, amqp_backends: list[int] = (), http_backends: list[str] = ()):
        self.base = os.path.join(base, f"haproxy-{name}")
        os.makedirs(self.base, exist_ok=True)
        self.port = free_port()
        self.log_path = os.path.join(self.base, "haproxy.log")
        self.conf = os.path.join(self.base, "haproxy.cfg")
        if amqp_backends:
            servers = [f"rabbit{i} 127.0.0.1:{p}" for i, p in enumerate(amqp_backends, 1)]
            section = f"listen amqp\n    bind 127.0.0.1:{self.port}\n    mode tcp\n{HAPROXY_TCP}"
        else:
            servers = [f"gateway{i} {url.split('//', 1)[1]}" for i, url in enumerate(http_backends, 1)]
            section = f"listen http\n    bind 127.0.0.1:{self.port}\n    mode http\n{HAPROXY_HTTP}"
        with open(self.conf, "w") as f:
            f.write(HAPROXY_GLOBAL + section)
            f.writelines(f"    server {s} check inter 1s fall 2 rise 2\n" for s in servers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        subprocess.run([HAPROXY, "-c", "-q", "-f", self.conf], check=True, capture_output=True)
        self._spawn([HAPROXY, "-db", "-f", self.conf])
        wait_for(lambda: listening(self.port), timeout, "HAProxy", self.log_path)


HAPROXY_GLOBAL = """global
    maxconn 2000
defaults
    retries 3
    option redispatch
    timeout connect 2s
    timeout check 2s
"""
#: AMQP connections live long (nameko's heartbeat is 60 s): idle timeouts well above it
HAPROXY_TCP = "    balance roundrobin\n    timeout client 3h\n    timeout server 3h\n"
HAPROXY_HTTP = "    balance roundrobin\n    option httpchk GET /healthz\n    timeout client 60s\n    timeout server 60s\n"


class PrivateFerret(_Server):
    """A FerretDB of our own (SQLite backend) on a free port."""

    def __init__(self, base: str):
        self.base = os.path.join(base, "ferretdb")
        os.makedirs(os.path.join(self.base, "data"), exist_ok=True)
        self.port = free_port()
        self.log_path = os.path.join(self.base, "ferretdb.log")

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60) -> None:
        self._spawn(
            [
                FERRETDB,
                "--handler=sqlite",
                f"--sqlite-url=file:{self.base}/data/",
                f"--listen-addr=127.0.0.1:{self.port}",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=warn",
                f"--state-dir={self.base}",
            ]
        )
        wait_for(lambda: listening(self.port), timeout, "FerretDB", self.log_path)
