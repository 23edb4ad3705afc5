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
  ``department_id`` (the groups of the cross-tabs), ``day`` (China calendar day); a named survey's response also ``member_id``, ``name``, ``at``; an anonymous
  one holds no member id, no name and no time finer than the day.
- ``texts_<survey id>``: the free texts of the responses, one document per text answer (``_id`` =
  ``<question>|<respondent hash>``; ``q``, ``text``, ``name`` for named surveys only), written right
  after the response, so the texts page scans texts, not every response.
- ``drafts``: ``_id`` = the respondent hash; ``survey_id``, ``a``, ``saved_at``. Deleted on submission.
- ``tallies_<survey id>``: the results' counters (flat keys, :mod:`services.surveys.rules`): ``_id`` = survey id
  (every question), ``<survey>|u|<union>`` and ``<survey>|d|<department>`` (cross-tab kinds only), kept
  by ``$inc`` right after each response's insert, so a results page reads a fixed handful of documents
  whatever the number of responses. The survey's own tally also carries ``closed`` (set first by a
  close): its ``$inc`` is guarded by it, so a response that arrives as the survey closes is refused
  and removed. Derived: ``recount`` rebuilds them from the responses (a crash between the insert and
  the ``$inc`` leaves a response uncounted until then).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from pymongo.errors import BulkWriteError, CursorNotFound, DuplicateKeyError

from dmlib.storage import Store

#: Questionnaires of open surveys, per process: ``(database, survey id)`` → the survey document. A
#: survey's questionnaire, audience and window cannot change once it is open, so the answering path
#: reads it once; whether the survey is still open is decided by its tally's guard, never by this copy.
_OPEN_SURVEYS: dict[tuple[str, str], dict] = {}
log = logging.getLogger(__name__)


def audience_collection(survey_id: str) -> str:
    return f"audience_{survey_id}"


def responses_collection(survey_id: str) -> str:
    return f"responses_{survey_id}"


def texts_collection(survey_id: str) -> str:
    return f"texts_{survey_id}"


def tallies_collection(survey_id: str) -> str:
    return f"tallies_{survey_id}"


def union_tally(survey_id: str, union_id: str) -> str:
    return f"{survey_id}|u|{union_id}"


def department_tally(survey_id: str, department_id: str) -> str:
    return f"{survey_id}|d|{department_id}"


