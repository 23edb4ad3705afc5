"""The in-memory fake of :class:`dmlib.links.ProjectorLinks` (the projector links of the congress and
elections stores), a mixin for a :class:`tests.unit.fake_store.FakeStore` subclass that sets
``link_subject`` as the real store does (``"session_id"`` / ``"election_id"``)."""

from __future__ import annotations

import copy
from typing import ClassVar

from dmlib.links import PROJECTOR_LINKS


class FakeProjectorLinks:
    """As :class:`dmlib.links.ProjectorLinks`, over ``FakeStore.create``/``change``/``col``."""

    link_subject: ClassVar[str]

    def insert_projector_link(self, doc: dict, audit=None) -> dict:
        return self.create(PROJECTOR_LINKS, doc, audit=audit)

    def get_projector_link(self, token: str) -> dict | None:
        return copy.deepcopy(self.col(PROJECTOR_LINKS).get(token))

    def projector_links_of(self, subject_id: str) -> list[dict]:
        found = [
            copy.deepcopy(d) for d in self.col(PROJECTOR_LINKS).values() if d[self.link_subject] == subject_id
        ]
        return sorted(found, key=lambda d: d["created_at"], reverse=True)

    def revoke_projector_link(self, token: str, at, by: str, audit=None) -> dict:
        return self.change(
            PROJECTOR_LINKS,
            token,
            expect={"revoked_at": None},
            set={"revoked_at": at, "revoked_by": by},
            audit=audit,
        )
