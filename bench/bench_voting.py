"""Voting benchmark (issue 3): ballots cast per second end to end through HTTP (signed login tokens,
validation, secret ballot insert, live tally) with p50/p99 latency, side by side with the bare nameko
HTTP → RPC → insert pipeline in the same run; then a campaign of 1,000,000 ballots over 1,000 Worker Homes:
read time of the live results and the recount time.

Runs on its own RabbitMQ vhost and database prefix ``bench_`` (dropped before and after), with the
members, voting and gateway services started as subprocesses exactly as the Procfile starts them.
``BENCH_BALLOTS`` (default 1,000,000) and ``BENCH_CAST`` (default 3,000) size the two parts.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from nameko.standalone.rpc import ClusterRpcProxy

from bench import Report, Timer
from dmlib.auth import Actor, Grant, issue_token, service_actor
from dmlib.storage import make_client
from dmtools.broker import admin_credentials, amqp_uri

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MGMT = "http://127.0.0.1:15672/api"  # as the broker's admin account (dmtools.broker.admin_credentials)
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
PREFIX = "bench_"
NAMEKO = os.path.join(os.path.dirname(sys.executable), "nameko")
CONCURRENCY = 16
WARMUP = 200
ROUNDS = 6
STARS = {"c1": 5, "c2": 4, "c3": 4, "c4": 5, "c5": 3}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The databases this benchmark's services use (only these are dropped: other benchmarks may share the
#: ``bench_`` prefix family and run at the same time).
DATABASES = ("members", "voting", "bare")


def drop_databases() -> None:
    client = make_client(MONGO_URI)
    try:
        for name in DATABASES:
            client.drop_database(f"{PREFIX}{name}")
    finally:
        client.close()


class Stack:
    """Our services and the bare pair, on a fresh vhost."""

    def __init__(self):
        self.vhost = f"bench_{uuid.uuid4().hex[:8]}"
        # One admin connection for all three services and the bare pair: this benchmark compares our
        # path with a bare nameko pair, not the accounts (dmtools.stack runs each on its own user).
        self.admin = admin_credentials()
        self.port, self.bare_port = free_port(), free_port()
        self.secret = uuid.uuid4().hex + uuid.uuid4().hex
        self.env = {
            **os.environ,
            "AMQP_URI": amqp_uri("127.0.0.1", 5672, *self.admin, self.vhost),
            "MONGO_URI": MONGO_URI,
            "MONGO_DB_PREFIX": PREFIX,
            "AUTH_SECRET": self.secret,
            "ID_HASH_KEY": uuid.uuid4().hex,
            "VOTING_KEY": uuid.uuid4().hex,
            "RPC_TIMEOUT": "120",
            "LOG_LEVEL": "WARNING",
        }
        self.procs: list[subprocess.Popen] = []
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-voting-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def nameko_config(self) -> dict:
        return {"AMQP_URI": self.env["AMQP_URI"]}

    def start(self) -> None:
        requests.put(f"{MGMT}/vhosts/{self.vhost}", auth=self.admin, timeout=10).raise_for_status()
        requests.put(
            f"{MGMT}/permissions/{self.vhost}/{self.admin[0]}",
            auth=self.admin,
            json={"configure": ".*", "write": ".*", "read": ".*"},
            timeout=10,
        ).raise_for_status()
        drop_databases()
        ours = {**self.env, "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.port}"}
        bare = {**self.env, "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.bare_port}"}
        config = os.path.join(ROOT, "config.yaml")
        for service in (
            "services.members.service:MembersService",
            "services.voting.service:VotingService",
            "services.gateway.service:GatewayService",
        ):
            self._spawn([NAMEKO, "run", "--config", config, service], ours)
        self._spawn(
            [
                NAMEKO,
                "run",
                "--config",
                config,
                "bench.bare_voting:BareGateway",
                "bench.bare_voting:BareStore",
            ],
            bare,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/healthz", timeout=2).raise_for_status()
                requests.get(f"http://127.0.0.1:{self.bare_port}/ping", timeout=2).raise_for_status()
                with self.rpc(timeout=5) as rpc:
                    rpc.voting.health()
                    rpc.members.health()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        self.log.seek(0)
        raise RuntimeError(f"services did not start:\n{self.log.read()[-3000:]}")

    def _spawn(self, cmd, env) -> None:
        self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT))

    def rpc(self, actor: Actor | None = None, timeout: float = 60):
        token = issue_token(self.secret, actor or service_actor("bench"), 3600)
        return ClusterRpcProxy(self.nameko_config(), context_data={"auth_token": token}, timeout=timeout)

    def token(self, actor: Actor) -> str:
        return issue_token(self.secret, actor, 3600)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.log.close()
        drop_databases()
        requests.delete(f"{MGMT}/vhosts/{self.vhost}", auth=self.admin, timeout=10)


def hammer(requests_to_send: list[tuple[str, dict, dict]]) -> tuple[float, list[float], int]:
    """POST every (url, headers, body) with CONCURRENCY threads (keep-alive sessions); (seconds, latencies
    in ms, failures)."""
    local = threading.local()
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def send(item):
        url, headers, body = item
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        t0 = time.perf_counter()
        r = session.post(url, json=body, headers=headers, timeout=30)
        ms = (time.perf_counter() - t0) * 1000
        with lock:
            latencies.append(ms)
            if r.status_code != 201:
                failures[0] += 1

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        started = time.perf_counter()
        list(pool.map(send, requests_to_send))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, failures[0]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cast_part(stack: Stack, report: Report, n: int) -> None:
    homes = [f"u{i:02d}" for i in range(1, 17)]
    with stack.rpc() as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for h in homes:
            rpc.members.create_union({"id": h, "name": f"{h}工会", "kind": "grassroots", "parent_id": "ftu"})
        rpc.voting.create_campaign({"id": "cast", "title": "基准测试评选", "union_id": "ftu"})
        rpc.voting.open_campaign("cast")
    total = WARMUP + n
    ours = []
    for i in range(total):
        actor = Actor(member_id=f"B{i:07d}", name="会员", union_id=homes[i % 16], grants=())
        ours.append(
            (
                f"{stack.url}/api/v1/campaigns/cast/ballots",
                {"Authorization": f"Bearer {stack.token(actor)}"},
                {"stars": STARS, "opinion": "建议增加健身器材" if i % 7 == 0 else None},
            )
        )
    bare = [
        (
            f"http://127.0.0.1:{stack.bare_port}/ballot",
            {},
            {"_id": f"b{i:07d}", "subject": homes[i % 16], "stars": list(STARS.values()), "opinion": None},
        )
        for i in range(total)
    ]
    hammer(bare[:WARMUP])
    hammer(ours[:WARMUP])
    # Interleaved rounds (bare, ours, ours, bare, …) so that drift of the machine during the run
    # weighs on both pipelines alike; the rates are totals over all rounds.
    bare_s = our_s = 0.0
    bare_lat: list[float] = []
    our_lat: list[float] = []
    bare_fail = our_fail = 0
    step = max(1, n // ROUNDS)
    for r, start in enumerate(range(WARMUP, total, step)):
        order = ("bare", "ours") if r % 2 == 0 else ("ours", "bare")
        for which in order:
            chunk = (bare if which == "bare" else ours)[start : min(total, start + step)]
            secs, lat, fail = hammer(chunk)
            if which == "bare":
                bare_s, bare_fail = bare_s + secs, bare_fail + fail
                bare_lat += lat
            else:
                our_s, our_fail = our_s + secs, our_fail + fail
                our_lat += lat
    ours_rate, bare_rate = n / our_s, n / bare_s
    note = f"{n:,} ballots, {CONCURRENCY} concurrent clients, tokens minted (login's argon2 not in the path)"
    report.add(
        "ballots cast end to end (HTTP → gateway → voting → FerretDB)",
        "ballots/s",
        ours_rate,
        "≥ 500",
        bare_rate,
        note,
    )
    report.add(
        "ballot latency p50",
        "ms",
        round(statistics.median(our_lat), 1),
        "—",
        round(statistics.median(bare_lat), 1),
    )
    report.add("ballot latency p99", "ms", round(pct(our_lat, 99), 1), "≤ 100", round(pct(bare_lat, 99), 1))
    report.add(
        "ours ÷ bare pipeline",
        "ratio",
        f"{ours_rate / bare_rate:.2f}",
        "≥ 0.8",
        note=f"{ROUNDS} interleaved rounds",
    )
    if our_fail or bare_fail:
        report.add("failed requests", "count", our_fail, "0", bare_fail)
    with stack.rpc() as rpc:
        check = rpc.voting.recount("cast")
    report.add(
        "recount after the run equals the live tally",
        "bool",
        str(check["matches"]),
        "True",
        note=f"{check['recounted']['n']:,} ballots",
    )


def big_part(stack: Stack, report: Report, ballots: int, homes_n: int = 1000) -> None:
    from services.voting import tally as t
    from services.voting.store import parts_collection

    homes = [f"h{i:04d}" for i in range(homes_n)]
    with stack.rpc(timeout=300) as rpc:
        rpc.members.create_union({"id": "big", "name": "大型总工会", "kind": "federation"})
        for h in homes:
            rpc.members.create_union({"id": h, "name": f"{h}工会", "kind": "grassroots", "parent_id": "big"})
        rpc.voting.create_campaign({"id": "bigcamp", "title": "百万选票评选", "union_id": "big"})
        rpc.voting.open_campaign("bigcamp")
    key = stack.env["VOTING_KEY"].encode()
    client = make_client(MONGO_URI)
    db = client[f"{PREFIX}voting"]
    coll = db["ballots_bigcamp"]
    rng = random.Random(7)
    _head, live = t.rating_zero(homes, 5)
    chunk, inserted = 5000, 0
    with Timer() as load:
        while inserted < ballots:
            docs = []
            for i in range(inserted, min(ballots, inserted + chunk)):
                home = homes[i % homes_n]
                stars = [rng.randint(2, 5) for _ in range(5)]
                bid = t.ballot_id(key, "bigcamp", f"X{i:08d}")
                opinion = "意见" if i % 10 == 0 else None
                docs.append(
                    {
                        "_id": bid,
                        "receipt": bid[:12].upper(),
                        "day": "2026-11-21",
                        "subject": home,
                        "stars": stars,
                        "opinion": opinion,
                    }
                )
                row = live[home]
                row["n"] += 1
                for j, v in enumerate(stars):
                    row[f"c{j}"] += v
                    row[f"h{v}"] += 1
                row["op"] += opinion is not None
            coll.insert_many(docs, ordered=False)
            inserted += len(docs)
    parts = db[parts_collection("bigcamp")]  # the live tally, one part per home, as casting leaves it
    parts.drop()
    parts.insert_many([{**row, "_id": home, "open": True} for home, row in live.items()])
    client.close()
    report.add(
        "bulk insert of the ballots (set-up, not a target)",
        "ballots/s",
        ballots / load.seconds,
        note=f"{ballots:,} in {load.seconds:.0f} s",
    )
    admin = Actor(member_id="S1", name="上级", union_id=None, grants=(Grant("superior_admin", "big"),))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.token(admin)}"
    times = []
    for _ in range(12):
        t0 = time.perf_counter()
        r = session.get(f"{stack.url}/api/v1/campaigns/bigcamp/results", timeout=60)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    body = r.json()
    assert len(body["rows"]) == homes_n and body["campaign"]["ballots"] == ballots
    report.add(
        f"live results of {ballots:,} ballots over {homes_n:,} homes (HTTP, ranked table)",
        "ms",
        round(statistics.median(times[2:]), 1),
        "≤ 100",
        note=f"median of 10 after 2 warm-ups; max {max(times[2:]):.0f} ms",
    )
    with stack.rpc(admin, timeout=900) as rpc:
        t0 = time.perf_counter()
        check = rpc.voting.recount("bigcamp")
        seconds = time.perf_counter() - t0
    report.add(
        f"recount of {ballots:,} ballots",
        "s",
        round(seconds, 1),
        "≤ 10",
        note=f"matches live tally: {check['matches']}; one cursor over every ballot; FerretDB decodes each (~30 µs, docs/storage.md)",
    )


def run(report: Report) -> None:
    stack = Stack()
    try:
        stack.start()
        cast_part(stack, report, int(os.environ.get("BENCH_CAST", "3000")))
        big_part(stack, report, int(os.environ.get("BENCH_BALLOTS", "1000000")))
    finally:
        stack.stop()
