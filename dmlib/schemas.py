"""Schema helpers shared by every service's contract (marshmallow 4 API: ``load`` returns data or raises).

Conventions: one schema for what comes in (``…In``) and one for what goes out (``…Out``); unknown fields
are refused (a typo is a 400, not silently dropped); ids are short ASCII strings.

Input hygiene, once for every contract (issue 12):

- **Control and direction characters** are refused (400 with a field message) in every text a
  :class:`BaseSchema` loads, nested schemas and lists of texts included: C0 controls (NUL, bell, …),
  DEL, C1 controls, the bidi embeddings/overrides/isolates U+202A–202E and U+2066–2069, the marks
  U+200E/U+200F and the separators U+2028/U+2029 (:data:`FORBIDDEN_TEXT`). A long text (a field with
  ``metadata={"multiline": True}`` or a ``Length`` limit of 500 characters or more: bodies, replies,
  opinions, reasons) may hold line feeds, carriage returns and tabs; names, titles and ids may not.
- **Identifiers** are normalised before they are checked (:func:`normalise_identifier`): Unicode NFKC
  (full-width ``Ｍ０１`` → ``M01``), surrounding white space trimmed, upper case. :class:`MemberNo` and
  :class:`LoginName` use it, so ``m0100002`` and ``"M0100002\n"`` are the member ``M0100002``;
  :class:`ResidentId` keeps only ASCII digits and ``X`` after NFKC (full-width digits become ASCII,
  Arabic-Indic and other digits are refused).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
MEMBER_NO_RE = re.compile(r"[A-Z0-9-]{4,20}")
LOGIN_RE = re.compile(r"[A-Z0-9._-]{1,64}")
#: Characters no text may hold (C0 but tab/LF/CR, DEL, C1, bidi controls, LRM/RLM, line/paragraph separators).
FORBIDDEN_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
#: What a long text may hold beyond that: tab, line feed, carriage return (a browser's textarea sends CRLF).
LINE_BREAKS = re.compile("[\t\n\r]")
MULTILINE_FROM = 500
CONTROL_MESSAGE = "contains control or text-direction characters / 含有控制字符或文字方向控制符"
LINE_MESSAGE = "must be one line, without tabs / 须为单行文字，不含制表符"


def normalise_identifier(value: str) -> str:
    """An identifier as stored and compared: NFKC, trimmed, upper case (``" ｍ0100002\n"`` → ``"M0100002"``)."""
    return unicodedata.normalize("NFKC", value).strip().upper()


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why ``value`` may not be stored as text (control, bidi or, unless ``multiline``, line-break
    characters), or None."""
    if FORBIDDEN_TEXT.search(value):
        return CONTROL_MESSAGE
    if not multiline and LINE_BREAKS.search(value):
        return LINE_MESSAGE
    return None


def _is_multiline(field: fields.Field) -> bool:
    if "multiline" in field.metadata:
        return bool(field.metadata["multiline"])
    validators = field.validators if isinstance(field.validators, list | tuple) else []
    return any(isinstance(v, validate.Length) and (v.max or 0) >= MULTILINE_FROM for v in validators)


def _field_text_problem(field: fields.Field, value) -> str | None:
    if isinstance(field, fields.String) and isinstance(value, str):
        if getattr(field, "trims", False):  # an identifier: surrounding white space is trimmed, not refused
            value = value.strip()
        return text_problem(value, _is_multiline(field))
    if isinstance(field, fields.List) and isinstance(field.inner, fields.String) and isinstance(value, list):
        return next(
            (p for v in value if isinstance(v, str) and (p := _field_text_problem(field.inner, v))), None
        )
    return None


# GB 11643-1999 citizen identification number: 17 digits + check character (ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_check_char(first17: str) -> str:
    """The check character of a GB 11643 resident ID from its first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def resident_id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 18-character resident ID (GB 11643-1999), or None if it is.

    Checks, after :func:`normalise_identifier`: 17 ASCII digits + digit or X (full-width digits become
    ASCII under NFKC; other scripts' digits are refused); the birth date (characters 7-14) is a real
    date not in the future; the check character matches (ISO 7064 MOD 11-2).
    """
    v = normalise_identifier(value)
    if not re.fullmatch(r"[0-9]{17}[0-9X]", v):
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
    """Every contract's base: unknown fields refused; control and direction characters refused in every
    text field (see the module's docstring)."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_control_characters(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        errors = {}
        for name, field in self.load_fields.items():
            key = field.data_key or name
            problem = _field_text_problem(field, data.get(key))
            if problem:
                errors[key] = [problem]
        if errors:
            raise ValidationError(errors)
        return data


class Id(fields.String):
    """An object id: 1-64 characters of letters, digits, ``_`` and ``-``."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(ID_RE, error="not a valid id / 无效的编号"), **kwargs)


class ResidentId(fields.String):
    """An 18-character resident ID validated against GB 11643, returned normalised (ASCII, upper-case X)."""

    trims = True

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = resident_id_problem(text)
        if problem:
            raise ValidationError(problem)
        return normalise_identifier(text)


class _Identifier(fields.String):
    trims = True
    pattern: re.Pattern = LOGIN_RE
    error = ""

    def _deserialize(self, value, attr, data, **kwargs):
        text = normalise_identifier(super()._deserialize(value, attr, data, **kwargs))
        if not self.pattern.fullmatch(text):
            raise ValidationError(self.error)
        return text


class MemberNo(_Identifier):
    """A member number (会员编号, the member's id): 4-20 letters, digits or ``-`` after
    :func:`normalise_identifier` (so ``m0100002`` is ``M0100002``)."""

    pattern = MEMBER_NO_RE
    error = "4-20 letters, digits or '-' / 会员编号须为4-20位字母数字"


class LoginName(_Identifier):
    """A login name: 1-64 letters, digits, ``.``, ``_`` or ``-`` after :func:`normalise_identifier`
    (logins are case-insensitive: ``admin01`` and ``ADMIN01`` are one login)."""

    pattern = LOGIN_RE
    error = "1-64 letters, digits, '.', '_' or '-' / 账号须为1-64位字母、数字或 . _ -"


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


#: An idempotency key: what a client sends again with a retried create (``Idempotency-Key`` at the API, the
#: hidden ``client_key`` field of a page's form): 1-100 visible ASCII characters (a UUID fits).
CLIENT_KEY_RE = re.compile(r"^[!-~]{1,100}$")


class ClientKey(fields.String):
    """The optional ``client_key`` field of a create's input: the same key makes the same create once
    (:meth:`dmlib.storage.Store.once`; docs/architecture.md, "Retried creates")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault(
            "metadata",
            {"description": "idempotency key: a retried create with the same key returns the first"},
        )
        super().__init__(
            validate=validate.Regexp(
                CLIENT_KEY_RE, error="1-100 visible ASCII characters / 须为1-100个可见ASCII字符"
            ),
            **kwargs,
        )


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
