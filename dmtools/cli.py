"""``dm``: operator commands.

dm wait [--timeout S]                   wait until the gateway and every service answer
dm demo [--if-empty] [--logins]         load the demo scenario (or print the demo logins)
dm import FILE [--url U --login L --password P --initial-password X]
                                        import a member file through the HTTP API, with a progress bar
dm gen-members OUT --rows N [--bad-every K] [--seed S]
                                        write a member CSV (for load tests), every K-th row bad
dm keys [ENV_FILE]                      the event-signing keys of every service: print a new set, or add
                                        those ENV_FILE lacks to it (keeping its keys; make run does this)
dm audit-verify [--union U]             verify the audit log's hash chains (every union, or U's) and
                                        print the first broken link of each; exit 1 if one is broken
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

import requests
from tqdm import tqdm


def procfile_services() -> list[str]:
    """The nameko services started by the Procfile (the one list of services), gateway excluded."""
    from .stack import procfile

    return [name for name in procfile() if name != "gateway"]


def cmd_wait(args) -> int:
    from .config import load_config, system_rpc

    config = load_config()
    url = f"http://{config['WEB_SERVER_ADDRESS']}/healthz"
    deadline = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < deadline:
        if args.pid_file and not _alive(args.pid_file):
            print("[wait] the services exited; see .local/logs/services.log", file=sys.stderr)
            return 1
        try:
            requests.get(url, timeout=2).raise_for_status()
            with system_rpc(config, timeout=3) as rpc:
                for name in args.services.split(",") if args.services else procfile_services():
                    if name == "gateway":
                        continue
                    getattr(rpc, name).health()
            print("[wait] gateway and services answer")
            return 0
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
            time.sleep(0.5)
    print(f"[wait] not ready after {args.timeout} s: {last!r}", file=sys.stderr)
    return 1


def cmd_health(args) -> int:
    """Exit 0 if ``args.service`` answers its health RPC (docker healthchecks)."""
    from .config import load_config, system_rpc

    try:
        with system_rpc(load_config(), timeout=5) as rpc:
            getattr(rpc, args.service).health()
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"{args.service}: {exc!r}", file=sys.stderr)
        return 1
    return 0


def _alive(pid_file: str) -> bool:
    try:
        with open(pid_file) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def cmd_demo(args) -> int:
    from . import demo
    from .config import system_rpc

    if args.logins:
        print(demo.logins())
        return 0
    with system_rpc() as rpc:
        if args.if_empty and not demo.is_empty(rpc):
            print("[demo] data present, not loading")
            return 0
        started = time.monotonic()
        figures = demo.load(rpc)
    print(f"[demo] loaded {figures} in {time.monotonic() - started:.1f} s")
    return 0


def cmd_import(args) -> int:
    session = requests.Session()
    r = session.post(
        f"{args.url}/api/v1/auth/login", json={"login": args.login, "password": args.password}, timeout=30
    )
    if r.status_code != 200:
        print(f"login failed: {r.status_code} {r.text}", file=sys.stderr)
        return 1
    session.headers["Authorization"] = f"Bearer {r.json()['token']}"
    with open(args.file, "rb") as f:
        data = {"initial_password": args.initial_password} if args.initial_password else {}
        r = session.post(
            f"{args.url}/api/v1/imports",
            files={"file": (os.path.basename(args.file), f)},
            data=data,
            timeout=300,
        )
    if r.status_code != 202:
        print(f"import refused: {r.status_code} {r.text}", file=sys.stderr)
        return 1
    job = r.json()
    started = time.monotonic()
    with tqdm(desc=os.path.basename(args.file), unit="row", total=job.get("total")) as bar:
        while job["status"] in ("queued", "running"):
            time.sleep(0.3)
            job = session.get(f"{args.url}/api/v1/imports/{job['id']}", timeout=30).json()
            bar.update(job["processed"] - bar.n)
    elapsed = time.monotonic() - started
    print(
        f"{job['status']}: {job['processed']} rows read, {job['inserted']} imported, {job['failed']} bad rows, "
        f"{elapsed:.1f} s ({job['processed'] / max(elapsed, 1e-9):.0f} rows/s end to end)"
    )
    for e in job["errors_sample"]:
        print(f"  row {e['row']}: {e.get('field') or ''} {e['reason']}")
    if job["failed"] > len(job["errors_sample"]):
        print(f"  … all bad rows: {args.url}/api/v1/imports/{job['id']}/errors.csv")
    return 0 if job["status"] == "done" else 1


def cmd_gen_members(args) -> int:
    from . import demo

    rng = random.Random(args.seed)
    deps = demo.departments_of(random.Random(demo.SEED))  # the demo's departments
    per_union, extra = divmod(args.rows, len(demo.GRASSROOTS))
    plan = [
        (u[0], per_union + (1 if i < extra else 0), [d[1] for d in deps[u[0]]])
        for i, u in enumerate(demo.GRASSROOTS)
    ]
    # resident IDs unique across generated files: a region code per prefix (the demo uses 110115)
    region = {"G": "110105", "B": "110106", "X": "110107"}.get(args.prefix[:1], "110108")
    rows = demo.member_rows(rng, plan, prefix=args.prefix, unique_region=region)
    bad_kinds = ["check_digit", "unknown_union", "duplicate_no", "missing_name"]
    previous = None
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        import csv

        writer = csv.writer(f)
        writer.writerow(demo.HEADER)
        for i, row in enumerate(rows, start=1):
            if args.bad_every and i % args.bad_every == 0 and previous:
                kind = bad_kinds[(i // args.bad_every) % len(bad_kinds)]
                if kind == "check_digit":
                    row[6] = row[6][:17] + ("0" if row[6][17] != "0" else "1")
                elif kind == "unknown_union":
                    row[2] = "no-such-union"
                elif kind == "duplicate_no":
                    row[0] = previous[0]
                else:
                    row[1] = ""
            writer.writerow(row)
            previous = row
    print(f"wrote {args.rows} rows to {args.out}")
    return 0


def cmd_keys(args) -> int:
    """Event-signing keys (dmlib/events.py) for every service of the Procfile: ``EVENT_KEY_<SERVICE>``
    lines and ``EVENT_PUBLIC_KEYS``. With a file: keep its private keys, add the missing ones, rewrite
    ``EVENT_PUBLIC_KEYS`` from them; the file is written owner-only (it holds every private key)."""
    from dmlib.events import PUBLIC_KEYS_CONFIG, event_keys

    services = procfile_services()
    if not args.env_file:
        for name, value in event_keys(services).items():
            print(f"{name}={value}")
        return 0
    lines: list[str] = []
    existing: dict[str, str] = {}
    if os.path.exists(args.env_file):
        with open(args.env_file) as f:
            lines = f.read().splitlines()
        for line in lines:
            name, sep, value = line.partition("=")
            if sep:
                existing[name.strip()] = value.strip()
    keys = event_keys(services, existing)
    kept = [line for line in lines if line.partition("=")[0].strip() not in keys]
    os.umask(0o077)
    with open(args.env_file, "w") as f:
        f.write("\n".join([*kept, *(f"{name}={value}" for name, value in keys.items())]) + "\n")
    os.chmod(args.env_file, 0o600)
    added = [n for n in keys if n != PUBLIC_KEYS_CONFIG and n not in existing]
    print(f"[keys] {args.env_file}: {len(added)} new event key(s) {' '.join(added)}".rstrip())
    return 0


def cmd_audit_verify(args) -> int:
    """Ask the audit service (as the operator) to verify the chains; print one line per chain with its
    head (sequence number), and the first broken link. Exit 0 if every chain is intact, 1 if not."""
    from .config import load_config, system_rpc

    with system_rpc(load_config(), timeout=args.timeout) as rpc:
        result = rpc.audit.verify_chain({"union_id": args.union} if args.union else {})
    for chain in result["chains"]:
        line = f"{chain['union_id']}: {chain['entries']} entries, head {chain['head_seq']}"
        if chain["ok"]:
            print(f"{line}: ok")
        else:
            b = chain["first_break"]
            print(f"{line}: BROKEN at {b['entry_id']} ({b['kind']}): {b['message']}")
    if not result["chains"]:
        print("no audit entries yet")
    return 0 if result["ok"] else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="dm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--pid-file", help="give up at once when this process has exited")
    p.add_argument("--services", help="comma-separated services to wait for (default: the Procfile's)")
    p.set_defaults(fn=cmd_wait)
    p = sub.add_parser("health")
    p.add_argument("service")
    p.set_defaults(fn=cmd_health)
    p = sub.add_parser("demo")
    p.add_argument("--if-empty", action="store_true")
    p.add_argument("--logins", action="store_true")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("import")
    p.add_argument("file")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--login", default="admin01")
    p.add_argument("--password", default="demo1234")
    p.add_argument("--initial-password")
    p.set_defaults(fn=cmd_import)
    p = sub.add_parser("gen-members")
    p.add_argument("out")
    p.add_argument("--rows", type=int, default=100000)
    p.add_argument("--bad-every", type=int, default=0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--prefix", default="G")
    p.set_defaults(fn=cmd_gen_members)
    p = sub.add_parser("keys")
    p.add_argument("env_file", nargs="?", help="an env file to complete (e.g. .local/secrets.env)")
    p.set_defaults(fn=cmd_keys)
    p = sub.add_parser("audit-verify")
    p.add_argument("--union", help="only this union's chain (default: every union)")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for the whole pass")
    p.set_defaults(fn=cmd_audit_verify)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
