"""Pure rules of disclosure: safe Markdown, read rates, periods, file names, contracts."""

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from marshmallow import ValidationError

from dmlib.contracts import disclosure as c
from services.disclosure import rules

HOSTILE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](jav&#x61;script:alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](https://tracker.example/p.gif)",
    '<img src=x onerror="alert(1)">',
    '<a href="https://x.cn" onclick="alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "[x](<javascript:alert(1)>)",
    "[x]\n\n[x]: javascript:alert(1)",
    "<svg/onload=alert(1)>",
]


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_rendered_harmless(source):
    parser = Elements()
    parser.feed(rules.render_markdown(source))
    for tag, attrs in parser.tags:
        assert tag in rules.ALLOWED_TAGS and tag not in ("script", "img", "iframe", "svg", "div")
        assert not any(name.startswith("on") or name == "style" for name in attrs), attrs
        href = (attrs.get("href") or "").strip().lower()
        assert not href or href.startswith(("http://", "https://", "mailto:")), href


def test_raw_html_is_shown_as_text_not_dropped():
    html = rules.render_markdown("<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ordinary_markdown_survives():
    source = (
        "## 2026年3月工资调整\n\n**一线岗位**上调 *5%*，详见[通知](https://example.cn/a?b=1)。\n\n"
        "| 岗位 | 调整 |\n|---|---|\n| 焊工 | +300 |\n\n- 一\n- 二\n\n联系 <mailto:gh@example.cn>"
    )
    html = rules.render_markdown(source)
    assert "<h2>2026年3月工资调整</h2>" in html
    assert "<strong>一线岗位</strong>" in html and "<em>5%</em>" in html
    assert 'href="https://example.cn/a?b=1"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<table>" in html and "<td>焊工</td>" in html and "<li>一</li>" in html
    assert 'href="mailto:gh@example.cn"' in html


@pytest.mark.parametrize(
    "period, label",
    [
        ("2026", "2026年度"),
        ("2026-03", "2026年3月"),
        ("2026-Q2", "2026年第2季度"),
        ("2026-H1", "2026年上半年"),
    ],
)
def test_period_labels(period, label):
    assert c.PERIOD_RE.match(period) and c.period_label(period) == label


def test_rate_never_divides_by_zero_and_caps_at_one():
    assert rules.rate(0, 0) == 0.0
    assert rules.rate(1, 3) == 0.3333
    assert rules.rate(5, 4) == 1.0


def test_department_reads_and_unread_list():
    roster = [
        {"member_id": "m1", "name": "甲", "department_id": "d1"},
        {"member_id": "m2", "name": "乙", "department_id": "d1"},
        {"member_id": "m3", "name": "丙", "department_id": "d2"},
        {"member_id": "m4", "name": "丁", "department_id": None},
    ]
    deps, unread = rules.department_reads(
        roster, {"m1", "m3", "gone"}, {"d1": "生产部", "d2": "财务部"}, "未分部门"
    )
    assert deps == [
        {"department_id": None, "name": "未分部门", "members": 1, "read": 0, "rate": 0.0},
        {"department_id": "d1", "name": "生产部", "members": 2, "read": 1, "rate": 0.5},
        {"department_id": "d2", "name": "财务部", "members": 1, "read": 1, "rate": 1.0},
    ]
    assert [u["member_id"] for u in unread] == ["m2", "m4"]
    assert unread[0]["department"] == "生产部"


def test_safe_filename_and_age():
    assert rules.safe_filename('../../etc/"pass"wd.PDF') == "passwd.pdf"
    assert rules.safe_filename("C:\\x\\工资表.xlsx") == "工资表.xlsx"
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.age_days(t, t + timedelta(days=8, hours=3)) == 8
    assert rules.age_days(t, t - timedelta(days=1)) == 0


GOOD = {"category": "safety", "period": "2026-03", "title": "三月安全检查", "body": "结果如下"}


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"category": "gossip"}, {"category"}),
        ({"period": "2026-13"}, {"period"}),
        ({"period": "March"}, {"period"}),
        ({"title": "  "}, {"title"}),
        ({"title": "x" * 121}, {"title"}),
        ({"body": ""}, {"body"}),
        ({"mandatory": "perhaps"}, {"mandatory"}),
        ({"attachments": [{"filename": "virus.exe", "content_b64": "AA=="}]}, {"attachments"}),
        ({"attachments": [{"filename": "a.pdf", "content_b64": "AA=="}] * 6}, {"attachments"}),
        ({"extra": 1}, {"extra"}),
    ],
)
def test_item_contract_refuses_bad_input_with_field_messages(change, fields):
    with pytest.raises(ValidationError) as info:
        c.DisclosureIn().load({**GOOD, **change})
    assert set(info.value.messages) == fields


def test_item_contract_defaults():
    data = c.DisclosureIn().load(GOOD)
    assert data["mandatory"] is False and data["attachments"] == []


def test_register_export_keeps_formulas_as_text():
    import io

    from openpyxl import load_workbook

    from services.gateway.disclosure import register_xlsx

    row = {
        "id": "d1",
        "category_label": "安全生产",
        "period_label": "2026年3月",
        "title": '=HYPERLINK("http://evil.example","点我")',
        "status": "published",
        "revision": 1,
        "mandatory": True,
        "published_at": "2026-03-05T01:00:00+00:00",
        "published_by_name": "管理员",
        "read": 3,
        "rate": 0.25,
        "questions_total": 1,
        "questions_open": 0,
        "correction_reasons": [],
        "withdraw_reason": None,
    }
    ws = load_workbook(
        io.BytesIO(register_xlsx({"union_name": "u01工会", "members": 12, "items": [row]}))
    ).active
    title = ws.cell(4, 4)
    assert title.value == "'" + row["title"] and title.data_type == "s"  # dmlib.exports.safe_cell
    assert ws.cell(4, 11).value == 0.25 and ws.cell(4, 11).number_format == "0.0%"
    # China time (issue 16): 01:00 UTC is 09:00 in Beijing, and the header says so
    assert ws.cell(4, 8).value == "2026-03-05 09:00" and ws.cell(3, 8).value == "发布时间(北京时间)"
