"""The audit log over the real RabbitMQ and FerretDB: congress changes made by an admin (through the
gateway) arrive in the audit service as hash-chained entries of their union, exactly once each, with the
actor, role, object, before → after and the gateway's request id; refused changes leave no entry; the
verifier passes, then reports an entry edited and an entry deleted directly in the database."""

import pytest

from dmlib import state
from dmlib.errors import Forbidden
from dmtools import cli
from services.audit.service import AuditService
from services.congress.service import CongressService
from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.voting.service import VotingService
from tests.helpers import SYSTEM, import_members, member, token, union_admin, wait_until

pytestmark = pytest.mark.integration

ADMIN = union_admin("u01", "A0001")
FEDERATION = union_admin("ftu", "F0001")
OTHER_ADMIN = union_admin("u02", "A0002")
DELEGATE = member("D0001", "u01")


@pytest.fixture
def site(runner_factory, config, rpc_as, web_session):
    """Gateway + members + voting + congress + audit; u01 with a term of 3 delegates, a planned session
    with 2 of them checked in (at the admin's desk)."""
    runner_factory(
        config, GatewayService, MembersService, VotingService, CongressService, AuditService
    ).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for uid, name in (("u01", "亦庄精密机械制造有限公司工会"), ("u02", "京南生物医药股份有限公司工会")):
            rpc.members.create_union({"id": uid, "name": name, "kind": "grassroots", "parent_id": "ftu"})
        import_members(rpc, [(f"D{i:04d}", f"代表{i}", "u01") for i in range(3)])
    with rpc_as(ADMIN) as rpc:
        rpc.congress.create_congress({"union_id": "u01"})
        term = rpc.congress.create_term(
            "cg-u01",
            {"number": 1, "start": "2025-01-01", "end": "2030-01-01", "delegations": [{"name": "一团"}]},
        )
        rpc.congress.elect_delegates(
            term["id"], {"delegates": [{"member_id": f"D{i:04d}", "delegation_id": "g1"} for i in range(3)]}
        )
        session = rpc.congress.create_session(
            term["id"], {"title": "第一届第一次会议", "agenda": [{"kind": "resolution", "title": "决议"}]}
        )
        for i in range(2):
            rpc.congress.check_in(session["id"], {"member_id": f"D{i:04d}"})
    return web_session, session


def post(http, actor, path):
    return http.post(path, headers={"Authorization": f"Bearer {token(actor)}"})


