"""The one conftest of every test tier.

- unit: pure functions and ``worker_factory`` with fakes; no servers.
- integration: ``config`` gives a nameko config on a throw-away RabbitMQ vhost (nameko's ``rabbit_config``)
  and a throw-away FerretDB database prefix; ``container_factory``/``runner_factory`` start real services.
- e2e: ``stack`` starts every service of the Procfile as its own process on a free port, waits for them,
  loads the demo data, and yields the base URL; ``browser`` is headless Debian Chromium (Playwright).

Since nameko 2.13 its pytest plugin no longer monkey-patches eventlet: do it before anything else, for
the unit and integration tiers (nameko runs in-process there). The e2e tier must NOT be patched:
Playwright's sync API hangs under eventlet's patched sockets and threads. So a run of only tests/e2e
(or DM_TEST_TIER=e2e) is left unpatched, and `make test` runs the e2e tier as its own pytest process.
"""

import os
import sys

import eventlet


def _e2e_only() -> bool:
    """True for the unpatched tiers: e2e and the failure drills (tests/drills: subprocesses, threads)."""
    if os.environ.get("DM_TEST_TIER"):
        return os.environ["DM_TEST_TIER"] in ("e2e", "drills")
    paths = [a.replace(os.sep, "/") for a in sys.argv[1:] if not a.startswith("-") and a.startswith("tests")]
    return bool(paths) and all(a.startswith(("tests/e2e", "tests/drills")) for a in paths)


E2E_ONLY = _e2e_only()
if not E2E_ONLY:
    eventlet.monkey_patch()

import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import pytest  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from dmlib.auth import Actor  # noqa: E402
from dmlib.storage import make_client  # noqa: E402
from tests.helpers import MONGO_URI, SYSTEM, TEST_SECRETS, token  # noqa: E402

# ----- servers ------------------------------------------------------------------------------------
NAMEKO_DEFAULT_URIS = ("pyamqp://guest:guest@localhost:5672/", "http://guest:guest@localhost:15672")


def pytest_configure(config):
    """nameko's plugin makes a vhost per test (``rabbit_config``) through the management API, as the user
    of ``--amqp-uri``/``--rabbit-ctl-uri``. Unless given on the command line, that is the broker's admin
    account (:func:`dmtools.broker.admin_credentials`: ``RABBITMQ_ADMIN_USER``/``RABBITMQ_ADMIN_PASSWORD``
    or ``.local/secrets.env``, written by scripts/servers.sh); ``guest`` no longer exists. Without one
    (unit tests only) nameko's defaults stay and only the broker tiers fail."""
    from urllib.parse import quote

    from dmtools.broker import admin_credentials

    opt = config.option
    if (getattr(opt, "RABBIT_AMQP_URI", None), getattr(opt, "RABBIT_API_URI", None)) != NAMEKO_DEFAULT_URIS:
        return
    try:
        user, password = (quote(x, safe="") for x in admin_credentials())
    except RuntimeError:
        return
    opt.RABBIT_AMQP_URI = f"pyamqp://{user}:{password}@127.0.0.1:5672/"
    opt.RABBIT_API_URI = f"http://{user}:{password}@127.0.0.1:15672"


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
        **TEST_SECRETS,
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
def voting(container_factory, config, rpc_as):
    """The voting service running for this test; returns :func:`rpc_as` to call it as someone."""
    from services.voting.service import VotingService

    container_factory(VotingService, config).start()
    return rpc_as


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
@contextmanager
def demo_stack(tmp_path_factory, label: str, env: dict | None = None):
    """Every service running as in ``make run``, on its own vhost, databases (``<label><hex>_``) and
    port, with the whole demo loaded (``env``: more settings for the services); the databases are dropped
    afterwards. Yields a :class:`dmtools.stack.Stack` (``.url``, ``.env``, ``.dm(...)``)."""
    from dmtools.stack import running_stack

    prefix = f"{label}{uuid.uuid4().hex[:6]}_"
    log = str(tmp_path_factory.mktemp(label) / "services.log")
    try:
        with running_stack(prefix, log, {"MONGO_URI": MONGO_URI, **TEST_SECRETS, **(env or {})}) as s:
            loaded = s.dm("demo")
            assert loaded.returncode == 0, loaded.stderr[-4000:] + s.log_tail()
            yield s
    finally:
        drop_databases(prefix)


@pytest.fixture(scope="session")
def sms_sink(tmp_path_factory):
    """The SMS stand-in (``services.notify.devsinks``) the shared stack sends to: the path of the JSON
    lines file it writes, one ``{"to", "text"}`` per message (the progress query's codes, opted-in SMS)."""
    import subprocess

    from dmtools.stack import free_port

    path = str(tmp_path_factory.mktemp("sms") / "sms.jsonl")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.notify.devsinks", "sms", str(port), path],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    yield {"path": path, "url": f"http://127.0.0.1:{port}/sms"}
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, sms_sink):
    """The demo stack the end-to-end tests share (:func:`demo_stack`), sending SMS to :func:`sms_sink`."""
    with demo_stack(tmp_path_factory, "e2e", {"SMS_URL": sms_sink["url"]}) as s:
        yield s


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

    if not E2E_ONLY:
        pytest.fail(
            "browser tests run unpatched by eventlet: run them alone (pytest tests/e2e, make test-e2e)"
        )

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
