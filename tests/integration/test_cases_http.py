"""Worker requests (接诉即办) through the gateway, with the real members and cases services over RabbitMQ
and FerretDB, and an SMS stand-in for the progress-query code: refusals (400 with field messages, 403
another union, 404, 409 wrong state), the whole flow over the API through both rounds, the progress
query, the indicators and the XLSX monthly report, and the pages of each role."""

import io
import json
import re

import pytest
from openpyxl import load_workbook

from services.cases.service import CasesService
from services.gateway.pages import NOTICE_COOKIE, load_notice
from services.gateway.service import GatewayService
from services.members.service import MembersService
from tests.helpers import AUTH_SECRET, SYSTEM, member, token, union_admin, wait_until
from tests.integration.test_notify_service import Sink

pytestmark = pytest.mark.integration

PHONE = "13800138000"
MEMBER = member("M0000001", "u01", name="会员一")
OTHER_MEMBER = member("M0000002", "u01", name="会员二")
ADMIN = union_admin("u01", "A0000001")
HOTLINE = member("H0000001", "u01", ("hotline_staff", "u01"), name="热线员")
OTHER_ADMIN = union_admin("u02", "B0000009")
SUPERIOR = member("S0000001", "ftu", ("superior_admin", "ftu"), name="上级")
CASE = {
    "case_type": "resolution",
    "category": "wage_arrears",
    "title": "三个月工资未发",
    "description": "车间二班从九月起工资一直没有发放，多次询问没有答复。",
    "employer": {"union_id": "u01"},
    "phone": PHONE,
}
#: The filing form's fields for CASE (pages).
FILING_FORM = {
    "case_type": CASE["case_type"],
    "category": CASE["category"],
    "title": CASE["title"],
    "description": CASE["description"],
    "employer_union_id": "u01",
    "phone": PHONE,
}
REPLY = "经与企业核实，拖欠工资已于本周五前全部补发到个人账户。"


@pytest.fixture
def sms(tmp_path):
    sink = Sink("sms", tmp_path).start()
    yield sink
    sink.stop()


