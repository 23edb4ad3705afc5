"""The congress demo part (dmtools/demo_congress.py) against the real services: 120 delegates in 6
delegations, a session with 85 present and three resolutions of which one fails, a planned session with
an election item linked to its election (electorate: the delegates present at that session)."""

import base64
import random
import time

import pytest

from dmtools import demo_congress
from services.congress.service import CongressService
from services.elections.service import ElectionsService
from services.members.service import MembersService
from services.voting.service import VotingService
from tests.helpers import SYSTEM, valid_ids, wait_until

pytestmark = pytest.mark.integration


def test_demo_part(container_factory, config, rpc_as, capsys):
    for cls in (MembersService, VotingService, CongressService, ElectionsService):
        container_factory(cls, config).start()
    with rpc_as(SYSTEM, timeout=60) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "北京经济技术开发区总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "u01", "name": "亦庄精密机械制造有限公司工会", "kind": "grassroots", "parent_id": "ftu"}
        )
        ids = valid_ids(301)
        rows = "".join(f"M01{i:05d},职工{i},u01,{ids[i]}\n" for i in range(1, 301))
        job = rpc.members.start_import(
            {
                "filename": "u01.csv",
                "content_b64": base64.b64encode(
                    f"member_no,name,union_id,national_id\n{rows}".encode()
                ).decode(),
            }
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 30)
        started = time.monotonic()
        figures = demo_congress.load(rpc, random.Random("20180501-congress"), config)
        elapsed = time.monotonic() - started
        sessions = rpc.congress.list_sessions("cg-u01")
        term = rpc.congress.get_term("cg-u01-t3")
    with capsys.disabled():
        print(f"\n[congress demo part] {figures} in {elapsed:.1f} s")
    assert (figures["delegates"], figures["present"], figures["adopted"], figures["failed"]) == (
        120,
        85,
        2,
        1,
    )
    assert [d["delegate_count"] for d in term["delegations"]] == [20] * 6 and not term["managers_over_limit"]
    planned, held = sessions
    assert (planned["state"], planned["present_count"]) == ("planned", 0)
    election_item = planned["items"][-1]  # run among the delegates present at that session (issue 14)
    assert (election_item["kind"], election_item["election_id"]) == ("election", figures["session_election"])
    resolution = planned["items"][1]  # what delegates read beforehand (issue 16)
    assert resolution["place"] == "行政楼三楼礼堂" and resolution["starts_at"].startswith("2026-12-04T07:00")
    assert "随迁职工" in resolution["description"]
    assert (held["state"], held["due_count"], held["present_count"]) == ("closed", 120, 85)
    votes = [
        (i["state"], i["outcome"]["yes"], i["outcome"]["ballots"]) for i in held["items"] if i.get("outcome")
    ]
    assert votes == [("adopted", 72, 85), ("adopted", 66, 85), ("failed", 52, 85)]
