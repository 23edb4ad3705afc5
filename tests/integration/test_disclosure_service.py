"""The disclosure service with the real members service, RabbitMQ and FerretDB: scoping, read receipts,
revisions, withdrawal, attachments, questions and answers, events."""

import base64

import pytest

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, PayloadTooLarge
from dmlib.schemas import resident_id_check_char
from services.disclosure.service import DisclosureService
from services.members.service import MembersService
from tests.helpers import SYSTEM, event_recorder, member, union_admin, wait_until

pytestmark = pytest.mark.integration

LIMIT = 4000  # MAX_ATTACHMENT_BYTES in these tests
SEEN: list[tuple[str, dict]] = []
EVENTS = (
    "disclosure_published",
    "disclosure_corrected",
    "disclosure_withdrawn",
    "question_asked",
    "question_answered",
)


Listener = event_recorder("disclosure_listener", "disclosure", list(EVENTS), SEEN)


def national_ids(n, start=1):
    out = []
    for i in range(start, start + n):
        first17 = f"11011519800101{i:03d}"
        out.append(first17 + resident_id_check_char(first17))
    return out


# u01: the admin A0000001 (生产部) and M0000001-M0000005: 生产部 ×3 (incl. the admin), 财务部 ×2, none ×1.
U01 = [
    ("A0000001", "u01-d1"),
    ("M0000001", "u01-d1"),
    ("M0000002", "u01-d1"),
    ("M0000003", "u01-d2"),
    ("M0000004", "u01-d2"),
    ("M0000005", None),
]
ADMIN = union_admin("u01", "A0000001")
M1, M2, M3 = member("M0000001", "u01", name="会员一"), member("M0000002", "u01"), member("M0000003", "u01")
OUTSIDER = member("B0000001", "u02")
OTHER_ADMIN = union_admin("u02", "B0000009")
ITEM = {
    "category": "wages_bonuses",
    "period": "2026-03",
    "title": "三月工资调整方案",
    "body": "一线岗位上调 **5%**。",
}


@pytest.fixture
def services(runner_factory, config, rpc_as):
    SEEN.clear()
    config = {**config, "MAX_ATTACHMENT_BYTES": LIMIT}
    runner_factory(config, MembersService, DisclosureService, Listener).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "园区", "kind": "street", "parent_id": "ftu"})
        for u in ("u01", "u02"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "area"}
            )
        rpc.members.create_department({"id": "u01-d1", "union_id": "u01", "name": "生产部"})
        rpc.members.create_department({"id": "u01-d2", "union_id": "u01", "name": "财务部"})
        for (no, dep), nid in zip(U01, national_ids(len(U01)), strict=True):
            rpc.members.register_member(
                {
                    "member_no": no,
                    "name": f"会员{no[-1]}",
                    "union_id": "u01",
                    "national_id": nid,
                    "department_id": dep,
                }
            )
        rpc.members.register_member(
            {"member_no": "B0000001", "name": "乙", "union_id": "u02", "national_id": national_ids(1, 50)[0]}
        )
    return rpc_as


def publish(rpc, **change):
    return rpc.disclosure.publish("u01", {**ITEM, **change})


def test_only_members_of_the_union_list_open_and_ask(services):
    with services(ADMIN) as rpc:
        item = publish(rpc)
    with services(OUTSIDER) as rpc:
        with pytest.raises(Forbidden):
            rpc.disclosure.list_items("u01")
        with pytest.raises(Forbidden):
            rpc.disclosure.open_item(item["id"])
        with pytest.raises(Forbidden):
            rpc.disclosure.ask_question(item["id"], {"text": "为什么只调一线？"})
        with pytest.raises(Forbidden):
            rpc.disclosure.list_questions(item["id"])
        with pytest.raises(Forbidden):
            rpc.disclosure.get_revision(item["id"], 1)
        with pytest.raises(NotFound):
            rpc.disclosure.open_item("dnothing")
    with services(M1) as rpc:
        with pytest.raises(Forbidden):
            publish(rpc)  # a member cannot publish
        with pytest.raises(Forbidden):
            rpc.disclosure.item_reads(item["id"])
        with pytest.raises(Forbidden):
            rpc.disclosure.union_reads("u01")
    with services(OTHER_ADMIN) as rpc:
        with pytest.raises(Forbidden):
            publish(rpc)  # the admin of u02 cannot publish for u01
        with pytest.raises(Forbidden):
            rpc.disclosure.correct_item(item["id"], {**ITEM, "reason": "改一下"})
        with pytest.raises(Forbidden):
            rpc.disclosure.withdraw_item(item["id"], {"reason": "撤回"})
    with services(union_admin("area", "S0000001")) as rpc:  # an admin above sees it
        assert rpc.disclosure.list_items("u01")["total"] == 1
        with pytest.raises(BadInput) as info:
            rpc.disclosure.publish("area", ITEM)  # not a grassroots union
    assert "union_id" in info.value.fields


