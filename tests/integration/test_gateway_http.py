"""The gateway over HTTP with the real members service: statuses for bad input on every endpoint
(never a 500), login, CSRF, 503 when a service is down, the OpenAPI document."""

import base64
import re

import lxml.html
import pytest
import requests

from services.gateway.pages import NOTICE_COOKIE, load_notice
from services.gateway.service import GatewayService
from services.members.service import MembersService
from tests.helpers import AUTH_SECRET, SYSTEM, member, token, union_admin, wait_until

pytestmark = pytest.mark.integration

NID = "110115198001010019"
NID2 = "11010519491231002X"


@pytest.fixture
def gateway(runner_factory, config, rpc_as, web_session):
    """Gateway + members running; ftu → area → u01, u02; admin01 (union admin of u01) with a password."""
    config = {**config, "MAX_UPLOAD_BYTES": 20000}
    runner_factory(config, GatewayService, MembersService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "园区", "kind": "street", "parent_id": "ftu"})
        for u in ("u01", "u02"):
            rpc.members.create_union({"id": u, "name": f"{u}工会", "kind": "grassroots", "parent_id": "area"})
            rpc.members.create_department({"id": f"{u}-d1", "union_id": u, "name": "生产部"})
        rpc.members.register_member(
            {"member_no": "A0000001", "name": "管理员", "union_id": "u01", "national_id": NID}
        )
        rpc.members.grant_role({"member_id": "A0000001", "role": "union_admin", "scope": "u01"})
        rpc.members.set_password(
            {"member_id": "A0000001", "login": "admin01", "new_password": "admin-password"}
        )
        rpc.members.register_member(
            {"member_no": "B0000001", "name": "会员乙", "union_id": "u02", "national_id": NID2}
        )
    return web_session


ADMIN = union_admin("u01", "A0000001")
MEMBER = member("M0000009", "u01")
OTHER_ADMIN = union_admin("u02", "B0000009")
EXPIRED = "expired"

