"""The broker as an attacker on the machine meets it (issue 12): ``guest`` is gone, and each service's
user can publish only to its own event exchange and ``nameko-rpc`` (requests to the services it calls,
replies), and read only its own queues; with every service on its own user the system still works.

A private RabbitMQ node (tests/drills/servers.py) is provisioned with the very code ``scripts/servers.sh``
runs (:func:`dmtools.broker.provision_node`), so the shared broker is not touched. Refusals are asserted
as AMQP ``ACCESS_REFUSED`` (403), each publish followed by a synchronous call so none passes unseen.
"""

import uuid

import amqp
import pytest
from amqp.exceptions import AccessRefused
from nameko.standalone.rpc import ClusterRpcProxy

from dmtools.broker import (
    ACCOUNTS,
    RPC_EXCHANGE,
    SERVICES,
    admin_credentials,
    amqp_uri,
    new_password,
    provision_node,
    secret_key,
)
from services.audit.service import AuditService
from services.congress.service import CongressService
from services.disclosure.service import DisclosureService
from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.notify.service import NotifyService
from services.proposals.service import ProposalsService
from services.surveys.service import SurveysService
from services.voting.service import VotingService
from tests.drills.servers import RABBITMQCTL, PrivateRabbit
from tests.helpers import MONGO_URI, SYSTEM, TEST_SECRETS, token, wait_until

pytestmark = pytest.mark.integration

PUBLISHERS = [s for s in SERVICES if ACCOUNTS[s].publishes]
SERVICE_CLASSES = [
    MembersService,
    GatewayService,
    DisclosureService,
    VotingService,
    CongressService,
    ProposalsService,
    NotifyService,
    AuditService,
    SurveysService,
]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A private RabbitMQ node provisioned as scripts/servers.sh provisions the local one."""
    rabbit = PrivateRabbit(str(tmp_path_factory.mktemp("broker")))
    try:
        rabbit.start()
        rabbit.provision()
        yield rabbit
    finally:
        rabbit.close()


def connect(node, account: str, password: str | None = None) -> amqp.Connection:
    """An AMQP connection to ``node``'s default vhost as ``account``."""
    conn = amqp.Connection(
        f"127.0.0.1:{node.port}",
        userid=account,
        password=password if password is not None else node.secrets[secret_key(account)],
        virtual_host="/",
        connect_timeout=10,
    )
    conn.connect()
    return conn


def queues_of(service: str) -> list[str]:
    """The queues nameko declares for ``service`` (its RPC queue and its event handlers' queues)."""
    a = ACCOUNTS[service]
    return [f"rpc-{service}"] * ACCOUNTS[service].serves + [
        f"evt-{s}-{e}--{service}.{m}" for s, e, m in a.consumes
    ]


@pytest.fixture(scope="module")
def declared(node):
    """Every exchange and queue of every service, declared by the admin as the services would."""
    conn = connect(node, "dm-admin", node.secrets["RABBITMQ_ADMIN_PASSWORD"])
    ch = conn.channel()
    ch.exchange_declare(RPC_EXCHANGE, "topic", durable=True, auto_delete=False)
    for s in SERVICES:
        ch.exchange_declare(f"{s}.events", "topic", durable=True, auto_delete=False)
    for s in SERVICES:
        for q in queues_of(s):
            ch.queue_declare(q, durable=True, auto_delete=False)
        if ACCOUNTS[s].serves:
            ch.queue_bind(f"rpc-{s}", RPC_EXCHANGE, f"{s}.*")
        for source, event, method in ACCOUNTS[s].consumes:
            ch.queue_bind(f"evt-{source}-{event}--{s}.{method}", f"{source}.events", event)
    conn.close()


def purge(node) -> None:
    """Drop the probes the refusal tests left in the services' queues (they are not requests)."""
    conn = connect(node, "dm-admin", node.secrets["RABBITMQ_ADMIN_PASSWORD"])
    ch = conn.channel()
    for s in SERVICES:
        for q in queues_of(s):
            ch.queue_purge(q)
    conn.close()


def publish(conn: amqp.Connection, exchange: str, routing_key: str) -> None:
    """Publish one message, then make a synchronous call on the same channel: a publish the broker
    refused has closed the channel by then, and the call raises the refusal (``AccessRefused``)."""
    ch = conn.channel()
    ch.basic_publish(
        amqp.Message(b'{"forged": true}', content_type="application/json"), exchange, routing_key
    )
    ch.basic_qos(0, 1, False)
    ch.close()


def consume(conn: amqp.Connection, queue: str) -> None:
    ch = conn.channel()
    ch.basic_consume(queue, callback=lambda m: None)
    ch.close()


def test_guest_is_refused(node):
    with pytest.raises(AccessRefused):
        connect(node, "guest", "guest")


def test_the_local_broker_has_no_guest():
    """What scripts/servers.sh left on the shared broker (127.0.0.1:5672): guest refused."""
    user, _ = admin_credentials()
    if user == "guest":
        pytest.skip("RABBITMQ_ADMIN_USER=guest: this broker is not provisioned (a development override)")
    conn = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest", connect_timeout=10)
    with pytest.raises(AccessRefused):
        conn.connect()


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_publishes_only_to_its_own_event_exchange(node, declared, service):
    conn = connect(node, service)
    try:
        if service in PUBLISHERS:
            publish(conn, f"{service}.events", "probe_nobody_listens")  # its own: accepted
        for other in PUBLISHERS:
            if other != service:
                with pytest.raises(AccessRefused):
                    publish(conn, f"{other}.events", "poll_closed")
    finally:
        conn.close()


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_reads_only_its_own_queues(node, declared, service):
    conn = connect(node, service)
    try:
        for queue in queues_of(service):
            consume(conn, queue)  # its own: accepted
        for other in SERVICES:
            if other != service:
                for queue in queues_of(other):
                    with pytest.raises(AccessRefused):
                        consume(conn, queue)
    finally:
        conn.close()


