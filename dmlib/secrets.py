"""The services' secrets: present, long enough, and never a value published in this repository.

Three secrets exist (README, "Configuration"): ``AUTH_SECRET`` (signs login tokens and CSRF tokens; the
disclosure service derives its anonymity key from it), ``ID_HASH_KEY`` (keyed hash of resident IDs,
members) and ``VOTING_KEY`` (ballot ids and receipt codes, voting). None has a default: ``make run``
generates them once into ``.local/secrets.env`` (``scripts/run.sh``), docker-compose refuses to start
without them, and a service whose secret is missing, short, or one of the values written in this
repository's tests (:data:`PUBLISHED`) refuses to start with a ``RuntimeError`` naming the
key, unless the config says ``ALLOW_TEST_SECRETS: true`` (only the test fixtures do; it
is off by default in ``config.yaml``). The demo runs with the generated secrets, so no demo value exists.
"""

from __future__ import annotations

#: Secret values that are written in this repository (tests/helpers.py): anyone can read them.
PUBLISHED = frozenset(
    {
        "test-auth-secret-0123456789abcdef",
        "test-id-hash-key-0123456789abcdef",
        "test-voting-key-0123456789abcdef",
    }
)
#: A secret with fewer distinct characters than this is a placeholder ("xxxx…", "0000…"), not a key.
MIN_DISTINCT_CHARS = 8
TRUE = ("1", "true", "yes", "on")


def published_secrets_allowed(config: dict) -> bool:
    """True when the config says ``ALLOW_TEST_SECRETS`` (the test fixtures only)."""
    return str(config.get("ALLOW_TEST_SECRETS") or "").strip().lower() in TRUE


def require_secret(config: dict, key: str, min_length: int) -> str:
    """The value of secret ``key`` from the nameko config, checked.

    Raises ``RuntimeError`` (the service does not start) when it is missing, shorter than
    ``min_length`` characters, has fewer than :data:`MIN_DISTINCT_CHARS` distinct characters, or is
    one of the :data:`PUBLISHED` values while ``ALLOW_TEST_SECRETS`` is off. The message names the key,
    never the value.
    """
    value = str(config.get(key) or "")
    hint = "see README, 'Configuration'; `make run` generates it into .local/secrets.env"
    if len(value) < min_length:
        raise RuntimeError(f"{key} must be set to at least {min_length} characters ({hint})")
    if len(set(value)) < MIN_DISTINCT_CHARS:
        raise RuntimeError(f"{key} looks like a placeholder, not a random key ({hint})")
    if value in PUBLISHED and not published_secrets_allowed(config):
        raise RuntimeError(
            f"{key} is a test value published in this repository; generate a secret of your own ({hint})"
        )
    return value
