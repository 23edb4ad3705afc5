"""The one way to write a spreadsheet export (CSV or XLSX), safe to open in Excel or LibreOffice.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by a
spreadsheet as a formula (a live ``=HYPERLINK(…)``, ``=cmd|…``); whoever can write a proposal subject, a
Worker Home name or a member's name could otherwise plant one in an admin's export. :func:`safe_cell`
prefixes such text with ``'`` (OWASP, "CSV Injection"), and every export goes through :func:`csv_bytes`
or :func:`xlsx_append`, which apply it to every cell. Numbers, dates, None and booleans stay as they are
(a negative number is a number, not text).

**China time** (issue 16: exports were stamped in UTC while screens show Beijing time): every time in an
export is China Standard Time (Asia/Shanghai, UTC+8, no daylight saving), written without its offset as
``YYYY-MM-DD HH:MM:SS``. :func:`safe_cell` converts what it recognises, an aware ``datetime`` or an
ISO 8601 text with an offset or ``Z`` (how services send times); exporters that show a day or minute
call :func:`china_time`, and stamp a file with :func:`export_stamp`. Headers say 北京时间 / China time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


#: The time zone of every time a person reads in an export.
CHINA = ZoneInfo("Asia/Shanghai")
#: An ISO 8601 date-time with its offset or Z: how services send times (``2026-12-04T21:00:00+00:00``).
ISO_AWARE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})")
#: :func:`china_time` formats: a moment, a minute, a day.
TIME_FORMATS = {"second": "%Y-%m-%d %H:%M:%S", "minute": "%Y-%m-%d %H:%M", "day": "%Y-%m-%d"}


def china_time(value: datetime | str | None, precision: str = "second") -> str | None:
    """``value`` (an aware ``datetime``, a naive one taken as UTC, or an ISO 8601 text) as China time
    text to the ``precision`` of :data:`TIME_FORMATS`; None or "" → None. A text without a time (a bare
    day, ``2026-12-04``) is already a day and is returned as it is."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if "T" not in value and " " not in value.strip():
            return value
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA).strftime(TIME_FORMATS[precision])


def export_stamp(now: datetime | None = None) -> str:
    """The moment of an export for its title line: ``2026-12-05 05:23 北京时间``."""
    return f"{china_time(now or datetime.now(UTC), 'minute')} 北京时间"


def safe_cell(value: Any) -> Any:
    """``value`` with text that a spreadsheet would run as a formula prefixed by ``'``, and a time (an
    aware ``datetime``, or a text that is exactly an ISO 8601 time with an offset) as China time text;
    other values (numbers, None, dates, naive datetimes) unchanged."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return china_time(value)
    if isinstance(value, str) and ISO_AWARE.fullmatch(value):
        return china_time(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """:func:`safe_cell` of each value."""
    return [safe_cell(v) for v in values]


def csv_text(rows: Iterable[Iterable[Any]], bom: bool = True) -> str:
    """Rows as CSV text (None → empty cell), every cell through :func:`safe_cell`; with a UTF-8 BOM
    (``bom``) so that Excel shows Chinese text."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if v is None else v for v in safe_row(row)])
    return out.getvalue()


def csv_bytes(rows: Iterable[Iterable[Any]], bom: bool = True) -> bytes:
    """:func:`csv_text` encoded as UTF-8."""
    return csv_text(rows, bom).encode("utf-8")


def xlsx_append(ws, values: Iterable[Any]) -> None:
    """Append one row to an openpyxl worksheet, every cell through :func:`safe_cell` (openpyxl stores a
    string starting with ``=`` as a formula)."""
    ws.append(safe_row(values))
