"""Pure rules of worker surveys (职工问卷调查): the questionnaire as a whole, each question kind's answers,
skip logic, the counters of results and the minimum group size. No nameko, no pymongo.

Sources: issue 15 and DESIGN.md §4 ("anonymous ones store no member id and never report a group below the
minimum size"). The minimum-group rule follows the usual small-cell suppression of survey statistics: a
group with fewer than ``min_group`` responses is merged into 其他/other, and while "other" itself is
non-empty and below the minimum, the smallest shown group joins it too, so no shown group, "other"
included, is smaller than the minimum.

Counters (one flat map per tally document, keys without ``.`` or ``$``, DESIGN.md §6):

- ``n``: responses; ``<q>|n``: responses that answered question ``q``;
- single, multiple: ``<q>|<option>``; rating: ``<q>|<value>`` and ``<q>|sum``;
- matrix: ``<q>|<row>|<value>``, ``<q>|<row>|n``, ``<q>|<row>|sum``;
- ranking: ``<q>|<option>|n`` (ranked it), ``<q>|<option>|r`` (sum of ranks, 1 = first),
  ``<q>|<option>|first``, ``<q>|<option>|pts`` (Borda: k-1 for first … 0 for last of k shown);
- number: ``<q>|b<i>`` (one of :data:`BINS` equal bins over min…max), ``<q>|sum``;
- texts: ``<q>|n`` only (the texts are read from the responses).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from dmlib.contracts.surveys import CHOICE_KINDS, KINDS, SCALES, TEXT_KINDS, TEXT_LIMITS
from dmlib.errors import BadInput
from dmlib.schemas import text_problem

BINS = 10
#: Question kinds that cross-tab by union and department (their counters are kept per group too).
CROSSTAB_KINDS = ("single", "multiple", "rating")
#: Question kinds a skip rule may depend on.
CONDITION_KINDS = ("single", "multiple", "rating")
OTHER = "other"
OTHER_NAME = "其他 / other"


def questions_of(survey: Mapping[str, Any]) -> list[dict]:
    """Every question of a survey, in order across its sections."""
    return [q for s in survey["sections"] for q in s["questions"]]


# ===== the questionnaire ==========================================================================
def check_questionnaire(sections: list[dict]) -> list[dict]:
    """Check a questionnaire as a whole and fill in the defaults of each kind; returns the sections.

    Raises BadInput with field messages keyed ``sections.<i>.questions.<j>.<field>`` for: duplicate
    section or question ids, fields a kind needs (options, scale, rows, min/max), duplicate option or row
    ids, ``min_choices`` > ``max_choices`` or > the options, text ``max_length`` over the kind's limit,
    and skip logic that does not point at an EARLIER single/multiple/rating question and at values it
    offers."""
    errors: dict[str, list[str]] = {}
    seen_sections: set[str] = set()
    earlier: dict[str, dict] = {}

    def err(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    for i, section in enumerate(sections):
        if section["id"] in seen_sections:
            err(f"sections.{i}.id", "duplicate section id / 分节编号重复")
        seen_sections.add(section["id"])
        for j, q in enumerate(section["questions"]):
            at = f"sections.{i}.questions.{j}"
            kind = q["kind"]
            if q["id"] in earlier:
                err(f"{at}.id", "duplicate question id / 题目编号重复")
            if kind in CHOICE_KINDS:
                opts = q.get("options") or []
                if len(opts) < 2 or len(opts) > 50:
                    err(f"{at}.options", "2-50 options / 选项须为2-50个")
                if len({o["id"] for o in opts}) != len(opts):
                    err(f"{at}.options", "duplicate option id / 选项编号重复")
                n = len(opts)
                if kind == "single":
                    q["min_choices"], q["max_choices"] = None, None
                else:
                    lo = q.get("min_choices")
                    hi = q.get("max_choices") or n
                    if lo is None:
                        lo = 1 if q.get("required") else 0
                    if hi > n:
                        err(f"{at}.max_choices", "more than the options / 超过选项数")
                    if lo > hi:
                        err(f"{at}.min_choices", "more than max_choices / 最少选择数大于最多选择数")
                    q["min_choices"], q["max_choices"] = lo, hi
            elif kind in ("rating", "matrix"):
                if q.get("scale") not in SCALES:
                    err(f"{at}.scale", "choose a scale: 1-5 or 0-10 / 请选择量表：1-5 或 0-10")
                if kind == "matrix":
                    rows = q.get("rows") or []
                    if not 1 <= len(rows) <= 30:
                        err(f"{at}.rows", "1-30 rows / 矩阵行须为1-30个")
                    if len({r["id"] for r in rows}) != len(rows):
                        err(f"{at}.rows", "duplicate row id / 行编号重复")
            elif kind in TEXT_KINDS:
                limit = TEXT_LIMITS[kind]
                if (q.get("max_length") or limit) > limit:
                    err(f"{at}.max_length", f"at most {limit} / 不超过{limit}字")
                q["max_length"] = q.get("max_length") or limit
            elif kind == "number":
                lo, hi = q.get("min"), q.get("max")
                if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
                    err(f"{at}.max", "give min < max (they also bound the histogram) / 请给出最小值与最大值")
            cond = q.get("show_if")
            if cond:
                target = earlier.get(cond["question"])
                if target is None:
                    err(f"{at}.show_if", "must name an earlier question / 跳题条件须指向前面的题目")
                elif target["kind"] not in CONDITION_KINDS:
                    err(f"{at}.show_if", "must name a choice or rating question / 跳题条件须为选择题或量表题")
                elif not set(cond["any_of"]) <= set(condition_values(target)):
                    err(f"{at}.show_if", "names a value the question does not offer / 跳题条件的选项不存在")
            earlier[q["id"]] = q
    if len(earlier) > 100:
        errors.setdefault("sections", []).append("at most 100 questions / 题目至多100道")
    if errors:
        raise BadInput("the questionnaire has problems / 问卷有误", fields=errors)
    return sections


def condition_values(question: Mapping[str, Any]) -> list[str]:
    """The values a skip rule may name for ``question``: option ids, or scale values as strings."""
    if question["kind"] == "rating":
        lo, hi = SCALES[question["scale"]]
        return [str(v) for v in range(lo, hi + 1)]
    return [o["id"] for o in question.get("options") or []]


# ===== skip logic =================================================================================
def visible(questions: list[dict], answers: Mapping[str, Any]) -> list[str]:
    """Ids of the questions shown for these answers: a question with ``show_if`` is shown only when its
    condition question is itself shown and was answered with one of ``any_of`` (any of the chosen
    options for a multiple choice)."""
    shown: list[str] = []
    shown_set: set[str] = set()
    for q in questions:
        cond = q.get("show_if")
        if cond:
            if cond["question"] not in shown_set:
                continue
            given = answers.get(cond["question"])
            chosen = (
                {str(v) for v in given}
                if isinstance(given, list)
                else {str(given)}
                if given is not None
                else set()
            )
            if not chosen & set(cond["any_of"]):
                continue
        shown.append(q["id"])
        shown_set.add(q["id"])
    return shown


# ===== one answer =================================================================================
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_answer(q: Mapping[str, Any], value: Any) -> tuple[Any, str | None]:
    """``(clean value, None)`` or ``(None, message)`` for one answer to question ``q``. An empty answer
    (None, "", [], {}) is ``(None, None)``: not answered."""
    kind = q["kind"]
    if value is None or value == "" or value == [] or value == {}:
        return None, None
    if kind == "single":
        ids = {o["id"] for o in q["options"]}
        if not isinstance(value, str) or value not in ids:
            return None, "not one of the options / 不是可选的选项"
        return value, None
    if kind in ("multiple", "ranking"):
        ids = {o["id"] for o in q["options"]}
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, "a list of options / 须为选项列表"
        if any(v not in ids for v in value):
            return None, "not one of the options / 不是可选的选项"
        if len(set(value)) != len(value):
            return None, "an option twice / 选项重复"
        if kind == "multiple":
            if len(value) > q["max_choices"]:
                return None, f"at most {q['max_choices']} choices / 最多选{q['max_choices']}项"
            if len(value) < (q["min_choices"] or 0):
                return None, f"at least {q['min_choices']} choices / 至少选{q['min_choices']}项"
        else:
            want = q.get("max_choices") or len(ids)
            if len(value) != want:
                return None, f"rank {want} options / 请排出{want}项的顺序"
        return list(value), None
    if kind == "rating":
        lo, hi = SCALES[q["scale"]]
        if not _is_int(value) or not lo <= value <= hi:
            return None, f"a whole number {lo}-{hi} / 须为{lo}-{hi}的整数"
        return value, None
    if kind == "matrix":
        lo, hi = SCALES[q["scale"]]
        rows = {r["id"] for r in q["rows"]}
        if not isinstance(value, dict):
            return None, "a rating per row / 须逐行评分"
        if any(k not in rows for k in value):
            return None, "not one of the rows / 不是矩阵中的行"
        if any(not _is_int(v) or not lo <= v <= hi for v in value.values()):
            return None, f"whole numbers {lo}-{hi} / 须为{lo}-{hi}的整数"
        if q.get("required") and len(value) != len(rows):
            return None, "rate every row / 请为每一行评分"
        return {r["id"]: value[r["id"]] for r in q["rows"] if r["id"] in value}, None
    if kind in TEXT_KINDS:
        if not isinstance(value, str):
            return None, "a text / 须为文字"
        text = value.strip()
        if len(text) > q["max_length"]:
            return None, f"at most {q['max_length']} characters / 不超过{q['max_length']}字"
        problem = text_problem(text, multiline=kind == "long_text")
        if problem:
            return None, problem
        return (text or None), None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None, "a number / 须为数字"
        if q.get("integer") and value != int(value):
            return None, "a whole number / 须为整数"
        if not q["min"] <= value <= q["max"]:
            return None, f"between {q['min']:g} and {q['max']:g} / 须在{q['min']:g}与{q['max']:g}之间"
        return (int(value) if q.get("integer") else value), None
    raise AssertionError(f"unknown kind {kind}")  # the contract allows only KINDS


def check_answers(survey: Mapping[str, Any], answers: Mapping[str, Any], complete: bool) -> dict:
    """The clean answers of a draft (``complete`` false: partial allowed) or a submission (every required
    question shown answered; no answer to a hidden one). Raises BadInput with a message per bad answer
    under ``answers.<question id>``; nothing is stored then."""
    questions = questions_of(survey)
    by_id = {q["id"]: q for q in questions}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for qid, value in answers.items():
        q = by_id.get(qid)
        if q is None:
            errors[f"answers.{qid}"] = ["no such question / 没有这道题"]
            continue
        cleaned, problem = check_answer(q, value)
        if problem:
            errors[f"answers.{qid}"] = [problem]
        elif cleaned is not None:
            clean[qid] = cleaned
    if not errors:
        shown = set(visible(questions, clean))
        for qid in list(clean):
            if qid not in shown:
                if complete:
                    errors[f"answers.{qid}"] = [
                        "this question is skipped by your answers / 按您的回答此题应跳过"
                    ]
                else:
                    del clean[qid]  # a draft keeps what is shown now
        if complete:
            for q in questions:
                if q["id"] in shown and q.get("required") and q["id"] not in clean:
                    errors[f"answers.{q['id']}"] = ["required / 此题必答"]
    if errors:
        raise BadInput("some answers are not valid / 部分回答有误", fields=errors)
    return clean


def missing(survey: Mapping[str, Any], answers: Mapping[str, Any]) -> list[str]:
    """Required questions shown for ``answers`` but not answered (a draft's to-do list)."""
    questions = questions_of(survey)
    shown = set(visible(questions, answers))
    return [q["id"] for q in questions if q["id"] in shown and q.get("required") and q["id"] not in answers]


# ===== counting ===================================================================================
def bin_of(q: Mapping[str, Any], value: float) -> int:
    """The histogram bin (0 … BINS-1) of a number answer; the maximum falls in the last bin."""
    lo, hi = q["min"], q["max"]
    return min(BINS - 1, int((value - lo) / (hi - lo) * BINS))


def increments(
    survey: Mapping[str, Any], answers: Mapping[str, Any], kinds: Iterable[str] = tuple(KINDS)
) -> dict:
    """The counter increments of one response (see the module docstring), for the question kinds in
    ``kinds`` (the per-group tallies keep only :data:`CROSSTAB_KINDS`). ``n`` is always 1."""
    kinds = set(kinds)
    inc: dict[str, float] = {"n": 1}
    for q in questions_of(survey):
        qid, kind = q["id"], q["kind"]
        if kind not in kinds or qid not in answers:
            continue
        value = answers[qid]
        inc[f"{qid}|n"] = 1
        if kind == "single":
            inc[f"{qid}|{value}"] = 1
        elif kind == "multiple":
            for v in value:
                inc[f"{qid}|{v}"] = 1
        elif kind == "rating":
            inc[f"{qid}|{value}"] = 1
            inc[f"{qid}|sum"] = value
        elif kind == "matrix":
            for row, v in value.items():
                inc[f"{qid}|{row}|{v}"] = 1
                inc[f"{qid}|{row}|n"] = 1
                inc[f"{qid}|{row}|sum"] = v
        elif kind == "ranking":
            k = len(value)
            for rank, v in enumerate(value, start=1):
                inc[f"{qid}|{v}|n"] = 1
                inc[f"{qid}|{v}|r"] = rank
                inc[f"{qid}|{v}|pts"] = k - rank
                if rank == 1:
                    inc[f"{qid}|{v}|first"] = 1
        elif kind == "number":
            inc[f"{qid}|b{bin_of(q, value)}"] = 1
            inc[f"{qid}|sum"] = value
    return inc


def add(total: dict, inc: Mapping[str, float]) -> dict:
    """``total`` with ``inc`` added in place (the fakes' and the recount's ``$inc``)."""
    for k, v in inc.items():
        total[k] = total.get(k, 0) + v
    return total


def _pct(count: float, of: float) -> float:
    return round(100.0 * count / of, 1) if of else 0.0


def _mean(total: float, n: float) -> float | None:
    return round(total / n, 2) if n else None


def _scale_counts(counter: Mapping[str, float], prefix: str, scale: str, of: float) -> list[dict]:
    lo, hi = SCALES[scale]
    return [
        {
            "id": str(v),
            "label": str(v),
            "count": int(c := counter.get(f"{prefix}|{v}", 0)),
            "percent": _pct(c, of),
        }
        for v in range(lo, hi + 1)
    ]


def question_result(
    q: Mapping[str, Any], counter: Mapping[str, float], text_count: int | None = None
) -> dict:
    """Results of one question from a tally (:class:`dmlib.contracts.surveys.QuestionResultOut`)."""
    qid, kind = q["id"], q["kind"]
    responses = int(counter.get("n", 0))
    answered = int(counter.get(f"{qid}|n", 0))
    out: dict[str, Any] = {
        "id": qid,
        "kind": kind,
        "title": q["title"],
        "answered": answered,
        "skipped": responses - answered,
        "counts": [],
        "mean": None,
        "rows": [],
        "ranks": [],
        "bins": [],
        "min_seen": counter.get(f"{qid}|min"),
        "max_seen": counter.get(f"{qid}|max"),
        "text_count": answered if kind in TEXT_KINDS else 0,
    }
    if kind in ("single", "multiple"):
        out["counts"] = [
            {
                "id": o["id"],
                "label": o["label"],
                "count": int(c := counter.get(f"{qid}|{o['id']}", 0)),
                "percent": _pct(c, answered),
            }
            for o in q["options"]
        ]
    elif kind == "rating":
        out["counts"] = _scale_counts(counter, qid, q["scale"], answered)
        out["mean"] = _mean(counter.get(f"{qid}|sum", 0), answered)
    elif kind == "matrix":
        for r in q["rows"]:
            n = counter.get(f"{qid}|{r['id']}|n", 0)
            out["rows"].append(
                {
                    "id": r["id"],
                    "label": r["label"],
                    "answered": int(n),
                    "counts": _scale_counts(counter, f"{qid}|{r['id']}", q["scale"], n),
                    "mean": _mean(counter.get(f"{qid}|{r['id']}|sum", 0), n),
                }
            )
    elif kind == "ranking":
        ranks = []
        for o in q["options"]:
            n = counter.get(f"{qid}|{o['id']}|n", 0)
            ranks.append(
                {
                    "id": o["id"],
                    "label": o["label"],
                    "ranked": int(n),
                    "mean_rank": _mean(counter.get(f"{qid}|{o['id']}|r", 0), n),
                    "first": int(counter.get(f"{qid}|{o['id']}|first", 0)),
                    "points": int(counter.get(f"{qid}|{o['id']}|pts", 0)),
                }
            )
        out["ranks"] = sorted(ranks, key=lambda r: (-r["points"], r["id"]))
    elif kind == "number":
        lo, hi = q["min"], q["max"]
        width = (hi - lo) / BINS
        out["bins"] = [
            {"low": lo + i * width, "high": lo + (i + 1) * width, "count": int(counter.get(f"{qid}|b{i}", 0))}
            for i in range(BINS)
        ]
        out["mean"] = _mean(counter.get(f"{qid}|sum", 0), answered)
    return out


# ===== minimum group size =========================================================================
def merge_small(groups: list[dict], min_group: int, fold: Any = None) -> list[dict]:
    """Groups (each ``{"key", "name", "responses", …}``) with every group below ``min_group`` merged into
    one ``other`` group; while ``other`` is non-empty but still below the minimum, the smallest shown
    group joins it. Groups with no responses are dropped. ``fold(into, group)`` adds a group's figures to
    ``other`` (default: responses only). Returns the shown groups, largest first, ``other`` last (with
    ``merged``: how many groups it holds). Every returned group has ≥ ``min_group`` responses, except
    when all responses together are fewer (then the single ``other`` group is returned for the caller to
    withhold)."""
    live = sorted((g for g in groups if g["responses"] > 0), key=lambda g: (-g["responses"], g["key"]))
    shown = [g for g in live if g["responses"] >= min_group]
    small = [g for g in live if g["responses"] < min_group]
    while small and sum(g["responses"] for g in small) < min_group and shown:
        small.append(shown.pop())  # the smallest shown group joins "other"
    out = [{**g, "merged": 1} for g in shown]
    if small:
        other: dict[str, Any] = {"key": OTHER, "name": OTHER_NAME, "responses": 0, "merged": 0}
        for g in small:
            other["responses"] += g["responses"]
            other["merged"] += 1
            if fold is not None:
                fold(other, g)
        out.append(other)
    return out
