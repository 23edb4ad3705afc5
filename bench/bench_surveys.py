"""Worker surveys: answers per second end to end, and the results read over 100,000 responses, over the
real stack (members, surveys) on a private vhost and the ``bench_surveys_`` databases.

1. Answers: the demo's union tree, ``BENCH_SURVEYS_MEMBERS`` (default 2,000) generated members imported,
   the ``needs`` template opened to all of them (anonymous), then ``BENCH_SURVEYS_ANSWERS`` (default
   1,000) members submit at the demo's distributions from ``BENCH_SURVEYS_CLIENTS`` (8) concurrent
   clients, each call through RabbitMQ (``surveys.submit_response`` with the member's own token: load,
   policy, validation, the keyed insert and the counters' ``$inc``). The HTTP leg is the gateway's
   (surveysweb) and is not in this figure.
2. Results: a second survey gets ``BENCH_SURVEYS_RESPONSES`` (default 100,000) stored responses written
   straight into its collection (as the service stores them), its counters rebuilt by
   ``surveys.recount`` (timed: a scan of every response), then ``results``, ``crosstab`` (by
   department) and ``participation`` are read 20 times each through RabbitMQ (median and worst shown).
   They read the counters only, so their cost does not grow with the responses.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench import Report
from dmlib.auth import Actor, Grant, auth_secret, issue_token, service_actor
from dmlib.events import event_keys
from dmlib.storage import make_client
from dmtools import demo, demo_surveys
from dmtools.config import load_config
from dmtools.stack import procfile, running_stack

MEMBERS = int(os.environ.get("BENCH_SURVEYS_MEMBERS", "2000"))
ANSWERS = int(os.environ.get("BENCH_SURVEYS_ANSWERS", "1000"))
CLIENTS = int(os.environ.get("BENCH_SURVEYS_CLIENTS", "8"))
RESPONSES = int(os.environ.get("BENCH_SURVEYS_RESPONSES", "100000"))
PREFIX = os.environ.get("BENCH_SURVEYS_PREFIX", "bench_surveys_")
SECRETS = {
    **{key: secrets.token_urlsafe(32) for key in ("AUTH_SECRET", "ID_HASH_KEY", "VOTING_KEY")},
    **event_keys([name for name in procfile() if name != "gateway"]),
}
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
SUPERIOR = Actor("M0100003", "总工会管理员", "ftu", (Grant("superior_admin", "ftu"),))


def drop(prefix: str) -> None:
    client = make_client(MONGO_URI)
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)
    client.close()


def members_csv(path: str) -> list[dict]:
    dm = os.path.join(os.path.dirname(sys.executable), "dm")
    subprocess.run(
        [dm, "gen-members", path, "--rows", str(MEMBERS), "--seed", "15", "--prefix", "S"],
        check=True,
        capture_output=True,
    )
    with open(path, "rb") as f:
        return f.read()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def survey_of(rpc, title: str) -> str:
    template = rpc.surveys.get_template("needs", "zh")
    survey = rpc.surveys.create_survey(
        {**template, "title": title, "union_id": "ftu", "audience": {"kind": "unions", "union_ids": ["ftu"]}}
    )
    return rpc.surveys.open_survey(survey["id"])


def answers_part(config: dict, report: Report, rows: list[dict]) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    secret = auth_secret(SECRETS)
    with ClusterRpcProxy(config, context_data={"auth_token": issue_token(secret, SUPERIOR, 3600)}) as rpc:
        survey = survey_of(rpc, "基准：职工需求调查（答题）")
    rng = random.Random(15)
    work = [(r["member_no"], r["union_id"], demo_surveys.answers(rng, 0.5)) for r in rows[:ANSWERS]]
    local = threading.local()
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def send(item):
        member_no, union_id, given = item
        proxy = getattr(local, "proxy", None)
        if proxy is None:
            local.context = {"auth_token": ""}
            local.cm = ClusterRpcProxy(config, context_data=local.context, timeout=60)
            proxy = local.proxy = local.cm.start()
        local.context["auth_token"] = issue_token(secret, Actor(member_no, "", union_id), 600)
        t0 = time.perf_counter()
        try:
            proxy.surveys.submit_response(survey["id"], {"answers": given})
        except Exception:
            with lock:
                failures[0] += 1
        with lock:
            latencies.append((time.perf_counter() - t0) * 1000)

    with ThreadPoolExecutor(CLIENTS) as pool:
        started = time.perf_counter()
        list(pool.map(send, work))
        elapsed = time.perf_counter() - started
    report.add(
        "surveys: answers submitted end to end (RPC through RabbitMQ, validation, keyed insert, counters)",
        "answers/s",
        round(len(work) / elapsed, 1),
        target="—",
        note=f"{len(work):,} answers of a 8-question survey, {CLIENTS} concurrent clients, {failures[0]} failed; "
        f"p50 {pct(latencies, 50):.0f} ms, p99 {pct(latencies, 99):.0f} ms; HTTP leg not included",
    )


def results_part(config: dict, report: Report) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    secret = auth_secret(SECRETS)
    with ClusterRpcProxy(
        config, context_data={"auth_token": issue_token(secret, SUPERIOR, 3600)}, timeout=600
    ) as rpc:
        survey = survey_of(rpc, "基准：职工需求调查（结果）")
        sid = survey["id"]
        groups = survey_groups(sid)
        client = make_client(MONGO_URI)
        coll = client[f"{PREFIX}surveys"][f"responses_{sid}"]
        rng = random.Random(16)
        t0 = time.perf_counter()
        batch = []
        for i in range(RESPONSES):
            union_id, department_id = rng.choice(groups)
            batch.append(
                {
                    "_id": f"bench{i:08d}",
                    "a": demo_surveys.answers(rng, 0.5),
                    "union_id": union_id,
                    "department_id": department_id,
                    "day": "2026-12-04",
                }
            )
            if len(batch) == 2000:
                coll.insert_many(batch)
                batch = []
        if batch:
            coll.insert_many(batch)
        print(f"  set-up: {RESPONSES:,} responses stored in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        recount = rpc.surveys.recount(sid)
        recount_s = time.perf_counter() - t0
        report.add(
            f"surveys: recount of every counter from {recount['responses']:,} stored responses",
            "s",
            round(recount_s, 1),
            note="a scan of the survey's responses; only for repairs, never on a page",
        )
        for name, call in (
            ("results", lambda: rpc.surveys.results(sid)),
            ("crosstab by department", lambda: rpc.surveys.crosstab(sid, "q7", {"by": "department"})),
            ("participation", lambda: rpc.surveys.participation(sid)),
        ):
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                out = call()
                times.append((time.perf_counter() - t0) * 1000)
            report.add(
                f"surveys: {name} over {RESPONSES:,} responses (RPC)",
                "ms",
                round(statistics.median(times), 1),
                target="≤ 300 (results page)" if name == "results" else "—",
                note=f"median of 20, worst {max(times):.0f} ms; from the counters"
                + (f"; {out['responses']:,} responses" if "responses" in out else ""),
            )
        t0 = time.perf_counter()
        page = rpc.surveys.texts(sid, "q8", {"q": "培训"})
        report.add(
            f"surveys: one page of free texts searched over {RESPONSES:,} responses",
            "ms",
            round((time.perf_counter() - t0) * 1000, 1),
            note=f"{page['total']:,} matches; a scan of the survey's text answers (texts_<survey>)",
        )
        client.close()


def survey_groups(survey_id: str) -> list[tuple[str, str | None]]:
    client = make_client(MONGO_URI)
    doc = client[f"{PREFIX}surveys"].surveys.find_one({"_id": survey_id})
    client.close()
    departments = [(d["union_id"], d["key"]) for d in doc["groups"]["departments"]]
    return departments or [(u["key"], None) for u in doc["groups"]["unions"]]


def run(report: Report) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    drop(PREFIX)
    with tempfile.TemporaryDirectory() as tmp:
        content = members_csv(os.path.join(tmp, "members.csv"))
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
        env = {"MONGO_URI": MONGO_URI, **SECRETS}
        try:
            with running_stack(
                PREFIX, os.path.join(tmp, "services.log"), env, services=["members", "surveys", "gateway"]
            ) as stack:
                config = {**load_config(), "AMQP_URI": stack.env["AMQP_URI"]}
                system = issue_token(auth_secret(SECRETS), service_actor("bench"), 7200)
                with ClusterRpcProxy(config, context_data={"auth_token": system}, timeout=600) as rpc:
                    demo.load_structure(rpc, random.Random(demo.SEED))
                    job = rpc.members.start_import(
                        {"filename": "members.csv", "content_b64": base64.b64encode(content).decode()}
                    )
                    while rpc.members.get_import(job["id"])["status"] in ("queued", "running"):
                        time.sleep(1)
                answers_part(config, report, rows)
                results_part(config, report)
        finally:
            drop(PREFIX)


if __name__ == "__main__":
    run(Report())