@pytest.fixture
def site(runner_factory, config, rpc_as, web_session, sms):
    cfg = {**config, "SMS_URL": f"http://127.0.0.1:{sms.port}/sms"}
    runner_factory(cfg, GatewayService, MembersService, CasesService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for u, name in (("u01", "星海电子"), ("u02", "恒远建设")):
            rpc.members.create_union(
                {"id": u, "name": f"{name}工会", "kind": "grassroots", "parent_id": "ftu"}
            )
    return web_session


def call(http, actor, method, path, body=None, **kw):
    headers = {"Authorization": f"Bearer {token(actor)}"} if actor else {}
    return http.request(method, path, json=body, headers=headers, **kw)


def code_for(sms: Sink, number: str) -> str:
    """The one-time code the SMS stand-in received for case ``number``."""
    found = wait_until(lambda: [r for r in sms.records() if number in r["text"]])
    return re.search(r"验证码：?(\d{6})", found[-1]["text"]).group(1)


def test_refusals_keep_their_status_and_field_messages(site):
    http = site
    assert call(http, None, "POST", "/api/v1/cases", CASE).status_code == 401
    for body, fields in (
        ({}, {"case_type", "category", "title", "description", "employer"}),
        ({**CASE, "case_type": "gossip", "category": "lunch"}, {"case_type", "category"}),
        ({**CASE, "title": "短"}, {"title"}),
        ({**CASE, "anonymous": True}, {"anonymous"}),
        ({**CASE, "employer": {}}, {"employer"}),
        ({**CASE, "phone": "12345"}, {"phone"}),
        ({**CASE, "employer": {"union_id": "u99"}}, {"employer"}),
    ):
        r = call(http, MEMBER, "POST", "/api/v1/cases", body)
        assert r.status_code == 400 and r.json()["error"] == "bad_input", (body, r.text)
        assert set(r.json()["fields"]) == fields, (body, r.json()["fields"])
    assert call(http, MEMBER, "GET", "/api/v1/cases/mine").json() == []  # nothing was filed

    number = call(http, MEMBER, "POST", "/api/v1/cases", CASE).json()["id"]
    api = f"/api/v1/cases/{number}"
    # another union's admin and another member: 403; no such case: 404
    for actor in (OTHER_ADMIN, OTHER_MEMBER):
        r = call(http, actor, "GET", api)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert call(http, OTHER_ADMIN, "POST", f"{api}/dispatch", {"union_id": "u02"}).status_code == 403
    assert call(http, OTHER_ADMIN, "GET", "/api/v1/unions/u01/cases").status_code == 403
    assert call(http, MEMBER, "GET", "/api/v1/unions/u01/case-indicators").status_code == 403
    assert call(http, ADMIN, "GET", "/api/v1/cases/26010100001").status_code == 404
    # wrong state: 409 with the state in the details
    r = call(http, MEMBER, "POST", f"{api}/rating", {"satisfaction": "satisfied", "resolved": True})
    assert r.status_code == 409 and r.json()["details"]["state"] == "received"
    r = call(http, ADMIN, "POST", f"{api}/dispatch", {"union_id": "u01", "complexity": "easy"})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"complexity"}
    assert call(http, ADMIN, "POST", f"{api}/dispatch", {"union_id": "u01"}).status_code == 200
    r = call(http, ADMIN, "POST", f"{api}/dispatch", {"union_id": "u01"})
    assert r.status_code == 409 and r.json()["details"]["state"] == "dispatched"
    r = call(http, ADMIN, "POST", f"{api}/reply", {"text": REPLY})
    assert r.status_code == 409  # sign for and contact first
    assert call(http, OTHER_ADMIN, "POST", f"{api}/sign-for").status_code == 403
    r = call(http, ADMIN, "POST", f"{api}/transfer", {"union_id": "u01", "reason": "短"})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"reason"}
    r = call(http, ADMIN, "GET", "/api/v1/unions/u01/cases?state=lost&per_page=500")
    assert r.status_code == 400 and set(r.json()["fields"]) == {"state", "per_page"}
    r = call(http, ADMIN, "GET", "/api/v1/unions/u01/case-indicators?from_month=2026-13")
    assert r.status_code == 400 and "from_month" in r.json()["fields"]
    r = http.post("/api/v1/case-progress/code", json={"case_number": "123", "phone": PHONE})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"case_number"}
    r = http.post("/api/v1/case-progress", json={"case_number": number, "phone": PHONE, "code": "000000"})
    assert r.status_code == 404  # no code was asked for: one message for number, phone and code
    assert call(http, ADMIN, "GET", api).json()["state"] == "dispatched"  # refusals changed nothing


