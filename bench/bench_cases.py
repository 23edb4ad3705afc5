"""Worker requests (接诉即办, issue 13): (1) intake → dispatch → visible in the handler's queue, per case,
p50/p99 (target ≤ 1 s); (2) the indicators dashboard of the federation over twelve months whose
counters hold 1,000,000 cases (target ≤ 200 ms).

Runs on its own RabbitMQ vhost and database prefix ``bench_cases_`` (dropped before and after), with the
members and cases services started as subprocesses as the Procfile starts them. ``BENCH_CASES_INTAKE``
(default 300) cases are filed one after the other by members of the 16 demo unions, each dispatched by
hotline staff to the employer's union, then looked for in that union's queue (state ``dispatched``).
For (2) the counter documents that 1,000,000 cases spread over the 16 unions, 12 months and 9
categories produce (``BENCH_CASES_TOTAL``) are written directly (as :func:`services.cases.rules.
counter_increments` lays them out: per union and month, totals, per category, per child union; the
rates drawn around the hotline's published figures); the dashboard reads one document per month by
``_id``, whatever the number of cases, which is what this shows.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime

import requests
from nameko.standalone.rpc import ClusterRpcProxy

from bench import Report
from dmlib.auth import Actor, Grant, issue_token, service_actor
from dmlib.contracts import cases as c
from dmlib.events import event_keys
from dmlib.storage import make_client
from dmtools import demo
from dmtools.broker import admin_credentials, amqp_uri
from dmtools.stack import free_port, procfile
from services.cases import rules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MGMT = "http://127.0.0.1:15672/api"
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
PREFIX = "bench_cases_"
NAMEKO = os.path.join(os.path.dirname(sys.executable), "nameko")
INTAKE = int(os.environ.get("BENCH_CASES_INTAKE", "300"))
TOTAL = int(os.environ.get("BENCH_CASES_TOTAL", "1000000"))
READS = 50
HOTLINE = Actor("H0000001", "12351热线", demo.FEDERATION[0], (Grant("hotline_staff", demo.FEDERATION[0]),))


def drop_databases() -> None:
    client = make_client(MONGO_URI)
    try:
        for name in ("members", "cases"):
            client.drop_database(f"{PREFIX}{name}")
    finally:
        client.close()


class Stack:
    def __init__(self):
        self.vhost = f"bench_cases_{uuid.uuid4().hex[:8]}"
        self.admin = admin_credentials()
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
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
            "LOG_LEVEL": "WARNING",
        }
        self.procs: list[subprocess.Popen] = []
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-cases-", suffix=".log", delete=False)

    def start(self) -> None:
        requests.put(f"{MGMT}/vhosts/{self.vhost}", auth=self.admin, timeout=10).raise_for_status()
        requests.put(
            f"{MGMT}/permissions/{self.vhost}/{self.admin[0]}",
            auth=self.admin,
            json={"configure": ".*", "write": ".*", "read": ".*"},
            timeout=10,
        ).raise_for_status()
        drop_databases()
        config = os.path.join(ROOT, "config.yaml")
        for service in ("services.members.service:MembersService", "services.cases.service:CasesService"):
            cmd = [NAMEKO, "run", "--config", config, service]
            self.procs.append(
                subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with self.rpc(timeout=5) as rpc:
                    rpc.members.health()
                    rpc.cases.health()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        self.log.seek(0)
        raise RuntimeError(f"services did not start:\n{self.log.read()[-3000:]}")

    def rpc(self, actor: Actor | None = None, timeout: float = 60):
        token = issue_token(self.secret, actor or service_actor("bench"), 3600)
        return ClusterRpcProxy(
            {"AMQP_URI": self.env["AMQP_URI"]}, context_data={"auth_token": token}, timeout=timeout
        )

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


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def intake_part(stack: Stack, report: Report) -> None:
    rng = random.Random(13)
    unions = [u for u, _, _ in demo.GRASSROOTS]
    times = []
    openers = {u: stack.rpc(Actor(f"A{u}", "工会主席", u, (Grant("union_admin", u),))) for u in unions}
    handlers = {u: o.start() for u, o in openers.items()}
    with stack.rpc(HOTLINE) as desk:
        for i in range(INTAKE):
            union = rng.choice(unions)
            worker = Actor(f"M{unions.index(union) + 1:02d}{i + 10:05d}", "职工", union)
            opener = stack.rpc(worker)
            member = opener.start()  # the member's connection, opened before the clock starts
            case = {
                "case_type": "complaint",
                "category": rng.choice(list(c.CATEGORIES)),
                "title": "拖欠加班工资",
                "description": "公司连续三个月未支付周末加班工资，多次反映无果。",
                "employer": {"union_id": union},
                "phone": "13800138000",
            }
            started = time.perf_counter()
            cid = member.cases.file_case(case)["id"]
            desk.cases.dispatch(cid, {"union_id": union, "complexity": "general"})
            page = handlers[union].cases.queue({"union_id": union, "state": "dispatched", "per_page": 200})
            times.append(time.perf_counter() - started)
            opener.stop()
            assert cid in {r["id"] for r in page["items"]}, (
                "the dispatched case is not in the handler's queue"
            )
    for o in openers.values():
        o.stop()
    note = f"{INTAKE} cases one after the other: file (member) → dispatch (hotline) → the handler's queue lists it"
    report.add(
        "case intake → visible to the handler, p50",
        "s",
        round(statistics.median(times), 3),
        "≤ 1 s",
        note=note,
    )
    report.add("case intake → visible to the handler, p99", "s", round(pct(times, 99), 3), "≤ 1 s")


def counters_for(total: int, rng: random.Random) -> dict[str, dict]:
    """The counter documents of ``total`` cases over the demo's tree and the last 12 months."""
    now = datetime.now(UTC)
    months = rules.months(f"{now.year - 1}-{now.month:02d}", f"{now.year}-{now.month:02d}")[1:]
    paths = {u: [demo.FEDERATION[0], area, u] for u, _, area in demo.GRASSROOTS}
    weights = [rng.uniform(0.4, 2.2) for _ in paths]
    cats = list(c.CATEGORIES)
    incs: dict[str, dict] = {}
    per = total / (sum(weights) * len(months) * len(cats))
    for path, w in zip(paths.values(), weights, strict=True):
        for m in months:
            for cat in cats:
                n = int(per * w * rng.uniform(0.7, 1.3))
                rated = int(n * 0.97)
                sat = int(rated * 0.8)
                partly = int(rated * 0.17)
                counts = {
                    "received": n,
                    "dispatched": int(n * 0.23),
                    "responded": int(n * 0.23 * 0.99),
                    "due": n,
                    "closed": int(n * 0.991),
                    "closed_on_time": int(n * 0.981),
                    "rated": rated,
                    "resolved": int(rated * 0.95),
                    "satisfied": sat,
                    "partly": partly,
                    "dissatisfied": rated - sat - partly,
                    "overdue": n - int(n * 0.981),
                }
                for i, unit in enumerate(path):
                    below = path[i + 1] if i + 1 < len(path) else unit
                    doc = incs.setdefault(f"{unit}:{m}", {"union_id": unit, "month": m})
                    for metric, k in counts.items():
                        for top, key in (("m", None), ("c", cat), ("u", below)):
                            node = doc.setdefault(top, {})
                            node = node.setdefault(key, {}) if key else node
                            node[metric] = node.get(metric, 0) + k
    return incs