def test_opening_twice_records_one_read_and_the_rate_matches_the_receipts(services, db):
    with services(ADMIN) as rpc:
        item = publish(rpc, mandatory=True)
    with services(M1) as rpc:
        board = rpc.disclosure.list_items("u01")
        assert board["unread"] == 1 and board["items"][0]["read"] is False
        first = rpc.disclosure.open_item(item["id"])
        again = rpc.disclosure.open_item(item["id"])
        assert first["first_read"] is True and again["first_read"] is False and again["read"] is True
        assert rpc.disclosure.list_items("u01")["unread"] == 0
    for actor in (M3, ADMIN):
        with services(actor) as rpc:
            rpc.disclosure.open_item(item["id"])
    with services(union_admin("area", "S0000001")) as rpc:
        rpc.disclosure.open_item(item["id"])  # not a member of u01: no receipt
    receipts = db("disclosure").receipts.count_documents({"item_id": item["id"]})
    assert receipts == 3
    with services(ADMIN) as rpc:
        reads = rpc.disclosure.item_reads(item["id"])
        union = rpc.disclosure.union_reads("u01")
        recount = rpc.disclosure.recount_reads(item["id"])
    assert reads["read"] == receipts and reads["members"] == 6 and reads["rate"] == 0.5
    assert union["items"][0]["read"] == receipts and union["items"][0]["rate"] == 0.5
    assert recount == {"item_id": item["id"], "before": 3, "receipts": 3}
    with services(SYSTEM) as rpc:  # the roster carries each member's department (members fix)
        roster = rpc.members.union_roster("u01")["members"]
    assert [(m["member_id"], m["department_id"]) for m in roster] == U01
    by_name = {d["name"]: (d["read"], d["members"]) for d in reads["departments"]}
    assert by_name == {"生产部": (2, 3), "财务部": (1, 2), "未分部门": (0, 1)}
    assert sorted(u["member_id"] for u in reads["unread"]) == ["M0000002", "M0000004", "M0000005"]
    assert reads["unread_total"] == 3


def test_concurrent_first_opens_still_count_once(services, db):
    import eventlet

    with services(ADMIN) as rpc:
        item = publish(rpc)

    def open_once():
        with services(M2) as rpc:  # one connection per caller: proxies are not shared between threads
            return rpc.disclosure.open_item(item["id"])

    results = [c.wait() for c in [eventlet.spawn(open_once) for _ in range(6)]]
    assert sum(r["first_read"] for r in results) == 1
    assert db("disclosure").receipts.count_documents({"item_id": item["id"]}) == 1
    assert db("disclosure").items.find_one({"_id": item["id"]})["read_count"] == 1


def test_a_correction_keeps_the_old_revision_and_withdrawal_keeps_the_record(services, db):
    with services(ADMIN) as rpc:
        item = publish(rpc)
        fixed = rpc.disclosure.correct_item(
            item["id"], {**ITEM, "body": "一线岗位上调 **6%**。", "reason": "比例写错，应为6%"}
        )
        with pytest.raises(BadInput) as info:
            rpc.disclosure.correct_item(item["id"], {**ITEM})  # no reason
        assert "reason" in info.value.fields
    assert fixed["revision"] == 2 and "6%" in fixed["body_html"]
    assert fixed["previous_revisions"][0]["revision"] == 1
    assert fixed["previous_revisions"][0]["reason"] == "比例写错，应为6%"
    with services(M1) as rpc:
        old = rpc.disclosure.get_revision(item["id"], 1)
        now = rpc.disclosure.open_item(item["id"])
        with pytest.raises(NotFound):
            rpc.disclosure.get_revision(item["id"], 3)
    assert "5%" in old["body_html"] and old["revision"] == 1 and old["superseded_by"] == 2
    assert now["revision"] == 2 and now["correction_reason"] == "比例写错，应为6%"
    assert db("disclosure").revisions.find_one({"_id": f"{item['id']}:0001"})["body"] == ITEM["body"]
    with services(ADMIN) as rpc:
        gone = rpc.disclosure.withdraw_item(item["id"], {"reason": "方案待职代会审议"})
        with pytest.raises(Conflict):
            rpc.disclosure.withdraw_item(item["id"], {"reason": "再撤一次"})
        with pytest.raises(Conflict):
            rpc.disclosure.correct_item(item["id"], {**ITEM, "reason": "已撤回还改"})
    assert gone["status"] == "withdrawn" and gone["withdraw_reason"] == "方案待职代会审议"
    with services(M2) as rpc:
        still = rpc.disclosure.open_item(item["id"])  # withdrawn items stay readable
        assert rpc.disclosure.list_items("u01")["items"][0]["status"] == "withdrawn"
        assert rpc.disclosure.get_revision(item["id"], 1)["title"] == ITEM["title"]
        with pytest.raises(Conflict):
            rpc.disclosure.ask_question(item["id"], {"text": "为什么撤回了？"})
    assert still["status"] == "withdrawn" and still["revision"] == 2
    assert db("disclosure").items.count_documents({}) == 1


