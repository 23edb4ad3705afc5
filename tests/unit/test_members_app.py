"""The members use cases (services/members/app.py) through the in-memory fakes: policy first, rules,
one guarded write with its events and audit entry; the import resumable after a crash at any write."""

import base64
from datetime import timedelta

import pytest

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthenticated
from services.members import app, rules
from tests.helpers import SYSTEM, member, union_admin, valid_ids
from tests.unit import members_fakes
from tests.unit.members_fakes import Attempt, Crash, FakeClock, FakeMembersStore, FakeRegistry

FED = union_admin("ftu", "F0001")
ADMIN = union_admin("u01", "A0001")
OTHER = union_admin("u02", "A0002")


@pytest.fixture
def site():
    """ftu → u01, u02 (grassroots, each with a Worker Home), department u01-d1; made by the system."""
    store, clock, registry = FakeMembersStore(), FakeClock(), FakeRegistry()
    app.create_union(
        store, SYSTEM, clock, {"id": "ftu", "name": "总工会", "kind": "federation", "parent_id": None}
    )
    for u in ("u01", "u02"):
        app.create_union(
            store,
            SYSTEM,
            clock,
            {"id": u, "name": u, "kind": "grassroots", "parent_id": "ftu", "worker_home_name": None},
        )
    app.create_department(store, SYSTEM, {"id": "u01-d1", "union_id": "u01", "name": "生产部"})
    store.relay()
    store.published.clear()
    return store, clock, registry


def register(site, actor=ADMIN, no="M0000001", union="u01", nid=None, department=None):
    store, clock, registry = site
    data = {
        "member_no": no,
        "name": "王伟",
        "union_id": union,
        "national_id": nid or valid_ids(1)[0],
        "department_id": department,
    }
    return app.register_member(store, actor, clock, registry, data)


def audits(store):
    return [b for b in store.events_of("change_recorded")]


# ----- unions ------------------------------------------------------------------------------------------
def test_create_union_commits_its_event_and_audit_and_the_home_first(site):
    store, clock, _ = site
    out = app.create_union(
        store,
        FED,
        clock,
        {"id": "u03", "name": "三厂", "kind": "grassroots", "parent_id": "ftu", "worker_home_name": None},
    )
    assert out["path"] == ["ftu", "u03"] and out["worker_home"]["name"] == "三厂职工之家"
    assert store.events_of("union_created")[0]["union_id"] == "u03"
    [entry] = audits(store)
    assert entry["action"] == "members.union_created" and entry["union_id"] == "ftu"
    with pytest.raises(Conflict):
        app.create_union(
            store, FED, clock, {"id": "u03", "name": "x", "kind": "grassroots", "parent_id": "ftu"}
        )
    with pytest.raises(Forbidden):
        app.create_union(
            store, ADMIN, clock, {"id": "x", "name": "x", "kind": "grassroots", "parent_id": "ftu"}
        )
    with pytest.raises(Forbidden):
        app.create_union(store, FED, clock, {"id": "r", "name": "r", "kind": "federation", "parent_id": None})
    with pytest.raises(BadInput):
        app.create_union(store, FED, clock, {"id": "x", "name": "x", "kind": "street", "parent_id": "u01"})


def test_reading_unions(site):
    store, _, _ = site
    reader = member("M9", "u01")
    assert app.get_union(store, reader, "u01")["worker_home"]["star_level"] == 0
    [root] = app.union_tree(store, reader, None)
    assert [c["id"] for c in root["children"]] == ["u01", "u02"]
    assert [u["id"] for u in app.list_unions(store, reader, "ftu", "grassroots", ("grassroots",))] == [
        "u01",
        "u02",
    ]
    with pytest.raises(NotFound):
        app.union_tree(store, reader, "nope")
    with pytest.raises(BadInput):
        app.list_unions(store, reader, None, "planet", ("grassroots",))
    assert app.count_members(store, reader, ["u01", "zz"]) == {"u01": 0}


