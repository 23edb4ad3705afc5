"""The hash chain of the audit log (pure: no nameko, no pymongo).

Each union has its own chain. Entry ``n`` (from 1) of union ``U`` has ``_id`` ``U:<n, 12 digits>`` and::

    hash = SHA-256( canonical JSON of the entry's CONTENT fields, prev_hash included )
    prev_hash = hash of entry n-1 (GENESIS for the first)

"Canonical JSON": keys sorted, no spaces, UTF-8 (``ensure_ascii`` off), every value a JSON type (times
are ISO 8601 strings, so a round trip through the database changes nothing). Since the hash covers the
sequence number and the previous hash, any later edit of an entry changes its hash (found by
recomputing it), a deleted entry leaves a gap in the sequence (or, if the rest were renumbered, a
``prev_hash`` that no longer matches), an entry moved to another place has an ``_id`` that does not
match its sequence number, and a deleted tail is found against the union's head (the last sequence
number the log recorded). What a chain cannot show by itself: someone who rewrites the head, the tail and
every hash after an edit. Anchor the head hashes elsewhere (print them: ``dm audit-verify``) for that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
#: The fields an entry's hash covers, in addition to nothing else (``_id`` is derived from union + seq).
CONTENT = (
    "union_id",
    "union_path",
    "seq",
    "event_id",
    "service",
    "action",
    "actor",
    "role",
    "object",
    "changes",
    "note",
    "at",
    "request_id",
    "recorded_at",
    "prev_hash",
)


def entry_id(union_id: str, seq: int) -> str:
    """``<union id>:<seq zero-padded to 12>``: the ``_id`` order is the chain order."""
    return f"{union_id}:{seq:012d}"


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash is taken over: its :data:`CONTENT` fields as canonical JSON."""
    content = {k: entry.get(k) for k in CONTENT}
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def link(content: Mapping[str, Any], seq: int, prev_hash: str, recorded_at: str) -> dict[str, Any]:
    """The entry to append after the one whose hash is ``prev_hash`` (``GENESIS`` for the first):
    ``content`` (the fields of :data:`CONTENT` except seq, prev_hash, recorded_at) with its place, its
    ``_id`` and its hash."""
    entry = {k: content.get(k) for k in CONTENT}
    entry.update(seq=seq, prev_hash=prev_hash, recorded_at=recorded_at)
    entry["_id"] = entry_id(entry["union_id"], seq)
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class Break:
    """The first broken link of a chain: where (``seq``, ``entry_id``) and what (``kind``):

    - ``edited``: the entry's content no longer gives its hash;
    - ``deleted``: an entry is missing (a gap in the sequence, or the tail is shorter than the head);
    - ``reordered``: an entry is not at the place its sequence number says (``_id``), or out of order;
    - ``relinked``: its ``prev_hash`` is not the hash of the entry before it (an entry before it was
      deleted and the rest renumbered, or replaced with a re-computed hash)."""

    seq: int
    entry_id: str
    kind: str
    message: str


@dataclass(frozen=True)
class Verdict:
    union_id: str
    entries: int
    head_seq: int
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify(union_id: str, entries: Iterable[Mapping[str, Any]], head_seq: int = 0) -> Verdict:
    """Check the chain of ``union_id``: ``entries`` in ``_id`` order, ``head_seq`` the last sequence
    number the log recorded (0: unknown). Returns the first broken link, if any (the rest is not
    judged: after a break, every later link depends on it)."""
    expected, prev_hash, count = 1, GENESIS, 0

    def broken(seq: int, kind: str, message: str) -> Verdict:
        return Verdict(union_id, count, head_seq, Break(seq, entry_id(union_id, seq), kind, message))

    for entry in entries:
        count += 1
        seq = entry.get("seq")
        if not isinstance(seq, int) or entry.get("_id") != entry_id(union_id, seq):
            return broken(
                expected,
                "reordered",
                f"entry {entry.get('_id')} carries sequence number {seq} / 条目位置被改动",
            )
        if seq < expected:
            return broken(
                seq, "reordered", f"entry {seq} appears after entry {expected - 1} / 条目顺序被改动"
            )
        if seq > expected:
            return broken(expected, "deleted", f"entry {expected} is missing / 第{expected}条已被删除")
        if entry_hash(entry) != entry.get("hash"):
            return broken(seq, "edited", f"entry {seq} was changed after it was recorded / 第{seq}条被篡改")
        if entry.get("prev_hash") != prev_hash:
            return broken(
                seq,
                "relinked",
                f"entry {seq} does not follow entry {seq - 1}: one before it was deleted or replaced "
                f"/ 第{seq}条与前一条不衔接（之前的条目被删除或替换）",
            )
        expected, prev_hash = seq + 1, entry["hash"]
    if head_seq >= expected:
        return broken(
            expected, "deleted", f"entries {expected}…{head_seq} are missing at the end / 末尾条目已被删除"
        )
    return Verdict(union_id, count, head_seq, None)
