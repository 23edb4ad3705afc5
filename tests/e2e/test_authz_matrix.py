"""The authorisation matrix (issue 8, part 5): every route of the gateway × the seven roles of
``tests/authz_matrix.py`` answers the status the table says, on a real stack with the demo loaded.

Where it runs: on the session's shared ``stack`` (the demo is loaded once for the whole e2e tier; a second
stack with its own demo would cost minutes more). So that the other e2e tests see no change, every state
change this test makes happens in a union no other test or demo part touches beyond its member registry:
博瑞集成电路 (``u05``). The test sets up u05's workers' congress (a term with six elected delegates, a
session and its proposals window), publishes u05 disclosures and runs its own evaluation campaign over
u05's Worker Home only; a new union is created under the federation (not a grassroots one, so no campaign
ever counts it). The actors are demo people: ``admin05`` (admin of the same union), ``admin01`` (admin of
another union), ``ftu-admin`` (superior admin), ``M0500002`` (the demo's handler of u05's first
department), a plain u05 member and a u05 member the test elects delegate.

For a row that changes state, each allowed role acts on a fresh target made for it (a new draft, a new
session, …) and must succeed with a valid body; the refused roles act on one shared target and must get
their status with NOTHING changed (the target read back by the superior admin before and after).

``DM_AUTHZ_URL=http://127.0.0.1:PORT`` runs it against an already running demo stack instead (it then
changes that stack's u05 the same way).
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from dataclasses import dataclass, field

import pytest
import requests

from services.gateway.pages import NOTICE_COOKIE, notice_serializer
from tests import authz_matrix as m
from tests.helpers import wait_until

PASSWORD = "demo1234"
UNION = "u05"
OTHER = "u01"
FOREIGN = "u16"  # "another union's member" rows: a union only the superior admin administers
TIMEOUT = 60


# ----- the stack and the people ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_url(request) -> str:
    url = os.environ.get("DM_AUTHZ_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("stack").url


def login(url: str, who: str) -> requests.Session:
    s = requests.Session()
    r = s.post(f"{url}/api/v1/auth/login", json={"login": who, "password": PASSWORD}, timeout=TIMEOUT)
    assert r.status_code == 200, (who, r.status_code, r.text)
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    s.login_name = who  # type: ignore[attr-defined]
    return s


def ok(r: requests.Response, *codes: int) -> dict:
    assert r.status_code in (codes or (200, 201, 202, 204)), (r.request.method, r.url, r.status_code, r.text)
    return r.json() if r.content and r.headers.get("Content-Type", "").startswith("application/json") else {}


@dataclass
class World:
    """The ids and sessions the rows need (built once per module)."""

    url: str
    who: dict[str, requests.Session | None] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    delegates: list[str] = field(default_factory=list)
    n: int = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{uuid.uuid4().hex[:6]}{self.n}"

    def call(self, role: str, method: str, path: str, **kw) -> requests.Response:
        s = self.who[role] or requests.Session()
        return s.request(method, f"{self.url}{path}", timeout=TIMEOUT, allow_redirects=False, **kw)

    def api(self, role: str, method: str, path: str, body=None, *codes: int) -> dict:
        return ok(self.call(role, method, f"/api/v1{path}", json=body), *codes)


@pytest.fixture(scope="module")
def world(base_url) -> World:
    w = World(base_url)
    w.who = {"anonymous": None}
    for role, who in (
        ("admin", "admin05"),
        ("other_admin", "admin01"),
        ("superior", "ftu-admin"),
        ("handler", "M0500002"),
    ):
        w.who[role] = login(base_url, who)
    roster = w.api("admin", "GET", f"/unions/{UNION}/members?per_page=40")["items"]
    plain = [x["id"] for x in roster if x["id"] not in ("M0500001", "M0500002", "M0500003")]
    member_id, delegate_ids = plain[0], plain[1:7]
    w.ids.update(member=member_id, union=UNION, other_union=OTHER, department=f"{UNION}-d1")
    w.who["member"] = login(base_url, member_id)
    # u05's workers' congress: a term, six delegates (quorum 4), the delegates log in with their grant
    w.api("admin", "POST", "/congresses", {"union_id": UNION}, 201, 409)
    congress_id = f"cg-{UNION}"
    term_id = f"{congress_id}-t1"
    r = w.call("admin", "GET", f"/api/v1/congress/terms/{term_id}")
    if r.status_code == 404:  # a fresh stack; DM_AUTHZ_URL reruns reuse the term
        body = {
            "number": 1,
            "start": "2025-01-01",
            "end": "2029-12-31",
            "delegations": [{"name": "全体代表"}],
        }
        w.api("admin", "POST", f"/congresses/{congress_id}/terms", body, 201)
    term = w.api("admin", "GET", f"/congress/terms/{term_id}")
    delegation = term["delegations"][0]["id"]
    elected = {d["member_id"] for d in w.api("admin", "GET", f"/congress/terms/{term_id}/delegates")}
    new = [{"member_id": d, "delegation_id": delegation} for d in delegate_ids if d not in elected]
    if new:
        w.api("admin", "POST", f"/congress/terms/{term_id}/delegates", {"delegates": new}, 201)
    w.delegates = delegate_ids
    w.ids.update(congress=congress_id, term=term["id"], delegation=delegation, delegate=delegate_ids[0])
    w.who["delegate"] = login(base_url, delegate_ids[0])
    w.who["cosigner"] = login(base_url, delegate_ids[1])
    # a planned session with its proposals window open (min 1 co-signer)
    session = new_session(w)
    w.ids["session"] = session["id"]
    w.ids["item"] = session["items"][0]["id"]
    w.api("admin", "POST", f"/proposals/sessions/{session['id']}/window", {"min_cosigners": 1}, 200)
    # a proposal taken to the end, for the read rows
    w.ids["proposal"] = proposal(w, "closed")
    # a disclosure with an attachment and a question
    item = new_disclosure(w)
    w.ids["disclosure"] = item["id"]
    w.ids["attachment"] = item["attachments"][0]["id"]
    w.ids["question"] = w.api(
        "member", "POST", f"/disclosures/{item['id']}/questions", {"text": "食堂账目何时公布？"}, 201
    )["id"]
    # an evaluation campaign over u05's Worker Home only, open, with the member's ballot
    camp = new_campaign(w, state="open")
    w.ids["campaign"] = camp["id"]
    w.ids["poll"] = camp["poll_id"]
    receipt = w.api("member", "POST", f"/campaigns/{camp['id']}/ballots", {"stars": stars(camp)}, 201)
    w.ids["receipt"] = receipt["receipt"]
    # an import job started by the union's admin
    w.ids["import"] = new_import(w, "admin")["id"]
    # a member of another union, for the rows that name one
    w.ids["foreign_member"] = spare_member(w, FOREIGN)
    # a congress vote: a u05 resolution voted on by a delegate and closed (its poll, the receipt)
    sid, item = _voting_item(w)
    w.ids["vote_receipt"] = w.api("delegate", "POST", f"/congress/items/{item}/vote", {"choice": "yes"}, 200)[
        "receipt"
    ]
    w.api("admin", "POST", f"/congress/items/{item}/close", None, 200)
    w.ids["vote_poll"] = next(
        i for i in w.api("admin", "GET", f"/congress/sessions/{sid}")["items"] if i["id"] == item
    )["poll_id"]
    # a worker request (接诉即办) filed by the member at u05 and dispatched to u05
    w.ids["case"] = new_case(w, "dispatched")
    # and one with an attachment (issue 13: the file is read by whoever may read the case)
    filed = w.api("member", "POST", "/cases", {**CASE_BODY, "attachments": [CASE_FILE]}, 201)
    w.ids["case_with_file"], w.ids["case_attachment"] = filed["id"], filed["attachments"][0]["id"]
    # an anonymous survey of u05 over its members, open (issue 15)
    w.ids["survey"] = new_survey(w, "open")["id"]
    elections_world(w)
    return w


def new_survey(w: World, state: str = "draft") -> dict:
    """A fresh anonymous survey run by u05 over its members: q1 single choice, q2 short text."""
    body = {
        "union_id": UNION,
        "title": w.fresh("职工需求调查"),
        "sections": [
            {
                "id": "s1",
                "questions": [
                    {"id": "q1", "kind": "single", "title": "满意吗？", "required": True,
                     "options": [{"id": "o1", "label": "满意"}, {"id": "o2", "label": "不满意"}]},
                    {"id": "q2", "kind": "short_text", "title": "建议"},
                ],
            }
        ],
        "audience": {"kind": "unions", "union_ids": [UNION]},
    }  # fmt: skip
    survey = w.api("admin", "POST", "/surveys", body, 201)
    if state in ("open", "closed"):
        survey = w.api("admin", "POST", f"/surveys/{survey['id']}/open", None, 200)
    return survey


def _survey(state: str, json=None, form=None):
    def make(w: World, role: str) -> Ask:
        survey = new_survey(w, state)
        body = json(survey) if callable(json) else json
        return Ask({"survey_id": survey["id"]}, json=body, form=form, check=f"/api/v1/surveys/{survey['id']}")

    return make


# ----- elections (issue 14): u05's published demo election for the read rows, fresh ones for the rest --
def elections_world(w: World) -> None:
    """The demo's published committee election of u05 (its first round and a receipt in it), an open
    election nobody votes in (the ballot page rows), a closed appraisal with a comment, an award round."""
    published = next(
        e
        for e in w.api("admin", "GET", "/elections")
        if e["union_id"] == UNION and e["status"] == "published" and e["kind"] == "committee"
    )
    election = w.api("admin", "GET", f"/elections/{published['election_id']}")
    rnd = election["rounds"][0]["round_id"]
    w.ids.update(election=election["election_id"], election_round=rnd)
    w.ids["election_receipt"] = w.api("admin", "GET", f"/election-rounds/{rnd}/ballots?per_page=1")["items"][
        0
    ]["receipt"]
    w.ids["open_election"] = new_election(w, "voting")
    appraisal = new_appraisal(w)
    w.api("member", "POST", f"/appraisals/{appraisal}/ratings", appraisal_marks(w, comment=True), 201)
    w.api("admin", "POST", f"/appraisals/{appraisal}/closure", None, 200)
    w.ids["appraisal"] = appraisal
    w.ids["award"] = new_award(w)


def new_election(w: World, state: str = "nominating") -> str:
    """An uncontested chair election of u05 (one candidate: the plain member) in ``state``: nominating,
    voting (round 1 open, the union's members the electors) or decided (electors: the term's six
    delegates, five of whom approve)."""
    body = {"title": w.fresh("工会主席选举"), "kind": "chair", "seats": 1, "rules": {"contested": False}}
    if state == "decided":
        body.update(electorate="term", term_id=w.ids["term"])
    eid = w.api("admin", "POST", f"/unions/{UNION}/elections", body, 201)["election_id"]
    if state == "nominating":
        return eid
    candidate = w.delegates[0] if state == "decided" else w.ids["member"]
    w.api(
        "admin",
        "POST",
        f"/elections/{eid}/candidates",
        {"member_id": candidate, "source": "工会委员会提名"},
        201,
    )
    w.api("admin", "POST", f"/elections/{eid}/voting", {}, 200)
    if state == "decided":
        for d in w.delegates[:5]:
            if f"d-{d}" not in w.who:
                w.who[f"d-{d}"] = login(w.url, d)
            w.api(f"d-{d}", "POST", f"/elections/{eid}/ballots", {"marks": {candidate: "approve"}}, 201)
        assert w.api("admin", "POST", f"/elections/{eid}/round-closure", None, 200)["status"] == "decided"
    return eid


def new_appraisal(w: World, state: str = "open") -> str:
    aid = w.api(
        "admin",
        "POST",
        f"/unions/{UNION}/appraisals",
        {"title": w.fresh("职工代表述职评议"), "subjects": [w.ids["member"]]},
        201,
    )["appraisal_id"]
    if state == "closed":
        w.api("admin", "POST", f"/appraisals/{aid}/closure", None, 200)
    return aid


def appraisal_marks(w: World, comment: bool = False) -> dict:
    out: dict = {"marks": {w.ids["member"]: "satisfied"}}
    if comment:
        out["comments"] = {w.ids["member"]: "履职认真"}
    return out


def new_award(w: World, state: str = "nominating") -> str:
    """A 双爱双评 round over u05 (one place per category) in ``state``: nominating (no nominee yet),
    nominated, open or closed (one good_worker nominee), or tied (closed with two good_worker nominees,
    the member and a delegate, one vote each: a tie at the one place)."""
    body = {"title": w.fresh("双爱双评"), "k": 1, "places": {"good_worker": 1, "good_manager": 1}}
    aid = w.api("admin", "POST", f"/unions/{UNION}/award-rounds", body, 201)["award_id"]
    if state == "nominating":
        return aid
    w.api("admin", "POST", f"/award-rounds/{aid}/nominations", award_nomination(w), 201)
    if state == "tied":
        second = {**award_nomination(w), "member_id": w.delegates[0]}
        w.api("admin", "POST", f"/award-rounds/{aid}/nominations", second, 201)
        w.api("admin", "POST", f"/award-rounds/{aid}/voting", None, 200)
        for who, chosen in (("admin", w.ids["member"]), ("member", w.delegates[0])):
            w.api(who, "POST", f"/award-rounds/{aid}/ballots", {"choices": {"good_worker": [chosen]}}, 201)
        w.api("admin", "POST", f"/award-rounds/{aid}/closure", None, 200)
        return aid
    if state in ("open", "closed"):
        w.api("admin", "POST", f"/award-rounds/{aid}/voting", None, 200)
    if state == "closed":  # one vote, so the one place is awarded without a tie
        w.api(
            "admin",
            "POST",
            f"/award-rounds/{aid}/ballots",
            {"choices": {"good_worker": [w.ids["member"]]}},
            201,
        )
        w.api("admin", "POST", f"/award-rounds/{aid}/closure", None, 200)
    return aid


def award_nomination(w: World) -> dict:
    return {"category": "good_worker", "member_id": w.ids["member"], "citation": "爱岗敬业，多次获评先进。"}


def _el(state: str, json: dict | None = None, form: dict | None = None):
    def make(w: World, role: str) -> Ask:
        eid = new_election(w, state)
        return Ask({"election_id": eid}, json=json, form=form, check=f"/api/v1/elections/{eid}")

    return make


def _el_cast(w: World, role: str) -> Ask:
    eid = new_election(w, "voting")
    marks = {w.ids["member"]: "approve"}
    return Ask(
        {"election_id": eid},
        json={"marks": marks},
        form={f"mark_{m}": v for m, v in marks.items()},
        check=f"/api/v1/elections/{eid}",
    )


def _appraisal(state: str, **extra):
    def make(w: World, role: str) -> Ask:
        aid = new_appraisal(w, state)
        return Ask({"appraisal_id": aid}, check=f"/api/v1/appraisals/{aid}", **extra)

    return make


def _rate(w: World, role: str) -> Ask:
    aid = new_appraisal(w)
    return Ask(
        {"appraisal_id": aid},
        json=appraisal_marks(w),
        form={f"mark_{w.ids['member']}": "satisfied"},
        check=f"/api/v1/appraisals/{aid}",
    )


def _award(state: str, json=None):
    def make(w: World, role: str) -> Ask:
        aid = new_award(w, state)
        body = json(w) if callable(json) else json
        return Ask({"award_id": aid}, json=body, form=body or {}, check=f"/api/v1/award-rounds/{aid}")

    return make


def stars(campaign: dict) -> dict:
    return {c["key"]: 4 for c in campaign["criteria"]}


def new_session(w: World, agenda_kind: str = "resolution") -> dict:
    return w.api(
        "admin",
        "POST",
        f"/congress/terms/{w.ids['term']}/sessions",
        {"title": w.fresh("授权测试会议"), "agenda": [{"kind": agenda_kind, "title": "关于测试方案的决议"}]},
        201,
    )


def checked_in_session(w: World) -> dict:
    """A planned session with every delegate of the term checked in at the desk (quorum: 2/3 of all)."""
    s = new_session(w)
    for d in w.api("admin", "GET", f"/congress/terms/{w.ids['term']}/delegates"):
        w.api("admin", "POST", f"/congress/sessions/{s['id']}/check-in", {"member_id": d["member_id"]}, 200)
    return s


def convened_session(w: World) -> dict:
    s = checked_in_session(w)
    w.api("admin", "POST", f"/congress/sessions/{s['id']}/convene", None, 200)
    return s


def new_disclosure(w: World) -> dict:
    body = {
        "category": "welfare",
        "period": "2026-03",
        "title": w.fresh("食堂账目公示"),
        "body": "三月份食堂收支明细。",
        "attachments": [{"filename": "a.txt", "content_b64": base64.b64encode(b"hello").decode()}],
    }
    return w.api("admin", "POST", f"/unions/{UNION}/disclosures", body, 201)


def new_campaign(w: World, state: str = "draft") -> dict:
    body = {"title": w.fresh("授权测试评家"), "union_id": "ftu", "preset": "2018", "homes": [UNION]}
    camp = w.api("superior", "POST", "/campaigns", body, 201)
    if state in ("open", "closed"):
        camp = w.api("superior", "POST", f"/campaigns/{camp['id']}/open", None, 200)
    if state == "closed":
        w.api("member", "POST", f"/campaigns/{camp['id']}/ballots", {"stars": stars(camp)}, 201)
        w.api("admin", "PUT", f"/campaigns/{camp['id']}/unit-scores/{UNION}", {"score": 80}, 200)
        w.api("superior", "PUT", f"/campaigns/{camp['id']}/superior-scores", {"scores": {UNION: 85}}, 200)
        camp = w.api("superior", "POST", f"/campaigns/{camp['id']}/close", None, 200)
    return camp


def new_import(w: World, role: str) -> dict:
    no = f"Z{uuid.uuid4().int % 10**7:07d}"
    csv = (
        f"member_no,name,union_id,department,phone,email,national_id,gender\r\n{no},测试会员,{UNION},,,,,\r\n"
    )
    body = {"filename": "m.csv", "content_b64": base64.b64encode(csv.encode()).decode()}
    return w.api(role, "POST", "/imports", body, 202)


PROPOSAL_STEPS = ("draft", "cosigned", "submitted", "accepted", "assigned", "replied", "closed")


def proposal(w: World, state: str, by: str = "delegate") -> str:
    """A fresh proposal of ``by`` (the other of the two delegates co-signs) taken to ``state``."""
    other = "cosigner" if by == "delegate" else "delegate"
    body = {
        "subject": w.fresh("改善倒班休息条件"),
        "category": "welfare",
        "reasons": "夜班工人缺少休息场所，影响安全生产。",
        "measures": "在车间旁设置休息室并配备饮水设施。",
        "invite": [w.delegates[1] if by == "delegate" else w.delegates[0]],
    }
    pid = w.api(by, "POST", f"/proposals/sessions/{w.ids['session']}/proposals", body, 201)["id"]
    for step in PROPOSAL_STEPS[1 : PROPOSAL_STEPS.index(state) + 1]:
        if step == "cosigned":
            w.api(other, "POST", f"/proposals/{pid}/cosign", None, 200)
        elif step == "submitted":
            w.api(by, "POST", f"/proposals/{pid}/submit", None, 200)
        elif step == "accepted":
            w.api("admin", "POST", f"/proposals/{pid}/review", {"decision": "accept"}, 200)
        elif step == "assigned":
            w.api("admin", "POST", f"/proposals/{pid}/assign", {"department_ids": [w.ids["department"]]}, 200)
        elif step == "replied":
            w.api("handler", "POST", f"/proposals/{pid}/reply", {"text": "已设置休息室，配备饮水机。"}, 200)
        elif step == "closed":
            w.api(by, "POST", f"/proposals/{pid}/rate", {"satisfaction": "satisfied"}, 200)
    return pid


def spare_member(w: World, union: str = UNION) -> str:
    """A member of ``union`` (u05 by default) nobody else in this test uses (for role grants and password
    resets)."""
    key = f"spares-{union}"
    if key not in w.__dict__:
        roster = w.api("superior", "GET", f"/unions/{union}/members?per_page=200&page=2")["items"]
        taken = {d["member_id"] for d in w.api("admin", "GET", f"/congress/terms/{w.ids['term']}/delegates")}
        w.__dict__[key] = [x["id"] for x in roster if x["id"] not in taken]
    return w.__dict__[key].pop()


def personal_data(w: World, member_id: str) -> dict[str, str]:
    """What a refusal about this member must not show: name, mobile, e-mail, ID tail (read by the
    superior admin)."""
    r = w.call("superior", "GET", f"/api/v1/members/{member_id}")
    if r.status_code != 200:
        return {}
    person = r.json()
    return {k: person[k] for k in ("name", "phone", "email", "national_id_last4") if person.get(k)}


# ----- how each row is asked --------------------------------------------------------------------------
@dataclass
class Ask:
    """One request of a row: path values, a JSON body or a form, and the URL whose answer (read by the
    superior admin) must not change when the request is refused."""

    values: dict = field(default_factory=dict)
    json: dict | None = None
    form: dict | None = None
    files: dict | None = None
    check: str | None = None
    query: str | None = None  # the query string, when it names this request's objects (else QUERY's)


def default_values(w: World, row: m.Row) -> dict:
    ids, path = w.ids, row.path
    if row.target == m.VOTE:
        ids = {**ids, "poll": ids["vote_poll"], "receipt": ids["vote_receipt"]}
    elif row.target == m.OTHER_MEMBER:
        ids = {**ids, "member": ids["foreign_member"]}
    return {
        "union_id": ids["union"],
        "congress_id": ids["congress"],
        "term_id": ids["term"],
        "session_id": ids["session"],
        "item_id": ids["disclosure"] if "disclosure" in path else ids["item"],
        "attachment_id": ids["attachment"],
        "question_id": ("q2" if path.endswith("/texts") else "q1")
        if "/surveys/" in path
        else ids["question"],
        "campaign_id": ids["campaign"],
        "poll_id": ids["poll"],
        "receipt": ids["receipt"],
        "proposal_id": ids["proposal"],
        "department_id": ids["department"],
        "member_id": ids["member"],
        "survey_id": ids.get("survey", ""),
        "key": "needs",
        "job_id": ids["import"],
        "revision": "1",
        "path": "app.css",
        "rest": "no/such/address",
        "code": "en",
        "case_id": ids.get("case", ""),
        "election_id": ids.get("election"),
        "round_id": ids.get("election_round"),
        "appraisal_id": ids.get("appraisal"),
        "subject_id": ids["member"],
        "award_id": ids.get("award"),
    }


CASE_PHONE = "13800138000"
CASE_BODY = {
    "case_type": "resolution",
    "category": "overtime_pay",
    "title": "周末加班没有加班费",
    "description": "十月以来每个周末加班，工资条上没有加班费。",
    "employer": {"union_id": UNION},
    "phone": CASE_PHONE,
}
CASE_FILE = {"filename": "工资条.txt", "content_b64": "MTDmnIjliqDnj63otLkgMOWFgw=="}  # "10月加班费 0元"
CASE_FORM = {
    **{k: v for k, v in CASE_BODY.items() if k != "employer"},
    "employer_union_id": UNION,
}
CALL_BODY = {
    **{k: v for k, v in CASE_BODY.items() if k != "phone"},
    "channel": "phone",
    "caller": {"name": "王师傅", "phone": "13900139000"},
}
CALL_FORM = {**CASE_FORM, "channel": "phone", "caller_name": "王师傅", "caller_phone": "13900139000"}
#: the steps that take a fresh case (filed by the member) to each state, by the union's admin
CASE_STEPS = {
    "dispatched": ("admin", "dispatch", {"union_id": UNION, "complexity": "general"}),
    "signed": ("admin", "sign-for", None),
    "in_progress": ("admin", "contact", {"method": "phone"}),
    "replied": ("admin", "reply", {"text": "已与企业核实，加班费将随本月工资补发。"}),
    "closed": ("member", "rating", {"satisfaction": "satisfied", "resolved": True}),
}


def new_case(w: World, state: str = "received") -> str:
    """A fresh case filed online by the member at u05, taken to ``state``; its number."""
    number = w.api("member", "POST", "/cases", CASE_BODY, 201)["id"]
    for name, (role, step, body) in CASE_STEPS.items():
        if state == "received":
            break
        w.api(role, "POST", f"/cases/{number}/{step}", body, 200)
        if name == state:
            break
    return number


def _case(state: str, action: str | None = None, **extra):
    """A fresh case in ``state``; ``extra`` → the JSON body and the page form (``resolved`` as yes/no);
    ``action``: the page form's action (``/cases/<case_id>/<action>``)."""

    def make(w: World, role: str) -> Ask:
        number = new_case(w, state)
        form = {k: ({True: "yes", False: "no"}[v] if isinstance(v, bool) else v) for k, v in extra.items()}
        values = {"case_id": number, **({"action": action} if action else {})}
        return Ask(values, json=extra or None, form=form, check=f"/api/v1/cases/{number}")

    return make


