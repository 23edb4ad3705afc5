"""Member files: reading the rows of a CSV or XLSX member file (no nameko, no pymongo). The rules a row
must meet are :func:`services.members.rules.check_row`; the import job is :mod:`services.members.app`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

#: Column headers accepted for each field (English or Chinese).
HEADER_ALIASES = {
    "member_no": ("member_no", "会员编号", "会员证号", "编号"),
    "name": ("name", "姓名"),
    "union_id": ("union_id", "union", "工会编号", "工会"),
    "department": ("department", "department_id", "部门"),
    "phone": ("phone", "mobile", "手机", "手机号", "联系电话"),
    "email": ("email", "邮箱", "电子邮箱"),
    "national_id": ("national_id", "身份证号", "身份证号码", "公民身份号码"),
    "gender": ("gender", "性别"),
}
_ALIAS_TO_FIELD = {alias.lower(): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}


class FileProblem(ValueError):
    """The file as a whole cannot be read (not a CSV/XLSX, no header, missing required columns)."""


def _columns(header: list) -> list[str | None]:
    names = [_ALIAS_TO_FIELD.get(str(h or "").strip().lower()) for h in header]
    missing = [f for f in ("member_no", "name", "union_id", "national_id") if f not in names]
    if missing:
        chinese = "、".join(next(a for a in HEADER_ALIASES[f] if not a.isascii()) for f in missing)
        raise FileProblem(f"missing columns: {', '.join(missing)} / 缺少列：{chinese}")
    return names


def read_rows(filename: str, content: bytes) -> Iterator[tuple[int, dict]]:
    """Yield ``(row_number, {field: text})`` for each non-empty data row; the header is row 1."""
    if filename.lower().endswith(".xlsx"):
        rows = _xlsx_rows(content)
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileProblem("the CSV file is not UTF-8 / CSV 文件须为 UTF-8 编码") from exc
        rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header:
        raise FileProblem("the file has no header row / 文件缺少表头")
    names = _columns(header)
    for number, values in enumerate(rows, start=2):
        if not any(str(v or "").strip() for v in values):
            continue
        yield (
            number,
            {n: ("" if v is None else str(v).strip()) for n, v in zip(names, values, strict=False) if n},
        )


def _xlsx_rows(content: bytes) -> Iterator[list]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not XLSX
        raise FileProblem("not a readable XLSX file / 无法读取的 XLSX 文件") from exc
    try:
        for row in book.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        book.close()
