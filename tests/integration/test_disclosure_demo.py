"""The disclosure demo part (dmtools/demo_disclosure.py) against the real services, on four small
unions: a year of items with reads and questions, one correction and one withdrawal per union, and read
rates that match the receipts."""

import base64
import random
import time

import pytest

from dmtools import demo_disclosure
from services.disclosure.service import DisclosureService
from services.members.service import MembersService
from tests.helpers import SYSTEM, union_admin, valid_ids, wait_until

pytestmark = pytest.mark.integration
PER_UNION = 60


def test_demo_part(runner_factory, config, rpc_as, db, capsys):
    runner_factory(config, MembersService, DisclosureService).start()
    ids = iter(valid_ids(PER_UNION * len(demo_disclosure.UNIONS) + 1)[1:])
    with rpc_as(SYSTEM, timeout=60) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "北京经济技术开发区总工会", "kind": "federation"})
        rows = ""
        for u in demo_disclosure.UNIONS:
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "ftu"}
            )
            rpc.members.create_department({"id": f"{u}-d1", "union_id": u, "name": "生产部"})
            rows += "".join(
                f"M{u[1:]}{i:05d},职工{i},{u},生产部,{next(ids)}\n" for i in range(1, PER_UNION + 1)
            )
        job = rpc.members.start_import(
            {
                "filename": "demo.csv",
                "content_b64": base64.b64encode(
                    f"member_no,name,union_id,department,national_id\n{rows}".encode()
                ).decode(),
            }
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 30)
        started = time.monotonic()
        figures = demo_disclosure.load(rpc, random.Random("20180501-disclosure"), config)
        elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[disclosure demo part] {figures} in {elapsed:.1f} s")
    assert 80 <= figures["items"] <= 120 and figures["corrected"] == figures["withdrawn"] == 4
    assert figures["questions"] > 20
    assert figures["reads"] == db("disclosure").receipts.count_documents({})
    with rpc_as(union_admin("u08", "M0800001")) as rpc:
        reads = rpc.disclosure.union_reads("u08")
        desk = rpc.disclosure.open_questions("u08")
        first = reads["items"][0]
        assert first["read"] == db("disclosure").receipts.count_documents({"item_id": first["id"]})
        assert rpc.disclosure.recount_reads(first["id"])["receipts"] == first["read"]
    dates = [i["published_at"] for i in reads["items"]]
    assert dates == sorted(dates, reverse=True) and dates[0] > dates[-1][:4]  # newest first, a year apart
    assert {i["category"] for i in reads["items"]} == set(demo_disclosure.QUESTIONS)
    assert sum(1 for i in reads["items"] if i["revision"] == 2) == 1
    assert sum(1 for i in reads["items"] if i["status"] == "withdrawn") == 1
    assert all(q["status"] == "open" for q in desk)