def test_a_case_through_every_state_and_both_rounds_over_the_api(site, sms):
    http = site
    filed = call(http, MEMBER, "POST", "/api/v1/cases", CASE)
    assert filed.status_code == 201, filed.text
    case = filed.json()
    number, api = case["id"], f"/api/v1/cases/{case['id']}"
    assert re.fullmatch(r"\d{11}", number) and case["state"] == "received" and case["my_roles"] == ["worker"]
    assert [c["id"] for c in call(http, MEMBER, "GET", "/api/v1/cases/mine").json()] == [number]

    def step(actor, path, body=None, state=None):
        r = call(http, actor, "POST", f"{api}/{path}", body)
        assert r.status_code == 200, (path, r.text)
        if state:
            assert r.json()["state"] == state, (path, r.json()["state"])
        return r.json()

    case = step(ADMIN, "dispatch", {"union_id": "u01", "complexity": "general"}, "dispatched")
    assert case["rounds"][0]["limit_days"] == 5 and case["deadline"] and case["colour"] in ("green", "amber")
    queue = call(http, HOTLINE, "GET", "/api/v1/unions/u01/cases?state=dispatched").json()
    assert [r["id"] for r in queue["items"]] == [number] and queue["items"][0]["colour"] == case["colour"]
    step(HOTLINE, "sign-for", state="signed")
    step(HOTLINE, "contact", {"method": "phone", "note": "已电话联系诉求人，了解欠薪情况。"}, "in_progress")
    step(HOTLINE, "notes", {"text": "企业财务称资金周转困难。"})
    step(HOTLINE, "interim-replies", {"text": "已约谈企业负责人，正在核实工资发放记录。"})
    step(ADMIN, "reply", {"text": REPLY}, "replied")
    # the worker sees no internal note
    mine = call(http, MEMBER, "GET", api).json()
    assert "企业财务称资金周转困难" not in json.dumps(mine, ensure_ascii=False)
    r = call(http, OTHER_MEMBER, "POST", f"{api}/rating", {"satisfaction": "satisfied", "resolved": True})
    assert r.status_code == 403  # only the filer rates
    case = step(
        MEMBER, "rating", {"satisfaction": "dissatisfied", "resolved": False, "comment": "只发了一半"}
    )
    assert case["round"] == 2 and case["state"] == "dispatched"  # 不满意 reopens once
    step(ADMIN, "sign-for", state="signed")
    step(ADMIN, "contact", {"method": "visit"}, "in_progress")
    step(ADMIN, "reply", {"text": REPLY + "剩余部分已补齐。"}, "replied")
    case = step(MEMBER, "rating", {"satisfaction": "satisfied", "resolved": True}, "closed")
    assert [r["rating"]["satisfaction"] for r in case["rounds"]] == ["dissatisfied", "satisfied"]
    step(HOTLINE, "follow-ups", {"text": "回访：工资已全部到账，诉求人满意。"})
    assert call(http, ADMIN, "POST", f"{api}/reply", {"text": REPLY}).status_code == 409

    # the progress query: a code by SMS, used once, no internal notes
    assert http.post("/api/v1/case-progress/code", json={"case_number": number, "phone": PHONE}).json()[
        "sent"
    ]
    code = code_for(sms, number)
    progress = http.post("/api/v1/case-progress", json={"case_number": number, "phone": PHONE, "code": code})
    assert progress.status_code == 200, progress.text
    p = progress.json()
    assert p["state"] == "closed" and [r["kind"] for r in p["replies"]].count("final") == 2
    assert "企业财务称资金周转困难" not in progress.text and not any(h["internal"] for h in p["history"])
    again = http.post("/api/v1/case-progress", json={"case_number": number, "phone": PHONE, "code": code})
    assert again.status_code == 404  # used once

    # the indicators count it: two rounds due and closed, the final rating (satisfied) rated once
    ind = call(http, SUPERIOR, "GET", "/api/v1/unions/ftu/case-indicators").json()
    k = ind["counts"]
    assert (k["received"], k["dispatched"], k["due"], k["closed"], k["rated"]) == (1, 1, 2, 2, 1)
    assert (k["satisfied"], k["dissatisfied"], k["resolved"]) == (1, 0, 1)
    assert ind["rates"]["satisfaction_rate"] == 1.0 and ind["rates"]["closure_rate"] == 1.0
    assert set(ind["formulas"]) >= {"response_rate", "closure_rate", "satisfaction_rate"}
    # the monthly report: a real workbook with the union's row and the formulas
    r = call(http, SUPERIOR, "GET", "/api/v1/unions/ftu/case-report.xlsx")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["指标", "分类", "每月一题"]
    rows = [[c.value for c in row] for row in wb["指标"].iter_rows()]
    total = next(row for row in rows if row[0] == "总工会（合计）")
    assert total[1] == 1 and total[4] == 2 and total[7] == 1  # received, due, rated
    assert any(row[0] == "星海电子工会" for row in rows)
    assert any(row[0] == "satisfaction_rate" for row in rows)
    topic = call(http, SUPERIOR, "GET", "/api/v1/unions/ftu/case-topic").json()
    assert topic["top_categories"][0]["category"] == "wage_arrears"
    assert call(http, SUPERIOR, "GET", "/api/v1/unions/ftu/case-alerts").json() == []


