"""Rules of the member registry (no nameko, no pymongo): the union tree, role scopes, identifiers and the
rows of a member import. Who may apply them is :mod:`services.members.policy`; reading files is
:mod:`services.members.importer`.

Sources: the union levels follow the Trade Union Law of the PRC (中华人民共和国工会法, art. 11: national,
local and grassroots organisations) as DESIGN.md §1 models them (federation → district → street →
grassroots); members belong to a grassroots union (工会法 art. 3, 《中国工会章程》 art. 1); the resident
ID check is GB 11643-1999 (in :mod:`dmlib.schemas`); rows of an import are checked as issue 2 asked:
every bad row reported with its row number and reason, every valid row kept.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from marshmallow import ValidationError

from dmlib.auth import ADMIN_ROLES, ROLE_SCOPES
from dmlib.contracts.members import UNION_LEVEL, MemberIn
from dmlib.errors import BadInput

#: Rows per import batch: the unit of progress (one job commit, one page of errors).
BATCH_ROWS = 1000
#: How many bad rows a job shows in its summary (all are kept, a batch per page).
ERRORS_SAMPLE = 20
#: Star levels of a Worker Home (全总《职工之家建设标准》: one to five stars; 0 = not rated).
STAR_LEVELS = range(0, 6)


# ----- the union tree ------------------------------------------------------------------------------
def check_placement(kind: str, parent: dict | None) -> None:
    """A new union of ``kind`` under ``parent`` (a union document, None for a root): a union sits below
    a higher level (levels may be skipped), nothing sits under a grassroots union. BadInput otherwise."""
    if parent is None:
        return
    if parent["kind"] == "grassroots":
        raise BadInput(
            "nothing sits under a grassroots union / 基层工会下不能再设工会",
            fields={"parent_id": ["is a grassroots union"]},
        )
    if UNION_LEVEL[kind] <= UNION_LEVEL[parent["kind"]]:
        raise BadInput(
            "a union sits below a higher level / 下级工会层级须低于上级",
            fields={"kind": [f"cannot sit under a {parent['kind']}"]},
        )


def union_path(parent: dict | None, union_id: str) -> list[str]:
    """The path (root … itself) of a union ``union_id`` placed under ``parent``."""
    return [*(parent["path"] if parent else []), union_id]


def check_member_union(union: dict) -> None:
    """Members join a grassroots union (工会法 art. 3). BadInput otherwise."""
    if union["kind"] != "grassroots":
        raise BadInput(
            "members join a grassroots union / 会员须属于基层工会",
            fields={"union_id": ["not a grassroots union"]},
        )


def check_department_union(union: dict) -> None:
    """Departments (承办部门) belong to a grassroots union's enterprise. BadInput otherwise."""
    if union["kind"] != "grassroots":
        raise BadInput(
            "departments belong to a grassroots union / 部门须属于基层工会",
            fields={"union_id": ["not a grassroots union"]},
        )


def check_star_level(star_level: object) -> int:
    """A star level is an integer 0-5 (0: not rated). BadInput otherwise."""
    if isinstance(star_level, bool) or not isinstance(star_level, int) or star_level not in STAR_LEVELS:
        raise BadInput("star level is 0-5 / 星级为0-5", fields={"star_level": ["must be an integer 0-5"]})
    return star_level


# ----- role scopes ---------------------------------------------------------------------------------
def scope_kind(role: str) -> str:
    """What a role's scope names: ``union`` (the admin roles), ``department`` (``handler``), ``congress``
    (``delegate``: elected through the workers' congress, so granted by the system only)."""
    if role in ADMIN_ROLES:
        return "union"
    if role == "handler":
        return "department"
    return "congress"


def with_role(roles: Sequence[dict], role: str, scope: str) -> list[dict]:
    """The member's grants with ``{role, scope}`` added (once)."""
    grant = {"role": role, "scope": scope}
    return [dict(g) for g in roles] + ([] if grant in roles else [grant])


def without_role(roles: Sequence[dict], role: str, scope: str) -> list[dict]:
    """The member's grants with ``{role, scope}`` withdrawn (unchanged if it was not held)."""
    return [dict(g) for g in roles if g != {"role": role, "scope": scope}]


