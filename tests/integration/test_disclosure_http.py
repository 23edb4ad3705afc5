"""Disclosure over HTTP: the gateway with the real members and disclosure services. Statuses for other
unions (403), bad input (400 with field messages), oversize attachments (413, API and form), the pages,
the register export."""

import base64
import io
import re

import pytest
from openpyxl import load_workbook

from services.disclosure.service import DisclosureService
from services.gateway.service import GatewayService
from services.members.service import MembersService
from tests.helpers import SYSTEM, member, union_admin
from tests.integration.test_disclosure_service import ITEM, national_ids

pytestmark = pytest.mark.integration

LIMIT = 4000
ADMIN = union_admin("u01", "A0000001")
M1 = member("M0000001", "u01", name="会员一")
OUTSIDER = member("B0000001", "u02")
OTHER_ADMIN = union_admin("u02", "B0000009")


@pytest.fixture
def gw(runner_factory, config, rpc_as, http):
    config = {**config, "MAX_ATTACHMENT_BYTES": LIMIT, "MAX_UPLOAD_BYTES": 50000}
    runner_factory(config, GatewayService, MembersService, DisclosureService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for u in ("u01", "u02"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "ftu"}
            )
        rpc.members.create_department({"id": "u01-d1", "union_id": "u01", "name": "生产部"})
        for no, nid in zip(("A0000001", "M0000001", "M0000002"), national_ids(3), strict=True):
            rpc.members.register_member(
                {
                    "member_no": no,
                    "name": f"会员{no[-1]}",
                    "union_id": "u01",
                    "national_id": nid,
                    "department_id": "u01-d1",
                }
            )
    return http


def test_other_unions_get_403_members_cannot_publish(gw):
    item = gw(ADMIN).post("/api/v1/unions/u01/disclosures", json=ITEM)
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    s = gw(OUTSIDER)
    assert s.get("/api/v1/unions/u01/disclosures").status_code == 403
    assert s.get(f"/api/v1/disclosures/{item_id}").status_code == 403
    asked = s.post(f"/api/v1/disclosures/{item_id}/questions", json={"text": "外单位能问吗？"})
    assert asked.status_code == 403 and asked.json()["error"] == "forbidden"
    assert s.get(f"/disclosures/{item_id}").status_code == 403  # the page too
    assert gw(M1).post("/api/v1/unions/u01/disclosures", json=ITEM).status_code == 403
    assert gw(OTHER_ADMIN).post("/api/v1/unions/u01/disclosures", json=ITEM).status_code == 403
    assert gw(None).get("/api/v1/unions/u01/disclosures").status_code == 401
    assert gw(M1).get("/api/v1/disclosures/dnothing").status_code == 404


BAD_BODIES = [
    ({}, {"category", "period", "title", "body"}),
    ({**ITEM, "category": "gossip", "period": "2026-13"}, {"category", "period"}),
    ({**ITEM, "mandatory": "yes please"}, {"mandatory"}),
    ({**ITEM, "attachments": "a.pdf"}, {"attachments"}),
    ({**ITEM, "attachments": [{"filename": "x.exe", "content_b64": "QQ=="}]}, {"attachments"}),
]


def test_bad_input_gives_400_with_field_messages(gw):
    for body, fields in BAD_BODIES:
        r = gw(ADMIN).post("/api/v1/unions/u01/disclosures", json=body)
        assert r.status_code == 400 and r.json()["error"] == "bad_input"
        assert set(r.json()["fields"]) == fields, body
    assert gw(ADMIN).get("/api/v1/unions/u01/disclosures").json()["total"] == 0


def test_more_bad_inputs(gw):
    s = gw(ADMIN)
    assert s.post("/api/v1/unions/u01/disclosures", data="{oops").status_code == 400
    item_id = s.post("/api/v1/unions/u01/disclosures", json=ITEM).json()["id"]
    r = s.post(f"/api/v1/disclosures/{item_id}/corrections", json=ITEM)
    assert r.status_code == 400 and "reason" in r.json()["fields"]
    r = s.post(f"/api/v1/disclosures/{item_id}/withdrawal", json={"reason": ""})
    assert r.status_code == 400 and "reason" in r.json()["fields"]
    r = gw(M1).post(f"/api/v1/disclosures/{item_id}/questions", json={"text": "?", "anonymous": "maybe"})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"text", "anonymous"}
    assert gw(M1).get("/api/v1/unions/u01/disclosures?per_page=500").status_code == 400
    assert gw(M1).get(f"/api/v1/disclosures/{item_id}/revisions/7").status_code == 404


