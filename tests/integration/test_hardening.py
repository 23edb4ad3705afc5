"""Hardening (issue 8): failed-login limits per account and per address, security headers on every page,
tokens that expire, logout, passwords never logged, and no service starting with a published secret.

Gateway + members run in-process against the real RabbitMQ and FerretDB; the limits are lowered through
config so that a few requests reach them."""

import base64
import logging
import re
import time

import jwt
import pytest

from dmlib.auth import issue_token
from services.elections.service import ElectionsService
from services.gateway.http import PageEndpoint
from services.gateway.service import GatewayService
from services.members.logins import LoginRule
from services.members.service import MembersService
from services.voting.service import VotingService
from tests.helpers import AUTH_SECRET, SYSTEM, TEST_SECRETS, member, token, union_admin, wait_until

pytestmark = pytest.mark.integration

PASSWORDS = {"admin01": "Admin-Pass-7731", "member02": "Member-Pass-4410", "member03": "Member-Pass-9902"}
NIDS = ["110115198001010019", "11010519491231002X", "440524198001010013"]
ADMIN = union_admin("u01", "A0000001")


def seed(rpc_as) -> None:
    """u01 with an admin (admin01) and two members with logins member02, member03."""
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "u01", "name": "一厂工会", "kind": "grassroots", "parent_id": "ftu"})
        for (login, password), (no, nid) in zip(
            PASSWORDS.items(), zip(("A0000001", "M0000002", "M0000003"), NIDS, strict=True), strict=True
        ):
            rpc.members.register_member(
                {"member_no": no, "name": login, "union_id": "u01", "national_id": nid}
            )
            rpc.members.set_password({"member_id": no, "login": login, "new_password": password})
        rpc.members.grant_role({"member_id": "A0000001", "role": "union_admin", "scope": "u01"})


@pytest.fixture
def start(runner_factory, config, rpc_as, web_session):
    """``start(**config_overrides)``: gateway + members with the demo-like seed; returns the session."""

    def run(**overrides):
        runner = runner_factory({**config, **overrides}, GatewayService, MembersService)
        runner.start()
        seed(rpc_as)
        web_session.runner = runner
        return web_session

    return run


def login(s, who: str, password: str, **headers):
    return s.post("/api/v1/auth/login", json={"login": who, "password": password}, headers=headers)


# ----- failed-login limits ----------------------------------------------------------------------------
def test_account_is_limited_after_its_failures_and_others_are_not(
    start, runner_factory, config, web_session, db
):
    s = start(LOGIN_ACCOUNT_LIMIT=3, LOGIN_ADDRESS_LIMIT=100)
    assert [login(s, "member02", f"wrong-{i}").status_code for i in range(3)] == [401, 401, 401]
    refused = login(s, "member02", PASSWORDS["member02"])  # even the right password: not checked
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "too_many_requests" and "登录失败次数过多" in body["message"]
    assert body["details"]["limit"] == "account" and body["details"]["max_failures"] == 3
    retry = int(refused.headers["Retry-After"])
    assert 0 < retry <= 900 and body["details"]["retry_after_s"] == retry
    # the login name is counted case-insensitively, so spelling variants share the budget
    assert login(s, "MEMBER02", "wrong").status_code == 429
    # another account at the same address is not blocked by those failures
    assert login(s, "member03", PASSWORDS["member03"]).status_code == 200
    # the login page answers 429 with the reason in Chinese and Retry-After
    page = s.post("/login", data={"login": "member02", "password": PASSWORDS["member02"]})
    assert page.status_code == 429 and "登录失败次数过多" in page.text and page.headers["Retry-After"]
    # the counter lives in the members database: it survives a restart of both services
    key = LoginRule().account("member02", time.time()).key
    assert db("members").login_attempts.find_one({"_id": key})["count"] >= 3
    s.runner.stop()
    restarted = runner_factory(config | {"LOGIN_ACCOUNT_LIMIT": 3}, GatewayService, MembersService)
    restarted.start()
    assert login(web_session, "member02", PASSWORDS["member02"]).status_code == 429


