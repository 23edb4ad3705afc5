"""HTTP API and pages of worker surveys (职工问卷调查, issue 15): the gateway side of the ``surveys`` service.

Admins build a questionnaire one question at a time (every kind, required, skip logic, sections), start
from a template, choose the audience, window, anonymity and minimum group size, open and close it (with
a confirmation that states the effect), remind those who have not answered, read the results with charts,
free texts, cross-tabs and live participation, and export XLSX and CSV. Members see "surveys to answer"
and answer on a phone: the page saves a draft (by a button without script, on every change with
``static/surveys.js``), resumes from it after a reload, and shows only the questions the skip logic shows
(the service decides which: ``MyResponseOut.visible``).

Every right and every rule is the surveys service's (``services/surveys/policy.py``, ``rules.py``); the
gateway shapes forms into the contract (:mod:`dmlib.contracts.surveys`) and results into pages and files.
"""

from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Font

from dmlib.contracts import surveys as c
from dmlib.errors import BadInput
from dmlib.exports import csv_bytes, export_stamp, xlsx_append

from .http import api, json_response, page
from .pages import download, require_confirmed
from .routing import Router

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Fields of a survey answer (``SurveyOut``) that the update contract (``SurveyUpdateIn``) takes back.
SETTINGS = (
    "union_id",
    "title",
    "description",
    "language",
    "audience",
    "opens_at",
    "closes_at",
    "anonymous",
    "min_group",
)
QUESTION_FIELDS = tuple(c.QuestionIn().fields)
#: Colours of a rating scale from lowest to highest (stacked bars of a matrix, histogram of a rating).
SCALE_COLORS = ["#98a2b3", "#c4cad4", "#f5a623", "#e0533d", "#c8102e"]
RAW_PAGE = 2000
#: Question kinds in English (the catalogue gives the Chinese, the contract's ``KINDS``).
KIND_NAMES = {
    "single": "Single choice",
    "multiple": "Multiple choice",
    "rating": "Rating scale",
    "ranking": "Ranking",
    "matrix": "Matrix",
    "short_text": "Short text",
    "long_text": "Long text",
    "number": "Number",
}
#: The error codes of the one error shape (services/gateway/http.py ``error_payload``) of the refusals a
#: form shows itself, for the answering page's background save.
REFUSAL_CODES = {400: "bad_input", 409: "conflict", 413: "payload_too_large"}
#: A refused response's ``answers`` messages are spread per question id (pages.form_errors ``expand``).
ANSWERS = ("answers",)
#: Sheet names: Excel allows 31 characters and none of these.
SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


# ----- the questionnaire as the builder edits it (pure) ------------------------------------------------
def survey_update(survey: dict) -> dict:
    """A survey as read (``SurveyOut``) turned into the body of ``update_survey`` (``SurveyUpdateIn``):
    the settings, the sections with their questions (only the fields ``QuestionIn`` takes, absent ones
    left out) and the ``version`` read (the service refuses a stale one with 409)."""
    body = {k: survey.get(k) for k in SETTINGS}
    body["audience"] = {k: v for k, v in (survey.get("audience") or {}).items() if v not in (None, [])}
    body["sections"] = [
        {
            "id": s["id"],
            "title": s.get("title") or "",
            "description": s.get("description") or "",
            "questions": [clean_question(q) for q in s["questions"]],
        }
        for s in survey["sections"]
    ]
    body["version"] = survey["version"]
    return {k: v for k, v in body.items() if v is not None}


def clean_question(q: dict) -> dict:
    """A question (``QuestionOut``) as ``QuestionIn``: known fields only, empty ones left out."""
    return {k: q[k] for k in QUESTION_FIELDS if q.get(k) not in (None, [], "")}


def all_questions(survey: dict) -> list[dict]:
    """Every question of the survey in order, each with ``section`` (its section's id) and ``no`` (1…)."""
    out = []
    for s in survey.get("sections") or ():
        for q in s["questions"]:
            out.append({**q, "section": s["id"], "no": len(out) + 1})
    return out


def next_id(prefix: str, taken) -> str:
    """``<prefix><n>`` with the smallest n ≥ 1 not in ``taken``."""
    taken = set(taken)
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _number(value: str | None):
    """A form's number: int, else float, else the text itself (the contract answers with a field
    message), None when blank."""
    value = (value or "").strip()
    if not value:
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _labelled(lines: list[str], old: list[dict], prefix: str) -> list[dict]:
    """Options (or matrix rows) from one label per line: a label kept from ``old`` keeps its id (skip
    logic and counts refer to it), a new one gets the next free ``<prefix>n``."""
    by_label = {o["label"]: o["id"] for o in old}
    taken = set(by_label.values())
    out = []
    for label in lines:
        oid = by_label.pop(label, None) or next_id(prefix, taken)
        taken.add(oid)
        out.append({"id": oid, "label": label})
    return out


