"""Cluster drill (issue 17, item 5): the scale-out topology of docs/scaling.md loses a RabbitMQ node and a
voting instance under load, and nothing acknowledged is lost.

On its own loopback servers (tests/drills/servers.py; the shared ones are never touched):

- a 3-node RabbitMQ cluster, every durable queue a quorum queue (``AMQP_QUEUE_TYPE=quorum``,
  dmlib/queues.py), reached through HAProxy (TCP, health-checked);
- members, disclosure, notify, **two voting instances** (competing consumers of ``rpc-voting``) and **two
  gateway instances** behind the same HAProxy (HTTP), and a private FerretDB.

Ballots from fresh voters (four client threads) and a disclosure publication every half second (its
``disclosure_published`` event is consumed by notify) go through HAProxy's HTTP front end for
``DRILL_CLUSTER_LOAD_S`` seconds (default 20). A quarter of the way in the RabbitMQ node that leads the
``rpc-voting`` quorum queue is killed (``SIGKILL``, stays down); half-way in one voting instance is
killed (``kill -9``, stays down). Then it counts, prints and asserts:

- every ballot answered 2xx is stored exactly once, nothing stored twice or unsent, every answer is 201,
  409 or 503 and none hung (the checks of tests/drills/test_failure_drills.py, shared);
- the live tally equals the recount at the close;
- every acknowledged (201) disclosure's event is consumed by notify;
- throughput recovers: ballots are accepted in the last quarter of the load (with one node and one voting
  instance gone); the 2xx rate before, between and after the faults is printed, never asserted (no timed
  assertions);
- the RPC and event queues were quorum queues, replicated on three nodes.

Run: ``DM_TEST_TIER=drills .venv/bin/pytest tests/drills/test_cluster_drill.py -q`` (part of ``make test``'s
drill tier). Needs ``haproxy`` (``scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import dataclasses
import os
import time
from contextlib import ExitStack

import pytest

from dmtools.stack import running_stack
from tests.drills.servers import HAPROXY, PrivateCluster, PrivateFerret, PrivateHaproxy
from tests.drills.test_failure_drills import (
    HOMES,
    Drill,
    Load,
    assert_ballots,
    ballot_counts,
    check_tally,
    event_counts,
    national_ids,
    recovered,
    report,
)
from tests.helpers import TEST_SECRETS

LOAD_S = float(os.environ.get("DRILL_CLUSTER_LOAD_S", "20"))
SERVICES = ["members", "voting", "disclosure", "notify", "gateway"]
INSTANCES = {"voting": 2, "gateway": 2}

pytestmark = pytest.mark.skipif(not os.path.exists(HAPROXY), reason="haproxy missing: run scripts/setup.sh")


@dataclasses.dataclass
class ClusterDrill:
    drill: Drill  # its stack's ``url`` is HAProxy's HTTP front end
    cluster: PrivateCluster
    haproxy: PrivateHaproxy
    stack: object


@pytest.fixture(scope="module")
def cluster_drill(tmp_path_factory):
    """The cluster, HAProxy for AMQP, the services on it (two voting, two gateway processes), HAProxy for
    HTTP over the gateways, FerretDB; a federation of four Worker Homes and three members of d01."""
    base = str(tmp_path_factory.mktemp("cluster"))
    with ExitStack() as later:  # torn down in reverse order, whatever fails on the way
        cluster, ferret = PrivateCluster(base), PrivateFerret(base)
        later.callback(cluster.close)
        later.callback(ferret.close)
        ferret.start()
        cluster.start()
        cluster.provision()
        amqp = PrivateHaproxy(base, "amqp", amqp_backends=[n.port for n in cluster.nodes])
        later.callback(amqp.close)
        amqp.start()
        env = {
            "MONGO_URI": ferret.uri,
            **TEST_SECRETS,
            "RPC_TIMEOUT": "5",
            "LOG_LEVEL": "WARNING",
            "AMQP_QUEUE_TYPE": "quorum",
        }
        stack = later.enter_context(
            running_stack(
                "cdrill_",
                os.path.join(base, "services.log"),
                env,
                services=SERVICES,
                amqp_port=amqp.port,
                broker=cluster.nodes[0].broker,
                instances=INSTANCES,
            )
        )
        web = PrivateHaproxy(base, "web", http_backends=stack.urls)
        later.callback(web.close)
        web.start()
        drill = Drill(cluster.nodes[0], ferret, dataclasses.replace(stack, url=web.url))
        with drill.rpc() as rpc:
            rpc.members.create_union({"id": "dfed", "name": "演练总工会", "kind": "federation"})
            for h in HOMES:
                rpc.members.create_union(
                    {"id": h, "name": f"演练{h}工会", "kind": "grassroots", "parent_id": "dfed"}
                )
            for i, nid in enumerate(national_ids(3)):
                rpc.members.register_member(
                    {"member_no": f"DM{i:06d}", "name": f"演练会员{i}", "union_id": "d01", "national_id": nid}
                )
        yield ClusterDrill(drill, cluster, web, stack)


class TimedLoad(Load):
    """:class:`Load` that also notes when each ballot was answered (for the throughput windows)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answered: list[tuple[float, int]] = []  # monotonic time, status
        self.t0 = time.monotonic()

    def cast(self, session):
        outcome = super().cast(session)
        with self.lock:
            self.answered.append((time.monotonic() - self.t0, outcome[1]))
        return outcome


