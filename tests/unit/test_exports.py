"""dmlib.exports: every cell a spreadsheet would run as a formula is neutralised (OWASP CSV injection)."""

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from openpyxl import Workbook, load_workbook

from dmlib.exports import china_time, csv_text, export_stamp, safe_cell, xlsx_append


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


# ----- China time (issue 16: exports were stamped in UTC while screens show Beijing time) ---------------
@pytest.mark.parametrize(
    "value, shown",
    [
        ("2026-12-04T16:30:00+00:00", "2026-12-05 00:30:00"),  # after 16:00 UTC it is the next day in China
        ("2026-12-04T16:30:00.123456Z", "2026-12-05 00:30:00"),
        ("2026-12-04T09:00:00+08:00", "2026-12-04 09:00:00"),
        (datetime(2026, 12, 4, 16, 30, tzinfo=UTC), "2026-12-05 00:30:00"),
        (datetime(2026, 12, 4, 1, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-12-04 14:00:00"),
    ],
)
def test_a_time_in_an_export_is_china_time(value, shown):
    assert safe_cell(value) == shown
    ws = Workbook().active
    xlsx_append(ws, [value])
    assert ws["A1"].value == shown
    assert csv_text([[value]], bom=False).strip() == shown


def test_other_cells_are_not_taken_for_times():
    for value in ("2026-12-04", "2026-12-04T16:30:00", "会议于 2026-12-04T16:30:00+00:00 召开", 20261204):
        assert safe_cell(value) == value
    naive = datetime(2026, 12, 4, 16, 30)
    assert safe_cell(naive) is naive


def test_china_time_precisions_and_the_export_stamp():
    assert china_time("2026-12-04T16:30:00+00:00", "day") == "2026-12-05"
    assert china_time("2026-12-04T16:30:00+00:00", "minute") == "2026-12-05 00:30"
    assert china_time(datetime(2026, 12, 4, 16, 30), "minute") == "2026-12-05 00:30"  # naive = UTC
    assert china_time("2026-12-04") == "2026-12-04" and china_time(None) is None and china_time("") is None
    assert export_stamp(datetime(2026, 12, 4, 16, 30, tzinfo=UTC)) == "2026-12-05 00:30 北京时间"