# ----- identifiers ---------------------------------------------------------------------------------
def national_id_hash(key: bytes, national_id: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of a resident ID: the only form in which it is stored, and the key
    that makes a resident ID unique in the registry."""
    return hmac.new(key, national_id.upper().encode(), hashlib.sha256).hexdigest()


def member_document(member: dict, id_hash: str, job_id: str | None = None) -> dict:
    """The stored form of a loaded :class:`MemberIn`: ``_id`` = the member number, the resident ID
    reduced to its keyed hash and last four characters; ``import_job`` names the import that wrote it
    (how a resumed import knows its own rows)."""
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


# ----- rows of an import ---------------------------------------------------------------------------
_GENDER = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
_member_schema = MemberIn()


@dataclass
class ImportContext:
    """What checking rows needs to know: the unions, departments, the importer's scope, the hash key,
    and the member numbers and resident IDs seen so far in the file (first row of each)."""

    unions: dict[str, dict]
    departments: dict[str, dict[str, str]]  # union id → {department name or id → department id}
    may_import_into: Callable[[dict], bool]
    id_key: bytes
    job_id: str
    seen_numbers: dict[str, int] = field(default_factory=dict)
    seen_ids: dict[str, int] = field(default_factory=dict)


def check_row(number: int, raw: dict, ctx: ImportContext) -> tuple[dict | None, dict | None]:
    """One row → (member document, None) or (None, error ``{row, field, reason}``).

    A row is bad when a required field is missing or invalid (the same :class:`MemberIn` as one
    registration, so identifiers are normalised the same way), its union is unknown, not grassroots or
    outside the importer's scope, its department unknown, or its member number / resident ID appeared
    in an earlier row of the file. (Clashes with the registry are found by the insert.)"""
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
        return None, _bad(number, "union_id", f"unknown union / 工会不存在: {member['union_id']}")
    if union["kind"] != "grassroots":
        return None, _bad(number, "union_id", "members join a grassroots union / 会员须属于基层工会")
    if not ctx.may_import_into(union):
        return None, _bad(number, "union_id", "union outside your scope / 超出您的管理范围")
    department = raw.get("department")
    if department:
        dep_id = ctx.departments.get(union["_id"], {}).get(department)
        if dep_id is None:
            return None, _bad(number, "department", f"unknown department / 部门不存在: {department}")
        member["department_id"] = dep_id
    number_first = ctx.seen_numbers.setdefault(member["member_no"], number)
    if number_first != number:
        return None, _bad(
            number, "member_no", f"duplicate member number, first at row {number_first} / 会员编号重复"
        )
    id_hash = national_id_hash(ctx.id_key, member["national_id"])
    id_first = ctx.seen_ids.setdefault(id_hash, number)
    if id_first != number:
        return None, _bad(
            number, "national_id", f"duplicate resident ID, first at row {id_first} / 身份证号重复"
        )
    return member_document(member, id_hash, ctx.job_id), None


def _bad(number: int, name: str, reason: str) -> dict:
    return {"row": number, "field": name, "reason": reason}


def batch_of(index: int) -> int:
    """The batch (0-based) of the ``index``-th data row (0-based) of a file."""
    return index // BATCH_ROWS


def add_sample(sample: list[dict], errors: Sequence[dict]) -> list[dict]:
    """The job's summary of bad rows with a batch's ``errors`` added, at most :data:`ERRORS_SAMPLE`."""
    return [*sample, *errors[: max(0, ERRORS_SAMPLE - len(sample))]]


# ----- member search (issue 17) --------------------------------------------------------------------
#: Characters of a name that make its search key: a search names at least this many (a name shorter than
#: this is keyed by all of it). Two covers a Chinese surname and the first character of the given name.
NAME_KEY_CHARS = 2
#: Up to this many members in the searched unions, a search reads their rosters (any ``q``, prefixes of
#: name, member number and phone); above it, it reads the search keys and ``q`` needs
#: :data:`NAME_KEY_CHARS` characters (a 1-character search over more members is refused: 400).
ROSTER_SEARCH_LIMIT = 5000


def fold(text: str) -> str:
    """The searchable form of a name or query: NFKC (full-width Latin and digits become ASCII), case
    folded, spaces removed (``"Zhang Wei"`` and ``"zhangwei"`` search alike)."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def member_search_keys(name: str, phone: str | None) -> list[str]:
    """The search keys of a member: ``n:`` + the first :data:`NAME_KEY_CHARS` characters of the folded
    name, and ``p:`` + the phone when there is one. The member number needs no key: it is the member's
    ``_id``."""
    keys = [f"n:{fold(name)[:NAME_KEY_CHARS]}"] if fold(name) else []
    if phone:
        keys.append(f"p:{phone.strip()}")
    return keys


def query_keys(q: str) -> list[str]:
    """The search keys whose entries may match ``q``: its name key (entries are then filtered by the
    whole folded ``q`` with :func:`entry_matches`) and its phone key (exact). Empty for a ``q`` shorter
    than :data:`NAME_KEY_CHARS` once folded."""
    folded = fold(q)
    if len(folded) < NAME_KEY_CHARS:
        return []
    return [f"n:{folded[:NAME_KEY_CHARS]}", f"p:{q.strip()}"]


def entry_matches(key: str, entry: dict, q: str) -> bool:
    """A search-key entry (``{i, n, u}``) found under ``key`` matches ``q``: the folded name starts with
    the folded ``q`` (name keys); every entry of the phone key ``p:<q>`` matches."""
    return key.startswith("p:") or fold(entry["n"]).startswith(fold(q))


def member_matches_prefix(q: str, member_no: str, name: str, phone: str) -> bool:
    """The member directory's search over a bounded list (rosters, a filtered list): ``q`` is a prefix
    of the name, the member number or the phone."""
    return name.startswith(q) or member_no.startswith(q) or phone.startswith(q)


def role_scopes(role: str, union_id: str, department_ids: Sequence[str] = ()) -> list[str]:
    """The scopes in which ``role`` is held within one union (dmlib.auth.ROLE_SCOPES): the union itself
    for the admin and hotline roles, its departments for ``handler``, its workers' congress for
    ``delegate`` (``cg-<union id>``: one congress per union, services/congress/store.py)."""
    kind = ROLE_SCOPES.get(role)
    if kind == "union":
        return [union_id]
    if kind == "department":
        return list(department_ids)
    if kind == "congress":
        return [f"cg-{union_id}"]
    return []