# (name, actor, method, path, body, status, error code). body: dict → JSON, str → raw bytes.
CASES = [
    ("login malformed json", None, "POST", "/api/v1/auth/login", "{not json", 400, "bad_input"),
    ("login not an object", None, "POST", "/api/v1/auth/login", "[1, 2]", 400, "bad_input"),
    ("login missing fields", None, "POST", "/api/v1/auth/login", {}, 400, "bad_input"),
    (
        "login wrong type",
        None,
        "POST",
        "/api/v1/auth/login",
        {"login": 5, "password": ["x"]},
        400,
        "bad_input",
    ),
    (
        "login wrong password",
        None,
        "POST",
        "/api/v1/auth/login",
        {"login": "admin01", "password": "nope"},
        401,
        "unauthenticated",
    ),
    (
        "login unknown",
        None,
        "POST",
        "/api/v1/auth/login",
        {"login": "ghost", "password": "nope"},
        401,
        "unauthenticated",
    ),
    ("me without token", None, "GET", "/api/v1/me", None, 401, "unauthenticated"),
    ("me expired token", EXPIRED, "GET", "/api/v1/me", None, 401, "unauthenticated"),
    (
        "password too short",
        ADMIN,
        "PUT",
        "/api/v1/me/password",
        {"current_password": "admin-password", "new_password": "short"},
        400,
        "bad_input",
    ),
    (
        "password wrong current",
        ADMIN,
        "PUT",
        "/api/v1/me/password",
        {"current_password": "wrong", "new_password": "long-enough-1"},
        401,
        "unauthenticated",
    ),
    (
        "password unknown field",
        ADMIN,
        "PUT",
        "/api/v1/me/password",
        {"new_password": "long-enough-1", "x": 1},
        400,
        "bad_input",
    ),
    ("tree without token", None, "GET", "/api/v1/unions", None, 401, "unauthenticated"),
    ("union unknown", MEMBER, "GET", "/api/v1/unions/nope", None, 404, "not_found"),
    ("union bad id", MEMBER, "GET", "/api/v1/unions/%24bad", None, 404, "not_found"),
    (
        "create union as member",
        MEMBER,
        "POST",
        "/api/v1/unions",
        {"name": "x", "kind": "grassroots", "parent_id": "area"},
        403,
        "forbidden",
    ),
    (
        "create union bad kind",
        ADMIN,
        "POST",
        "/api/v1/unions",
        {"name": "x", "kind": "galaxy", "parent_id": "u01"},
        400,
        "bad_input",
    ),
    (
        "create union under grassroots",
        ADMIN,
        "POST",
        "/api/v1/unions",
        {"name": "x", "kind": "grassroots", "parent_id": "u01"},
        400,
        "bad_input",
    ),
    (
        "create union unknown parent",
        ADMIN,
        "POST",
        "/api/v1/unions",
        {"name": "x", "kind": "grassroots", "parent_id": "nope"},
        404,
        "not_found",
    ),
    ("departments unknown union", MEMBER, "GET", "/api/v1/unions/nope/departments", None, 404, "not_found"),
    (
        "department as member",
        MEMBER,
        "POST",
        "/api/v1/unions/u01/departments",
        {"name": "新部门"},
        403,
        "forbidden",
    ),
    (
        "department of other union",
        ADMIN,
        "POST",
        "/api/v1/unions/u02/departments",
        {"name": "新部门"},
        403,
        "forbidden",
    ),
    ("department missing name", ADMIN, "POST", "/api/v1/unions/u01/departments", {}, 400, "bad_input"),
    (
        "department duplicate",
        ADMIN,
        "POST",
        "/api/v1/unions/u01/departments",
        {"name": "生产部"},
        409,
        "conflict",
    ),
    ("members of other union", ADMIN, "GET", "/api/v1/unions/u02/members", None, 403, "forbidden"),
    ("members as member", MEMBER, "GET", "/api/v1/unions/u01/members", None, 403, "forbidden"),
    (
        "members per_page too big",
        ADMIN,
        "GET",
        "/api/v1/unions/u01/members?per_page=1000",
        None,
        400,
        "bad_input",
    ),
    (
        "members page not a number",
        ADMIN,
        "GET",
        "/api/v1/unions/u01/members?page=abc",
        None,
        400,
        "bad_input",
    ),
    ("members unknown query", ADMIN, "GET", "/api/v1/unions/u01/members?color=red", None, 400, "bad_input"),
    ("members unknown union", ADMIN, "GET", "/api/v1/unions/nope/members", None, 404, "not_found"),
    (
        "register bad resident id",
        ADMIN,
        "POST",
        "/api/v1/members",
        {"member_no": "M0000002", "name": "x", "union_id": "u01", "national_id": "110115198001010018"},
        400,
        "bad_input",
    ),
    (
        "register wrong types",
        ADMIN,
        "POST",
        "/api/v1/members",
        {"member_no": 2, "name": None, "union_id": "u01", "national_id": 1},
        400,
        "bad_input",
    ),
    (
        "register bad phone",
        ADMIN,
        "POST",
        "/api/v1/members",
        {
            "member_no": "M0000002",
            "name": "x",
            "union_id": "u01",
            "national_id": "440524198001010013",
            "phone": "123",
        },
        400,
        "bad_input",
    ),
    (
        "register other union",
        ADMIN,
        "POST",
        "/api/v1/members",
        {"member_no": "M0000002", "name": "x", "union_id": "u02", "national_id": "440524198001010013"},
        403,
        "forbidden",
    ),
    (
        "register duplicate number",
        ADMIN,
        "POST",
        "/api/v1/members",
        {"member_no": "A0000001", "name": "x", "union_id": "u01", "national_id": "440524198001010013"},
        409,
        "conflict",
    ),
    (
        "register duplicate resident id",
        ADMIN,
        "POST",
        "/api/v1/members",
        {"member_no": "M0000002", "name": "x", "union_id": "u01", "national_id": NID2},
        409,
        "conflict",
    ),
    ("member unknown", ADMIN, "GET", "/api/v1/members/nobody", None, 404, "not_found"),
    ("member of other union", ADMIN, "GET", "/api/v1/members/B0000001", None, 403, "forbidden"),
    ("member as fellow member", MEMBER, "GET", "/api/v1/members/A0000001", None, 403, "forbidden"),
    (
        "grant bad role",
        ADMIN,
        "POST",
        "/api/v1/members/A0000001/roles",
        {"role": "king", "scope": "u01"},
        400,
        "bad_input",
    ),
    (
        "grant delegate by admin",
        ADMIN,
        "POST",
        "/api/v1/members/A0000001/roles",
        {"role": "delegate", "scope": "c1"},
        403,
        "forbidden",
    ),
    (
        "grant as member",
        MEMBER,
        "POST",
        "/api/v1/members/A0000001/roles",
        {"role": "handler", "scope": "u01-d1"},
        403,
        "forbidden",
    ),
    (
        "grant to unknown",
        ADMIN,
        "POST",
        "/api/v1/members/nobody/roles",
        {"role": "handler", "scope": "u01-d1"},
        404,
        "not_found",
    ),
    (
        "revoke in other union",
        ADMIN,
        "DELETE",
        "/api/v1/members/B0000001/roles/union_admin/u02",
        None,
        403,
        "forbidden",
    ),
    (
        "reset password other union",
        ADMIN,
        "POST",
        "/api/v1/members/B0000001/password",
        {"new_password": "long-enough-1"},
        403,
        "forbidden",
    ),
    (
        "import as member",
        MEMBER,
        "POST",
        "/api/v1/imports",
        {"filename": "m.csv", "content_b64": "eA=="},
        403,
        "forbidden",
    ),
    (
        "import not csv",
        ADMIN,
        "POST",
        "/api/v1/imports",
        {"filename": "m.exe", "content_b64": "eA=="},
        400,
        "bad_input",
    ),
    (
        "import not base64",
        ADMIN,
        "POST",
        "/api/v1/imports",
        {"filename": "m.csv", "content_b64": "***"},
        400,
        "bad_input",
    ),
    ("import empty body", ADMIN, "POST", "/api/v1/imports", "", 400, "bad_input"),
    (
        "import oversize",
        ADMIN,
        "POST",
        "/api/v1/imports",
        {"filename": "m.csv", "content_b64": "A" * 30000},
        413,
        "payload_too_large",
    ),
    ("import unknown", ADMIN, "GET", "/api/v1/imports/nope", None, 404, "not_found"),
    ("import errors bad page", ADMIN, "GET", "/api/v1/imports/nope/errors?page=x", None, 400, "bad_input"),
]


