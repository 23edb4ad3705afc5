"""The members service on the real RabbitMQ and FerretDB."""

import base64

import pytest

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, Unauthenticated
from services.members.service import MembersService
from tests.helpers import SYSTEM, member, union_admin, valid_ids, wait_until

pytestmark = pytest.mark.integration

IDS = ["110115198001010019", "11010519491231002X", "440524198001010013"]


@pytest.fixture
def members(container_factory, config, rpc_as):
    """A running members service with a small tree: ftu → area → u01, u02 (each with a department)."""
    container_factory(MembersService, config).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "area", "name": "园区工会联合会", "kind": "street", "parent_id": "ftu"}
        )
        for u in ("u01", "u02"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "area"}
            )
            rpc.members.create_department({"id": f"{u}-d1", "union_id": u, "name": "生产部"})
    return rpc_as


def register(rpc, no, union="u01", nid=IDS[0], **extra):
    return rpc.members.register_member(
        {"member_no": no, "name": "王伟", "union_id": union, "national_id": nid, **extra}
    )


def test_tree_paths_and_worker_homes(members):
    with members(member("x", "u01")) as rpc:
        tree = rpc.members.union_tree()
        u01 = rpc.members.get_union("u01")
    assert [n["id"] for n in tree] == ["ftu"]
    assert [c["id"] for c in tree[0]["children"][0]["children"]] == ["u01", "u02"]
    assert u01["path"] == ["ftu", "area", "u01"]
    assert u01["worker_home"] == {
        "id": "u01",
        "union_id": "u01",
        "name": "u01公司工会职工之家",
        "star_level": 0,
    }


def test_union_rules(members):
    with members(union_admin("u01")) as rpc:
        with pytest.raises(Forbidden):
            rpc.members.create_union({"name": "x", "kind": "grassroots", "parent_id": "area"})
        with pytest.raises(BadInput) as info:
            rpc.members.create_union({"name": "", "kind": "galaxy"})
    assert set(info.value.fields) == {"name", "kind"}
    with members(union_admin("area")) as rpc:
        with pytest.raises(BadInput):
            rpc.members.create_union({"name": "x", "kind": "street", "parent_id": "area"})  # same level
        with pytest.raises(Conflict):
            rpc.members.create_union({"id": "u01", "name": "x", "kind": "grassroots", "parent_id": "area"})


def test_register_keeps_only_hash_and_last_four(members, db):
    with members(union_admin("u01")) as rpc:
        out = register(rpc, "M0001", phone="13912345678", department_id="u01-d1")
        with pytest.raises(Conflict) as dup_no:
            register(rpc, "M0001", nid=IDS[1])
        with pytest.raises(Conflict) as dup_id:
            register(rpc, "M0002", nid=IDS[0])
        with pytest.raises(BadInput) as bad:
            register(rpc, "M0003", nid="110115198001010018")
        with pytest.raises(Forbidden):
            register(rpc, "M0004", union="u02", nid=IDS[2])
    assert out["national_id_last4"] == "0019" and out["union_name"] == "u01公司工会"
    assert "member_no" in dup_no.value.fields and "national_id" in dup_id.value.fields
    assert "check digit" in bad.value.fields["national_id"][0]
    stored = db("members").members.find_one({"_id": "M0001"})
    assert stored["id_last4"] == "0019" and len(stored["id_hash"]) == 64
    assert IDS[0] not in str(stored)
    assert db("members").members.count_documents({}) == 1  # nothing partial from the refusals


def test_who_may_read_a_member(members):
    with members(union_admin("u01")) as rpc:
        register(rpc, "M0001")
    with members(member("M0001", "u01")) as rpc:
        assert rpc.members.get_member("M0001")["member_no"] == "M0001"  # oneself
    with members(member("M0009", "u01")) as rpc:
        with pytest.raises(Forbidden):
            rpc.members.get_member("M0001")  # a fellow member
    with members(union_admin("u02")) as rpc:
        with pytest.raises(Forbidden):
            rpc.members.get_member("M0001")  # another union's admin
        with pytest.raises(NotFound):
            rpc.members.get_member("nobody")
    with members(union_admin("area")) as rpc:
        assert rpc.members.get_member("M0001")["union_id"] == "u01"  # an admin above


