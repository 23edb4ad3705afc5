"""The cases service (接诉即办) with the real members service, RabbitMQ and FerretDB: a case through
every state and both rounds, transfers, overdue escalation once, refusals, the progress query, the
indicators and the events."""

import base64
from datetime import timedelta

import pytest
from nameko.testing.services import replace_dependencies
from nameko.testing.utils import get_extension

from dmlib.auth import Actor, Grant
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, PayloadTooLarge
from services.cases.service import CasesService, Clock
from services.members.service import MembersService
from tests.helpers import SYSTEM, event_recorder, member, union_admin, valid_ids, wait_until
from tests.unit.cases_fakes import FakeSms

pytestmark = pytest.mark.integration

SEEN: list[tuple[str, dict]] = []
EVENTS = ["case_received", "case_dispatched", "case_replied", "case_rated", "case_closed", "case_overdue"]
Recorder = event_recorder("cases_recorder", "cases", EVENTS, SEEN)

WORKER = member("M0000001", "u01", name="王师傅")
ADMIN = union_admin("u01", "A0000001")
OTHER_ADMIN = union_admin("u02", "B0000009")
HOTLINE = Actor("H0000001", "热线员", "area", (Grant("hotline_staff", "area"),))
SUPERIOR = Actor("S0000001", "园区总工会", "area", (Grant("superior_admin", "area"),))
CASE = {
    "case_type": "complaint",
    "category": "wage_arrears",
    "title": "拖欠十月份工资",
    "description": "公司十月份工资至今未发，车间三十多名工人受影响。",
    "employer": {"union_id": "u01"},
    "phone": "13800138000",
}


@pytest.fixture
def world(container_factory, config, rpc_as):
    SEEN.clear()
    sms = FakeSms()
    cases = container_factory(
        CasesService, {**config, "CASE_WATCH_INTERVAL_S": 3600, "MAX_ATTACHMENT_BYTES": 4096}
    )
    replace_dependencies(cases, sms=sms)
    for container in (container_factory(MembersService, config), cases, container_factory(Recorder, config)):
        container.start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "经开区总工会", "kind": "street", "parent_id": "ftu"})
        for u in ("u01", "u02"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "area"}
            )
        rpc.members.register_member(
            {"member_no": "M0000001", "name": "王师傅", "union_id": "u01", "national_id": valid_ids(1)[0]}
        )
    return rpc_as, get_extension(cases, Clock), sms


def test_a_case_through_every_state_and_both_rounds(world):
    rpc_as, _clock, _sms = world
    with rpc_as(WORKER) as rpc:
        case = rpc.cases.file_case(CASE)
        assert case["state"] == "received" and len(case["id"]) == 11
        cid = case["id"]
    with rpc_as(ADMIN) as rpc:
        case = rpc.cases.dispatch(cid, {"union_id": "u01", "complexity": "general"})
        assert case["state"] == "dispatched" and [x["limit"] for x in case["rounds"][0]["limits"]] == [
            "sign_for",
            "contact",
            "reply",
        ]
        rpc.cases.sign_for(cid)
        rpc.cases.contact(cid, {"method": "phone", "note": "已与诉求人通话"})
        rpc.cases.add_note(cid, {"text": "企业称资金周转困难"})
        rpc.cases.interim_reply(cid, {"text": "已约谈企业负责人，正在核实。"})
        case = rpc.cases.reply(cid, {"text": "企业承诺本月十五日前补发工资。"})
        assert case["state"] == "replied"
    with rpc_as(WORKER) as rpc:
        case = rpc.cases.rate(cid, {"satisfaction": "dissatisfied", "resolved": False})
        assert (case["state"], case["round"]) == ("dispatched", 2)
        assert "note" not in [h["action"] for h in rpc.cases.get_case(cid)["history"]]
    with rpc_as(ADMIN) as rpc:
        rpc.cases.sign_for(cid)
        rpc.cases.contact(cid, {"method": "visit"})
        rpc.cases.reply(cid, {"text": "工资已于十一月十日全部补发到位。"})
    with rpc_as(WORKER) as rpc:
        case = rpc.cases.rate(cid, {"satisfaction": "satisfied", "resolved": True, "comment": "感谢工会"})
        assert case["state"] == "closed"
    with rpc_as(HOTLINE) as rpc:
        case = rpc.cases.follow_up(cid, {"text": "回访：工资已到账，诉求人满意"})
        assert case["history"][-1]["action"] == "follow_up"

    def unique():
        return [e for e, _ in {p["event_id"]: (e, p) for e, p in SEEN}.values()]

    wait_until(lambda: unique().count("case_dispatched") == 2 and "case_closed" in unique())
    kinds = [e for e, p in {p["event_id"]: (e, p) for e, p in SEEN}.values() if p["case_id"] == cid]
    assert kinds.count("case_replied") == 2 and kinds.count("case_rated") == 2
    with rpc_as(SUPERIOR) as rpc:
        month = case["received_at"][:7]
        out = rpc.cases.indicators({"union_id": "area", "from_month": month, "to_month": month})
    # November's counters at the area: one case, responded, two rounds due and closed on time, final rating
    assert out["counts"]["received"] == 1 and out["counts"]["dispatched"] == 1
    assert out["counts"]["rated"] == 1 and out["counts"]["satisfied"] == 1
    assert out["rates"]["satisfaction_rate"] == 1.0