def test_success_clears_the_account_counter(start, db):
    s = start(LOGIN_ACCOUNT_LIMIT=3, LOGIN_ADDRESS_LIMIT=100)
    for _ in range(2):
        assert login(s, "member02", "wrong").status_code == 401
    assert login(s, "member02", PASSWORDS["member02"]).status_code == 200
    for _ in range(3):  # a fresh budget after the success
        assert login(s, "member02", "wrong").status_code == 401
    assert login(s, "member02", "wrong").status_code == 429


def test_address_is_limited_across_accounts_and_successes_cost_nothing(start):
    s = start(LOGIN_ACCOUNT_LIMIT=100, LOGIN_ADDRESS_LIMIT=3)
    for _ in range(5):  # successful logins from the address do not use its budget
        assert login(s, "admin01", PASSWORDS["admin01"]).status_code == 200
    assert [login(s, who, "wrong").status_code for who in ("ghost1", "ghost2", "member03")] == [401] * 3
    refused = login(s, "member02", PASSWORDS["member02"])
    assert refused.status_code == 429 and refused.json()["details"]["limit"] == "address"
    # without a trusted proxy, a forged X-Forwarded-For changes nothing
    assert (
        login(s, "member02", PASSWORDS["member02"], **{"X-Forwarded-For": "198.51.100.7"}).status_code == 429
    )


def test_forwarded_address_counts_only_through_a_trusted_proxy(start):
    s = start(LOGIN_ACCOUNT_LIMIT=100, LOGIN_ADDRESS_LIMIT=2, TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8")
    a = {"X-Forwarded-For": "203.0.113.5"}
    b = {"X-Forwarded-For": "203.0.113.5, 10.1.2.3"}  # a client behind two of our proxies
    assert login(s, "ghost", "wrong", **a).status_code == 401
    assert login(s, "ghost", "wrong", **b).status_code == 401  # the same client, counted once more
    assert login(s, "member02", PASSWORDS["member02"], **a).status_code == 429
    other = {"X-Forwarded-For": "203.0.113.6"}
    assert login(s, "member02", PASSWORDS["member02"], **other).status_code == 200


def test_logins_without_failures_write_no_counter(start, db):
    """Issue 17: a right password with no failures on record costs reads only."""
    s = start(LOGIN_ACCOUNT_LIMIT=3, LOGIN_ADDRESS_LIMIT=3)
    for who in ("admin01", "member02", "member03", "admin01"):
        assert login(s, who, PASSWORDS[who]).status_code == 200
    assert list(db("members").login_attempts.find()) == []
    assert login(s, "member02", "wrong").status_code == 401  # a failure is still counted on both
    assert sorted(d["_id"].split(":")[0] for d in db("members").login_attempts.find()) == ["acct", "addr"]


def test_concurrent_failures_cannot_slip_past_the_limit(start):
    import eventlet

    s = start(LOGIN_ACCOUNT_LIMIT=3, LOGIN_ADDRESS_LIMIT=100)
    pool = eventlet.GreenPool(8)
    statuses = list(pool.imap(lambda i: login(s, "member02", f"wrong-{i}").status_code, range(8)))
    assert sorted(statuses) == [401] * 3 + [429] * 5


# ----- security headers ---------------------------------------------------------------------------------
def page_routes() -> list[str]:
    """Every GET page route of the gateway, with made-up values for its path parameters."""
    urls = []
    for name in dir(GatewayService):
        for ep in getattr(getattr(GatewayService, name), "nameko_entrypoints", ()):
            if isinstance(ep, PageEndpoint) and "GET" in ep.method.split(","):
                urls.append(re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: f"x-{m.group(1)}", ep.url))
    return sorted(set(urls))


PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def test_every_page_route_carries_the_security_headers(start):
    s = start(HSTS_SECONDS=31536000)
    routes = page_routes()
    assert len(routes) > 30 and "/" in routes and "/login" in routes
    routes.append("/no/such/page")  # werkzeug's own 404, outside every entrypoint
    seen = {}
    for url in routes:
        for who in (None, ADMIN):
            headers = {"Authorization": f"Bearer {token(who)}"} if who else {}
            r = s.get(url, headers=headers, allow_redirects=False)
            seen[(url, who is not None)] = r.status_code
            for k, v in PAGE_HEADERS.items():
                assert r.headers.get(k) == v, (url, k, r.status_code)
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
            assert "unsafe-inline" not in csp, url
            assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000"), url
            if who is not None and not url.startswith("/static/"):
                assert "no-store" in r.headers["Cache-Control"], (url, r.headers["Cache-Control"])
    assert seen[("/", True)] == 200 and seen[("/", False)] == 303 and seen[("/login", False)] == 200
    assert not [k for k, status in seen.items() if status == 500], seen


def test_no_hsts_unless_configured_and_static_files_are_public(start):
    s = start()
    r = s.get("/login")
    assert "Strict-Transport-Security" not in r.headers and r.headers["Cache-Control"] == "no-store"
    css = s.get("/static/app.css")
    assert css.status_code == 200 and css.headers["Cache-Control"].startswith("public")
    assert css.headers["X-Content-Type-Options"] == "nosniff"


