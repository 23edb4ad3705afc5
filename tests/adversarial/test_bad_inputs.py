"""The bad inputs of issue 12 against the real RabbitMQ and FerretDB: the gateway over HTTP (and raw
sockets for bodies the client never finishes sending) with the members service behind it.

Each row of a table names the input and the answer it must get; the size checks also read the
gateway's memory (this process runs it: ``runner_factory``)."""

import io
import socket

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from openpyxl import load_workbook

from dmlib.errors import BadInput, Unauthenticated
from dmlib.exports import csv_text
from services.gateway import disclosure, evaluations, proposals
from services.gateway.service import GatewayService
from services.members.service import RPC_CALLER_ADDRESS, MembersService
from tests.helpers import SYSTEM

pytestmark = pytest.mark.integration

NID = "110115198001010019"
NID2 = "11010519491231002X"
HUNDRED_MB = 100 * 1024 * 1024
FULL_WIDTH = str.maketrans("0123456789AMX", "０１２３４５６７８９ＡＭＸ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.fixture
def gateway(runner_factory, config, rpc_as, web_session):
    """Gateway + members; u01 with admin A0000001 (login ``admin01``, password ``admin-password``)."""
    runner_factory(config, GatewayService, MembersService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "u01", "name": "u01工会", "kind": "grassroots", "parent_id": "ftu"})
        rpc.members.register_member(
            {"member_no": "A0000001", "name": "管理员", "union_id": "u01", "national_id": NID}
        )
        rpc.members.grant_role({"member_id": "A0000001", "role": "union_admin", "scope": "u01"})
        rpc.members.set_password(
            {"member_id": "A0000001", "login": "admin01", "new_password": "admin-password"}
        )
    return web_session


def login(session, name="admin01", password="admin-password"):
    return session.post("/api/v1/auth/login", json={"login": name, "password": password})


def bearer(session) -> dict:
    answer = login(session)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def raw_request(config, head: str, body_chunks=()) -> tuple[int, bytes]:
    """Send ``head`` and as many body chunks as the server takes; return (status, answer bytes)."""
    host, port = config["WEB_SERVER_ADDRESS"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the gateway answered and closed while the body was still coming: the point
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1]), answer


