"""Start every service of the Procfile as its own process on a private RabbitMQ vhost, database prefix
and port: the end-to-end test fixture and the benchmarks use this (``make run`` uses honcho)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from .config import ROOT

RABBIT_API = "http://127.0.0.1:15672/api"
AMQP_BASE = "pyamqp://guest:guest@127.0.0.1:5672/"
GUEST = ("guest", "guest")


def procfile(services: list[str] | None = None) -> dict[str, list[str]]:
    """name → command of each Procfile line (all, or only ``services``)."""
    with open(os.path.join(ROOT, "Procfile")) as f:
        lines = [
            line.split(":", 1) for line in f.read().splitlines() if line.strip() and not line.startswith("#")
        ]
    return {
        name.strip(): shlex.split(cmd) for name, cmd in lines if services is None or name.strip() in services
    }


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
        """``kill -9`` one service process (failure drills); returns its exit status (-9)."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        return proc.wait(30)

    def start(self, name: str) -> subprocess.Popen:
        """Start one service process again, as the stack started it (same command, environment, log)."""
        with open(self.log_path, "a") as log:
            proc = subprocess.Popen(
                self.commands[name], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.procs[name] = proc
        return proc

    def log_tail(self, chars: int = 4000) -> str:
        with open(self.log_path) as f:
            return f.read()[-chars:]


@contextmanager
def running_stack(
    prefix: str,
    log_path: str,
    secrets: dict[str, str],
    services: list[str] | None = None,
    extra_env: dict | None = None,
    amqp_base: str = AMQP_BASE,
    rabbit_api: str = RABBIT_API,
):
    """Start the services on a fresh vhost and database prefix; stop them, drop the vhost afterwards
    (the databases are left to the caller, who may want to inspect them).

    ``amqp_base`` (``pyamqp://user:pass@host:port/``, the vhost is appended) and ``rabbit_api`` (its
    management API, where the vhost is made) default to the shared local RabbitMQ; the failure drills
    pass a private node's. ``MONGO_URI`` comes with ``secrets``/``extra_env``."""
    vhost = f"{prefix.rstrip('_')}_{uuid.uuid4().hex[:6]}"
    requests.put(f"{rabbit_api}/vhosts/{vhost}", auth=GUEST, timeout=10).raise_for_status()
    requests.put(
        f"{rabbit_api}/permissions/{vhost}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=GUEST,
        timeout=10,
    ).raise_for_status()
    port = free_port()
    env = {
        **os.environ,
        "AMQP_URI": f"{amqp_base}{vhost}",
        "MONGO_DB_PREFIX": prefix,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        **secrets,
        **(extra_env or {}),
    }
    log = open(log_path, "w")
    commands = procfile(services)
    procs = {
        name: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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
    )
    try:
        ready = stack.dm("wait", "--timeout", "90", *(["--services", ",".join(services)] if services else []))
        if ready.returncode != 0:
            raise RuntimeError(f"services did not start: {ready.stderr}\n{stack.log_tail()}")
        yield stack
    finally:
        for p in stack.procs.values():
            p.terminate()
        for p in stack.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
        try:
            requests.delete(f"{rabbit_api}/vhosts/{vhost}", auth=GUEST, timeout=10)
        except requests.RequestException:  # a drill may have left its private broker down
            pass