def test_admin_changes_are_chained_once_each_and_refusals_leave_nothing(site, db, rpc_as):
    http, session = site
    sid = session["id"]
    entries = db("audit").entries
    # set-up by the admin: congress, term, delegates elected, session planned, two check-ins
    setup = wait_until(lambda: (n := entries.count_documents({})) >= 6 and n, timeout=30)
    assert setup == 6
    assert sorted(e["action"] for e in entries.find({})) == sorted(
        [
            "congress.congress_created",
            "congress.term_created",
            "congress.delegates_elected",
            "congress.session_planned",
            "congress.delegate_checked_in",
            "congress.delegate_checked_in",
        ]
    )

    answer = post(http, ADMIN, f"/api/v1/congress/sessions/{sid}/convene")
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["X-Request-Id"]
    wait_until(lambda: entries.count_documents({}) == 7, timeout=30)
    [entry] = list(entries.find({"action": "congress.session_convened"}))
    assert entry["_id"] == "u01:000000000007" and entry["seq"] == 7
    assert entry["actor"] == {"member_id": "A0001", "name": ADMIN.name}
    assert entry["role"] == "union_admin"
    assert entry["object"] == {"type": "session", "id": sid}
    assert entry["union_id"] == "u01" and entry["union_path"] == ["ftu", "u01"]
    changes = {c["field"]: (c["before"], c["after"]) for c in entry["changes"]}
    assert changes["state"] == ("planned", "convened")
    assert changes["due_count"] == (None, 3)
    assert entry["note"] == {"present_count": 2}
    assert entry["request_id"] == request_id

    # refused: convening again (409), a delegate closing (403) — nothing committed, nothing to relay
    assert post(http, ADMIN, f"/api/v1/congress/sessions/{sid}/convene").status_code == 409
    assert post(http, DELEGATE, f"/api/v1/congress/sessions/{sid}/close").status_code == 403
    assert db("congress")[state.PENDING].count_documents({}) == 0
    assert not db("congress").sessions.find_one({"_id": sid}).get("outbox")
    closed = post(http, ADMIN, f"/api/v1/congress/sessions/{sid}/close")
    assert closed.status_code == 200
    wait_until(lambda: entries.count_documents({}) == 8, timeout=30)
    assert [e["action"] for e in entries.find({"seq": 8})] == ["congress.session_closed"]
    assert entries.count_documents({"action": "congress.session_convened"}) == 1

    # the browse API: the admin of u01 and the federation's admin see it, another union's admin does not
    listed = http.get(
        "/api/v1/unions/u01/audit?object_type=session&actor=",
        headers={"Authorization": f"Bearer {token(FEDERATION)}"},
    )
    assert listed.status_code == 200, listed.text
    assert [e["action"] for e in listed.json()["items"]] == [
        "congress.session_closed",
        "congress.session_convened",
        "congress.session_planned",
    ]
    assert (
        http.get(
            "/api/v1/unions/u01/audit", headers={"Authorization": f"Bearer {token(OTHER_ADMIN)}"}
        ).status_code
        == 403
    )
    auth = {"Authorization": f"Bearer {token(ADMIN)}"}
    page = http.get("/unions/u01/audit?object_type=session&date_from=&lang=zh-CN", headers=auth)
    assert page.status_code == 200 and "宣布开幕" in page.text and "审计日志" in page.text
    assert (
        http.get("/unions/u01/audit?date_from=2026-02-01&date_to=2026-01-01", headers=auth).status_code == 400
    )
    exported = http.get("/api/v1/unions/u01/audit.csv?object_type=session", headers=auth)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    assert len(exported.content.decode("utf-8-sig").strip().splitlines()) == 1 + 3
    workbook = http.get("/api/v1/unions/u01/audit.xlsx", headers=auth)
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    with rpc_as(ADMIN) as rpc:
        by_actor = rpc.audit.list_entries({"union_id": "u01", "actor": "A0001", "per_page": 5, "page": 2})
        assert by_actor["total"] == 8 and len(by_actor["items"]) == 3
        assert rpc.audit.verify_chain({"union_id": "u01"})["ok"] is True
    with rpc_as(OTHER_ADMIN) as rpc, pytest.raises(Forbidden):
        rpc.audit.verify_chain({"union_id": "u01"})


def test_the_verifier_reports_an_edited_and_a_deleted_entry(site, db, rpc_as, config, monkeypatch, capsys):
    entries = db("audit").entries
    wait_until(lambda: entries.count_documents({}) == 6, timeout=30)
    with rpc_as(SYSTEM) as rpc:
        assert rpc.audit.verify_chain({}) == {
            "ok": True,
            "chains": [{"union_id": "u01", "entries": 6, "head_seq": 6, "ok": True, "first_break": None}],
        }
        # someone with database access edits entry 3 (who elected the delegates)
        entries.update_one({"_id": "u01:000000000003"}, {"$set": {"actor.member_id": "A9999"}})
        [chain] = rpc.audit.verify_chain({"union_id": "u01"})["chains"]
        assert chain["ok"] is False
        assert chain["first_break"]["seq"] == 3 and chain["first_break"]["kind"] == "edited"
        entries.update_one({"_id": "u01:000000000003"}, {"$set": {"actor.member_id": "A0001"}})
        assert rpc.audit.verify_chain({"union_id": "u01"})["ok"] is True
        # … and deletes entry 5 (a check-in), then the last one
        entries.delete_one({"_id": "u01:000000000005"})
        [chain] = rpc.audit.verify_chain({})["chains"]
        assert (chain["first_break"]["seq"], chain["first_break"]["kind"]) == (5, "deleted")
        entries.delete_one({"_id": "u01:000000000006"})
        [chain] = rpc.audit.verify_chain({})["chains"]
        assert (chain["first_break"]["seq"], chain["first_break"]["kind"]) == (5, "deleted")
        assert chain["entries"] == 4 and chain["head_seq"] == 6
    # the operator's command says the same and fails
    monkeypatch.setattr("dmtools.config.load_config", lambda: config)
    assert cli.main(["audit-verify", "--union", "u01"]) == 1
    assert "u01: 4 entries, head 6: BROKEN at u01:000000000005 (deleted)" in capsys.readouterr().out
