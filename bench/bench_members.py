"""Members benchmark (issue 17): logins at 16 concurrent clients through HTTP (argon2id at OWASP's
minimum), and the growth table's member rows: a federation-wide search, a search within one area and a
member-list page at 10,000, 100,000 and 1,000,000 members.

Runs the members and gateway services (:func:`dmtools.stack.running_stack`) on their own vhost and the
database prefix ``bench_members_`` (dropped before and after). The members of the growth part are written
straight into the registry (``insert_many``) and the rosters and search keys rebuilt from it
(``MembersStore.rebuild_rosters`` / ``rebuild_search_keys``, what the ``rebuild_rosters`` RPC does): an
import of a million rows through HTTP would take the whole run. Each request is timed through HTTP as
the federation's superior admin; the figure is the median of 20 after 3 warm-ups.

``BENCH_LOGINS`` (default 1,000) logins; ``BENCH_MEMBER_SIZES`` (default ``10000,100000,1000000``).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests

from bench import Report, growth
from bench.bench_import import SECRETS, drop
from dmlib.auth import auth_secret, issue_token, service_actor
from dmlib.storage import make_client
from dmtools import demo
from dmtools.config import load_config
from dmtools.names import person, resident_id
from dmtools.stack import running_stack
from services.members.store import MembersStore

PREFIX = "bench_members_"
LOGINS = int(os.environ.get("BENCH_LOGINS", "1000"))
CONCURRENT = 16
ACCOUNTS = 64
PASSWORD = "bench-password-17"
SIZES = [int(s) for s in os.environ.get("BENCH_MEMBER_SIZES", "10000,100000,1000000").split(",") if s]
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
AREA = demo.AREAS[0][0]  # the area whose admin's search is filtered to its 5 of the 16 unions


def prepare(stack) -> None:
    """The demo's union tree, the superior admin ``BENCH0000`` and :data:`ACCOUNTS` members who log in."""
    from nameko.standalone.rpc import ClusterRpcProxy

    config = {**load_config(), "AMQP_URI": stack.env["AMQP_URI"]}
    token = issue_token(auth_secret(SECRETS), service_actor("bench"), 3600)
    rng = random.Random(17)
    with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=120) as rpc:
        demo.load_structure(rpc, rng)
        for i in range(ACCOUNTS + 1):
            name, gender = person(rng)
            rpc.members.register_member(
                {
                    "member_no": f"BENCH{i:04d}",
                    "name": name,
                    "union_id": demo.GRASSROOTS[i % len(demo.GRASSROOTS)][0],
                    "national_id": resident_id(rng, gender, serial=i),
                }
            )
            rpc.members.set_password({"member_id": f"BENCH{i:04d}", "new_password": PASSWORD})
        rpc.members.grant_role(
            {"member_id": "BENCH0000", "role": "superior_admin", "scope": demo.FEDERATION[0]}
        )


def login(session: requests.Session, url: str, member_no: str) -> tuple[bool, float]:
    started = time.perf_counter()
    r = session.post(f"{url}/api/v1/auth/login", json={"login": member_no, "password": PASSWORD}, timeout=60)
    return r.status_code == 200, (time.perf_counter() - started) * 1000


def bench_logins(stack, report: Report) -> None:
    """:data:`LOGINS` logins of :data:`ACCOUNTS` members from :data:`CONCURRENT` clients."""
    sessions = [requests.Session() for _ in range(CONCURRENT)]
    for s in sessions[:2]:
        login(s, stack.url, "BENCH0001")  # warm-up

    def client(k: int) -> list[tuple[bool, float]]:
        return [
            login(sessions[k], stack.url, f"BENCH{1 + i % ACCOUNTS:04d}")
            for i in range(k, LOGINS, CONCURRENT)
        ]

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        results = [r for part in pool.map(client, range(CONCURRENT)) for r in part]
    seconds = time.perf_counter() - started
    ok = [ms for good, ms in results if good]
    cuts = statistics.quantiles([ms for _, ms in results], n=100)
    note = f"{len(ok):,} of {len(results):,} answered 200 in {seconds:.1f} s; argon2id m=19 MiB, t=2, p=1"
    report.add(
        f"logins through HTTP, {CONCURRENT} concurrent",
        "logins/s",
        round(len(ok) / seconds, 1),
        "≥ 40",
        note=note,
    )
    report.add("login latency p50", "ms", round(cuts[49], 1))
    report.add("login latency p99", "ms", round(cuts[98], 1), "≤ 1,000")