class SurveysStore(Store):
    indexes: dict = {"surveys": [], "drafts": []}

    # --- surveys ---------------------------------------------------------------------------------
    def survey(self, survey_id: str) -> dict | None:
        return self.db.surveys.find_one({"_id": survey_id})

    def answering_survey(self, survey_id: str) -> dict | None:
        """The survey for the answering path: an open survey's cached copy (see :data:`_OPEN_SURVEYS`),
        else the document as stored."""
        key = (self.db.name, survey_id)
        cached = _OPEN_SURVEYS.get(key)
        if cached is not None:
            return cached
        survey = self.db.surveys.find_one({"_id": survey_id}, {"outbox": 0})
        if survey is not None and survey["status"] == "open":
            if len(_OPEN_SURVEYS) > 1000:
                _OPEN_SURVEYS.clear()
            _OPEN_SURVEYS[key] = survey
        return survey

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
        self.db[responses_collection(survey_id)].insert_one(doc)

    def response(self, survey_id: str, respondent: str) -> dict | None:
        return self.db[responses_collection(survey_id)].find_one({"_id": respondent})

    def has_response(self, survey_id: str, respondent: str) -> bool:
        return self.db[responses_collection(survey_id)].find_one({"_id": respondent}, {"_id": 1}) is not None

    def delete_response(self, survey_id: str, respondent: str) -> None:
        """Remove a response that lost the race against the close (it was never counted)."""
        self.db[responses_collection(survey_id)].delete_one({"_id": respondent})

    def response_page(self, survey_id: str, offset: int, limit: int) -> list[dict]:
        """Responses in arrival order (natural order of the survey's own collection)."""
        return list(self.db[responses_collection(survey_id)].find({}).skip(offset).limit(limit))

    def iter_responses(self, survey_id: str, projection: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every response of the survey in natural (arrival) order. A cursor FerretDB lost on a long
        read (``CursorNotFound``, seen in the benchmark's recount of 100,000 responses) is reopened after
        the responses already read, so each is yielded once."""
        coll = self.db[responses_collection(survey_id)]
        seen = 0
        while True:
            try:
                for doc in coll.find({}, projection, batch_size=2000).skip(seen):
                    seen += 1
                    yield doc
                return
            except CursorNotFound:
                log.warning("surveys: cursor over responses_%s lost after %d, reopened", survey_id, seen)

    def add_texts(self, survey_id: str, respondent: str, texts: Mapping[str, str], name: str | None) -> None:
        """The free texts of one response, one document each in ``texts_<survey>`` (``_id`` =
        ``<question>|<respondent>``: a repeat is a no-op), so reading them scans only texts."""
        docs = [{"_id": f"{q}|{respondent}", "q": q, "text": t, "name": name} for q, t in texts.items()]
        if docs:
            try:
                self.db[texts_collection(survey_id)].insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    def drop_texts(self, survey_id: str, respondent: str, question_ids: list[str]) -> None:
        for q in question_ids:
            self.db[texts_collection(survey_id)].delete_one({"_id": f"{q}|{respondent}"})

    def texts(
        self, survey_id: str, question_id: str, search: str | None, skip: int, limit: int
    ) -> tuple[list[dict], int]:
        """Texts answering a question (optionally containing ``search``, case-insensitive), in arrival
        order, and their number: a scan of the survey's texts only (~20 µs each on FerretDB)."""
        found = []
        total = 0
        for doc in self.db[texts_collection(survey_id)].find({"q": question_id}, batch_size=2000):
            text = doc["text"]
            if search and search.casefold() not in text.casefold():
                continue
            if skip <= total < skip + limit:
                found.append({"text": text, "name": doc.get("name")})
            total += 1
        return found, total

    # --- counters --------------------------------------------------------------------------------
    def _tallies(self, tally_id: str):
        return self.db[tallies_collection(tally_id.split("|", 1)[0])]

    def tally(self, tally_id: str) -> dict:
        return self._tallies(tally_id).find_one({"_id": tally_id}) or {}

    def tallies(self, tally_ids: list[str]) -> dict[str, dict]:
        """Several tallies of one survey: one read of the survey's own tallies collection (one document
        per union and department of its audience), not one round trip each."""
        if not tally_ids:
            return {}
        docs = {d["_id"]: d for d in self._tallies(tally_ids[0]).find({}, batch_size=5000)}
        return {t: docs.get(t, {}) for t in tally_ids}

    def bump(
        self,
        tally_id: str,
        inc: Mapping[str, float],
        low: Mapping[str, float] | None = None,
        high: Mapping[str, float] | None = None,
        unless_closed: bool = False,
    ) -> bool:
        """``$inc`` (and ``$min``/``$max`` for the numbers' extremes) on one tally, created if missing;
        with ``unless_closed``, only on an existing tally not closed (False: nothing changed)."""
        ops: dict[str, Any] = {"$inc": dict(inc)}
        if low:
            ops["$min"] = dict(low)
        if high:
            ops["$max"] = dict(high)
        if unless_closed:
            return (
                self._tallies(tally_id)
                .update_one({"_id": tally_id, "closed": {"$ne": True}}, ops)
                .matched_count
                == 1
            )
        try:
            self._tallies(tally_id).update_one({"_id": tally_id}, ops, upsert=True)
        except DuplicateKeyError:  # two first upserts raced: the document exists now
            self._tallies(tally_id).update_one({"_id": tally_id}, ops)
        return True

    def close_tally(self, survey_id: str) -> None:
        """Shut the survey's counters: every later guarded ``$inc`` is refused."""
        self._tallies(survey_id).update_one({"_id": survey_id}, {"$set": {"closed": True}}, upsert=True)

    def replace_tallies(self, survey_id: str, tallies: dict[str, dict]) -> None:
        """The recount: every tally of the survey replaced by the figures counted from the responses."""
        for tally_id, counters in tallies.items():
            self._tallies(tally_id).replace_one({"_id": tally_id}, {"_id": tally_id, **counters}, upsert=True)
