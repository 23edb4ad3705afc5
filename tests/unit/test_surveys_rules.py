"""The pure rules of worker surveys (services/surveys/rules.py): the questionnaire as a whole, each
question kind's answers, skip logic, counting and the minimum-group merge."""

import copy

import pytest

from dmlib.contracts import surveys as c
from dmlib.errors import BadInput
from services.surveys import rules, templates


def opts(n):
    return [{"id": f"o{i}", "label": f"选项{i}"} for i in range(1, n + 1)]


def q(qid, kind, **kw):
    base = {
        "id": qid,
        "kind": kind,
        "title": qid,
        "required": False,
        "options": [],
        "rows": [],
        "min_choices": None,
        "max_choices": None,
        "scale": None,
        "max_length": None,
        "min": None,
        "max": None,
        "integer": False,
        "show_if": None,
    }
    return {**base, **kw}


QUESTIONS = [
    q("single", "single", required=True, options=opts(3)),
    q("multi", "multiple", options=opts(5), min_choices=1, max_choices=2),
    q("rate", "rating", scale="1-5"),
    q("nps", "rating", scale="0-10"),
    q("rank", "ranking", options=opts(4), max_choices=3),
    q(
        "grid",
        "matrix",
        scale="1-5",
        rows=opts(2),
        required=True,
        show_if={"question": "single", "any_of": ["o1"]},
    ),
    q("short", "short_text", max_length=10),
    q("long", "long_text"),
    q("num", "number", min=0, max=100, integer=True),
]


@pytest.fixture
def survey():
    sections = rules.check_questionnaire(
        [{"id": "s1", "title": "", "description": "", "questions": copy.deepcopy(QUESTIONS)}]
    )
    return {"_id": "sv1", "sections": sections}


def test_each_template_is_a_valid_questionnaire_in_both_languages():
    for key in c.TEMPLATES:
        for lang in c.LANGUAGES:
            t = templates.template(key, lang)
            loaded = c.SurveyIn().load(
                {
                    "union_id": "u01",
                    "title": t["title"],
                    "sections": t["sections"],
                    "audience": {"kind": "unions", "union_ids": ["u01"]},
                }
            )
            rules.check_questionnaire(loaded["sections"])
    assert templates.template("needs", "zh")["title"] == "职工需求调查"
    assert templates.template("canteen", "en")["title"] == "Canteen satisfaction survey"


def test_check_questionnaire_fills_defaults(survey):
    by_id = {x["id"]: x for x in rules.questions_of(survey)}
    assert by_id["long"]["max_length"] == 2000
    assert (by_id["multi"]["min_choices"], by_id["multi"]["max_choices"]) == (1, 2)


@pytest.mark.parametrize(
    "bad, field",
    [
        (q("a", "single", options=opts(1)), "options"),
        (q("a", "multiple", options=opts(3), max_choices=4), "max_choices"),
        (q("a", "multiple", options=opts(3), min_choices=3, max_choices=2), "min_choices"),
        (q("a", "rating"), "scale"),
        (q("a", "matrix", scale="1-5"), "rows"),
        (q("a", "short_text", max_length=500), "max_length"),
        (q("a", "number", min=5, max=5), "max"),
        (q("a", "single", options=opts(2), show_if={"question": "later", "any_of": ["o1"]}), "show_if"),
        (q("a", "single", options=opts(2), show_if={"question": "short", "any_of": ["x"]}), "show_if"),
        (q("a", "single", options=opts(2), show_if={"question": "single", "any_of": ["o9"]}), "show_if"),
        (q("single", "single", options=opts(2)), "id"),
    ],
)
def test_check_questionnaire_refuses(bad, field):
    sections = [{"id": "s1", "questions": copy.deepcopy(QUESTIONS) + [bad]}]
    with pytest.raises(BadInput) as e:
        rules.check_questionnaire(sections)
    assert f"sections.0.questions.{len(QUESTIONS)}.{field}" in e.value.fields


