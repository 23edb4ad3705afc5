"""Pure rules of the hardening work: the failed-login windows, the client address behind proxies, and
the secret checks (no servers)."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from dmlib.errors import EXPECTED, TooManyRequests
from dmlib.secrets import require_secret
from services.gateway.http import client_address, error_headers, error_payload, trusted_networks
from services.members.logins import LoginRule
from tests.helpers import TEST_SECRETS


def request(peer: str, forwarded: str | None = None) -> Request:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return Request(EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": peer}).get_environ())


@pytest.mark.parametrize(
    "peer, forwarded, trusted, expected",
    [
        ("198.51.100.1", None, "", "198.51.100.1"),
        ("198.51.100.1", "203.0.113.9", "", "198.51.100.1"),  # no trusted proxy: the header is ignored
        ("198.51.100.1", "203.0.113.9", "127.0.0.1", "198.51.100.1"),  # the peer is not our proxy
        ("127.0.0.1", "203.0.113.9", "127.0.0.1", "203.0.113.9"),
        ("127.0.0.1", "1.1.1.1, 203.0.113.9", "127.0.0.1", "203.0.113.9"),  # the client's own claim: no
        ("127.0.0.1", "203.0.113.9, 10.0.0.4", "127.0.0.1,10.0.0.0/8", "203.0.113.9"),
        ("127.0.0.1", "10.0.0.4", "127.0.0.1,10.0.0.0/8", "10.0.0.4"),  # all trusted: the farthest
        ("127.0.0.1", "not-an-ip", "127.0.0.1", "127.0.0.1"),
        ("::1", "2001:db8::7", "::1", "2001:db8::7"),
    ],
)
def test_client_address(peer, forwarded, trusted, expected):
    assert client_address(request(peer, forwarded), trusted_networks(trusted)) == expected


def test_login_rule_windows_and_keys():
    rule = LoginRule(window_s=900, account_limit=5, address_limit=20)
    at = 900 * 1000 + 300.5
    assert rule.window(at) == 1000 and rule.retry_after(at) == 600
    assert rule.account(" Admin01 ", at).key == "acct:admin01:1000"
    assert rule.address("10.0.0.1", at).key == "addr:10.0.0.1:1000"
    assert rule.address(None, at) is None
    assert LoginRule(account_limit=0).account("x", at) is None  # 0 turns a counter off
    refusal = rule.refusal(rule.account("x", at), at)
    assert refusal.status == 429 and refusal.details == {
        "retry_after_s": 600,
        "limit": "account",
        "max_failures": 5,
    }
    assert "10 min" in refusal.message and "10 分钟" in refusal.message


def test_429_is_a_typed_error_with_retry_after():
    assert TooManyRequests in EXPECTED
    status, payload = error_payload(TooManyRequests("slow down / 请稍后", details={"retry_after_s": 42}))
    assert status == 429 and payload["error"] == "too_many_requests"
    assert error_headers(status, payload) == {"Retry-After": "42"}
    assert error_headers(400, {"details": {"retry_after_s": 42}}) == {}


@pytest.mark.parametrize(
    "value, allowed, ok",
    [
        ("k3J9-x8Q2mZ7vL1pR4tY6wB0nC5dF8gH", False, True),
        (None, False, False),
        ("short", False, False),
        ("a" * 40, False, False),
        ("0123012301230123012301230123012301", False, False),  # 4 distinct characters
        (TEST_SECRETS["AUTH_SECRET"], False, False),
        (TEST_SECRETS["AUTH_SECRET"], True, True),
    ],
)
def test_require_secret(value, allowed, ok):
    config = {"AUTH_SECRET": value, **({"ALLOW_TEST_SECRETS": "true"} if allowed else {})}
    if ok:
        assert require_secret(config, "AUTH_SECRET", 32) == value
    else:
        with pytest.raises(RuntimeError, match="AUTH_SECRET") as refused:
            require_secret(config, "AUTH_SECRET", 32)
        assert not value or value not in str(refused.value)