def call(session, actor, method, path, body):
    headers = {}
    if actor == EXPIRED:
        headers["Authorization"] = f"Bearer {token(ADMIN, ttl=-5)}"
    elif actor is not None:
        headers["Authorization"] = f"Bearer {token(actor)}"
    if isinstance(body, str):
        return session.request(
            method, path, data=body.encode(), headers={**headers, "Content-Type": "application/json"}
        )
    return session.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("name, actor, method, path, body, status, code", CASES, ids=[c[0] for c in CASES])
def test_bad_requests_get_the_right_status(gateway, name, actor, method, path, body, status, code):
    r = call(gateway, actor, method, path, body)
    assert r.status_code == status, r.text
    payload = r.json()
    assert payload["error"] == code and payload["message"]
    if status == 400:
        assert payload["fields"], "a 400 names the fields"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_nothing_written_by_refused_requests(gateway, db):
    for case in CASES:
        call(gateway, *case[1:5])
    assert sorted(m["_id"] for m in db("members").members.find({})) == ["A0000001", "B0000001"]
    assert db("members").unions.count_documents({}) == 4


def test_login_then_use_the_token(gateway):
    r = gateway.post("/api/v1/auth/login", json={"login": "admin01", "password": "admin-password"})
    assert r.status_code == 200
    body = r.json()
    assert body["member"]["roles"] == [{"role": "union_admin", "scope": "u01"}]
    me = gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
    assert me["member_no"] == "A0000001" and [u["id"] for u in me["union_path"]] == ["ftu", "area", "u01"]
    listing = gateway.get(
        "/api/v1/unions/u01/members", headers={"Authorization": f"Bearer {body['token']}"}
    ).json()
    assert listing["total"] == 1 and listing["items"][0]["national_id_last4"] == "0019"