def question_from_form(form, old: dict | None, taken_ids) -> dict:
    """A question (``QuestionIn``) from the builder's question form. ``old``: the question being edited
    (its id and option ids are kept), None for a new one (id ``q<n>``). Options and matrix rows are
    one per line; skip logic is ``show_if_question`` plus the values ticked in ``show_if_values`` (option
    ids, or scale values of a rating). Fields that do not apply to the kind are left out; what is wrong
    is the contract's to say (400 with ``sections.<i>.questions.<j>.<field>`` messages)."""
    old = old or {}
    kind = form.get("kind", "").strip()
    q: dict = {
        "id": old.get("id") or next_id("q", taken_ids),
        "kind": kind,
        "title": form.get("title", "").strip(),
        "required": form.get("required") == "on",
    }
    if form.get("help", "").strip():
        q["help"] = form["help"].strip()
    if kind in c.CHOICE_KINDS:
        q["options"] = _labelled(_lines(form.get("options")), old.get("options") or [], "o")
        for key in ("min_choices", "max_choices"):
            if _number(form.get(key)) is not None:
                q[key] = _number(form.get(key))
    if kind in ("rating", "matrix"):
        q["scale"] = form.get("scale") or "1-5"
        for key in ("low_label", "high_label"):
            if form.get(key, "").strip():
                q[key] = form[key].strip()
    if kind == "matrix":
        q["rows"] = _labelled(_lines(form.get("rows")), old.get("rows") or [], "r")
    if kind in c.TEXT_KINDS and _number(form.get("max_length")) is not None:
        q["max_length"] = _number(form.get("max_length"))
    if kind == "number":
        q["min"], q["max"] = _number(form.get("min")), _number(form.get("max"))
        q["integer"] = form.get("integer") == "on"
        if form.get("unit", "").strip():
            q["unit"] = form["unit"].strip()
    target = form.get("show_if_question", "").strip()
    if target:
        q["show_if"] = {"question": target, "any_of": form.getlist("show_if_values")}
    return q


def put_question(survey: dict, section_id: str, question: dict) -> dict:
    """``update_survey`` body with ``question`` replacing the one of its id, or appended to
    ``section_id``."""
    body = survey_update(survey)
    for s in body["sections"]:
        for i, q in enumerate(s["questions"]):
            if q["id"] == question["id"]:
                s["questions"][i] = question
                return body
    section = next((s for s in body["sections"] if s["id"] == section_id), None)
    if section is None:
        raise BadInput("no such section / 没有这个部分", fields={"section": ["unknown section"]})
    section["questions"].append(question)
    return body


def edit_question(survey: dict, question_id: str, action: str) -> dict:
    """``update_survey`` body with one question deleted (``delete``) or moved one place (``up``,
    ``down``; across sections at a section's edge). 404-like refusals are 400 on the field."""
    body = survey_update(survey)
    flat = [(s, q) for s in body["sections"] for q in s["questions"]]
    at = next((i for i, (_s, q) in enumerate(flat) if q["id"] == question_id), None)
    if at is None or action not in ("delete", "up", "down"):
        raise BadInput("unknown question or action / 未知的题目或操作", fields={"question": ["unknown"]})
    section, question = flat[at]
    if action == "delete":
        section["questions"].remove(question)
        body["sections"] = [s for s in body["sections"] if s["questions"]] or body["sections"]
        return body
    other = at - 1 if action == "up" else at + 1
    if not 0 <= other < len(flat):
        return body
    other_section, other_question = flat[other]
    if other_section is section:
        qs = section["questions"]
        i, j = qs.index(question), qs.index(other_question)
        qs[i], qs[j] = qs[j], qs[i]
    else:  # over the section's edge: into the neighbouring section
        section["questions"].remove(question)
        if action == "up":
            other_section["questions"].append(question)
        else:
            other_section["questions"].insert(0, question)
        body["sections"] = [s for s in body["sections"] if s["questions"]]
    return body


def add_section(survey: dict, title: str, description: str, question: dict) -> dict:
    """``update_survey`` body with a new section (its first question given: a section has at least one)."""
    body = survey_update(survey)
    sid = next_id("s", [s["id"] for s in body["sections"]])
    body["sections"].append({"id": sid, "title": title, "description": description, "questions": [question]})
    return body


def beijing(value: str | None) -> str | None:
    """A ``datetime-local`` value of the form (Beijing time) as ISO 8601 with its offset; None if blank."""
    value = (value or "").strip()
    if not value:
        return None
    return value if value.endswith(("Z", "+08:00")) or "+" in value[10:] else f"{value}+08:00"


def local_input(value: str | None) -> str:
    """An ISO 8601 time as the ``datetime-local`` value of a form in Beijing time ("" if none)."""
    if not value:
        return ""
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def settings_from_form(form, survey: dict | None = None) -> dict:
    """The settings of a survey from the builder's settings form: title, description, audience
    (``audience_kind`` with the ticked ``union_ids`` / ``department_ids``, or ``term_id``), window
    (Beijing time), anonymity and minimum group size."""
    kind = form.get("audience_kind", "unions")
    audience: dict = {"kind": kind}
    if kind == "unions":
        audience["union_ids"] = form.getlist("union_ids")
    elif kind == "departments":
        audience["department_ids"] = form.getlist("department_ids")
    else:
        audience["term_id"] = form.get("term_id", "").strip() or None
    out = {
        "title": form.get("title", "").strip(),
        "description": form.get("description", "").strip(),
        "audience": audience,
        "opens_at": beijing(form.get("opens_at")),
        "closes_at": beijing(form.get("closes_at")),
        "anonymous": form.get("anonymous") == "on",
        "min_group": _number(form.get("min_group")),
    }
    if survey is None:
        out["union_id"] = form.get("union_id", "")
    return {k: v for k, v in out.items() if v is not None or k in ("opens_at", "closes_at")}


# ----- answers: the answering form into the contract (pure) ---------------------------------------------
def answers_from_form(survey: dict, form) -> dict:
    """``{question id: value}`` (``ResponseIn.answers``) from the answering form; blank questions left
    out. Field names: ``q_<id>`` (single, rating, texts, number; multiple: one per ticked option),
    ``q_<id>__<row>`` (a matrix row's value) and ``q_<id>__<option>`` (a ranking's place, 1…). Values
    are passed as given (numbers parsed): the service checks them against the question."""
    answers: dict = {}
    for q in all_questions(survey):
        name, kind = f"q_{q['id']}", q["kind"]
        if kind == "multiple":
            values = form.getlist(name)
            if values:
                answers[q["id"]] = values
        elif kind == "matrix":
            rows = {r["id"]: _number(form.get(f"{name}__{r['id']}")) for r in q.get("rows") or ()}
            rows = {k: v for k, v in rows.items() if v is not None}
            if rows:
                answers[q["id"]] = rows
        elif kind == "ranking":
            places = {o["id"]: _number(form.get(f"{name}__{o['id']}")) for o in q.get("options") or ()}
            placed = [(p, oid) for oid, p in places.items() if isinstance(p, int | float)]
            if placed:
                answers[q["id"]] = [oid for _p, oid in sorted(placed)]
        elif kind in ("rating", "number"):
            value = _number(form.get(name))
            if value is not None:
                answers[q["id"]] = value
        else:
            value = form.get(name, "")
            if value.strip():
                answers[q["id"]] = value.strip() if kind != "long_text" else value
    return answers