def test_refusals(world):
    rpc_as, _clock, _sms = world
    with rpc_as(WORKER) as rpc:
        cid = rpc.cases.file_case(CASE)["id"]
        with pytest.raises(BadInput) as bad:
            rpc.cases.file_case({**CASE, "title": "短", "case_type": "praise"})
        assert {"title", "case_type"} <= set(bad.value.fields)
    with rpc_as(OTHER_ADMIN) as rpc:
        with pytest.raises(Forbidden):
            rpc.cases.get_case(cid)
        with pytest.raises(Forbidden):
            rpc.cases.dispatch(cid, {"union_id": "u02"})
    with rpc_as(ADMIN) as rpc:
        with pytest.raises(BadInput) as bad:
            rpc.cases.dispatch(cid, {"union_id": "u01", "complexity": "easy"})
        assert "complexity" in bad.value.fields
        rpc.cases.dispatch(cid, {"union_id": "u01"})
        with pytest.raises(Conflict):
            rpc.cases.dispatch(cid, {"union_id": "u01"})
        with pytest.raises(Conflict):
            rpc.cases.reply(cid, {"text": "尚未签收就直接答复的内容"})
        with pytest.raises(NotFound):
            rpc.cases.get_case("26010100001")
    with rpc_as(OTHER_ADMIN) as rpc:
        with pytest.raises(Forbidden):
            rpc.cases.sign_for(cid)


def test_transfer_and_overdue_escalation_fires_once(world):
    rpc_as, clock, _sms = world
    with rpc_as(HOTLINE) as rpc:
        call = {
            **CASE,
            "phone": None,
            "channel": "phone",
            "caller": {"name": "张先生", "phone": "13900139000"},
        }
        with pytest.raises(BadInput) as bad:  # not a member
            rpc.cases.record_call("area", {**call, "member_id": "M0000999"})
        assert "member_id" in bad.value.fields
        calling_member = rpc.cases.record_call("area", {**call, "member_id": "M0000001"})
        assert calling_member["worker"]["member_id"] == "M0000001" and calling_member["my_roles"] == [
            "receiver"
        ]
        cid = rpc.cases.record_call("area", call)["id"]
        rpc.cases.dispatch(cid, {"union_id": "area", "complexity": "general"})
    with rpc_as(SUPERIOR) as rpc:
        case = rpc.cases.transfer(cid, {"union_id": "u01", "reason": "属地企业，转基层工会办理"})
        assert case["handling_union_id"] == "u01"
    with rpc_as(SYSTEM) as rpc:
        clock.offset = timedelta(days=12)
        first = rpc.cases.check_limits()
        second = rpc.cases.check_limits()
    assert first["escalated"] == 1 and second["escalated"] == 0
    wait_until(lambda: any(e == "case_overdue" for e, _ in SEEN))
    overdue = list(
        {p["event_id"]: p for e, p in SEEN if e == "case_overdue"}.values()
    )  # delivery: at least once
    assert len(overdue) == 1 and overdue[0]["supervising_union_id"] == "area"
    with rpc_as(SUPERIOR) as rpc:
        case = rpc.cases.get_case(cid)
        assert case["supervised"] and case["overdue"] and case["colour"] == "red"
        page = rpc.cases.queue({"union_id": "area", "scope": "tree", "supervised": True})
        assert [r["id"] for r in page["items"]] == [cid]
    clock.offset = timedelta(0)


def test_progress_query_with_phone_and_code(world):
    rpc_as, _clock, sms = world
    with rpc_as(WORKER) as rpc:
        cid = rpc.cases.file_case(CASE)["id"]
    with rpc_as(ADMIN) as rpc:
        rpc.cases.dispatch(cid, {"union_id": "u01"})
        rpc.cases.add_note(cid, {"text": "内部意见：不对外"})
    anon = Actor("anonymous")
    with rpc_as(anon) as rpc:
        assert rpc.cases.request_query_code({"case_number": cid, "phone": "13800138000"})["sent"]
        code = sms.sent[-1][1].split("验证码：")[1][:6]
        shown = rpc.cases.query_progress({"case_number": cid, "phone": "13800138000", "code": code})
        assert shown["state"] == "dispatched"
        assert all(h["action"] != "note" and h["text"] != "内部意见：不对外" for h in shown["history"])
        with pytest.raises(NotFound):
            rpc.cases.query_progress({"case_number": cid, "phone": "13800138000", "code": code})


