"""The type of every durable queue the services declare: classic (one node) or quorum (a cluster).

Config ``AMQP_QUEUE_TYPE`` (nameko config, default ``classic``): ``quorum`` makes every *durable, shared*
queue a RabbitMQ quorum queue (``x-queue-type: quorum``), replicated to a majority of a cluster's nodes so
that losing one node of three loses no acknowledged message (docs/scaling.md). That is every queue a
service owns and consumes: its RPC queue (``rpc-<service>``, :class:`dmlib.rpc.QuorumRpcConsumer`), its
event queues (``evt-<source>-<event>--<service>.<handler>``, :class:`dmlib.rpc.RetryingEventHandler`) and
notify's delivery work and delay queues (services/notify/delivery.py). Queues that live only as long as
one process stay classic, as quorum queues cannot be exclusive or auto-deleted: RPC reply queues and
``BROADCAST`` event queues.

RPC reply queues are declared *transient* (:func:`reply_queue`, whatever the queue type): nameko 2.14
declares them durable, and a durable classic queue whose node has died cannot be declared again anywhere
(``NOT_FOUND - home node … of durable queue … is down or inaccessible``). The process's consumer then
reconnects in a loop and, since one connection carries all of a process's consumers, its RPC queue goes
unserved too (found by the cluster drill, tests/drills/test_cluster_drill.py). A transient queue is
deleted with its node, so the process declares it again on a surviving node. Nothing is lost by that: a
reply queue holds replies only for the seconds its caller waits (``RPC_TIMEOUT``).

RabbitMQ refuses to declare an existing queue with other arguments (``PRECONDITION_FAILED - inequivalent
arg 'x-queue-type'``): a broker whose queues were made classic keeps them until they are deleted, so
switching an existing deployment is a migration (docs/scaling.md, "Migrating a broker to quorum queues").
The default stays ``classic`` so that a single local broker (``make run``) keeps working unchanged.
"""

from __future__ import annotations

import copy

from kombu import Queue

QUEUE_TYPE_CONFIG = "AMQP_QUEUE_TYPE"
QUEUE_TYPES = ("classic", "quorum")


def queue_type(config: dict) -> str:
    """``AMQP_QUEUE_TYPE`` of ``config`` (``classic`` when unset); ``RuntimeError`` naming the key for any
    other value (the service does not start)."""
    value = str(config.get(QUEUE_TYPE_CONFIG) or "classic").strip().lower()
    if value not in QUEUE_TYPES:
        raise RuntimeError(f"{QUEUE_TYPE_CONFIG} must be one of {', '.join(QUEUE_TYPES)}, not {value!r}")
    return value


def reply_queue(queue: Queue) -> Queue:
    """A copy of nameko's RPC reply queue ``queue``, transient (``durable=False``); see the module
    docstring. Its name and ``x-expires`` are kept."""
    declared = copy.copy(queue)
    declared.durable = False
    return declared


def shared_queue(queue: Queue, config: dict) -> Queue:
    """``queue`` as this deployment declares it: a copy with ``x-queue-type: quorum`` when
    ``AMQP_QUEUE_TYPE`` is ``quorum`` and the queue is durable, neither exclusive nor auto-deleted; the
    same queue otherwise. A dead-lettering quorum queue (notify's delay queues) also gets
    ``x-dead-letter-strategy: at-least-once`` (with ``x-overflow: reject-publish``, which it requires):
    RabbitMQ's default for quorum queues drops a message whose dead-lettering meets a node failure."""
    if queue_type(config) != "quorum" or not queue.durable or queue.exclusive or queue.auto_delete:
        return queue
    arguments = {**(queue.queue_arguments or {}), "x-queue-type": "quorum"}
    if "x-dead-letter-exchange" in arguments:
        arguments.update({"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
    declared = copy.copy(queue)
    declared.queue_arguments = arguments
    return declared
