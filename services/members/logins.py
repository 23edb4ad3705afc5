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

- each counter counts failed logins. Before the password is checked both counters are read (two ``_id``
  lookups); a counter already at its limit refuses the attempt. A login with no failures on record is
  checked without any write, and a successful one then writes nothing either (issue 17: a login was
  ~6 database operations, 4 of them counter writes; now 4 reads);
- a failure adds one to each counter (``$inc`` upsert). Once an address has failures on record, its
  attempts are charged BEFORE the check (``$inc``, the new count decides) and a success takes the charge
  back, so concurrent attempts from a failing address cannot slip past its limit together;
- attempts on one login name are checked one at a time in each members process (a keyed lock held from
  reading the account's counter to recording the outcome; other logins never wait for it): concurrent
  guesses at one account cannot slip past its limit within a process; across N members instances at
  most N − 1 extra checks can pass while the N-th is in flight. A success clears the account's counter
  (only if it had failures). An address without failures on record is charged after the check: the
  attempts in flight at that moment (at most the process's workers) may all be checked once;
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
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from eventlet.semaphore import Semaphore
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


class KeyedLock:
    """One green-thread lock per key (here: per login name), made when first needed and dropped when no
    one holds or waits for it, so memory stays bounded by the attempts in flight."""

    def __init__(self):
        self._locks: dict[str, list] = {}  # key -> [Semaphore, holders and waiters]

    @contextmanager
    def hold(self, key: str):
        entry = self._locks.setdefault(key, [Semaphore(1), 0])
        entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                self._locks.pop(key, None)


class LoginLimits(DependencyProvider):
    """Config ``LOGIN_WINDOW_SECONDS``, ``LOGIN_ACCOUNT_LIMIT``, ``LOGIN_ADDRESS_LIMIT`` → :class:`LoginRule`;
    the per-login-name lock of this process (module docstring)."""

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
        self.locks = KeyedLock()

    def get_dependency(self, worker_ctx):
        return Attempts(self.rule, self.locks)


class Attempts:
    """Charges one login attempt to its counters (see the module docstring); used by ``authenticate``."""

    def __init__(self, rule: LoginRule, locks: KeyedLock | None = None):
        self.rule = rule
        self.locks = locks or KeyedLock()

    @contextmanager
    def begin(self, store, login: str, address: str | None):
        """``with attempts.begin(store, login, address) as attempt:`` check the password inside, then
        call ``attempt.succeeded()`` or ``attempt.failed()``. Raises :class:`TooManyRequests` on entry if a
        counter is at its limit (the password is then not checked). Holds this login name's lock for the
        block. ``store``: ``attempt_count``, ``count_attempt``, ``uncount_attempt``, ``clear_attempts``."""
        at = time.time()
        expires = self.rule.window_end(at)
        address_counter = self.rule.address(address, at)
        account_counter = self.rule.account(login, at)
        charged = False  # the address's charge taken before the check
        if address_counter and store.attempt_count(address_counter.key) > 0:
            if store.count_attempt(address_counter.key, expires) > address_counter.limit:
                raise self.rule.refusal(address_counter, at)
            charged = True
        with self.locks.hold(account_counter.key) if account_counter else nullcontext():
            failures = store.attempt_count(account_counter.key) if account_counter else 0
            if account_counter and failures >= account_counter.limit:
                if charged:  # not a password check: the address is not charged for it
                    store.uncount_attempt(address_counter.key)
                raise self.rule.refusal(account_counter, at)
            attempt = Attempt(store, expires, account_counter, failures, address_counter, charged)
            try:
                yield attempt
            finally:
                if attempt.outcome is None and charged:  # left without an outcome (an error): not tried
                    store.uncount_attempt(address_counter.key)


class Attempt:
    """One attempt inside :meth:`Attempts.begin`; record its outcome once."""

    def __init__(
        self,
        store,
        expires: datetime,
        account: Counter | None,
        account_failures: int,
        address: Counter | None,
        address_charged: bool,
    ):
        self.store, self.expires = store, expires
        self.account, self.account_failures = account, account_failures
        self.address, self.address_charged = address, address_charged
        self.outcome: str | None = None

    def succeeded(self) -> None:
        """The password was right: clear the account's failures and take back the address's charge
        (no write when neither had any)."""
        self.outcome = "succeeded"
        if self.account and self.account_failures:
            self.store.clear_attempts(self.account.key)
        if self.address and self.address_charged:
            self.store.uncount_attempt(self.address.key)

    def failed(self) -> None:
        """The password was wrong (or the login unknown): one more failure on each counter."""
        self.outcome = "failed"
        if self.account:
            self.store.count_attempt(self.account.key, self.expires)
        if self.address and not self.address_charged:
            self.store.count_attempt(self.address.key, self.expires)