def test_import_through_http_multipart(gateway):
    csv = f"member_no,name,union_id,national_id\nM0000100,张伟,u01,440524198001010013\nM0000101,李娜,u01,{NID}\n"
    h = {"Authorization": f"Bearer {token(ADMIN)}"}
    r = gateway.post("/api/v1/imports", files={"file": ("m.csv", csv.encode())}, headers=h)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    for _ in range(100):
        job = gateway.get(f"/api/v1/imports/{job_id}", headers=h).json()
        if job["status"] == "done":
            break
        import time

        time.sleep(0.1)
    assert (job["inserted"], job["failed"]) == (1, 1)
    report = gateway.get(f"/api/v1/imports/{job_id}/errors.csv", headers=h)
    assert report.headers["Content-Type"].startswith("text/csv")
    # the column in words (issue 16: no national_id in front of people), Chinese unless the caller asks English
    assert "3,身份证号,resident ID already registered" in report.content.decode("utf-8-sig")
    other = gateway.get(
        f"/api/v1/imports/{job_id}", headers={"Authorization": f"Bearer {token(OTHER_ADMIN)}"}
    )
    assert other.status_code == 403


def test_the_import_page_states_the_rows_and_imports_only_once_confirmed(gateway):
    """Issue 16: the page's upload stages the file (nothing imported), its page states the rows counted
    and asks for the confirmation box; without the box the start is refused and nothing runs."""
    csv = f"member_no,name,union_id,national_id\nM0000100,张伟,u01,440524198001010013\nM0000101,李娜,u01,{NID}\n\n"
    h = {"Authorization": f"Bearer {token(ADMIN)}"}
    r = gateway.post("/imports", files={"file": ("m.csv", csv.encode())}, headers=h, allow_redirects=False)
    assert r.status_code == 303, r.text[-800:]
    page = r.headers["Location"]
    job_id = page.rsplit("/", 1)[1]
    job = wait_until(lambda: (j := gateway.get(f"/api/v1/imports/{job_id}", headers=h).json())["total"] and j)
    assert (job["status"], job["total"], job["processed"]) == ("staged", 2, 0)
    shown = gateway.get(page, headers=h).text
    box = lxml.html.fromstring(shown).xpath("//section[@id='import-staged']//label[@class='confirm']")[0]
    assert "导入 m.csv：逐行检查全部 2 行" in box.text_content() and "此操作不可撤销" in box.text_content()
    assert box.xpath("input[@name='confirmed' and @required]")
    english = gateway.get(page + "?lang=en", headers=h).text
    assert "Importing m.csv: its 2 rows are checked" in english
    refused = gateway.post(f"{page}/start", data={}, headers=h, allow_redirects=False)
    assert refused.status_code == 303 and refused.headers["Location"] == page
    assert load_notice(AUTH_SECRET, refused.cookies.get(NOTICE_COOKIE))["kind"] == "error"
    assert gateway.get(f"/api/v1/imports/{job_id}", headers=h).json()["status"] == "staged"
    other = {"Authorization": f"Bearer {token(OTHER_ADMIN)}"}
    assert gateway.post(f"{page}/start", data={"confirmed": "on"}, headers=other).status_code == 403
    started = gateway.post(f"{page}/start", data={"confirmed": "on"}, headers=h, allow_redirects=False)
    assert load_notice(AUTH_SECRET, started.cookies.get(NOTICE_COOKIE))["kind"] == "ok"
    job = wait_until(
        lambda: (j := gateway.get(f"/api/v1/imports/{job_id}", headers=h).json())["status"] == "done" and j
    )
    assert (job["total"], job["inserted"], job["failed"]) == (2, 1, 1)
    again = gateway.post(f"/api/v1/imports/{job_id}/start", headers=h)
    assert again.status_code == 409 and again.json()["details"]["reason"] == "import_not_staged"


