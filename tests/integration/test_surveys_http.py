"""Worker surveys over HTTP: the gateway with the real members and surveys services on the real RabbitMQ
and FerretDB. 403 for another union, 400/409 with field messages and nothing stored for bad answers and
bad questionnaires, the builder and answering pages (skip logic, resume after a reload, a background save),
and the exports, in which a department with fewer answers than the minimum is merged into "other"."""

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.surveys.service import SurveysService
from tests.helpers import SYSTEM, member, union_admin
from tests.integration.test_disclosure_service import national_ids

pytestmark = pytest.mark.integration

ADMIN = union_admin("u01", "A0000001")
OUTSIDER = member("B0000001", "u02")
OTHER_ADMIN = union_admin("u02", "B0000009")
#: u01's members: five in 生产部 (d1), two in 财务部 (d2) and three in 后勤部 (d3): d2 and d3 are each below
#: the minimum group of 5, together ("other") they reach it
D1 = [f"M000000{i}" for i in range(1, 6)]
D2 = ["M0000006", "M0000007"]
D3 = ["M0000008", "M0000009", "M0000010"]
MEMBERS = {m: member(m, "u01") for m in D1 + D2 + D3}
OPTS = [{"id": "o1", "label": "满意"}, {"id": "o2", "label": "一般"}, {"id": "o3", "label": "不满意"}]
SURVEY = {
    "union_id": "u01",
    "title": "食堂满意度调查",
    "sections": [
        {
            "id": "s1",
            "title": "总体",
            "questions": [
                {"id": "q1", "kind": "single", "title": "总体满意吗？", "required": True, "options": OPTS},
                {"id": "q2", "kind": "multiple", "title": "常吃哪几餐？", "max_choices": 2,
                 "options": [{"id": "b", "label": "早餐"}, {"id": "l", "label": "午餐"}, {"id": "d", "label": "晚餐"}]},
                {"id": "q3", "kind": "short_text", "title": "哪里不满意？", "max_length": 20,
                 "show_if": {"question": "q1", "any_of": ["o3"]}},
                {"id": "q4", "kind": "number", "title": "每周在食堂吃几次？", "min": 0, "max": 21, "integer": True},
            ],
        }
    ],
    "audience": {"kind": "unions", "union_ids": ["u01"]},
}  # fmt: skip


@pytest.fixture
def gw(runner_factory, config, rpc_as, http):
    runner_factory(config, GatewayService, MembersService, SurveysService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for u in ("u01", "u02"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "ftu"}
            )
        rpc.members.create_department({"id": "u01-d1", "union_id": "u01", "name": "生产部"})
        rpc.members.create_department({"id": "u01-d2", "union_id": "u01", "name": "财务部"})
        rpc.members.create_department({"id": "u01-d3", "union_id": "u01", "name": "后勤部"})
        people = (
            [("A0000001", "u01-d1")]
            + [(m, "u01-d1") for m in D1]
            + [(m, "u01-d2") for m in D2]
            + [(m, "u01-d3") for m in D3]
        )
        for (no, dept), nid in zip(people, national_ids(len(people)), strict=True):
            rpc.members.register_member(
                {
                    "member_no": no,
                    "name": f"会员{no[-2:]}",
                    "union_id": "u01",
                    "national_id": nid,
                    "department_id": dept,
                }
            )
    return http


def open_survey(gw, body=SURVEY) -> str:
    created = gw(ADMIN).post("/api/v1/surveys", json=body)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    opened = gw(ADMIN).post(f"/api/v1/surveys/{sid}/open")
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "open" and opened.json()["eligible"] == 11  # the admin is a member too
    return sid


def answer_fields(r) -> set[str]:
    fields = r.json()["fields"]
    flat = set(fields)
    if isinstance(fields.get("answers"), dict):
        flat |= {f"answers.{k}" for k in fields["answers"]}
    return flat