BAD_ITEMS = [  # (change to a good item, the fields named in the 400)
    ({"category": "gossip"}, {"category"}),
    ({"period": "2026-13", "title": "x"}, {"period", "title"}),
    ({"body": "   "}, {"body"}),
    ({"attachments": [{"filename": "a.exe", "content_b64": "QQ=="}]}, {"attachments"}),
    ({"attachments": [{"filename": "a.pdf", "content_b64": "not base64!"}]}, {"attachments"}),
]


def test_bad_input_is_refused_with_field_messages_and_nothing_is_stored(services, db):
    # one service start for all cases (each start costs seconds on a busy machine)
    with services(ADMIN) as rpc:
        for change, fields in BAD_ITEMS:
            with pytest.raises(BadInput) as info:
                publish(rpc, **change)
            assert set(info.value.fields) == fields, change
    assert db("disclosure").items.count_documents({}) == 0
    assert db("disclosure").attachments.count_documents({}) == 0


def test_attachments_within_the_limit_and_oversize_refused(services, db):
    pdf = b"%PDF-1.4 canteen accounts" * 10
    with services(ADMIN) as rpc:
        with pytest.raises(PayloadTooLarge) as info:
            publish(
                rpc,
                attachments=[
                    {"filename": "ok.pdf", "content_b64": base64.b64encode(pdf).decode()},
                    {"filename": "big.xlsx", "content_b64": base64.b64encode(b"x" * (LIMIT + 1)).decode()},
                ],
            )
        assert info.value.details["limit_bytes"] == LIMIT
        assert db("disclosure").attachments.count_documents({}) == 0  # not even the small one
        item = publish(
            rpc, attachments=[{"filename": "食堂账目.pdf", "content_b64": base64.b64encode(pdf).decode()}]
        )
    att = item["attachments"][0]
    assert (
        att["filename"] == "食堂账目.pdf"
        and att["size"] == len(pdf)
        and att["content_type"] == "application/pdf"
    )
    with services(M1) as rpc:
        got = rpc.disclosure.get_attachment(item["id"], att["id"])
        with pytest.raises(NotFound):
            rpc.disclosure.get_attachment(item["id"], "fnothing")
    assert base64.b64decode(got["content_b64"]) == pdf
    with services(OUTSIDER) as rpc:
        with pytest.raises(Forbidden):
            rpc.disclosure.get_attachment(item["id"], att["id"])
    with services(ADMIN) as rpc:  # a correction drops the file from the new revision; the old keeps it
        fixed = rpc.disclosure.correct_item(
            item["id"], {**ITEM, "reason": "附件有误", "drop_attachments": [att["id"]]}
        )
        old = rpc.disclosure.get_revision(item["id"], 1)
        assert rpc.disclosure.get_attachment(item["id"], att["id"])["size"] == len(pdf)
    assert fixed["attachments"] == [] and old["attachments"][0]["id"] == att["id"]


def test_markdown_is_rendered_harmless_by_the_service(services):
    body = "<script>alert(1)</script>\n\n[领取](javascript:alert(1)) [图](data:text/html,x) <img src=x onerror=alert(1)>"
    with services(ADMIN) as rpc:
        item = publish(rpc, body=body)
    html = item["body_html"]
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert item["body"] == body  # the source is kept as written


