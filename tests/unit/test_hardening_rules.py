"""Pure rules of the hardening work: the failed-login windows, the client address behind proxies, and
the secret checks (no servers)."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from dmlib.errors import EXPECTED, TooManyRequests
from dmlib.secrets import require_secret
from services.gateway.http import client_address, error_headers, error_payload, trusted_networks
from services.members.logins import Attempts, LoginRule
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


# ----- input hygiene of every contract (issue 12) ---------------------------------------------------
def _text_fields():
    import inspect

    from marshmallow import fields

    from dmlib import contracts
    from dmlib.contracts import congress, disclosure, members, notify, proposals, voting
    from dmlib.schemas import BaseSchema, _Identifier

    assert contracts
    for module in (congress, disclosure, members, notify, proposals, voting):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, BaseSchema) or cls.__module__ != module.__name__:
                continue
            for field_name, field in cls().load_fields.items():
                inner = field.inner if isinstance(field, fields.List) else field
                if isinstance(inner, fields.String) and not isinstance(inner, _Identifier):
                    yield f"{module.__name__.rsplit('.', 1)[1]}.{name}.{field_name}", cls, field


TEXT_FIELDS = list(_text_fields())


@pytest.mark.parametrize("char", ["\x00", "\x07", "\u202e", "\u2066", "\u200f", "\x9b"])
def test_every_text_field_of_every_contract_refuses_control_characters(char):
    from marshmallow import ValidationError, fields

    assert len(TEXT_FIELDS) > 40
    for where, cls, field in TEXT_FIELDS:
        key = field.data_key or where.rsplit(".", 1)[1]
        value = [f"a{char}b"] if isinstance(field, fields.List) else f"a{char}b"
        with pytest.raises(ValidationError) as refused:
            cls().load({key: value}, partial=True)
        assert key in refused.value.messages, where


def test_long_texts_keep_line_breaks_and_names_do_not():
    from dmlib.contracts.members import DepartmentIn
    from dmlib.schemas import text_problem

    assert text_problem("第一段\r\n\t第二段", multiline=True) is None
    assert text_problem("第一段\n第二段") is not None
    with pytest.raises(Exception, match="one line"):
        DepartmentIn().load({"union_id": "u01", "name": "生产\n部"})


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("m0100002", "M0100002"),
        (" M0100002\n", "M0100002"),
        ("Ｍ０１０００２", "M010002"),
        ("admin01", "ADMIN01"),
    ],
)
def test_identifiers_are_normalised_once(typed, stored):
    from dmlib.schemas import normalise_identifier

    assert normalise_identifier(typed) == stored


def test_rpc_arguments_are_checked_against_their_annotations():
    from dmlib.errors import BadInput
    from dmlib.rpc import _boundary

    class Service:
        def get(self, member_id: str, offset: int = 0, query: dict | None = None) -> dict:
            return {"member_id": member_id}

    get = _boundary(Service.get)
    assert get(Service(), "M0100002") == {"member_id": "M0100002"}
    for args, field in [
        (({"$regex": ".*"},), "member_id"),
        (("M1", True), "offset"),
        (("M1", 0, "x"), "query"),
    ]:
        with pytest.raises(BadInput) as refused:
            get(Service(), *args)
        assert field in refused.value.fields


# ----- the login limiter over a hand-written counter store (services/members/logins.py) -----------------
class FakeCounters:
    """The four counter methods of MembersStore in memory, recording every write."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.writes: list[tuple[str, str]] = []

    def attempt_count(self, key):
        return self.counts.get(key, 0)

    def count_attempt(self, key, expires_at):
        self.writes.append(("inc", key))
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    def uncount_attempt(self, key):
        self.writes.append(("dec", key))
        self.counts[key] -= 1

    def clear_attempts(self, key):
        self.writes.append(("clear", key))
        self.counts.pop(key, None)


def attempt(attempts, store, login, address, right):
    """One login through the limiter: ``right`` decides the password check. Returns 200, 401 or 429."""
    try:
        with attempts.begin(store, login, address) as a:
            if right:
                a.succeeded()
                return 200
            a.failed()
            return 401
    except TooManyRequests:
        return 429


def test_a_login_without_failures_writes_no_counter():
    store, attempts = FakeCounters(), Attempts(LoginRule(account_limit=3, address_limit=5))
    assert [attempt(attempts, store, "m1", "10.0.0.1", True) for _ in range(10)] == [200] * 10
    assert store.writes == []
    off = Attempts(LoginRule(account_limit=0, address_limit=0))  # both limits off: nothing counted
    assert [attempt(off, store, "m1", "10.0.0.1", False) for _ in range(10)] == [401] * 10
    assert store.writes == [] and off.locks._locks == {}


def test_the_account_limit_still_refuses_after_its_failures_even_the_right_password():
    store, attempts = FakeCounters(), Attempts(LoginRule(account_limit=3, address_limit=100))
    assert [attempt(attempts, store, "m1", "10.0.0.1", False) for _ in range(3)] == [401] * 3
    assert attempt(attempts, store, "M1", "10.0.0.2", True) == 429  # case-folded, any address
    assert attempt(attempts, store, "m2", "10.0.0.1", True) == 200  # another account is not blocked
    acct = [k for k in store.counts if k.startswith("acct:m1:")]
    assert [store.counts[k] for k in acct] == [3]


def test_a_success_clears_the_account_and_takes_back_the_address_charge():
    store, attempts = FakeCounters(), Attempts(LoginRule(account_limit=3, address_limit=5))
    assert attempt(attempts, store, "m1", "10.0.0.1", False) == 401
    addr = next(k for k in store.counts if k.startswith("addr:"))
    assert attempt(attempts, store, "m1", "10.0.0.1", True) == 200
    assert not any(k.startswith("acct:") for k in store.counts)  # cleared: a fresh budget
    assert store.counts[addr] == 1  # the failure stays, the success's charge was taken back
    assert [attempt(attempts, store, "m1", "10.0.0.1", False) for _ in range(3)] == [401] * 3
    assert attempt(attempts, store, "m1", "10.0.0.1", True) == 429


def test_the_address_limit_refuses_across_accounts_and_refusals_do_not_charge_it():
    store, attempts = FakeCounters(), Attempts(LoginRule(account_limit=2, address_limit=3))
    assert [attempt(attempts, store, f"ghost{i}", "10.0.0.1", False) for i in range(3)] == [401] * 3
    assert attempt(attempts, store, "m1", "10.0.0.1", True) == 429
    store2 = FakeCounters()
    for _ in range(2):
        attempt(attempts, store2, "m1", "10.0.0.9", False)
    assert attempt(attempts, store2, "m1", "10.0.0.9", True) == 429  # the account's refusal
    assert store2.counts[next(k for k in store2.counts if k.startswith("addr:"))] == 2  # not charged


def test_concurrent_guesses_at_one_account_are_checked_one_at_a_time():
    import eventlet

    store, attempts = FakeCounters(), Attempts(LoginRule(account_limit=3, address_limit=100))

    def guess(i):
        try:
            with attempts.begin(store, "m1", f"10.0.0.{i}") as a:
                eventlet.sleep(0)  # the password check yields to the others
                a.failed()
                return 401
        except TooManyRequests:
            return 429

    statuses = list(eventlet.GreenPool(8).imap(guess, range(8)))
    assert sorted(statuses) == [401] * 3 + [429] * 5
    assert attempts.locks._locks == {}  # no lock is kept once no attempt holds it
