"""A member import interrupted mid-way (the members service killed after some batches) completes after a
restart with every valid row exactly once: members, rosters, counts, bad rows, the audit entries."""

import base64
from collections import Counter

import pytest

from services.members.service import MembersService
from tests.helpers import SYSTEM, union_admin, valid_ids, wait_until

pytestmark = pytest.mark.integration

VALID = 6000


def _file() -> tuple[str, int]:
    """6,000 valid rows over u01 and u02, a row already registered, 30 repeated member numbers and 30
    rows of an unknown union (61 bad rows), spread over the file."""
    ids = valid_ids(VALID + 31)
    rows, bad = ["member_no,name,union_id,national_id,phone"], 0
    for i in range(VALID):
        rows.append(f"R{i:05d},会员{i},{'u01' if i % 3 else 'u02'},{ids[i]},139{i:08d}")
        if i % 200 == 100:
            rows.append(f"R{i:05d},重复{i},u01,{ids[VALID + i // 200]},")  # repeats row i's number
            rows.append(f"X{i:05d},无会{i},u99,{ids[VALID + 30]},")  # no such union
            bad += 2
    rows.append(f"R99999,已登记,u01,{ids[VALID + 30]},")  # its resident ID is taken (registered below)
    return "\n".join(rows) + "\n", bad + 1


def test_an_import_killed_midway_completes_after_restart_with_each_row_once(
    container_factory, config, rpc_as, db
):
    config = {**config, "IMPORT_LEASE_SECONDS": 2}
    first = container_factory(MembersService, config)
    first.start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "园区", "kind": "street", "parent_id": "ftu"})
        for u in ("u01", "u02"):
            rpc.members.create_union({"id": u, "name": u, "kind": "grassroots", "parent_id": "area"})
    content, bad = _file()
    with rpc_as(union_admin("area")) as rpc:
        rpc.members.register_member(
            {
                "member_no": "E0000001",
                "name": "已登记",
                "union_id": "u01",
                "national_id": valid_ids(VALID + 31)[-1],
            }
        )
        job = rpc.members.start_import(
            {"filename": "big.csv", "content_b64": base64.b64encode(content.encode()).decode()}
        )
    jobs = db("members").import_jobs
    wait_until(lambda: (jobs.find_one({"_id": job["id"]}) or {}).get("next_batch", 0) >= 2, 60, 0.01)
    first.kill()  # mid-import: between any two of a batch's writes
    interrupted = jobs.find_one({"_id": job["id"]})
    assert interrupted["status"] == "running" and interrupted["processed"] < VALID + bad

    container_factory(MembersService, config).start()  # its resume timer takes the job once the lease ends
    with rpc_as(union_admin("area")) as rpc:
        done = wait_until(lambda: (j := rpc.members.get_import(job["id"]))["status"] == "done" and j, 120)
        errors = [e for p in range(1, 8) for e in rpc.members.import_errors(job["id"], p)["items"]]
        listed = rpc.members.list_members({"union_id": "area", "include_below": True, "per_page": 200})

    assert (done["processed"], done["inserted"], done["failed"]) == (VALID + bad, VALID, bad)
    stored = db("members").members
    assert stored.count_documents({"import_job": job["id"]}) == VALID
    assert len(errors) == bad and len({e["row"] for e in errors}) == bad
    reasons = Counter(e["field"] for e in errors)
    assert reasons == {"member_no": 30, "union_id": 30, "national_id": 1}
    # rosters and counts hold each member once
    for union_id in ("u01", "u02"):
        union = db("members").unions.find_one({"_id": union_id})
        entries = [
            e["i"]
            for c in db("members").rosters.find({"_id": {"$regex": f"^{union_id}:"}})
            for e in c["entries"]
        ]
        in_union = stored.count_documents({"union_id": union_id})
        assert union["member_count"] == len(entries) == len(set(entries)) == in_union
    assert listed["total"] == VALID + 1
    # the search keys hold each member once too (a batch cut by the kill was not added twice)
    keyed = [
        e["i"]
        for c in db("members").search_chunks.find({"_id": {"$regex": "^n:会员:"}})
        for e in c["entries"]
    ]
    assert db("members").search_keys.find_one({"_id": "n:会员"})["count"] == len(keyed) == len(set(keyed))
    assert set(keyed) == {f"R{i:05d}" for i in range(VALID)}
    assert db("members").search_keys.find_one({"_id": "p:13900000042"})["count"] == 1
    # the job is finished: no file, no marker, no password hash kept; its events went out
    assert db("members").import_files.count_documents({}) == 0
    assert db("members").import_due.count_documents({}) == 0
    final = wait_until(lambda: (j := jobs.find_one({"_id": job["id"]})) and not j.get("outbox") and j)
    assert final.get("password_hash") is None and final["lease_until"] is None
