"""Hand-written fakes for the surveys use cases (services/surveys/app.py): an in-memory store with the
methods of :class:`services.surveys.store.SurveysStore` on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``Store.change``/``create`` contract), a directory of
unions, rosters, departments and delegates, and the respondent keys. No RabbitMQ, no FerretDB, no mocks."""

from __future__ import annotations

import copy
import hashlib
import hmac

from pymongo.errors import DuplicateKeyError

from dmlib.errors import Forbidden, NotFound
from services.surveys import rules
from services.surveys.store import audience_collection, responses_collection
from tests.unit.fake_store import FakeStore


class FakeSurveysStore(FakeStore):
    service = "surveys"

    # --- surveys ---------------------------------------------------------------------------------
    def survey(self, survey_id):
        return copy.deepcopy(self.col("surveys").get(survey_id))

    def answering_survey(self, survey_id):
        return self.survey(survey_id)

    def surveys_of(self, union_id):
        return [copy.deepcopy(s) for s in self.col("surveys").values() if s["union_id"] == union_id]

    def surveys_in(self, statuses):
        return [copy.deepcopy(s) for s in self.col("surveys").values() if s["status"] in statuses]

    # --- audience --------------------------------------------------------------------------------
    def add_audience(self, survey_id, members):
        col = self.col(audience_collection(survey_id))
        for m in members:
            col.setdefault(m["_id"], copy.deepcopy(m))

    def audience_member(self, survey_id, member_id):
        return copy.deepcopy(self.col(audience_collection(survey_id)).get(member_id))

    def audience_page(self, survey_id, offset, limit):
        return [
            copy.deepcopy(m)
            for m in list(self.col(audience_collection(survey_id)).values())[offset : offset + limit]
        ]

    # --- drafts ----------------------------------------------------------------------------------
    def draft(self, respondent):
        return copy.deepcopy(self.col("drafts").get(respondent))

    def save_draft(self, respondent, survey_id, answers, at):
        first = respondent not in self.col("drafts")
        self.col("drafts")[respondent] = {
            "_id": respondent,
            "survey_id": survey_id,
            "a": copy.deepcopy(answers),
            "saved_at": at,
        }
        return first

    def drop_draft(self, respondent):
        return self.col("drafts").pop(respondent, None) is not None

    # --- responses -------------------------------------------------------------------------------
    def insert_response(self, survey_id, doc):
        col = self.col(responses_collection(survey_id))
        if doc["_id"] in col:
            raise DuplicateKeyError(f"E11000 duplicate key {doc['_id']}")
        col[doc["_id"]] = copy.deepcopy(doc)

    def response(self, survey_id, respondent):
        return copy.deepcopy(self.col(responses_collection(survey_id)).get(respondent))

    def has_response(self, survey_id, respondent):
        return respondent in self.col(responses_collection(survey_id))

    def delete_response(self, survey_id, respondent):
        self.col(responses_collection(survey_id)).pop(respondent, None)

    def response_page(self, survey_id, offset, limit):
        return [
            copy.deepcopy(r)
            for r in list(self.col(responses_collection(survey_id)).values())[offset : offset + limit]
        ]

    def iter_responses(self, survey_id, projection=None):
        return iter(copy.deepcopy(list(self.col(responses_collection(survey_id)).values())))

    def add_texts(self, survey_id, respondent, texts, name):
        col = self.col(f"texts_{survey_id}")
        for q, t in texts.items():
            col.setdefault(f"{q}|{respondent}", {"_id": f"{q}|{respondent}", "q": q, "text": t, "name": name})

    def drop_texts(self, survey_id, respondent, question_ids):
        for q in question_ids:
            self.col(f"texts_{survey_id}").pop(f"{q}|{respondent}", None)

    def texts(self, survey_id, question_id, search, skip, limit):
        found = [
            {"text": d["text"], "name": d["name"]}
            for d in self.col(f"texts_{survey_id}").values()
            if d["q"] == question_id and (not search or search.casefold() in d["text"].casefold())
        ]
        return found[skip : skip + limit], len(found)

    # --- counters --------------------------------------------------------------------------------
    def tally(self, tally_id):
        return copy.deepcopy(self.col("tallies").get(tally_id, {}))

    def tallies(self, tally_ids):
        return {t: self.tally(t) for t in tally_ids}

    def bump(self, tally_id, inc, low=None, high=None, unless_closed=False):
        tallies = self.col("tallies")
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
        self.col("tallies").setdefault(survey_id, {"_id": survey_id})["closed"] = True

    def replace_tallies(self, survey_id, tallies):
        for tally_id, counters in tallies.items():
            self.col("tallies")[tally_id] = {"_id": tally_id, **copy.deepcopy(counters)}


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
