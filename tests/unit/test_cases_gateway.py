"""The gateway side of worker requests without servers: the XLSX monthly report (layout, formulas, no
cell a spreadsheet would run) and the month parameter's refusal."""

import io

import pytest
from openpyxl import load_workbook

from dmlib.contracts import cases as c
from dmlib.errors import BadInput
from services.gateway.cases import RATES, _month, report_xlsx


def counts(**given) -> dict:
    return {m: given.get(m, 0) for m in c.METRICS}


RATE_VALUES = {
    "response_rate": 0.75,
    "resolution_rate": 0.5,
    "satisfaction_rate": 1.0,
    "satisfied_rate": 0.5,
    "closure_rate": None,
    "on_time_rate": None,
}
IND = {
    "union_id": "ftu",
    "from_month": "2026-11",
    "to_month": "2026-11",
    "counts": counts(received=4, dispatched=4, responded=3, rated=2, resolved=1, satisfied=1, partly=1),
    "rates": RATE_VALUES,
    "formulas": {"response_rate": "响应 ÷ 派单", "satisfaction_rate": "(满意 + 基本满意) ÷ 评价"},
    "by_month": [],
    "by_category": [
        {"category": "wage_arrears", "label": "欠薪讨薪", "counts": counts(received=3), "rates": RATE_VALUES}
    ],
    "by_union": [
        {"union_id": "ftu", "counts": counts(received=1), "rates": RATE_VALUES},
        {"union_id": "u01", "counts": counts(received=3), "rates": RATE_VALUES},
    ],
}
TOPIC = {
    "union_id": "ftu",
    "month": "2026-11",
    "top_categories": [
        {"category": "wage_arrears", "label": "欠薪讨薪", "count": 3, "trend": [0, 1, 0, 2, 0, 3]}
    ],
    "top_employers": [
        {"employer_key": "x1", "name": '=HYPERLINK("http://x")', "count": 3, "top_category": "wage_arrears"}
    ],
}
ALERTS = [
    {
        "employer_name": "星海电子",
        "category_label": "欠薪讨薪",
        "count": 5,
        "window_days": 30,
        "first_at": "2026-11-02T01:00:00Z",
        "last_at": "2026-11-20T01:00:00Z",
    }
]


def test_the_monthly_report_has_the_totals_each_union_the_formulas_and_no_live_formula():
    wb = load_workbook(io.BytesIO(report_xlsx(IND, TOPIC, ALERTS, {"ftu": "总工会", "u01": "星海电子工会"})))
    assert wb.sheetnames == ["指标", "分类", "每月一题"]
    rows = [[cell.value for cell in row] for row in wb["指标"].iter_rows()]
    assert rows[0][0] == "总工会 接诉即办月报 2026-11"
    head = rows[2]
    assert head[1:13] == [
        "受理",
        "派单",
        "响应",
        "应办结",
        "办结",
        "按时办结",
        "评价",
        "解决",
        "满意",
        "基本满意",
        "不满意",
        "超期",
    ]
    total = rows[3]
    assert total[0] == "总工会（合计）" and total[1:4] == [4, 4, 3] and total[7] == 2
    assert total[13:19] == [RATE_VALUES[k] for k, _, _ in RATES]  # null rates stay empty cells
    assert [r[0] for r in rows[4:5]] == ["星海电子工会"]  # the union itself is only in the total
    assert ["response_rate", "响应 ÷ 派单"] == [v for v in rows[-2] if v is not None]
    topic = [[v for v in (cell.value for cell in row)] for row in wb["每月一题"].iter_rows()]
    topic = [r[: max((i + 1 for i, v in enumerate(r) if v is not None), default=0)] for r in topic]
    assert topic[2] == ["欠薪讨薪", 3, "0 / 1 / 0 / 2 / 0 / 3"]
    employer = next(r for r in topic if r and "HYPERLINK" in str(r[0]))
    assert employer[0].startswith("'=")  # dmlib.exports: shown as text, never run
    assert topic[-1][:4] == ["星海电子", "欠薪讨薪", 5, 30]


@pytest.mark.parametrize("value", ["2026-13", "11月", "2026-1"])
def test_a_month_that_is_not_yyyy_mm_is_refused_with_its_field(value):
    with pytest.raises(BadInput) as refused:
        _month(value)
    assert refused.value.fields == {"month": ["not YYYY-MM"]}
    assert _month("2026-02") == "2026-02" and len(_month(None)) == 7
