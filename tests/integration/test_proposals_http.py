"""The proposals API and pages through the gateway, with members, congress and proposals running: bad
inputs are 400 with field messages, refusals keep their 403/409 status and message, the pages render for
each role, the register is a real XLSX workbook."""

import io

import lxml.html
import pytest
from openpyxl import load_workbook

from services.congress.service import CongressService
from services.gateway.pages import NOTICE_COOKIE, load_notice
from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.proposals.service import ProposalsService
from tests.helpers import AUTH_SECRET, member, token
from tests.integration.test_proposals_service import ADMIN, DRAFT, H1, H2, d, populate

pytestmark = pytest.mark.integration


@pytest.fixture
def site(runner_factory, config, rpc_as, web_session):
    runner_factory(config, GatewayService, MembersService, CongressService, ProposalsService).start()
    return web_session, populate(rpc_as)


def call(http, actor, method, path, body=None):
    headers = {"Authorization": f"Bearer {token(actor)}"} if actor else {}
    return http.request(method, path, json=body, headers=headers)


def test_api_bad_inputs_refusals_and_the_register(site):
    http, sid = site
    base = f"/api/v1/proposals/sessions/{sid}"
    r = call(http, d(1), "POST", f"{base}/proposals", DRAFT)
    assert r.status_code == 404 and "尚未开启提案征集" in r.json()["message"]
    assert call(http, d(1), "POST", f"{base}/window", {}).status_code == 403
    for body, field in (
        ({"min_cosigners": -1}, "min_cosigners"),
        ({"min_cosigners": "two"}, "min_cosigners"),
        ({"deadline_days": 0}, "deadline_days"),
        ({"extra": 1}, "extra"),
    ):
        r = call(http, ADMIN, "POST", f"{base}/window", body)
        assert r.status_code == 400 and field in r.json()["fields"], (body, r.text)
    assert call(http, ADMIN, "POST", f"{base}/window", {"min_cosigners": 2})
    assert call(http, ADMIN, "POST", "/api/v1/proposals/sessions/cg-u01-t1-s9/window", {}).status_code == 404

    for body, field in (
        ({**DRAFT, "subject": ""}, "subject"),
        ({**DRAFT, "subject": "x" * 101}, "subject"),
        ({**DRAFT, "category": "lunch"}, "category"),
        ({**DRAFT, "reasons": "太短"}, "reasons"),
        ({k: v for k, v in DRAFT.items() if k != "measures"}, "measures"),
        ({**DRAFT, "invite": "D0002"}, "invite"),
        ({**DRAFT, "invite": ["D0002", "D0002"]}, "invite"),
        ({**DRAFT, "invite": ["D0005"]}, "invite"),
    ):
        r = call(http, d(1), "POST", f"{base}/proposals", body)
        assert r.status_code == 400 and field in r.json()["fields"], (body, r.text)
    r = http.post(f"{base}/proposals", data="{oops", headers={"Authorization": f"Bearer {token(d(1))}"})
    assert r.status_code == 400

    r = call(http, d(1), "POST", f"{base}/proposals", {**DRAFT, "invite": ["D0002", "D0003"]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    api = f"/api/v1/proposals/{pid}"
    r = call(http, d(1), "POST", f"{api}/submit")
    assert r.status_code == 409 and r.json()["details"]["missing"] == 2
    r = call(http, d(1), "POST", f"{api}/cosign")
    assert r.status_code == 403 and "your own" in r.json()["message"]
    assert call(http, d(2), "POST", f"{api}/cosign").status_code == 200
    r = call(http, d(2), "POST", f"{api}/cosign")
    assert r.status_code == 409 and "already co-signed" in r.json()["message"]
    assert call(http, d(3), "POST", f"{api}/cosign").status_code == 200
    assert call(http, d(1), "POST", f"{api}/submit").json()["state"] == "submitted"

    r = call(http, d(2), "POST", f"{api}/review", {"decision": "accept"})
    assert r.status_code == 403 and "admin" in r.json()["message"]
    for body, field in (
        ({"decision": "reject"}, "reason"),
        ({"decision": "ok"}, "decision"),
        ({}, "decision"),
    ):
        r = call(http, ADMIN, "POST", f"{api}/review", body)
        assert r.status_code == 400 and field in r.json()["fields"], (body, r.text)
    assert call(http, ADMIN, "POST", f"{api}/review", {"decision": "accept"}).json()["state"] == "accepted"
    for body, field in (
        ({"department_ids": []}, "department_ids"),
        ({"department_ids": ["u01-d1"], "deadline_days": 0}, "deadline_days"),
        ({"department_ids": ["nope"]}, "department_ids"),
    ):
        r = call(http, ADMIN, "POST", f"{api}/assign", body)
        assert r.status_code == 400 and field in r.json()["fields"], (body, r.text)
    assert call(http, ADMIN, "POST", f"{api}/assign", {"department_ids": ["u01-d1"]}).status_code == 200
    r = call(http, H2, "POST", f"{api}/reply", {"text": "安全环保部试图答复别的部门的提案。"})
    assert r.status_code == 403 and "not assigned to your department" in r.json()["message"]
    assert call(http, H1, "POST", f"{api}/reply", {"text": "短"}).status_code == 400
    assert (
        call(http, H1, "POST", f"{api}/reply", {"text": "夜宵延长至凌晨两点，下周一起执行。"}).status_code
        == 200
    )
    r = call(http, d(1), "POST", f"{api}/rate", {"satisfaction": "great"})
    assert r.status_code == 400, r.text[-1500:]
    assert call(http, d(1), "POST", f"{api}/rate", {"satisfaction": "satisfied"}).json()["state"] == "closed"
    assert call(http, ADMIN, "POST", f"{api}/excellent").json()["excellent"] is True

    stats = call(http, member("D0005", "u01"), "GET", f"{base}/statistics").json()
    assert (stats["submitted"], stats["accepted"], stats["closed"], stats["acceptance_rate"]) == (
        1,
        1,
        1,
        1.0,
    )
    assert call(http, member("X0001", "u02"), "GET", f"{base}/statistics").status_code == 403
    assert call(http, d(1), "GET", f"{base}/register.xlsx").status_code == 403
    r = call(http, ADMIN, "GET", f"{base}/register.xlsx")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/vnd.openxml")
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:3] == ("提案号", "案由", "类别")
    assert (
        rows[2][1] == DRAFT["subject"]
        and rows[2][5] == "已办结"
        and rows[2][13] == "满意"
        and rows[2][14] == "是"
    )
    spec = call(http, None, "GET", "/api/v1/openapi.json").json()
    assert "/api/v1/proposals/{proposal_id}/review" in spec["paths"]


def test_pages_for_each_role(site):
    http, sid = site
    base = f"/api/v1/proposals/sessions/{sid}"
    call(http, ADMIN, "POST", f"{base}/window", {"min_cosigners": 1})
    pid = call(http, d(1), "POST", f"{base}/proposals", {**DRAFT, "invite": ["D0002"]}).json()["id"]

    def page(actor, path):
        r = call(http, actor, "GET", path)
        assert r.status_code == 200, (path, r.text[:500])
        return r.text

    assert "我的提案" in page(d(1), "/proposals") and sid in page(d(1), "/proposals")
    mine = page(d(2), f"/proposals/sessions/{sid}/mine")
    assert "附议邀请" in mine and DRAFT["subject"] in mine and f"/proposals/{pid}/cosign" in mine
    call(http, d(2), "POST", f"/api/v1/proposals/{pid}/cosign")
    call(http, d(1), "POST", f"/api/v1/proposals/{pid}/submit")
    desk = page(ADMIN, f"/proposals/sessions/{sid}/desk")
    assert "待审查" in desk and f"/proposals/{pid}/review" in desk
    call(http, ADMIN, "POST", f"/api/v1/proposals/{pid}/review", {"decision": "accept"})
    review = page(ADMIN, f"/proposals/{pid}/review")  # the one form of an accepted proposal: assign
    assert "后勤保障部" in review and f'action="/proposals/{pid}/assign"' in review
    call(http, ADMIN, "POST", f"/api/v1/proposals/{pid}/assign", {"department_ids": ["u01-d1"]})
    inbox = page(H1, "/proposals/inbox/u01-d1")
    assert DRAFT["subject"] in inbox and f"/proposals/{pid}/reply" in inbox
    assert call(http, H2, "GET", "/proposals/inbox/u01-d1").status_code == 403
    assert "交办给 后勤保障部 的提案" in page(H1, "/proposals")
    # the pages' one policy (services/gateway/pages.py): a refusal by right is the error page with the
    # navigation; a refusal by state (409) goes back to the page with its message in the signed notice,
    # shown once on the next page and cleared there
    r = http.post(
        f"/proposals/{pid}/review",
        data={"decision": "accept", "session_id": sid, "confirmed": "on"},
        headers={"Authorization": f"Bearer {token(d(1))}"},
        allow_redirects=False,
    )
    assert r.status_code == 403 and 'class="nav"' in r.text and "/proposals" in r.text
    r = http.post(
        f"/proposals/{pid}/review",
        data={"decision": "accept", "session_id": sid, "confirmed": "on"},
        headers={"Authorization": f"Bearer {token(ADMIN)}"},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["Location"] == f"/proposals/sessions/{sid}/desk"
    assert "notice=" not in r.headers["Location"]
    notice = load_notice(AUTH_SECRET, r.cookies.get(NOTICE_COOKIE))
    assert notice["kind"] == "error" and notice["text"]
    back = http.get(
        r.headers["Location"],
        headers={"Authorization": f"Bearer {token(ADMIN)}"},
        cookies={NOTICE_COOKIE: r.cookies.get(NOTICE_COOKIE)},
    )
    assert back.status_code == 200 and 'id="notice"' in back.text and notice["text"] in back.text
    assert f"{NOTICE_COOKIE}=;" in back.headers["Set-Cookie"]  # shown once: cleared by that page
    call(http, H1, "POST", f"/api/v1/proposals/{pid}/reply", {"text": "夜宵延长至凌晨两点，下周一起执行。"})
    detail = page(d(1), f"/proposals/{pid}")
    assert 'id="rate"' in detail and "办理记录" in detail and "交办" in detail
    public = page(member("D0005", "u01"), f"/proposals/sessions/{sid}")
    assert "夜宵延长至凌晨两点" in public
    stats = page(member("D0005", "u01"), f"/proposals/sessions/{sid}/stats")
    assert "立案率" in stats and "<svg" in stats
    # a form post with a bad field comes back as the form with the message, nothing stored
    r = http.post(
        f"/proposals/sessions/{sid}/mine",
        data={"subject": "短", "category": "welfare", "reasons": "", "measures": "", "invite": ""},
        headers={"Authorization": f"Bearer {token(d(1))}"},
    )
    assert r.status_code == 400 and 'class="field-error"' in r.text and 'value="短"' in r.text
    assert len(call(http, d(1), "GET", f"{base}/mine").json()["own"]) == 1
    english = call(http, d(1), "GET", f"/proposals/sessions/{sid}/mine?lang=en").text
    assert "My proposals" in english


def test_cosigner_name_picker_and_no_cosign_after_collection(site):
    """Issue 16: co-signers are found by name or number in the form (what was typed stays), invited by
    ticking them; 附议 is not offered once the collection has closed."""
    http, sid = site
    base = f"/api/v1/proposals/sessions/{sid}"
    call(http, ADMIN, "POST", f"{base}/window", {"min_cosigners": 1})
    headers = {"Authorization": f"Bearer {token(d(1))}"}
    typed = {"subject": DRAFT["subject"], "category": DRAFT["category"], "reasons": DRAFT["reasons"]}
    found = http.post(
        f"/proposals/sessions/{sid}/mine", data={**typed, "find": "d0002", "find_go": "1"}, headers=headers
    )
    assert found.status_code == 200 and 'data-member="D0002"' in found.text
    assert 'data-member="D0001"' not in found.text  # not oneself
    assert f'value="{DRAFT["subject"]}"' in found.text  # nothing typed is lost
    assert len(call(http, d(1), "GET", f"{base}/mine").json()["own"]) == 0  # a search stores nothing
    made = http.post(
        f"/proposals/sessions/{sid}/mine",
        data={**DRAFT, "invite": "", "pick": ["D0002"], "name_D0002": "x"},
        headers=headers,
        allow_redirects=False,
    )
    assert made.status_code == 303, made.text
    [own] = call(http, d(1), "GET", f"{base}/mine").json()["own"]
    assert [x["member_id"] for x in own["invited"]] == ["D0002"]
    assert f"/proposals/{own['id']}/cosign" in call(http, d(2), "GET", f"/proposals/sessions/{sid}/mine").text
    assert 'id="cosign"' in call(http, d(3), "GET", f"/proposals/{own['id']}").text
    call(http, ADMIN, "POST", f"{base}/window/close")
    mine = call(http, d(2), "GET", f"/proposals/sessions/{sid}/mine").text
    assert f"/proposals/{own['id']}/cosign" not in mine and "提案征集已截止，不能再附议。" in mine
    detail = call(http, d(3), "GET", f"/proposals/{own['id']}").text
    assert 'id="cosign"' not in detail and 'id="cosign-closed"' in detail


def test_the_desk_and_the_inbox_are_paged_queues_with_one_form_per_item_page(site):
    """Issue 16 through the gateway: the queue API's arguments and refusals, the desk as a table of links
    (20 a page, page 2 exists) with no form per row, one form on a proposal's review and reply pages,
    and the refused roles."""
    http, sid = site
    base = f"/api/v1/proposals/sessions/{sid}"
    r = call(http, ADMIN, "GET", f"/proposals/sessions/{sid}/desk")  # no window yet: the form to open one
    assert r.status_code == 200 and 'data-status="none"' in r.text and "proposal-queue" not in r.text
    call(http, ADMIN, "POST", f"{base}/window", {"min_cosigners": 1})
    ids = []
    for n in range(22):
        r = call(
            http,
            d(1),
            "POST",
            f"{base}/proposals",
            {**DRAFT, "subject": f"关于第{n + 1}号建议的提案", "invite": ["D0002"]},
        )
        ids.append(r.json()["id"])
        call(http, d(2), "POST", f"/api/v1/proposals/{ids[-1]}/cosign")
        call(http, d(1), "POST", f"/api/v1/proposals/{ids[-1]}/submit")
    call(http, ADMIN, "POST", f"/api/v1/proposals/{ids[0]}/review", {"decision": "accept"})
    call(http, ADMIN, "POST", f"/api/v1/proposals/{ids[0]}/assign", {"department_ids": ["u01-d1"]})

    r = call(http, ADMIN, "GET", f"{base}/queue?page=2&per_page=20")
    assert r.status_code == 200 and [p["id"] for p in r.json()["items"]] == ids[20:]
    assert r.json()["counts"] == {"submitted": 21, "assigned": 1} and r.json()["pages"] == 2
    r = call(http, ADMIN, "GET", f"{base}/queue?state=assigned")
    assert [p["id"] for p in r.json()["items"]] == [ids[0]]
    for query, field in (("per_page=500", "per_page"), ("sort=subject", "sort"), ("state=draft", "state")):
        r = call(http, ADMIN, "GET", f"{base}/queue?{query}")
        assert r.status_code == 400 and field in r.json()["fields"], (query, r.text)
    assert call(http, d(1), "GET", f"{base}/queue").status_code == 403
    r = call(http, H1, "GET", "/api/v1/proposals/inbox/u01-d1/queue")
    assert r.status_code == 200 and r.json()["department"] == {"id": "u01-d1", "name": "后勤保障部"}
    assert call(http, H2, "GET", "/api/v1/proposals/inbox/u01-d1/queue").status_code == 403

    def page(actor, path, status=200):
        """The page's ``<main>`` (the header's log-out form left out)."""
        r = http.get(path, headers={"Authorization": f"Bearer {token(actor)}"}, allow_redirects=False)
        assert r.status_code == status, (path, r.text[:300])
        return r.text.split('<main class="page"', 1)[-1]

    desk = page(ADMIN, f"/proposals/sessions/{sid}/desk")
    assert desk.count('<tr id="p-') == 20 and 'rel="next"' in desk
    assert desk.count('method="post"') == 1  # the window's form only: no form per proposal
    second = page(ADMIN, f"/proposals/sessions/{sid}/desk?page=2")
    assert second.count('<tr id="p-') == 2 and f'id="p-{ids[21]}"' in second
    found = page(ADMIN, f"/proposals/sessions/{sid}/desk?q=第22号")
    assert found.count('<tr id="p-') == 1 and f'id="p-{ids[21]}"' in found
    review = page(ADMIN, f"/proposals/{ids[5]}/review?back=/proposals/sessions/{sid}/desk?page=2")
    assert review.count('method="post"') == 1 and f'action="/proposals/{ids[5]}/review"' in review
    assert f'value="/proposals/sessions/{sid}/desk?page=2"' in review  # back to the same page
    assert "//evil" not in page(ADMIN, f"/proposals/{ids[5]}/review?back=//evil.example/x")
    page(d(1), f"/proposals/{ids[5]}/review", 403)
    inbox = page(H1, "/proposals/inbox/u01-d1")
    assert "后勤保障部" in inbox and f"/proposals/{ids[0]}/reply" in inbox and 'method="post"' not in inbox
    reply = page(H1, f"/proposals/{ids[0]}/reply?department_id=u01-d1")
    assert reply.count('method="post"') == 1 and 'name="department_id" value="u01-d1"' in reply
    page(H2, f"/proposals/{ids[0]}/reply", 403)
    page(ADMIN, f"/proposals/{ids[0]}/reply", 403)


def test_closing_the_collection_and_marking_excellent_ask_for_a_confirmation(site):
    """Issue 16: closing the collection (征集截止) and marking a proposal excellent (优秀提案) are
    confirmed on the page with the effect in words; posted without the box, each is refused with the
    message at the top of the page it comes back to and nothing changes."""
    http, sid = site
    base = f"/api/v1/proposals/sessions/{sid}"
    call(http, ADMIN, "POST", f"{base}/window", {"min_cosigners": 1})
    pid = call(http, d(1), "POST", f"{base}/proposals", {**DRAFT, "invite": ["D0002"]}).json()["id"]
    api = f"/api/v1/proposals/{pid}"
    call(http, d(2), "POST", f"{api}/cosign")
    assert call(http, d(1), "POST", f"{api}/submit").json()["state"] == "submitted"
    admin = {"Authorization": f"Bearer {token(ADMIN)}"}

    def post(path, data):
        r = http.post(path, data=data, headers=admin, allow_redirects=False)
        assert r.status_code == 303, r.text[-800:]
        return load_notice(AUTH_SECRET, r.cookies.get(NOTICE_COOKIE))

    desk = call(http, ADMIN, "GET", f"/proposals/sessions/{sid}/desk").text
    box = lxml.html.fromstring(desk).xpath("//section[@id='window']//label[@class='confirm']")[0]
    assert box.xpath("input[@name='confirmed' and @required]")
    assert "已提交的1件提案进入审查" in box.text_content() and "不可撤销" not in box.text_content()
    notice = post(f"/proposals/sessions/{sid}/window", {"action": "close"})
    assert notice["kind"] == "error" and "确认" in notice["text"]
    assert call(http, ADMIN, "GET", f"{base}/window").json()["status"] == "open"
    assert post(f"/proposals/sessions/{sid}/window", {"action": "close", "confirmed": "on"})["kind"] == "ok"
    assert call(http, ADMIN, "GET", f"{base}/window").json()["status"] == "closed"

    call(http, ADMIN, "POST", f"{api}/review", {"decision": "accept"})
    call(http, ADMIN, "POST", f"{api}/assign", {"department_ids": ["u01-d1"]})
    call(http, H1, "POST", f"{api}/reply", {"text": "夜宵延长至凌晨两点，下周一起执行。"})
    assert call(http, d(1), "POST", f"{api}/rate", {"satisfaction": "satisfied"}).json()["state"] == "closed"
    review = call(http, ADMIN, "GET", f"/proposals/{pid}/review").text
    box = lxml.html.fromstring(review).xpath("//section[@id='excellent-form']//label[@class='confirm']")[0]
    assert "将评为优秀提案" in box.text_content() and "此操作不可撤销" in box.text_content()
    english = call(http, ADMIN, "GET", f"/proposals/{pid}/review?lang=en").text
    assert "becomes an excellent proposal" in english and "This cannot be undone." in english
    notice = post(f"/proposals/{pid}/excellent", {"session_id": sid})
    assert notice["kind"] == "error" and call(http, ADMIN, "GET", api).json()["excellent"] is False
    assert post(f"/proposals/{pid}/excellent", {"session_id": sid, "confirmed": "on"})["kind"] == "ok"
    assert call(http, ADMIN, "GET", api).json()["excellent"] is True
