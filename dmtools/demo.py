"""The demo scenario (fixed seed, so every machine gets the same data).

One district federation (北京经济技术开发区总工会, the seed articles' federation) with three
area federations and 16 grassroots unions, each with its Worker Home and 2-5 departments; about
12,000 members with realistic Chinese names; a union admin for each union and a superior admin for the
federation. Each later capability adds its part as a module ``dmtools/demo_<capability>.py`` with
``load(rpc, rng) -> dict`` (figures to print) and lists it in :data:`PARTS`, in dependency order.
"""

from __future__ import annotations

import base64
import csv
import importlib
import io
import random
import time
from collections.abc import Iterator

from tqdm import tqdm

from .names import mobile, person, resident_id, unique_resident_id

SEED = 20180501
DEMO_PASSWORD = "demo1234"
MEMBERS_TOTAL = 12000
FEDERATION = ("ftu", "北京经济技术开发区总工会")
AREAS = [
    ("area-core", "核心区工会联合会"),
    ("area-west", "河西区工会联合会"),
    ("area-east", "路东区工会联合会"),
]
GRASSROOTS = [
    ("u01", "亦庄精密机械制造有限公司工会", "area-core"),
    ("u02", "京南生物医药股份有限公司工会", "area-core"),
    ("u03", "经开汽车零部件有限公司工会", "area-core"),
    ("u04", "北方光电显示科技有限公司工会", "area-core"),
    ("u05", "博瑞集成电路有限公司工会", "area-core"),
    ("u06", "康泰医疗器械有限公司工会", "area-west"),
    ("u07", "鑫源新材料科技有限公司工会", "area-west"),
    ("u08", "华冠食品饮料有限公司工会", "area-west"),
    ("u09", "瑞达物流供应链有限公司工会", "area-west"),
    ("u10", "中科智能装备有限公司工会", "area-west"),
    ("u11", "天和电子信息有限公司工会", "area-east"),
    ("u12", "金桥印刷包装有限公司工会", "area-east"),
    ("u13", "恒远建设工程有限公司工会", "area-east"),
    ("u14", "润泽水务有限公司工会", "area-east"),
    ("u15", "星河软件园服务有限公司工会", "area-east"),
    ("u16", "同创机器人科技有限公司工会", "area-east"),
]
DEPARTMENTS = [
    "生产部",
    "技术研发部",
    "质量管理部",
    "安全环保部",
    "人力资源部",
    "财务部",
    "后勤保障部",
    "市场销售部",
    "行政办公室",
]
SUPERIOR_ADMIN = "ftu-admin"


def union_sizes(rng: random.Random, total: int = MEMBERS_TOTAL) -> list[int]:
    """Members per grassroots union: uneven (a few large plants, many mid-sized firms), summing to total."""
    weights = [rng.uniform(0.4, 2.2) for _ in GRASSROOTS]
    sizes = [int(total * w / sum(weights)) for w in weights]
    sizes[0] += total - sum(sizes)
    return sizes