def _case_code(w: World, role: str) -> Ask:
    """The progress-query code of a fresh case (each role its own: codes are rate-limited per case)."""
    number = new_case(w)
    body = {"case_number": number, "phone": CASE_PHONE}
    return Ask(json=body, form={"step": "code", **body})


def _case_progress(w: World, role: str) -> Ask:
    body = {"case_number": new_case(w), "phone": CASE_PHONE, "code": "000000"}
    return Ask(json=body, form={"step": "query", **body})


CREDENTIALS = {"anonymous": "member"}
PROPOSAL_FORM = {
    "subject": "增设职工书屋",
    "category": "welfare",
    "reasons": "职工业余学习缺少场所和图书。",
    "measures": "在办公楼三层设置职工书屋。",
}


def _login_name(w: World, role: str) -> str:
    role = CREDENTIALS.get(role, role)
    s = w.who[role]
    return s.login_name  # type: ignore[union-attr]


def _new_member(w: World) -> dict:
    from dmtools.names import unique_resident_id

    n = uuid.uuid4().int % 10**6
    return {
        "member_no": f"Z{n:07d}",
        "name": "授权测试",
        "union_id": UNION,
        "national_id": unique_resident_id(5_000_000 + n, "F", "110115"),
        "gender": "F",
    }


def _p(state: str, by: str = "delegate", **extra):
    """A fresh proposal in ``state``; ``extra`` → the JSON body; the page form carries the session."""

    def make(w: World, role: str) -> Ask:
        pid = proposal(w, state, by)
        form = {"session_id": w.ids["session"], "department_id": w.ids["department"], **extra}
        return Ask({"proposal_id": pid}, json=extra or None, form=form, check=f"/api/v1/proposals/{pid}")

    return make