def leader_of(queue: dict) -> str:
    """The node that leads a quorum queue (``leader``; ``node`` in older management APIs)."""
    leader = queue.get("leader") or queue.get("node")
    assert leader, queue
    return leader


def rates(load: TimedLoad, marks: list[tuple[str, float, float]]) -> dict[str, float]:
    """2xx ballots per second in each named window ``(name, start s, end s)`` of the load."""
    return {
        name: round(sum(1 for at, s in load.answered if a <= at < b and 200 <= s < 300) / max(b - a, 1e-9), 1)
        for name, a, b in marks
    }


def test_kill_a_rabbitmq_node_and_a_voting_instance_during_load(cluster_drill, capsys):
    cd = cluster_drill
    drill, stack = cd.drill, cd.stack
    campaign = drill.open_campaign()
    queues = cd.cluster.queues(stack.vhost)
    # nameko's RPC reply queues (``rpc.reply-<service>-<uuid>``, one per process, expiring) stay classic
    replies = {n: q for n, q in queues.items() if n.startswith("rpc.reply-")}
    durable = {
        n: q
        for n, q in queues.items()
        if q.get("durable") and not q.get("exclusive") and not q.get("auto_delete") and n not in replies
    }
    leader = leader_of(queues["rpc-voting"])
    killed: dict[str, object] = {}
    t_node, t_voting = LOAD_S / 4, LOAD_S / 2

    with TimedLoad(drill, campaign, publish_every=0.5) as load:
        time.sleep(t_node)
        node = cd.cluster.node(leader)
        node.stop(kill=True)  # SIGKILL: no clean shutdown; it stays down
        killed["rabbitmq node"] = leader
        time.sleep(t_voting - t_node)
        killed["voting-2 exit status"] = stack.kill("voting-2")  # the other instance carries on
        time.sleep(LOAD_S - t_voting)
    back_s = recovered(load)
    survivor = next(n for n in cd.cluster.nodes if n.node != leader)
    after = cd.cluster.queues(stack.vhost, via=survivor)
    w = rates(
        load,
        [
            ("before", 0, t_node),
            ("node down", t_node, t_voting),
            ("node and voting-2 down", t_voting, LOAD_S),
            ("last quarter", LOAD_S * 3 / 4, LOAD_S),
        ],
    )
    late_2xx = sum(1 for at, s in load.answered if at >= LOAD_S * 3 / 4 and 200 <= s < 300)
    c = ballot_counts(drill, campaign, load)
    e = event_counts(drill, load)
    report(
        capsys,
        f"kill a RabbitMQ node and a voting instance during a {LOAD_S:g} s load (3-node cluster, "
        "2 voting, 2 gateways behind HAProxy)",
        queues={
            "durable": len(durable),
            "quorum": sum(1 for q in durable.values() if q.get("type") == "quorum"),
            "reply queues (classic)": sum(1 for q in replies.values() if q.get("type") == "classic"),
            "rpc-voting leader before": leader,
            "after": leader_of(after["rpc-voting"]),
            "members": len(queues["rpc-voting"].get("members") or []),
        },
        fault={**killed, "ballots accepted again after (s)": round(back_s, 1)},
        ballots_per_s=w,
        ballots=c,
        events=e,
    )
    assert "rpc-voting" in durable and any(n.startswith("evt-disclosure-") for n in durable), sorted(queues)
    assert all(q.get("type") == "classic" for q in replies.values()), replies
    assert all(q.get("type") == "quorum" for q in durable.values()), {
        n: q.get("type") for n, q in durable.items()
    }
    assert len(queues["rpc-voting"].get("members") or []) == 3
    assert leader_of(after["rpc-voting"]) != leader  # a new leader took over
    assert killed["voting-2 exit status"] == -9
    assert stack.procs["voting"].poll() is None  # the other instance served throughout
    assert late_2xx > 0  # throughput recovered with a node and an instance gone
    assert_ballots(c)
    assert e["acknowledged"] > 0 and e["acknowledged_lost"] == 0, e
    assert not e["other"], e
    check_tally(c)
