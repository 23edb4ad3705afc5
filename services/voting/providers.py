"""The voting service's two nameko dependency providers: the ballot key and the cache of open polls and
campaigns for the ballot hot path."""

from __future__ import annotations

from collections.abc import Callable

from cachetools import TTLCache
from nameko.extensions import DependencyProvider

from dmlib.secrets import require_secret

from . import tally as t


class BallotKeys(DependencyProvider):
    """The ballot key (config ``VOTING_KEY``, ≥ 16 characters, checked by :mod:`dmlib.secrets`): ballot
    ids and receipt codes."""

    def setup(self):
        self.key = require_secret(self.container.config, "VOTING_KEY", 16).encode()

    def get_dependency(self, worker_ctx):
        return self

    def ballot_id(self, poll_id: str, member_id: str) -> str:
        return t.ballot_id(self.key, poll_id, member_id)

    def receipt(self, ballot: str) -> str:
        return t.receipt_code(self.key, ballot)


class OpenDocCache:
    """Open campaigns and polls as last read, for the ballot hot path (cachetools ``TTLCache``).

    Only documents whose ``status`` is ``open`` are kept, for ``ttl`` seconds. A stale "open" is safe:
    the live tally's own ``open`` guard refuses, and removes, a ballot that arrives after the close
    (:meth:`VotingStore.count_ballot`), so a close still takes effect at once; a poll or campaign that
    is not open is read afresh every time. Saves two FerretDB reads per ballot (docs/benchmarks.md)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._docs: TTLCache = TTLCache(maxsize=1024, ttl=ttl)

    def get(self, kind: str, doc_id: str, load: Callable[[str], dict | None]) -> dict | None:
        """The ``kind`` document ``doc_id`` from the cache or from ``load(doc_id)``. Read-only: callers
        must not change it."""
        if self.ttl <= 0:
            return load(doc_id)
        doc = self._docs.get((kind, doc_id))
        if doc is None:
            doc = load(doc_id)
            if doc is not None and doc.get("status") == "open":
                self._docs[(kind, doc_id)] = doc
        return doc

    def forget(self, kind: str, doc_id: str) -> None:
        """Drop a document this process has just changed (other processes see it within ``ttl``)."""
        self._docs.pop((kind, doc_id), None)


class OpenDocs(DependencyProvider):
    """One :class:`OpenDocCache` per service process; config ``VOTING_CACHE_S`` (seconds, default 1;
    0 turns it off)."""

    def setup(self):
        self.cache = OpenDocCache(float(self.container.config.get("VOTING_CACHE_S", 1.0)))

    def get_dependency(self, worker_ctx):
        return self.cache
