"""HTTP API and pages of the member registry: union tree, departments, members, roles, imports."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from dmlib.contracts import members as c
from dmlib.contracts.members import GRANTABLE_ROLES
from dmlib.errors import BadInput
from dmlib.exports import csv_text

from .http import ApiEndpoint, api, page
from .openapi import request_body
from .pages import check_upload, download, require_confirmed
from .routing import Router

#: The member file's columns, in the template's order (the members service's importer reads these and
#: its Chinese aliases: services/members/importer.py HEADER_ALIASES).
IMPORT_COLUMNS = ("member_no", "name", "union_id", "department", "phone", "email", "national_id", "gender")
#: The template's header rows: Chinese by default (issue 16), English on ``?headers=en``; both are read.
IMPORT_TEMPLATES = {
    "zh": "会员编号,姓名,工会编号,部门,手机号,电子邮箱,身份证号,性别\r\n",
    "en": ",".join(IMPORT_COLUMNS) + "\r\n",
}
#: The import's two request forms (it parses the body itself: a multipart upload or JSON).
IMPORT_BODY = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "a .csv or .xlsx file"},
                "initial_password": {"type": "string", "minLength": 8, "maxLength": 128},
            },
            "required": ["file"],
        }
    },
    "application/json": {"schema": c.ImportIn},
}


class MembersRoutes(Router):
    uses = ("members_rpc",)

    # ----- API -----------------------------------------------------------------------------------
    @api("GET", "/api/v1/unions", response=[c.UnionTreeOut], tags=["members"])
    def api_union_tree(self, request):
        """The union tree (federation → district → street → grassroots union), nested."""
        return self.members_rpc.union_tree()

    @api("POST", "/api/v1/unions", body=c.UnionIn, response=c.UnionOut, status=201, tags=["members"])
    def api_create_union(self, request, body):
        """Create a union under a parent the caller administers (a grassroots union gets its Worker Home)."""
        return self.members_rpc.create_union(body)

    @api("GET", "/api/v1/unions/<union_id>", response=c.UnionOut, tags=["members"])
    def api_get_union(self, request, union_id):
        """One union with its path, member count and Worker Home."""
        return self.members_rpc.get_union(union_id)

    @api("GET", "/api/v1/unions/<union_id>/departments", response=[c.DepartmentOut], tags=["members"])
    def api_departments(self, request, union_id):
        """Departments of a grassroots union's enterprise."""
        return self.members_rpc.list_departments(union_id)

    @api(
        "POST",
        "/api/v1/unions/<union_id>/departments",
        body=c.DepartmentIn,
        response=c.DepartmentOut,
        status=201,
        tags=["members"],
    )
    def api_create_department(self, request, union_id, body):
        """Add a department (admins of the union or above)."""
        return self.members_rpc.create_department({**body, "union_id": union_id})

    @api(
        "GET",
        "/api/v1/unions/<union_id>/members",
        query=c.MemberListIn,
        response=c.MemberPageOut,
        tags=["members"],
    )
    def api_union_members(self, request, union_id):
        """A page of a union's members (admins of the union or above): ``page``, ``per_page`` (≤ 200),
        ``include_below``, ``q``: over up to 5,000 members in scope a prefix of name, member number or
        phone; over more, a name prefix of 2 characters or more, an exact phone or member number (400 for
        a 1-character ``q`` there); ``department_id`` (one department), ``role`` (holders of a role in
        the unions in scope)."""
        return self.members_rpc.list_members({**request.args.to_dict(), "union_id": union_id})

    @api("POST", "/api/v1/members", body=c.MemberIn, response=c.MemberOut, status=201, tags=["members"])
    def api_register_member(self, request, body):
        """Register a member (admins of the member's union or above). 409 if the member number or
        resident ID is already registered."""
        return self.members_rpc.register_member(body)

    @api("GET", "/api/v1/members/<member_id>", response=c.MemberOut, tags=["members"])
    def api_get_member(self, request, member_id):
        """One member: oneself, or as an admin of their union or above."""
        return self.members_rpc.get_member(member_id)

    @api("POST", "/api/v1/members/<member_id>/roles", body=c.GrantIn, response=c.MemberOut, tags=["members"])
    def api_grant_role(self, request, member_id, body):
        """Grant a scoped role: ``{"role", "scope"}``."""
        return self.members_rpc.grant_role({**body, "member_id": member_id})

    @api("DELETE", "/api/v1/members/<member_id>/roles/<role>/<scope>", response=c.MemberOut, tags=["members"])
    def api_revoke_role(self, request, member_id, role, scope):
        """Withdraw a scoped role."""
        return self.members_rpc.revoke_role({"member_id": member_id, "role": role, "scope": scope})

    @api(
        "POST",
        "/api/v1/members/<member_id>/password",
        body=c.PasswordIn,
        response=c.PasswordOut,
        tags=["members"],
    )
    def api_reset_password(self, request, member_id, body):
        """Set a member's password and optionally login name (admins of their union or above)."""
        return self.members_rpc.set_password({**body, "member_id": member_id})

    def _import_body(self, request) -> dict:
        """The import request from a multipart upload (field ``file``) or JSON ``{filename, content_b64}``."""
        check_upload(request, self.web.max_upload_bytes)
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise BadInput(  # the field message is the catalogue's own text (services/gateway/wording.py)
                    "choose a file / 请选择文件",
                    fields={"file": ["Choose a file to upload."]},
                    reason="file_required",
                )
            content = upload.read()
            return {
                "filename": upload.filename,
                "content_b64": base64.b64encode(content).decode(),
                "initial_password": request.form.get("initial_password") or None,
            }
        return ApiEndpoint.parse_body(request, self.web.max_upload_bytes)

    @api(
        "POST",
        "/api/v1/imports",
        body=None,
        response=c.ImportJobOut,
        status=202,
        tags=["members"],
        max_body="MAX_UPLOAD_BYTES",
    )
    @request_body(IMPORT_BODY)
    def api_start_import(self, request):
        """Start a member import from a CSV or XLSX file: multipart field ``file`` (and optional
        ``initial_password``), or JSON :class:`ImportIn`. Answers 202 with the job; poll
        ``GET /api/v1/imports/{job_id}``. Columns: member_no, name, union_id, department, phone, email,
        national_id, gender (Chinese headers accepted: 会员编号, 姓名, 工会编号, 部门, 手机, 邮箱, 身份证号, 性别)."""
        return self.members_rpc.start_import(self._import_body(request))

    @api("POST", "/api/v1/imports/<job_id>/start", response=c.ImportJobOut, tags=["members"])
    def api_confirm_import(self, request, job_id):
        """Start a staged import (``"stage": true`` in the start request) once its rows are counted
        (``total`` set): the job goes from ``staged`` to ``queued``. The admin who staged it. Errors: 404,
        403, 409 ``import_not_staged`` (started, ended, or not counted yet)."""
        return self.members_rpc.confirm_import(job_id)

    @api("GET", "/api/v1/imports/<job_id>", response=c.ImportJobOut, tags=["members"])
    def api_get_import(self, request, job_id):
        """Progress of an import: ``processed`` of ``total`` rows, ``inserted``, ``failed``, a sample of errors."""
        return self.members_rpc.get_import(job_id)

    @api(
        "GET",
        "/api/v1/imports/<job_id>/errors",
        query=c.ImportErrorsIn,
        response=c.ImportErrorsOut,
        tags=["members"],
    )
    def api_import_errors(self, request, job_id):
        """The bad rows of an import with row number and reason, a page per 1,000 rows of the file."""
        try:
            page_no = int(request.args.get("page", 1))
        except ValueError:
            raise BadInput(
                "page must be a number / 页码须为数字", fields={"page": ["not an integer"]}
            ) from None
        return self.members_rpc.import_errors(job_id, page_no)

    @api("GET", "/api/v1/imports/<job_id>/errors.csv", response="text/csv", tags=["members"])
    def api_import_errors_csv(self, request, job_id):
        """All bad rows of an import as a CSV file (row, field, reason), UTF-8 with BOM for Excel."""
        rows = [["行号 row", "列 column", "原因 reason"]]
        first = self.members_rpc.import_errors(job_id, 1)
        for n in range(1, first["pages"] + 1):
            for e in (first if n == 1 else self.members_rpc.import_errors(job_id, n))["items"]:
                field = e.get("field") or ""
                rows.append([e["row"], self.web.field_label(field) if field else "", e["reason"]])
        return download(csv_text(rows), "text/csv", f"import-{job_id}-errors.csv")

    # ----- pages ---------------------------------------------------------------------------------
    @page("GET", "/unions")
    def unions_page(self, request):
        tree = self.members_rpc.union_tree()
        return self.web.render("unions.html", request=request, tree=tree)

    @page("GET", "/unions/<union_id>/members")
    def members_page(self, request, union_id):
        """The member directory of a union and every union below it (issue 16, federation views):
        ``q`` (name, member number or phone), ``union`` (one union below: its members only),
        ``department_id`` (a department of the chosen grassroots union), ``role`` (holders of a role),
        ``page`` (50 a page, in roster order; filtered by role: by member number). A refused filter
        shows the page again with the message and no rows."""
        union = self.members_rpc.get_union(union_id)
        below = [u for u in self.members_rpc.list_unions(union_id) if u["id"] != union_id]
        picked = (request.args.get("union") or "").strip()
        chosen = next((u for u in below if u["id"] == picked), union)
        filters = {
            k: (request.args.get(k) or "").strip()
            for k in ("q", "department_id", "role")
            if request.args.get(k)
        }
        if chosen is not union:
            filters["union"] = chosen["id"]
        query = {
            "union_id": chosen["id"],
            "include_below": chosen["kind"] != "grassroots",
            "page": request.args.get("page", "1"),
            "per_page": 50,
            **{k: v for k, v in filters.items() if k != "union"},
        }
        result = self.web.attempt(self.members_rpc.list_members, query)
        if result.refusal:
            listed = {"items": [], "total": 0, "page": 1, "per_page": 50, "pages": 1}
            errors = {"form": result.refusal.message, **result.refusal.errors}
        else:
            listed, errors = result.value, {}
        departments = (
            {d["id"]: d["name"] for d in self.members_rpc.list_departments(chosen["id"])}
            if chosen["kind"] == "grassroots"
            else {}
        )

        def page_link(n: int) -> str:
            return f"/unions/{quote(union_id, safe='-_')}/members?" + urlencode({**filters, "page": n})

        return self.web.render(
            "members.html",
            request=request,
            union=union,
            chosen=chosen,
            below=below,
            result=listed,
            q=filters.get("q", ""),
            filters=filters,
            errors=errors,
            departments=departments,
            roles=GRANTABLE_ROLES,
            page_link=page_link,
        )

    @page("GET", "/members/<member_id>")
    def member_page(self, request, member_id):
        member = self.members_rpc.get_member(member_id)
        return self.web.render("member.html", request=request, member=member)

    def _require_admin(self) -> None:
        """Imports are for the admins of a union (README: the member registry; DESIGN.md §3)."""
        actor = self.identity.actor
        actor.require(bool(actor.admin_unions), "union admins only / 仅工会管理员可导入会员")

    @page("GET", "/imports/new")
    def import_page(self, request):
        self._require_admin()
        return self.web.render("import.html", request=request, errors={})

    @page("GET", "/imports/template.csv")
    def import_template(self, request):
        """The member file's template: a header row in Chinese (``?headers=en``: in English), UTF-8 with
        a BOM for Excel. Either header row is accepted on upload."""
        self._require_admin()
        headers = "en" if request.args.get("headers") == "en" else "zh"
        return download("\ufeff" + IMPORT_TEMPLATES[headers], "text/csv", "members-template.csv")

    @page("POST", "/imports", max_body="MAX_UPLOAD_BYTES")
    def import_submit(self, request):
        """The import's first step: the file is stored as a *staged* job (nothing imported) and the
        browser goes to its page, which states the rows counted and asks for the confirmation
        (issue 16). A refused file: the form again with the message."""
        job = self.web.attempt(
            lambda: self.members_rpc.start_import({**self._import_body(request), "stage": True})
        )
        if job.refusal:
            return self.web.render(
                "import.html", status=job.refusal.status, request=request, errors=job.refusal.errors
            )
        return self.web.redirect(f"/imports/{job.value['id']}")

    @page("POST", "/imports/<job_id>/start")
    def import_start(self, request, job_id):
        """The import's second step: start the staged job (confirmed: every valid row is added to the
        registry, which cannot be undone). Back to the job's page with a notice; without the box, or
        when the job is not waiting (409 ``import_not_staged``), the refusal's message there."""

        def start():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            return self.members_rpc.confirm_import(job_id)

        target = f"/imports/{quote(job_id, safe='-_')}"
        return self.web.act(target, start, done=self.web.gettext("Import started"))

    @page("GET", "/imports/<job_id>")
    def import_progress_page(self, request, job_id):
        """An import job's page: while staged, the rows counted and the confirmation that starts it;
        then its progress (live, app.js), its bad rows and the link to all of them as CSV."""
        job = self.members_rpc.get_import(job_id)
        labels = {name: self.web.field_label(name) for name in IMPORT_COLUMNS}
        return self.web.render("import_progress.html", request=request, job=job, field_labels=labels)
