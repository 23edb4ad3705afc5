"""Storage of the cases service (database ``cases``)."""

from __future__ import annotations

from dmlib.storage import Store

CASES = "cases"


class CasesStore(Store):
    indexes: dict = {}
