"""Tokens, scoped roles, and typed errors crossing RabbitMQ's serialisation."""

import time

import pytest
from nameko.exceptions import deserialize, serialize

from dmlib.auth import Actor, Grant, csrf_token, issue_token, service_actor, verify_token
from dmlib.errors import EXPECTED, BadInput, Conflict, Forbidden, NotFound, Unauthenticated
from tests.helpers import AUTH_SECRET, member, union_admin


def test_token_round_trip_keeps_the_actor():
    actor = member("M1", "u01", ("delegate", "c1"), ("union_admin", "u01"), name="张三")
    back = verify_token(AUTH_SECRET, issue_token(AUTH_SECRET, actor, 60))
    assert back == actor
    assert back.token_id and back.expires_at > time.time()


@pytest.mark.parametrize(
    "token, secret",
    [
        (None, AUTH_SECRET),
        ("", AUTH_SECRET),
        ("not-a-jwt", AUTH_SECRET),
        (issue_token("another-secret-0123456789abcdef0123", member(), 60), AUTH_SECRET),
        (issue_token(AUTH_SECRET, member(), -1), AUTH_SECRET),
    ],
    ids=["missing", "empty", "garbage", "forged", "expired"],
)
def test_bad_tokens_are_unauthenticated(token, secret):
    with pytest.raises(Unauthenticated):
        verify_token(secret, token)


def test_admin_scope_covers_its_union_and_below_only():
    admin = union_admin("area-core")
    assert admin.administers(["ftu", "area-core", "u01"])
    assert admin.administers(["ftu", "area-core"])
    assert not admin.administers(["ftu", "area-west", "u06"])
    assert not admin.administers(["ftu"])
    assert not member().administers(["ftu", "area-core", "u01"])
    assert service_actor("x").administers(["anything"])


def test_roles_are_scoped():
    delegate = member("M1", "u01", ("delegate", "c1"))
    assert delegate.has("delegate", "c1") and not delegate.has("delegate", "c2")
    assert delegate.has("member", "u01") and not delegate.has("member", "u02")
    assert not delegate.has("union_admin")
    assert delegate.scopes("delegate") == {"c1"}


def test_csrf_token_is_bound_to_one_login():
    a = verify_token(AUTH_SECRET, issue_token(AUTH_SECRET, member(), 60))
    b = verify_token(AUTH_SECRET, issue_token(AUTH_SECRET, member(), 60))
    assert csrf_token(AUTH_SECRET, a) != csrf_token(AUTH_SECRET, b)
    assert len(csrf_token(AUTH_SECRET, a)) == 32


@pytest.mark.parametrize("cls", EXPECTED)
def test_typed_errors_keep_type_fields_and_numbers_across_the_wire(cls):
    exc = cls(
        "quorum not reached / 未达法定人数",
        fields={"present": ["too few"]},
        details={"present": 79, "due": 120},
    )
    back = deserialize(serialize(exc))
    assert type(back) is cls
    assert back.message == exc.message
    assert back.fields == {"present": ["too few"]}
    assert back.details == {"present": 79, "due": 120}  # numbers stay numbers
    assert back.status == cls.status


def test_statuses():
    assert [c.status for c in (BadInput, Unauthenticated, Forbidden, NotFound, Conflict)] == [
        400,
        401,
        403,
        404,
        409,
    ]


def test_actor_require():
    with pytest.raises(Forbidden) as info:
        Actor("x").require(False, "no", union_id="u1")
    assert info.value.details == {"union_id": "u1"}
    Actor("x", grants=(Grant("system", "*"),)).require(True, "fine")
