"""Storage of the surveys service (database ``surveys``).

Collections, with ``_id`` chosen so that every hot path is ``_id`` lookups (docs/storage.md rule 1):

- ``surveys``: ``_id`` survey id; the questionnaire (``sections``), ``union_id``, ``union_path``,
  ``union_name``, ``audience`` (the spec), ``opens_at``, ``closes_at``, ``anonymous``, ``min_group``,
  ``language``, ``status`` (draft | open | closed), ``created_at/by(_name)``, ``opened_at``,
  ``closed_at``, ``reminders``; fixed at opening: ``eligible`` and ``groups`` (``unions`` and
  ``departments``: ``[{key, name, eligible}]``). Changed only through ``Store.change``/``create`` with
  its events and audit in the outbox.
- ``audience_<survey id>``: one document per member of the audience, ``_id`` = member id: ``union_id``,
  ``department_id``, ``locale`` (written before the survey's move to ``open`` commits; a rerun after a
  crash re-inserts, duplicates ignored).
- ``responses_<survey id>`` (one collection per survey, like the voting service's ballots, so exports
  and recounts read one survey's responses only): ``_id`` = the respondent hash HMAC(key,
  "survey:member"): one insert enforces one response per member. ``a`` (answers), ``union_id``,
  ``department_id`` (the groups of the cross-tabs), ``day`` (China calendar day), ``counted`` (the
  counters include it); a named survey's response also ``member_id``, ``name``, ``at``; an anonymous
  one holds no member id, no name and no time finer than the day.
- ``drafts``: ``_id`` = the respondent hash; ``survey_id``, ``a``, ``saved_at``. Deleted on submission.
- ``tallies``: the results' counters (flat keys, :mod:`services.surveys.rules`): ``_id`` = survey id
  (every question), ``<survey>|u|<union>`` and ``<survey>|d|<department>`` (cross-tab kinds only), kept
  by ``$inc`` right after each response's insert, so a results page reads a fixed handful of documents
  whatever the number of responses. Derived: :meth:`SurveysStore.recount` rebuilds them from the
  responses (a crash between the insert and the ``$inc`` leaves a response with ``counted`` false).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from dmlib.storage import Store


def audience_collection(survey_id: str) -> str:
    return f"audience_{survey_id}"


def responses_collection(survey_id: str) -> str:
    return f"responses_{survey_id}"


def union_tally(survey_id: str, union_id: str) -> str:
    return f"{survey_id}|u|{union_id}"


def department_tally(survey_id: str, department_id: str) -> str:
    return f"{survey_id}|d|{department_id}"


class SurveysStore(Store):
    indexes: dict = {"surveys": [], "drafts": []}

    # --- surveys ---------------------------------------------------------------------------------
    def survey(self, survey_id: str) -> dict | None:
        return self.db.surveys.find_one({"_id": survey_id})

    def surveys_of(self, union_id: str) -> list[dict]:
        """The surveys a union runs (a scan of ``surveys``: a few hundred documents)."""
        return list(self.db.surveys.find({"union_id": union_id}, {"outbox": 0}))

    def surveys_in(self, statuses: tuple[str, ...]) -> list[dict]:
        return list(self.db.surveys.find({"status": {"$in": list(statuses)}}, {"outbox": 0}))

    # --- audience --------------------------------------------------------------------------------
    def add_audience(self, survey_id: str, members: list[dict]) -> None:
        """Insert the audience (``[{_id, union_id, department_id, locale}]``); members already there are
        kept (a rerun after a crash)."""
        coll = self.db[audience_collection(survey_id)]
        for start in range(0, len(members), 1000):
            try:
                coll.insert_many(members[start : start + 1000], ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    def audience_member(self, survey_id: str, member_id: str) -> dict | None:
        return self.db[audience_collection(survey_id)].find_one({"_id": member_id})

    def audience_page(self, survey_id: str, offset: int, limit: int) -> list[dict]:
        return list(self.db[audience_collection(survey_id)].find({}).skip(offset).limit(limit))

    # --- drafts ----------------------------------------------------------------------------------
    def draft(self, respondent: str) -> dict | None:
        return self.db.drafts.find_one({"_id": respondent})

    def save_draft(self, respondent: str, survey_id: str, answers: dict, at) -> bool:
        """Replace the draft; True when it is the member's first draft of the survey."""
        result = self.db.drafts.replace_one(
            {"_id": respondent},
            {"_id": respondent, "survey_id": survey_id, "a": answers, "saved_at": at},
            upsert=True,
        )
        return result.upserted_id is not None

    def drop_draft(self, respondent: str) -> bool:
        return self.db.drafts.delete_one({"_id": respondent}).deleted_count == 1

    # --- responses -------------------------------------------------------------------------------
    def insert_response(self, survey_id: str, doc: dict) -> None:
        """One insert under the respondent hash: DuplicateKeyError when the member already answered."""
        self.db[responses_collection(survey_id)].insert_one({**doc, "counted": False})

    def response(self, survey_id: str, respondent: str) -> dict | None:
        return self.db[responses_collection(survey_id)].find_one({"_id": respondent})

    def has_response(self, survey_id: str, respondent: str) -> bool:
        return self.db[responses_collection(survey_id)].find_one({"_id": respondent}, {"_id": 1}) is not None

    def mark_counted(self, survey_id: str, respondent: str) -> None:
        self.db[responses_collection(survey_id)].update_one({"_id": respondent}, {"$set": {"counted": True}})

    def response_page(self, survey_id: str, offset: int, limit: int) -> list[dict]:
        """Responses in arrival order (natural order of the survey's own collection)."""
        return list(self.db[responses_collection(survey_id)].find({}).skip(offset).limit(limit))

    def iter_responses(self, survey_id: str, projection: Mapping[str, Any] | None = None) -> Iterator[dict]:
        return self.db[responses_collection(survey_id)].find({}, projection)

    def texts(
        self, survey_id: str, question_id: str, search: str | None, skip: int, limit: int
    ) -> tuple[list[dict], int]:
        """Responses answering a text question (optionally containing ``search``), in arrival order, and
        their number. A scan of the survey's responses (~20 µs each on FerretDB)."""
        key = f"a.{question_id}"
        found = []
        total = 0
        for doc in self.iter_responses(survey_id, {key: 1, "name": 1}):
            text = (doc.get("a") or {}).get(question_id)
            if not isinstance(text, str) or (search and search.casefold() not in text.casefold()):
                continue
            if skip <= total < skip + limit:
                found.append({"text": text, "name": doc.get("name")})
            total += 1
        return found, total

    # --- counters --------------------------------------------------------------------------------
    def tally(self, tally_id: str) -> dict:
        return self.db.tallies.find_one({"_id": tally_id}) or {}

    def tallies(self, tally_ids: list[str]) -> dict[str, dict]:
        """Several tallies by ``_id`` (one lookup each: ``$in`` is a scan on FerretDB)."""
        return {t: self.tally(t) for t in tally_ids}

    def bump(
        self,
        tally_id: str,
        inc: Mapping[str, float],
        low: Mapping[str, float] | None = None,
        high: Mapping[str, float] | None = None,
    ) -> None:
        """``$inc`` (and ``$min``/``$max`` for the numbers' extremes) on one tally, created if missing."""
        ops: dict[str, Any] = {"$inc": dict(inc)}
        if low:
            ops["$min"] = dict(low)
        if high:
            ops["$max"] = dict(high)
        try:
            self.db.tallies.update_one({"_id": tally_id}, ops, upsert=True)
        except DuplicateKeyError:  # two first upserts raced: the document exists now
            self.db.tallies.update_one({"_id": tally_id}, ops)

    def replace_tallies(self, survey_id: str, tallies: dict[str, dict]) -> None:
        """The recount: every tally of the survey replaced by the figures counted from the responses."""
        for tally_id, counters in tallies.items():
            self.db.tallies.replace_one({"_id": tally_id}, {"_id": tally_id, **counters}, upsert=True)
