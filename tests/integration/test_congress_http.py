"""The congress API and pages through the gateway, with members, voting and congress running: every bad
input is a 400 with field messages, the refusals keep their status, pages render, the minutes are a DOCX."""

import io

import pytest

from services.congress.service import CongressService
from services.gateway.pages import NOTICE_COOKIE, load_notice
from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.voting.service import VotingService
from tests.helpers import AUTH_SECRET, SYSTEM, import_members, member, token, union_admin

pytestmark = pytest.mark.integration

ADMIN = union_admin("u01", "A0001")
OUTSIDER = member("X0001", "u02")


def delegate(n: int):
    return member(f"D{n:04d}", "u01")


@pytest.fixture
def site(runner_factory, config, rpc_as, web_session):
    """Gateway + members + voting + congress; u01 with 6 members, a term of 5 delegates, a planned session."""
    runner_factory(config, GatewayService, MembersService, VotingService, CongressService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "u01", "name": "亦庄精密机械制造有限公司工会", "kind": "grassroots", "parent_id": "ftu"}
        )
        rpc.members.create_union(
            {"id": "u02", "name": "京南生物医药股份有限公司工会", "kind": "grassroots", "parent_id": "ftu"}
        )
        import_members(
            rpc, [(f"D{i:04d}", f"代表{i}", "u01") for i in range(6)] + [("X0001", "外单位", "u02")]
        )
    with rpc_as(ADMIN) as rpc:
        rpc.congress.create_congress({"union_id": "u01"})
        term = rpc.congress.create_term(
            "cg-u01",
            {
                "number": 1,
                "start": "2025-01-01",
                "end": "2030-01-01",
                "delegations": [{"name": "一团"}, {"name": "二团"}],
            },
        )
        rpc.congress.elect_delegates(
            term["id"],
            {"delegates": [{"member_id": f"D{i:04d}", "delegation_id": f"g{i % 2 + 1}"} for i in range(5)]},
        )
        session = rpc.congress.create_session(
            term["id"],
            {
                "title": "第一届第一次会议",
                "agenda": [
                    {"kind": "report", "title": "工作报告"},
                    {"kind": "resolution", "title": "关于食堂改造方案的决议"},
                ],
            },
        )
    return web_session, session


def call(http, actor, method, path, body=None):
    headers = {"Authorization": f"Bearer {token(actor)}"} if actor else {}
    return http.request(method, path, json=body, headers=headers)


BAD_INPUTS = [
    ("POST", "/api/v1/congresses", {"union_id": "no such!"}, "union_id"),
    (
        "POST",
        "/api/v1/congresses/cg-u01/terms",
        {"number": "one", "start": "x", "end": "2030-01-01"},
        "number",
    ),
    (
        "POST",
        "/api/v1/congresses/cg-u01/terms",
        {"number": 2, "start": "2030-01-01", "end": "2029-01-01"},
        "end",
    ),
    (
        "POST",
        "/api/v1/congress/terms/cg-u01-t1/delegates",
        {"delegates": [{"member_id": "D0005"}]},
        "delegates",
    ),
    (
        "POST",
        "/api/v1/congress/terms/cg-u01-t1/delegates",
        {"delegates": [{"member_id": "D0005", "delegation_id": "g7"}]},
        "delegates",
    ),
    ("POST", "/api/v1/congress/terms/cg-u01-t1/sessions", {"title": "", "kind": "urgent"}, "title"),
    ("POST", "/api/v1/congress/sessions/cg-u01-t1-s1/items", {"kind": "poem", "title": "x"}, "kind"),
    ("POST", "/api/v1/congress/sessions/cg-u01-t1-s1/check-in", {"member_id": "D0005"}, "member_id"),
    ("POST", "/api/v1/congress/sessions/cg-u01-t1-s1/check-in", {"member_id": 7}, "member_id"),
    ("POST", "/api/v1/congress/items/cg-u01-t1-s1-i2/vote", {"choice": "perhaps"}, "choice"),
    ("POST", "/api/v1/congress/items/cg-u01-t1-s1-i2/vote", {}, "choice"),
    ("POST", "/api/v1/congress/sessions/cg-u01-t1-s1/check-in", [], "_body"),
]


def test_bad_inputs_are_400_with_field_messages(site):
    http, _ = site
    for method, path, body, field in BAD_INPUTS:
        r = call(http, ADMIN, method, path, body)
        assert r.status_code == 400, (path, body, r.text)
        assert field in r.json()["fields"], (path, body, r.json())
    r = http.post(
        "/api/v1/congress/sessions/cg-u01-t1-s1/check-in",
        data="{nope",
        headers={"Authorization": f"Bearer {token(ADMIN)}"},
    )
    assert r.status_code == 400