def test_oversize_attachment_gives_413_by_api_and_by_form(gw):
    big = base64.b64encode(b"x" * (LIMIT + 1)).decode()
    r = gw(ADMIN).post(
        "/api/v1/unions/u01/disclosures",
        json={**ITEM, "attachments": [{"filename": "a.pdf", "content_b64": big}]},
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    form = {**ITEM, "confirmed": "on"}
    page = gw(ADMIN).post(
        "/unions/u01/disclosures", data=form, files={"attachments": ("账目.pdf", b"x" * (LIMIT + 1))}
    )
    assert page.status_code == 413 and "publish-form" in page.text
    huge = gw(ADMIN).post(
        "/unions/u01/disclosures", data=form, files={"attachments": ("a.pdf", b"x" * 60000)}
    )
    assert huge.status_code == 413  # over MAX_UPLOAD_BYTES at the gateway
    assert gw(ADMIN).get("/api/v1/unions/u01/disclosures").json()["total"] == 0


def test_publish_form_board_item_page_questions_and_export(gw):
    # the http fixture hands out one session: choose the identity before each request
    def s():
        return gw(ADMIN)

    def m():
        return gw(M1)

    bad = s().post("/unions/u01/disclosures", data={**ITEM, "title": "", "confirmed": "on"})
    assert bad.status_code == 400 and 'id="title-error"' in bad.text
    unboxed = s().post("/unions/u01/disclosures", data=ITEM)  # issue 16: publishing is confirmed
    assert (
        unboxed.status_code == 400
        and 'id="confirmed-error"' in unboxed.text
        and ITEM["title"] in unboxed.text
    )
    assert s().get("/api/v1/unions/u01/disclosures").json()["total"] == 0
    ok = s().post(
        "/unions/u01/disclosures",
        data={
            **ITEM,
            "body": "正文 <script>alert(1)</script> [x](javascript:alert(1))",
            "mandatory": "on",
            "confirmed": "on",
        },
        files={"attachments": ("食堂账目.csv", "月份,收入\n1,100\n".encode())},
        allow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    item_path = ok.headers["Location"]
    item_id = item_path.rsplit("/", 1)[1]
    board = m().get("/disclosures")
    assert board.status_code == 200 and "三月工资调整方案" in board.text
    assert re.search(r'class="entry unread"[^>]*data-id="' + item_id, board.text)
    english = m().get("/disclosures?lang=en").text
    assert "Factory-affairs disclosure" in english and "Wages and bonuses" in english and "2026-03" in english
    assert "厂务公开" in m().get("/disclosures").text and "工资奖金" in m().get("/disclosures").text
    page = m().get(item_path)
    assert (
        page.status_code == 200 and "<script>alert" not in page.text and 'href="javascript' not in page.text
    )
    assert "&lt;script&gt;" in page.text and "食堂账目.csv" in page.text
    assert not re.search(r'class="entry unread"', m().get("/disclosures").text)  # read now
    att = re.search(r'href="(/disclosures/[^"]+/attachments/[^"]+)"', page.text).group(1)
    download = m().get(att)
    assert download.status_code == 200 and download.content.startswith("月份".encode())
    assert download.headers["Content-Disposition"].startswith("attachment;")
    asked = m().post(
        f"/disclosures/{item_id}/questions",
        data={"text": "食堂补贴标准何时公布？", "anonymous": "on"},
        allow_redirects=False,
    )
    assert asked.status_code == 303
    short = m().post(f"/disclosures/{item_id}/questions", data={"text": "?"})
    assert short.status_code == 400 and 'id="text-error"' in short.text
    desk = s().get("/unions/u01/disclosures/questions")
    assert "食堂补贴标准何时公布？" in desk.text and "匿名" in desk.text
    q_id = re.search(r'id="q-(q[0-9a-f]+)"', desk.text).group(1)
    answered = s().post(
        f"/disclosure-questions/{q_id}/answer",
        data={"text": "下月初公布。", "next": "/unions/u01/disclosures/questions"},
        allow_redirects=False,
    )
    assert answered.status_code == 303 and answered.headers["Location"].startswith(
        "/unions/u01/disclosures/questions"
    )
    assert "下月初公布。" in m().get(item_path).text
    corrected = s().post(
        f"/disclosures/{item_id}/correct",
        data={**ITEM, "reason": "补充说明", "mandatory": "on", "confirmed": "on"},
        allow_redirects=False,
    )
    assert corrected.status_code == 303
    assert f"/disclosures/{item_id}/revisions/1" in m().get(item_path).text
    old = m().get(f"/disclosures/{item_id}/revisions/1")
    assert old.status_code == 200 and "&lt;script&gt;" in old.text and 'href="javascript' not in old.text
    for path in (
        "/unions/u01/disclosures/dashboard",
        f"/disclosures/{item_id}/reads",
        "/unions/u01/disclosures/new",
    ):
        r = s().get(path)
        assert r.status_code == 200, path
    reads = s().get(f"/disclosures/{item_id}/reads").text
    assert (
        "read-ring" in reads and "department-chart" in reads and "会员2" in reads
    )  # M0000002 has not read it
    unread_csv = s().get(f"/disclosures/{item_id}/unread.csv")
    assert unread_csv.status_code == 200 and unread_csv.text.splitlines()[1:] == [
        "A0000001,会员1,生产部",
        "M0000002,会员2,生产部",
    ]
    assert m().get(f"/disclosures/{item_id}/unread.csv").status_code == 403
    assert m().get("/unions/u01/disclosures/dashboard").status_code == 403
    export = s().get("/unions/u01/disclosures/register.xlsx")
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("application/vnd.openxml")
    ws = load_workbook(io.BytesIO(export.content)).active
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    assert (
        rows[0][0] == item_id
        and rows[0][3] == ITEM["title"]
        and rows[0][5] == 2
        and rows[0][13] == "补充说明"
    )
    assert rows[0][9] == 1 and rows[0][10] == round(1 / 3, 4)  # M1 of 3 members has read it
    assert gw(M1).get("/api/v1/unions/u01/disclosures/register.xlsx").status_code == 403
