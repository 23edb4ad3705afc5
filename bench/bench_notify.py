"""Notification fan-out: a Worker Home evaluation campaign opens for 100,000 members and notify renders
and stores one inbox message per member (in the member's language) and queues the e-mail of the 1 % who
opted in, over the real stack (members, voting, notify) on a private vhost and the ``bench_notify_``
databases. Prints messages rendered and queued per second and notify's peak memory.

Set-up (not measured): the demo's union tree, 100,000 generated members imported through
``members.start_import`` (the import file has no language column: all render in Chinese), 1,000 of them opting in to e-mail, a local SMTP sink.
Measured: from ``open_campaign`` to the fan-out's ``done`` in notify's ``fanouts`` record (its own
timing, batch by batch in notify's log)."""

from __future__ import annotations

import base64
import csv
import io
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time

from bench import Report
from dmlib.auth import Actor, auth_secret, issue_token, service_actor
from dmlib.events import event_keys
from dmlib.storage import make_client
from dmtools import demo
from dmtools.config import ROOT, load_config
from dmtools.stack import free_port, procfile, running_stack

MEMBERS = int(os.environ.get("BENCH_NOTIFY_MEMBERS", "100000"))
OPT_IN = MEMBERS // 100
# bench_voting drops every "bench_*" database when it starts and ends; a run beside it may set its own prefix.
PREFIX = os.environ.get("BENCH_NOTIFY_PREFIX", "bench_notify_")
# Generated per run: the services refuse secrets that are written in the repository (dmlib/secrets.py).
SECRETS = {
    **{key: secrets.token_urlsafe(32) for key in ("AUTH_SECRET", "ID_HASH_KEY", "VOTING_KEY")},
    **event_keys([name for name in procfile() if name != "gateway"]),
}
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")


def vm_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def drop(prefix: str) -> None:
    client = make_client(MONGO_URI)
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)
    client.close()


def members_csv(path: str) -> tuple[bytes, list[dict]]:
    """The generated member file (``dm gen-members``, spread over the demo's 16 grassroots unions)."""
    dm = os.path.join(os.path.dirname(sys.executable), "dm")
    subprocess.run(
        [dm, "gen-members", path, "--rows", str(MEMBERS), "--seed", "21", "--prefix", "N"],
        check=True,
        capture_output=True,
    )
    with open(path, "rb") as f:
        content = f.read()
    return content, list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def run(report: Report) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    drop(PREFIX)
    with tempfile.TemporaryDirectory() as tmp:
        content, rows = members_csv(os.path.join(tmp, "members.csv"))
        smtp_port = free_port()
        sink = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.notify.devsinks",
                "smtp",
                str(smtp_port),
                os.path.join(tmp, "mail.jsonl"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        sink.stdout.readline()
        env = {"MONGO_URI": MONGO_URI, **SECRETS}
        extra = {"SMTP_URI": f"smtp://127.0.0.1:{smtp_port}", "NOTIFY_HOURLY_LIMIT": "0", "LOG_LEVEL": "INFO"}
        log_path = os.path.join(tmp, "services.log")
        try:
            with running_stack(
                PREFIX, log_path, env, services=["members", "voting", "notify", "gateway"], extra_env=extra
            ) as stack:
                config = {**load_config(), "AMQP_URI": stack.env["AMQP_URI"]}
                system = issue_token(auth_secret(SECRETS), service_actor("bench"), 7200)
                with ClusterRpcProxy(config, context_data={"auth_token": system}, timeout=600) as rpc:
                    demo.load_structure(rpc, random.Random(demo.SEED))
                    t0 = time.perf_counter()
                    job = rpc.members.start_import(
                        {"filename": "members.csv", "content_b64": base64.b64encode(content).decode()}
                    )
                    while rpc.members.get_import(job["id"])["status"] in ("queued", "running"):
                        time.sleep(1)
                    imported = rpc.members.get_import(job["id"])
                    print(
                        f"  set-up: {imported['inserted']:,} members imported in {time.perf_counter() - t0:.0f} s"
                    )
                    by_id = {r["member_no"]: r for r in rows}
                    opted = random.Random(5).sample(sorted(by_id), OPT_IN)
                    for member_no in opted:
                        actor = Actor(member_id=member_no, name="", union_id=by_id[member_no]["union_id"])
                        token = issue_token(auth_secret(SECRETS), actor, 600)
                        with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=60) as mine:
                            mine.notify.set_prefs({"channels": {"evaluations": ["email"]}})
                        if member_no == opted[19]:
                            break  # one proxy per member is slow: the rest are written in one go below
                    client = make_client(MONGO_URI)
                    prefs = client[f"{PREFIX}notify"].prefs
                    prefs.insert_many(
                        [
                            {"_id": m, "channels": {"evaluations": ["email"]}, "digest": "immediate"}
                            for m in opted[20:]
                        ]
                    )
                    campaign = rpc.voting.create_campaign(
                        {
                            "title": "2026年度星级职工之家评选（基准）",
                            "union_id": demo.FEDERATION[0],
                            "year": 2026,
                        }
                    )
                    notify_pid = stack.procs["notify"].pid
                    before = vm_hwm_mib(notify_pid)
                    started = time.perf_counter()
                    rpc.voting.open_campaign(campaign["id"])
                    fanouts = client[f"{PREFIX}notify"].fanouts
                    while True:
                        doc = fanouts.find_one({"kind": "campaign_opened"})
                        if doc and doc.get("state") == "done":
                            break
                        if time.perf_counter() - started > 1800:
                            raise RuntimeError("fan-out did not finish in 30 min\n" + stack.log_tail())
                        time.sleep(0.5)
                    wall = time.perf_counter() - started
                    messages = doc["inbox"] + doc["push"]
                    report.add(
                        f"notify fan-out, campaign opened to {doc['members']:,} members: messages rendered and "
                        "stored/queued",
                        "messages/s",
                        round(messages / doc["seconds"], 1),
                        target="≥ 2,000",
                        note=f"{doc['inbox']:,} inbox + {doc['push']:,} e-mail ({doc['queued']:,} queued) in "
                        f"{doc['seconds']:.1f} s, {doc['batches']} batches; {wall:.1f} s from open_campaign",
                    )
                    report.add(
                        "notify peak memory during the fan-out",
                        "MiB",
                        round(vm_hwm_mib(notify_pid), 1),
                        note=f"{before:.0f} MiB before",
                    )
                    sent_by = time.perf_counter() + 180
                    outbox = client[f"{PREFIX}notify"].outbox

                    def finished() -> tuple[int, int]:
                        return (
                            outbox.count_documents({"status": "sent"}),
                            outbox.count_documents({"status": "skipped"}),
                        )

                    while sum(finished()) < doc["queued"] and time.perf_counter() < sent_by:
                        time.sleep(1)
                    sent, skipped = finished()
                    report.add(
                        "e-mails of the fan-out delivered to the local SMTP server",
                        "messages",
                        f"{sent:,} sent + {skipped:,} without address, of {doc['queued']:,}",
                        note=f"{time.perf_counter() - started:.0f} s after open_campaign",
                    )
                    client.close()
                    lines = [line for line in open(log_path) if "fan-out campaign_opened" in line]
                    print(
                        f"  notify log: {len(lines)} progress lines, last: {lines[-1].strip() if lines else '—'}"
                    )
        finally:
            sink.terminate()
            drop(PREFIX)


if __name__ == "__main__":
    r = Report()
    run(r)
