"""The one conftest of every test tier.

- unit: pure functions and ``worker_factory`` with fakes; no servers.
- integration: ``config`` gives a nameko config on a throw-away RabbitMQ vhost (nameko's ``rabbit_config``)
  and a throw-away FerretDB database prefix; ``container_factory``/``runner_factory`` start real services.
- e2e: ``stack`` starts every service of the Procfile as its own process on a free port, waits for them,
  loads the demo data, and yields the base URL; ``browser`` is headless Debian Chromium (Playwright).

Since nameko 2.13 its pytest plugin no longer monkey-patches eventlet: do it before anything else.
"""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from nameko.testing.utils import find_free_port  # noqa: E402

from dmlib.auth import Actor  # noqa: E402
from dmlib.storage import make_client  # noqa: E402
from tests.helpers import AUTH_SECRET, ID_HASH_KEY, MONGO_URI, ROOT, SYSTEM, VOTING_KEY, token  # noqa: E402


# ----- servers ------------------------------------------------------------------------------------
def drop_databases(prefix: str) -> None:
    client = make_client(MONGO_URI)
    try:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)
    finally:
        client.close()


@pytest.fixture
def db_prefix():
    """A fresh database prefix on the real FerretDB; its databases are dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    drop_databases(prefix)


@pytest.fixture
def config(rabbit_config, db_prefix, web_config):
    """nameko config for integration tests: own vhost, own databases, own web port, test secrets."""
    return {
        **rabbit_config,
        **web_config,
        "MONGO_URI": MONGO_URI,
        "MONGO_DB_PREFIX": db_prefix,
        "AUTH_SECRET": AUTH_SECRET,
        "ID_HASH_KEY": ID_HASH_KEY,
        "VOTING_KEY": VOTING_KEY,
        "RPC_TIMEOUT": 5,
        "max_workers": 10,
    }


@pytest.fixture
def db(config):
    """``db("members")``: a pymongo database of the test prefix, to assert on what was stored."""
    client = make_client(MONGO_URI)
    yield lambda service: client[f"{config['MONGO_DB_PREFIX']}{service}"]
    client.close()


@pytest.fixture
def rpc_as(config):
    """``with rpc_as(actor) as rpc: rpc.members.get_member(...)``: cluster RPC carrying actor's token."""

    @contextmanager
    def make(actor: Actor = SYSTEM, timeout: float = 15):
        with ClusterRpcProxy(config, context_data={"auth_token": token(actor)}, timeout=timeout) as proxy:
            yield proxy

    return make


@pytest.fixture
def http(web_session):
    """``http(actor).get(...)``: a requests session on the test gateway with actor's bearer token."""

    def make(actor: Actor | None = None):
        session = web_session
        session.headers.pop("Authorization", None)
        if actor is not None:
            session.headers["Authorization"] = f"Bearer {token(actor)}"
        return session

    return make


# ----- end to end ---------------------------------------------------------------------------------
@dataclass
class Stack:
    url: str
    env: dict
    prefix: str

    def login(self, login: str, password: str = "demo1234") -> requests.Session:
        s = requests.Session()
        r = s.post(f"{self.url}/api/v1/auth/login", json={"login": login, "password": password}, timeout=30)
        assert r.status_code == 200, r.text
        s.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return s


def procfile_commands() -> list[list[str]]:
    """The services as the Procfile starts them (one list of services for make run and the tests)."""
    with open(os.path.join(ROOT, "Procfile")) as f:
        return [shlex.split(line.split(":", 1)[1]) for line in f if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="session")
def stack(rabbit_manager, tmp_path_factory):
    """Every service running as in ``make run``, on its own vhost, databases and port, demo loaded."""
    vhost = f"e2e_{uuid.uuid4().hex[:8]}"
    rabbit_manager.create_vhost(vhost)
    rabbit_manager.set_vhost_permissions(vhost, "guest", ".*", ".*", ".*")
    prefix, port = f"e2e{uuid.uuid4().hex[:6]}_", find_free_port()
    env = {
        **os.environ,
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
        "MONGO_URI": MONGO_URI,
        "MONGO_DB_PREFIX": prefix,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "AUTH_SECRET": AUTH_SECRET,
        "ID_HASH_KEY": ID_HASH_KEY,
        "VOTING_KEY": VOTING_KEY,
        "RPC_TIMEOUT": "10",
    }
    log = open(tmp_path_factory.mktemp("stack") / "services.log", "w+")
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        for cmd in procfile_commands()
    ]
    dm = os.path.join(os.path.dirname(sys.executable), "dm")
    try:
        ready = subprocess.run(
            [dm, "wait", "--timeout", "90"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if ready.returncode != 0:
            log.seek(0)
            pytest.fail(f"services did not start: {ready.stderr}\n{log.read()[-4000:]}")
        loaded = subprocess.run([dm, "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert loaded.returncode == 0, loaded.stderr[-4000:]
        yield Stack(url=f"http://127.0.0.1:{port}", env=env, prefix=prefix)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
        drop_databases(prefix)
        rabbit_manager.delete_vhost(vhost)


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download: /usr/bin/chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def phone(browser):
    """A fresh browser context the size of a phone, Chinese locale."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2
    )
    page = context.new_page()
    yield page
    context.close()