def chunked(total: int, size: int = 64 * 1024):
    piece = b"[" + b"1," * (size // 2 - 1) + b"1"
    sent = 0
    while sent < total:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sent += len(piece)
    yield b"0\r\n\r\n"


# ----- bodies ------------------------------------------------------------------------------------
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_100_mb_body_is_refused_with_413_and_the_gateway_does_not_grow(gateway, config, framing):
    head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if framing == "content-length":
        head += f"Content-Length: {HUNDRED_MB}\r\n\r\n"
        body = (b"x" * (64 * 1024) for _ in range(HUNDRED_MB // (64 * 1024)))
    else:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        body = chunked(HUNDRED_MB)
    before = rss_bytes()
    status, answer = raw_request(config, head, body)
    grown = rss_bytes() - before
    assert status == 413, answer[:300]
    assert b"payload_too_large" in answer or b"413" in answer
    assert grown < 20 * 1024 * 1024, f"gateway grew by {grown} bytes"


def test_a_body_just_under_the_limit_is_parsed(gateway):
    padding = "x" * (1024 * 1024 - 100)
    answer = gateway.post("/api/v1/auth/login", json={"login": "admin01", "password": "p", "pad": padding})
    assert answer.status_code == 400 and "pad" in answer.json()["fields"]  # read and validated, not 413


@pytest.mark.parametrize("depth", [33, 50_000])
def test_deep_nesting_is_a_400(gateway, depth):
    answer = gateway.post(
        "/api/v1/auth/login", data="[" * depth + "]" * depth, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_input" and "_body" in answer.json()["fields"]


# ----- look-alike identifiers ----------------------------------------------------------------------
LOOKALIKES = [
    # (what, member_no, national_id, status, field)
    ("lower-case member number", "a0000001", "110101199003074514", 409, "member_no"),
    ("member number with a newline", "A0000001\n", "110101199003074514", 409, "member_no"),
    ("member number with spaces", "  A0000001 ", "110101199003074514", 409, "member_no"),
    ("full-width member number", "A0000001".translate(FULL_WIDTH), "110101199003074514", 409, "member_no"),
    ("resident ID in full-width digits", "C0000001", NID.translate(FULL_WIDTH), 409, "national_id"),
    ("resident ID with lower-case x", "C0000002", NID2.lower(), 201, None),
    ("resident ID in Arabic-Indic digits", "C0000003", NID.translate(ARABIC_INDIC), 400, "national_id"),
    (
        "member number in Arabic-Indic digits",
        "A" + "0000002".translate(ARABIC_INDIC),
        "110101199003074514",
        400,
        "member_no",
    ),
]


@pytest.mark.parametrize(
    ("what", "member_no", "national_id", "status", "field"), LOOKALIKES, ids=[r[0] for r in LOOKALIKES]
)
def test_lookalike_identifiers_are_the_same_member_or_refused(
    gateway, what, member_no, national_id, status, field
):
    answer = gateway.post(
        "/api/v1/members",
        json={"member_no": member_no, "name": "张三", "union_id": "u01", "national_id": national_id},
        headers=bearer(gateway),
    )
    assert answer.status_code == status, answer.text
    if field:
        assert field in answer.json()["fields"]


@pytest.mark.parametrize("name", ["admin01", "ADMIN01", " admin01\n", "ａｄｍｉｎ０１"])
def test_lookalike_logins_find_the_same_account(gateway, name):
    answer = login(gateway, name)
    assert answer.status_code == 200, answer.text
    assert answer.json()["member"]["member_id"] == "A0000001"


# ----- control and direction characters ------------------------------------------------------------
CONTROLS = {
    "NUL": "\x00",
    "bell": "\x07",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "right-to-left isolate": "\u2067",
    "right-to-left mark": "\u200f",
    "line separator": "\u2028",
    "newline in a name": "\n",
}


@pytest.mark.parametrize("char", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/members",
            {"member_no": "D0000001", "name": "张{}三", "union_id": "u01", "national_id": NID2},
            "name",
        ),
        ("/api/v1/unions", {"name": "工{}会", "kind": "grassroots", "parent_id": "ftu"}, "name"),
        ("/api/v1/unions/u01/departments", {"name": "生产{}部"}, "name"),
    ],
    ids=["member name", "union name", "department name"],
)
def test_control_and_bidi_characters_are_refused(gateway, db, char, path, body, field):
    body = {k: v.replace("{}", char) if isinstance(v, str) else v for k, v in body.items()}
    if path.endswith("departments"):
        body["union_id"] = "u01"
    answer = gateway.post(path, json=body, headers=bearer(gateway))
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["fields"]
    assert db("members").members.count_documents({"_id": "D0000001"}) == 0


# ----- sessions ------------------------------------------------------------------------------------
def test_a_token_after_logout_is_refused_by_the_gateway_and_by_the_services(gateway, config):
    headers = bearer(gateway)
    token = headers["Authorization"][7:]
    assert gateway.get("/api/v1/me", headers=headers).status_code == 200
    assert gateway.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert gateway.get("/api/v1/me", headers=headers).status_code == 401
    assert gateway.post("/api/v1/members", json={}, headers=headers).status_code == 401
    with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=10) as rpc:
        with pytest.raises(Unauthenticated):
            rpc.members.profile()
    assert gateway.get("/api/v1/me", headers=bearer(gateway)).status_code == 200  # a new login works


# ----- RPC arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "args", "field"),
    [
        ("get_member", ({"$regex": ".*"},), "member_id"),
        ("get_member", ({"$ne": None},), "member_id"),
        ("get_union", ({"$gt": ""},), "union_id"),
        ("union_roster", ("u01", {"$gt": 0}), "offset"),
        ("get_import", (["x"],), "job_id"),
        ("grant_role", ({"member_id": {"$regex": "."}, "role": "handler", "scope": "u01"},), "member_id"),
    ],
)
def test_operator_documents_as_ids_are_refused(gateway, rpc_as, method, args, field):
    with rpc_as(SYSTEM) as rpc, pytest.raises(BadInput) as refused:
        getattr(rpc.members, method)(*args)
    assert field in refused.value.fields


