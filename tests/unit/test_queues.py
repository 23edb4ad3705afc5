"""dmlib.queues: which queues become quorum queues when a deployment runs on a RabbitMQ cluster."""

from __future__ import annotations

import pytest
from kombu import Exchange, Queue

from dmlib.queues import queue_type, reply_queue, shared_queue
from services.notify.delivery import WORK_QUEUE, retry_queue

X = Exchange("x", type="topic", durable=True)
QUORUM = {"AMQP_QUEUE_TYPE": "quorum"}


def test_classic_by_default_keeps_every_queue_as_it_is():
    q = Queue("rpc-voting", exchange=X, routing_key="voting.*", durable=True)
    assert queue_type({}) == "classic"
    assert shared_queue(q, {}) is q
    assert shared_queue(q, {"AMQP_QUEUE_TYPE": "classic"}) is q


def test_quorum_marks_a_durable_shared_queue_and_leaves_the_original_alone():
    q = Queue("rpc-voting", exchange=X, routing_key="voting.*", durable=True)
    declared = shared_queue(q, QUORUM)
    assert declared.queue_arguments == {"x-queue-type": "quorum"}
    assert (declared.name, declared.routing_key, declared.exchange.name) == ("rpc-voting", "voting.*", "x")
    assert not q.queue_arguments  # nameko's module-level queue objects are shared by containers


@pytest.mark.parametrize(
    "queue",
    [
        Queue("rpc.reply-voting-1", exchange=X, routing_key="1", durable=False),  # nameko's reply queue
        Queue("evt-members-token_revoked--gateway.h-1", exchange=X, durable=True, exclusive=True),
        Queue("evt-x-y--z.h", exchange=X, durable=True, auto_delete=True),
    ],
)
def test_process_bound_queues_stay_classic(queue):
    assert shared_queue(queue, QUORUM) is queue  # quorum queues cannot be exclusive or auto-deleted


def test_notify_queues_keep_their_arguments_and_dead_letter_at_least_once():
    assert shared_queue(WORK_QUEUE, QUORUM).queue_arguments == {"x-queue-type": "quorum"}
    args = shared_queue(retry_queue(10), QUORUM).queue_arguments
    assert args["x-message-ttl"] == 10_000 and args["x-dead-letter-routing-key"] == "deliver"
    assert args["x-queue-type"] == "quorum"
    assert args["x-dead-letter-strategy"] == "at-least-once" and args["x-overflow"] == "reject-publish"


def test_an_unknown_queue_type_stops_the_service():
    with pytest.raises(RuntimeError, match="AMQP_QUEUE_TYPE"):
        queue_type({"AMQP_QUEUE_TYPE": "stream"})


def test_reply_queues_are_transient_so_that_they_can_be_declared_again_after_their_node_died():
    q = Queue("rpc.reply-voting-1", exchange=X, routing_key="1", queue_arguments={"x-expires": 300000})
    assert q.durable  # as nameko 2.14 declares it (kombu's default)
    declared = reply_queue(q)
    assert not declared.durable and declared.queue_arguments == {"x-expires": 300000}
    assert declared.name == q.name and q.durable


@pytest.mark.parametrize(
    "record",
    [
        {"name": "rpc-voting", "durable": True, "exclusive": False, "auto_delete": False},
        {"name": "notify.deliver", "durable": True, "exclusive": False, "auto_delete": False},
        {
            "name": "evt-members-token_revoked--voting.h-1",
            "durable": True,
            "exclusive": True,
            "auto_delete": True,
        },
        {"name": "evt-x-y--z.h", "durable": True, "exclusive": False, "auto_delete": True},
        {"name": "rpc.reply-voting-1", "durable": True, "exclusive": False, "auto_delete": False},
    ],
)
def test_the_migration_picks_exactly_the_queues_that_services_declare_as_quorum(record):
    """dmtools.broker.service_queue (which queues `migrate-queues` re-makes) agrees with shared_queue. A
    reply queue that an older release declared durable is left alone: today's is transient."""
    from dmtools.broker import service_queue

    queue = Queue(
        record["name"],
        exchange=X,
        durable=record["durable"],
        exclusive=record["exclusive"],
        auto_delete=record["auto_delete"],
    )
    declared = queue if record["name"].startswith("rpc.reply-") else shared_queue(queue, QUORUM)
    assert service_queue(record) == (declared is not queue)
