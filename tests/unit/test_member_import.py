"""Checking member file rows: every bad row gets its row number and reason, every good row is kept."""

import io

import pytest
from openpyxl import Workbook

from services.members.importer import FileProblem, read_rows
from services.members.rules import ImportContext, check_row, national_id_hash

GOOD_ID = "110115198001010019"
KEY = b"k" * 32
UNIONS = {
    "u01": {"_id": "u01", "kind": "grassroots", "path": ["ftu", "area", "u01"]},
    "u02": {"_id": "u02", "kind": "grassroots", "path": ["ftu", "other", "u02"]},
    "area": {"_id": "area", "kind": "street", "path": ["ftu", "area"]},
}


def ctx(scope=("area",)):
    return ImportContext(
        unions=UNIONS,
        departments={"u01": {"生产部": "u01-d1", "u01-d1": "u01-d1"}},
        may_import_into=lambda u: bool(set(scope) & set(u["path"])),
        id_key=KEY,
        job_id="job1",
    )


def row(**over):
    base = {
        "member_no": "M0001",
        "name": "王伟",
        "union_id": "u01",
        "national_id": GOOD_ID,
        "phone": "13912345678",
        "department": "生产部",
        "gender": "男",
    }
    base.update(over)
    return base


def test_good_row_becomes_a_document_without_the_resident_id():
    doc, error = check_row(2, row(), ctx())
    assert error is None
    assert doc["_id"] == "M0001" and doc["department_id"] == "u01-d1" and doc["gender"] == "M"
    assert doc["id_last4"] == "0019" and doc["id_hash"] == national_id_hash(KEY, GOOD_ID)
    assert GOOD_ID not in str(doc)


@pytest.mark.parametrize(
    "override, field, reason",
    [
        ({"name": ""}, "name", "missing"),
        ({"national_id": "110115198001010018"}, "national_id", "check digit"),
        ({"union_id": "nope"}, "union_id", "unknown union"),
        ({"union_id": "area"}, "union_id", "grassroots"),
        ({"union_id": "u02"}, "union_id", "outside your scope"),
        ({"department": "不存在部"}, "department", "unknown department"),
        ({"phone": "12345"}, "phone", "mobile"),
        ({"member_no": "a b"}, "member_no", "letters"),
    ],
)
def test_bad_rows_are_reported_with_row_field_and_reason(override, field, reason):
    doc, error = check_row(7, row(**override), ctx())
    assert doc is None
    assert error["row"] == 7 and error["field"] == field and reason in error["reason"]


def test_duplicates_within_the_file_name_the_first_row():
    c = ctx()
    assert check_row(2, row(), c)[1] is None
    _, dup_no = check_row(3, row(national_id="11010519491231002X"), c)
    _, dup_id = check_row(4, row(member_no="M0002"), c)
    assert "first at row 2" in dup_no["reason"] and dup_no["field"] == "member_no"
    assert "first at row 2" in dup_id["reason"] and dup_id["field"] == "national_id"


def test_csv_with_chinese_headers_and_bom():
    text = "\ufeff会员编号,姓名,工会编号,身份证号\nM1,张三,u01,110115198001010019\n\n,,,\nM2,李四,u01,11010519491231002X\n"
    rows = list(read_rows("m.csv", text.encode("utf-8")))
    assert [n for n, _ in rows] == [2, 5]
    assert rows[1][1] == {
        "member_no": "M2",
        "name": "李四",
        "union_id": "u01",
        "national_id": "11010519491231002X",
    }


def test_xlsx_rows():
    book = Workbook()
    sheet = book.active
    sheet.append(["member_no", "name", "union_id", "national_id", "phone"])
    sheet.append(["M1", "张三", "u01", "110115198001010019", 13912345678])
    buf = io.BytesIO()
    book.save(buf)
    rows = list(read_rows("m.xlsx", buf.getvalue()))
    assert rows == [
        (
            2,
            {
                "member_no": "M1",
                "name": "张三",
                "union_id": "u01",
                "national_id": "110115198001010019",
                "phone": "13912345678",
            },
        )
    ]


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("m.csv", b"name,phone\nx,1\n", "缺少列：会员编号、工会编号、身份证号"),
        ("m.csv", b"", "no header"),
        ("m.csv", "会员编号".encode("gbk"), "UTF-8"),
        ("m.xlsx", b"not a zip", "XLSX"),
    ],
)
def test_unreadable_files(name, content, problem):
    with pytest.raises(FileProblem, match=problem):
        list(read_rows(name, content))


@pytest.mark.parametrize("headers", ["zh", "en"])
def test_the_templates_header_rows_are_read_as_the_columns(headers):
    """The template the gateway offers (Chinese by default, issue 16; English on ?headers=en) is read by
    the importer as the gateway's IMPORT_COLUMNS, in order."""
    from services.gateway.members import IMPORT_COLUMNS, IMPORT_TEMPLATES

    row = ["M0100001", "张三", "u01", "生产部", "13800000000", "a@example.com", GOOD_ID, "男"]
    content = ("\ufeff" + IMPORT_TEMPLATES[headers] + ",".join(row) + "\r\n").encode()
    assert list(read_rows("m.csv", content)) == [(2, dict(zip(IMPORT_COLUMNS, row, strict=True)))]