def test_other_unions_get_403_members_cannot_build(gw):
    sid = open_survey(gw)
    assert gw(OUTSIDER).get(f"/api/v1/surveys/{sid}").status_code == 403
    refused = gw(OUTSIDER).post(f"/api/v1/surveys/{sid}/response", json={"answers": {"q1": "o1"}})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    for path in (
        "results",
        "participation",
        "results.xlsx",
        "answers.csv",
        "questions/q1/crosstab?by=department",
    ):
        assert gw(OTHER_ADMIN).get(f"/api/v1/surveys/{sid}/{path}").status_code == 403, path
    assert gw(OTHER_ADMIN).get(f"/surveys/{sid}/results").status_code == 403  # the page too
    assert gw(OTHER_ADMIN).post(f"/api/v1/surveys/{sid}/close").status_code == 403
    assert gw(MEMBERS["M0000001"]).post("/api/v1/surveys", json=SURVEY).status_code == 403
    assert gw(MEMBERS["M0000001"]).get(f"/api/v1/surveys/{sid}/results").status_code == 403
    assert gw(OTHER_ADMIN).post("/api/v1/surveys", json=SURVEY).status_code == 403
    assert gw(None).get(f"/api/v1/surveys/{sid}").status_code == 401
    assert gw(MEMBERS["M0000001"]).get("/api/v1/surveys/nosuchsurvey").status_code == 404
    assert gw(ADMIN).get(f"/api/v1/surveys/{sid}").json()["status"] == "open"  # nothing changed


def test_bad_questionnaires_give_400_with_field_messages_and_nothing_stored(gw):
    bad = [
        {**SURVEY, "title": ""},
        {**SURVEY, "sections": [{"id": "s1", "questions": [{"id": "q1", "kind": "essay", "title": "?"}]}]},
        {**SURVEY, "audience": {"kind": "unions", "union_ids": []}},
        {**SURVEY, "min_group": 0},
    ]
    for body in bad:
        r = gw(ADMIN).post("/api/v1/surveys", json=body)
        assert r.status_code == 400 and r.json()["error"] == "bad_input" and r.json()["fields"], body
    assert gw(ADMIN).get("/api/v1/unions/u01/surveys").json()["total"] == 0


def test_bad_answers_give_400_or_409_with_field_messages_and_nothing_stored(gw):
    sid = open_survey(gw)
    m1 = gw(MEMBERS["M0000001"])
    cases = [
        ({"q1": "o9"}, "answers.q1"),  # a choice not offered
        ({"q1": "o1", "q2": ["b", "l", "d"]}, "answers.q2"),  # too many choices
        ({"q1": "o3", "q3": "太咸" * 11}, "answers.q3"),  # text over the limit
        ({"q1": "o1", "q3": "不该有"}, "answers.q3"),  # a question the skip logic hides
        ({"q4": 3}, "answers.q1"),  # a required question unanswered
        ({"q1": "o1", "q4": 2.5}, "answers.q4"),  # not a whole number
    ]
    for answers, field in cases:
        r = m1.post(f"/api/v1/surveys/{sid}/response", json={"answers": answers})
        assert r.status_code == 400 and field in answer_fields(r), (answers, r.text)
    assert gw(ADMIN).get(f"/api/v1/surveys/{sid}/participation").json()["responses"] == 0
    assert m1.get(f"/api/v1/surveys/{sid}/response").json()["status"] == "not_started"
    ok = m1.post(f"/api/v1/surveys/{sid}/response", json={"answers": {"q1": "o1", "q4": 5}})
    assert ok.status_code == 201 and ok.json()["status"] == "submitted"
    again = m1.post(f"/api/v1/surveys/{sid}/response", json={"answers": {"q1": "o2"}})
    assert again.status_code == 409
    assert gw(ADMIN).post(f"/api/v1/surveys/{sid}/close").status_code == 200
    late = gw(MEMBERS["M0000002"]).post(f"/api/v1/surveys/{sid}/response", json={"answers": {"q1": "o1"}})
    assert late.status_code == 409
    assert gw(ADMIN).get(f"/api/v1/surveys/{sid}/participation").json()["responses"] == 1