def test_star_levels_by_the_system_or_a_superior_admin(site):
    store, _, _ = site
    with pytest.raises(Forbidden):
        app.set_star_level(store, ADMIN, "u01", 5)  # one's own home: no
    with pytest.raises(BadInput):
        app.set_star_level(store, FED, "u01", 6)
    assert app.set_star_level(store, FED, "u01", 4)["worker_home"]["star_level"] == 4
    app.set_star_level(store, SYSTEM, "u02", 3)  # voting on publication: not audited
    [entry] = audits(store)
    assert entry["action"] == "members.star_level_set" and entry["changes"] == [
        {"field": "star_level", "before": 0, "after": 4}
    ]


def test_departments(site):
    store, _, _ = site
    with pytest.raises(Conflict):
        app.create_department(store, ADMIN, {"id": None, "union_id": "u01", "name": "生产部"})
    with pytest.raises(Forbidden):
        app.create_department(store, OTHER, {"id": None, "union_id": "u01", "name": "质检部"})
    with pytest.raises(BadInput):
        app.create_department(store, FED, {"id": None, "union_id": "ftu", "name": "质检部"})
    app.create_department(store, ADMIN, {"id": "u01-d2", "union_id": "u01", "name": "质检部"})
    assert [d["id"] for d in app.list_departments(store, member("M9", "u01"), "u01")] == ["u01-d1", "u01-d2"]
    assert audits(store)[0]["action"] == "members.department_created"


# ----- members -------------------------------------------------------------------------------------------
def test_register_member(site):
    store = site[0]
    out = register(site, department="u01-d1")
    assert (
        out["member_no"] == "M0000001" and out["union_name"] == "u01" and len(out["national_id_last4"]) == 4
    )
    assert store.get_union("u01")["member_count"] == 1
    assert store.events_of("member_registered") == [
        {**store.events_of("member_registered")[0], "member_id": "M0000001", "union_id": "u01"}
    ]
    [entry] = audits(store)
    assert {c["field"] for c in entry["changes"]} == {"name", "union_id", "department_id"}
    with pytest.raises(Conflict) as same_number:
        register(site, nid=valid_ids(2)[1])
    assert "member_no" in same_number.value.fields
    with pytest.raises(Conflict) as same_id:
        register(site, no="M0000002")
    assert "national_id" in same_id.value.fields
    with pytest.raises(Forbidden):
        register(site, actor=OTHER, no="M0000003", nid=valid_ids(3)[2])
    with pytest.raises(BadInput):
        register(site, actor=FED, no="M0000003", union="ftu", nid=valid_ids(3)[2])
    with pytest.raises(BadInput):
        register(site, no="M0000003", nid=valid_ids(3)[2], department="u02-d9")


def test_reading_members_decides_on_the_union_first(site):
    store = site[0]
    register(site)
    assert app.get_member(store, member("M0000001", "u01"), "M0000001")["name"] == "王伟"
    assert app.get_member(store, FED, "M0000001")["member_no"] == "M0000001"
    with pytest.raises(Forbidden):
        app.get_member(store, OTHER, "M0000001")
    with pytest.raises(NotFound):
        app.get_member(store, ADMIN, "M0404")
    with pytest.raises(Forbidden):
        app.get_members(store, OTHER, ["M0000001"])
    assert [m["id"] for m in app.get_members(store, SYSTEM, ["M0000001", "M0404"])] == ["M0000001"]
    with pytest.raises(BadInput):
        app.get_members(store, SYSTEM, ["M"] * 1001)
    page = app.list_members(
        store, FED, {"union_id": "ftu", "include_below": True, "q": None, "page": 1, "per_page": 10}
    )
    assert page["total"] == 1 and page["items"][0]["id"] == "M0000001"
    roster = app.union_roster(store, ADMIN, "u01", 0, 10)
    assert roster["members"] == [
        {"member_id": "M0000001", "name": "王伟", "department_id": None, "locale": "zh-CN"}
    ]
    with pytest.raises(BadInput):
        app.union_roster(store, ADMIN, "u01", 0, 5001)
    with pytest.raises(Forbidden):
        app.union_roster(store, OTHER, "u01", 0, 10)
    profile = app.profile(store, member("M0000001", "u01"))
    assert [u["id"] for u in profile["union_path"]] == ["ftu", "u01"]


