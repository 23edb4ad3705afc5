"""Revocable read-only links (the projector view's, issue 14): a random token signed by the service that
stores it, so a forged token is refused before the database is asked.

A token is ``<32 random URL-safe characters>.<22-character signature>``: 192 random bits
(:func:`secrets.token_urlsafe`) and the first 128 bits of HMAC-SHA256 over them, URL-safe base64, under a
key derived from the shared ``AUTH_SECRET`` and a purpose (``"congress.projector_link"``), so a token
made for one purpose or service is not valid for another. The owner stores the token (as the ``_id`` of
its link document: one index lookup per use) with what it shows and whether it was revoked.

The projector links of the congress service (of a session) and of the elections service (of an election)
are the same thing with another subject key (``session_id`` / ``election_id``), so their storage
(:class:`ProjectorLinks`, a store mixin), their document (:func:`new_link`), their output
(:func:`link_view`) and their reading (:func:`load_link`, :func:`live_link`: NotFound for a token not
signed or not stored, Forbidden with ``details.revoked`` for a revoked one) are written once here; each
service keeps its own purpose, policy and audit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from nameko.extensions import DependencyProvider

from dmlib.auth import auth_secret
from dmlib.errors import Forbidden, NotFound
from dmlib.schemas import iso

if TYPE_CHECKING:
    from dmlib.audit import Audit

#: Random bytes of a token (24 → 32 URL-safe characters).
TOKEN_BYTES = 24
SIGNATURE_CHARS = 22
#: The collection of the projector links (``_id``: the token).
PROJECTOR_LINKS = "projector_links"
LINK_NOT_FOUND = "no such projector link / 大屏链接不存在"
LINK_REVOKED = "this projector link was revoked / 此大屏链接已被撤销"


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


# ----- projector links (大屏只读链接, issue 14) ----------------------------------------------------------
class ProjectorLinks:
    """Store mixin of the projector links of one kind of subject, for a :class:`dmlib.storage.Store`
    subclass (``class CongressStore(ProjectorLinks, Store)``) that sets :attr:`link_subject` and declares
    the index ``indexes[PROJECTOR_LINKS] = [IndexModel(link_subject)]`` (for :meth:`projector_links_of`)."""

    #: The field of a link naming what it shows: ``"session_id"`` (congress), ``"election_id"`` (elections).
    link_subject: ClassVar[str]

    def insert_projector_link(self, doc: dict, audit: Audit | None = None) -> dict:
        """Store a read-only projector link (:func:`new_link`); its ``_id`` is the token itself (an ``_id``
        lookup per poll). Returns the stored document."""
        return self.create(PROJECTOR_LINKS, doc, audit=audit)

    def get_projector_link(self, token: str) -> dict | None:
        """The stored link of ``token``, or None."""
        return self.db[PROJECTOR_LINKS].find_one({"_id": token})

    def projector_links_of(self, subject_id: str) -> list[dict]:
        """The links of one subject (a session, an election), newest first (a handful per subject)."""
        query = {self.link_subject: subject_id}
        return list(self.db[PROJECTOR_LINKS].find(query).sort("created_at", -1))

    def revoke_projector_link(self, token: str, at: datetime, by: str, audit: Audit | None = None) -> dict:
        """Revoke a link once (guarded on ``revoked_at`` None: a second revocation is a Conflict); returns
        the document after. NotFound if no such link."""
        return self.change(
            PROJECTOR_LINKS,
            token,
            expect={"revoked_at": None},
            set={"revoked_at": at, "revoked_by": by},
            audit=audit,
        )


def new_link(
    key: bytes, at: datetime, by: str, union_id: str, union_path: Sequence[str], **subject: str
) -> dict:
    """The document of a new projector link: ``_id`` a fresh token signed with ``key`` (:func:`new_token`),
    ``subject`` (what it shows, e.g. ``session_id=..., congress_id=...``), the subject's union and its
    path (for the owner's policy), ``created_at`` ``at`` (UTC), ``created_by`` ``by`` (a member id), not
    revoked."""
    return {
        "_id": new_token(key),
        **subject,
        "union_id": union_id,
        "union_path": list(union_path),
        "created_at": at,
        "created_by": by,
        "revoked_at": None,
        "revoked_by": None,
    }


def link_view(doc: dict, subject: str) -> dict:
    """A link as its owner's ``ProjectorLinkOut`` shows it: ``{"token", <subject>, "created_at" (ISO 8601),
    "created_by", "revoked_at" (ISO 8601 or None), "active"}``; ``subject`` is the owner's
    :attr:`ProjectorLinks.link_subject`."""
    return {
        "token": doc["_id"],
        subject: doc[subject],
        "created_at": iso(doc.get("created_at")),
        "created_by": doc.get("created_by"),
        "revoked_at": iso(doc.get("revoked_at")),
        "active": doc.get("revoked_at") is None,
    }


def load_link(store: ProjectorLinks, key: bytes, token: str) -> dict:
    """The stored link of ``token``, revoked or not; NotFound (:data:`LINK_NOT_FOUND`) if ``token`` is not
    signed with ``key`` (the database is not asked) or not stored."""
    doc = store.get_projector_link(token) if signed(key, token) else None
    if doc is None:
        raise NotFound(LINK_NOT_FOUND)
    return doc


def live_link(store: ProjectorLinks, key: bytes, token: str) -> dict:
    """The stored link of ``token`` if it may still be shown (no login): NotFound as :func:`load_link`;
    Forbidden (:data:`LINK_REVOKED`) with ``details`` ``{"revoked": true}`` once revoked, so the page can
    say so."""
    link = load_link(store, key, token)
    if link.get("revoked_at") is not None:
        raise Forbidden(LINK_REVOKED, details={"revoked": True})
    return link
