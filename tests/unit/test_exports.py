"""dmlib.exports: every cell a spreadsheet would run as a formula is neutralised (OWASP CSV injection)."""

import io

import pytest
from openpyxl import Workbook, load_workbook

from dmlib.exports import csv_text, safe_cell, xlsx_append


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        '=HYPERLINK("http://x","y")',
        "+86 138",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        "=cmd|' /C calc'!A0",
    ],
)
def test_formula_starts_are_prefixed(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["亦庄职工之家", "a=b", "2026-Q1", "", " =1", 5, -5, 0.25, None])
def test_other_values_stay(value):
    assert safe_cell(value) == value


def test_csv_has_a_bom_and_no_live_formula():
    text = csv_text([["name", "n"], ["=1+1", None], ["-1", -3]])
    assert text.startswith("\ufeff")
    assert text[1:].splitlines() == ["name,n", "'=1+1,", "'-1,-3"]


def test_xlsx_cells_are_text_not_formulas():
    wb = Workbook()
    xlsx_append(wb.active, ["=1+1", "@x", 7])
    out = io.BytesIO()
    wb.save(out)
    ws = load_workbook(io.BytesIO(out.getvalue())).active
    assert [c.value for c in ws[1]] == ["'=1+1", "'@x", 7]
    assert all(c.data_type != "f" for c in ws[1])
