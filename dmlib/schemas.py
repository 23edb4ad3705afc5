"""Schema helpers shared by every service's contract (marshmallow 4 API: ``load`` returns data or raises).

Conventions: one schema for what comes in (``…In``) and one for what goes out (``…Out``); unknown fields
are refused (a typo is a 400, not silently dropped); ids are short ASCII strings.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")

# GB 11643-1999 citizen identification number: 17 digits + check character (ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_check_char(first17: str) -> str:
    """The check character of a GB 11643 resident ID from its first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def resident_id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 18-character resident ID (GB 11643-1999), or None if it is.

    Checks: 17 digits + digit or X; the birth date (characters 7-14) is a real date not in the
    future; the check character matches (ISO 7064 MOD 11-2).
    """
    v = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", v):
        return "must be 18 characters: 17 digits and a digit or X / 须为18位（17位数字加校验码）"
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return "birth date part is not a real date / 出生日期码无效"
    if born > date.today() or born.year < 1900:
        return "birth date part is out of range / 出生日期码超出范围"
    if resident_id_check_char(v[:17]) != v[17]:
        return "check digit is wrong (GB 11643) / 校验码错误"
    return None


class BaseSchema(Schema):
    class Meta:
        unknown = RAISE


class Id(fields.String):
    """An object id: 1-64 characters of letters, digits, ``_`` and ``-``."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(ID_RE, error="not a valid id / 无效的编号"), **kwargs)


class ResidentId(fields.String):
    """An 18-character resident ID validated against GB 11643 (returned upper-case)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = resident_id_problem(text)
        if problem:
            raise ValidationError(problem)
        return text.strip().upper()


class Mobile(fields.String):
    """A mainland mobile number: 11 digits starting 13-19."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.Regexp(MOBILE_RE, error="not a mobile number / 手机号格式有误"), **kwargs
        )


class PageIn(BaseSchema):
    """Paging of a list: ``page`` from 1, ``per_page`` 1-200 (default 50)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def page_out(items: list, total: int, page: int, per_page: int) -> dict:
    """``{"items": [...], "total": int, "page": int, "per_page": int, "pages": int}``."""
    return {
        "items": items,
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
    }


class PageOut(Schema):
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


def iso(value):
    """ISO 8601 text for an answer: a datetime in UTC with ``Z`` (a naive one is taken as UTC, as
    pymongo stores them), a date as ``YYYY-MM-DD``; None and anything else as it is."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value