def test_hotline_call_and_transfer(site):
    http = site
    call_in = {
        **CASE,
        "channel": "phone",
        "caller": {"name": "李师傅", "phone": "13900139000"},
        "employer": {"name": "城东物流有限公司"},
    }
    call_in.pop("phone")
    assert call(http, OTHER_ADMIN, "POST", "/api/v1/unions/u01/hotline-cases", call_in).status_code == 403
    r = call(http, HOTLINE, "POST", "/api/v1/unions/u01/hotline-cases", {**call_in, "caller": None})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"caller"}
    r = call(http, HOTLINE, "POST", "/api/v1/unions/u01/hotline-cases", call_in)
    assert r.status_code == 201, r.text
    number = r.json()["id"]
    assert r.json()["worker"]["phone_masked"] == "139****9000"
    api = f"/api/v1/cases/{number}"
    assert call(http, HOTLINE, "POST", f"{api}/dispatch", {"union_id": "u01"}).json()["state"] == "dispatched"
    moved = call(
        http,
        SUPERIOR,
        "POST",
        f"{api}/transfer",
        {"union_id": "ftu", "reason": "涉及多家企业，上转总工会协调"},
    )
    assert moved.status_code == 200, moved.text
    case = moved.json()
    assert case["handling_union_id"] == "ftu"
    assert [h["action"] for h in case["history"]][-1] == "transfer"
    assert call(http, HOTLINE, "POST", f"{api}/sign-for").status_code == 403  # no longer u01's


def page_notice(http) -> dict | None:
    return load_notice(AUTH_SECRET, http.cookies.get(NOTICE_COOKIE))