def indicators_part(stack: Stack, report: Report) -> None:
    rng = random.Random(1_000_000)
    docs = counters_for(TOTAL, rng)
    client = make_client(MONGO_URI)
    try:
        db = client[f"{PREFIX}cases"]
        db.counters.delete_many({})
        db.counters.insert_many([{"_id": k, **v} for k, v in docs.items()])
    finally:
        client.close()
    months = sorted({d["month"] for d in docs.values()})
    superior = Actor("S0000001", "总工会", demo.FEDERATION[0], (Grant("superior_admin", demo.FEDERATION[0]),))
    times = []
    with stack.rpc(superior) as rpc:
        for _ in range(READS):
            started = time.perf_counter()
            out = rpc.cases.indicators(
                {"union_id": demo.FEDERATION[0], "from_month": months[0], "to_month": months[-1]}
            )
            times.append(time.perf_counter() - started)
    received = out["counts"]["received"]
    note = f"{received:,} cases in the counters; {len(docs)} counter documents; 12 months, by month, category and union"
    report.add(
        "cases indicators dashboard (12 months), p50",
        "ms",
        round(statistics.median(times) * 1000, 1),
        "≤ 200 ms",
        note=note,
    )
    report.add(
        "cases indicators dashboard (12 months), p99", "ms", round(pct(times, 99) * 1000, 1), "≤ 200 ms"
    )


def run(report: Report) -> None:
    stack = Stack()
    stack.start()
    try:
        with stack.rpc(timeout=120) as rpc:
            demo.load_structure(rpc, random.Random(demo.SEED))
        intake_part(stack, report)
        indicators_part(stack, report)
    finally:
        stack.stop()