# ----- roles -----------------------------------------------------------------------------------------------
def test_grant_and_revoke_roles(site):
    store = site[0]
    register(site)
    data = {"member_id": "M0000001", "role": "handler", "scope": "u01-d1"}
    out = app.change_role(store, ADMIN, data, granting=True)
    assert out["roles"] == [{"role": "handler", "scope": "u01-d1"}]
    assert app.change_role(store, ADMIN, data, granting=True)["roles"] == out["roles"]  # once
    assert app.change_role(store, ADMIN, data, granting=False)["roles"] == []
    changed = store.events_of("roles_changed")
    assert [e["granted"] for e in changed] == [True, True, False]
    assert [a["action"] for a in audits(store) if a["object"]["type"] == "member"][1:] == [
        "members.role_granted",
        "members.role_granted",
        "members.role_revoked",
    ]
    with pytest.raises(Forbidden):
        app.change_role(store, OTHER, data, granting=True)
    with pytest.raises(Forbidden):
        app.change_role(store, ADMIN, {**data, "role": "delegate", "scope": "cg-u01"}, granting=True)
    with pytest.raises(NotFound):
        app.change_role(store, ADMIN, {**data, "scope": "u01-d9"}, granting=True)
    app.change_role(store, SYSTEM, {**data, "role": "delegate", "scope": "cg-u01"}, granting=True)


def test_role_holders_are_checked_against_the_members_roles(site):
    store = site[0]
    register(site)
    data = {"member_id": "M0000001", "role": "handler", "scope": "u01-d1"}
    app.change_role(store, ADMIN, data, granting=True)
    holders = app.role_holders(store, SYSTEM, "u01-d1", ["handler"])
    assert [(h["member_id"], h["roles"]) for h in holders] == [("M0000001", ["handler"])]
    assert app.role_holders(store, SYSTEM, "u01-d1", ["union_admin"]) == []
    with pytest.raises(Forbidden):
        app.role_holders(store, ADMIN, "u01-d1", ["handler"])
    # a revoke whose list update was lost (a crash after the member's write): the member's record decides
    store.drop_role_holder = lambda scope, member_id, version: None
    app.change_role(store, ADMIN, data, granting=False)
    assert store.role_holder_ids("u01-d1") == ["M0000001"]
    assert app.role_holders(store, SYSTEM, "u01-d1", ["handler"]) == []


def test_a_late_revoke_does_not_drop_a_newer_grant_from_the_role_holders(site):
    store = site[0]
    register(site)
    data = {"member_id": "M0000001", "role": "handler", "scope": "u01-d1"}
    app.change_role(store, ADMIN, data, granting=True)  # version 1
    late = []
    real_drop = store.drop_role_holder
    store.drop_role_holder = lambda *args: late.append(args)  # the revoke's list update is delayed
    app.change_role(store, ADMIN, data, granting=False)  # version 2
    store.drop_role_holder = real_drop
    app.change_role(store, ADMIN, data, granting=True)  # version 3, listed before it commits
    real_drop(*late[0])  # the revoke's update arrives last: older than the entry, ignored
    assert [h["member_id"] for h in app.role_holders(store, SYSTEM, "u01-d1", ["handler"])] == ["M0000001"]


def test_a_role_change_over_a_stale_read_is_a_conflict(site):
    store = site[0]
    register(site)
    real_get = store.get_member
    store.get_member = lambda m: {**real_get(m), "_v": -1}  # someone changed the member after our read
    with pytest.raises(Conflict):
        app.change_role(store, ADMIN, {"member_id": "M0000001", "role": "handler", "scope": "u01-d1"}, True)