def test_check_in_quorum_vote_and_pages_over_http(site):
    http, session = site
    sid, item = session["id"], session["items"][1]["id"]
    assert call(http, OUTSIDER, "POST", f"/api/v1/congress/sessions/{sid}/check-in", {}).status_code == 403
    assert (
        call(
            http, member("D0005", "u01"), "POST", f"/api/v1/congress/sessions/{sid}/check-in", {}
        ).status_code
        == 403
    )
    for n in range(3):
        r = call(http, delegate(n), "POST", f"/api/v1/congress/sessions/{sid}/check-in", {})
        assert r.status_code == 200 and not r.json()["already"]
    assert call(http, delegate(0), "POST", f"/api/v1/congress/sessions/{sid}/check-in", {}).json() == {
        "session_id": sid,
        "member_id": "D0000",
        "already": True,
        "present_count": 3,
        "due_count": 5,
    }
    refused = call(http, ADMIN, "POST", f"/api/v1/congress/sessions/{sid}/convene")
    assert refused.status_code == 409  # 3 of 5 is under two thirds (4 needed)
    assert refused.json()["details"] == {
        "due_count": 5,
        "present_count": 3,
        "required": 4,
        "reason": "quorum_not_reached",
    }
    counts = call(http, delegate(0), "GET", f"/api/v1/congress/sessions/{sid}/counts").json()
    assert (counts["due_count"], counts["present_count"], counts["required"], counts["quorum"]) == (
        5,
        3,
        4,
        False,
    )
    assert [(d["name"], d["due"], d["present"]) for d in counts["by_delegation"]] == [
        ("一团", 3, 2),
        ("二团", 2, 1),
    ]
    assert (
        call(
            http, ADMIN, "POST", f"/api/v1/congress/sessions/{sid}/check-in", {"member_id": "D0003"}
        ).status_code
        == 200
    )
    assert call(http, delegate(0), "POST", f"/api/v1/congress/sessions/{sid}/convene").status_code == 403
    assert call(http, ADMIN, "POST", f"/api/v1/congress/sessions/{sid}/convene").json()["state"] == "convened"
    assert call(http, ADMIN, "POST", f"/api/v1/congress/items/{item}/open").json()["state"] == "voting"
    for n, choice in enumerate(["yes", "yes", "no", "abstain"]):
        r = call(http, delegate(n), "POST", f"/api/v1/congress/items/{item}/vote", {"choice": choice})
        assert r.status_code == 200 and r.json()["receipt"], r.text
    assert (
        call(http, delegate(0), "POST", f"/api/v1/congress/items/{item}/vote", {"choice": "no"}).status_code
        == 409
    )
    assert (
        call(http, OUTSIDER, "POST", f"/api/v1/congress/items/{item}/vote", {"choice": "yes"}).status_code
        == 403
    )
    closed = call(http, ADMIN, "POST", f"/api/v1/congress/items/{item}/close").json()
    assert (closed["state"], closed["outcome"]["yes"], closed["outcome"]["required"]) == (
        "failed",
        2,
        3,
    )  # 2 of 5
    assert (
        call(http, delegate(3), "POST", f"/api/v1/congress/items/{item}/vote", {"choice": "yes"}).status_code
        == 409
    )

    for actor, path in [
        (ADMIN, f"/congress/sessions/{sid}/console"),
        (delegate(1), f"/congress/sessions/{sid}"),
        (member("D0005", "u01"), "/congress/cg-u01"),
    ]:
        r = call(http, actor, "GET", path)
        assert r.status_code == 200 and "关于食堂改造方案的决议" in r.text, path
    assert call(http, OUTSIDER, "GET", "/congress/cg-u01").status_code == 403
    docx = call(http, delegate(1), "GET", f"/api/v1/congress/sessions/{sid}/minutes.docx")
    assert docx.status_code == 200 and docx.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats"
    )
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    assert "应到代表5人，实到4人" in text and "赞成2票、反对1票、弃权1票" in text and "未获通过" in text
    assert "代表4（一团）" in text  # the absent delegate


def test_agenda_item_text_time_place_and_files(site):
    """Issue 16: an agenda item carries its text, date and time, place and documents; members of the union
    read them (the file too), outsiders do not."""
    http, session = site
    sid = session["id"]
    body = {
        "kind": "resolution",
        "title": "关于《集体合同》的决议",
        "description": "大会审议通过《集体合同（草案）》。",
        "starts_at": "2026-04-02T09:30:00+08:00",
        "place": "三楼礼堂",
        "attachments": [{"filename": "草案.txt", "content_b64": "6I2J5qGI"}],
    }
    r = call(http, ADMIN, "POST", f"/api/v1/congress/sessions/{sid}/items", body)
    assert r.status_code == 201, r.text
    item = r.json()
    assert (item["place"], item["description"], item["starts_at"]) == (
        "三楼礼堂",
        "大会审议通过《集体合同（草案）》。",
        "2026-04-02T01:30:00Z",
    )
    [att] = item["attachments"]
    assert (att["filename"], att["size"]) == ("草案.txt", 6)
    path = f"/api/v1/congress/items/{item['id']}/attachments/{att['id']}"
    got = call(http, member("D0005", "u01"), "GET", path)
    assert got.status_code == 200 and got.content.decode() == "草案"
    assert call(http, OUTSIDER, "GET", path).status_code == 403
    assert (
        call(http, delegate(1), "GET", f"/api/v1/congress/items/{sid}-i1/attachments/{att['id']}").status_code
        == 404
    )
    bad = call(http, ADMIN, "POST", f"/api/v1/congress/sessions/{sid}/items", {**body, "place": "x" * 201})
    assert bad.status_code == 400 and "place" in bad.json()["fields"]
    page = call(http, delegate(1), "GET", f"/congress/sessions/{sid}")
    assert "三楼礼堂" in page.text and f"/congress/items/{item['id']}/attachments/{att['id']}" in page.text
    docx = call(http, delegate(1), "GET", f"/api/v1/congress/sessions/{sid}/minutes.docx")
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    assert "《关于〈集体合同〉的决议》（2026-04-02 09:30，三楼礼堂）" in text
    assert "缺席代表（" not in text and "本次会议尚未开幕" in text  # not held: nobody is absent
    assert "第1届第一届" not in text and "亦庄精密机械制造有限公司职工代表大会第一届第一次会议纪要" in text