# ----- tokens expire, logout ------------------------------------------------------------------------------
def test_tokens_expire_and_logout_forgets_the_cookie(start):
    s = start(TOKEN_TTL_SECONDS=600)
    r = login(s, "member02", PASSWORDS["member02"])
    claims = jwt.decode(r.json()["token"], AUTH_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 600 and r.json()["expires_at"] == claims["exp"]

    expired = issue_token(AUTH_SECRET, member("M0000002", "u01"), -1)  # issued in the past
    api = s.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert api.status_code == 401 and "登录已过期" in api.json()["message"]
    page = s.get("/me", cookies={"dm_token": expired}, allow_redirects=False)
    assert page.status_code == 303 and page.headers["Location"] == "/login?next=/me"
    assert page.headers["Set-Cookie"].startswith(
        "dm_token=; Expires=Thu, 01 Jan 1970"
    )  # the stale cookie is deleted

    form = s.post(
        "/login", data={"login": "member02", "password": PASSWORDS["member02"]}, allow_redirects=False
    )
    cookie = form.headers["Set-Cookie"]
    assert form.status_code == 303 and "HttpOnly" in cookie and "Max-Age=600" in cookie
    me = s.get("/me")
    assert me.status_code == 200
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', me.text).group(1)
    out = s.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert out.headers["Set-Cookie"].startswith("dm_token=; Expires=Thu, 01 Jan 1970")
    assert "dm_token" not in s.cookies
    assert s.get("/me", allow_redirects=False).headers["Location"] == "/login?next=/me"


# ----- passwords never logged -------------------------------------------------------------------------------
def test_passwords_never_appear_in_logs_answers_or_records(start, caplog, db):
    caplog.set_level(logging.DEBUG)
    s = start(LOGIN_ACCOUNT_LIMIT=2)
    secrets = {
        "wrong": "Wrong-Guess-5561",
        "new": "Brand-New-Pass-8812",
        "wrong_current": "Not-My-Current-3340",
        "import": "Import-Initial-6650",
        "short": "Sh0rt!",
    }
    answers = []
    answers.append(login(s, "member02", PASSWORDS["member02"]))
    answers.append(login(s, "member02", secrets["wrong"]))
    answers.append(login(s, "nobody", secrets["wrong"]))
    bearer = {"Authorization": f"Bearer {answers[0].json()['token']}"}
    answers.append(
        s.put(
            "/api/v1/me/password",
            json={"current_password": PASSWORDS["member02"], "new_password": secrets["new"]},
            headers=bearer,
        )
    )
    answers.append(
        s.put(
            "/api/v1/me/password",
            json={"current_password": secrets["wrong_current"], "new_password": secrets["new"] + "x"},
            headers=bearer,
        )
    )
    answers.append(s.put("/api/v1/me/password", json={"new_password": secrets["short"]}, headers=bearer))
    for _ in range(3):  # over the account limit: the 429 path
        answers.append(login(s, "member03", secrets["wrong"]))
    answers.append(s.post("/login", data={"login": "member03", "password": secrets["wrong"]}))
    admin = {"Authorization": f"Bearer {token(ADMIN)}"}
    csv = (
        "member_no,name,union_id,national_id\n"
        "M0000100,张伟,u01,110105199003070017\n"
        f"M0000101,李娜,u01,{NIDS[0]}\n"  # a bad row: the resident ID is taken
        "M0000102,王芳,u99,110105199003070033\n"  # a bad row: no such union
    )
    started = s.post(
        "/api/v1/imports",
        files={"file": ("m.csv", csv.encode())},
        data={"initial_password": secrets["import"]},
        headers=admin,
    )
    answers.append(started)
    job_id = started.json()["id"]
    job = wait_until(
        lambda: (j := s.get(f"/api/v1/imports/{job_id}", headers=admin).json())["status"] == "done" and j
    )
    assert (job["inserted"], job["failed"]) == (1, 2)
    answers.append(s.get(f"/api/v1/imports/{job_id}/errors.csv", headers=admin))
    answers.append(
        s.post(
            "/api/v1/imports",
            json={"filename": "m.csv", "content_b64": "eA==", "initial_password": secrets["short"]},
            headers=admin,
        )
    )
    assert login(s, "M0000100", secrets["import"]).status_code == 200  # the imported member's password works
    wait_until(lambda: f"import {job_id} done" in caplog.text)  # the services' logs are captured

    logged = caplog.text
    stored = " ".join(
        str(doc)
        for name in ("import_jobs", "import_errors", "members", "login_attempts")
        for doc in db("members")[name].find({})
    )
    every = [*secrets.values(), PASSWORDS["member02"], PASSWORDS["member03"]]
    for secret in every:
        assert secret not in logged, f"a password was logged: {secret}"
        assert secret not in stored, f"a password was stored in clear: {secret}"
        for a in answers:
            assert secret not in a.text, (a.request.url, a.status_code)
    assert base64.b64encode(secrets["import"].encode()).decode() not in logged


# ----- secrets ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "service, key",
    [
        (GatewayService, "AUTH_SECRET"),
        (MembersService, "AUTH_SECRET"),
        (MembersService, "ID_HASH_KEY"),
        (VotingService, "VOTING_KEY"),
        (ElectionsService, "VOTING_KEY"),  # the same ballot key (dmlib/ballots.py)
    ],
)
@pytest.mark.parametrize("value", [None, "short", "x" * 40, "published"])
def test_a_service_refuses_to_start_without_a_real_secret(container_factory, config, service, key, value):
    bad = {k: v for k, v in config.items() if k != "ALLOW_TEST_SECRETS"}
    bad = {
        **bad,
        **{
            k: f"{k.lower()}-{'0123456789abcdefghijklmnop' * 2}"
            for k in ("AUTH_SECRET", "ID_HASH_KEY", "VOTING_KEY")
        },
    }
    if value is None:
        bad.pop(key)
    else:
        bad[key] = TEST_SECRETS[key] if value == "published" else value
    container = container_factory(service, bad)
    with pytest.raises(RuntimeError) as refused:
        container.start()
    assert key in str(refused.value)
    if value not in (None, "published"):
        assert value not in str(refused.value)  # the message names the key, never the value


@pytest.mark.parametrize("allowed", ["true", "false"])
def test_published_secrets_are_accepted_only_when_allowed(container_factory, config, rpc_as, allowed):
    """The secrets published in tests/helpers.py start a service only with ALLOW_TEST_SECRETS=true: it
    then answers RPC; with false it refuses to start, naming the key."""
    published = {**config, **TEST_SECRETS, "ALLOW_TEST_SECRETS": allowed}
    container = container_factory(MembersService, published)
    if allowed == "false":
        with pytest.raises(RuntimeError) as refused:
            container.start()
        assert "AUTH_SECRET" in str(refused.value) or "ID_HASH_KEY" in str(refused.value)
        return
    container.start()
    with rpc_as(SYSTEM) as rpc:
        assert rpc.members.health() == {"service": "members", "status": "ok"}