@pytest.mark.parametrize(
    "qid, value, expected",
    [
        ("single", "o2", "o2"),
        ("multi", ["o1", "o3"], ["o1", "o3"]),
        ("rate", 5, 5),
        ("nps", 0, 0),
        ("rank", ["o4", "o1", "o2"], ["o4", "o1", "o2"]),
        ("grid", {"o2": 3, "o1": 4}, {"o1": 4, "o2": 3}),
        ("short", "  食堂  ", "食堂"),
        ("long", "第一行\n第二行", "第一行\n第二行"),
        ("num", 40, 40),
        ("num", 40.0, 40),
        ("single", None, None),
        ("multi", [], None),
    ],
)
def test_check_answer_accepts(survey, qid, value, expected):
    question = {x["id"]: x for x in rules.questions_of(survey)}[qid]
    assert rules.check_answer(question, value) == (expected, None)


@pytest.mark.parametrize(
    "qid, value, says",
    [
        ("single", "o9", "not one of the options"),
        ("single", ["o1"], "not one of the options"),
        ("multi", ["o1", "o2", "o3"], "at most 2"),
        ("multi", ["o1", "o1"], "twice"),
        ("rate", 6, "1-5"),
        ("rate", True, "1-5"),
        ("rate", 4.5, "1-5"),
        ("nps", 11, "0-10"),
        ("rank", ["o1", "o2"], "rank 3"),
        ("rank", ["o1", "o1", "o2"], "twice"),
        ("grid", {"o1": 4}, "every row"),
        ("grid", {"o1": 4, "o9": 2}, "not one of the rows"),
        ("short", "x" * 11, "at most 10"),
        ("short", "a\nb", "one line"),
        ("long", "x" * 2001, "at most 2000"),
        ("long", "a\x00b", "control"),
        ("num", 100.5, "whole number"),
        ("num", 101, "between"),
        ("num", "12", "a number"),
    ],
)
def test_check_answer_refuses(survey, qid, value, says):
    question = {x["id"]: x for x in rules.questions_of(survey)}[qid]
    clean, problem = rules.check_answer(question, value)
    assert clean is None and says in problem


def test_skip_logic_shows_a_question_only_for_the_named_answer(survey):
    questions = rules.questions_of(survey)
    assert "grid" in rules.visible(questions, {"single": "o1"})
    assert "grid" not in rules.visible(questions, {"single": "o2"})
    assert "grid" not in rules.visible(questions, {})


def test_chained_skip_logic_hides_what_depends_on_a_hidden_question():
    qs = [
        q("a", "single", options=opts(2)),
        q("b", "rating", scale="1-5", show_if={"question": "a", "any_of": ["o1"]}),
        q("c", "short_text", show_if={"question": "b", "any_of": ["1", "2"]}),
    ]
    assert rules.visible(qs, {"a": "o1", "b": 1}) == ["a", "b", "c"]
    assert rules.visible(qs, {"a": "o2", "b": 1}) == ["a"]


def test_submission_needs_required_shown_questions_and_refuses_hidden_answers(survey):
    with pytest.raises(BadInput) as e:
        rules.check_answers(survey, {"single": "o1"}, complete=True)
    assert e.value.fields == {"answers.grid": ["required / 此题必答"]}
    with pytest.raises(BadInput) as e:
        rules.check_answers(survey, {"single": "o2", "grid": {"o1": 1, "o2": 2}}, complete=True)
    assert list(e.value.fields) == ["answers.grid"]
    assert rules.check_answers(survey, {"single": "o2", "rate": 3}, complete=True) == {
        "single": "o2",
        "rate": 3,
    }


def test_a_draft_may_be_partial_and_drops_answers_now_hidden(survey):
    assert rules.check_answers(survey, {"rate": 2}, complete=False) == {"rate": 2}
    assert rules.check_answers(survey, {"single": "o2", "grid": {"o1": 1, "o2": 2}}, complete=False) == {
        "single": "o2"
    }
    assert rules.missing(survey, {"single": "o1"}) == ["grid"]


def test_every_bad_answer_gets_its_own_field_message(survey):
    with pytest.raises(BadInput) as e:
        rules.check_answers(survey, {"single": "o7", "multi": ["o1", "o2", "o3"], "nope": 1}, complete=True)
    assert set(e.value.fields) == {"answers.single", "answers.multi", "answers.nope"}


