"""Start every service of the Procfile as its own process on a private RabbitMQ vhost, database prefix
and port: the end-to-end test fixture, the failure drills and the benchmarks use this (``make run`` uses
honcho).

Each service connects as a broker user of its own, made for this stack only (``<vhost>-<account>``,
random password, the permissions of :data:`dmtools.broker.ACCOUNTS` on the stack's vhost) and deleted
with the vhost afterwards; ``stack.env["AMQP_URI"]`` is the operator tools' user (``dm``).

A service may run as several processes (``instances``; competing consumers of its queues, the scale-out of
docs/scaling.md): the first is named after the service, the others ``<service>-2``, ``<service>-3``, …;
each gateway process listens on a port of its own (``stack.urls``)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from .broker import ACCOUNTS, API, Broker, admin_credentials, amqp_uri, new_password
from .config import ROOT

#: leading ``VAR=value`` / ``VAR=${…}`` assignments of a Procfile command
ASSIGNMENTS = re.compile(r"^(?:[A-Za-z_]\w*=(?:\$\{[^}]*\}|\S+)\s+)+")


def procfile(services: list[str] | None = None) -> dict[str, list[str]]:
    """name → command of each Procfile line (all, or only ``services``), without the leading
    ``VAR=value`` assignments (the per-service ``AMQP_URI``: a stack sets its own)."""
    with open(os.path.join(ROOT, "Procfile")) as f:
        lines = [
            line.split(":", 1) for line in f.read().splitlines() if line.strip() and not line.startswith("#")
        ]
    commands = {}
    for name, cmd in lines:
        if services is None or name.strip() in services:
            commands[name.strip()] = shlex.split(ASSIGNMENTS.sub("", cmd.strip()))
    return commands


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    url: str
    env: dict
    prefix: str
    vhost: str
    procs: dict[str, subprocess.Popen]
    log_path: str
    commands: dict[str, list[str]] = field(default_factory=dict)
    envs: dict[str, dict] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    #: every gateway process's address (``url`` is the first); a load balancer goes in front of them
    urls: list[str] = field(default_factory=list)

    def dm(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """Run ``dm …`` against this stack."""
        dm = os.path.join(os.path.dirname(sys.executable), "dm")
        return subprocess.run(
            [dm, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def login(self, login: str, password: str = "demo1234") -> requests.Session:
        """A requests session logged in through the API (bearer token); raises on a refused login."""
        s = requests.Session()
        r = s.post(f"{self.url}/api/v1/auth/login", json={"login": login, "password": password}, timeout=30)
        r.raise_for_status()
        s.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return s

    def kill(self, name: str) -> int:
        """``kill -9`` one service process (``voting``, ``voting-2``, …; failure drills); returns its exit
        status (-9)."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        return proc.wait(30)

    def start(self, name: str) -> subprocess.Popen:
        """Start one service process again, as the stack started it (same command, environment, log)."""
        with open(self.log_path, "a") as log:
            proc = subprocess.Popen(
                self.commands[name], cwd=ROOT, env=self.envs[name], stdout=log, stderr=subprocess.STDOUT
            )
        self.procs[name] = proc
        return proc

    def log_tail(self, chars: int = 4000) -> str:
        with open(self.log_path) as f:
            return f.read()[-chars:]


def _wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway at {url} did not answer within {timeout:g} s")
        time.sleep(0.5)


@contextmanager
def running_stack(
    prefix: str,
    log_path: str,
    secrets: dict[str, str],
    services: list[str] | None = None,
    extra_env: dict | None = None,
    amqp_host: str = "127.0.0.1",
    amqp_port: int = 5672,
    broker: Broker | None = None,
    instances: dict[str, int] | None = None,
):
    """Start the services on a fresh vhost and database prefix, each as its own broker user; stop them,
    drop the vhost and the users afterwards (the databases are left to the caller, who may want to
    inspect them).

    ``broker`` (the management API as an administrator, where the vhost and users are made) defaults to
    the shared local RabbitMQ with the admin account of ``.local/secrets.env``
    (:func:`dmtools.broker.admin_credentials`); the failure drills pass a private node's, with its
    ``amqp_host``/``amqp_port``. ``MONGO_URI`` comes with ``secrets``/``extra_env``. ``instances``: how
    many processes of a service to run (default one each; see the module docstring)."""
    broker = broker or Broker(API, *admin_credentials())
    vhost = f"{prefix.rstrip('_')}_{uuid.uuid4().hex[:6]}"
    passwords = {account: new_password() for account in ACCOUNTS}
    port = free_port()
    env = {
        **os.environ,
        "MONGO_DB_PREFIX": prefix,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        **secrets,
        **(extra_env or {}),
    }
    log = open(log_path, "w")
    commands = {}
    web_ports: dict[str, int] = {}  # gateway process → its port
    for name, cmd in procfile(services).items():
        for i in range(1, (instances or {}).get(name, 1) + 1):
            process = name if i == 1 else f"{name}-{i}"
            commands[process] = cmd
            if name == "gateway":
                web_ports[process] = port if i == 1 else free_port()
    users = {account: f"{vhost}-{account}" for account in ACCOUNTS}
    procs: dict[str, subprocess.Popen] = {}
    try:
        broker.provision(vhost, passwords, prefix=f"{vhost}-")

        def uri(account: str) -> str:
            return amqp_uri(amqp_host, amqp_port, users[account], passwords[account], vhost)

        env["AMQP_URI"] = uri("dm")
        envs = {
            process: {**env, "AMQP_URI": uri(process.split("-", 1)[0])}
            | ({"WEB_SERVER_ADDRESS": f"127.0.0.1:{web_ports[process]}"} if process in web_ports else {})
            for process in commands
        }
        procs = {
            name: subprocess.Popen(cmd, cwd=ROOT, env=envs[name], stdout=log, stderr=subprocess.STDOUT)
            for name, cmd in commands.items()
        }
        stack = Stack(
            url=f"http://127.0.0.1:{port}",
            env=env,
            prefix=prefix,
            vhost=vhost,
            procs=procs,
            log_path=log_path,
            commands=commands,
            envs=envs,
            users=users,
            urls=[f"http://127.0.0.1:{p}" for p in web_ports.values()],
        )
        ready = stack.dm("wait", "--timeout", "90", *(["--services", ",".join(services)] if services else []))
        if ready.returncode != 0:
            raise RuntimeError(f"services did not start: {ready.stderr}\n{stack.log_tail()}")
        for url in stack.urls[1:]:  # `dm wait` asked the first gateway; the others answer too
            _wait_healthy(url, 90)
        yield stack
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
        try:
            broker.delete_vhost(vhost)
            for user in users.values():
                broker.delete_user(user)
        except (requests.RequestException, RuntimeError):  # a drill may have left its private broker down
            pass