def page_as(http, actor):
    http.cookies.clear()
    http.headers["Authorization"] = f"Bearer {token(actor)}"
    return http


def test_console_confirmations_picker_and_the_delegates_second_step(site):
    """Issue 16: the console's irreversible buttons need their box (refused without it, nothing done),
    宣布开幕 is disabled with the figures while not quorate, the desk finds delegates by name, and a
    delegate's vote shows the choice and asks once more before it is cast."""
    http, session = site
    sid, item = session["id"], session["items"][1]["id"]
    s = page_as(http, ADMIN)
    console = s.get(f"/congress/sessions/{sid}/console")
    assert 'id="convene" disabled' in console.text and 'id="convene-why"' in console.text
    assert "应到 5 人，实到 0 人；须至少 4 人" in console.text
    refused = s.post(f"/congress/sessions/{sid}/close", allow_redirects=False)
    assert (
        refused.status_code == 303
        and load_notice(AUTH_SECRET, s.cookies.get(NOTICE_COOKIE))["kind"] == "error"
    )
    assert call(http, ADMIN, "GET", f"/api/v1/congress/sessions/{sid}").json()["state"] == "planned"

    s = page_as(http, ADMIN)
    found = s.get(f"/congress/sessions/{sid}/console", params={"find": "代表2"})
    assert 'data-member="D0002"' in found.text and 'data-member="D0001"' not in found.text
    assert 'data-member="D0003"' in s.get(f"/congress/sessions/{sid}/console", params={"find": "d0003"}).text
    for n in range(4):
        done = s.post(
            f"/congress/sessions/{sid}/check-in", data={"member_id": f"D{n:04d}", "back": "console"}
        )
        assert done.status_code == 200
    console = s.get(f"/congress/sessions/{sid}/console")
    assert 'id="convene" disabled' not in console.text and 'name="confirmed"' in console.text
    assert s.post(f"/congress/sessions/{sid}/convene", data={"confirmed": "on"}).status_code == 200
    unboxed = s.post(f"/congress/items/{item}/open", data={"session_id": sid}, allow_redirects=False)
    assert unboxed.status_code == 303
    assert call(http, ADMIN, "GET", f"/api/v1/congress/sessions/{sid}").json()["open_item"] is None
    s = page_as(http, ADMIN)
    assert (
        s.post(f"/congress/items/{item}/open", data={"session_id": sid, "confirmed": "on"}).status_code == 200
    )

    s = page_as(http, delegate(1))
    step = s.get(f"/congress/items/{item}/vote", params={"choice": "no", "session_id": sid})
    assert step.status_code == 200 and 'data-choice="no"' in step.text and 'name="confirmed"' in step.text
    assert (
        call(http, delegate(1), "GET", f"/api/v1/congress/sessions/{sid}/me").json()["open_item"]["has_voted"]
        is False
    )
    s = page_as(http, delegate(1))
    unboxed = s.post(f"/congress/items/{item}/vote", data={"choice": "no", "session_id": sid})
    assert unboxed.status_code == 400 and 'id="confirmed-error"' in unboxed.text
    assert (
        call(http, delegate(1), "GET", f"/api/v1/congress/sessions/{sid}/me").json()["open_item"]["has_voted"]
        is False
    )
    s = page_as(http, delegate(1))
    cast = s.post(
        f"/congress/items/{item}/vote",
        data={"choice": "no", "session_id": sid, "confirmed": "on"},
        allow_redirects=False,
    )
    assert cast.status_code == 303
    assert (
        call(http, delegate(1), "GET", f"/api/v1/congress/sessions/{sid}/me").json()["open_item"]["has_voted"]
        is True
    )

    s = page_as(http, ADMIN)
    assert s.post(f"/congress/items/{item}/close", data={"session_id": sid}).status_code == 200
    assert (
        call(http, ADMIN, "GET", f"/api/v1/congress/sessions/{sid}").json()["items"][1]["state"] == "voting"
    )
