"""Helpers for tests of every tier: test identities and tokens, polling. Fixtures live in conftest.py."""

import os
import time

from dmlib.auth import Actor, Grant, issue_token, service_actor
from dmlib.events import event_keys
from dmtools.stack import procfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MONGO_URI = os.environ.get("TEST_MONGO_URI", "mongodb://127.0.0.1:27017/")
AUTH_SECRET = "test-auth-secret-0123456789abcdef"
ID_HASH_KEY = "test-id-hash-key-0123456789abcdef"
VOTING_KEY = "test-voting-key-0123456789abcdef"
#: The event-signing keys of every service (``EVENT_KEY_<SERVICE>``, ``EVENT_PUBLIC_KEYS``;
#: dmlib/events.py), generated afresh for each test run and written nowhere.
EVENT_KEYS = event_keys([name for name in procfile() if name != "gateway"])
#: Every secret the services need, for configs and stacks under test (add new keys here). The first three
#: values are public, so the services accept them only with ``ALLOW_TEST_SECRETS`` (dmlib/secrets.py).
TEST_SECRETS = {
    "AUTH_SECRET": AUTH_SECRET,
    "ID_HASH_KEY": ID_HASH_KEY,
    "VOTING_KEY": VOTING_KEY,
    "ALLOW_TEST_SECRETS": "true",
    **EVENT_KEYS,
}
SYSTEM = service_actor("tests")


def token(actor: Actor, ttl: int = 3600) -> str:
    """A signed token for ``actor`` under the test secret."""
    return issue_token(AUTH_SECRET, actor, ttl)


def member(
    member_id: str = "M0000001", union_id: str = "u01", *grants: tuple[str, str], name: str = "测试会员"
) -> Actor:
    """An actor: a member of ``union_id`` holding ``grants`` = (role, scope) pairs."""
    return Actor(
        member_id=member_id, name=name, union_id=union_id, grants=tuple(Grant(r, s) for r, s in grants)
    )


def union_admin(union_id: str = "u01", member_id: str = "A0000001") -> Actor:
    return member(member_id, union_id, ("union_admin", union_id), name="工会管理员")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def browser_login(page, url: str, who: str, password: str = "demo1234") -> None:
    """Log ``page`` in through the login form of the gateway at ``url`` (the way a person does)."""
    page.goto(f"{url}/login")
    page.fill("#login", who)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def event_recorder(name: str, source: str, events: list[str], seen: list) -> type:
    """A nameko service class named ``name`` that appends ``(event, payload)`` to ``seen`` for each of
    ``source``'s ``events``: run it beside the services under test to assert on what they published."""
    from nameko.events import event_handler

    def handler(event: str):
        def handle(self, payload):
            seen.append((event, payload))

        handle.__name__ = f"on_{event}"
        return event_handler(source, event)(handle)

    return type(name, (), {"name": name, **{f"on_{e}": handler(e) for e in events}})


def publish_event(config: dict, source: str, event_type: str, **payload) -> dict:
    """Publish ``event_type`` as service ``source`` does: in an envelope signed with ``source``'s key from
    ``config`` (``EVENT_KEY_<SOURCE>``), through nameko's standalone dispatcher. Returns the body sent
    (with its ``event_id``); ``payload`` may bring its own ``event_id``/``occurred_at``."""
    from nameko.standalone.events import event_dispatcher

    from dmlib.events import load_private_key, private_key_config, signed_envelope

    body = signed_envelope(source, event_type, payload, load_private_key(config[private_key_config(source)]))
    event_dispatcher(config)(source, event_type, body)
    return body


def valid_ids(n: int) -> list[str]:
    """``n`` distinct resident ID numbers with a correct GB 11643 check character."""
    from dmlib.schemas import resident_id_check_char

    return [
        (f := f"1101151990{(i // 28) % 12 + 1:02d}{i % 28 + 1:02d}{i % 999:03d}")
        and f + resident_id_check_char(f)
        for i in range(n)
    ]


def import_members(rpc, people: list[tuple[str, str, str]], timeout: float = 30) -> None:
    """Register ``people`` (member number, name, union id), each with a valid resident ID, through the
    members service's CSV import, and wait until the job is done."""
    import base64

    rows = "".join(
        f"{no},{name},{union},{nid}\n"
        for (no, name, union), nid in zip(people, valid_ids(len(people)), strict=True)
    )
    job = rpc.members.start_import(
        {
            "filename": "people.csv",
            "content_b64": base64.b64encode(f"member_no,name,union_id,national_id\n{rows}".encode()).decode(),
        }
    )
    wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", timeout)