def test_pages_login_csrf_and_scope(gateway):
    s = gateway
    assert s.get("/unions", allow_redirects=False).headers["Location"] == "/login?next=/unions"
    bad = s.post("/login", data={"login": "admin01", "password": "wrong", "next": "/unions"})
    assert bad.status_code == 400 and "账号或密码错误" in bad.text  # Chinese by default
    ok = s.post(
        "/login",
        data={"login": "admin01", "password": "admin-password", "next": "//evil.example/x"},
        allow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["Location"] == "/"  # no open redirect
    assert "HttpOnly" in ok.headers["Set-Cookie"] and "SameSite=Lax" in ok.headers["Set-Cookie"]
    page = s.get("/unions/u01/members")
    assert page.status_code == 200 and "管理员" in page.text
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text).group(1)
    assert s.get("/unions/u02/members").status_code == 403
    # a cookie-authenticated change without the CSRF token is refused; with it, accepted
    assert s.post("/api/v1/unions/u01/departments", json={"name": "质量部"}).status_code == 403
    assert (
        s.post(
            "/api/v1/unions/u01/departments", json={"name": "质量部"}, headers={"X-CSRF-Token": csrf}
        ).status_code
        == 201
    )
    english = s.get("/unions", cookies={"lang": "en"})
    assert "Union tree" in english.text and "工会组织树" not in english.text
    assert s.post("/logout", data={"csrf_token": csrf}, allow_redirects=False).status_code == 303


def test_openapi_document(gateway):
    spec = gateway.get("/api/v1/openapi.json").json()
    assert spec["openapi"] == "3.0.3"
    ops = {(p, m) for p, item in spec["paths"].items() for m in item}
    assert ("/api/v1/unions/{union_id}/members", "get") in ops and ("/api/v1/members", "post") in ops
    register = spec["paths"]["/api/v1/members"]["post"]
    assert {"400", "401", "403", "409"} <= set(register["responses"])
    schema = spec["components"]["schemas"]["MemberIn"]
    assert {"member_no", "name", "union_id", "national_id"} <= set(schema["required"])


def test_a_service_that_is_down_gives_503(runner_factory, config, web_session):
    runner_factory(config, GatewayService).start()  # members is not running
    r = web_session.get("/api/v1/unions", headers={"Authorization": f"Bearer {token(ADMIN)}"})
    assert r.status_code == 503 and r.json()["error"] == "service_unavailable"
    page = web_session.get("/unions", headers={"Authorization": f"Bearer {token(ADMIN)}"})
    assert page.status_code == 503 and "服务暂不可用" in page.text


def test_health(gateway):
    assert requests.get(gateway.get("/healthz").url).json() == {"status": "ok"}
    assert gateway.get("/healthz?deep=1").json() == {"status": "ok"}


def test_import_base64_json(gateway):
    content = base64.b64encode(b"member_no,name,union_id,national_id\n").decode()
    r = gateway.post(
        "/api/v1/imports",
        json={"filename": "m.csv", "content_b64": content},
        headers={"Authorization": f"Bearer {token(ADMIN)}"},
    )
    assert r.status_code == 202


def test_any_other_api_address_is_a_json_404(gateway):
    """Found by the fuzz tier: a URL that matches no route (``revisions/true`` is not an integer), or a
    method a route does not take, answered the web server's HTML page instead of the error shape."""
    for method, path in [("GET", "/api/v1/disclosures/d1/revisions/true"), ("DELETE", "/api/v1/unions")]:
        r = gateway.request(method, path)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")
        assert r.json()["error"] == "not_found" and set(r.json()) == {"error", "message", "fields", "details"}