# ----- credentials -------------------------------------------------------------------------------------
def test_passwords_set_reset_and_login(site):
    store, clock, registry = site
    register(site)
    reset = {"member_id": "M0000001", "new_password": "Pass-1234", "login": None, "current_password": None}
    assert app.set_password(store, ADMIN, clock, registry, reset) == {
        "member_id": "M0000001",
        "login": "M0000001",
    }
    own = member("M0000001", "u01")
    with pytest.raises(Unauthenticated):
        app.set_password(
            store, own, clock, registry, {**reset, "new_password": "x" * 8, "current_password": "bad"}
        )
    app.set_password(
        store,
        own,
        clock,
        registry,
        {**reset, "new_password": "New-5678", "current_password": "Pass-1234", "login": "WANG"},
    )
    assert store.get_credential("M0000001")["member_id"] is None  # the old login retired
    assert store.get_member("M0000001")["login"] == "WANG"
    attempt = Attempt()
    who = app.authenticate(store, registry, attempt, {"login": "WANG", "password": "New-5678"})
    assert who["member_id"] == "M0000001" and attempt.settled
    for login in ("WANG", "NOBODY", "M0000001"):  # wrong password, unknown, retired: each a failure
        wrong = Attempt()
        with pytest.raises(Unauthenticated):
            app.authenticate(store, registry, wrong, {"login": login, "password": "Pass-1234"})
        assert wrong.failures == 1 and not wrong.settled
    actions = [a["action"] for a in audits(store) if a["object"]["type"] == "member"]
    assert actions[-2:] == ["members.password_reset", "members.password_set"]
    assert "hash:" not in str(audits(store)) and "Pass-1234" not in str(audits(store))
    with pytest.raises(Forbidden):
        app.set_password(store, OTHER, clock, registry, reset)
    register(site, no="M0000002", nid=valid_ids(2)[1])
    with pytest.raises(Conflict):
        app.set_password(store, ADMIN, clock, registry, {**reset, "member_id": "M0000002", "login": "WANG"})


def test_an_outdated_hash_is_rewritten_at_the_next_right_login_only(site):
    store, clock, registry = site
    register(site)
    reset = {"member_id": "M0000001", "new_password": "Pass-1234", "login": None, "current_password": None}
    app.set_password(store, ADMIN, clock, registry, reset)
    cred = store.get_credential("M0000001")
    store.change("credentials", "M0000001", set={"password_hash": "old:" + "Pass-1234"[::-1]})
    with pytest.raises(Unauthenticated):  # a wrong password rewrites nothing
        app.authenticate(store, registry, Attempt(), {"login": "M0000001", "password": "wrong"})
    assert store.get_credential("M0000001")["password_hash"].startswith("old:")
    app.authenticate(store, registry, Attempt(), {"login": "M0000001", "password": "Pass-1234"})
    assert store.get_credential("M0000001")["password_hash"] == cred["password_hash"]  # current parameters
    assert app.renew_login(store, member("M0000001", "u01"))["member_id"] == "M0000001"
    with pytest.raises(Forbidden):  # a service token is never renewed
        app.renew_login(store, SYSTEM)


def test_logout_revokes_the_token_once(site):
    store, clock, _ = site
    from dmlib.auth import Actor

    actor = Actor(member_id="M1", token_id="jti-1", expires_at=int(clock().timestamp()) + 60)
    assert app.revoke_token(store, actor) == {"token_id": "jti-1", "expires_at": actor.expires_at}
    app.revoke_token(store, actor)
    assert [e["token_id"] for e in store.events_of("token_revoked")] == ["jti-1"]
    assert app.revoked_tokens(store, SYSTEM, clock) == [{"token_id": "jti-1", "expires_at": actor.expires_at}]
    with pytest.raises(Forbidden):
        app.revoked_tokens(store, ADMIN, clock)
    # a token of a login session: the session is revoked until its end (every token renewed from it)
    end = int(clock().timestamp()) + 3600
    renewed = Actor(
        member_id="M1", token_id="jti-3", expires_at=end - 3000, session_id="jti-2", session_expires_at=end
    )
    assert app.revoke_token(store, renewed) == {"token_id": "jti-2", "expires_at": end}


# ----- the import -----------------------------------------------------------------------------------------
def csv_of(n, union="u01", extra=""):
    rows = "".join(f"P{i:05d},会员{i},{union},{nid}\n" for i, nid in enumerate(valid_ids(n)))
    return base64.b64encode(f"member_no,name,union_id,national_id\n{rows}{extra}".encode()).decode()


