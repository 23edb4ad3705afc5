"""Member search over the search keys (issue 17) on the real RabbitMQ and FerretDB: the whole federation
and a part of it, by name prefix, exact phone and exact member number, in pages; kept on import and on
registration, rebuilt from the registry; a 1-character search over many members refused."""

import base64

import pytest

from dmlib.errors import BadInput
from services.members import rules
from services.members.service import MembersService
from tests.helpers import SYSTEM, union_admin, valid_ids, wait_until

pytestmark = pytest.mark.integration

#: (member number, name, union, phone) of the imported file: 张伟 + i in u01/u02 (area), 张伟强 + i and
#: 李娜 + i in u03 (area2).
ROWS = (
    [(f"A{i:04d}", f"张伟{i}", "u01" if i % 2 else "u02", f"1390000{i:04d}") for i in range(130)]
    + [(f"B{i:04d}", f"张伟强{i}", "u03", f"1380000{i:04d}") for i in range(40)]
    + [(f"C{i:04d}", f"李娜{i}", "u03", "") for i in range(30)]
)


@pytest.fixture
def federation(container_factory, config, rpc_as, monkeypatch):
    """ftu → area → u01, u02 and ftu → area2 → u03, the 200 members of :data:`ROWS` imported and one
    registered; searches read the search keys over more than 100 members in scope (instead of 5,000):
    ftu (201) and area (131) do, u03 (70) reads its roster."""
    monkeypatch.setattr(rules, "ROSTER_SEARCH_LIMIT", 100)
    container_factory(MembersService, config).start()
    ids = valid_ids(len(ROWS) + 1)
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for area, unions in (("area", ("u01", "u02")), ("area2", ("u03",))):
            rpc.members.create_union({"id": area, "name": area, "kind": "street", "parent_id": "ftu"})
            for u in unions:
                rpc.members.create_union({"id": u, "name": u, "kind": "grassroots", "parent_id": area})
        csv = "member_no,name,union_id,national_id,phone\n" + "".join(
            f"{no},{name},{union},{nid},{phone}\n"
            for (no, name, union, phone), nid in zip(ROWS, ids[:-1], strict=True)
        )
        job = rpc.members.start_import(
            {"filename": "f.csv", "content_b64": base64.b64encode(csv.encode()).decode()}
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 60)
        rpc.members.register_member(
            {
                "member_no": "D0001",
                "name": "Zhang Wei",
                "union_id": "u01",
                "national_id": ids[-1],
                "phone": "13700000001",
            }
        )
    return rpc_as


def search(rpc, q, union="ftu", per_page=50, page=1):
    return rpc.members.list_members(
        {"union_id": union, "include_below": True, "q": q, "per_page": per_page, "page": page}
    )


def every_page(rpc, q, union="ftu", per_page=50):
    first = search(rpc, q, union, per_page)
    items = [m for p in range(1, first["pages"] + 1) for m in search(rpc, q, union, per_page, p)["items"]]
    return first["total"], [m["member_no"] for m in items]


def test_the_whole_federation_by_name_prefix_in_pages(federation):
    with federation(union_admin("ftu")) as rpc:
        total, numbers = every_page(rpc, "张伟", per_page=30)
        longer_total, longer = every_page(rpc, "张伟强", per_page=30)
        one = search(rpc, "张伟", per_page=30, page=2)
    assert total == 170 and len(numbers) == len(set(numbers)) == 170  # 张伟… and 张伟强…, each once
    assert numbers == [no for no, name, _, _ in ROWS if name.startswith("张伟")]  # in import order
    assert longer_total == 40 and longer == [f"B{i:04d}" for i in range(40)]
    assert [m["member_no"] for m in one["items"]] == numbers[30:60] and one["pages"] == 6
    assert all(m["name"].startswith("张伟") for m in one["items"])


def test_a_part_of_the_federation_sees_only_its_own_members(federation):
    with federation(union_admin("area")) as rpc:
        total, numbers = every_page(rpc, "张伟", union="area", per_page=40)
        strangers = search(rpc, "李娜", union="area")
    assert total == 130 and numbers == [f"A{i:04d}" for i in range(130)]  # not u03's 张伟强…
    assert strangers["total"] == 0 and strangers["items"] == []


def test_exact_phone_and_member_number_and_latin_names(federation):
    with federation(union_admin("ftu")) as rpc:
        by_phone = search(rpc, "13800000007")
        by_number = search(rpc, "c0005")  # member numbers are matched as typed or in upper case
        latin = search(rpc, "zhang w")  # folded: case and spaces do not matter
        registered = search(rpc, "13700000001")
        nothing = search(rpc, "王五")
    assert [m["member_no"] for m in by_phone["items"]] == ["B0007"] and by_phone["total"] == 1
    assert [m["member_no"] for m in by_number["items"]] == ["C0005"]
    assert [m["member_no"] for m in latin["items"]] == ["D0001"]
    assert [m["member_no"] for m in registered["items"]] == ["D0001"]
    assert nothing["total"] == 0


def test_a_one_character_search_over_many_members_is_refused(federation):
    with federation(union_admin("ftu")) as rpc:
        with pytest.raises(BadInput) as info:
            search(rpc, "张")
        small = rpc.members.list_members({"union_id": "u03", "q": "李", "per_page": 50})  # 70: its roster
    assert "q" in info.value.fields
    assert small["total"] == 30 and all(m["name"].startswith("李娜") for m in small["items"])


def test_the_rebuild_gives_the_same_answers(federation):
    with federation(union_admin("ftu")) as rpc:
        before = every_page(rpc, "张伟", per_page=64)
    with federation(SYSTEM) as rpc:
        rpc.members.rebuild_rosters()
    with federation(union_admin("ftu")) as rpc:
        after = every_page(rpc, "张伟", per_page=64)
        by_phone = search(rpc, "13900000003")
    assert after == before and after[0] == 170
    assert [m["member_no"] for m in by_phone["items"]] == ["A0003"]