def test_counters_give_results_equal_to_a_hand_count(survey):
    responses = [
        {
            "single": "o1",
            "multi": ["o1", "o2"],
            "rate": 5,
            "rank": ["o1", "o2", "o3"],
            "grid": {"o1": 5, "o2": 4},
            "num": 5,
            "long": "好",
        },
        {
            "single": "o1",
            "multi": ["o2"],
            "rate": 3,
            "rank": ["o2", "o1", "o4"],
            "grid": {"o1": 3, "o2": 4},
            "num": 95,
        },
        {"single": "o2", "rate": 4, "num": 100, "short": "饭菜"},
    ]
    tally: dict = {}
    for r in responses:
        rules.add(tally, rules.increments(survey, r))
    by_id = {x["id"]: x for x in rules.questions_of(survey)}
    single = rules.question_result(by_id["single"], tally)
    assert [(x["id"], x["count"], x["percent"]) for x in single["counts"]] == [
        ("o1", 2, 66.7),
        ("o2", 1, 33.3),
        ("o3", 0, 0.0),
    ]
    multi = rules.question_result(by_id["multi"], tally)
    assert (multi["answered"], multi["skipped"]) == (2, 1)
    assert [x["count"] for x in multi["counts"]] == [1, 2, 0, 0, 0]
    rate = rules.question_result(by_id["rate"], tally)
    assert rate["mean"] == 4.0 and [x["count"] for x in rate["counts"]] == [0, 0, 1, 1, 1]
    grid = rules.question_result(by_id["grid"], tally)
    assert [(r["id"], r["mean"], r["answered"]) for r in grid["rows"]] == [("o1", 4.0, 2), ("o2", 4.0, 2)]
    rank = rules.question_result(by_id["rank"], tally)
    assert [(r["id"], r["points"], r["first"], r["mean_rank"]) for r in rank["ranks"][:2]] == [
        ("o1", 3, 1, 1.5),
        ("o2", 3, 1, 1.5),
    ]
    num = rules.question_result(by_id["num"], tally)
    assert [b["count"] for b in num["bins"]] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert num["mean"] == 66.67
    assert rules.question_result(by_id["long"], tally)["text_count"] == 1


def test_group_counters_keep_only_the_crosstab_kinds(survey):
    inc = rules.increments(
        survey, {"single": "o1", "num": 3, "grid": {"o1": 1, "o2": 1}}, rules.CROSSTAB_KINDS
    )
    assert inc == {"n": 1, "single|n": 1, "single|o1": 1}


def g(key, n):
    return {"key": key, "name": key, "responses": n}


def test_groups_below_the_minimum_merge_into_other():
    out = rules.merge_small([g("a", 10), g("b", 3), g("c", 2), g("d", 0)], 5)
    assert [(x["key"], x["responses"], x["merged"]) for x in out] == [("a", 10, 1), ("other", 5, 2)]


def test_an_other_group_still_too_small_takes_the_smallest_shown_group():
    out = rules.merge_small([g("a", 10), g("b", 6), g("c", 2)], 5)
    assert [(x["key"], x["responses"], x["merged"]) for x in out] == [("a", 10, 1), ("other", 8, 2)]
    assert all(x["responses"] >= 5 for x in out)


def test_no_merge_needed_and_everything_too_small():
    assert [x["key"] for x in rules.merge_small([g("a", 5), g("b", 7)], 5)] == ["b", "a"]
    out = rules.merge_small([g("a", 1), g("b", 2)], 5)
    assert [(x["key"], x["responses"]) for x in out] == [("other", 3)]


def test_merge_folds_the_figures_of_merged_groups():
    groups = [
        {**g("a", 9), "tally": {"n": 9}},
        {**g("b", 1), "tally": {"n": 1, "q|o1": 1}},
        {**g("c", 2), "tally": {"n": 2, "q|o1": 2}},
    ]

    def fold(into, group):
        rules.add(into.setdefault("tally", {}), group["tally"])

    out = rules.merge_small(groups, 3, fold)
    assert out[-1]["tally"] == {"n": 3, "q|o1": 3}