def test_free_text_search_in_the_queue(world, monkeypatch):
    rpc_as, _clock, _sms = world
    with rpc_as(WORKER) as rpc:
        wages = rpc.cases.file_case(CASE)["id"]  # title 拖欠十月份工资, employer u01 (u01公司工会), 王师傅
    with rpc_as(HOTLINE) as rpc:
        call = {
            **CASE,
            "title": "物流公司不签劳动合同",
            "category": "labour_contract",
            "employer": {"name": "城东物流有限公司"},
            "phone": None,
            "channel": "phone",
            "caller": {"name": "张先生", "phone": "13900139000"},
        }
        logistics = rpc.cases.record_call("area", call)["id"]
    with rpc_as(SUPERIOR) as rpc:

        def found(q, **kw):
            out = rpc.cases.queue({"union_id": "area", "scope": "tree", "q": q, **kw})
            return sorted(r["id"] for r in out["items"]), out["searched_all"]

        assert found("十月份") == ([wages], True)  # the title
        assert found("城东 物流") == ([logistics], True)  # the employer's name, blanks ignored
        assert found("Ｕ０１公司") == ([wages], True)  # full-width, any case: u01公司工会
        assert found("张先生") == ([logistics], True)  # the worker's (caller's) name
        assert found("王师傅", category="labour_contract") == ([], True)  # with the other filters
        assert found("不存在的内容") == ([], True)
        assert rpc.cases.queue({"union_id": "area", "scope": "tree"})["searched_all"] is None
        newest = rpc.cases.queue({"union_id": "area", "scope": "tree", "sort": "newest"})["items"]
        oldest = rpc.cases.queue({"union_id": "area", "scope": "tree", "sort": "oldest"})["items"]
        assert [r["id"] for r in newest] == [logistics, wages] == [r["id"] for r in reversed(oldest)]
        with pytest.raises(BadInput) as unsorted:
            rpc.cases.queue({"union_id": "area", "scope": "tree", "sort": "title"})
        assert "sort" in unsorted.value.fields
        with pytest.raises(BadInput) as bad:
            rpc.cases.queue({"union_id": "area", "q": "字" * 51})
        assert "q" in bad.value.fields
    monkeypatch.setattr("services.cases.app.SEARCH_SCAN", 1)  # bounded: only the newest case is searched
    with rpc_as(SUPERIOR) as rpc:
        out = rpc.cases.queue({"union_id": "area", "scope": "tree", "q": "十月份"})
        assert out["items"] == [] and out["searched_all"] is False
    with rpc_as(OTHER_ADMIN) as rpc, pytest.raises(Forbidden):
        rpc.cases.queue({"union_id": "u01", "q": "工资"})


def test_attachments_are_stored_and_read_only_by_the_cases_readers(world, db):
    rpc_as, _clock, _sms = world
    photo = bytes(range(256)) * 8  # 2,048 bytes: under the 4,096-byte limit of this test

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    files = [
        {"filename": "工资条.png", "content_b64": b64(photo)},
        {"filename": "说明.txt", "content_b64": b64(b"x")},
    ]
    with rpc_as(WORKER) as rpc:
        case = rpc.cases.file_case({**CASE, "attachments": files})
        refs = case["attachments"]
        assert [(a["filename"], a["content_type"], a["size"]) for a in refs] == [
            ("工资条.png", "image/png", 2048),
            ("说明.txt", "text/plain", 1),
        ]
        got = rpc.cases.get_attachment(case["id"], refs[0]["id"])  # the worker
        assert base64.b64decode(got["content_b64"]) == photo
        before = db("cases").cases.count_documents({})
        with pytest.raises(BadInput) as bad:  # a type not accepted
            rpc.cases.file_case({**CASE, "attachments": [{"filename": "run.exe", "content_b64": b64(b"MZ")}]})
        assert "attachments" in bad.value.fields
        with pytest.raises(BadInput) as bad:  # not base64
            rpc.cases.file_case({**CASE, "attachments": [{"filename": "a.pdf", "content_b64": "%%%"}]})
        assert "attachments" in bad.value.fields
        with pytest.raises(PayloadTooLarge) as big:  # over the limit: nothing stored
            rpc.cases.file_case(
                {**CASE, "attachments": [{"filename": "a.pdf", "content_b64": b64(b"0" * 4097)}]}
            )
        assert "attachments" in big.value.fields
        with pytest.raises(BadInput) as bad:  # at most 5
            rpc.cases.file_case({**CASE, "attachments": files * 3})
        assert "attachments" in bad.value.fields
        assert db("cases").cases.count_documents({}) == before
        assert db("cases").attachments.count_documents({}) == 2
    with rpc_as(ADMIN) as rpc:  # staff of the receiving union
        assert rpc.cases.get_attachment(case["id"], refs[1]["id"])["content_b64"] == b64(b"x")
    with rpc_as(OTHER_ADMIN) as rpc, pytest.raises(Forbidden):
        rpc.cases.get_attachment(case["id"], refs[0]["id"])
    with rpc_as(member("M0000002", "u01")) as rpc, pytest.raises(Forbidden):  # another member
        rpc.cases.get_attachment(case["id"], refs[0]["id"])
    with rpc_as(WORKER) as rpc:
        second = rpc.cases.file_case(CASE)["id"]
        with pytest.raises(NotFound):  # a file of another case
            rpc.cases.get_attachment(second, refs[0]["id"])
        with pytest.raises(NotFound):
            rpc.cases.get_attachment(case["id"], "f000000000000")
