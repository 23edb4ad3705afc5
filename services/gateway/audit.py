"""HTTP API and pages of the audit log (审计日志): admins browse the changes people made in their union
and the unions below it (the federation's admin: all), by actor, object and date range, with paging,
and export them as CSV or XLSX; anyone allowed to read a union's log may have its chain verified. Rights
are checked by the audit service on the caller's token."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import urlencode

from openpyxl import Workbook
from openpyxl.styles import Font

from dmlib.contracts import audit as c
from dmlib.exports import china_time, csv_bytes, export_stamp, xlsx_append

from .http import api, page
from .pages import download
from .routing import Router

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILTERS = ("actor", "object_type", "object_id", "date_from", "date_to")
#: Export columns: (English header id, how to get the value from an entry).
EXPORT_COLUMNS = [
    ("Time (China time)", lambda e: china_time(e["at"])),
    ("Union", lambda e: e["union_id"]),
    ("No.", lambda e: e["seq"]),
    ("Member number", lambda e: e["actor"]["member_id"]),
    ("Name", lambda e: e["actor"]["name"]),
    ("Role", lambda e: e["role"]),
    ("Action", lambda e: e["action"]),
    ("Object type", lambda e: e["object"]["type"]),
    ("Object", lambda e: e["object"]["id"]),
    ("Changes", lambda e: changes_text(e)),
    ("Request", lambda e: e.get("request_id") or ""),
    ("Hash", lambda e: e["hash"]),
]


def changes_text(entry: dict) -> str:
    """``field: before → after; …`` and the note, for a table cell."""
    parts = [f"{ch['field']}: {ch['before']} → {ch['after']}" for ch in entry.get("changes") or []]
    parts += [f"{k}: {v}" for k, v in (entry.get("note") or {}).items()]
    return "; ".join(parts)


def filters_of(args) -> dict:
    """The non-empty filters and paging of a query string (a form sends empty fields)."""
    return {k: v for k, v in args.items() if k in (*FILTERS, "page", "per_page") and v.strip()}


def export_rows(entries: list[dict]) -> list[list]:
    return [[get(e) for _, get in EXPORT_COLUMNS] for e in entries]


def entries_csv(entries: list[dict], headers: list[str]) -> bytes:
    """The entries as CSV (UTF-8 with BOM so that Excel shows the Chinese; :func:`dmlib.exports.csv_bytes`
    neutralises formula cells)."""
    return csv_bytes([headers, *export_rows(entries)])


def entries_xlsx(entries: list[dict], headers: list[str], title: str) -> bytes:
    """The entries as an XLSX workbook: a title line, the headers, one row per entry."""
    wb = Workbook()
    ws = wb.active
    ws.title = "审计日志"
    xlsx_append(ws, [title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in export_rows(entries):
        xlsx_append(ws, row)
    for col, width in zip("ABCDEFGHIJKL", [24, 8, 6, 12, 10, 14, 30, 10, 24, 60, 34, 20], strict=True):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


class AuditRoutes(Router):
    uses = ("audit_rpc", "members_rpc")

    # ----- API -----------------------------------------------------------------------------------
    @api(
        "GET", "/api/v1/unions/<union_id>/audit", query=c.EntriesQuery, response=c.EntriesOut, tags=["audit"]
    )
    def api_audit(self, request, union_id):
        """A page of the audit log of a union and the unions below it, newest first: who (member, role)
        changed what (action, object) from what to what, when, in which request. Filters ``actor``,
        ``object_type``, ``object_id``, ``date_from``/``date_to`` (UTC days, inclusive). Admins of the
        union or above (403 otherwise)."""
        return self.audit_rpc.list_entries({**filters_of(request.args), "union_id": union_id})

    def _export(self, request, union_id: str) -> tuple[list[dict], list[str]]:
        query = {k: v for k, v in filters_of(request.args).items() if k not in ("page", "per_page")}
        found = self.audit_rpc.export_entries({**query, "union_id": union_id})
        _ = self.web.gettext
        return found["items"], [_(h) for h, _get in EXPORT_COLUMNS]

    @api(
        "GET",
        "/api/v1/unions/<union_id>/audit.csv",
        query=c.EntriesQuery,
        response="text/csv",
        tags=["audit"],
    )
    def api_audit_csv(self, request, union_id):
        """The matching entries (same filters, no paging; at most 10,000) as CSV. Admins of the union or
        above. Cells are never formulas."""
        entries, headers = self._export(request, union_id)
        stamp = f"{datetime.now(UTC):%Y%m%d}"
        return download(entries_csv(entries, headers), "text/csv", f"audit-{union_id}-{stamp}.csv")

    @api(
        "GET",
        "/api/v1/unions/<union_id>/audit.xlsx",
        query=c.EntriesQuery,
        response=XLSX_TYPE,
        tags=["audit"],
    )
    def api_audit_xlsx(self, request, union_id):
        """The matching entries (same filters, no paging; at most 10,000) as an Excel workbook. Admins of
        the union or above. Cells are never formulas."""
        entries, headers = self._export(request, union_id)
        stamp = f"{datetime.now(UTC):%Y%m%d}"
        title = f"审计日志 {union_id} · 导出 {export_stamp()}"
        return download(entries_xlsx(entries, headers, title), XLSX_TYPE, f"audit-{union_id}-{stamp}.xlsx")

    @api("GET", "/api/v1/unions/<union_id>/audit/verify", response=c.VerifyOut, tags=["audit"])
    def api_audit_verify(self, request, union_id):
        """Verify the hash chain of the union's own log (every entry, in order) and report its first
        broken link: an edited, deleted, reordered or relinked entry. Admins of the union or above."""
        return self.audit_rpc.verify_chain({"union_id": union_id})

    # ----- pages ---------------------------------------------------------------------------------
    @page("GET", "/unions/<union_id>/audit")
    def audit_page(self, request, union_id):
        query = filters_of(request.args)
        found = self.web.attempt(self.audit_rpc.list_entries, {"per_page": 30, **query, "union_id": union_id})
        errors = found.refusal.errors if found.refusal else {}
        log = found.value or {"items": [], "total": 0, "page": 1, "pages": 1, "per_page": 30}
        union = self.members_rpc.get_union(union_id)
        keep = urlencode({k: v for k, v in query.items() if k in FILTERS})
        return self.web.render(
            "audit/log.html",
            status=found.refusal.status if found.refusal else 200,
            request=request,
            log=log,
            union=union,
            query=query,
            keep=keep,
            errors=errors,
            changes_text=changes_text,
        )