def start(site, content, actor=ADMIN, password=None):
    store, clock, registry = site
    return app.start_import(
        store,
        actor,
        clock,
        registry,
        {"filename": "m.csv", "content_b64": content, "initial_password": password},
    )


def test_an_import_runs_from_the_timer_and_ends_with_its_event_and_audit(site):
    store, clock, registry = site
    job = start(site, csv_of(2500, extra="X00001,坏,u02,110115198001010019\n"), password="Init-9999")
    assert job["status"] == "queued" and job["password_hash"] == registry.hash_password("Init-9999")
    assert app.resume_imports(store, clock, registry, "r1") == 1
    done = app.get_import(store, ADMIN, job["_id"])
    assert (done["status"], done["processed"], done["inserted"], done["failed"]) == ("done", 2501, 2500, 1)
    assert done["password_hash"] is None and store.imports_due() == []
    assert app.import_errors(store, ADMIN, job["_id"], 1)["items"][0]["field"] == "union_id"
    assert store.get_credential("P00001")["password_hash"] == registry.hash_password("Init-9999")
    assert store.get_union("u01")["member_count"] == 2500
    assert store.events_of("members_imported")[0]["inserted"] == 2500
    actions = [a["action"] for a in audits(store)]
    assert actions == ["members.import_started", "members.members_imported"]
    with pytest.raises(Forbidden):
        app.get_import(store, OTHER, job["_id"])
    with pytest.raises(BadInput):
        app.import_errors(store, ADMIN, job["_id"], 0)


def test_a_staged_import_counts_its_rows_and_runs_only_once_confirmed(site):
    """Issue 16: the import page stages the file; the timer counts its rows (the number the confirmation
    states) and nothing is imported until its admin confirms; an unconfirmed job ends after a day."""
    store, clock, registry = site
    content = csv_of(2500, extra="X00001,坏,u02,110115198001010019\n\n")  # and an empty row, not counted
    job = app.start_import(
        store,
        ADMIN,
        clock,
        registry,
        {"filename": "m.csv", "content_b64": content, "initial_password": None, "stage": True},
    )
    assert (job["status"], job["total"]) == ("staged", None)
    with pytest.raises(Conflict) as refused:  # not counted yet: nothing to confirm
        app.confirm_import(store, ADMIN, job["_id"])
    assert refused.value.reason == "import_not_staged"
    assert app.resume_imports(store, clock, registry, "r1") == 0
    assert app.resume_imports(store, clock, registry, "r2") == 0  # counted once, still waiting
    staged = app.get_import(store, ADMIN, job["_id"])
    assert (staged["status"], staged["total"], staged["processed"]) == ("staged", 2501, 0)
    assert store.get_union("u01").get("member_count", 0) == 0
    with pytest.raises(Forbidden):
        app.confirm_import(store, OTHER, job["_id"])
    assert app.confirm_import(store, ADMIN, job["_id"])["status"] == "queued"
    with pytest.raises(Conflict):
        app.confirm_import(store, ADMIN, job["_id"])
    assert app.resume_imports(store, clock, registry, "r1") == 1
    done = app.get_import(store, ADMIN, job["_id"])
    assert (done["status"], done["total"], done["inserted"], done["failed"]) == ("done", 2501, 2500, 1)

    late = app.start_import(
        store,
        ADMIN,
        clock,
        registry,
        {"filename": "m.csv", "content_b64": csv_of(3), "initial_password": None, "stage": True},
    )
    unreadable = app.start_import(
        store,
        ADMIN,
        clock,
        registry,
        {
            "filename": "x.csv",
            "content_b64": base64.b64encode(b"a,b\n1,2\n").decode(),
            "initial_password": None,
            "stage": True,
        },
    )
    app.resume_imports(store, clock, registry, "r1")
    bad = app.get_import(store, ADMIN, unreadable["_id"])
    assert bad["status"] == "failed" and "missing columns" in bad["message"]
    clock.advance(app.STAGED_TTL.total_seconds() + 1)
    assert app.resume_imports(store, clock, registry, "r1") == 1
    expired = app.get_import(store, ADMIN, late["_id"])
    assert expired["status"] == "failed" and expired["message"] == app.STAGED_EXPIRED
    assert store.imports_due() == [] and expired["password_hash"] is None