def departments_of(rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """union id → [(department id, name)], 2-5 per union."""
    out = {}
    for union_id, _, _ in GRASSROOTS:
        names = rng.sample(DEPARTMENTS, rng.randint(2, 5))
        out[union_id] = [(f"{union_id}-d{i + 1}", n) for i, n in enumerate(names)]
    return out


def member_rows(
    rng: random.Random,
    plan: list[tuple[str, int, list[str]]],
    prefix: str = "M",
    unique_region: str | None = None,
) -> Iterator[list[str]]:
    """CSV rows (without header) for ``plan`` = [(union id, count, department names)]; unique member
    numbers and resident IDs (random ones for the demo; with ``unique_region``, IDs derived from the row
    index in that region, so that generated files never collide with each other or the demo)."""
    seen_ids: set[str] = set()
    counter = 0
    for u_index, (union_id, count, deps) in enumerate(plan, start=1):
        for seq in range(1, count + 1):
            name, gender = person(rng)
            if unique_region:
                nid = unique_resident_id(counter, gender, unique_region)
                counter += 1
            else:
                nid = resident_id(rng, gender)
                while nid in seen_ids:
                    nid = resident_id(rng, gender)
                seen_ids.add(nid)
            no = f"{prefix}{u_index:02d}{seq:05d}"
            yield [
                no,
                name,
                union_id,
                rng.choice(deps) if deps else "",
                mobile(rng),
                f"{no.lower()}@example.cn" if rng.random() < 0.3 else "",
                nid,
                gender,
            ]


HEADER = ["member_no", "name", "union_id", "department", "phone", "email", "national_id", "gender"]


def to_csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def admin_login(union_id: str) -> str:
    return f"admin{union_id[1:]}"


def logins() -> str:
    lines = [
        "  Demo logins (password for all: demo1234):",
        f"    superior admin of {FEDERATION[1]}:  {SUPERIOR_ADMIN}",
        f"    union admin of {GRASSROOTS[0][1]}:  {admin_login(GRASSROOTS[0][0])}   (admin01 … admin16, one per union)",
        "    any member: their member number, e.g. M0100002",
    ]
    return "\n".join(lines)


def wait_import(rpc, job_id: str, total: int, label: str) -> dict:
    with tqdm(total=total, desc=label, unit="row") as bar:
        while True:
            job = rpc.members.get_import(job_id)
            bar.update(job["processed"] - bar.n)
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(0.3)


def load_structure(rpc, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """The union tree (federation, areas, 16 grassroots unions with Worker Homes) and the departments,
    without members. Returns the departments per union. Used by the demo and the benchmarks."""
    rpc.members.create_union({"id": FEDERATION[0], "name": FEDERATION[1], "kind": "federation"})
    for area_id, area_name in AREAS:
        rpc.members.create_union(
            {"id": area_id, "name": area_name, "kind": "street", "parent_id": FEDERATION[0]}
        )
    deps = departments_of(rng)
    for union_id, name, area in GRASSROOTS:
        rpc.members.create_union({"id": union_id, "name": name, "kind": "grassroots", "parent_id": area})
        for dep_id, dep_name in deps[union_id]:
            rpc.members.create_department({"id": dep_id, "union_id": union_id, "name": dep_name})
    return deps


def load(rpc, quiet: bool = False) -> dict:
    """Load the demo scenario through the services' RPC interfaces (as the operator)."""
    rng = random.Random(SEED)
    deps = load_structure(rpc, rng)
    sizes = union_sizes(rng)
    plan = [(u[0], n, [d[1] for d in deps[u[0]]]) for u, n in zip(GRASSROOTS, sizes, strict=True)]
    content = to_csv(member_rows(rng, plan))
    job = rpc.members.start_import(
        {
            "filename": "demo-members.csv",
            "content_b64": base64.b64encode(content).decode(),
            "initial_password": DEMO_PASSWORD,
        }
    )
    job = wait_import(rpc, job["id"], sum(sizes), "demo members")
    if job["failed"]:
        raise RuntimeError(f"demo import reported bad rows: {job['errors_sample'][:3]}")
    for index, (union_id, _, _) in enumerate(GRASSROOTS, start=1):
        admin = f"M{index:02d}00001"
        rpc.members.grant_role({"member_id": admin, "role": "union_admin", "scope": union_id})
        rpc.members.set_password(
            {"member_id": admin, "login": admin_login(union_id), "new_password": DEMO_PASSWORD}
        )
        # the first department of each union handles proposals: its head gets the handler role
        rpc.members.grant_role(
            {"member_id": f"M{index:02d}00002", "role": "handler", "scope": deps[union_id][0][0]}
        )
    rpc.members.grant_role({"member_id": "M0100003", "role": "superior_admin", "scope": FEDERATION[0]})
    rpc.members.set_password(
        {"member_id": "M0100003", "login": SUPERIOR_ADMIN, "new_password": DEMO_PASSWORD}
    )
    figures = {"unions": 1 + len(AREAS) + len(GRASSROOTS), "members": job["inserted"]}
    for name in PARTS:
        part = importlib.import_module(f"dmtools.demo_{name}")
        figures[name] = part.load(rpc, random.Random(f"{SEED}-{name}"))
    return figures


#: The capabilities' demo parts, loaded in this order after the member registry (dmtools/demo_<name>.py).
PARTS: list[str] = ["congress", "proposals", "evaluations", "disclosure", "notify", "surveys"]


def is_empty(rpc) -> bool:
    return not rpc.members.union_tree()
