"""Storage of the surveys service (database ``surveys``): being built."""

from __future__ import annotations

from dmlib.storage import Store


class SurveysStore(Store):
    indexes: dict = {}
