"""Hand-written fakes for the surveys use cases (services/surveys/app.py): an in-memory store with the
methods of :class:`services.surveys.store.SurveysStore` (including ``Store.change``/``create`` semantics:
guarded, ``_v``, events and the audit event in the outbox, NotFound/Conflict, duplicate ``_id``), a
directory of unions, rosters, departments and delegates, and the respondent keys. No RabbitMQ, no
FerretDB, no mocks."""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError

from dmlib.errors import Conflict, Forbidden, NotFound
from services.surveys import rules
from services.surveys.store import audience_collection, responses_collection


class FakeSurveysStore:
    def __init__(self):
        self.collections: dict[str, dict[Any, dict]] = {}

    def _col(self, name: str) -> dict[Any, dict]:
        return self.collections.setdefault(name, {})

    # --- the one way to change state -------------------------------------------------------------
    def create(
        self, collection: str, doc: Mapping[str, Any], *, events: Iterable[Mapping[str, Any]] = (), audit=None
    ):
        col = self._col(collection)
        if doc["_id"] in col:
            raise DuplicateKeyError(f"E11000 duplicate key {doc['_id']}")
        full = {**copy.deepcopy(dict(doc)), "_v": 0}
        events = [*events, *([audit.event(None, doc, service="surveys")] if audit else [])]
        if events:
            full["outbox"] = {e["body"]["event_id"]: copy.deepcopy(dict(e)) for e in events}
        col[doc["_id"]] = full
        return copy.deepcopy(full)

    def change(
        self,
        collection: str,
        doc_id: Any,
        *,
        expect=None,
        set=None,
        inc=None,
        events=(),  # noqa: A002
        conflict=None,
        audit=None,
    ) -> dict:
        doc = self._col(collection).get(doc_id)
        if doc is None:
            raise NotFound(f"no {collection} {doc_id}", details={"id": doc_id})
        for k, v in (expect or {}).items():
            if doc.get(k) != v:
                raise Conflict("changed by someone else meanwhile", details={"id": doc_id})
        events = [*events, *([audit.event(copy.deepcopy(doc), set, inc, service="surveys")] if audit else [])]
        doc.update(copy.deepcopy(dict(set or {})))
        for k, n in {"_v": 1, **(inc or {})}.items():
            doc[k] = (doc.get(k) or 0) + n
        if events:
            doc.setdefault("outbox", {}).update(
                {e["body"]["event_id"]: copy.deepcopy(dict(e)) for e in events}
            )
        return copy.deepcopy(doc)

    def pending_events(self) -> list[tuple[str, dict]]:
        return [
            (e["type"], e["body"])
            for col in self.collections.values()
            for d in col.values()
            for e in d.get("outbox", {}).values()
        ]

    # --- surveys ---------------------------------------------------------------------------------
    def survey(self, survey_id):
        return copy.deepcopy(self._col("surveys").get(survey_id))

    def answering_survey(self, survey_id):
        return self.survey(survey_id)

    def surveys_of(self, union_id):
        return [copy.deepcopy(s) for s in self._col("surveys").values() if s["union_id"] == union_id]

    def surveys_in(self, statuses):
        return [copy.deepcopy(s) for s in self._col("surveys").values() if s["status"] in statuses]

    # --- audience --------------------------------------------------------------------------------
    def add_audience(self, survey_id, members):
        col = self._col(audience_collection(survey_id))
        for m in members:
            col.setdefault(m["_id"], copy.deepcopy(m))

    def audience_member(self, survey_id, member_id):
        return copy.deepcopy(self._col(audience_collection(survey_id)).get(member_id))

    def audience_page(self, survey_id, offset, limit):
        return [
            copy.deepcopy(m)
            for m in list(self._col(audience_collection(survey_id)).values())[offset : offset + limit]
        ]

    # --- drafts ----------------------------------------------------------------------------------
    def draft(self, respondent):
        return copy.deepcopy(self._col("drafts").get(respondent))

    def save_draft(self, respondent, survey_id, answers, at):
        first = respondent not in self._col("drafts")
        self._col("drafts")[respondent] = {
            "_id": respondent,
            "survey_id": survey_id,
            "a": copy.deepcopy(answers),
            "saved_at": at,
        }
        return first

    def drop_draft(self, respondent):
        return self._col("drafts").pop(respondent, None) is not None

    # --- responses -------------------------------------------------------------------------------
    def insert_response(self, survey_id, doc):
        col = self._col(responses_collection(survey_id))
        if doc["_id"] in col:
            raise DuplicateKeyError(f"E11000 duplicate key {doc['_id']}")
        col[doc["_id"]] = copy.deepcopy(doc)

    def response(self, survey_id, respondent):
        return copy.deepcopy(self._col(responses_collection(survey_id)).get(respondent))

    def has_response(self, survey_id, respondent):
        return respondent in self._col(responses_collection(survey_id))

    def delete_response(self, survey_id, respondent):
        self._col(responses_collection(survey_id)).pop(respondent, None)

    def response_page(self, survey_id, offset, limit):
        return [
            copy.deepcopy(r)
            for r in list(self._col(responses_collection(survey_id)).values())[offset : offset + limit]
        ]

    def iter_responses(self, survey_id, projection=None):
        return iter(copy.deepcopy(list(self._col(responses_collection(survey_id)).values())))

    def add_texts(self, survey_id, respondent, texts, name):
        col = self._col(f"texts_{survey_id}")
        for q, t in texts.items():
            col.setdefault(f"{q}|{respondent}", {"_id": f"{q}|{respondent}", "q": q, "text": t, "name": name})

    def drop_texts(self, survey_id, respondent, question_ids):
        for q in question_ids:
            self._col(f"texts_{survey_id}").pop(f"{q}|{respondent}", None)

    def texts(self, survey_id, question_id, search, skip, limit):
        found = [
            {"text": d["text"], "name": d["name"]}
            for d in self._col(f"texts_{survey_id}").values()
            if d["q"] == question_id and (not search or search.casefold() in d["text"].casefold())
        ]
        return found[skip : skip + limit], len(found)

    # --- counters --------------------------------------------------------------------------------
    def tally(self, tally_id):
        return copy.deepcopy(self._col("tallies").get(tally_id, {}))

    def tallies(self, tally_ids):
        return {t: self.tally(t) for t in tally_ids}

    def bump(self, tally_id, inc, low=None, high=None, unless_closed=False):
        tallies = self._col("tallies")
        if unless_closed and (tally_id not in tallies or tallies[tally_id].get("closed")):
            return False
        t = tallies.setdefault(tally_id, {"_id": tally_id})
        rules.add(t, inc)
        for k, v in (low or {}).items():
            t[k] = min(t.get(k, v), v)
        for k, v in (high or {}).items():
            t[k] = max(t.get(k, v), v)
        return True

    def close_tally(self, survey_id):
        self._col("tallies").setdefault(survey_id, {"_id": survey_id})["closed"] = True

    def replace_tallies(self, survey_id, tallies):
        for tally_id, counters in tallies.items():
            self._col("tallies")[tally_id] = {"_id": tally_id, **copy.deepcopy(counters)}


