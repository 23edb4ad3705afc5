"""The gateway's results exports and form-error flattening, without servers."""

import io

from openpyxl import load_workbook

from dmlib.errors import BadInput, Conflict
from services.gateway.evaluations import EXPORT_COLUMNS, flat_errors, results_csv, results_xlsx
from services.gateway.wording import GENERIC

RESULTS = {
    "campaign": {
        "title": "2018年度星级职工之家评选",
        "weights": {"member": 50, "unit": 25, "superior": 25},
        "thresholds": [90.0, 80.0, 70.0, 60.0, 50.0],
        "rules": {"min_participation": 30.0, "no_ballots": "exclude", "star_basis": "published"},
        "ballots": 3,
        "eligible": 6,
    },
    "rows": [
        {"rank": 1, "name": "甲职工之家", "union_name": "甲工会", "member_score": 86.67, "unit_score": 88.0,
         "superior_score": 90.0, "total": 87.83, "star_level": 4, "voters": 2, "eligible": 4,
         "participation": 50.0, "opinions": 1, "min_voters": 2, "flags": []},
        {"rank": None, "name": "乙职工之家", "union_name": "乙工会", "member_score": None, "unit_score": 70.0,
         "superior_score": 70.0, "total": 35.0, "star_level": 0, "voters": 0, "eligible": 2,
         "participation": 0.0, "opinions": 0, "min_voters": 1, "flags": ["no_member_ballots"]},
    ],
}  # fmt: skip
HEADERS = [h for h, _ in EXPORT_COLUMNS]


def test_csv_has_a_bom_the_title_the_headers_and_one_line_per_home():
    text = results_csv(RESULTS, HEADERS).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text[1:].splitlines()
    assert lines[0] == "2018年度星级职工之家评选"
    assert lines[1].split(",")[0] == "Place" and lines[1].split(",")[-1] == "Flags"
    assert (
        lines[2].split(",")[:3] == ["1", "甲职工之家", "甲工会"] and lines[3].split(",")[3] == ""
    )  # no score
    assert lines[3].split(",")[0] == "" and lines[3].split(",")[-1] == "no member ballots"  # no place
    assert lines[2].split(",")[-1] == "" and lines[4] == ""
    rules = lines[5:]
    assert len(rules) == 5 and "member score × 50%" in rules[0] and "88.125 → 88.13" in rules[1]
    assert "total as published" in rules[2] and "5 stars ≥ 90," in rules[2]
    assert rules[3].startswith("Minimum participation 30%") and "no member ballots" in rules[4]


def test_rules_in_chinese_first_with_english():
    zh = {"no member ballots": "无会员评价", "No minimum participation.": "不设最低参评率。"}

    def gettext(message, **values):
        text = zh.get(message, message)
        return text % values if values else text

    camp = {**RESULTS["campaign"], "rules": {"min_participation": 0, "no_ballots": "exclude"}}
    text = results_csv({**RESULTS, "campaign": camp}, HEADERS, gettext).decode("utf-8")
    assert "无会员评价 / no member ballots" in text
    assert "不设最低参评率。 / No minimum participation." in text


def test_xlsx_rows_match_the_table():
    ws = load_workbook(io.BytesIO(results_xlsx(RESULTS, HEADERS))).active
    assert ws["A1"].value == "2018年度星级职工之家评选" and "会员评家 50%" in ws["A2"].value
    rows = list(ws.iter_rows(min_row=4, max_row=5, values_only=True))
    assert [(r[1], r[6], r[7]) for r in rows] == [("甲职工之家", 87.83, 4), ("乙职工之家", 35.0, 0)]
    assert rows[1][0] is None and rows[1][-1] == "no member ballots"
    assert ws["A7"].value.startswith("Total = member score × 50%") and ws.max_row == 11


def test_field_errors_are_flattened_per_criterion():
    exc = BadInput(
        "x",
        fields={"stars": {"c1": ["must be 1-5 stars"], "c6": ["unknown criterion"]}, "opinion": ["too long"]},
    )
    assert flat_errors(exc) == {"c1": "must be 1-5 stars", "c6": "unknown criterion", "opinion": "too long"}
    # issue 16: a refusal's sentence is the catalogue's (services/gateway/wording.py), not the service's
    assert flat_errors(Conflict("already voted / 您已投票")) == {"form": GENERIC["conflict"]}