def test_no_token_is_unauthenticated(config, container_factory):
    from nameko.standalone.rpc import ClusterRpcProxy

    container_factory(MembersService, config).start()
    with ClusterRpcProxy(config) as rpc:
        with pytest.raises(Unauthenticated):
            rpc.members.union_tree()


def test_roster_pages_search_and_rebuild(members):
    with members(SYSTEM) as rpc:
        csv = "member_no,name,union_id,national_id,phone\n" + "".join(
            f"P{i:04d},{'张' if i % 2 else '李'}{i},u01,{nid},139{i:08d}\n"
            for i, nid in enumerate(valid_ids(120))
        )
        job = rpc.members.start_import(
            {"filename": "p.csv", "content_b64": base64.b64encode(csv.encode()).decode()}
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 30)
    with members(union_admin("u01")) as rpc:
        page2 = rpc.members.list_members({"union_id": "u01", "page": 2, "per_page": 50})
        search = rpc.members.list_members({"union_id": "u01", "q": "李", "per_page": 200})
        by_phone = rpc.members.list_members({"union_id": "u01", "q": "13900000007"})
        with pytest.raises(Forbidden):
            rpc.members.list_members({"union_id": "u02"})
        with pytest.raises(BadInput):
            rpc.members.list_members({"union_id": "u01", "per_page": 1000})
    assert page2["total"] == 120 and page2["pages"] == 3
    assert [m["member_no"] for m in page2["items"]] == [f"P{i:04d}" for i in range(50, 100)]
    assert search["total"] == 60 and all(m["name"].startswith("李") for m in search["items"])
    assert [m["member_no"] for m in by_phone["items"]] == ["P0007"]
    with members(union_admin("area")) as rpc:
        below = rpc.members.list_members(
            {"union_id": "area", "include_below": True, "per_page": 10, "page": 12}
        )
    assert below["total"] == 120 and len(below["items"]) == 10
    with members(SYSTEM) as rpc:
        assert rpc.members.rebuild_rosters() == {"u01": 120}
        assert rpc.members.get_union("u01")["member_count"] == 120
        again = rpc.members.list_members({"union_id": "u01", "page": 3, "per_page": 50})
    assert len(again["items"]) == 20


def test_import_reports_each_bad_row_and_keeps_every_good_one(members, db):
    ids = valid_ids(6)
    lines = [
        "会员编号,姓名,工会编号,部门,手机,身份证号",
        f"G0001,赵一,u01,生产部,13900000001,{ids[0]}",  # row 2 good
        f"G0002,钱二,u01,,13900000002,{ids[1][:17]}{'0' if ids[1][17] != '0' else '1'}",  # row 3 bad check digit
        f"G0003,孙三,nope,,13900000003,{ids[2]}",  # row 4 unknown union
        f"G0001,李四,u01,,13900000004,{ids[3]}",  # row 5 duplicate member number
        f"G0005,,u01,,13900000005,{ids[4]}",  # row 6 missing name
        f"G0006,周六,u02,,13900000006,{ids[5]}",  # row 7 outside the admin's scope
        f"G0007,吴七,u01,后勤部,13900000007,{ids[5]}",  # row 8 unknown department
    ]
    content = base64.b64encode("\n".join(lines).encode()).decode()
    with members(union_admin("u01", member_id="ADMIN")) as rpc:
        job = rpc.members.start_import(
            {"filename": "mixed.csv", "content_b64": content, "initial_password": "initial-pass-1"}
        )
        done = wait_until(lambda: (j := rpc.members.get_import(job["id"]))["status"] == "done" and j, 30)
        errors = rpc.members.import_errors(job["id"], 1)["items"]
    assert (done["processed"], done["inserted"], done["failed"]) == (7, 1, 6), errors
    assert [(e["row"], e["field"]) for e in errors] == [
        (3, "national_id"),
        (4, "union_id"),
        (5, "member_no"),
        (6, "name"),
        (7, "union_id"),
        (8, "department"),
    ]
    assert db("members").members.count_documents({}) == 1
    with members(SYSTEM) as rpc:
        assert (
            rpc.members.authenticate({"login": "G0001", "password": "initial-pass-1"})["member_id"] == "G0001"
        )