@pytest.mark.parametrize("service", SERVICES)
def test_rpc_requests_only_to_the_services_it_calls_and_no_eavesdropping(node, declared, service):
    """Topic permissions on ``nameko-rpc``: requests only to the services it calls (and its own
    ``health``), replies (a uuid) allowed; its own reply queue cannot be bound to read others'
    requests."""
    calls = ACCOUNTS[service].calls
    conn = connect(node, service)
    try:
        publish(conn, RPC_EXCHANGE, str(uuid.uuid4()))  # a reply
        publish(conn, RPC_EXCHANGE, f"{(calls or (service,))[0]}.health")
        for other in SERVICES:
            if other not in calls and other != service:
                with pytest.raises(AccessRefused):
                    publish(conn, RPC_EXCHANGE, f"{other}.close_vote")
        caller = service if calls else "standalone_rpc_proxy"  # members calls no one but loads at start
        reply_queue = f"rpc.reply-{caller}-{uuid.uuid4()}"
        ch = conn.channel()
        ch.queue_declare(reply_queue, auto_delete=True)
        ch.queue_bind(reply_queue, RPC_EXCHANGE, str(uuid.uuid4()))  # a reply binding: accepted
        ch.close()
        for key in ("#", "members.*", "voting.cast_ballot"):
            if key == f"{service}.*":
                continue
            ch = conn.channel()
            with pytest.raises(AccessRefused):
                ch.queue_bind(reply_queue, RPC_EXCHANGE, key)
        with pytest.raises(AccessRefused):  # nor another service's queue name
            conn.channel().queue_declare(
                f"rpc-{'voting' if service != 'voting' else 'members'}", durable=True
            )
    finally:
        conn.close()


def test_the_tools_account_calls_but_neither_publishes_events_nor_reads_service_queues(node, declared):
    conn = connect(node, "dm")
    try:
        publish(conn, RPC_EXCHANGE, "voting.health")
        for s in PUBLISHERS:
            with pytest.raises(AccessRefused):
                publish(conn, f"{s}.events", "poll_closed")
        for s in SERVICES:
            with pytest.raises(AccessRefused):
                consume(conn, f"rpc-{s}")
    finally:
        conn.close()


def test_every_service_works_on_its_own_user(
    node, declared, container_factory, web_config, db_prefix, db, web_session
):
    """All eight services in-process, each connected as its own user: every ``health`` RPC answers
    (dm → service), the gateway answers over HTTP with its RPCs to members (a refused login), voting
    calls members, and one event crosses end to end (voting's ``poll_opened`` → notify fans the
    campaign out, calling voting and members)."""

    def config(account: str) -> dict:
        password = node.secrets[secret_key(account)]
        return {
            **TEST_SECRETS,
            **(web_config if account == "gateway" else {}),
            "AMQP_URI": amqp_uri("127.0.0.1", node.port, account, password),
            "MONGO_URI": MONGO_URI,
            "MONGO_DB_PREFIX": db_prefix,
            "RPC_TIMEOUT": 10,
            "max_workers": 10,
        }

    purge(node)
    for cls in SERVICE_CLASSES:
        container_factory(cls, config(cls.name)).start()
    with ClusterRpcProxy(config("dm"), context_data={"auth_token": token(SYSTEM)}, timeout=30) as rpc:
        for s in SERVICES:
            if ACCOUNTS[s].serves:
                assert getattr(rpc, s).health() == {"service": s, "status": "ok"}
        rpc.members.create_union({"id": "afed", "name": "对抗测试总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "a01", "name": "对抗测试工会", "kind": "grassroots", "parent_id": "afed"}
        )
        campaign = f"adv{uuid.uuid4().hex[:8]}"
        rpc.voting.create_campaign({"id": campaign, "title": "对抗测试评选", "union_id": "afed"})
        rpc.voting.open_campaign(campaign)
        login = web_session.post("/api/v1/auth/login", json={"login": "NOBODY01", "password": "x" * 8})
        assert login.status_code == 401, login.text
    notify = db("notify")
    done = wait_until(lambda: notify.fanouts.find_one({"state": "done", "kind": "campaign_opened"}), 60)
    assert done["runs"] == 1


def test_provisioning_again_resets_every_password(node):
    """servers.sh runs on every start; a new checkout's passwords replace the old ones (users persist)."""
    old = dict(node.secrets)
    new = {**old, secret_key("members"): new_password(), "RABBITMQ_ADMIN_PASSWORD": new_password()}
    provision_node([RABBITMQCTL, "-n", node.node], node.api, new)
    node.secrets = new
    node.auth = ("dm-admin", new["RABBITMQ_ADMIN_PASSWORD"])
    with pytest.raises(AccessRefused):
        connect(node, "members", old[secret_key("members")])
    connect(node, "members").close()
    assert node.broker.users() and "guest" not in node.broker.users()