def _session(make_session, check_counts: bool = False):
    def make(w: World, role: str) -> Ask:
        s = make_session(w)
        return Ask({"session_id": s["id"]}, json={}, form={}, check=f"/api/v1/congress/sessions/{s['id']}")

    return make


def _item(make_item):
    def make(w: World, role: str) -> Ask:
        sid, item = make_item(w)
        return Ask(
            {"item_id": item},
            json={"choice": "yes"},
            form={"session_id": sid, "choice": "yes"},
            check=f"/api/v1/congress/sessions/{sid}",
        )

    return make


def _election_item(w: World, role: str) -> Ask:
    """A fresh session with an election item and a fresh election of u05 among its delegates present."""
    s = new_session(w, "election")
    election = w.api(
        "admin",
        "POST",
        f"/unions/{UNION}/elections",
        {
            "union_id": UNION,
            "title": w.fresh("授权测试选举"),
            "kind": "chair",
            "seats": 1,
            "electorate": "session",
            "session_id": s["id"],
        },
        201,
    )
    eid = election["election_id"]
    body = {"election_id": eid}
    return Ask(
        {"item_id": s["items"][0]["id"]},
        json=body,
        form={**body, "session_id": s["id"]},
        check=f"/api/v1/congress/sessions/{s['id']}",
    )