def test_the_pages_of_each_role(site, sms):
    http = site

    def as_(actor):
        http.cookies.clear()
        http.headers["Authorization"] = f"Bearer {token(actor)}"
        return http

    s = as_(MEMBER)
    assert s.get("/cases").status_code == 200 and "我的诉求" in s.get("/cases").text
    form = s.get("/cases/new")
    assert form.status_code == 200 and 'id="case-form"' in form.text
    bad = s.post("/cases/new", data={"case_type": "inquiry", "category": "welfare", "title": "短"})
    assert bad.status_code == 400 and 'id="title-error"' in bad.text and 'id="description-error"' in bad.text
    fields = dict(FILING_FORM)
    done = s.post("/cases/new", data=fields, allow_redirects=False)
    assert done.status_code == 303, done.text
    number = done.headers["Location"].rsplit("/", 1)[-1]
    assert re.fullmatch(r"\d{11}", number) and page_notice(s)["ref"] == number
    page = s.get(f"/cases/{number}")
    assert (
        page.status_code == 200 and 'data-state="received"' in page.text and 'id="actions"' not in page.text
    )

    s = as_(OTHER_ADMIN)
    assert s.get(f"/cases/{number}").status_code == 403
    assert s.get("/unions/u01/cases").status_code == 403

    s = as_(ADMIN)
    page = s.get(f"/cases/{number}")
    assert 'id="act-dispatch"' in page.text
    no_box = s.post(f"/cases/{number}/dispatch", data={"union_id": "u01", "complexity": "general"})
    assert no_box.status_code == 400 and 'id="confirmed-error"' in no_box.text  # irreversible: confirm
    ok = s.post(
        f"/cases/{number}/dispatch",
        data={"union_id": "u01", "complexity": "general", "confirmed": "on"},
        allow_redirects=False,
    )
    assert ok.status_code == 303
    wrong = s.post(f"/cases/{number}/reply", data={"text": REPLY, "confirmed": "on"})
    assert wrong.status_code == 409 and 'id="form-error"' in wrong.text  # sign for and contact first
    assert s.post(f"/cases/{number}/sign-for", allow_redirects=False).status_code == 303
    assert (
        s.post(f"/cases/{number}/contact", data={"method": "phone"}, allow_redirects=False).status_code == 303
    )
    assert (
        s.post(
            f"/cases/{number}/note", data={"text": "内部：企业已承认欠薪。"}, allow_redirects=False
        ).status_code
        == 303
    )
    data = {"text": REPLY, "confirmed": "on"}
    assert s.post(f"/cases/{number}/reply", data=data, allow_redirects=False).status_code == 303
    assert s.post(f"/cases/{number}/nonsense", data={}).status_code in (400, 404)

    queue = s.get("/unions/u01/cases", params={"state": "replied"})
    assert queue.status_code == 200 and f'id="case-{number}"' in queue.text
    assert (
        s.get("/unions/u01/cases", params={"q": number}, allow_redirects=False).headers["Location"]
        == f"/cases/{number}"
    )
    assert 'id="q-error"' in s.get("/unions/u01/cases", params={"q": "字" * 51}).text  # 1-50 characters
    found = s.get("/unions/u01/cases", params={"q": "工资", "state": "replied"})  # free text, with filters
    assert found.status_code == 200 and f'id="case-{number}"' in found.text
    assert f'id="case-{number}"' not in s.get("/unions/u01/cases", params={"q": "不存在的内容"}).text
    desk = s.get("/unions/u01/hotline")
    assert desk.status_code == 200 and 'id="hotline-form"' in desk.text
    recorded = s.post(
        "/unions/u01/hotline",
        data={**fields, "employer_union_id": "", "employer_name": "城东物流有限公司", "caller_name": "李师傅",
              "caller_phone": "13900139000", "channel": "phone"},
        allow_redirects=False,
    )  # fmt: skip
    assert recorded.status_code == 303, recorded.text

    s = as_(MEMBER)
    page = s.get(f"/cases/{number}")
    assert 'id="rate-form"' in page.text and "内部：企业已承认欠薪" not in page.text
    rated = s.post(
        f"/cases/{number}/rate",
        data={"satisfaction": "satisfied", "resolved": "yes", "confirmed": "on"},
        allow_redirects=False,
    )
    assert rated.status_code == 303
    assert 'data-state="closed"' in s.get(f"/cases/{number}").text

    s = as_(SUPERIOR)
    ind = s.get("/unions/ftu/cases/indicators")
    assert ind.status_code == 200 and 'id="rate-satisfaction_rate"' in ind.text and "chart-months" in ind.text
    assert "÷" in ind.text  # the formulas are on the page
    assert s.get("/unions/ftu/cases/indicators", params={"from_month": "2026-13"}).status_code == 400
    topic = s.get("/unions/ftu/cases/topic")
    assert topic.status_code == 200 and 'id="alerts"' in topic.text
    report = s.get("/unions/ftu/cases/report.xlsx")
    assert report.status_code == 200 and load_workbook(io.BytesIO(report.content))["指标"]["A1"].value
    picker = s.get("/unions/ftu/cases")  # the union picker: one lower union's queue, same filters
    assert picker.status_code == 200 and '<option value="u01">' in picker.text
    picked = s.get("/unions/ftu/cases", params={"union": "u01", "state": "closed"}, allow_redirects=False)
    assert picked.status_code == 303 and picked.headers["Location"] == "/unions/u01/cases?state=closed"
    assert f'id="case-{number}"' in s.get(picked.headers["Location"]).text
    outside = s.get("/unions/u01/cases", params={"union": "u02"}, allow_redirects=False)
    assert outside.status_code == 200  # not below u01: ignored, u01's own queue

    # the progress query pages, without a login
    http.cookies.clear()
    http.headers.pop("Authorization", None)
    assert http.get("/cases/progress").status_code == 200
    asked = http.post("/cases/progress", data={"step": "code", "case_number": number, "phone": PHONE})
    assert asked.status_code == 200 and 'id="code-sent"' in asked.text
    wrong = http.post(
        "/cases/progress", data={"step": "query", "case_number": number, "phone": PHONE, "code": "000000"}
    )
    assert wrong.status_code == 404 and 'id="form-error"' in wrong.text
    shown = http.post(
        "/cases/progress",
        data={"step": "query", "case_number": number, "phone": PHONE, "code": code_for(sms, number)},
    )
    assert shown.status_code == 200 and 'data-state="closed"' in shown.text
    assert "内部：企业已承认欠薪" not in shown.text and REPLY in shown.text


