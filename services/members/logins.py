"""Limits on failed logins, per account and per client address (issue 8: hardening).

Fixed-window counters kept in this service's database (collection ``login_attempts``), so the limits hold
across several gateway and members processes and across restarts. One document per counter and window,
addressed by ``_id`` (the only filter FerretDB answers from an index, docs/storage.md):
``acct:<login, case-folded>:<window>`` and ``addr:<client address>:<window>``, with ``count`` and
``expires_at`` (the end of the window; an hourly timer deletes expired ones, because FerretDB 1.24 has no
TTL indexes).

Why our own code: the ``limits`` library (5.8.0, MongoDB storage) was tried against FerretDB 1.24.2 and
fails there: it creates TTL indexes (``expireAfterSeconds``: NotImplemented), its fixed window uses
``findAndModify`` with a projection and its sliding window an update pipeline (both NotImplemented).
The counter here is one atomic ``$inc`` upsert by ``_id``, which FerretDB (patched, docs/storage.md) and
MongoDB both do exactly.

The rule (defaults after OWASP's authentication cheat sheet: lock an account after a few failures for a
while, and throttle an address that sprays many accounts):

- an attempt is counted BEFORE the password is checked (``$inc``, the new count decides), so concurrent
  attempts cannot slip past the limit together; a successful login takes its address count back and
  clears the account's counter, so each counter counts failed logins (plus any still in flight);
- over ``LOGIN_ACCOUNT_LIMIT`` (default 5) failures for one login name, or ``LOGIN_ADDRESS_LIMIT``
  (default 20) failures from one client address, within one window of ``LOGIN_WINDOW_SECONDS``
  (default 900 s), further attempts get :class:`~dmlib.errors.TooManyRequests` (HTTP 429 with
  ``Retry-After`` = seconds to the end of the window) without their password being checked, so a blocked
  client learns nothing, even from a right password;
- an account's counter is its own: failures on other accounts never block it (unless they come from the
  same address and exhaust that address's budget); unknown login names are counted like known ones, so
  the answers do not reveal which logins exist;
- a limit of 0 turns that counter off.

The trade-off of locking by account: anyone can keep one account locked by failing on purpose (at most
for one window at a time); the address limit keeps that from being done to many accounts at once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from nameko.extensions import DependencyProvider

from dmlib.errors import TooManyRequests

DEFAULT_WINDOW_S = 900
DEFAULT_ACCOUNT_LIMIT = 5
DEFAULT_ADDRESS_LIMIT = 20


@dataclass(frozen=True)
class Counter:
    """One counter an attempt is charged to: its ``_id`` in this window, its limit, its kind."""

    key: str
    limit: int
    kind: str  # "account" | "address"


@dataclass(frozen=True)
class LoginRule:
    """The limits (pure: no storage, no clock of its own)."""

    window_s: int = DEFAULT_WINDOW_S
    account_limit: int = DEFAULT_ACCOUNT_LIMIT
    address_limit: int = DEFAULT_ADDRESS_LIMIT

    def window(self, at: float) -> int:
        """The number of the fixed window containing ``at`` (seconds since the epoch)."""
        return int(at // self.window_s)

    def window_end(self, at: float) -> datetime:
        return datetime.fromtimestamp((self.window(at) + 1) * self.window_s, UTC)

    def retry_after(self, at: float) -> int:
        """Whole seconds from ``at`` to the end of its window (at least 1)."""
        return max(1, math.ceil((self.window(at) + 1) * self.window_s - at))

    def account(self, login: str, at: float) -> Counter | None:
        if self.account_limit <= 0:
            return None
        return Counter(f"acct:{login.strip().casefold()}:{self.window(at)}", self.account_limit, "account")

    def address(self, address: str | None, at: float) -> Counter | None:
        if self.address_limit <= 0 or not address:
            return None
        return Counter(f"addr:{address}:{self.window(at)}", self.address_limit, "address")

    def refusal(self, counter: Counter, at: float) -> TooManyRequests:
        """The 429 for an attempt over ``counter``'s limit."""
        retry = self.retry_after(at)
        minutes = max(1, math.ceil(retry / 60))
        return TooManyRequests(
            f"too many failed logins, try again in {minutes} min / 登录失败次数过多，请 {minutes} 分钟后再试",
            details={"retry_after_s": retry, "limit": counter.kind, "max_failures": counter.limit},
        )


class LoginLimits(DependencyProvider):
    """Config ``LOGIN_WINDOW_SECONDS``, ``LOGIN_ACCOUNT_LIMIT``, ``LOGIN_ADDRESS_LIMIT`` → :class:`LoginRule`."""

    def setup(self):
        config = self.container.config

        def number(key: str, default: int) -> int:
            value = config.get(key)
            return default if value in (None, "") else int(value)

        self.rule = LoginRule(
            window_s=max(1, number("LOGIN_WINDOW_SECONDS", DEFAULT_WINDOW_S)),
            account_limit=number("LOGIN_ACCOUNT_LIMIT", DEFAULT_ACCOUNT_LIMIT),
            address_limit=number("LOGIN_ADDRESS_LIMIT", DEFAULT_ADDRESS_LIMIT),
        )

    def get_dependency(self, worker_ctx):
        return Attempts(self.rule)


class Attempts:
    """Charges one login attempt to its counters (see the module docstring); used by ``authenticate``."""

    def __init__(self, rule: LoginRule):
        self.rule = rule

    def begin(self, store, login: str, address: str | None) -> Attempt:
        """Count the attempt; raise :class:`TooManyRequests` if it is over a limit (password unchecked)."""
        at = time.time()
        expires = self.rule.window_end(at)
        address_counter = self.rule.address(address, at)
        account_counter = self.rule.account(login, at)
        if address_counter and store.count_attempt(address_counter.key, expires) > address_counter.limit:
            raise self.rule.refusal(address_counter, at)
        if account_counter and store.count_attempt(account_counter.key, expires) > account_counter.limit:
            if address_counter:  # not a password check: the address is not charged for it
                store.uncount_attempt(address_counter.key)
            raise self.rule.refusal(account_counter, at)
        return Attempt(store, account_counter, address_counter)


class Attempt:
    def __init__(self, store, account: Counter | None, address: Counter | None):
        self.store, self.account, self.address = store, account, address

    def succeeded(self) -> None:
        """The password was right: clear the account's failures and take back the address's count."""
        if self.account:
            self.store.clear_attempts(self.account.key)
        if self.address:
            self.store.uncount_attempt(self.address.key)