def question_errors(errors: dict[str, str]) -> dict[str, str]:
    """A refused response's form errors keyed by question id: the service names each bad answer
    ``answers.<question id>`` (and a nested ``answers`` dict is spread by ``expand``); the rest as
    they are (``form`` at the top)."""
    return {k.removeprefix("answers."): v for k, v in errors.items()}


# ----- results: charts and exports (pure) ----------------------------------------------------------------
def scale_values(scale: str | None) -> list[int]:
    low, high = c.SCALES.get(scale or "1-5", (1, 5))
    return list(range(low, high + 1))


def scale_color(i: int, n: int) -> str:
    """The colour of the i-th of n scale values, low grey to high red."""
    return SCALE_COLORS[round(i * (len(SCALE_COLORS) - 1) / max(n - 1, 1))]


def chart_of(question: dict, result: dict) -> dict:
    """What the results page draws for one question: ``{"kind": "bars" | "stacked" | "histogram" |
    "ranking" | "texts", ...}`` with rows in the shape of ``templates/charts.html``."""
    kind = result["kind"]
    if kind in ("single", "multiple", "rating"):
        rows = [
            {"label": x["label"], "value": x["count"], "text": f"{x['count']} · {x['percent']:g}%"}
            for x in result.get("counts") or ()
        ]
        return {"kind": "bars", "rows": rows}
    if kind == "matrix":
        values = scale_values(question.get("scale"))
        legend = [{"label": str(v), "color": scale_color(i, len(values))} for i, v in enumerate(values)]
        rows = []
        for row in result.get("rows") or ():
            counts = {x["id"]: x["count"] for x in row.get("counts") or ()}
            parts = [
                {"label": str(v), "value": counts.get(str(v), 0), "color": scale_color(i, len(values))}
                for i, v in enumerate(values)
            ]
            rows.append(
                {"label": row["label"], "parts": parts, "mean": row.get("mean"), "n": row["answered"]}
            )
        return {"kind": "stacked", "rows": rows, "legend": legend}
    if kind == "number":
        cols = [
            {"label": f"{b['low']:g}–{b['high']:g}", "value": b["count"]} for b in result.get("bins") or ()
        ]
        return {"kind": "histogram", "cols": cols}
    if kind == "ranking":
        rows = [
            {"label": r["label"], "value": r["points"],
             "text": f"{r['points']} · {r['mean_rank']:.2f}" if r.get("mean_rank") is not None else str(r["points"])}
            for r in sorted(result.get("ranks") or (), key=lambda r: -r["points"])
        ]  # fmt: skip
        return {"kind": "ranking", "rows": rows}
    return {"kind": "texts", "count": result.get("text_count") or 0}


def answer_text(question: dict, value) -> str | int | float | None:
    """One raw answer as a cell: option labels for choices (joined with "; ", a ranking with " > "),
    the value itself otherwise. Matrices are spread by :func:`raw_columns`."""
    if value is None:
        return None
    labels = {o["id"]: o["label"] for o in question.get("options") or ()}
    kind = question["kind"]
    if kind == "single":
        return labels.get(value, value)
    if kind == "multiple":
        return "; ".join(labels.get(v, v) for v in value)
    if kind == "ranking":
        return " > ".join(labels.get(v, v) for v in value)
    return value


def raw_columns(survey: dict, named: bool) -> list[tuple[str, callable]]:
    """The columns of the raw answers: (header, row → cell). Groups (union, department: "其他 / other"
    for a group below the minimum, as the service names it), member id and name for named surveys only,
    then one column per question (a matrix: one per row)."""
    cols: list[tuple[str, callable]] = [
        ("No. / 序号", lambda r: r["no"]),
        ("Day / 日期", lambda r: r["submitted_on"]),
        ("Union / 单位", lambda r: r["group_union"]),
        ("Department / 部门", lambda r: r["group_department"]),
    ]
    if named:
        cols += [
            ("Member / 会员编号", lambda r: r.get("member_id")),
            ("Name / 姓名", lambda r: r.get("name")),
        ]
    for q in all_questions(survey):
        if q["kind"] == "matrix":
            for row in q.get("rows") or ():
                cols.append(
                    (
                        f"Q{q['no']} {q['title']} · {row['label']}",
                        lambda r, q=q, row=row: (r["answers"].get(q["id"]) or {}).get(row["id"]),
                    )
                )
        else:
            cols.append(
                (f"Q{q['no']} {q['title']}", lambda r, q=q: answer_text(q, r["answers"].get(q["id"])))
            )
    return cols


def raw_rows(pages) -> list[dict]:
    rows: list[dict] = []
    for p in pages:
        rows.extend(p["rows"])
    return rows


def export_csv(survey: dict, rows: list[dict]) -> bytes:
    """The raw answers as CSV (UTF-8 with BOM, cells through :func:`dmlib.exports.csv_bytes`): one line
    per response."""
    cols = raw_columns(survey, not survey["anonymous"])
    return csv_bytes([[h for h, _f in cols], *([f(r) for _h, f in cols] for r in rows)])


def sheet_name(no: int, title: str) -> str:
    return SHEET_BAD.sub("_", f"Q{no} {title}")[:31]