def _pending_item(w: World):
    s = convened_session(w)
    return s["id"], s["items"][0]["id"]


def _voting_item(w: World):
    s = convened_session(w)
    item = s["items"][0]["id"]
    w.api("admin", "POST", f"/congress/items/{item}/open", None, 200)
    return s["id"], item


def step_item(w: World) -> tuple[str, str]:
    """A voting item of a convened u05 session, the delegate checked in and not voted (made once)."""
    if "step_item" not in w.ids:
        w.ids["step_item"] = _voting_item(w)
    return w.ids["step_item"]


def agenda_file(w: World) -> dict:
    """Path values of a document of an agenda item of u05's session (made once)."""
    if "agenda_file" not in w.ids:
        body = {
            "kind": "resolution",
            "title": "关于测试附件的决议",
            "attachments": [
                {"filename": "草案.txt", "content_b64": base64.b64encode("草案".encode()).decode()}
            ],
        }
        item = w.api("admin", "POST", f"/congress/sessions/{w.ids['session']}/items", body, 201)
        w.ids["agenda_file"] = {"item_id": item["id"], "attachment_id": item["attachments"][0]["id"]}
    return w.ids["agenda_file"]


def projector_link(w: World, shared: bool = False, owner: str = "congress") -> str:
    """A live projector link of u05's session (``owner`` congress) or published election (elections),
    made by its admin: one shared by the read rows, else fresh."""
    name = f"projector_link_{owner}"
    if shared and w.ids.get(name):
        return w.ids[name]
    where = (
        f"/congress/sessions/{w.ids['session']}" if owner == "congress" else f"/elections/{w.ids['election']}"
    )
    token = w.api("admin", "POST", f"{where}/projector-links", None, 201)["token"]
    if shared:
        w.ids[name] = token
    return token


def _window_open(w: World) -> dict:
    s = new_session(w)
    w.api("admin", "POST", f"/proposals/sessions/{s['id']}/window", {"min_cosigners": 1}, 200)
    return s


def _campaign(state: str, **extra):
    def make(w: World, role: str) -> Ask:
        camp = new_campaign(w, state)
        return Ask(
            {"campaign_id": camp["id"], "union_id": UNION}, check=f"/api/v1/campaigns/{camp['id']}", **extra
        )

    return make


def _rating(w: World, role: str) -> Ask:
    camp = new_campaign(w, "open")
    s = stars(camp)
    return Ask(
        {"campaign_id": camp["id"]}, json={"stars": s}, form=s, check=f"/api/v1/campaigns/{camp['id']}"
    )


def _choice(w: World, role: str) -> Ask:
    sid, item = _voting_item(w)
    poll = next(i for i in w.api("admin", "GET", f"/congress/sessions/{sid}")["items"] if i["id"] == item)
    return Ask({"poll_id": poll["poll_id"]}, json={"choice": "yes"}, check=f"/api/v1/congress/sessions/{sid}")


def _disclosure(**extra):
    def make(w: World, role: str) -> Ask:
        item = new_disclosure(w)
        body = {k: item[k] for k in ("category", "period", "title", "body")}
        body["reason"] = "更正收支数字"
        return Ask(
            {"item_id": item["id"]},
            json={**body, **extra} if not extra else extra,
            form={**body, **extra} if not extra else extra,
            check=f"/api/v1/disclosures/{item['id']}/revisions/1",
        )

    return make


def _question(w: World, role: str) -> Ask:
    q = w.api(
        "member",
        "POST",
        f"/disclosures/{w.ids['disclosure']}/questions",
        {"text": w.fresh("何时公布？")},
        201,
    )
    return Ask(
        {"question_id": q["id"]},
        json={"text": "本月底公布。"},
        form={"text": "本月底公布。", "next": f"/unions/{UNION}/disclosures/questions"},
        check=f"/api/v1/disclosures/{w.ids['disclosure']}/questions",
    )


def _publish(w: World, role: str) -> Ask:
    body = {
        "category": "welfare",
        "period": "2026-04",
        "title": w.fresh("四月食堂账目"),
        "body": "明细见附件。",
    }
    return Ask({}, json=body, form=body, check=f"/api/v1/unions/{UNION}/disclosure-reads")


def _prefs(w: World, role: str) -> Ask:
    s = w.who[role]
    prefs = (
        ok(s.get(f"{w.url}/api/v1/notifications/preferences", timeout=TIMEOUT))
        if s
        else {"channels": {}, "digest": "immediate"}
    )
    form = {f"ch-{g}": chans for g, chans in prefs["channels"].items()}
    form["digest"] = prefs["digest"]
    return Ask({}, json={"channels": prefs["channels"], "digest": prefs["digest"]}, form=form)


def _import(w: World, role: str) -> Ask:
    no = f"Z{uuid.uuid4().int % 10**7:07d}"
    csv = (
        f"member_no,name,union_id,department,phone,email,national_id,gender\r\n{no},测试会员,{UNION},,,,,\r\n"
    )
    return Ask(
        {},
        json={"filename": "m.csv", "content_b64": base64.b64encode(csv.encode()).decode()},
        files={"file": ("m.csv", csv.encode(), "text/csv")},
        check=f"/api/v1/unions/{UNION}/members?q={no}",
    )


def _staged_import(w: World, role: str) -> Ask:
    """An import the union admin staged (the import page's first step), its rows counted: the row
    starts it (nothing to read back: only its admin may read the job)."""
    body = _import(w, role).json
    job = w.api("admin", "POST", "/imports", {**body, "stage": True}, 202)
    wait_until(lambda: w.api("admin", "GET", f"/imports/{job['id']}", None, 200)["total"], timeout=30)
    return Ask({"job_id": job["id"]}, form={})


def _grant(w: World, role: str) -> Ask:
    mid = spare_member(w)
    return Ask(
        {"member_id": mid}, json={"role": "handler", "scope": f"{UNION}-d2"}, check=f"/api/v1/members/{mid}"
    )


def _revoke(w: World, role: str) -> Ask:
    mid = spare_member(w)
    w.api("admin", "POST", f"/members/{mid}/roles", {"role": "handler", "scope": f"{UNION}-d2"}, 200)
    return Ask({"member_id": mid, "role": "handler", "scope": f"{UNION}-d2"}, check=f"/api/v1/members/{mid}")


def _foreign_grant(w: World, role: str) -> Ask:
    mid = spare_member(w, FOREIGN)
    return Ask(
        {"member_id": mid}, json={"role": "handler", "scope": f"{FOREIGN}-d2"}, check=f"/api/v1/members/{mid}"
    )


def _grant_elsewhere(w: World, role: str) -> Ask:
    """A u05 member given a handler role in a department of u01 (the other admin's union)."""
    mid = spare_member(w)
    return Ask(
        {"member_id": mid}, json={"role": "handler", "scope": f"{OTHER}-d1"}, check=f"/api/v1/members/{mid}"
    )