def test_questions_anonymous_and_named_answers_and_the_desk(services):
    with services(ADMIN) as rpc:
        item = publish(rpc)
    with services(M1) as rpc:
        named = rpc.disclosure.ask_question(item["id"], {"text": "夜班补贴是否一起调整？"})
        with pytest.raises(BadInput) as info:
            rpc.disclosure.ask_question(item["id"], {"text": "?"})
        assert "text" in info.value.fields
    with services(M2) as rpc:
        anon = rpc.disclosure.ask_question(
            item["id"], {"text": "劳务派遣工是否同样适用？", "anonymous": True}
        )
        mine = rpc.disclosure.list_questions(item["id"])
    assert named["asker_name"] == "会员一" and anon["asker_name"] is None and anon["mine"] is True
    assert [q["id"] for q in mine] == [anon["id"]]  # M1's open question is not shown to M2
    with services(ADMIN) as rpc:
        desk = rpc.disclosure.open_questions("u01")
        assert [q["id"] for q in desk] == [named["id"], anon["id"]]
        assert all(q["age_days"] == 0 and q["item_title"] == ITEM["title"] for q in desk)
        assert desk[1]["asker_name"] is None  # anonymous to the union
        answered = rpc.disclosure.answer_question(anon["id"], {"text": "同样适用，按同岗同酬执行。"})
        with pytest.raises(Conflict):
            rpc.disclosure.answer_question(anon["id"], {"text": "再答一次"})
        assert [q["id"] for q in rpc.disclosure.open_questions("u01")] == [named["id"]]
    assert answered["status"] == "answered" and answered["answered_by_name"] == "工会管理员"
    with services(M3) as rpc:
        public = rpc.disclosure.list_questions(item["id"])
        with pytest.raises(Forbidden):
            rpc.disclosure.answer_question(named["id"], {"text": "我来答"})
        with pytest.raises(Forbidden):
            rpc.disclosure.open_questions("u01")
    assert [(q["id"], q["asker_name"], q["mine"]) for q in public] == [(anon["id"], None, False)]
    with services(OTHER_ADMIN) as rpc:
        with pytest.raises(Forbidden):
            rpc.disclosure.answer_question(named["id"], {"text": "别家答复"})
    kinds = wait_until(
        lambda: (
            {k for k, _ in SEEN} >= {"disclosure_published", "question_asked", "question_answered"} and SEEN
        )
    )
    answered_events = [p for k, p in kinds if k == "question_answered"]
    assert answered_events[0]["asker_id"] is None and answered_events[0]["anonymous"] is True
    asked = {p["question_id"]: p for k, p in kinds if k == "question_asked"}
    assert asked[named["id"]]["asker_id"] == "M0000001" and asked[anon["id"]]["asker_id"] is None
    for _, p in kinds:
        assert p["item_id"] == item["id"] and p["union_id"] == "u01" and p["event_id"] and p["occurred_at"]


def test_bulk_reads_are_system_only_and_first_read_wins(services, db):
    with services(ADMIN) as rpc:
        item = publish(rpc)
        with pytest.raises(Forbidden):
            rpc.disclosure.record_reads(item["id"], [])
    with services(M1) as rpc:
        rpc.disclosure.open_item(item["id"])
    reads = [
        {"member_id": m, "read_at": "2026-03-05T08:00:00+00:00"} for m in ("M0000001", "M0000002", "M0000003")
    ]
    with services(SYSTEM) as rpc:
        out = rpc.disclosure.record_reads(item["id"], reads)
        with pytest.raises(BadInput):
            rpc.disclosure.record_reads(item["id"], [{"member": "x"}])
    assert out == {"recorded": 2, "read_count": 3}
    assert db("disclosure").receipts.count_documents({"item_id": item["id"]}) == 3
    with services(ADMIN) as rpc:
        assert rpc.disclosure.item_reads(item["id"])["read"] == 3