def export_xlsx(survey: dict, results: dict, rows: list[dict], crosstabs: dict | None = None) -> bytes:
    """The survey as an XLSX workbook: a summary sheet, one sheet per question (counts and percentages;
    matrix rows × scale; ranking points; number bins; text answers listed), and the raw answers (named
    surveys add member id and name). ``crosstabs``: ``{question id: CrosstabOut by department}`` added
    under the question's counts (groups below the minimum merged into 其他/other by the service)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 Summary"
    xlsx_append(ws, [survey["title"]])
    ws["A1"].font = Font(bold=True, size=14)
    xlsx_append(ws, ["Responses / 答卷", results["responses"], "Eligible / 应答", results["eligible"]])
    xlsx_append(ws, ["Anonymous / 匿名", "yes / 是" if survey["anonymous"] else "no / 否",
                     "Minimum group / 最小分组", survey["min_group"]])  # fmt: skip
    xlsx_append(ws, ["Exported / 导出", export_stamp()])
    if results.get("withheld"):
        xlsx_append(ws, ["Withheld: fewer responses than the minimum group / 答卷少于最小分组，不显示结果"])
    by_id = {r["id"]: r for r in results.get("questions") or ()}
    texts = {}
    for r in rows:
        for qid, v in r["answers"].items():
            if isinstance(v, str):
                texts.setdefault(qid, []).append(v)
    for q in all_questions(survey):
        qs = wb.create_sheet(sheet_name(q["no"], q["title"]))
        xlsx_append(qs, [f"Q{q['no']}. {q['title']}"])
        qs["A1"].font = Font(bold=True)
        res = by_id.get(q["id"])
        if res is None:
            continue
        xlsx_append(qs, ["Answered / 作答", res["answered"], "Skipped / 未答", res["skipped"]])
        kind = q["kind"]
        if kind in ("single", "multiple", "rating"):
            xlsx_append(qs, ["Option / 选项", "Count / 人数", "Percent / 百分比"])
            for x in res["counts"]:
                xlsx_append(qs, [x["label"], x["count"], x["percent"]])
            if res.get("mean") is not None:
                xlsx_append(qs, ["Mean / 平均", res["mean"]])
            tab = (crosstabs or {}).get(q["id"])
            if tab:
                qs.append([])
                labels = [x["label"] for x in res["counts"]]
                xlsx_append(qs, ["By department / 按部门", "Responses / 答卷", *labels])
                for g in tab["groups"]:
                    counts = {x["label"]: x["count"] for x in g["counts"]}
                    xlsx_append(qs, [g["name"], g["responses"], *(counts.get(lb, 0) for lb in labels)])
        elif kind == "matrix":
            values = scale_values(q.get("scale"))
            xlsx_append(qs, ["Row / 行", "Answered / 作答", *map(str, values), "Mean / 平均"])
            for row in res["rows"]:
                counts = {x["id"]: x["count"] for x in row["counts"]}
                xlsx_append(
                    qs, [row["label"], row["answered"], *(counts.get(str(v), 0) for v in values), row["mean"]]
                )
        elif kind == "ranking":
            xlsx_append(
                qs,
                [
                    "Option / 选项",
                    "Points / 得分",
                    "Mean rank / 平均名次",
                    "First / 第一",
                    "Ranked / 排序人数",
                ],
            )
            for r in res["ranks"]:
                xlsx_append(qs, [r["label"], r["points"], r["mean_rank"], r["first"], r["ranked"]])
        elif kind == "number":
            xlsx_append(qs, ["From / 自", "To / 至", "Count / 人数"])
            for b in res["bins"]:
                xlsx_append(qs, [b["low"], b["high"], b["count"]])
            xlsx_append(
                qs, ["Mean / 平均", res["mean"], "Min / 最小", res["min_seen"], "Max / 最大", res["max_seen"]]
            )
        else:
            xlsx_append(qs, ["Answers / 回答"])
            for text in texts.get(q["id"], []):
                xlsx_append(qs, [text])
    raw = wb.create_sheet("原始答卷 Raw answers")
    cols = raw_columns(survey, not survey["anonymous"])
    xlsx_append(raw, [h for h, _f in cols])
    for r in rows:
        xlsx_append(raw, [f(r) for _h, f in cols])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _query(request, *keys: str) -> dict:
    """The given query-string keys that are present (the contract's schemas check them)."""
    return {k: request.args[k] for k in keys if request.args.get(k) not in (None, "")}


class SurveysRoutes(Router):
    uses = ("surveys_rpc", "members_rpc")

    # ===== API: templates and building ================================================================
    @api("GET", "/api/v1/survey-templates", response=[c.TemplateOut], tags=["surveys"])
    def api_survey_templates(self, request):
        """The questionnaires to start from (职工需求调查 ``needs``, 职工满意度调查 ``satisfaction``,
        食堂满意度调查 ``canteen``); ``language`` = zh (default) or en. 400 unknown language."""
        return self.surveys_rpc.list_templates(request.args.get("language", "zh"))

    @api("GET", "/api/v1/survey-templates/<key>", tags=["surveys"])
    def api_survey_template(self, request, key):
        """One template as ``{title, description, language, sections}``: add ``union_id`` and
        ``audience`` and POST it to /api/v1/surveys. 404 unknown key, 400 unknown language."""
        return self.surveys_rpc.get_template(key, request.args.get("language", "zh"))

    @api("POST", "/api/v1/surveys", body=c.SurveyIn, response=c.SurveyOut, status=201, tags=["surveys"])
    def api_create_survey(self, request, body):
        """Create a survey (draft) run by ``union_id``: admins of that union or above, every union,
        department or term of the audience in their care (403 otherwise). 400 with field messages for a
        bad questionnaire (``sections.<i>.questions.<j>.<field>``: unknown kind, options, skip logic
        that does not point at an earlier single/multiple/rating question). Nothing is stored on a 400."""
        return self.surveys_rpc.create_survey(body)

    @api(
        "GET",
        "/api/v1/unions/<union_id>/surveys",
        query=c.SurveyListIn,
        response=c.SurveyPageOut,
        tags=["surveys"],
    )
    def api_union_surveys(self, request, union_id):
        """The surveys run by a union, newest first (``status``, ``page``, ``per_page`` ≤ 200): its
        admins and those above (403 otherwise)."""
        return self.surveys_rpc.list_surveys(union_id, _query(request, "status", "page", "per_page"))

    @api("GET", "/api/v1/surveys/mine", response=[c.SurveySummaryOut], tags=["surveys"])
    def api_my_surveys(self, request):
        """Surveys to answer: the open (and recently closed) surveys whose audience holds the caller,
        with ``mine`` = not_started | draft | submitted."""
        return self.surveys_rpc.my_surveys()

    @api("GET", "/api/v1/surveys/<survey_id>", response=c.SurveyOut, tags=["surveys"])
    def api_survey(self, request, survey_id):
        """A survey with its questionnaire: its admins (any status); the members of its audience once it
        is open or closed. 403 others, 404 unknown."""
        return self.surveys_rpc.get_survey(survey_id)

    @api("PUT", "/api/v1/surveys/<survey_id>", body=c.SurveyUpdateIn, response=c.SurveyOut, tags=["surveys"])
    def api_update_survey(self, request, survey_id, body):
        """Replace a draft's questionnaire and settings with the ``version`` read. 409 when it is no
        longer a draft or was changed meanwhile; 400 as for creating."""
        return self.surveys_rpc.update_survey(survey_id, body)

    @api("POST", "/api/v1/surveys/<survey_id>/open", response=c.SurveyOut, tags=["surveys"])
    def api_open_survey(self, request, survey_id):
        """Open a draft now: the audience is fixed (``eligible``) and notified; answers are taken until
        it is closed (by hand or at ``closes_at``). 409 not a draft, empty audience, or past ``closes_at``."""
        return self.surveys_rpc.open_survey(survey_id)

    @api("POST", "/api/v1/surveys/<survey_id>/close", response=c.SurveyOut, tags=["surveys"])
    def api_close_survey(self, request, survey_id):
        """Close an open survey now: no more answers or drafts; results stay. 409 not open."""
        return self.surveys_rpc.close_survey(survey_id)

    @api("POST", "/api/v1/surveys/<survey_id>/reminders", tags=["surveys"])
    def api_survey_remind(self, request, survey_id):
        """Remind the members of the audience who have not submitted (they learn nothing about anyone's
        answers): ``{"survey_id", "reminder", "pending"}``. 409 not open."""
        return self.surveys_rpc.remind(survey_id)

    # ===== API: answering ===========================================================================
    @api("GET", "/api/v1/surveys/<survey_id>/response", response=c.MyResponseOut, tags=["surveys"])
    def api_my_survey_response(self, request, survey_id):
        """The caller's draft (to resume) or submitted response, with ``visible`` (questions the skip
        logic shows now) and ``missing`` (required ones shown but unanswered). 403 not in the audience."""
        return self.surveys_rpc.my_response(survey_id)

    @api(
        "PUT",
        "/api/v1/surveys/<survey_id>/response/draft",
        body=c.ResponseIn,
        response=c.MyResponseOut,
        tags=["surveys"],
    )
    def api_survey_save_draft(self, request, survey_id, body):
        """Save answers so far (``{"answers": {question id: value}}``, partial; replaces the draft). 400
        with ``answers.<question id>`` messages (nothing saved); 409 closed or already submitted."""
        return self.surveys_rpc.save_draft(survey_id, body)

    @api(
        "POST",
        "/api/v1/surveys/<survey_id>/response",
        body=c.ResponseIn,
        response=c.MyResponseOut,
        status=201,
        tags=["surveys"],
    )
    def api_survey_submit(self, request, survey_id, body):
        """Submit one's response (shapes per kind: ``ANSWER_SHAPES`` of the contract). 400 with
        ``answers.<question id>`` messages: a choice not offered, too many choices, text over the limit,
        a required question unanswered, an answer to a question the skip logic hides; nothing stored.
        409 closed, or already answered (one response per member)."""
        return self.surveys_rpc.submit_response(survey_id, body)

    # ===== API: results ===============================================================================
    @api("GET", "/api/v1/surveys/<survey_id>/results", response=c.ResultsOut, tags=["surveys"])
    def api_survey_results(self, request, survey_id):
        """Counts and percentages per question (matrix rows, ranking points, number bins, text counts);
        ``withheld`` (no questions) for an anonymous survey below its minimum group. Admins."""
        return self.surveys_rpc.results(survey_id)

    @api("GET", "/api/v1/surveys/<survey_id>/participation", response=c.ParticipationOut, tags=["surveys"])
    def api_survey_participation(self, request, survey_id):
        """Live participation: eligible, responses, drafts, rate (0-1), by union and by department (an
        anonymous survey merges groups below the minimum into ``other``). Admins."""
        return self.surveys_rpc.participation(survey_id)

    @api(
        "GET",
        "/api/v1/surveys/<survey_id>/questions/<question_id>/crosstab",
        query=c.CrosstabIn,
        response=c.CrosstabOut,
        tags=["surveys"],
    )
    def api_survey_crosstab(self, request, survey_id, question_id):
        """A single, multiple or rating question by ``by`` = union | department; groups below the
        minimum are merged into ``other`` (其他). 400 for another kind. Admins."""
        return self.surveys_rpc.crosstab(survey_id, question_id, _query(request, "by"))

    @api(
        "GET",
        "/api/v1/surveys/<survey_id>/questions/<question_id>/texts",
        query=c.TextsIn,
        response=c.TextPageOut,
        tags=["surveys"],
    )
    def api_survey_texts(self, request, survey_id, question_id):
        """Free texts of a text question in arrival order: ``q`` (substring), ``page``, ``per_page`` (≤
        200). Names only for named surveys. Admins."""
        return self.surveys_rpc.texts(survey_id, question_id, _query(request, "q", "page", "per_page"))

    @api(
        "GET",
        "/api/v1/surveys/<survey_id>/respondents",
        query=c.SurveyListIn,
        response=c.RespondentPageOut,
        tags=["surveys"],
    )
    def api_survey_respondents(self, request, survey_id):
        """Who answered a named survey (409 for an anonymous one). Admins."""
        return self.surveys_rpc.respondents(survey_id, _query(request, "page", "per_page"))

    def _export_data(self, survey_id: str) -> tuple[dict, dict, list[dict]]:
        survey = self.surveys_rpc.get_survey(survey_id)
        results = self.surveys_rpc.results(survey_id)
        pages, after = [], None
        while True:
            page_ = self.surveys_rpc.raw_answers(
                survey_id, {"limit": RAW_PAGE, **({"after": after} if after else {})}
            )
            pages.append(page_)
            after = page_.get("next")
            if not after:
                break
        return survey, results, raw_rows(pages)

    @api("GET", "/api/v1/surveys/<survey_id>/results.xlsx", response=XLSX_TYPE, tags=["surveys"])
    def api_survey_xlsx(self, request, survey_id):
        """The survey as an Excel workbook: summary, one sheet per question (with the department
        cross-tab of choice and rating questions), raw answers (anonymous: no member id; groups below the
        minimum as 其他/other). Admins."""
        survey, results, rows = self._export_data(survey_id)
        crosstabs = {}
        if not results.get("withheld"):
            for q in all_questions(survey):
                if q["kind"] in ("single", "multiple", "rating"):
                    crosstabs[q["id"]] = self.surveys_rpc.crosstab(survey_id, q["id"], {"by": "department"})
        return download(export_xlsx(survey, results, rows, crosstabs), XLSX_TYPE, f"{survey_id}-answers.xlsx")

    @api("GET", "/api/v1/surveys/<survey_id>/answers.csv", response="text/csv", tags=["surveys"])
    def api_survey_csv(self, request, survey_id):
        """The raw answers as CSV (UTF-8 with BOM), one line per response, one column per question (a
        matrix: per row); groups below the minimum as 其他/other. Admins."""
        survey, _results, rows = self._export_data(survey_id)
        return download(export_csv(survey, rows), "text/csv", f"{survey_id}-answers.csv")

    # ===== pages: lists ==========================================================================
    def _admin_unions(self) -> list[dict]:
        return [self.members_rpc.get_union(u) for u in sorted(self.identity.actor.admin_unions)]

    @page("GET", "/surveys")
    def surveys_page(self, request):
        """Surveys to answer (members) and, for admins, the surveys their unions run."""
        actor = self.identity.actor
        mine = self.surveys_rpc.my_surveys() if actor.union_id else []
        runs = []
        for union in self._admin_unions():
            listed = self.surveys_rpc.list_surveys(union["id"], {"per_page": 50})
            runs.append({"union": union, "surveys": listed["items"], "total": listed["total"]})
        return self.web.render("surveys/list.html", request=request, mine=mine, runs=runs)

    # ===== pages: building ========================================================================
    def _new_context(self) -> dict:
        language = "en" if self.web.locale == "en" else "zh"
        return {"unions": self._admin_unions(), "templates": self.surveys_rpc.list_templates(language),
                "language": language}  # fmt: skip

    @page("GET", "/surveys/new")
    def survey_new_page(self, request):
        """Start a survey: the union that runs it, a title, and a template or a blank questionnaire."""
        actor = self.identity.actor
        actor.require(bool(actor.admin_unions), "union admins only / 仅工会管理员可发起问卷")
        return self.web.render("surveys/new.html", request=request, errors={}, form={}, **self._new_context())

    @page("POST", "/surveys")
    def survey_create_submit(self, request):
        """Create the draft (from the chosen template, or with one first question to edit) over the
        members of the running union, then go to the builder."""
        f = request.form
        union_id = f.get("union_id", "")
        language = f.get("language") if f.get("language") in c.LANGUAGES else "zh"
        template = f.get("template", "")
        if template:
            attempt = self.web.attempt(self.surveys_rpc.get_template, template, language)
            base = attempt.value or {}
        else:
            attempt, base = None, {}
        if attempt is None or attempt.refusal is None:
            blank = [{"id": "s1", "title": "", "questions": [
                {"id": "q1", "kind": "single", "title": "您对本单位工会工作总体满意吗？" if language == "zh"
                 else "Are you satisfied with the union's work overall?", "required": True,
                 "options": [{"id": "o1", "label": "满意" if language == "zh" else "Satisfied"},
                             {"id": "o2", "label": "不满意" if language == "zh" else "Dissatisfied"}]}]}]  # fmt: skip
            data = {
                "union_id": union_id,
                "title": f.get("title", "").strip() or base.get("title", ""),
                "description": base.get("description", ""),
                "language": language,
                "sections": base.get("sections") or blank,
                "audience": {"kind": "unions", "union_ids": [union_id] if union_id else []},
            }
            attempt = self.web.attempt(self.surveys_rpc.create_survey, data)
        if attempt.refusal:
            return self.web.render(
                "surveys/new.html",
                status=attempt.refusal.status,
                request=request,
                errors=attempt.refusal.errors,
                form=f.to_dict(),
                **self._new_context(),
            )
        return self.web.redirect(f"/surveys/{attempt.value['id']}/edit", self.web.gettext("Draft created."))

    def _builder(self, request, survey: dict, errors: dict, status: int = 200, form: dict | None = None):
        union = self.members_rpc.get_union(survey["union_id"])
        unions = self.members_rpc.list_unions(survey["union_id"])
        departments = (
            self.members_rpc.list_departments(survey["union_id"]) if union.get("kind") == "grassroots" else []
        )
        editing = request.args.get("question") or (form or {}).get("question_id")
        questions = all_questions(survey)
        return self.web.render(
            "surveys/edit.html",
            status=status,
            request=request,
            survey=survey,
            questions=questions,
            editing=next((q for q in questions if q["id"] == editing), None),
            unions=unions,
            departments=departments,
            kinds=c.KINDS,
            kind_names=KIND_NAMES,
            scales=list(c.SCALES),
            opens_local=local_input(survey.get("opens_at")),
            closes_local=local_input(survey.get("closes_at")),
            errors=errors,
            form=form or {},
        )

    @page("GET", "/surveys/<survey_id>/edit")
    def survey_edit_page(self, request, survey_id):
        """The builder: settings, questions (edit, move, delete), add a question or a section, open,
        close and remind. The survey's admins (403 otherwise)."""
        survey = self.surveys_rpc.get_survey(survey_id)
        self.identity.actor.require(
            survey.get("can_manage", False), "the survey's admins only / 仅问卷管理员"
        )
        return self._builder(request, survey, {})

    def _change(self, request, survey_id: str, make_body, anchor: str = ""):
        """Apply one builder form: read the survey, make the update body, ``update_survey``; a refusal
        shows the builder again with the messages (``sections.0.questions.2.options`` → next to the
        question form), success goes back to the builder."""
        survey = self.surveys_rpc.get_survey(survey_id)
        attempt = self.web.attempt(lambda: self.surveys_rpc.update_survey(survey_id, make_body(survey)))
        if attempt.refusal:
            errors = {"form": attempt.refusal.message, **attempt.refusal.errors}
            return self._builder(request, survey, errors, attempt.refusal.status, request.form.to_dict())
        return self.web.redirect(f"/surveys/{survey_id}/edit{anchor}", self.web.gettext("Saved."))

    @page("POST", "/surveys/<survey_id>/settings")
    def survey_settings_submit(self, request, survey_id):
        """Save the settings form: title, description, audience, window, anonymity, minimum group."""
        return self._change(
            request,
            survey_id,
            lambda s: {**survey_update(s), **settings_from_form(request.form, s)},
            "#settings",
        )

    @page("POST", "/surveys/<survey_id>/questions")
    def survey_question_submit(self, request, survey_id):
        """Add a question to a section (``section``) or replace one (``question_id``)."""
        f = request.form

        def body(survey):
            questions = all_questions(survey)
            old = next((q for q in questions if q["id"] == f.get("question_id")), None)
            q = question_from_form(f, old, [x["id"] for x in questions])
            return put_question(survey, f.get("section") or (old or {}).get("section", ""), q)

        return self._change(request, survey_id, body, "#questions")

    @page("POST", "/surveys/<survey_id>/questions/<question_id>/move")
    def survey_question_move(self, request, survey_id, question_id):
        """Move a question one place (form ``direction`` = up | down; over a section's edge into the
        neighbouring section)."""
        direction = request.form.get("direction", "")
        if direction not in ("up", "down"):
            raise BadInput(
                "direction must be up or down / 方向须为 up 或 down", fields={"direction": ["up or down"]}
            )
        return self._change(
            request, survey_id, lambda s: edit_question(s, question_id, direction), "#questions"
        )

    @page("POST", "/surveys/<survey_id>/questions/<question_id>/delete")
    def survey_question_delete(self, request, survey_id, question_id):
        """Delete a question from the draft."""
        return self._change(
            request, survey_id, lambda s: edit_question(s, question_id, "delete"), "#questions"
        )

    @page("POST", "/surveys/<survey_id>/sections")
    def survey_section_submit(self, request, survey_id):
        """Add a section with its first question (the question form's fields)."""
        f = request.form

        def body(survey):
            q = question_from_form(f, None, [x["id"] for x in all_questions(survey)])
            return add_section(
                survey, f.get("section_title", "").strip(), f.get("section_description", "").strip(), q
            )

        return self._change(request, survey_id, body, "#questions")

    def _window(self, request, survey_id: str, call, done: str, confirm: bool):
        target = f"/surveys/{survey_id}/edit"
        if confirm:
            confirmed = self.web.attempt(require_confirmed, request)
            if confirmed.refusal:
                return self.web.redirect(target, confirmed.refusal.message, kind="error")
        return self.web.act(target, call, survey_id, done=done)

    @page("POST", "/surveys/<survey_id>/open")
    def survey_open_submit(self, request, survey_id):
        """Open the draft (confirmed: the audience is fixed and notified, the questionnaire can no longer
        be changed). A refusal (409: empty audience, past ``closes_at``) comes back on the builder."""
        return self._window(
            request, survey_id, self.surveys_rpc.open_survey, self.web.gettext("The survey is open."), True
        )

    @page("POST", "/surveys/<survey_id>/close")
    def survey_close_submit(self, request, survey_id):
        """Close the survey (confirmed: nobody can answer or finish a draft any more; results stay)."""
        return self._window(
            request, survey_id, self.surveys_rpc.close_survey, self.web.gettext("The survey is closed."), True
        )

    @page("POST", "/surveys/<survey_id>/remind")
    def survey_remind_submit(self, request, survey_id):
        """Remind the members of the audience who have not submitted."""
        return self._window(
            request, survey_id, self.surveys_rpc.remind, self.web.gettext("Reminders sent."), False
        )

    # ===== pages: answering ===========================================================================
    def _answer_page(self, request, survey: dict, mine: dict, answers: dict, errors: dict, status: int = 200):
        return self.web.render(
            "surveys/answer.html",
            status=status,
            request=request,
            survey=survey,
            mine=mine,
            answers=answers,
            visible=set(mine.get("visible") or [q["id"] for q in all_questions(survey)]),
            missing=set(mine.get("missing") or []),
            errors=errors,
            questions=all_questions(survey),
        )

    @page("GET", "/surveys/<survey_id>")
    def survey_answer_page(self, request, survey_id):
        """The answering page: the questions the skip logic shows, filled from the saved draft; the
        submitted response read-only with its receipt. Members of the audience (403 others)."""
        survey = self.surveys_rpc.get_survey(survey_id)
        if survey.get("can_manage"):  # an admin outside the audience goes to the builder
            mine = self.web.visible(self.surveys_rpc.my_response, survey_id)
            if mine is None:
                return self.web.redirect(f"/surveys/{survey_id}/edit")
        else:
            mine = self.surveys_rpc.my_response(survey_id)
        return self._answer_page(request, survey, mine, mine.get("answers") or {}, {})

    @page("POST", "/surveys/<survey_id>/answer")
    def survey_answer_submit(self, request, survey_id):
        """The answering form: ``action`` = save (a draft; the page comes back with the skip logic
        applied to what was saved) or submit. Answers to questions the skip logic hides are dropped
        before submitting (the service refuses them). A refusal shows the form again with each message
        next to its question and nothing stored. With ``Accept: application/json`` (the page's script
        saving on every change) the answer is the draft's ``MyResponseOut``, or the error's JSON."""
        survey = self.surveys_rpc.get_survey(survey_id)
        answers = answers_from_form(survey, request.form)
        wants_json = "application/json" in request.headers.get("Accept", "")
        if request.form.get("action") == "submit":
            saved = self.web.attempt(
                self.surveys_rpc.save_draft, survey_id, {"answers": answers}, expand=ANSWERS
            )
            if saved.refusal is None:
                shown = set(saved.value.get("visible") or answers)
                answers = {k: v for k, v in answers.items() if k in shown}
                done = self.web.attempt(
                    self.surveys_rpc.submit_response, survey_id, {"answers": answers}, expand=ANSWERS
                )
            else:
                done = saved
            if done.refusal is None:
                return self.web.redirect(f"/surveys/{survey_id}")  # the page thanks and shows the receipt
        else:
            done = self.web.attempt(
                self.surveys_rpc.save_draft, survey_id, {"answers": answers}, expand=ANSWERS
            )
            if wants_json and done.refusal is None:
                return json_answer(done.value)
            if done.refusal is None:
                return self.web.redirect(
                    f"/surveys/{survey_id}#q-form",
                    self.web.gettext("Saved. You can come back and go on later."),
                )
        refusal = done.refusal
        errors = question_errors(refusal.errors)
        if wants_json:
            code = REFUSAL_CODES.get(refusal.status, "bad_input")
            return json_answer(
                {"error": code, "message": refusal.message, "fields": errors, "details": refusal.details},
                refusal.status,
            )
        mine = self.web.visible(self.surveys_rpc.my_response, survey_id, default={}) or {}
        if refusal.status == 409:
            errors.setdefault("form", refusal.message)
        return self._answer_page(request, survey, mine, answers, errors, refusal.status)

    # ===== pages: results =========================================================================
    @page("GET", "/surveys/<survey_id>/results")
    def survey_results_page(self, request, survey_id):
        """Results with charts (bars; stacked bars for matrices; histograms for numbers; ranking points),
        live participation by union and department, a cross-tab of a chosen question by union or
        department (groups below the minimum merged into 其他/other), links to free texts and exports;
        a named survey also lists who answered (the first 200). The survey's admins."""
        survey = self.surveys_rpc.get_survey(survey_id)
        results = self.surveys_rpc.results(survey_id)
        participation = self.surveys_rpc.participation(survey_id)
        by_id = {q["id"]: q for q in all_questions(survey)}
        blocks = [
            {
                "question": by_id.get(r["id"], {"no": "", **r}),
                "result": r,
                "chart": chart_of(by_id.get(r["id"], r), r),
            }
            for r in results.get("questions") or ()
        ]
        tab_q = request.args.get("crosstab") or ""
        by = request.args.get("by") or "department"
        crosstab = None
        if tab_q:
            crosstab = (
                self.web.visible(self.surveys_rpc.crosstab, survey_id, tab_q, {"by": by})
                if tab_q in by_id
                else None
            )
        respondents = (
            None if survey["anonymous"] else self.surveys_rpc.respondents(survey_id, {"per_page": 200})
        )
        return self.web.render(
            "surveys/results.html",
            respondents=respondents,
            request=request,
            survey=survey,
            results=results,
            participation=participation,
            blocks=blocks,
            tabbable=[q for q in by_id.values() if q["kind"] in ("single", "multiple", "rating")],
            crosstab=crosstab,
            tab_q=tab_q,
            by=by,
        )

    @page("GET", "/surveys/<survey_id>/questions/<question_id>/texts")
    def survey_texts_page(self, request, survey_id, question_id):
        """Free texts of one question, 50 a page, searchable (``q``). The survey's admins."""
        survey = self.surveys_rpc.get_survey(survey_id)
        question = next((q for q in all_questions(survey) if q["id"] == question_id), None)
        texts = self.surveys_rpc.texts(
            survey_id, question_id, {**_query(request, "q", "page"), "per_page": 50}
        )
        return self.web.render(
            "surveys/texts.html", request=request, survey=survey, question=question, texts=texts,
            q=request.args.get("q", ""),
        )  # fmt: skip


def json_answer(payload, status: int = 200):
    """A page route's JSON answer (the answering page's script saving a draft)."""
    return json_response(payload, status)