def _foreign_revoke(w: World, role: str) -> Ask:
    mid = spare_member(w, FOREIGN)
    w.api("superior", "POST", f"/members/{mid}/roles", {"role": "handler", "scope": f"{FOREIGN}-d2"}, 200)
    return Ask(
        {"member_id": mid, "role": "handler", "scope": f"{FOREIGN}-d2"}, check=f"/api/v1/members/{mid}"
    )


def _foreign_password(w: World, role: str) -> Ask:
    mid = spare_member(w, FOREIGN)
    return Ask({"member_id": mid}, json={"new_password": PASSWORD}, check=f"/api/v1/members/{mid}")


def _password(w: World, role: str) -> Ask:
    mid = spare_member(w)
    return Ask({"member_id": mid}, json={"new_password": PASSWORD}, check=f"/api/v1/members/{mid}")


def _term_body(w: World) -> dict:
    """A term number the congress does not have yet."""
    taken = {t["number"] for t in w.api("superior", "GET", f"/congresses/{w.ids['congress']}")["terms"]}
    number = next(
        n for n in range(2, 100) if n not in taken and n not in w.__dict__.setdefault("numbers", set())
    )
    w.__dict__["numbers"].add(number)
    return {"number": number, "start": "2030-01-01", "end": "2034-12-31", "delegations": [{"name": "一团"}]}


def _elect(w: World, role: str) -> Ask:
    """Elect a member into a fresh term (the test's main term has sessions in progress: 409 there)."""
    term = w.api("admin", "POST", f"/congresses/{w.ids['congress']}/terms", _term_body(w), 201)
    return Ask(
        {"term_id": term["id"]},
        json={"delegates": [{"member_id": spare_member(w), "delegation_id": term["delegations"][0]["id"]}]},
        check=f"/api/v1/congress/terms/{term['id']}/delegates",
    )


def _survey_update(survey: dict) -> dict:
    from services.gateway.surveys import survey_update

    return {**survey_update(survey), "description": "改"}


