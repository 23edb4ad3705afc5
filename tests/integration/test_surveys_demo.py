"""The surveys demo part (dmtools/demo_surveys.py) against the real services on a small federation: a
职工需求调查 opened over every union, answers at the demo's distributions, results equal to a recount of
the stored responses, skip logic respected, and every department shown with at least 5 responses."""

import base64
import random
import time

import pytest

from dmtools import demo_surveys
from services.members.service import MembersService
from services.surveys.service import SurveysService
from tests.helpers import SYSTEM, member, valid_ids, wait_until

pytestmark = pytest.mark.integration
UNIONS = ["u01", "u02", "u03"]
PER_UNION = 60


def test_demo_part(runner_factory, config, rpc_as, db, capsys):
    runner_factory(config, MembersService, SurveysService).start()
    ids = iter(valid_ids(PER_UNION * len(UNIONS) + 1)[1:])
    with rpc_as(SYSTEM, timeout=60) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "北京经济技术开发区总工会", "kind": "federation"})
        rows = ""
        for u in UNIONS:
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "ftu"}
            )
            for d, name in (("d1", "生产部"), ("d2", "财务部")):
                rpc.members.create_department({"id": f"{u}-{d}", "union_id": u, "name": name})
            rows += "".join(
                f"M{u[1:]}{i:05d},职工{i},{u},{'生产部' if i % 10 else '财务部'},{next(ids)}\n"
                for i in range(1, PER_UNION + 1)
            )
        csv = f"member_no,name,union_id,department,national_id\n{rows}".encode()
        job = rpc.members.start_import(
            {"filename": "demo.csv", "content_b64": base64.b64encode(csv).decode()}
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 30)
        started = time.monotonic()
        figures = demo_surveys.load(rpc, random.Random("20180501-surveys"), config, target=90)
        elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[surveys demo part] {figures} in {elapsed:.1f} s")
    sid = figures["survey"]
    assert figures["eligible"] == PER_UNION * len(UNIONS)
    assert 45 <= figures["answers"] <= 135
    stored = list(db("surveys")[f"responses_{sid}"].find({}))
    assert len(stored) == figures["answers"]
    assert all("member_id" not in r for r in stored)
    # the skip logic: training wishes only from those who asked for training
    assert all(("q5" in r["a"]) == ("o3" in r["a"]["q4"]) for r in stored)
    superior = member("M0100003", "ftu", ("superior_admin", "ftu"))
    with rpc_as(superior) as rpc:
        results = rpc.surveys.results(sid)
        tab = rpc.surveys.crosstab(sid, "q7", {"by": "department"})
        assert rpc.surveys.recount(sid)["drifted"] is False
        part = rpc.surveys.participation(sid)
    by_q = {q["id"]: q for q in results["questions"]}
    assert results["responses"] == len(stored)
    assert [c["count"] for c in by_q["q1"]["counts"]] == [
        sum(r["a"]["q1"] == o for r in stored) for o in ("o1", "o2", "o3", "o4")
    ]
    assert by_q["q5"]["answered"] == sum("q5" in r["a"] for r in stored)
    assert all(g["responses"] >= 5 for g in tab["groups"])
    assert sum(g["responses"] for g in tab["groups"]) == len(stored)
    assert part["drafts"] == figures["drafts"]