def test_taking_over_an_earlier_register_keeps_the_original_dates(services, db):
    entry = {
        **ITEM,
        "published_at": "2025-12-10T09:00:00+08:00",
        "published_by_name": "工会主席",
        "reads": [{"member_id": "M0000001", "read_at": "2025-12-11T08:00:00+08:00"}],
        "questions": [
            {
                "member_id": "M0000002",
                "name": "会员2",
                "anonymous": True,
                "text": "年终奖什么时候发？",
                "asked_at": "2025-12-12T10:00:00+08:00",
                "answer": "春节前发放。",
                "answered_at": "2025-12-15T10:00:00+08:00",
            }
        ],
    }
    with services(ADMIN) as rpc:
        with pytest.raises(Forbidden):
            rpc.disclosure.import_register("u01", [entry])
    with services(SYSTEM) as rpc:
        with pytest.raises(BadInput) as info:
            rpc.disclosure.import_register("u01", [entry, {**entry, "published_at": "yesterday"}])
        assert db("disclosure").items.count_documents({}) == 0  # nothing partial
        assert "1" in info.value.fields or 1 in info.value.fields
        assert rpc.disclosure.import_register("u01", [entry]) == {"items": 1, "reads": 1, "questions": 1}
    with services(M2) as rpc:
        item = rpc.disclosure.list_items("u01")["items"][0]
        questions = rpc.disclosure.list_questions(item["id"])
    assert item["published_at"].startswith("2025-12-10T01:00:00") and item["read_count"] == 1
    assert (
        questions[0]["mine"]
        and questions[0]["asker_name"] is None
        and questions[0]["answer"] == "春节前发放。"
    )
    assert questions[0]["age_days"] == 3


def test_concurrent_readers_and_answers_keep_counts_exact(services, db):
    """Counters are $inc and answering is a guarded update: both rely on single-document atomicity
    (MongoDB; the local FerretDB with scripts/ferretdb/02-serialise-writes.patch)."""
    import eventlet

    with services(ADMIN) as rpc:
        item = publish(rpc, mandatory=True)
    with services(M1) as rpc:
        question = rpc.disclosure.ask_question(item["id"], {"text": "夜班补贴是否一起调整？"})

    def open_as(member_id):
        with services(member(member_id, "u01")) as rpc:
            return rpc.disclosure.open_item(item["id"])["first_read"]

    def answer(text):
        with services(ADMIN) as rpc:
            try:
                return rpc.disclosure.answer_question(question["id"], {"text": text})["answer"]
            except Conflict:
                return None

    readers = [no for no, _ in U01]
    opened = [eventlet.spawn(open_as, m) for m in readers]
    answers = [eventlet.spawn(answer, f"答复{i}：一起调整。") for i in range(4)]
    assert all(o.wait() for o in opened)
    winners = [a for a in (x.wait() for x in answers) if a]
    assert len(winners) == 1
    stored = db("disclosure").items.find_one({"_id": item["id"]})
    assert (
        stored["read_count"]
        == len(readers)
        == db("disclosure").receipts.count_documents({"item_id": item["id"]})
    )
    assert stored["questions_open"] == 0 and stored["questions_total"] == 1
    with services(ADMIN) as rpc:
        reads = rpc.disclosure.item_reads(item["id"])
        assert rpc.disclosure.recount_reads(item["id"])["before"] == len(readers)
    assert reads["rate"] == 1.0 and reads["unread_total"] == 0
    assert db("disclosure").questions.find_one({"_id": question["id"]})["answer"] == winners[0]


def test_the_federation_board_covers_the_unions_below_over_the_broker(services):
    """Issue 16: ``list_items`` with ``include_below``, ``q``, ``sort`` and paging, asked of the real
    members service for the tree; refused to anyone but the admins of the union or above."""
    with services(ADMIN) as rpc:
        first = publish(rpc, title="三月工资调整方案")
    with services(OTHER_ADMIN) as rpc:
        other = rpc.disclosure.publish("u02", {**ITEM, "title": "四月食堂价格公示", "category": "welfare"})
    with services(union_admin("area", "S0000001")) as rpc:
        board = rpc.disclosure.list_items("area", {"include_below": True})
        assert {i["id"] for i in board["items"]} == {first["id"], other["id"]} and board["total"] == 2
        assert {i["union_name"] for i in board["items"]} == {"u01公司工会", "u02公司工会"}
        found = rpc.disclosure.list_items("area", {"include_below": True, "q": "食堂"})
        assert [i["id"] for i in found["items"]] == [other["id"]]
        ordered = rpc.disclosure.list_items("area", {"include_below": True, "sort": "oldest", "per_page": 1})
        assert [i["id"] for i in ordered["items"]] == [first["id"]] and ordered["pages"] == 2
        with pytest.raises(BadInput) as bad:
            rpc.disclosure.list_items("area", {"include_below": True, "sort": "title"})
        assert "sort" in bad.value.fields
    with services(M1) as rpc:
        with pytest.raises(Forbidden):
            rpc.disclosure.list_items("u01", {"include_below": True})