SURVEY_QUESTION = {"kind": "short_text", "title": "其他建议", "section": "s1"}
#: How a state-changing row is asked: ``make(world, role) -> Ask``, called for each allowed role (a fresh
#: target each) and once for all the refused ones.
ASK = {
    # surveys (issue 15): a fresh survey per ask
    "POST /api/v1/surveys": lambda w, r: Ask(
        json={
            "union_id": UNION,
            "title": w.fresh("食堂满意度调查"),
            "sections": [{"id": "s1", "questions": [{"id": "q1", "kind": "long_text", "title": "意见"}]}],
            "audience": {"kind": "unions", "union_ids": [UNION]},
        },
        check=f"/api/v1/unions/{UNION}/surveys",
    ),
    "POST /surveys": lambda w, r: Ask(
        form={"union_id": UNION, "template": "", "language": "zh", "title": w.fresh("问卷")},
        check=f"/api/v1/unions/{UNION}/surveys",
    ),
    "PUT /api/v1/surveys/<survey_id>": _survey("draft", json=_survey_update),
    "POST /api/v1/surveys/<survey_id>/open": _survey("draft"),
    "POST /api/v1/surveys/<survey_id>/close": _survey("open"),
    "POST /api/v1/surveys/<survey_id>/reminders": _survey("open"),
    "PUT /api/v1/surveys/<survey_id>/response/draft": _survey("open", json={"answers": {"q1": "o1"}}),
    "POST /api/v1/surveys/<survey_id>/response": _survey("open", json={"answers": {"q1": "o2"}}),
    "POST /surveys/<survey_id>/settings": _survey(
        "draft", form={"title": "改过的问卷", "audience_kind": "unions", "union_ids": UNION, "min_group": "5"}
    ),
    "POST /surveys/<survey_id>/questions": _survey("draft", form=SURVEY_QUESTION),
    "POST /surveys/<survey_id>/sections": _survey("draft", form={**SURVEY_QUESTION, "section_title": "二"}),
    "POST /surveys/<survey_id>/questions/<question_id>/move": _survey("draft", form={"direction": "down"}),
    "POST /surveys/<survey_id>/questions/<question_id>/delete": _survey("draft", form={}),
    "POST /surveys/<survey_id>/open": _survey("draft", form={}),
    "POST /surveys/<survey_id>/close": _survey("open", form={}),
    "POST /surveys/<survey_id>/remind": _survey("open", form={}),
    "POST /surveys/<survey_id>/answer": _survey("open", form={"q_q1": "o1", "action": "save"}),
    "POST /api/v1/auth/login": lambda w, r: Ask(json={"login": _login_name(w, r), "password": PASSWORD}),
    "POST /api/v1/auth/logout": lambda w, r: Ask(),
    "POST /api/v1/auth/refresh": lambda w, r: Ask(),
    "PUT /api/v1/me/password": lambda w, r: Ask(
        json={"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    "POST /login": lambda w, r: Ask(form={"login": _login_name(w, r), "password": PASSWORD, "next": "/"}),
    "POST /logout": lambda w, r: Ask(form={}),
    "POST /me/password": lambda w, r: Ask(form={"current_password": PASSWORD, "new_password": PASSWORD}),
    # member registry
    "POST /api/v1/unions": lambda w, r: (
        lambda i: Ask(
            json={"id": i, "name": "授权测试联合会", "kind": "street", "parent_id": "ftu"},
            check=f"/api/v1/unions/{i}",
        )
    )(w.fresh("authz")),
    "POST /api/v1/unions/<union_id>/departments": lambda w, r: Ask(
        json={"id": w.fresh(f"{UNION}-x"), "name": w.fresh("测试部")},
        check=f"/api/v1/unions/{UNION}/departments",
    ),
    "POST /api/v1/members": lambda w, r: (lambda b: Ask(json=b, check=f"/api/v1/members/{b['member_no']}"))(
        _new_member(w)
    ),
    "POST /api/v1/members/<member_id>/roles": _grant,
    "DELETE /api/v1/members/<member_id>/roles/<role>/<scope>": _revoke,
    "POST /api/v1/members/<member_id>/password": _password,
    f"POST /api/v1/members/<member_id>/roles [{m.OTHER_MEMBER}]": _foreign_grant,
    f"POST /api/v1/members/<member_id>/roles [{m.OTHER_SCOPE}]": _grant_elsewhere,
    f"DELETE /api/v1/members/<member_id>/roles/<role>/<scope> [{m.OTHER_MEMBER}]": _foreign_revoke,
    f"POST /api/v1/members/<member_id>/password [{m.OTHER_MEMBER}]": _foreign_password,
    f"POST /api/v1/polls/<poll_id>/recount [{m.VOTE}]": lambda w, r: Ask(
        {"poll_id": w.ids["vote_poll"]}, check=f"/api/v1/polls/{w.ids['vote_poll']}"
    ),
    "POST /api/v1/imports": _import,
    "POST /imports": _import,
    "POST /api/v1/imports/<job_id>/start": _staged_import,
    # congress
    "POST /api/v1/congresses": lambda w, r: Ask(
        json={"union_id": UNION}, check=f"/api/v1/congresses/{w.ids['congress']}"
    ),
    "POST /api/v1/congresses/<congress_id>/terms": lambda w, r: Ask(
        json=_term_body(w), check=f"/api/v1/congresses/{w.ids['congress']}"
    ),
    "POST /api/v1/congress/terms/<term_id>/delegations": lambda w, r: Ask(
        json={"name": w.fresh("代表团")}, check=f"/api/v1/congress/terms/{w.ids['term']}"
    ),
    "POST /api/v1/congress/terms/<term_id>/delegates": _elect,
    "POST /api/v1/congress/terms/<term_id>/sessions": lambda w, r: Ask(
        json={"title": w.fresh("临时会议"), "agenda": []},
        form={"title": w.fresh("临时会议"), "congress_id": w.ids["congress"]},
        check=f"/api/v1/congresses/{w.ids['congress']}/sessions",
    ),
    "POST /api/v1/congress/sessions/<session_id>/check-in": _session(new_session),
    "POST /api/v1/congress/sessions/<session_id>/convene": _session(checked_in_session),
    "POST /api/v1/congress/sessions/<session_id>/close": _session(convened_session),
    "POST /api/v1/congress/sessions/<session_id>/items": lambda w, r: (
        lambda s: Ask(
            {"session_id": s["id"]},
            json={"kind": "report", "title": "补充议程"},
            check=f"/api/v1/congress/sessions/{s['id']}",
        )
    )(new_session(w)),
    "POST /api/v1/congress/items/<item_id>/open": _item(_pending_item),
    "POST /api/v1/congress/items/<item_id>/close": _item(_voting_item),
    "POST /api/v1/congress/items/<item_id>/vote": _item(_voting_item),
    "POST /api/v1/congress/items/<item_id>/election": _election_item,
    # issue 16: the vote's second step (a voting item the delegate has not voted on, shared: a read) and
    # an agenda item's document
    "GET /congress/items/<item_id>/vote": lambda w, r: (
        lambda sid, item: Ask({"item_id": item}, query=f"?choice=yes&session_id={sid}")
    )(*step_item(w)),
    "GET /api/v1/congress/items/<item_id>/attachments/<attachment_id>": lambda w, r: Ask(agenda_file(w)),
    "GET /congress/items/<item_id>/attachments/<attachment_id>": lambda w, r: Ask(agenda_file(w)),
    # projector view (issue 14): a live link of u05's session; a fresh link for each revocation
    "GET /api/v1/projector/congress/<token>": lambda w, r: Ask({"token": projector_link(w, shared=True)}),
    "GET /projector/congress/<token>": lambda w, r: Ask({"token": projector_link(w, shared=True)}),
    "POST /api/v1/congress/sessions/<session_id>/projector-links": lambda w, r: Ask(
        json={}, form={}, check=f"/api/v1/congress/sessions/{w.ids['session']}/projector-links"
    ),
    "POST /api/v1/congress/projector-links/<token>/revoke": lambda w, r: Ask(
        {"token": projector_link(w)},
        json={},
        form={"session_id": w.ids["session"]},
        check=f"/api/v1/congress/sessions/{w.ids['session']}/projector-links",
    ),
    "GET /api/v1/projector/elections/<token>": lambda w, r: Ask(
        {"token": projector_link(w, shared=True, owner="elections")}
    ),
    "GET /projector/elections/<token>": lambda w, r: Ask(
        {"token": projector_link(w, shared=True, owner="elections")}
    ),
    "POST /api/v1/elections/<election_id>/projector-links": lambda w, r: Ask(
        json={}, form={}, check=f"/api/v1/elections/{w.ids['election']}/projector-links"
    ),
    "POST /api/v1/elections/projector-links/<token>/revoke": lambda w, r: Ask(
        {"token": projector_link(w, owner="elections")},
        json={},
        form={"election_id": w.ids["election"]},
        check=f"/api/v1/elections/{w.ids['election']}/projector-links",
    ),
    # proposals
    "POST /api/v1/proposals/sessions/<session_id>/window": lambda w, r: (
        lambda s: Ask(
            {"session_id": s["id"]},
            json={"min_cosigners": 1},
            form={"min_cosigners": "1"},
            check=f"/api/v1/proposals/sessions/{s['id']}/window",
        )
    )(new_session(w)),
    "POST /api/v1/proposals/sessions/<session_id>/window/close": lambda w, r: (
        lambda s: Ask({"session_id": s["id"]}, check=f"/api/v1/proposals/sessions/{s['id']}/window")
    )(_window_open(w)),
    "POST /api/v1/proposals/sessions/<session_id>/proposals": lambda w, r: Ask(
        json={**PROPOSAL_FORM, "subject": w.fresh("增设职工书屋")},
        form={**PROPOSAL_FORM, "subject": w.fresh("增设职工书屋"), "invite": ""},
        check=f"/api/v1/proposals/sessions/{w.ids['session']}/statistics",
    ),
    "POST /api/v1/proposals/<proposal_id>/cosign": _p("draft", by="cosigner"),
    "POST /api/v1/proposals/<proposal_id>/submit": _p("cosigned"),
    "POST /api/v1/proposals/<proposal_id>/review": _p("submitted", decision="accept"),
    "POST /api/v1/proposals/<proposal_id>/assign": _p("accepted", department_ids=None),
    "POST /api/v1/proposals/<proposal_id>/reply": _p("assigned", text="已按建议落实，设置了休息室。"),
    "POST /api/v1/proposals/<proposal_id>/rate": _p("replied", satisfaction="satisfied"),
    "POST /api/v1/proposals/<proposal_id>/excellent": _p("closed"),
    # evaluations
    "POST /api/v1/campaigns": lambda w, r: (
        lambda i: Ask(
            json={"id": i, "title": "授权测试评家", "union_id": "ftu", "preset": "2018", "homes": [UNION]},
            form={
                "title": "授权测试评家",
                "union_id": "ftu",
                "preset": "2018",
                "year": "2026",
                "criteria": "工会组织健全\n基础设施完善\n工作务实创新\n劳动关系和谐\n财务管理规范",
                **{f"t{n}": str(40 + 10 * n) for n in range(1, 6)},
            },
            check=f"/api/v1/campaigns/{i}",
        )
    )(w.fresh("authz-c")),
    "POST /api/v1/campaigns/<campaign_id>/open": _campaign("draft"),
    "POST /api/v1/campaigns/<campaign_id>/close": _campaign("open"),
    "POST /api/v1/campaigns/<campaign_id>/publish": _campaign("closed"),
    "PUT /api/v1/campaigns/<campaign_id>/unit-scores/<union_id>": _campaign("open", json={"score": 80}),
    "PUT /api/v1/campaigns/<campaign_id>/superior-scores": _campaign("open", json={"scores": {UNION: 85}}),
    "POST /api/v1/campaigns/<campaign_id>/ballots": _rating,
    "POST /api/v1/polls/<poll_id>/ballots": _choice,
    "POST /api/v1/polls/<poll_id>/recount": lambda w, r: Ask(
        {"poll_id": w.ids["poll"]}, check=f"/api/v1/campaigns/{w.ids['campaign']}"
    ),
    "POST /evaluations/<campaign_id>/actions/<action>": _campaign("open", form={f"score_{UNION}": "85"}),
    # disclosure
    "POST /api/v1/unions/<union_id>/disclosures": _publish,
    "POST /api/v1/disclosures/<item_id>/corrections": _disclosure(),
    "POST /api/v1/disclosures/<item_id>/withdrawal": _disclosure(reason="数据有误，撤回重发"),
    "POST /api/v1/disclosures/<item_id>/questions": lambda w, r: Ask(
        {"item_id": w.ids["disclosure"]},
        json={"text": "加班费怎么算？"},
        form={"text": "加班费怎么算？"},
        check=f"/api/v1/disclosures/{w.ids['disclosure']}/questions",
    ),
    "POST /api/v1/disclosure-questions/<question_id>/answer": _question,
    # notifications
    "POST /api/v1/inbox/read": lambda w, r: Ask(json={"all": True}, form={"all": "1"}),
    "PUT /api/v1/notifications/preferences": _prefs,
    # worker requests (接诉即办)
    "POST /api/v1/cases": lambda w, r: Ask(json=CASE_BODY, form=CASE_FORM),
    "POST /api/v1/unions/<union_id>/hotline-cases": lambda w, r: Ask(json=CALL_BODY, form=CALL_FORM),
    "POST /api/v1/cases/<case_id>/dispatch": _case("received", union_id=UNION, complexity="general"),
    "POST /api/v1/cases/<case_id>/transfer": _case(
        "dispatched", union_id="ftu", reason="涉及多家企业，上转协调"
    ),
    "POST /api/v1/cases/<case_id>/sign-for": _case("dispatched"),
    "POST /api/v1/cases/<case_id>/contact": _case("signed", method="phone"),
    "POST /api/v1/cases/<case_id>/notes": _case("dispatched", text="企业人事已承认漏发。"),
    "POST /api/v1/cases/<case_id>/interim-replies": _case("in_progress", text="已约谈企业，正在核对考勤。"),
    "POST /api/v1/cases/<case_id>/reply": _case("in_progress", text="已与企业核实，加班费随本月工资补发。"),
    "POST /api/v1/cases/<case_id>/rating": _case("replied", satisfaction="satisfied", resolved=True),
    "POST /api/v1/cases/<case_id>/follow-ups": _case("replied", text="回访：诉求人表示已收到补发。"),
    "POST /api/v1/cases/<case_id>/supervision": _case("dispatched", note="请于三日内答复诉求人。"),
    "GET /api/v1/cases/<case_id>/attachments/<attachment_id>": lambda w, r: Ask(
        {"case_id": w.ids["case_with_file"], "attachment_id": w.ids["case_attachment"]}
    ),
    "POST /api/v1/case-progress/code": _case_code,
    "POST /api/v1/case-progress": _case_progress,
    "POST /cases/<case_id>/<action>": _case("dispatched", action="note", text="企业人事已承认漏发。"),
    # elections (issue 14)
    "POST /api/v1/unions/<union_id>/elections": lambda w, r: Ask(
        json={"title": w.fresh("工会主席选举"), "kind": "chair", "seats": 1, "rules": {"contested": False}},
        form={"title": w.fresh("工会主席选举"), "kind": "chair", "seats": "1"},
        check="/api/v1/elections",
    ),
    "POST /api/v1/elections/<election_id>/candidates": lambda w, r: _el(
        "nominating",
        json={"member_id": w.ids["member"], "source": "会员联名推荐"},
        form={"member_id": w.ids["member"], "source": "会员联名推荐"},
    )(w, r),
    "POST /api/v1/elections/<election_id>/voting": lambda w, r: (
        lambda eid: (
            w.api(
                "admin",
                "POST",
                f"/elections/{eid}/candidates",
                {"member_id": w.ids["member"], "source": "工会委员会提名"},
                201,
            ),
            Ask({"election_id": eid}, json={}, form={}, check=f"/api/v1/elections/{eid}"),
        )[1]
    )(new_election(w)),
    "POST /api/v1/elections/<election_id>/ballots": _el_cast,
    "POST /api/v1/elections/<election_id>/round-closure": _el("voting", form={}),
    "POST /api/v1/elections/<election_id>/publication": _el("decided", form={}),
    "GET /api/v1/election-rounds/<round_id>/receipts/<receipt>": lambda w, r: Ask(
        {"receipt": w.ids["election_receipt"]}
    ),
    "POST /api/v1/election-rounds/<round_id>/recount": lambda w, r: Ask(
        check=f"/api/v1/elections/{w.ids['election']}"
    ),
    "GET /elections/<election_id>/ballot": lambda w, r: Ask({"election_id": w.ids["open_election"]}),
    "POST /elections/<election_id>/ballot/review": lambda w, r: Ask(
        {"election_id": w.ids["open_election"]},
        form={f"mark_{w.ids['member']}": "approve"},
        check=f"/api/v1/elections/{w.ids['open_election']}",
    ),
    "POST /api/v1/unions/<union_id>/appraisals": lambda w, r: Ask(
        json={"title": w.fresh("述职评议"), "subjects": [w.ids["member"]]},
        form={"title": w.fresh("述职评议"), "subjects": w.ids["member"]},
    ),
    "POST /api/v1/appraisals/<appraisal_id>/ratings": _rate,
    "POST /api/v1/appraisals/<appraisal_id>/closure": _appraisal("open", form={}),
    "POST /api/v1/appraisals/<appraisal_id>/publication": _appraisal("closed", form={}),
    "POST /api/v1/unions/<union_id>/award-rounds": lambda w, r: Ask(
        json={"title": w.fresh("双爱双评"), "k": 1, "places": {"good_worker": 1, "good_manager": 1}},
    ),
    "POST /api/v1/award-rounds/<award_id>/nominations": _award("nominating", award_nomination),
    "POST /api/v1/award-rounds/<award_id>/voting": _award("nominated"),
    "POST /api/v1/award-rounds/<award_id>/ballots": lambda w, r: _award(
        "open", {"choices": {"good_worker": [w.ids["member"]]}}
    )(w, r),
    "POST /api/v1/award-rounds/<award_id>/closure": _award("open"),
    "POST /api/v1/award-rounds/<award_id>/publication": _award("closed"),
    "POST /api/v1/award-rounds/<award_id>/tie-settlement": lambda w, r: _award(
        "tied", {"category": "good_worker", "awarded": [w.ids["member"]], "reason": "工会委员会研究决定"}
    )(w, r),
    "POST /unions/<union_id>/award-rounds": lambda w, r: Ask(
        form={"title": w.fresh("双爱双评"), "k": "1", "places_good_worker": "1", "places_good_manager": "1"},
    ),
    "GET /award-rounds/<award_id>/ballot": _award("open"),
    "GET /api/v1/elections/<election_id>/electors": lambda w, r: Ask({"election_id": w.ids["open_election"]}),
    "POST /award-rounds/<award_id>/ballot/review": lambda w, r: _award(
        "open", {"good_worker": [w.ids["member"]]}
    )(w, r),
    "POST /award-rounds/<award_id>/ballot": lambda w, r: _award("open", {"good_worker": [w.ids["member"]]})(
        w, r
    ),
}
#: page forms asked like their API twins
PAGE_TWINS = {
    "POST /imports/<job_id>/start": "POST /api/v1/imports/<job_id>/start",
    "GET /cases/<case_id>/attachments/<attachment_id>": "GET /api/v1/cases/<case_id>/attachments/<attachment_id>",
    "POST /congress/terms/<term_id>/sessions": "POST /api/v1/congress/terms/<term_id>/sessions",
    "POST /congress/sessions/<session_id>/check-in": "POST /api/v1/congress/sessions/<session_id>/check-in",
    "POST /congress/sessions/<session_id>/convene": "POST /api/v1/congress/sessions/<session_id>/convene",
    "POST /congress/sessions/<session_id>/close": "POST /api/v1/congress/sessions/<session_id>/close",
    "POST /congress/items/<item_id>/open": "POST /api/v1/congress/items/<item_id>/open",
    "POST /congress/items/<item_id>/close": "POST /api/v1/congress/items/<item_id>/close",
    "POST /congress/items/<item_id>/vote": "POST /api/v1/congress/items/<item_id>/vote",
    "POST /congress/items/<item_id>/election": "POST /api/v1/congress/items/<item_id>/election",
    "POST /congress/sessions/<session_id>/projector-links": "POST /api/v1/congress/sessions/<session_id>/projector-links",
    "POST /congress/projector-links/<token>/revoke": "POST /api/v1/congress/projector-links/<token>/revoke",
    "POST /elections/<election_id>/projector-links": "POST /api/v1/elections/<election_id>/projector-links",
    "POST /elections/projector-links/<token>/revoke": "POST /api/v1/elections/projector-links/<token>/revoke",
    "POST /proposals/sessions/<session_id>/window": "POST /api/v1/proposals/sessions/<session_id>/window",
    "POST /proposals/sessions/<session_id>/mine": "POST /api/v1/proposals/sessions/<session_id>/proposals",
    "POST /proposals/<proposal_id>/cosign": "POST /api/v1/proposals/<proposal_id>/cosign",
    "POST /proposals/<proposal_id>/submit": "POST /api/v1/proposals/<proposal_id>/submit",
    "POST /proposals/<proposal_id>/review": "POST /api/v1/proposals/<proposal_id>/review",
    "POST /proposals/<proposal_id>/assign": "POST /api/v1/proposals/<proposal_id>/assign",
    "POST /proposals/<proposal_id>/excellent": "POST /api/v1/proposals/<proposal_id>/excellent",
    "POST /proposals/<proposal_id>/reply": "POST /api/v1/proposals/<proposal_id>/reply",
    "POST /proposals/<proposal_id>/rate": "POST /api/v1/proposals/<proposal_id>/rate",
    "POST /evaluations": "POST /api/v1/campaigns",
    "POST /evaluations/<campaign_id>/rate": "POST /api/v1/campaigns/<campaign_id>/ballots",
    "POST /disclosures/<item_id>/questions": "POST /api/v1/disclosures/<item_id>/questions",
    "POST /disclosure-questions/<question_id>/answer": "POST /api/v1/disclosure-questions/<question_id>/answer",
    "POST /unions/<union_id>/disclosures": "POST /api/v1/unions/<union_id>/disclosures",
    "POST /disclosures/<item_id>/correct": "POST /api/v1/disclosures/<item_id>/corrections",
    "POST /disclosures/<item_id>/withdraw": "POST /api/v1/disclosures/<item_id>/withdrawal",
    "POST /inbox/read": "POST /api/v1/inbox/read",
    "POST /notifications/preferences": "PUT /api/v1/notifications/preferences",
    "POST /cases/new": "POST /api/v1/cases",
    "POST /unions/<union_id>/hotline": "POST /api/v1/unions/<union_id>/hotline-cases",
    "POST /cases/progress": "POST /api/v1/case-progress/code",
    "POST /unions/<union_id>/elections": "POST /api/v1/unions/<union_id>/elections",
    "POST /elections/<election_id>/candidates": "POST /api/v1/elections/<election_id>/candidates",
    "POST /elections/<election_id>/voting": "POST /api/v1/elections/<election_id>/voting",
    "POST /elections/<election_id>/round-closure": "POST /api/v1/elections/<election_id>/round-closure",
    "POST /elections/<election_id>/publication": "POST /api/v1/elections/<election_id>/publication",
    "POST /elections/<election_id>/ballot": "POST /api/v1/elections/<election_id>/ballots",
    "POST /unions/<union_id>/appraisals": "POST /api/v1/unions/<union_id>/appraisals",
    "POST /appraisals/<appraisal_id>/ratings": "POST /api/v1/appraisals/<appraisal_id>/ratings",
    "POST /appraisals/<appraisal_id>/closure": "POST /api/v1/appraisals/<appraisal_id>/closure",
    "POST /appraisals/<appraisal_id>/publication": "POST /api/v1/appraisals/<appraisal_id>/publication",
    "POST /award-rounds/<award_id>/nominations": "POST /api/v1/award-rounds/<award_id>/nominations",
    "POST /award-rounds/<award_id>/voting": "POST /api/v1/award-rounds/<award_id>/voting",
    "POST /award-rounds/<award_id>/closure": "POST /api/v1/award-rounds/<award_id>/closure",
    "POST /award-rounds/<award_id>/tie-settlement": "POST /api/v1/award-rounds/<award_id>/tie-settlement",
    "POST /award-rounds/<award_id>/publication": "POST /api/v1/award-rounds/<award_id>/publication",
}
#: page forms of irreversible actions, posted with their confirmation box ticked
CONFIRMED = {
    "POST /proposals/<proposal_id>/review",
    "POST /proposals/<proposal_id>/excellent",
    "POST /proposals/sessions/<session_id>/window",  # its close action (opening ignores the box)
    "POST /imports/<job_id>/start",
    "POST /congress/sessions/<session_id>/convene",
    "POST /congress/sessions/<session_id>/close",
    "POST /congress/items/<item_id>/open",
    "POST /congress/items/<item_id>/close",
    "POST /congress/items/<item_id>/vote",
    "POST /unions/<union_id>/disclosures",
    "POST /disclosures/<item_id>/correct",
    "POST /evaluations/<campaign_id>/actions/<action>",
    "POST /congress/projector-links/<token>/revoke",
    "POST /elections/projector-links/<token>/revoke",
    "POST /disclosures/<item_id>/withdraw",
    "POST /surveys/<survey_id>/open",
    "POST /surveys/<survey_id>/close",
    "POST /elections/<election_id>/voting",
    "POST /elections/<election_id>/round-closure",
    "POST /elections/<election_id>/publication",
    "POST /elections/<election_id>/ballot",
    "POST /appraisals/<appraisal_id>/closure",
    "POST /appraisals/<appraisal_id>/publication",
    "POST /award-rounds/<award_id>/voting",
    "POST /award-rounds/<award_id>/closure",
    "POST /award-rounds/<award_id>/tie-settlement",
    "POST /award-rounds/<award_id>/publication",
    "POST /award-rounds/<award_id>/ballot",
}
#: query strings of read rows (a union admin reads the opinions of their own Worker Home)
QUERY = {
    "GET /api/v1/campaigns/<campaign_id>/opinions": f"?home={UNION}",
    "GET /evaluations/<campaign_id>/opinions": f"?home={UNION}",
    "GET /api/v1/surveys/<survey_id>/questions/<question_id>/crosstab": "?by=department",
    "GET /api/v1/elections/<election_id>/electors": "?q=张伟",  # the write-in picker's search
}


def ask_for(w: World, row: m.Row, role: str) -> Ask:
    make = ASK.get(row.key) or ASK.get(PAGE_TWINS.get(row.key, ""))
    a = make(w, role) if make else Ask()
    a.values = {**default_values(w, row), **a.values}
    if row.path.endswith("<action>") and "action" not in a.values:
        a.values["action"] = "superior-scores"
    if "department_ids" in (a.json or {}):
        a.json["department_ids"] = [w.ids["department"]]
    if row.key in CONFIRMED and a.form is not None:
        a.form = {**a.form, "confirmed": "on"}  # an irreversible action's confirmation box
    if a.form and "department_ids" in a.form:
        a.form["department_ids"] = [w.ids["department"]]
    return a


def url_of(row: m.Row, values: dict, query: str | None = None) -> str:
    path = re.sub(r"<(?:[a-z]+:)?(\w+)>", lambda mo: str(values[mo.group(1)]), row.path)
    return path + (query if query is not None else QUERY.get(row.key, ""))


LOGOUTS = {"POST /api/v1/auth/logout", "POST /logout"}


def answer(w: World, row: m.Row, role: str, a: Ask) -> tuple[str, requests.Response]:
    """Ask and classify the answer in the table's codes."""
    kw: dict = {}
    if row.is_page and row.changes_state:
        if a.files:
            kw = {"files": a.files}
        else:
            kw = {"data": a.form or {}}
    elif a.json is not None:
        kw = {"json": a.json}
    if row.key in LOGOUTS and w.who.get(role) is not None:
        # logout revokes the token it carries: log out a session of its own, not the role's shared one
        s = login(w.url, w.who[role].login_name)  # type: ignore[union-attr]
        r = s.request(
            row.method,
            f"{w.url}{url_of(row, a.values, a.query)}",
            timeout=TIMEOUT,
            allow_redirects=False,
            **kw,
        )
    else:
        r = w.call(role, row.method, url_of(row, a.values, a.query), **kw)
    code = str(r.status_code)
    if r.status_code == 303:
        location = r.headers.get("Location", "")
        if location.startswith("/login"):
            code = "login"
        elif refused_notice(r):
            code = "back"
    return code, r


def refused_notice(r: requests.Response) -> bool:
    """Does a 303 carry the error notice of a refused form (the gateway's signed notice cookie,
    services/gateway/pages.py)? Read without the secret: this only classifies the answer."""
    value = r.cookies.get(NOTICE_COOKIE)
    if not value:
        return False
    _valid, notice = notice_serializer("").loads_unsafe(value)
    return isinstance(notice, dict) and notice.get("kind") == "error"


def snapshot(w: World, a: Ask):
    if not a.check:
        return None
    r = w.call("superior", "GET", a.check)
    body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else r.text
    return r.status_code, json.dumps(body, sort_keys=True, ensure_ascii=False)


# ----- the tests ----------------------------------------------------------------------------------
def gateway_routes() -> set[str]:
    """Every route the gateway declares (API and pages), as ``METHOD path``."""
    import inspect

    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from services.gateway.service import GatewayService

    out = set()
    for _name, fn in inspect.getmembers(GatewayService, inspect.isfunction):
        for ep in getattr(fn, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if hasattr(ep, "url"):  # an HTTP route, not the token_revoked event handler
                out.update(f"{method} {ep.url}" for method in ep.method.split(","))
    return out


def test_every_route_is_in_the_table(base_url):
    """A route the table lacks (or a row for a route that is gone) fails here: new endpoints can't escape."""
    table = {r.key for r in m.ROUTES}
    assert len(table) == len(m.ROUTES), "a route is listed twice"
    spec = requests.get(f"{base_url}/api/v1/openapi.json", timeout=TIMEOUT).json()
    documented = {
        method.upper() + " " + re.sub(r"{(\w+)}", r"<\1>", path)
        for path, ops in spec["paths"].items()
        for method in ops
    }
    routes = {r.route for r in m.ROUTES}
    plain = {re.sub(r"<(?:[a-z]+:)", "<", k) for k in routes}
    assert documented - plain == set(), "API routes missing from tests/authz_matrix.py"
    declared = gateway_routes()
    assert declared - routes == set(), "gateway routes missing from tests/authz_matrix.py"
    assert routes - declared == set(), "rows for routes the gateway no longer has"


def test_the_doc_is_the_table():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "authorization.md")) as f:
        assert f.read() == m.render_markdown(), (
            "regenerate: .venv/bin/python -m tests.authz_matrix > docs/authorization.md"
        )


@pytest.mark.parametrize("row", m.ROUTES, ids=lambda r: r.key)
def test_route(world, row):
    """Every role gets the table's code; allowed roles succeed on a fresh target each, refused ones
    change nothing; a refusal about a member shows none of their personal data (issue 12)."""
    wrong = []

    def leaks(a: Ask, role: str, r: requests.Response) -> None:
        if "<member_id>" not in row.path or row.expect[role] in m.ALLOWED:
            return
        data = personal_data(world, a.values["member_id"])
        if row.is_page:  # a page's markup may hold any four digits; its name, mobile, e-mail are checked
            data.pop("national_id_last4", None)
        shown = [k for k, v in data.items() if v in r.text]
        if shown:
            wrong.append((role, row.expect[role], f"{r.status_code} with personal data {shown}", r.text))

    refused = [r for r in m.ROLES if row.expect[r] not in m.ALLOWED or row.expect[r].endswith("*")]
    allowed = [r for r in m.ROLES if r not in refused]
    if row.changes_state:
        for role in allowed:
            a = ask_for(world, row, role)
            code, r = answer(world, row, role, a)
            if code != row.expect[role]:
                wrong.append((role, row.expect[role], code, r.text[:300]))
            elif not row.is_page and r.status_code != 204 and r.content:
                r.json() if r.headers.get("Content-Type", "").startswith("application/json") else None
        if refused:
            a = ask_for(world, row, refused[0])
            before = snapshot(world, a)
            for role in refused:
                code, r = answer(world, row, role, a)
                if code != row.expect[role].rstrip("*"):
                    wrong.append((role, row.expect[role], code, r.text[:300]))
                leaks(a, role, r)
            assert snapshot(world, a) == before, f"{row.key}: a refused request changed {a.check}"
    else:
        a = ask_for(world, row, "superior")
        for role in m.ROLES:
            code, r = answer(world, row, role, a)
            if code != row.expect[role]:
                wrong.append((role, row.expect[role], code, r.text[:300]))
            leaks(a, role, r)
    assert not wrong, "\n".join(f"{row.key} as {role}: expected {e}, got {g}: {t}" for role, e, g, t in wrong)
