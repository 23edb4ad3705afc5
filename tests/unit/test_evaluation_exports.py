"""The gateway's results exports and form-error flattening, without servers."""

import io

from openpyxl import load_workbook

from dmlib.errors import BadInput, Conflict
from services.gateway.evaluations import EXPORT_COLUMNS, flat_errors, results_csv, results_xlsx

RESULTS = {
    "campaign": {
        "title": "2018年度星级职工之家评选",
        "weights": {"member": 50, "unit": 25, "superior": 25},
        "ballots": 3,
        "eligible": 6,
    },
    "rows": [
        {"rank": 1, "name": "甲职工之家", "union_name": "甲工会", "member_score": 86.67, "unit_score": 88.0,
         "superior_score": 90.0, "total": 87.83, "star_level": 4, "voters": 2, "eligible": 4,
         "participation": 50.0, "opinions": 1},
        {"rank": 2, "name": "乙职工之家", "union_name": "乙工会", "member_score": None, "unit_score": 70.0,
         "superior_score": 70.0, "total": 35.0, "star_level": 0, "voters": 0, "eligible": 2,
         "participation": 0.0, "opinions": 0},
    ],
}  # fmt: skip
HEADERS = [h for h, _ in EXPORT_COLUMNS]


def test_csv_has_a_bom_the_title_the_headers_and_one_line_per_home():
    text = results_csv(RESULTS, HEADERS).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text[1:].splitlines()
    assert lines[0] == "2018年度星级职工之家评选"
    assert lines[1].split(",")[0] == "Place" and len(lines) == 4
    assert (
        lines[2].split(",")[:3] == ["1", "甲职工之家", "甲工会"] and lines[3].split(",")[3] == ""
    )  # no score


def test_xlsx_rows_match_the_table():
    ws = load_workbook(io.BytesIO(results_xlsx(RESULTS, HEADERS))).active
    assert ws["A1"].value == "2018年度星级职工之家评选" and "会员评家 50%" in ws["A2"].value
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    assert [(r[1], r[6], r[7]) for r in rows] == [("甲职工之家", 87.83, 4), ("乙职工之家", 35.0, 0)]


def test_field_errors_are_flattened_per_criterion():
    exc = BadInput(
        "x",
        fields={"stars": {"c1": ["must be 1-5 stars"], "c6": ["unknown criterion"]}, "opinion": ["too long"]},
    )
    assert flat_errors(exc) == {"c1": "must be 1-5 stars", "c6": "unknown criterion", "opinion": "too long"}
    assert flat_errors(Conflict("already voted / 您已投票")) == {"form": "already voted / 您已投票"}
