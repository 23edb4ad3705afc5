"""Voting benchmark (issues 3 and 17): ballots cast per second end to end through HTTP (signed login
tokens, validation, group commit, secret ballot insert, live tally) with p50/p99 latency, side by side with
the bare nameko HTTP → RPC → insert pipeline in the same run, both driven by ``wrk`` (bench/ballots.lua)
in interleaved rounds; then a campaign of 1,000,000 ballots over 1,000 Worker Homes: read time of the live
results and the recount time; then the voting rows of the growth table (bench/growth.py): receipt
verification, a page of the published ballot list and the live results at 10k, 100k and 1M ballots.

Runs on its own RabbitMQ vhost and database prefix ``bench_`` (dropped before and after), with the
members, voting and gateway services started as subprocesses exactly as the Procfile starts them.
``BENCH_ROUND_S`` (default 5) sizes the wrk rounds, ``BENCH_BALLOTS`` (default 1,000,000) the recount
campaign, ``BENCH_GROWTH`` (default "10000,100000,1000000") the growth sizes, ``BENCH_VOTING_PARTS``
(default "cast,big,growth") which parts run (e.g. "big" for the live results and the recount only),
``BENCH_VOTING_PREFIX`` (default ``bench_``) the database prefix.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
from nameko.standalone.rpc import ClusterRpcProxy

from bench import Report, Timer, growth
from dmlib.auth import Actor, Grant, issue_token, service_actor
from dmlib.events import event_keys
from dmlib.storage import make_client
from dmtools.broker import admin_credentials, amqp_uri
from dmtools.stack import procfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MGMT = "http://127.0.0.1:15672/api"  # as the broker's admin account (dmtools.broker.admin_credentials)
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
#: ``BENCH_VOTING_PREFIX`` lets two runs share the database server (helpers benchmarking side by side).
PREFIX = os.environ.get("BENCH_VOTING_PREFIX", "bench_")
NAMEKO = os.path.join(os.path.dirname(sys.executable), "nameko")
CONCURRENCY = 16
ROUNDS = 6
#: Ballots per second no round can exceed (sizes the token files: nobody votes twice).
MAX_RATE = 2000
LUA = os.path.join(ROOT, "bench", "ballots.lua")
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
            **event_keys([name for name in procfile() if name != "gateway"]),
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


def wrk(url: str, seconds: float, *args: str) -> dict:
    """One run of ``wrk`` (Debian's, installed by scripts/setup.sh) with bench/ballots.lua: one thread,
    :data:`CONCURRENCY` keep-alive connections, for ``seconds``. Returns its WRKJSON line plus ``ok``
    (2xx answers) and ``seconds``. wrk is C and epoll: it leaves the two cores to the services."""
    cmd = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    cmd += ["-s", LUA, url, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    result = json.loads(line[len("WRKJSON ") :])
    result["ok"] = result["requests"] - result["non2xx"] - result["socket_errors"]
    result["seconds"] = result["duration_us"] / 1e6
    return result


def cast_part(stack: Stack, report: Report, seconds: float) -> None:
    """Ballots per second of our pipeline and of the bare one, in interleaved wrk rounds of ``seconds``
    (bare, ours, ours, bare, …: drift of the shared machine weighs on both alike); every voter casts
    once (a fresh member token per request, minted before the timer)."""
    homes = [f"u{i:02d}" for i in range(1, 17)]
    with stack.rpc() as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for h in homes:
            rpc.members.create_union({"id": h, "name": f"{h}工会", "kind": "grassroots", "parent_id": "ftu"})
        rpc.voting.create_campaign({"id": "cast", "title": "基准测试评选", "union_id": "ftu"})
        rpc.voting.open_campaign("cast")
    ours_url = f"{stack.url}/api/v1/campaigns/cast/ballots"
    bare_url = f"http://127.0.0.1:{stack.bare_port}/ballot"
    body = json.dumps({"stars": STARS, "opinion": None})
    voters = iter(range(10**7))

    def tokens(n: int) -> str:
        """A file of ``n`` fresh voters' tokens (more than a round can use: none votes twice)."""
        f = tempfile.NamedTemporaryFile("w", prefix="bench-tokens-", suffix=".txt", delete=False)
        with f:
            for _ in range(n):
                i = next(voters)
                actor = Actor(member_id=f"B{i:07d}", name="会员", union_id=homes[i % 16], grants=())
                f.write(stack.token(actor) + "\n")
        return f.name

    per_round = int(seconds * MAX_RATE)
    wrk(bare_url, 2, "bare", "warm")
    wrk(ours_url, 2, "ours", tokens(per_round), body)
    runs: dict[str, list[dict]] = {"bare": [], "ours": []}
    for r in range(ROUNDS):
        for which in ("bare", "ours") if r % 2 == 0 else ("ours", "bare"):
            if which == "bare":
                runs["bare"].append(wrk(bare_url, seconds, "bare", f"r{r}"))
            else:
                runs["ours"].append(wrk(ours_url, seconds, "ours", tokens(per_round), body))

    def rate(which):
        return sum(x["ok"] for x in runs[which]) / sum(x["seconds"] for x in runs[which])

    def p(which, key):
        values = [x[key] / 1000 for x in runs[which]]
        return round(statistics.median(values) if key == "p50_us" else max(values), 1)

    ours_rate, bare_rate = rate("ours"), rate("bare")
    cast = sum(x["ok"] for x in runs["ours"])
    note = (
        f"{cast:,} ballots in {ROUNDS} wrk rounds of {seconds:.0f} s, {CONCURRENCY} connections, "
        "tokens minted (login's argon2 not in the path); group commit"
    )
    report.add(
        "ballots cast end to end (HTTP → gateway → voting → FerretDB)",
        "ballots/s",
        ours_rate,
        "≥ 500",
        bare_rate,
        note,
    )
    report.add(
        "ballot latency p50", "ms", p("ours", "p50_us"), "—", p("bare", "p50_us"), "median of the rounds"
    )
    report.add("ballot latency p99", "ms", p("ours", "p99_us"), "≤ 100", p("bare", "p99_us"), "worst round")
    report.add(
        "ours ÷ bare pipeline",
        "ratio",
        f"{ours_rate / bare_rate:.2f}",
        "≥ 2.5",
        note=f"{ROUNDS} interleaved rounds",
    )
    failed = {w: sum(x["requests"] - x["ok"] for x in runs[w]) for w in runs}
    if any(failed.values()):
        report.add("requests without a 2xx answer", "count", failed["ours"], "0", failed["bare"])
    with stack.rpc() as rpc:
        check = rpc.voting.recount("cast")
    report.add(
        "recount after the run equals the live tally",
        "bool",
        str(check["matches"]),
        "True",
        note=f"{check['recounted']['n']:,} ballots",
    )


def make_homes(stack: Stack, homes_n: int) -> list[str]:
    """``homes_n`` Worker Homes under the federation ``big``."""
    homes = [f"h{i:04d}" for i in range(homes_n)]
    with stack.rpc(timeout=300) as rpc:
        rpc.members.create_union({"id": "big", "name": "大型总工会", "kind": "federation"})
        for h in homes:
            rpc.members.create_union({"id": h, "name": f"{h}工会", "kind": "grassroots", "parent_id": "big"})
    return homes


def load_campaign(stack: Stack, campaign: str, homes: list[str], ballots: int) -> tuple[float, list[str]]:
    """Open campaign ``campaign`` over ``homes`` and store ``ballots`` ballots as casting leaves them
    (ballots, receipt index, recount packs, the folded tally, every batch folded) with bulk inserts: each
    chunk of 5,000 is one batch, whose pack is one insert right after its ballots, as
    :func:`.polls.cast_many` writes it. Returns (seconds, some receipts)."""
    from services.voting import tally as t
    from services.voting.store import pack_doc, pack_parts, packs_collection, receipts_collection

    with stack.rpc(timeout=300) as rpc:
        rpc.voting.create_campaign({"id": campaign, "title": f"{ballots:,}选票评选", "union_id": "big"})
        rpc.voting.open_campaign(campaign)
    key = stack.env["VOTING_KEY"].encode()
    client = make_client(MONGO_URI)
    db = client[f"{PREFIX}voting"]
    coll, index = db[f"ballots_{campaign}"], db[receipts_collection(campaign)]
    packs = db[packs_collection(campaign)]
    rng = random.Random(7)
    _head, live = t.rating_zero(homes, 5)
    chunk, inserted, sample = 5000, 0, []
    with Timer() as load:
        while inserted < ballots:
            docs = []
            for i in range(inserted, min(ballots, inserted + chunk)):
                home = homes[i % len(homes)]
                stars = [rng.randint(2, 5) for _ in range(5)]
                bid = t.ballot_id(key, campaign, f"X{i:08d}")
                opinion = "意见" if i % 10 == 0 else None
                receipt = t.receipt_code(key, bid)
                docs.append(
                    {
                        "_id": bid,
                        "receipt": receipt,
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
            index.insert_many([{"_id": d["receipt"], "b": d["_id"]} for d in docs], ordered=False)
            coll.insert_many(docs, ordered=False)
            packs.insert_one(pack_doc(f"load{inserted:08d}", docs))
            sample += [d["receipt"] for d in docs[:: max(1, chunk // 4)]]
            inserted += len(docs)
    folded = {"g": 1, "s": pack_parts(live), "f": []}
    db.tally_folded.update_one({"_id": campaign}, {"$set": folded})  # as the fold leaves it
    client.close()
    return load.seconds, sample


def timed_gets(session: requests.Session, urls: list[str], warm: int = 2) -> list[float]:
    """Milliseconds of each GET after ``warm`` unmeasured ones (each must answer 200)."""
    times = []
    for n, url in enumerate(urls[:warm] + urls):
        t0 = time.perf_counter()
        session.get(url, timeout=120).raise_for_status()
        if n >= warm:
            times.append((time.perf_counter() - t0) * 1000)
    return times


ADMIN = Actor(member_id="S1", name="上级", union_id=None, grants=(Grant("superior_admin", "big"),))


def big_part(stack: Stack, report: Report, homes: list[str], ballots: int) -> None:
    seconds, _ = load_campaign(stack, "bigcamp", homes, ballots)
    report.add(
        "bulk insert of the ballots (set-up, not a target)",
        "ballots/s",
        ballots / seconds,
        note=f"{ballots:,} in {seconds:.0f} s (with their receipt index entries and recount packs)",
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.token(ADMIN)}"
    times = timed_gets(session, [f"{stack.url}/api/v1/campaigns/bigcamp/results"] * 10)
    report.add(
        f"live results of {ballots:,} ballots over {len(homes):,} homes (HTTP, ranked table)",
        "ms",
        round(statistics.median(times), 1),
        "≤ 100",
        note=f"median of 10 after 2 warm-ups; max {max(times):.0f} ms",
    )
    with stack.rpc(ADMIN, timeout=900) as rpc:
        t0 = time.perf_counter()
        check = rpc.voting.recount("bigcamp")
        seconds = time.perf_counter() - t0
    report.add(
        f"recount of {ballots:,} ballots",
        "s",
        round(seconds, 1),
        "≤ 10",
        note=(
            f"matches live tally: {check['matches']}; counted from the {check.get('source', 'ballots')}"
            + (
                f" ({-(-ballots // 5000):,} recount packs, their count checked against collStats)"
                if check.get("source") == "packs"
                else " (one cursor over every ballot; FerretDB decodes each, ~20 µs)"
            )
            + "; docs/storage.md"
        ),
    )


def growth_part(stack: Stack, homes: list[str], sizes: list[int]) -> None:
    """The voting rows of the growth table (bench/growth.py): receipt verification (open poll), a page of
    the published ballot list (closed poll) and the live results, at each size."""
    member = Actor(member_id="G0000001", name="会员", union_id=homes[1], grants=())
    admin, voter = requests.Session(), requests.Session()
    admin.headers["Authorization"] = f"Bearer {stack.token(ADMIN)}"
    voter.headers["Authorization"] = f"Bearer {stack.token(member)}"
    receipt_ms, page_ms, live_ms, closes = {}, {}, {}, []
    for size in sizes:
        campaign = f"g{size}"
        _, sample = load_campaign(stack, campaign, homes, size)
        picks = random.Random(size).sample(sample, min(20, len(sample)))
        receipt_ms[size] = statistics.median(
            timed_gets(voter, [f"{stack.url}/api/v1/polls/{campaign}/receipts/{r}" for r in picks])
        )
        live_ms[size] = statistics.median(
            timed_gets(admin, [f"{stack.url}/api/v1/campaigns/{campaign}/results"] * 10)
        )
        with stack.rpc(ADMIN, timeout=3600) as rpc:
            t0 = time.perf_counter()
            rpc.voting.close_campaign(campaign)
            closes.append(f"{size:,}: {time.perf_counter() - t0:.0f} s")
        pages = random.Random(size + 1).sample(range(1, size // 100 + 1), 10)
        page_ms[size] = statistics.median(
            timed_gets(
                admin, [f"{stack.url}/api/v1/polls/{campaign}/ballots?page={n}&per_page=100" for n in pages]
            )
        )
    growth.row("receipt verification (HTTP, open poll)", receipt_ms, note="median of 20 receipts")
    growth.row(
        "published ballot list, a page of 100 (HTTP, closed poll)",
        page_ms,
        note=f"median of 10 random pages; the close that writes the list took {', '.join(closes)}",
    )
    growth.row("live results over 1,000 homes (HTTP)", live_ms, "≤ 100 ms", note="median of 10")


def run(report: Report) -> None:
    stack = Stack()
    try:
        stack.start()
        parts = os.environ.get("BENCH_VOTING_PARTS", "cast,big,growth").split(",")
        if "cast" in parts:
            cast_part(stack, report, float(os.environ.get("BENCH_ROUND_S", "5")))
        homes = make_homes(stack, 1000)
        if "big" in parts:
            big_part(stack, report, homes, int(os.environ.get("BENCH_BALLOTS", "1000000")))
        sizes = os.environ.get("BENCH_GROWTH", "10000,100000,1000000")
        if "growth" in parts:
            growth_part(stack, homes, [int(x) for x in sizes.split(",") if x])
    finally:
        stack.stop()