def add_members(db, start: int, stop: int, rng: random.Random) -> None:
    """Members ``start`` … ``stop`` (numbers ``G0000000`` on), spread over the 16 grassroots unions."""
    unions = [u[0] for u in demo.GRASSROOTS]
    now = datetime.now(UTC)
    for first in range(start, stop, 1000):
        docs = []
        for n in range(first, min(first + 1000, stop)):
            name, gender = person(rng)
            docs.append(
                {
                    "_id": f"G{n:07d}",
                    "name": name,
                    "gender": gender,
                    "union_id": unions[n % len(unions)],
                    "department_id": None,
                    "phone": f"13{n:09d}",
                    "email": None,
                    "locale": "zh-CN",
                    "id_hash": f"bench-{n}",
                    "id_last4": f"{n % 10000:04d}",
                    "roles": [],
                    "login": None,
                    "created_at": now,
                    "_v": 0,
                }
            )
        db.members.insert_many(docs, ordered=False)


def timed(session: requests.Session, url: str, params: dict, union: str) -> tuple[float, dict]:
    """Median milliseconds of 20 requests after 3 warm-ups, and the last answer."""
    times, body = [], {}
    for i in range(23):
        started = time.perf_counter()
        r = session.get(f"{url}/api/v1/unions/{union}/members", params=params, timeout=120)
        r.raise_for_status()
        body = r.json()
        if i >= 3:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), body


def bench_growth(stack) -> None:
    client = make_client(MONGO_URI)
    db = client[f"{PREFIX}members"]
    session = requests.Session()
    r = session.post(
        f"{stack.url}/api/v1/auth/login", json={"login": "BENCH0000", "password": PASSWORD}, timeout=60
    )
    r.raise_for_status()
    session.headers["Authorization"] = f"Bearer {r.json()['token']}"
    root = demo.FEDERATION[0]
    rows: dict[str, dict[int, float]] = {}
    notes: dict[str, str] = {}
    rng, have = random.Random(1717), 0
    try:
        for size in sorted(SIZES):
            started = time.perf_counter()
            add_members(db, have, size, rng)
            have = size
            store = MembersStore(db)
            store.rebuild_rosters()
            keys = store.rebuild_search_keys()
            print(
                f"  {size:,} members written and indexed in {time.perf_counter() - started:.0f} s ({keys:,} keys)"
            )
            whole = {"q": "王伟", "include_below": "true", "per_page": 20}
            ms, body = timed(session, stack.url, whole, root)
            rows.setdefault("member search, whole federation (name prefix 王伟, page 1 of 20)", {})[size] = ms
            notes["member search, whole federation (name prefix 王伟, page 1 of 20)"] = (
                f"{body['total']:,} found at the largest size"
            )
            ms, body = timed(session, stack.url, {**whole, "page": 2}, AREA)
            rows.setdefault(f"member search, one area ({AREA}: 5 of 16 unions; 王伟, page 2)", {})[size] = ms
            notes[f"member search, one area ({AREA}: 5 of 16 unions; 王伟, page 2)"] = (
                f"{body['total']:,} found at the largest size; filtered: reads the whole key (≤ 20,000 entries)"
            )
            ms, body = timed(session, stack.url, {"q": f"13{size // 2:09d}", "include_below": "true"}, root)
            rows.setdefault("member search by exact phone, whole federation", {})[size] = ms
            notes["member search by exact phone, whole federation"] = f"{body['total']} found"
            middle = max(1, size // 2 // 20)
            ms, body = timed(
                session, stack.url, {"include_below": "true", "per_page": 20, "page": middle}, root
            )
            rows.setdefault("member-list page (whole federation, 20 a page, middle page)", {})[size] = ms
            notes["member-list page (whole federation, 20 a page, middle page)"] = "roster chunks by position"
        for name, ms in rows.items():
            growth.row(name, ms, note=notes[name] + "; shared 2-core machine")
    finally:
        client.close()


def run(report: Report) -> None:
    drop(PREFIX)
    env = {"MONGO_URI": MONGO_URI, **SECRETS}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with running_stack(
                PREFIX, os.path.join(tmp, "services.log"), env, services=["members", "gateway"]
            ) as stack:
                prepare(stack)
                bench_logins(stack, report)
                bench_growth(stack)
        finally:
            drop(PREFIX)