class FakeDirectory:
    """Unions ``ftu`` > ``u01`` (departments d1, d2) and ``u02``; members given per union."""

    def __init__(self):
        self.unions = {
            "ftu": {"id": "ftu", "name": "总工会", "path": ["ftu"], "kind": "federation"},
            "u01": {"id": "u01", "name": "一厂工会", "path": ["ftu", "u01"], "kind": "grassroots"},
            "u02": {"id": "u02", "name": "二厂工会", "path": ["ftu", "u02"], "kind": "grassroots"},
        }
        self.depts = {
            "u01": [
                {"id": "d1", "name": "车间", "union_id": "u01"},
                {"id": "d2", "name": "财务", "union_id": "u01"},
            ],
            "u02": [],
        }
        self.rosters: dict[str, list[dict]] = {"ftu": [], "u01": [], "u02": []}
        self.terms = {"cg-u01-t1": {"union": "u01", "delegates": []}}

    def add(self, union_id: str, member_id: str, department_id: str | None = None) -> None:
        self.rosters[union_id].append(
            {"member_id": member_id, "name": member_id, "department_id": department_id, "locale": "zh_CN"}
        )

    def get_union(self, union_id):
        if union_id not in self.unions:
            raise NotFound("no union")
        return copy.deepcopy(self.unions[union_id])

    def unions_under(self, union_id):
        return [copy.deepcopy(u) for u in self.unions.values() if union_id in u["path"]]

    def roster(self, union_id):
        return copy.deepcopy(self.rosters[union_id])

    def departments(self, union_id):
        return copy.deepcopy(self.depts.get(union_id, []))

    def term_union(self, term_id):
        if term_id not in self.terms:
            raise NotFound("no term")
        return self.terms[term_id]["union"]

    def delegates(self, term_id):
        if term_id not in self.terms:
            raise Forbidden("no")
        return [{"member_id": m} for m in self.terms[term_id]["delegates"]]


class FakeKeys:
    def respondent(self, survey_id: str, member_id: str) -> str:
        return hmac.new(b"fake-key", f"{survey_id}:{member_id}".encode(), hashlib.sha256).hexdigest()
