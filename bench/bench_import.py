"""Member import: a generated 100,000-row CSV through the HTTP API with the ``dm import`` client (the
same path as the web page), on its own vhost and databases. Prints rows/s and peak memory.

Also imports a 10,000-row file with every 50th row bad and checks that every good row was kept and
every bad one reported (figures, not assertions: a mismatch is printed as such)."""

from __future__ import annotations

import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time

from bench import Report, peak_rss_mib
from dmlib.auth import auth_secret, issue_token, service_actor
from dmlib.events import event_keys
from dmlib.storage import make_client
from dmtools import demo
from dmtools.config import ROOT, load_config
from dmtools.stack import procfile, running_stack

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
PREFIX = "bench_import_"
# Generated per run: the services refuse secrets that are written in the repository (dmlib/secrets.py).
SECRETS = {
    **{key: secrets.token_urlsafe(32) for key in ("AUTH_SECRET", "ID_HASH_KEY", "VOTING_KEY")},
    **event_keys([name for name in procfile() if name != "gateway"]),
}


def vm_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def drop(prefix: str) -> None:
    client = make_client(os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"))
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)
    client.close()


def prepare(stack) -> None:
    """The demo's union tree and departments, and one superior admin to import with."""
    from nameko.standalone.rpc import ClusterRpcProxy

    config = {**load_config(), "AMQP_URI": stack.env["AMQP_URI"]}
    token = issue_token(auth_secret(SECRETS), service_actor("bench"), 3600)
    with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=60) as rpc:
        demo.load_structure(rpc, random.Random(demo.SEED))
        rpc.members.register_member(
            {
                "member_no": "BENCH0001",
                "name": "基准管理员",
                "union_id": "u01",
                "national_id": "110115198001010019",
            }
        )
        rpc.members.grant_role(
            {"member_id": "BENCH0001", "role": "superior_admin", "scope": demo.FEDERATION[0]}
        )
        rpc.members.set_password(
            {"member_id": "BENCH0001", "login": "bench-admin", "new_password": "bench-password"}
        )


def dm_import(stack, path: str) -> tuple[float, str]:
    dm = os.path.join(os.path.dirname(sys.executable), "dm")
    started = time.perf_counter()
    out = subprocess.run(
        [dm, "import", path, "--url", stack.url, "--login", "bench-admin", "--password", "bench-password"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    return elapsed, out.stdout


def run(report: Report) -> None:
    drop(PREFIX)
    dm = os.path.join(os.path.dirname(sys.executable), "dm")
    with tempfile.TemporaryDirectory() as tmp:
        big, mixed = os.path.join(tmp, "members-100k.csv"), os.path.join(tmp, "members-mixed.csv")
        subprocess.run(
            [dm, "gen-members", big, "--rows", str(ROWS), "--seed", "11", "--prefix", "B"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                dm,
                "gen-members",
                mixed,
                "--rows",
                "10000",
                "--bad-every",
                "50",
                "--seed",
                "12",
                "--prefix",
                "X",
            ],
            check=True,
            capture_output=True,
        )
        size_mib = os.path.getsize(big) / 2**20
        env = {"MONGO_URI": os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"), **SECRETS}
        try:
            with running_stack(
                PREFIX, os.path.join(tmp, "services.log"), env, services=["members", "gateway"]
            ) as stack:
                prepare(stack)
                members_pid = stack.procs["members"].pid
                before = vm_hwm_mib(members_pid)
                seconds, out = dm_import(stack, big)
                summary = out.strip().splitlines()
                done = next(line for line in summary if line.startswith("done"))
                inserted = int(re.search(r"(\d+) imported", done).group(1))
                report.add(
                    f"member import, {ROWS:,} rows CSV ({size_mib:.1f} MiB), end to end through HTTP",
                    "rows/s",
                    round(ROWS / seconds, 1),
                    target="—",
                    note=f"{seconds:.1f} s; {inserted:,} imported",
                )
                report.add(
                    "members service peak memory during the import",
                    "MiB",
                    round(vm_hwm_mib(members_pid), 1),
                    note=f"{before:.0f} MiB before",
                )
                seconds, out = dm_import(stack, mixed)
                done = next(line for line in out.splitlines() if line.startswith("done"))
                got = tuple(
                    int(x)
                    for x in re.search(r"(\d+) rows read, (\d+) imported, (\d+) bad rows", done).groups()
                )
                expected = (10000, 10000 - 10000 // 50, 10000 // 50)
                report.add(
                    "mixed file, every 50th row bad: read / imported / reported",
                    "rows",
                    " / ".join(map(str, got)),
                    target=" / ".join(map(str, expected)),
                    note="matches" if got == expected else "MISMATCH",
                )
        finally:
            drop(PREFIX)
    report.add("dm import client peak memory", "MiB", round(peak_rss_mib(children=True), 1))
