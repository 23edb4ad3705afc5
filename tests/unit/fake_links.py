"""The in-memory fake of :class:`dmlib.links.ProjectorLinks` (the projector links of the congress and
elections stores), a mixin for a :class:`tests.unit.fake_store.FakeStore` subclass that sets
``link_subject`` as the real store does (``"session_id"`` / ``"election_id"``). The writes are the real
mixin's own (they go through ``create``/``change``, which FakeStore fakes); only the reads, which ask the
database, are written here."""

from __future__ import annotations

import copy

from dmlib.links import PROJECTOR_LINKS, ProjectorLinks


class FakeProjectorLinks(ProjectorLinks):
    """As :class:`dmlib.links.ProjectorLinks`, reading ``FakeStore.col``."""

    def get_projector_link(self, token: str) -> dict | None:
        return copy.deepcopy(self.col(PROJECTOR_LINKS).get(token))

    def projector_links_of(self, subject_id: str) -> list[dict]:
        found = [
            copy.deepcopy(d) for d in self.col(PROJECTOR_LINKS).values() if d[self.link_subject] == subject_id
        ]
        return sorted(found, key=lambda d: d["created_at"], reverse=True)