def test_answering_page_skip_logic_resume_background_save_and_field_messages(gw):
    sid = open_survey(gw)
    s = gw(MEMBERS["M0000002"])
    page = s.get(f"/surveys/{sid}")
    assert page.status_code == 200 and 'id="q-form"' in page.text
    assert re.search(r'id="q-q3"[^>]*hidden', page.text)  # hidden until q1 is 不满意
    saved = s.post(
        f"/surveys/{sid}/answer", data={"q_q1": "o3", "q_q4": "4", "action": "save"}, allow_redirects=False
    )
    assert saved.status_code == 303
    page = s.get(f"/surveys/{sid}")  # a reload resumes from the draft, q3 now shown
    assert 'name="q_q1" value="o3" checked' in page.text and 'value="4"' in page.text
    assert not re.search(r'id="q-q3"[^>]*hidden', page.text)
    background = s.post(
        f"/surveys/{sid}/answer",
        data={"q_q1": "o1", "q_q4": "4", "action": "save"},
        headers={"Accept": "application/json"},
    )
    assert background.status_code == 200 and "q3" not in background.json()["visible"]
    bad_background = s.post(
        f"/surveys/{sid}/answer",
        data={"q_q1": "o1", "q_q4": "99", "action": "save"},
        headers={"Accept": "application/json"},
    )
    assert bad_background.status_code == 400 and bad_background.json()["error"] == "bad_input"
    assert set(bad_background.json()["fields"]) == {"q4"}  # next to its question
    refused = s.post(f"/surveys/{sid}/answer", data={"q_q1": "o1", "q_q4": "99", "action": "submit"})
    assert refused.status_code == 400 and 'id="q4-error"' in refused.text
    assert s.get(f"/api/v1/surveys/{sid}/response").json()["status"] == "draft"  # nothing submitted
    # without script a hidden question's old answer is still posted: the page drops it before submitting
    done = s.post(
        f"/surveys/{sid}/answer",
        data={"q_q1": "o1", "q_q3": "咸", "q_q4": "4", "action": "submit"},
        allow_redirects=False,
    )
    assert done.status_code == 303, done.text
    mine = s.get(f"/api/v1/surveys/{sid}/response").json()
    assert mine["status"] == "submitted" and mine["answers"] == {"q1": "o1", "q4": 4}
    assert 'id="submitted"' in s.get(f"/surveys/{sid}").text


def test_builder_pages_template_question_and_confirmed_open(gw):
    s = gw(ADMIN)
    assert s.get("/surveys/new").status_code == 200
    created = s.post(
        "/surveys", data={"union_id": "u01", "template": "canteen", "language": "zh"}, allow_redirects=False
    )
    assert created.status_code == 303, created.text
    sid = created.headers["Location"].split("/")[2]
    survey = s.get(f"/api/v1/surveys/{sid}").json()
    assert survey["status"] == "draft" and survey["question_count"] > 0
    before = survey["question_count"]
    added = s.post(
        f"/surveys/{sid}/questions",
        data={
            "kind": "single",
            "title": "是否需要夜宵？",
            "options": "需要\n不需要",
            "section": survey["sections"][0]["id"],
        },
        allow_redirects=False,
    )
    assert added.status_code == 303
    assert s.get(f"/api/v1/surveys/{sid}").json()["question_count"] == before + 1
    bad = s.post(f"/surveys/{sid}/questions", data={"kind": "single", "title": "只有一个选项", "options": "是",
                                                    "section": survey["sections"][0]["id"]})  # fmt: skip
    assert bad.status_code == 400 and 'id="q-builder"' in bad.text
    assert s.get(f"/api/v1/surveys/{sid}").json()["question_count"] == before + 1  # nothing stored
    unconfirmed = s.post(f"/surveys/{sid}/open", data={}, allow_redirects=False)
    assert unconfirmed.status_code == 303 and s.get(f"/api/v1/surveys/{sid}").json()["status"] == "draft"
    opened = s.post(f"/surveys/{sid}/open", data={"confirmed": "on"}, allow_redirects=False)
    assert opened.status_code == 303 and s.get(f"/api/v1/surveys/{sid}").json()["status"] == "open"
    assert "q-builder" not in s.get(f"/surveys/{sid}/edit").text  # an open survey is no longer edited
    listed = gw(MEMBERS["M0000003"]).get("/surveys")
    assert listed.status_code == 200 and f'id="survey-{sid}"' in listed.text