@pytest.mark.parametrize("key_group", [20, 2])  # the 4 batches' search keys added at the end, or 2 by 2
@pytest.mark.parametrize("crash_after", [1, 2, 3, 4, 5, 6, 9, 13, 17, 21, 25])
def test_an_import_interrupted_at_any_write_completes_with_each_row_once(
    site, crash_after, key_group, monkeypatch
):
    monkeypatch.setattr(app, "KEY_GROUP", key_group)
    monkeypatch.setattr(members_fakes, "KEY_GROUP", key_group)
    store, clock, registry = site
    job = start(site, csv_of(3100), password="Init-9999")
    store.writes, store.fail_after_writes = 0, crash_after
    with pytest.raises(Crash):
        app.run_import(store, clock, registry, job["_id"], "r1")
    store.fail_after_writes = None
    assert app.run_import(store, clock, registry, job["_id"], "r2") is None  # r1's lease still runs
    clock.advance(registry.import_lease_s + 1)
    assert app.resume_imports(store, clock, registry, "r2") == 1
    done = store.get_job(job["_id"])
    assert (done["status"], done["inserted"], done["failed"], done["processed"]) == ("done", 3100, 0, 3100)
    entries = [e["i"] for c in store.col("rosters").values() for e in c["entries"]]
    assert len(entries) == len(set(entries)) == store.get_union("u01")["member_count"] == 3100
    keyed = [e["i"] for k in store.col("search_keys").values() for e in k["entries"]]
    assert sorted(keyed) == sorted(store.col("members")) and len(keyed) == len(set(keyed))
    assert store.col("search_due") == {}
    assert len(store.col("members")) == 3100 and len(store.events_of("members_imported")) == 1


def test_import_refusals(site):
    with pytest.raises(Forbidden):
        start(site, csv_of(1), actor=member("M9", "u01"))
    with pytest.raises(BadInput):
        start(site, "not base64!")
    with pytest.raises(PayloadTooLarge):
        start(site, base64.b64encode(b"x" * (2 * 1024 * 1024)).decode())
    store, clock, registry = site
    job = start(site, csv_of(3, union="u02"))  # outside the admin's scope: every row reported
    bad = start(site, base64.b64encode(b"name\nx\n").decode())  # no required columns: the job fails
    app.resume_imports(store, clock, registry, "r1")
    assert store.get_job(job["_id"])["failed"] == 3
    assert store.get_job(bad["_id"])["status"] == "failed"


def test_a_search_over_many_members_reads_the_search_keys(site, monkeypatch):
    store = site[0]
    register(site)  # 王伟, M0000001, u01
    monkeypatch.setattr(rules, "ROSTER_SEARCH_LIMIT", 0)  # every scope counts as large

    def search(actor, union, q):
        query = {"union_id": union, "include_below": True, "q": q, "page": 1, "per_page": 10}
        return app.list_members(store, actor, query)

    assert [m["id"] for m in search(FED, "ftu", "王伟")["items"]] == ["M0000001"]
    assert [m["id"] for m in search(FED, "ftu", "m0000001")["items"]] == ["M0000001"]
    assert search(ADMIN, "u01", "王伟")["total"] == 1
    assert search(FED, "ftu", "王五")["total"] == 0
    with pytest.raises(BadInput) as short:
        search(FED, "ftu", "王")
    assert "q" in short.value.fields
    assert store.col("search_keys")["n:王伟"]["entries"] == [{"i": "M0000001", "n": "王伟", "u": "u01"}]


