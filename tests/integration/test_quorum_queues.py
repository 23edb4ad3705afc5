"""Quorum queues on the real RabbitMQ (dmlib/queues.py, docs/scaling.md), each test on a vhost of its own:

- a service started with ``AMQP_QUEUE_TYPE=quorum`` declares its RPC and event queues as quorum queues and
  its reply and broadcast queues as classic, transient or exclusive ones, and answers as before;
- ``python -m dmtools.broker migrate-queues`` turns the classic queues of a broker that ran without it
  into quorum queues with the same bindings, and refuses while a queue holds a message."""

from __future__ import annotations

import uuid
from urllib.parse import quote, unquote, urlparse

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from dmtools.broker import API, Broker, admin_credentials, migrate_to_quorum
from services.congress.service import CongressService
from tests.helpers import SYSTEM, token

pytestmark = pytest.mark.integration


def vhost_of(amqp_uri: str) -> str:
    return unquote(urlparse(amqp_uri).path[1:]) or "/"


def test_a_service_declares_its_shared_queues_as_quorum_queues(container_factory, config):
    quorum = {**config, "AMQP_QUEUE_TYPE": "quorum"}
    container_factory(CongressService, quorum).start()
    with ClusterRpcProxy(quorum, context_data={"auth_token": token(SYSTEM)}, timeout=15) as rpc:
        assert rpc.congress.health()["service"] == "congress"
    queues = {q["name"]: q for q in Broker(API, *admin_credentials()).queues(vhost_of(config["AMQP_URI"]))}
    assert queues["rpc-congress"]["type"] == "quorum"
    assert queues["evt-voting-poll_closed--congress.handle_poll_closed"]["type"] == "quorum"
    replies = [q for n, q in queues.items() if n.startswith("rpc.reply-congress-")]
    assert replies and all(q["type"] == "classic" and not q["durable"] for q in replies)
    broadcast = [q for n, q in queues.items() if n.startswith("evt-members-token_revoked--congress.")]
    assert broadcast and all(q["type"] == "classic" and q["exclusive"] for q in broadcast)


@pytest.fixture
def broker_vhost():
    broker = Broker(API, *admin_credentials())
    vhost = f"quorum_{uuid.uuid4().hex[:8]}"
    broker.ensure_vhost(vhost)
    broker.grant_all(vhost, broker.auth[0])
    yield broker, vhost
    broker.delete_vhost(vhost)


def declare(broker: Broker, vhost: str, name: str, routing_key: str, **kwargs) -> None:
    """A queue as a classic broker holds it, bound to the topic exchange ``nameko-rpc``."""
    v, n = quote(vhost, safe=""), quote(name, safe="")
    broker._call("PUT", f"/exchanges/{v}/nameko-rpc", json={"type": "topic", "durable": True})
    broker._call("PUT", f"/queues/{v}/{n}", json={"durable": True, "arguments": {}, **kwargs})
    broker._call("POST", f"/bindings/{v}/e/nameko-rpc/q/{n}", json={"routing_key": routing_key})


def test_migration_remakes_classic_queues_as_quorum_with_their_bindings(broker_vhost):
    broker, vhost = broker_vhost
    declare(broker, vhost, "rpc-voting", "voting.*")
    declare(broker, vhost, "rpc.reply-gateway-1", "1", arguments={"x-expires": 300000})
    migrated = migrate_to_quorum(broker, vhost)
    assert migrated == ["rpc-voting"]
    queues = {q["name"]: q for q in broker.queues(vhost)}
    assert queues["rpc-voting"]["type"] == "quorum" and queues["rpc-voting"]["durable"]
    assert queues["rpc.reply-gateway-1"]["type"] == "classic"  # reply queues are left alone
    v = quote(vhost, safe="")
    bindings = broker._call("GET", f"/queues/{v}/rpc-voting/bindings").json()
    assert {(b["source"], b["routing_key"]) for b in bindings if b["source"]} == {("nameko-rpc", "voting.*")}
    assert migrate_to_quorum(broker, vhost) == []  # nothing left to do


def test_migration_refuses_while_a_queue_holds_a_message_and_changes_nothing(broker_vhost):
    broker, vhost = broker_vhost
    declare(broker, vhost, "rpc-voting", "voting.*")
    v = quote(vhost, safe="")
    r = broker._call(
        "POST",
        f"/exchanges/{v}/nameko-rpc/publish",
        json={"properties": {}, "routing_key": "voting.cast", "payload": "{}", "payload_encoding": "string"},
    )
    assert r.json()["routed"] is True

    def messages() -> int:
        q = requests.get(f"{broker.api}/queues/{v}/rpc-voting", auth=broker.auth, timeout=10).json()
        return q.get("messages", 0) or q.get("messages_ready", 0)

    with pytest.raises(RuntimeError, match=r"drain first: rpc-voting \((1 messages|not empty)"):
        migrate_to_quorum(broker, vhost)
    assert {q["name"]: q["type"] for q in broker.queues(vhost)} == {"rpc-voting": "classic"}