def test_results_page_and_exports_merge_a_small_department_into_other(gw):
    sid = open_survey(gw)
    picks = {"M0000001": "o1", "M0000002": "o1", "M0000003": "o2", "M0000004": "o3", "M0000005": "o1",
             "M0000006": "o3", "M0000007": "o2", "M0000008": "o1", "M0000009": "o2", "M0000010": "o1"}  # fmt: skip
    for m, choice in picks.items():
        answers = {"q1": choice, "q4": 5}
        if choice == "o3":
            answers["q3"] = "菜太咸"
        r = gw(MEMBERS[m]).post(f"/api/v1/surveys/{sid}/response", json={"answers": answers})
        assert r.status_code == 201, r.text
    assert gw(ADMIN).post(f"/api/v1/surveys/{sid}/close").status_code == 200
    results = gw(ADMIN).get(f"/api/v1/surveys/{sid}/results").json()
    q1 = next(q for q in results["questions"] if q["id"] == "q1")
    assert {x["id"]: x["count"] for x in q1["counts"]} == {"o1": 5, "o2": 3, "o3": 2}  # a hand count
    page = gw(ADMIN).get(f"/surveys/{sid}/results?crosstab=q1&by=department")
    assert page.status_code == 200 and 'id="chart-q1"' in page.text and 'id="chart-q4"' in page.text
    assert 'data-key="other"' in page.text and not {"财务部", "后勤部"} & set(
        re.findall(r"[\u4e00-\u9fff]+部", page.text.split('id="crosstab"')[1])
    )
    texts = gw(ADMIN).get(f"/surveys/{sid}/questions/q3/texts?q=咸")
    assert texts.status_code == 200 and texts.text.count("菜太咸") == 2
    # CSV: one line per response, the small department named "other", no member ids
    text = gw(ADMIN).get(f"/api/v1/surveys/{sid}/answers.csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + 10 and "财务部" not in text and "后勤部" not in text
    assert not any(m in text for m in MEMBERS)
    departments = {r[3] for r in rows[1:]}
    assert departments == {
        "u01公司工会 / 生产部",
        "其他 / other",
    }  # the union's 生产部 and the service's "other"
    # XLSX: summary, one sheet per question, raw answers; the same merge everywhere
    r = gw(ADMIN).get(f"/api/v1/surveys/{sid}/results.xlsx")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert len(wb.sheetnames) == 1 + 4 + 1
    cells = [str(c) for ws in wb for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "财务部" not in cells and "后勤部" not in cells and not any(m in cells for m in MEMBERS)
    assert "其他 / other" in cells and "u01公司工会 / 生产部" in cells


def test_a_named_survey_shows_who_answered_and_exports_their_ids(gw):
    sid = open_survey(gw, {**SURVEY, "anonymous": False, "min_group": 1})
    r = gw(MEMBERS["M0000006"]).post(f"/api/v1/surveys/{sid}/response", json={"answers": {"q1": "o2"}})
    assert r.status_code == 201, r.text
    page = gw(ADMIN).get(f"/surveys/{sid}/results")
    assert page.status_code == 200 and 'id="respondents"' in page.text and "财务部" in page.text
    text = gw(ADMIN).get(f"/api/v1/surveys/{sid}/answers.csv").content.decode("utf-8-sig")
    assert "M0000006" in text and "财务部" in text  # named, and a group of one is shown
    anonymous = gw(ADMIN).get(f"/api/v1/surveys/{sid}/respondents")
    assert anonymous.status_code == 200 and anonymous.json()["total"] == 1
