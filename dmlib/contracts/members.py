"""Contract of the ``members`` service: unions, Worker Homes, departments, members, roles, imports."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.auth import ROLE_SCOPES
from dmlib.schemas import BaseSchema, Id, LoginName, MemberNo, Mobile, PageIn, PageOut, ResidentId

UNION_KINDS = ("federation", "district", "street", "grassroots")
#: Which kind of union may sit under which (federation → district → street → grassroots, levels may be skipped).
UNION_LEVEL = {kind: level for level, kind in enumerate(UNION_KINDS)}
GRANTABLE_ROLES = tuple(r for r in ROLE_SCOPES if r != "system")
Name = lambda **kw: fields.String(validate=validate.Length(min=1, max=100), **kw)  # noqa: E731


class UnionIn(BaseSchema):
    id = Id(load_default=None)
    name = Name(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(UNION_KINDS))
    parent_id = Id(load_default=None)
    worker_home_name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


class WorkerHomeOut(BaseSchema):
    id = fields.String()
    union_id = fields.String()
    name = fields.String()
    star_level = fields.Integer()


class UnionOut(BaseSchema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    parent_id = fields.String(allow_none=True)
    path = fields.List(fields.String())
    member_count = fields.Integer()
    worker_home = fields.Nested(WorkerHomeOut, allow_none=True)


class UnionTreeOut(UnionOut):
    children = fields.List(fields.Nested(lambda: UnionTreeOut()))


class DepartmentIn(BaseSchema):
    id = Id(load_default=None)
    union_id = Id(required=True)
    name = Name(required=True)


class DepartmentOut(BaseSchema):
    id = fields.String()
    union_id = fields.String()
    name = fields.String()


class MemberIn(BaseSchema):
    """A member as registered or imported. ``member_no`` is the membership card number (会员证号)."""

    member_no = MemberNo(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    union_id = Id(required=True)
    department_id = Id(load_default=None)
    phone = Mobile(load_default=None)
    email = fields.Email(load_default=None)
    national_id = ResidentId(required=True)
    gender = fields.String(load_default=None, validate=validate.OneOf(["M", "F"]))
    locale = fields.String(load_default="zh-CN", validate=validate.OneOf(["zh-CN", "en"]))


class RoleOut(BaseSchema):
    role = fields.String()
    scope = fields.String()


class TitleOut(BaseSchema):
    """An honorary title awarded to the member (e.g. 双爱双评's 爱企业的好职工), recorded by the service that
    awarded it: ``source`` (e.g. ``elections``), ``ref`` (e.g. the award round), ``title``, ``at``."""

    source = fields.String()
    ref = fields.String()
    category = fields.String(allow_none=True)
    title = fields.String()
    at = fields.String(allow_none=True)


class TitleIn(BaseSchema):
    """One title to record: ``member_id``, ``category`` (e.g. good_worker), ``title`` (≤ 200)."""

    member_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    category = fields.String(required=True, validate=validate.Length(min=1, max=64))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))


class MemberOut(BaseSchema):
    id = fields.String(metadata={"description": "the member number"})
    member_no = fields.String()
    name = fields.String()
    union_id = fields.String()
    union_name = fields.String()
    department_id = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    national_id_last4 = fields.String(metadata={"description": "only the last four characters are kept"})
    gender = fields.String(allow_none=True)
    locale = fields.String()
    login = fields.String(allow_none=True)
    roles = fields.List(fields.Nested(RoleOut))
    titles = fields.List(fields.Nested(TitleOut), metadata={"description": "honorary titles awarded"})


class PathUnionOut(BaseSchema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()


class ProfileOut(MemberOut):
    """The caller's own record: :class:`MemberOut` with their union's path and the names of their scopes."""

    union_path = fields.List(fields.Nested(PathUnionOut), metadata={"description": "from the top down"})
    scope_names = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "scope id → union name"}
    )


class MemberListIn(PageIn):
    union_id = Id(required=True)
    q = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=50),
        metadata={
            "description": "name, member number or phone (prefix); over more than 5,000 members in scope: "
            "name prefix of 2+ characters, exact phone or exact member number"
        },
    )
    include_below = fields.Boolean(
        load_default=False, metadata={"description": "also members of the unions below"}
    )
    department_id = Id(
        load_default=None,
        allow_none=True,
        metadata={"description": "only members of this department (of a grassroots union in scope)"},
    )
    role = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(GRANTABLE_ROLES),
        metadata={
            "description": "only members holding this role in a union in scope (its departments, its congress)"
        },
    )


class MemberPageOut(PageOut):
    items = fields.List(fields.Nested(MemberOut))


class GrantIn(BaseSchema):
    member_id = MemberNo(required=True)
    role = fields.String(required=True, validate=validate.OneOf(GRANTABLE_ROLES))
    scope = Id(required=True)


class RoleHoldersIn(BaseSchema):
    """Who holds one of ``roles`` in ``scope`` (``members.role_holders``, for other services)."""

    scope = Id(required=True)
    roles = fields.List(
        fields.String(validate=validate.OneOf(GRANTABLE_ROLES)),
        required=True,
        validate=validate.Length(min=1, max=len(GRANTABLE_ROLES)),
    )


class LoginIn(BaseSchema):
    login = LoginName(required=True)
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)


class PasswordIn(BaseSchema):
    member_id = MemberNo(required=True)
    new_password = fields.String(required=True, validate=validate.Length(min=8, max=128))
    current_password = fields.String(load_default=None)
    login = LoginName(load_default=None, validate=validate.Length(min=3, max=64))


class PasswordOut(BaseSchema):
    member_id = fields.String()
    login = fields.String(metadata={"description": "the login name now in force"})


class LoginMemberOut(BaseSchema):
    member_id = fields.String()
    name = fields.String()
    union_id = fields.String()
    roles = fields.List(fields.Nested(RoleOut))
    locale = fields.String()


class LoginOut(BaseSchema):
    token = fields.String(metadata={"description": "send as ``Authorization: Bearer <token>``"})
    expires_at = fields.Integer(metadata={"description": "expiry, seconds since the Unix epoch"})
    session_expires_at = fields.Integer(
        metadata={
            "description": "end of the login session (renew the token until then), seconds since the epoch"
        }
    )
    member = fields.Nested(LoginMemberOut)


class ImportIn(BaseSchema):
    """A member file to import: CSV (UTF-8, with or without BOM) or XLSX, base64-encoded."""

    filename = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^.{1,200}\.([cC][sS][vV]|[xX][lL][sS][xX])$",
            error="a .csv or .xlsx file / 须为 .csv 或 .xlsx 文件",
        ),
    )
    content_b64 = fields.String(required=True, load_only=True)
    initial_password = fields.String(
        load_default=None, load_only=True, validate=validate.Length(min=8, max=128)
    )
    stage = fields.Boolean(
        load_default=False,
        load_only=True,
        metadata={
            "description": "stage the job: its rows are counted and it waits for the admin's confirmation "
            "(the import page's two steps) instead of starting at once"
        },
    )

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data.get("content_b64"):
            raise ValidationError("the file is empty / 文件为空", "content_b64")


class ImportRowError(BaseSchema):
    row = fields.Integer(metadata={"description": "row number in the file, the header being row 1"})
    field = fields.String(allow_none=True)
    reason = fields.String()


class ImportJobOut(BaseSchema):
    id = fields.String()
    filename = fields.String()
    status = fields.String(
        metadata={"description": "staged (waiting for its confirmation) | queued | running | done | failed"}
    )
    total = fields.Integer(
        allow_none=True,
        metadata={"description": "the file's rows: counted while staged, else known when the job is done"},
    )
    processed = fields.Integer()
    inserted = fields.Integer()
    failed = fields.Integer()
    message = fields.String(allow_none=True)
    rows_per_s = fields.Float(allow_none=True)
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    errors_sample = fields.List(fields.Nested(ImportRowError))


class ImportErrorsOut(PageOut):
    items = fields.List(fields.Nested(ImportRowError))


class ImportErrorsIn(BaseSchema):
    """Query of an import's bad rows: ``page`` (1,000 rows of the file per page)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
