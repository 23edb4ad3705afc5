"""Secret-ballot keys shared by every service that keeps ballots (voting's polls, the elections'
rounds): the keyed ballot id that makes one atomic insert enforce one ballot per voter while keeping the
voter's id out of the ballot, and the receipt code the voter checks against the published list
(DESIGN.md §6, "Ballot secrecy"). Pure functions; moved here from ``services/voting/tally.py`` so that
the elections service uses the very same ones instead of a copy."""

from __future__ import annotations

import hashlib
import hmac

RECEIPT_LENGTH = 12


def ballot_id(key: bytes, poll_id: str, member_id: str) -> str:
    """The ballot's ``_id``: HMAC-SHA256(key, "poll:member"), hex. Keyed, so nobody without the key can
    tell whose ballot it is; deterministic, so a second ballot by the same voter collides."""
    return hmac.new(key, f"{poll_id}:{member_id}".encode(), hashlib.sha256).hexdigest()


def receipt_code(key: bytes, ballot: str) -> str:
    """The voter's receipt: 12 upper-case hex characters of HMAC(key, "receipt:" + ballot id)."""
    return hmac.new(key, f"receipt:{ballot}".encode(), hashlib.sha256).hexdigest()[:RECEIPT_LENGTH].upper()


def normalise_receipt(code: str | None) -> str | None:
    """A receipt as typed by a person (spaces, dashes, lower case allowed) in its stored form, or None
    when it is not 12 characters 0-9 / A-F."""
    code = (code or "").strip().upper().replace("-", "").replace(" ", "")
    if len(code) != RECEIPT_LENGTH or any(ch not in "0123456789ABCDEF" for ch in code):
        return None
    return code
