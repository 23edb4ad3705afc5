"""Revocable read-only links (the projector view's, issue 14): a random token signed by the service that
stores it, so a forged token is refused before the database is asked.

A token is ``<32 random URL-safe characters>.<22-character signature>``: 192 random bits
(:func:`secrets.token_urlsafe`) and the first 128 bits of HMAC-SHA256 over them, URL-safe base64, under a
key derived from the shared ``AUTH_SECRET`` and a purpose (``"congress.projector_link"``), so a token
made for one purpose or service is not valid for another. The owner stores the token (as the ``_id`` of
its link document: one index lookup per use) with what it shows and whether it was revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from nameko.extensions import DependencyProvider

from dmlib.auth import auth_secret

#: Random bytes of a token (24 → 32 URL-safe characters).
TOKEN_BYTES = 24
SIGNATURE_CHARS = 22


def link_key(secret: str, purpose: str) -> bytes:
    """The key that signs ``purpose``'s links, derived from ``secret`` (config ``AUTH_SECRET``)."""
    return hmac.new(secret.encode(), f"link:{purpose}".encode(), hashlib.sha256).digest()


def _signature(key: bytes, random_part: str) -> str:
    mac = hmac.new(key, random_part.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:SIGNATURE_CHARS]


def new_token(key: bytes) -> str:
    """A fresh ``<random>.<signature>`` token signed with ``key``."""
    random_part = secrets.token_urlsafe(TOKEN_BYTES)
    return f"{random_part}.{_signature(key, random_part)}"


def signed(key: bytes, token: str) -> bool:
    """True if ``token`` was made by :func:`new_token` with ``key`` (compared in constant time)."""
    random_part, _, signature = (token or "").partition(".")
    return bool(random_part and signature) and hmac.compare_digest(signature, _signature(key, random_part))


class LinkKey(DependencyProvider):
    """Injects :func:`link_key` of config ``AUTH_SECRET`` for ``purpose`` (read in ``setup``)."""

    def __init__(self, purpose: str):
        self.purpose = purpose

    def setup(self) -> None:
        self.key = link_key(auth_secret(self.container.config), self.purpose)

    def get_dependency(self, worker_ctx) -> bytes:
        return self.key