def test_import_of_a_member_already_registered(members):
    with members(union_admin("u01")) as rpc:
        register(rpc, "M0001", nid=IDS[0])
        content = base64.b64encode(
            f"member_no,name,union_id,national_id\nM0001,x,u01,{IDS[1]}\nM0002,y,u01,{IDS[0]}\n".encode()
        ).decode()
        job = rpc.members.start_import({"filename": "again.csv", "content_b64": content})
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 30)
        errors = rpc.members.import_errors(job["id"], 1)["items"]
    assert [(e["row"], e["field"]) for e in errors] == [(2, "member_no"), (3, "national_id")]


@pytest.mark.parametrize(
    "payload, error",
    [
        ({"filename": "m.txt", "content_b64": "eA=="}, BadInput),
        ({"filename": "m.csv", "content_b64": "%%%"}, BadInput),
        ({"filename": "m.csv"}, BadInput),
        ({"filename": "m.csv", "content_b64": "eA==", "extra": 1}, BadInput),
    ],
)
def test_import_bad_requests(members, payload, error):
    with members(union_admin("u01")) as rpc:
        with pytest.raises(error):
            rpc.members.start_import(payload)


def test_members_may_not_import(members):
    with members(member("M1", "u01")) as rpc:
        with pytest.raises(Forbidden):
            rpc.members.start_import({"filename": "m.csv", "content_b64": "eA=="})


def test_roles_and_login(members):
    with members(union_admin("u01", member_id="ADMIN")) as rpc:
        register(rpc, "M0001")
        rpc.members.set_password({"member_id": "M0001", "new_password": "first-password", "login": "wangwei"})
        granted = rpc.members.grant_role({"member_id": "M0001", "role": "handler", "scope": "u01-d1"})
        with pytest.raises(Forbidden):
            rpc.members.grant_role({"member_id": "M0001", "role": "delegate", "scope": "c1"})
        with pytest.raises(Forbidden):
            rpc.members.grant_role({"member_id": "M0001", "role": "union_admin", "scope": "u02"})
        with pytest.raises(BadInput):
            rpc.members.grant_role({"member_id": "M0001", "role": "emperor", "scope": "u01"})
    assert granted["roles"] == [{"role": "handler", "scope": "u01-d1"}]
    with members(SYSTEM) as rpc:
        who = rpc.members.authenticate({"login": "wangwei", "password": "first-password"})
        with pytest.raises(Unauthenticated):
            rpc.members.authenticate({"login": "wangwei", "password": "wrong"})
        with pytest.raises(Unauthenticated):
            rpc.members.authenticate({"login": "nobody", "password": "wrong"})
    assert who["roles"] == [{"role": "handler", "scope": "u01-d1"}] and who["union_id"] == "u01"
    with members(member("M0001", "u01")) as rpc:
        with pytest.raises(Unauthenticated):
            rpc.members.set_password(
                {"member_id": "M0001", "current_password": "nope", "new_password": "second-password"}
            )
        rpc.members.set_password(
            {"member_id": "M0001", "current_password": "first-password", "new_password": "second-password"}
        )
    with members(SYSTEM) as rpc:
        assert (
            rpc.members.authenticate({"login": "wangwei", "password": "second-password"})["member_id"]
            == "M0001"
        )


