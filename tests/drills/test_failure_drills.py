"""Failure drills (issue 8): break a piece of the running system under load and count what survived.

Each drill drives ballots (and, for the broker and database drills, disclosure publications, whose
``disclosure_published`` events the notify service consumes) over HTTP for a bounded time, injects one
fault part-way, waits until the system answers again by itself, then counts and asserts:

1. ``kill -9`` the voting service and start it again: every ballot that got a 2xx is stored exactly
   once, none twice, the live tally equals the recount;
2. restart RabbitMQ: the services reconnect by themselves, requests during the outage fail with 503
   (no request hangs past the client's bound), every event whose publication was acknowledged (the
   201 of the disclosure) is consumed, and the ballot invariants of drill 1 hold;
3. restart FerretDB: likewise.

Everything runs against a private RabbitMQ node and FerretDB on free loopback ports (tests/drills/
servers.py); the shared servers are never touched. Run: ``make test-drills`` (or
``DM_TEST_TIER=drills .venv/bin/pytest tests/drills -s``). ``DRILL_LOAD_S`` (default 30) sets the load
time of the voting drill, ``DRILL_OUTAGE_LOAD_S`` (default 20) that of the other two.

The counts are printed (``capsys.disabled()``), so they show without ``-s`` too. No assertion is on
wall-clock time: "fails fast" is asserted as "every request was answered (2xx/409/503) before the
client's own bound", and the slowest 503 is printed as a figure.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.auth import Actor, Grant
from dmlib.schemas import resident_id_check_char
from dmlib.storage import make_client
from dmtools.stack import running_stack
from services.voting import tally as t
from tests.drills.servers import PrivateFerret, PrivateRabbit
from tests.helpers import SYSTEM, TEST_SECRETS, VOTING_KEY, token, wait_until

LOAD_S = float(os.environ.get("DRILL_LOAD_S", "30"))
OUTAGE_LOAD_S = float(os.environ.get("DRILL_OUTAGE_LOAD_S", "20"))
CLIENT_TIMEOUT_S = 30  # a request not answered within this is counted as "hung"
WORKERS = 4
HOMES = ["d01", "d02", "d03", "d04"]
STARS = {"c1": 5, "c2": 4, "c3": 4, "c4": 5, "c5": 3}
SERVICES = ["members", "voting", "disclosure", "notify", "gateway"]
ADMIN = Actor(member_id="DA000001", name="工会管理员", union_id="d01", grants=(Grant("union_admin", "d01"),))


def national_ids(n: int) -> list[str]:
    first17 = [f"11011519900101{i:03d}" for i in range(1, n + 1)]
    return [f + resident_id_check_char(f) for f in first17]


@dataclass
class Drill:
    rabbit: PrivateRabbit
    ferret: PrivateFerret
    stack: object
    voters: itertools.count = field(default_factory=lambda: itertools.count(1))

    def rpc(self, timeout: float = 30):
        return ClusterRpcProxy(
            {"AMQP_URI": self.stack.env["AMQP_URI"]},
            context_data={"auth_token": token(SYSTEM)},
            timeout=timeout,
        )

    def db(self, service: str):
        client = make_client(self.ferret.uri)
        return client, client[f"{self.stack.prefix}{service}"]

    def open_campaign(self) -> str:
        campaign = f"dr{uuid.uuid4().hex[:8]}"
        with self.rpc() as rpc:
            rpc.voting.create_campaign({"id": campaign, "title": "故障演练评选", "union_id": "dfed"})
            rpc.voting.open_campaign(campaign)
        return campaign


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    """A private RabbitMQ + FerretDB, the services on them, a federation of four Worker Homes and a
    union admin of d01 with three members (the audience of its disclosures)."""
    base = str(tmp_path_factory.mktemp("drills"))
    rabbit, ferret = PrivateRabbit(base), PrivateFerret(base)
    try:
        ferret.start()
        rabbit.start()
        rabbit.provision()  # as scripts/servers.sh: no guest; each service its own user (dmtools.stack)
        env = {"MONGO_URI": ferret.uri, **TEST_SECRETS, "RPC_TIMEOUT": "5", "LOG_LEVEL": "WARNING"}
        with running_stack(
            "drill_",
            os.path.join(base, "services.log"),
            env,
            services=SERVICES,
            amqp_port=rabbit.port,
            broker=rabbit.broker,
        ) as stack:
            d = Drill(rabbit, ferret, stack)
            with d.rpc() as rpc:
                rpc.members.create_union({"id": "dfed", "name": "演练总工会", "kind": "federation"})
                for h in HOMES:
                    rpc.members.create_union(
                        {"id": h, "name": f"演练{h}工会", "kind": "grassroots", "parent_id": "dfed"}
                    )
                for i, nid in enumerate(national_ids(3)):
                    rpc.members.register_member(
                        {
                            "member_no": f"DM{i:06d}",
                            "name": f"演练会员{i}",
                            "union_id": "d01",
                            "national_id": nid,
                        }
                    )
            yield d
    finally:
        rabbit.close()
        ferret.close()


# ----- load ---------------------------------------------------------------------------------------
class Load:
    """Ballots from fresh voters (one each) by ``WORKERS`` threads and, optionally, one disclosure
    publication every ``publish_every`` seconds by the admin of d01, until :meth:`stop`."""

    def __init__(self, drill: Drill, campaign: str, publish_every: float | None = None):
        self.drill, self.campaign, self.publish_every = drill, campaign, publish_every
        self.ballots: list[tuple[str, int, str | None, float]] = []  # voter, status, receipt, seconds
        self.items: list[tuple[int, str | None, float]] = []  # status, item id, seconds
        self.tag = uuid.uuid4().hex[:6]  # marks this load's disclosures
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._voter, daemon=True) for _ in range(WORKERS)]
        if publish_every:
            self.threads.append(threading.Thread(target=self._publisher, daemon=True))

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for th in self.threads:
            th.join(CLIENT_TIMEOUT_S + 5)

    def cast(self, session: requests.Session) -> tuple[str, int, str | None, float]:
        i = next(self.drill.voters)
        voter = f"DV{i:07d}"
        actor = Actor(member_id=voter, name="会员", union_id=HOMES[i % len(HOMES)], grants=())
        t0 = time.monotonic()
        try:
            r = session.post(
                f"{self.drill.stack.url}/api/v1/campaigns/{self.campaign}/ballots",
                json={"stars": STARS},
                headers={"Authorization": f"Bearer {token(actor)}"},
                timeout=CLIENT_TIMEOUT_S,
            )
            status, receipt = r.status_code, (r.json().get("receipt") if r.status_code < 300 else None)
        except requests.Timeout:
            status, receipt = -1, None  # hung: no answer within the client's bound
        except requests.ConnectionError:
            status, receipt = -2, None
        return voter, status, receipt, time.monotonic() - t0

    def _voter(self) -> None:
        session = requests.Session()
        while not self.stopping.is_set():
            outcome = self.cast(session)
            with self.lock:
                self.ballots.append(outcome)

    def _publisher(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token(ADMIN)}"
        n = 0
        while not self.stopping.wait(self.publish_every):
            n += 1
            t0 = time.monotonic()
            try:
                r = session.post(
                    f"{self.drill.stack.url}/api/v1/unions/d01/disclosures",
                    json={
                        "category": "welfare",
                        "period": "2026-Q1",
                        "title": f"演练公开 {self.tag} {n}",
                        "body": "正文",
                    },
                    timeout=CLIENT_TIMEOUT_S,
                )
                status, item = r.status_code, (r.json().get("id") if r.status_code < 300 else None)
            except requests.Timeout:
                status, item = -1, None
            except requests.ConnectionError:
                status, item = -2, None
            with self.lock:
                self.items.append((status, item, time.monotonic() - t0))


def run_load(drill: Drill, campaign: str, seconds: float, fault, at: float, publish_every=None) -> Load:
    """Load for ``seconds``, calling ``fault()`` after ``at`` seconds; returns the finished load."""
    with Load(drill, campaign, publish_every) as load:
        time.sleep(at)
        fault()
        time.sleep(max(0.0, seconds - at))
    return load


def recovered(load: Load, timeout: float = 120) -> float:
    """Wait until a fresh voter's ballot is accepted again; the seconds it took. The probes count as
    sent ballots of ``load``."""
    session = requests.Session()
    t0 = time.monotonic()

    def ok():
        outcome = load.cast(session)
        load.ballots.append(outcome)
        return outcome[1] == 201

    wait_until(ok, timeout=timeout, interval=0.5)
    return time.monotonic() - t0


# ----- counting -----------------------------------------------------------------------------------
def ballot_counts(drill: Drill, campaign: str, load: Load) -> dict:
    """What was sent and answered, what is stored, and what is tallied and recounted."""
    statuses = Counter(s for _, s, _, _ in load.ballots)
    acked = {voter: receipt for voter, s, receipt, _ in load.ballots if 200 <= s < 300}
    sent_voters = {voter for voter, *_ in load.ballots}
    client, db = drill.db("voting")
    try:
        stored = list(db[f"ballots_{campaign}"].find({}, projection={"receipt": 1}))
    finally:
        client.close()
    stored_ids = Counter(d["_id"] for d in stored)
    stored_receipts = Counter(d["receipt"] for d in stored)
    key = VOTING_KEY.encode()
    expected_id = {v: t.ballot_id(key, campaign, v) for v in sent_voters}
    with drill.rpc() as rpc:
        rpc.voting.close_campaign(campaign)  # tallies are final at the close (interrupted casts settled)
        recount = rpc.voting.recount(campaign)
    client, db = drill.db("voting")
    try:
        at_close = (db.polls.find_one({"_id": campaign}) or {}).get("recount") or {}
    finally:
        client.close()
    slow_503 = max((secs for _, s, _, secs in load.ballots if s == 503), default=0.0)
    slow_2xx = max((secs for _, s, _, secs in load.ballots if 200 <= s < 300), default=0.0)
    return {
        "sent": len(load.ballots),
        "2xx": len(acked),
        "409": statuses[409],
        "503": statuses[503],
        "other": sum(n for s, n in statuses.items() if s not in (201, 409, 503)),
        "other_statuses": {s: n for s, n in statuses.items() if s not in (201, 409, 503)},
        "hung": statuses[-1],
        "slowest_2xx_s": round(slow_2xx, 2),
        "slowest_503_s": round(slow_503, 2),
        "stored": len(stored),
        "stored_twice": sum(1 for n in stored_receipts.values() if n > 1),
        "2xx_not_stored": sum(1 for v, r in acked.items() if stored_receipts[r] != 1),
        "2xx_wrong_ballot": sum(1 for v in acked if stored_ids[expected_id[v]] != 1),
        "stored_without_2xx": sum(1 for v in sent_voters - set(acked) if stored_ids[expected_id[v]]),
        "stored_not_sent": len(set(stored_ids) - set(expected_id.values())),
        "repaired_at_close": (at_close.get("repaired") or {}).get("ballots", 0),
        "tallied": recount["live"]["n"],  # the live tally as the service reads it
        "recounted": recount["recounted"]["n"],
        "recount_matches": recount["matches"],
    }


def event_counts(drill: Drill, load: Load, wait_s: float = 90) -> dict:
    """Disclosures acknowledged (201: stored and ``disclosure_published`` confirmed by the broker),
    stored, and consumed by notify (its fan-out for that item finished), waiting for stragglers."""
    statuses = Counter(s for s, _, _ in load.items)
    acked = {item for s, item, _ in load.items if s == 201}
    client, ddb = drill.db("disclosure")
    _, ndb = drill.db("notify")
    try:
        mine = {"union_id": "d01", "title": {"$regex": f"^演练公开 {load.tag} "}}
        stored = {d["_id"] for d in ddb.items.find(mine, projection={"_id": 1})}

        def consumed() -> set[str]:
            done = {f["_id"] for f in ndb.fanouts.find({"state": "done"}, projection={"_id": 1})}
            texts = ndb.texts.find({"kind": "disclosure_published"}, projection={"link": 1})
            return {x["link"].rsplit("/", 1)[1] for x in texts if x["_id"].split(":", 1)[0] in done}

        deadline = time.monotonic() + wait_s
        seen = consumed()
        while not acked <= seen and time.monotonic() < deadline:
            time.sleep(1)
            seen = consumed()
    finally:
        client.close()
    return {
        "published": len(load.items),
        "acknowledged": len(acked),
        "503": statuses[503],
        "other": {s: n for s, n in statuses.items() if s not in (201, 503)},
        "stored": len(stored),
        "consumed": len(acked & seen),
        "acknowledged_lost": len(acked - seen),
        "stored_unacknowledged_consumed": len((stored - acked) & seen),
    }


def report(capsys, title: str, **sections) -> None:
    with capsys.disabled():
        print(f"\n[drill] {title}")
        for name, figures in sections.items():
            print(f"[drill]   {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def assert_ballots(c: dict) -> None:
    assert c["2xx"] > 0 and c["stored"] >= c["2xx"]
    assert c["hung"] == 0, c
    assert c["other"] == 0, c  # 201, 409 (a redelivered request meeting its own ballot) or 503 only
    assert c["2xx_not_stored"] == 0 and c["2xx_wrong_ballot"] == 0, c
    assert c["stored_twice"] == 0 and c["stored_not_sent"] == 0, c
    assert c["recounted"] == c["stored"], c


def check_tally(c: dict) -> None:
    """The live tally equals the recount once the campaign is closed. A failure between the ballot
    insert and the tally ``$inc`` (database gone, process killed) leaves a stored ballot still marked
    pending; the close adds exactly those (``repaired_at_close``, voting's _repair_interrupted)."""
    assert c["tallied"] == c["recounted"] == c["stored"], c
    assert c["recount_matches"] is True, c


# ----- the drills ---------------------------------------------------------------------------------
def test_kill_voting_during_ballot_load(drill, capsys):
    """kill -9 the voting service 1/3 into a ballot load and start it again at once."""
    campaign = drill.open_campaign()
    killed = {}

    def fault():
        killed["status"] = drill.stack.kill("voting")
        drill.stack.start("voting")

    load = run_load(drill, campaign, LOAD_S, fault, at=LOAD_S / 3)
    back_s = recovered(load)
    c = ballot_counts(drill, campaign, load)
    report(
        capsys,
        f"kill -9 voting during a {LOAD_S:g} s ballot load",
        fault={"voting exit status": killed["status"], "ballots accepted again after (s)": round(back_s, 1)},
        ballots=c,
    )
    assert killed["status"] == -9
    assert_ballots(c)
    check_tally(c)


def test_restart_rabbitmq_during_load(drill, capsys):
    """Stop the private RabbitMQ 1/3 into the load (clean shutdown), start it again: durable queues and
    persistent messages survive; the services reconnect without being restarted."""
    campaign = drill.open_campaign()
    pids = {name: p.pid for name, p in drill.stack.procs.items()}
    load = run_load(
        drill, campaign, OUTAGE_LOAD_S, drill.rabbit.restart, at=OUTAGE_LOAD_S / 3, publish_every=0.5
    )
    back_s = recovered(load)
    c = ballot_counts(drill, campaign, load)
    e = event_counts(drill, load)
    report(
        capsys,
        f"restart RabbitMQ during a {OUTAGE_LOAD_S:g} s load",
        fault={"ballots accepted again after (s)": round(back_s, 1)},
        ballots=c,
        events=e,
    )
    assert {name: p.pid for name, p in drill.stack.procs.items()} == pids  # nobody restarted a service
    assert all(p.poll() is None for p in drill.stack.procs.values())
    assert c["503"] > 0, c  # the outage was seen, and answered with 503
    assert_ballots(c)
    assert e["acknowledged"] > 0 and e["acknowledged_lost"] == 0, e
    assert not e["other"], e
    check_tally(c)


def test_restart_ferretdb_during_load(drill, capsys):
    """Kill the private FerretDB 1/3 into the load and start it again (its SQLite files survive)."""
    campaign = drill.open_campaign()
    pids = {name: p.pid for name, p in drill.stack.procs.items()}

    def fault():
        drill.ferret.restart(down_s=3, kill=True)

    load = run_load(drill, campaign, OUTAGE_LOAD_S, fault, at=OUTAGE_LOAD_S / 3, publish_every=0.5)
    back_s = recovered(load)
    c = ballot_counts(drill, campaign, load)
    e = event_counts(drill, load)
    report(
        capsys,
        f"restart FerretDB during a {OUTAGE_LOAD_S:g} s load",
        fault={"ballots accepted again after (s)": round(back_s, 1)},
        ballots=c,
        events=e,
    )
    assert {name: p.pid for name, p in drill.stack.procs.items()} == pids
    assert c["503"] > 0, c
    assert_ballots(c)
    assert e["acknowledged"] > 0 and e["acknowledged_lost"] == 0, e
    assert not e["other"], e
    check_tally(c)
