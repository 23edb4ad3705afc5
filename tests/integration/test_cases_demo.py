"""The cases demo part (dmtools/demo_cases.py) against the real members and cases services, at a tenth
of its size: every state, transfers, escalations, one 未诉先办 alert, counters equal to the cases."""

import base64
import random
import time

import pytest

from dmlib.auth import Actor, Grant
from dmtools import demo, demo_cases
from services.cases.service import CasesService
from services.members.service import MembersService
from tests.helpers import SYSTEM, valid_ids, wait_until

pytestmark = pytest.mark.integration
PER_UNION = 12


def test_demo_part(runner_factory, config, rpc_as, db, capsys, monkeypatch):
    monkeypatch.setattr(demo_cases, "TOTAL", 150)
    runner_factory(config, MembersService, CasesService).start()
    ids = iter(valid_ids(PER_UNION * len(demo.GRASSROOTS) + 1)[1:])
    with rpc_as(SYSTEM, timeout=120) as rpc:
        rpc.members.create_union({"id": demo.FEDERATION[0], "name": demo.FEDERATION[1], "kind": "federation"})
        for area, name in demo.AREAS:
            rpc.members.create_union(
                {"id": area, "name": name, "kind": "street", "parent_id": demo.FEDERATION[0]}
            )
        rows = ""
        for index, (u, name, area) in enumerate(demo.GRASSROOTS, start=1):
            rpc.members.create_union({"id": u, "name": name, "kind": "grassroots", "parent_id": area})
            rows += "".join(
                f"M{index:02d}{i:05d},职工{i},{u},,{next(ids)}\n" for i in range(1, PER_UNION + 1)
            )
        job = rpc.members.start_import(
            {
                "filename": "demo.csv",
                "content_b64": base64.b64encode(
                    f"member_no,name,union_id,department,national_id\n{rows}".encode()
                ).decode(),
            }
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 60)
        started = time.monotonic()
        figures = demo_cases.load(rpc, random.Random("20180501-cases"))
        elapsed = time.monotonic() - started
        states = {d["state"] for d in db("cases").cases.find({}, {"state": 1})}
    with capsys.disabled():
        print(f"\n[cases demo part] {figures} in {elapsed:.1f} s")
    assert figures["cases"] == 156  # 150 + the cluster of 6
    assert db("cases").cases.count_documents({}) == 156
    assert {"closed", "in_progress"} <= states
    assert db("cases").cases.count_documents({"round": 2}) >= 1
    superior = Actor("M0100003", "总工会", "u01", (Grant("superior_admin", demo.FEDERATION[0]),))
    with rpc_as(superior) as rpc:
        alerts = rpc.cases.alerts(demo.FEDERATION[0])
        assert [(a["employer_key"], a["category"]) for a in alerts] == [
            (demo_cases.CLUSTER_UNION, "wage_arrears")
        ]
        months = sorted(
            {d["received_at"].strftime("%Y-%m") for d in db("cases").cases.find({}, {"received_at": 1})}
        )
        out = rpc.cases.indicators(
            {"union_id": demo.FEDERATION[0], "from_month": months[0], "to_month": months[-1]}
        )
    assert out["counts"]["received"] == 156
    assert 0.9 < out["rates"]["satisfaction_rate"] <= 1.0