def test_an_rpc_caller_cannot_choose_the_client_address_of_the_login_limits(gateway, rpc_as, db):
    with rpc_as(SYSTEM) as rpc:
        for address in ("203.0.113.1", "203.0.113.2"):
            with pytest.raises(Unauthenticated):
                rpc.members.authenticate({"login": "admin01", "password": "wrong"}, address)
    keys = [d["_id"] for d in db("members").login_attempts.find()]
    assert not any("203.0.113" in k for k in keys), keys
    assert any(k.startswith(f"addr:{RPC_CALLER_ADDRESS}:") for k in keys), keys


def test_the_gateway_passes_the_real_client_address(gateway, db):
    assert login(gateway, password="wrong").status_code == 401
    keys = [d["_id"] for d in db("members").login_attempts.find()]
    assert any(k.startswith("addr:127.0.0.1:") for k in keys), keys


# ----- exports -------------------------------------------------------------------------------------
FORMULA = '=HYPERLINK("http://evil.example","点我")'
DISCLOSURE_ROW = {
    "id": "d1", "category_label": "安全生产", "period_label": "2026年3月", "title": FORMULA, "status": "published",
    "revision": 1, "mandatory": True, "published_at": "2026-03-05T01:00:00+00:00", "published_by_name": "@admin",
    "read": 3, "rate": 0.25, "questions_total": 1, "questions_open": 0, "correction_reasons": ["+1"],
    "withdraw_reason": "-x",
}  # fmt: skip
PROPOSAL = {
    "number": 1, "subject": FORMULA, "category_label": "生产经营", "proposer": {"member_id": "M1", "name": "@张三"},
    "cosigners": [{"name": "-李四"}], "state": "closed", "review": {"decision": "accepted", "reason": "\t=1"},
    "rounds": [{"departments": [{"name": "=部门"}], "deadline": None, "replied_at": None, "on_time": None}],
    "ratings": [], "round": 1, "excellent": False,
}  # fmt: skip
RESULTS = {
    "campaign": {"title": FORMULA, "weights": {"member": 50, "unit": 25, "superior": 25}, "ballots": 1, "eligible": 2,
                 "thresholds": [90, 80, 70, 60, 50], "rules": {"min_participation": 30, "no_ballots": "exclude", "star_basis": "published"}},
    "rows": [{"rank": 1, "name": FORMULA, "union_name": "+工会", "member_score": -5.0, "total": 1.0}],
}  # fmt: skip
HEADERS = [h for h, _ in evaluations.EXPORT_COLUMNS]


def _xlsx_cells(content: bytes) -> list:
    return [c for row in load_workbook(io.BytesIO(content)).active.iter_rows() for c in row]


def _csv_cells(content: bytes | str) -> list[str]:
    import csv

    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content.lstrip("\ufeff")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


EXPORTS = {
    "evaluations results.csv": lambda: _csv_cells(evaluations.results_csv(RESULTS, HEADERS)),
    "evaluations results.xlsx": lambda: _xlsx_cells(evaluations.results_xlsx(RESULTS, HEADERS)),
    "disclosure register.xlsx": lambda: _xlsx_cells(
        disclosure.register_xlsx({"union_name": "u01", "members": 4, "items": [DISCLOSURE_ROW]})
    ),
    "proposals register.xlsx": lambda: _xlsx_cells(
        proposals.register_xlsx({"window": {"session_title": FORMULA}, "proposals": [PROPOSAL]})
    ),
    # the unread-members CSV and the import-errors CSV are written by dmlib.exports.csv_text itself
    "unread / import errors CSV": lambda: _csv_cells(
        csv_text([["会员编号", "姓名"], ["M1", FORMULA], ["M2", "@x"]])
    ),
}


@pytest.mark.parametrize("export", EXPORTS.values(), ids=EXPORTS.keys())
def test_no_export_holds_a_live_formula(export):
    cells = export()
    texts = [getattr(c, "value", c) for c in cells]
    assert "'" + FORMULA in texts  # the planted text is there, neutralised
    for cell in cells:
        value = getattr(cell, "value", cell)
        assert getattr(cell, "data_type", "s") != "f"
        if isinstance(value, str) and not _is_number(value):
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def _is_number(text: str) -> bool:  # a CSV writes numbers as text: -5.0 is a number, not a formula
    try:
        float(text)
    except ValueError:
        return False
    return True
