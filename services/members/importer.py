"""Member file import: reading CSV/XLSX rows and checking them (no nameko, no pymongo).

Rules (issue 2): each bad row is reported with its row number (the header is row 1) and a reason; every
valid row is kept. A row is bad when a required field is missing, the resident ID fails GB 11643, the
union is unknown, not a grassroots union or outside the importing admin's scope, the department is
unknown, or the member number / resident ID is already taken (in the registry or earlier in the file).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from marshmallow import ValidationError

from dmlib.contracts.members import MemberIn

BATCH_ROWS = 1000

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
_GENDER = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
_member_schema = MemberIn()


class FileProblem(ValueError):
    """The file as a whole cannot be read (not a CSV/XLSX, no header, missing required columns)."""


def national_id_hash(key: bytes, national_id: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of a resident ID: the only form in which it is stored."""
    return hmac.new(key, national_id.upper().encode(), hashlib.sha256).hexdigest()


def _columns(header: list) -> list[str | None]:
    names = [_ALIAS_TO_FIELD.get(str(h or "").strip().lower()) for h in header]
    missing = [f for f in ("member_no", "name", "union_id", "national_id") if f not in names]
    if missing:
        raise FileProblem(f"missing columns / 缺少列: {', '.join(missing)}")
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


@dataclass
class ImportContext:
    """What checking rows needs to know: the unions, departments, the importer's scope, the hash key."""

    unions: dict[str, dict]
    departments: dict[str, dict[str, str]]  # union id → {department name or id → department id}
    may_import_into: Callable[[dict], bool]
    id_key: bytes
    job_id: str
    seen_numbers: dict[str, int] = field(default_factory=dict)
    seen_ids: dict[str, int] = field(default_factory=dict)


def check_row(number: int, raw: dict, ctx: ImportContext) -> tuple[dict | None, dict | None]:
    """One row → (member document, None) or (None, error ``{row, field, reason}``)."""
    data = {k: v for k, v in raw.items() if v != "" and k != "department"}
    if "gender" in data:
        data["gender"] = _GENDER.get(data["gender"].lower(), data["gender"])
    try:
        member = _member_schema.load(data)
    except ValidationError as exc:
        name, messages = next(iter(exc.messages_dict.items()))
        reason = (
            "missing / 缺少必填项"
            if "Missing data for required field." in messages
            else "; ".join(map(str, messages))
        )
        return None, {"row": number, "field": name, "reason": reason}
    union = ctx.unions.get(member["union_id"])
    if union is None:
        return None, {
            "row": number,
            "field": "union_id",
            "reason": f"unknown union / 工会不存在: {member['union_id']}",
        }
    if union["kind"] != "grassroots":
        return None, {
            "row": number,
            "field": "union_id",
            "reason": "members join a grassroots union / 会员须属于基层工会",
        }
    if not ctx.may_import_into(union):
        return None, {
            "row": number,
            "field": "union_id",
            "reason": "union outside your scope / 超出您的管理范围",
        }
    department = raw.get("department")
    if department:
        dep_id = ctx.departments.get(union["_id"], {}).get(department)
        if dep_id is None:
            return None, {
                "row": number,
                "field": "department",
                "reason": f"unknown department / 部门不存在: {department}",
            }
        member["department_id"] = dep_id
    number_first = ctx.seen_numbers.setdefault(member["member_no"], number)
    if number_first != number:
        return None, {
            "row": number,
            "field": "member_no",
            "reason": f"duplicate member number, first at row {number_first} / 会员编号重复",
        }
    id_hash = national_id_hash(ctx.id_key, member["national_id"])
    id_first = ctx.seen_ids.setdefault(id_hash, number)
    if id_first != number:
        return None, {
            "row": number,
            "field": "national_id",
            "reason": f"duplicate resident ID, first at row {id_first} / 身份证号重复",
        }
    return member_document(member, id_hash, ctx.job_id), None


def member_document(member: dict, id_hash: str, job_id: str | None = None) -> dict:
    """The stored form of a loaded :class:`MemberIn`: the resident ID reduced to hash + last four."""
    doc = {k: v for k, v in member.items() if k not in ("national_id", "member_no")}
    doc.update(
        _id=member["member_no"], id_hash=id_hash, id_last4=member["national_id"][-4:], roles=[], login=None
    )
    if job_id:
        doc["import_job"] = job_id
    return doc


def duplicate_reason(number_taken: bool) -> tuple[str, str]:
    """(field, reason) for a duplicate-key error on insert. The database's message does not say which
    unique key clashed (FerretDB names no index), so the caller looks the member number up: if it is
    taken, that is the clash; otherwise it is the resident ID."""
    if number_taken:
        return "member_no", "member number already registered / 会员编号已存在"
    return "national_id", "resident ID already registered / 身份证号已登记"