def test_cross_union_member_routes_refused_before_anything_is_read(members):
    """Issue 12: an admin of u01 may not revoke, grant or reset for a u02 member (the refusal carries
    none of the member's data and nothing changes), nor grant a u02 role to a u01 member."""
    with members(SYSTEM) as rpc:
        register(rpc, "B0001", union="u02", nid=IDS[1], phone="13800000001", email="b@example.cn")
        rpc.members.grant_role({"member_id": "B0001", "role": "handler", "scope": "u02-d1"})
        register(rpc, "A0001", union="u01", nid=IDS[2])
    attempts = [
        ("revoke_role", {"member_id": "B0001", "role": "handler", "scope": "u02-d1"}),
        ("revoke_role", {"member_id": "B0001", "role": "handler", "scope": "u01-d1"}),
        ("grant_role", {"member_id": "B0001", "role": "handler", "scope": "u01-d1"}),
        ("grant_role", {"member_id": "A0001", "role": "handler", "scope": "u02-d1"}),
        ("set_password", {"member_id": "B0001", "new_password": "long-enough-1"}),
        ("get_member", "B0001"),
    ]
    with members(union_admin("u01")) as rpc:
        for method, arg in attempts:
            with pytest.raises(Forbidden) as info:
                getattr(rpc.members, method)(arg)
            text = str(info.value) + repr(info.value.details) + repr(info.value.fields)
            assert not any(pii in text for pii in ("王伟", "13800000001", "b@example.cn", IDS[1][-4:])), (
                method
            )
    with members(SYSTEM) as rpc:
        assert rpc.members.get_member("B0001")["roles"] == [{"role": "handler", "scope": "u02-d1"}]
        assert rpc.members.get_member("A0001")["roles"] == []


def test_role_scope_belongs_to_the_members_union(members):
    """A superior admin administers u01 and u02, but a u02 department is no role for a u01 member."""
    with members(SYSTEM) as rpc:
        register(rpc, "A0001", union="u01", nid=IDS[2])
    with members(member("S0001", "u01", ("superior_admin", "ftu"))) as rpc:
        with pytest.raises(Forbidden):
            rpc.members.grant_role({"member_id": "A0001", "role": "handler", "scope": "u02-d1"})
        with pytest.raises(Forbidden):
            rpc.members.grant_role({"member_id": "A0001", "role": "union_admin", "scope": "u02"})
        assert rpc.members.grant_role({"member_id": "A0001", "role": "handler", "scope": "u01-d1"})["roles"]
        assert rpc.members.grant_role({"member_id": "A0001", "role": "union_admin", "scope": "area"})["roles"]


def test_the_directory_of_a_federation_filters_by_union_department_and_role(members):
    """Issue 16 over the broker: the superior admin's directory covers the unions below, and its
    ``department_id`` and ``role`` arguments keep the members they name (typed refusals otherwise)."""
    ids = valid_ids(4)
    with members(union_admin("area")) as rpc:
        register(rpc, "M0001", nid=ids[0], department_id="u01-d1")
        register(rpc, "M0002", nid=ids[1])
        register(rpc, "M0003", union="u02", nid=ids[2], department_id="u02-d1")
        register(rpc, "M0004", union="u02", nid=ids[3])
        rpc.members.grant_role({"member_id": "M0002", "role": "handler", "scope": "u01-d1"})
        rpc.members.grant_role({"member_id": "M0004", "role": "union_admin", "scope": "u02"})

        def listed(**query):
            out = rpc.members.list_members({"union_id": "area", "include_below": True, **query})
            return [m["id"] for m in out["items"]], out["total"]

        assert listed() == (["M0001", "M0002", "M0003", "M0004"], 4)
        assert listed(per_page=3, page=2) == (["M0004"], 4)
        assert listed(department_id="u02-d1") == (["M0003"], 1)
        assert listed(role="handler") == (["M0002"], 1)
        assert listed(role="union_admin", q="M000") == (["M0004"], 1)
        assert listed(role="delegate") == ([], 0)
        with pytest.raises(BadInput) as bad:
            listed(role="mayor")
        assert "role" in bad.value.fields
    with members(union_admin("u01")) as rpc:
        with pytest.raises(BadInput) as foreign:
            rpc.members.list_members({"union_id": "u01", "department_id": "u02-d1"})
        assert "department_id" in foreign.value.fields
        with pytest.raises(Forbidden):
            rpc.members.list_members({"union_id": "area", "include_below": True, "role": "handler"})
