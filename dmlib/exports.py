"""The one way to write a spreadsheet export (CSV or XLSX), safe to open in Excel or LibreOffice.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by a
spreadsheet as a formula (a live ``=HYPERLINK(…)``, ``=cmd|…``); whoever can write a proposal subject, a
Worker Home name or a member's name could otherwise plant one in an admin's export. :func:`safe_cell`
prefixes such text with ``'`` (OWASP, "CSV Injection"), and every export goes through :func:`csv_bytes`
or :func:`xlsx_append`, which apply it to every cell. Numbers, dates, None and booleans stay as they are
(a negative number is a number, not text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with text that a spreadsheet would run as a formula prefixed by ``'``; other values
    (numbers, None, dates) unchanged."""
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