def test_titles_are_recorded_by_the_system_once_per_source_ref_and_category(site):
    store, clock, _ = site
    register(site)
    titles = [
        {"member_id": "M0000001", "category": "good_worker", "title": "2024年双爱双评 · 爱企业的好职工"},
        {"member_id": "M9999999", "category": "good_worker", "title": "2024年双爱双评 · 爱企业的好职工"},
    ]
    with pytest.raises(Forbidden):
        app.record_titles(store, ADMIN, clock, "elections", "aw-1", titles)
    out = app.record_titles(store, SYSTEM, clock, "elections", "aw-1", titles)
    assert out == {"recorded": 1, "unknown": ["M9999999"]}
    assert app.record_titles(store, SYSTEM, clock, "elections", "aw-1", titles)["recorded"] == 0
    got = app.get_member(store, ADMIN, "M0000001")["titles"]
    assert [(t["ref"], t["category"], t["title"]) for t in got] == [
        ("aw-1", "good_worker", "2024年双爱双评 · 爱企业的好职工")
    ]


def test_needs_of_lists_an_admins_own_imports_with_bad_rows_for_30_days(site):
    store, clock, registry = site
    clean = start(site, csv_of(3))
    bad = start(site, csv_of(2, extra="X00001,坏,u02,110115198001010019\n"))
    app.resume_imports(store, clock, registry, "r1")
    out = app.needs_of(store, ADMIN, clock())
    assert out["queues"] == [] and [(i["kind"], i["id"], i["title"], i["count"]) for i in out["items"]] == [
        ("import_errors", bad["_id"], "m.csv", 3)  # the foreign union's row, and 2 already registered
    ]
    assert clean["_id"] not in {i["id"] for i in out["items"]}
    assert app.needs_of(store, OTHER, clock())["items"] == []  # another admin's imports are not theirs
    assert app.needs_of(store, member("M1", "u01"), clock())["items"] == []  # members import nothing
    assert app.needs_of(store, ADMIN, clock() + timedelta(days=31))["items"] == []


# ----- the directory's filters (issue 16: federation views, queues) --------------------------------------
def test_the_directory_filters_by_union_department_and_role_across_the_federation(site):
    store = site[0]
    ids = valid_ids(4)
    register(site, no="M0000001", nid=ids[0], department="u01-d1")
    register(site, no="M0000002", nid=ids[1])
    register(site, actor=OTHER, no="M0000003", union="u02", nid=ids[2])
    register(site, actor=OTHER, no="M0000004", union="u02", nid=ids[3])
    app.change_role(store, ADMIN, {"member_id": "M0000002", "role": "handler", "scope": "u01-d1"}, True)
    app.change_role(store, SYSTEM, {"member_id": "M0000004", "role": "delegate", "scope": "cg-u02"}, True)
    app.change_role(store, FED, {"member_id": "M0000003", "role": "union_admin", "scope": "u02"}, True)

    def listed(actor, union="ftu", **filters):
        query = {"union_id": union, "include_below": True, "q": None, "page": 1, "per_page": 10, **filters}
        out = app.list_members(store, actor, query)
        return [m["id"] for m in out["items"]], out["total"]

    assert listed(FED) == (["M0000001", "M0000002", "M0000003", "M0000004"], 4)
    assert listed(FED, union="u02") == (["M0000003", "M0000004"], 2)
    assert listed(FED, department_id="u01-d1") == (["M0000001"], 1)
    assert listed(FED, role="handler") == (["M0000002"], 1)
    assert listed(FED, role="delegate") == (["M0000004"], 1)
    assert listed(FED, role="union_admin") == (["M0000003"], 1)
    assert listed(FED, union="u01", role="delegate") == ([], 0)
    assert listed(FED, role="handler", department_id="u01-d1") == ([], 0)  # the handler is not in it
    assert listed(ADMIN, union="u01", department_id="u01-d1", q="王") == (["M0000001"], 1)
    assert listed(FED, role="union_admin", q="M0000004") == ([], 0)
    page = app.list_members(
        store,
        FED,
        {
            "union_id": "ftu",
            "include_below": True,
            "q": None,
            "page": 2,
            "per_page": 1,
            "role": "union_admin",
        },
    )
    assert page["items"] == [] and page["total"] == 1 and page["pages"] == 1
    with pytest.raises(BadInput) as foreign:  # a department of a union outside the scope
        listed(OTHER, union="u02", department_id="u01-d1")
    assert "department_id" in foreign.value.fields
    with pytest.raises(Forbidden):
        listed(OTHER, union="u01", role="handler")
