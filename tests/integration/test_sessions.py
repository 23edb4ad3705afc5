"""Logins at city scale (issue 17, item 4): argon2id at OWASP's minimum with old hashes upgraded on the next
successful login, and long-lived login sessions whose tokens are renewed without the password and are
all revoked by one logout.

Gateway + members run in-process against the real RabbitMQ and FerretDB (the seed of test_hardening)."""

import jwt
import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type

from services.members.service import PASSWORD_PARAMETERS
from tests.helpers import AUTH_SECRET, SYSTEM
from tests.integration import test_hardening
from tests.integration.test_hardening import PASSWORDS, login

pytestmark = pytest.mark.integration
start = test_hardening.start  # the fixture: gateway + members with test_hardening's seed


def claims_of(token: str) -> dict:
    return jwt.decode(token, AUTH_SECRET, algorithms=["HS256"])


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_new_hashes_are_argon2id_at_owasp_minimum_and_old_ones_are_upgraded_at_login(start, db):
    s = start()
    creds = db("members").credentials
    params = PasswordHasher(**PASSWORD_PARAMETERS)
    fresh = creds.find_one({"_id": "MEMBER03"})["password_hash"]
    assert fresh.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and not params.check_needs_rehash(fresh)
    # a hash made with argon2-cffi's former default (m = 64 MiB, t = 3, p = 4), as every stored one was
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, type=Type.ID).hash(
        PASSWORDS["member02"]
    )
    creds.update_one({"_id": "MEMBER02"}, {"$set": {"password_hash": old}})
    assert params.check_needs_rehash(old)

    assert login(s, "member02", PASSWORDS["member02"]).status_code == 200  # the old hash still verifies
    upgraded = creds.find_one({"_id": "MEMBER02"})["password_hash"]
    assert upgraded != old and upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert params.verify(upgraded, PASSWORDS["member02"])
    assert login(s, "member02", PASSWORDS["member02"]).status_code == 200  # and logs in again
    assert creds.find_one({"_id": "MEMBER02"})["password_hash"] == upgraded  # not rewritten again
    # a wrong password against an old hash changes nothing
    creds.update_one({"_id": "MEMBER02"}, {"$set": {"password_hash": old}})
    assert login(s, "member02", "wrong-password").status_code == 401
    assert creds.find_one({"_id": "MEMBER02"})["password_hash"] == old


def test_refresh_renews_within_the_session_with_current_roles_and_logout_ends_it(start, rpc_as):
    s = start(TOKEN_TTL_SECONDS=600, SESSION_MAX_SECONDS=3600)
    first = login(s, "member02", PASSWORDS["member02"]).json()
    one = claims_of(first["token"])
    assert one["sid"] == one["jti"] and one["sexp"] - one["iat"] == 3600 and one["exp"] - one["iat"] == 600
    assert first["session_expires_at"] == one["sexp"]

    with rpc_as(SYSTEM) as rpc:  # a role granted after the login
        rpc.members.grant_role({"member_id": "M0000002", "role": "union_admin", "scope": "u01"})
    renewed = s.post("/api/v1/auth/refresh", headers=bearer(first["token"]))
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    two = claims_of(body["token"])
    assert two["sid"] == one["sid"] and two["sexp"] == one["sexp"] and two["jti"] != one["jti"]
    assert two["exp"] >= one["exp"] and body["expires_at"] == two["exp"]
    assert ["union_admin", "u01"] in two["grants"] and ["union_admin", "u01"] not in one["grants"]
    assert s.get("/api/v1/me", headers=bearer(body["token"])).status_code == 200
    # a token renewed from the renewed one stays in the same session
    three = claims_of(s.post("/api/v1/auth/refresh", headers=bearer(body["token"])).json()["token"])
    assert three["sid"] == one["sid"]

    # logout with the newest token ends the whole session: every token of it is refused, everywhere
    assert s.post("/api/v1/auth/logout", headers=bearer(body["token"])).status_code == 204
    for token in (first["token"], body["token"]):
        assert s.get("/api/v1/me", headers=bearer(token)).status_code == 401
        assert s.post("/api/v1/auth/refresh", headers=bearer(token)).status_code == 401
    with rpc_as(SYSTEM) as rpc:
        assert one["sid"] in {r["token_id"] for r in rpc.members.revoked_tokens()}
    # another login of the same member is a new session, untouched by that logout
    again = login(s, "member02", PASSWORDS["member02"]).json()
    assert claims_of(again["token"])["sid"] != one["sid"]
    assert s.get("/api/v1/me", headers=bearer(again["token"])).status_code == 200


def test_a_renewed_token_never_outlives_its_session(start):
    s = start(TOKEN_TTL_SECONDS=600, SESSION_MAX_SECONDS=60)
    first = login(s, "member03", PASSWORDS["member03"]).json()
    one = claims_of(first["token"])
    assert one["exp"] == one["sexp"] == one["iat"] + 60  # the session is shorter than a token's life
    two = claims_of(s.post("/api/v1/auth/refresh", headers=bearer(first["token"])).json()["token"])
    assert two["exp"] == one["sexp"]


def test_refresh_with_the_cookie_renews_the_cookie_and_needs_the_csrf_token(start):
    s = start(TOKEN_TTL_SECONDS=600)
    token = login(s, "member03", PASSWORDS["member03"]).json()["token"]
    s.cookies.set("dm_token", token)
    assert s.post("/api/v1/auth/refresh").status_code == 403  # a cookie POST without the CSRF token
    from dmlib.auth import csrf_token, verify_token

    csrf = csrf_token(AUTH_SECRET, verify_token(AUTH_SECRET, token))
    r = s.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    assert f"dm_token={new};" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    # the CSRF token belongs to the session, so the forms of a page stay valid across a renewal
    assert csrf_token(AUTH_SECRET, verify_token(AUTH_SECRET, new)) == csrf
