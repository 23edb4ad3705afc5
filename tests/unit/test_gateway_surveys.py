"""The gateway side of worker surveys (services/gateway/surveys.py) without a broker: the answering
form into the contract's answers for every question kind, the builder's edits of a questionnaire, the
charts of each kind, the exports (one sheet per question plus the raw answers; "other" groups kept as the
service names them; no member id for an anonymous survey) and the pages rendered by the real Jinja
environment."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from werkzeug.datastructures import MultiDict

from dmlib.auth import issue_token
from dmlib.contracts import surveys as c
from services.gateway import surveys as sv
from services.gateway.pages import Pages
from services.gateway.web import Web
from tests.helpers import AUTH_SECRET, member, union_admin


def q(qid, kind, **extra):
    base = {"id": qid, "kind": kind, "kind_label": c.KINDS[kind], "title": f"题目{qid}", "help": None,
            "required": False, "options": [], "min_choices": None, "max_choices": None, "scale": None,
            "low_label": None, "high_label": None, "rows": [], "max_length": None, "min": None, "max": None,
            "integer": False, "unit": None, "show_if": None}  # fmt: skip
    return {**base, **extra}


OPTS = [{"id": "o1", "label": "满意"}, {"id": "o2", "label": "一般"}, {"id": "o3", "label": "=不满意"}]
SURVEY = {
    "id": "sv1",
    "union_id": "u01",
    "union_name": "一厂工会",
    "title": "职工需求调查",
    "description": "",
    "language": "zh",
    "sections": [
        {
            "id": "s1",
            "title": "基本",
            "description": "",
            "questions": [
                q("q1", "single", required=True, options=OPTS),
                q("q2", "multiple", options=OPTS, max_choices=2),
                q("q3", "rating", scale="1-5", show_if={"question": "q1", "any_of": ["o3"]}),
            ],
        },
        {
            "id": "s2",
            "title": "详细",
            "description": "",
            "questions": [
                q("q4", "ranking", options=OPTS),
                q(
                    "q5",
                    "matrix",
                    scale="1-5",
                    rows=[{"id": "r1", "label": "饭菜"}, {"id": "r2", "label": "环境"}],
                ),
                q("q6", "short_text"),
                q("q7", "long_text"),
                q("q8", "number", min=0, max=100, integer=True),
            ],
        },
    ],  # fmt: skip
    "audience": {"kind": "unions", "union_ids": ["u01"], "department_ids": [], "term_id": None},
    "opens_at": None,
    "closes_at": "2026-12-31T15:59:00Z",
    "anonymous": True,
    "min_group": 5,
    "status": "open",
    "version": 3,
    "created_at": "2026-12-01T00:00:00Z",
    "created_by_name": "管理员",
    "opened_at": None,
    "closed_at": None,
    "question_count": 8,
    "eligible": 40,
    "responses": 7,
    "reminders": 0,
    "can_manage": True,
}


def test_the_answering_form_becomes_the_contracts_answers_for_every_kind():
    form = MultiDict(
        [
            ("q_q1", "o3"), ("q_q2", "o1"), ("q_q2", "o2"), ("q_q3", "4"),
            ("q_q4__o1", "2"), ("q_q4__o2", "1"), ("q_q4__o3", ""),
            ("q_q5__r1", "5"), ("q_q5__r2", ""), ("q_q6", "  夜班食堂  "), ("q_q7", ""), ("q_q8", "12"),
        ]
    )  # fmt: skip
    answers = sv.answers_from_form(SURVEY, form)
    assert answers == {
        "q1": "o3",
        "q2": ["o1", "o2"],
        "q3": 4,
        "q4": ["o2", "o1"],
        "q5": {"r1": 5},
        "q6": "夜班食堂",
        "q8": 12,
    }
    assert c.ResponseIn().load({"answers": answers})  # the contract takes the shape
    assert sv.answers_from_form(SURVEY, MultiDict([("q_q8", "十二")])) == {
        "q8": "十二"
    }  # the service refuses it


def test_a_survey_read_goes_back_as_an_update_with_its_version():
    body = sv.survey_update(SURVEY)
    assert body["version"] == 3 and body["audience"] == {"kind": "unions", "union_ids": ["u01"]}
    loaded = c.SurveyUpdateIn().load(body)
    assert [x["id"] for x in loaded["sections"][1]["questions"]] == ["q4", "q5", "q6", "q7", "q8"]
    assert "kind_label" not in body["sections"][0]["questions"][0]


def test_the_question_form_keeps_ids_of_kept_options_and_adds_new_ones():
    old = {**SURVEY["sections"][0]["questions"][0], "section": "s1"}
    form = MultiDict(
        [("kind", "single"), ("title", " 总体满意度 "), ("required", "on"), ("options", "一般\n满意\n很满意\n"),
         ("show_if_question", ""), ("scale", "1-5")]
    )  # fmt: skip
    new = sv.question_from_form(form, old, ["q1", "q2"])
    assert new["id"] == "q1" and new["title"] == "总体满意度" and new["required"] is True
    assert new["options"] == [
        {"id": "o2", "label": "一般"},
        {"id": "o1", "label": "满意"},
        {"id": "o4", "label": "很满意"},
    ]
    assert "scale" not in new and "show_if" not in new
    skip = MultiDict([("kind", "number"), ("title", "加班小时"), ("min", "0"), ("max", "80"), ("integer", "on"),
                      ("show_if_question", "q1"), ("show_if_values", "o1"), ("show_if_values", "o2")])  # fmt: skip
    made = sv.question_from_form(skip, None, ["q1", "q2", "q4"])
    assert made["id"] == "q3" and made["min"] == 0 and made["max"] == 80 and made["integer"] is True
    assert made["show_if"] == {"question": "q1", "any_of": ["o1", "o2"]}
    c.QuestionIn().load(made)


def test_builder_edits_add_replace_move_across_sections_and_delete():
    new = {"id": "q9", "kind": "short_text", "title": "其他建议"}
    body = sv.put_question(SURVEY, "s1", new)
    assert [x["id"] for x in body["sections"][0]["questions"]] == ["q1", "q2", "q3", "q9"]
    body = sv.put_question(SURVEY, "s1", {**new, "id": "q6"})  # replaces in place
    assert body["sections"][1]["questions"][2]["title"] == "其他建议"
    down = sv.edit_question(SURVEY, "q3", "down")  # over the edge of s1 into s2
    assert [x["id"] for x in down["sections"][1]["questions"]][:2] == ["q3", "q4"]
    up = sv.edit_question(SURVEY, "q2", "up")
    assert [x["id"] for x in up["sections"][0]["questions"]] == ["q2", "q1", "q3"]
    gone = sv.edit_question(SURVEY, "q8", "delete")
    assert "q8" not in [x["id"] for s in gone["sections"] for x in s["questions"]]
    assert sv.edit_question(SURVEY, "q1", "up") == sv.survey_update(SURVEY)  # first stays first
    with pytest.raises(Exception) as refused:
        sv.edit_question(SURVEY, "q99", "delete")
    assert refused.value.status == 400
    added = sv.add_section(SURVEY, "食堂", "", new)
    assert added["sections"][-1] == {"id": "s3", "title": "食堂", "description": "", "questions": [new]}


def test_settings_form_reads_audience_window_in_beijing_time_and_anonymity():
    form = MultiDict([("title", "食堂调查"), ("audience_kind", "departments"), ("department_ids", "u01-d1"),
                      ("opens_at", "2026-12-05T08:00"), ("closes_at", ""), ("min_group", "5")])  # fmt: skip
    out = sv.settings_from_form(form, SURVEY)
    assert out["audience"] == {"kind": "departments", "department_ids": ["u01-d1"]}
    assert out["opens_at"] == "2026-12-05T08:00+08:00" and out["closes_at"] is None
    assert out["anonymous"] is False and out["min_group"] == 5
    assert sv.local_input("2026-12-31T15:59:00Z") == "2026-12-31T23:59"


RESULTS = {
    "survey_id": "sv1", "title": "职工需求调查", "status": "open", "anonymous": True, "min_group": 5,
    "eligible": 40, "responses": 7, "rate": 0.175, "withheld": False,
    "questions": [
        {"id": "q1", "kind": "single", "title": "题目q1", "answered": 7, "skipped": 0,
         "counts": [{"id": "o1", "label": "满意", "count": 5, "percent": 71.4},
                    {"id": "o2", "label": "一般", "count": 2, "percent": 28.6},
                    {"id": "o3", "label": "=不满意", "count": 0, "percent": 0.0}],
         "mean": None, "rows": [], "ranks": [], "bins": [], "min_seen": None, "max_seen": None, "text_count": 0},
        {"id": "q5", "kind": "matrix", "title": "题目q5", "answered": 6, "skipped": 1, "counts": [], "mean": None,
         "rows": [{"id": "r1", "label": "饭菜", "answered": 6, "mean": 4.5,
                   "counts": [{"id": "4", "label": "4", "count": 3, "percent": 50.0},
                              {"id": "5", "label": "5", "count": 3, "percent": 50.0}]}],
         "ranks": [], "bins": [], "min_seen": None, "max_seen": None, "text_count": 0},
        {"id": "q4", "kind": "ranking", "title": "题目q4", "answered": 7, "skipped": 0, "counts": [], "mean": None,
         "rows": [], "ranks": [{"id": "o2", "label": "一般", "ranked": 7, "mean_rank": 1.2, "first": 6, "points": 13}],
         "bins": [], "min_seen": None, "max_seen": None, "text_count": 0},
        {"id": "q8", "kind": "number", "title": "题目q8", "answered": 7, "skipped": 0, "counts": [], "mean": 12.0,
         "rows": [], "ranks": [], "bins": [{"low": 0, "high": 50, "count": 6}, {"low": 50, "high": 100, "count": 1}],
         "min_seen": 2, "max_seen": 60, "text_count": 0},
        {"id": "q6", "kind": "short_text", "title": "题目q6", "answered": 2, "skipped": 5, "counts": [], "mean": None,
         "rows": [], "ranks": [], "bins": [], "min_seen": None, "max_seen": None, "text_count": 2},
    ],
}  # fmt: skip
RAW = [
    {"no": 1, "submitted_on": "2026-12-04", "group_union": "一厂工会", "group_department": "其他",
     "member_id": None, "name": None,
     "answers": {"q1": "o3", "q2": ["o1", "o2"], "q4": ["o2", "o1"], "q5": {"r1": 5}, "q6": "=HYPERLINK(1)", "q8": 12}},
    {"no": 2, "submitted_on": "2026-12-04", "group_union": "一厂工会", "group_department": "生产部",
     "member_id": None, "name": None, "answers": {"q1": "o1"}},
]  # fmt: skip
CROSSTAB = {"survey_id": "sv1", "question_id": "q1", "by": "department", "min_group": 5, "groups": [
    {"key": "u01-d1", "name": "生产部", "merged": 0, "responses": 5, "eligible": None, "rate": None, "mean": None,
     "counts": [{"id": "o1", "label": "满意", "count": 4, "percent": 80.0}]},
    {"key": "other", "name": "其他", "merged": 2, "responses": 2, "eligible": None, "rate": None, "mean": None,
     "counts": [{"id": "o1", "label": "满意", "count": 1, "percent": 50.0}]}]}  # fmt: skip


def test_charts_per_kind():
    by_id = {x["id"]: x for x in sv.all_questions(SURVEY)}
    kinds = {r["id"]: sv.chart_of(by_id[r["id"]], r)["kind"] for r in RESULTS["questions"]}
    assert kinds == {"q1": "bars", "q5": "stacked", "q4": "ranking", "q8": "histogram", "q6": "texts"}
    stacked = sv.chart_of(by_id["q5"], RESULTS["questions"][1])
    assert [p["value"] for p in stacked["rows"][0]["parts"]] == [0, 0, 0, 3, 3] and len(
        stacked["legend"]
    ) == 5
    assert sv.chart_of(by_id["q1"], RESULTS["questions"][0])["rows"][0]["text"] == "5 · 71.4%"


def test_xlsx_has_a_sheet_per_question_and_the_raw_answers_without_member_ids():
    data = sv.export_xlsx(SURVEY, RESULTS, RAW, {"q1": CROSSTAB})
    wb = load_workbook(io.BytesIO(data))
    assert len(wb.sheetnames) == 1 + 8 + 1 and wb.sheetnames[-1] == "原始答卷 Raw answers"
    q1 = [
        [cell for cell in row if cell is not None] for row in wb[wb.sheetnames[1]].iter_rows(values_only=True)
    ]
    assert ["'=不满意", 0, 0.0] in q1  # no cell runs as a formula
    assert ["其他", 2, 1, 0, 0] in q1  # the department cross-tab keeps the service's "other" merge
    raw = list(wb["原始答卷 Raw answers"].iter_rows(values_only=True))
    headers = raw[0]
    assert "Member / 会员编号" not in headers and "Department / 部门" in headers
    first = dict(zip(headers, raw[1], strict=True))
    assert first["Department / 部门"] == "其他" and first["Q1 题目q1"] == "'=不满意"
    assert first["Q2 题目q2"] == "满意; 一般" and first["Q4 题目q4"] == "一般 > 满意"
    assert (
        first["Q5 题目q5 · 饭菜"] == 5 and first["Q6 题目q6"] == "'=HYPERLINK(1)" and first["Q8 题目q8"] == 12
    )


def test_csv_is_the_raw_answers_and_a_named_survey_adds_who_answered():
    text = sv.export_csv(SURVEY, RAW).decode("utf-8")
    assert text.startswith("\ufeffNo. / 序号") and "其他" in text and "Member" not in text
    named = sv.export_csv({**SURVEY, "anonymous": False}, [{**RAW[1], "member_id": "M1", "name": "张三"}])
    assert "Member / 会员编号" in named.decode() and "张三" in named.decode()


@pytest.fixture
def web():
    w = Web()
    w.setup()
    w.secret, w.cookie_secure, w.max_upload_bytes = AUTH_SECRET, False, 1024
    return w


def pages_for(web, actor, language="zh-CN"):
    ctx = SimpleNamespace(
        container=SimpleNamespace(entrypoints=()),
        data={"language": language, "auth_token": issue_token(AUTH_SECRET, actor)},
    )
    return Pages(web, ctx)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_answer_page_renders_every_kind_hides_what_the_skip_logic_hides_and_resumes(web, language):
    p = pages_for(web, member("M0000001", "u01"), language)
    mine = {"survey_id": "sv1", "status": "draft", "answers": {"q1": "o1", "q5": {"r1": 4}, "q6": "夜班"},
            "saved_at": "2026-12-04T10:00:00Z", "submitted_at": None,
            "visible": ["q1", "q2", "q4", "q5", "q6", "q7", "q8"], "missing": [], "receipt": None}  # fmt: skip
    html = p.render(
        "surveys/answer.html", survey=SURVEY, mine=mine, answers=mine["answers"], visible=set(mine["visible"]),
        missing=set(), errors={"q8": "超出范围"}, questions=sv.all_questions(SURVEY),
    ).get_data(as_text=True)  # fmt: skip
    assert 'id="q-q3" data-kind="rating" hidden disabled' in html
    assert 'name="q_q1" value="o1" checked' in html and 'name="q_q5__r1" value="4" checked' in html
    assert 'value="夜班"' in html and "超出范围" in html and 'name="action" value="submit"' in html


def test_builder_and_results_pages_render(web):
    p = pages_for(web, union_admin("u01", "A0000001"))
    survey = {**SURVEY, "status": "draft"}
    html = p.render(
        "surveys/edit.html", survey=survey, questions=sv.all_questions(survey), editing=None, unions=[],
        departments=[], kinds=c.KINDS, kind_names=sv.KIND_NAMES, scales=list(c.SCALES), opens_local="",
        closes_local="", errors={}, form={},
    ).get_data(as_text=True)  # fmt: skip
    assert 'id="open-form"' in html and 'name="confirmed"' in html and 'id="q-builder"' in html
    by_id = {x["id"]: x for x in sv.all_questions(SURVEY)}
    charts = [
        {"question": by_id[r["id"]], "result": r, "chart": sv.chart_of(by_id[r["id"]], r)}
        for r in RESULTS["questions"]
    ]
    participation = {"survey_id": "sv1", "status": "open", "eligible": 40, "responses": 7, "drafts": 2, "rate": 0.175,
                     "by_union": [], "by_department": CROSSTAB["groups"]}  # fmt: skip
    html = p.render(
        "surveys/results.html", survey=SURVEY, results=RESULTS, participation=participation, blocks=charts,
        tabbable=[by_id["q1"]], crosstab=CROSSTAB, tab_q="q1", by="department",
    ).get_data(as_text=True)  # fmt: skip
    for chart in ("chart-q1", "chart-q5", "chart-q4", "chart-q8"):
        assert f'id="{chart}"' in html
    assert 'id="crosstab-table"' in html and 'data-key="other"' in html and "/texts" in html


def test_refused_answers_are_shown_next_to_their_question():
    assert sv.question_errors({"answers.q3": "超出范围", "q4": "必答", "form": "请修改"}) == {
        "q3": "超出范围",
        "q4": "必答",
        "form": "请修改",
    }