def test_attachments_uploaded_on_filing_and_read_by_the_cases_readers(site):
    http = site
    http.headers.pop("Authorization", None)
    http.cookies.clear()
    http.headers["Authorization"] = f"Bearer {token(MEMBER)}"
    fields = dict(FILING_FORM)
    upload = {"attachments": ("工资条.txt", "九月 工资 0 元".encode(), "text/plain")}
    done = http.post("/cases/new", data=fields, files=upload, allow_redirects=False)
    assert done.status_code == 303, done.text
    number = done.headers["Location"].rsplit("/", 1)[-1]
    page = http.get(f"/cases/{number}")
    found = re.search(rf'href="/cases/{number}/attachments/(f[0-9a-f]{{12}})"', page.text)
    assert found and "工资条.txt" in page.text
    path = f"/cases/{number}/attachments/{found.group(1)}"
    shown = http.get(path)
    assert shown.status_code == 200 and shown.content == "九月 工资 0 元".encode()
    assert "sandbox" in shown.headers["Content-Security-Policy"]
    bad = http.post(
        "/cases/new", data=fields, files={"attachments": ("run.exe", b"MZ", "application/octet-stream")}
    )
    assert bad.status_code == 400 and 'id="attachments-error"' in bad.text
    http.headers.pop("Authorization", None)
    api = f"/api/v1{path}"
    got = call(http, ADMIN, "GET", api)
    assert got.status_code == 200 and got.content == "九月 工资 0 元".encode()
    assert "attachment" in got.headers["Content-Disposition"]
    assert call(http, OTHER_ADMIN, "GET", api).status_code == 403
    assert call(http, OTHER_MEMBER, "GET", api).status_code == 403
    assert call(http, None, "GET", api).status_code == 401
    assert call(http, MEMBER, "GET", f"/api/v1/cases/{number}/attachments/f000000000000").status_code == 404


def test_a_filing_retried_with_its_idempotency_key_files_one_case(site):
    """Issue 18: the client's answer is lost to a timeout and it sends the filing again: with the same
    ``Idempotency-Key`` (API) or the form's hidden ``client_key`` (page) it gets the first case."""
    http = site
    headers = {"Authorization": f"Bearer {token(MEMBER)}", "Idempotency-Key": "a1b2c3-retry"}
    first = http.post("/api/v1/cases", json=CASE, headers=headers)
    again = http.post("/api/v1/cases", json=CASE, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json()["id"] == first.json()["id"]
    other = http.post("/api/v1/cases", json=CASE, headers={**headers, "Idempotency-Key": "another"})
    assert other.json()["id"] != first.json()["id"]
    bad = http.post("/api/v1/cases", json=CASE, headers={**headers, "Idempotency-Key": "has spaces"})
    assert bad.status_code == 400 and "client_key" in bad.json()["fields"]
    mine = call(http, MEMBER, "GET", "/api/v1/cases/mine").json()
    assert len(mine) == 2

    http.headers["Authorization"] = f"Bearer {token(MEMBER)}"
    form = http.get("/cases/new").text
    key = re.search(r'name="client_key" value="([0-9a-f]{32})"', form).group(1)
    fields = {**FILING_FORM, "client_key": key}
    sent = [http.post("/cases/new", data=fields, allow_redirects=False) for _ in range(2)]
    assert [r.status_code for r in sent] == [303, 303]
    assert sent[0].headers["Location"] == sent[1].headers["Location"]
    assert len(call(http, MEMBER, "GET", "/api/v1/cases/mine").json()) == 3
