"""Every disclosure use case (services/disclosure/app.py) through the hand-written fakes: no RabbitMQ,
no FerretDB, no mocks. Outcomes are read back from the fake store and its outbox."""

import base64
from datetime import datetime

import pytest

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, PayloadTooLarge
from services.disclosure import app
from tests.helpers import SYSTEM, member, union_admin
from tests.unit.disclosure_fakes import FakeClock, FakeDisclosureStore, FakeMembers, FakeSettings

ITEM = {
    "category": "safety",
    "period": "2026-03",
    "title": " 三月安全检查 ",
    "body": "隐患12项",
    "mandatory": False,
    "attachments": [],
}
ADMIN, M1, M2 = union_admin("u01"), member("M1", "u01", name="甲"), member("M2", "u01")
OUTSIDER, OTHER_ADMIN = member("X1", "u02"), union_admin("u02", "B1")
SUPERIOR = member("S1", "u09", ("superior_admin", "ftu"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def world():
    class World:
        store, members, settings, clock = FakeDisclosureStore(), FakeMembers(), FakeSettings(100), FakeClock()

        def publish(self, actor=ADMIN, **change):
            return app.publish(
                self.store, actor, self.clock, self.members, self.settings, "u01", {**ITEM, **change}
            )

        def correct(self, item_id, actor=ADMIN, **change):
            data = {**ITEM, "reason": "更正", "drop_attachments": [], **change}
            return app.correct_item(self.store, actor, self.clock, self.settings, item_id, data)

        def ask(self, item_id, actor=M1, text="夜班补贴？", anonymous=False):
            data = {"text": text, "anonymous": anonymous}
            return app.ask_question(self.store, actor, self.clock, self.settings, item_id, data)

        def answer(self, question_id, actor=ADMIN, text="一起调整。"):
            return app.answer_question(
                self.store, actor, self.clock, self.settings, question_id, {"text": text}
            )

        def events(self):
            """The domain events committed and not yet relayed (the audit entries: :meth:`audits`)."""
            return [(k, b) for k, b in self.store.pending_events() if k != "change_recorded"]

        def audits(self):
            """The audit entries committed and not yet relayed."""
            return [b for k, b in self.store.pending_events() if k == "change_recorded"]

    return World()


# --- publishing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("actor", [M1, OTHER_ADMIN, member("M9", None)])
def test_only_admins_of_the_union_publish_and_nothing_is_written(world, actor):
    with pytest.raises(Forbidden):
        world.publish(actor)
    assert world.store.collections == {}


def test_publish_commits_the_item_with_its_event(world):
    out = world.publish(mandatory=True)
    stored = world.store.get_item(out["id"])
    assert stored["_v"] == 0 and stored["revision"] == 1 and stored["title"] == "三月安全检查"
    assert world.store.get_union("u01")["item_ids"] == [out["id"]]
    [(kind, body)] = world.events()
    assert kind == "disclosure_published" and body["item_id"] == out["id"] and body["mandatory"] is True
    assert body["union_id"] == "u01" and body["revision"] == 1 and body["event_id"]
    assert world.store.relay() == 2 and world.store.published[0][0] == "disclosure_published"
    assert world.events() == []


def test_publishing_for_a_union_that_is_not_grassroots(world):
    with pytest.raises(BadInput) as info:
        app.publish(world.store, SYSTEM, world.clock, world.members, world.settings, "ftu", ITEM)
    assert "union_id" in info.value.fields and world.store.collections == {}


@pytest.mark.parametrize(
    ("files", "error"),
    [
        (
            [
                {"filename": "a.pdf", "content_b64": b64(b"x" * 50)},
                {"filename": "b.pdf", "content_b64": b64(b"x" * 101)},
            ],
            PayloadTooLarge,
        ),
        ([{"filename": "a.pdf", "content_b64": "not base64!"}], BadInput),
        ([{"filename": "a.pdf", "content_b64": ""}], BadInput),
    ],
)
def test_a_bad_attachment_stores_nothing_at_all(world, files, error):
    with pytest.raises(error) as info:
        world.publish(attachments=files)
    assert "attachments" in info.value.fields and world.store.collections == {}


# --- corrections and withdrawal --------------------------------------------------------------------
def test_a_correction_keeps_the_old_revision_and_commits_with_its_event(world):
    item = world.publish(attachments=[{"filename": "a.pdf", "content_b64": b64(b"%PDF")}])
    old_file = item["attachments"][0]["id"]
    world.store.relay()
    world.clock.advance(days=1)
    fixed = world.correct(item["id"], body="隐患13项", drop_attachments=[old_file], reason="数字写错")
    assert (
        fixed["revision"] == 2
        and fixed["attachments"] == []
        and fixed["previous_revisions"][0]["reason"] == "数字写错"
    )
    snap = world.store.get_revision(item["id"], 1)
    assert snap["body"] == "隐患12项" and snap["attachments"][0]["id"] == old_file
    assert world.store.get_attachment(old_file) is not None  # the old revision keeps its file
    [(kind, body)] = world.events()
    assert kind == "disclosure_corrected" and body["revision"] == 2 and body["reason"] == "数字写错"
    with pytest.raises(BadInput) as info:
        world.correct(item["id"], drop_attachments=["fnothing"])
    assert "drop_attachments" in info.value.fields


def test_a_correction_that_loses_the_race_keeps_the_snapshot_and_forgets_its_new_files(world):
    item = world.publish()
    world.store.relay()
    stale = world.store.get_item(item["id"])
    world.correct(item["id"], reason="先改")  # someone else corrects first
    world.store.relay()
    # the second admin read revision 1 before the first correction: replay their view of it
    world.store.get_item = lambda _id, _s=stale: dict(_s)
    with pytest.raises(Conflict) as info:
        world.correct(
            item["id"], reason="后改", attachments=[{"filename": "c.pdf", "content_b64": b64(b"%PDF")}]
        )
    assert info.value.details["revision"] == 2
    assert world.store.collections.get("attachments", {}) == {}  # the loser's file is gone
    assert world.store.collections["revisions"][f"{item['id']}:0001"]["body"] == ITEM["body"]
    assert world.events() == []


def test_withdrawal_once_and_then_no_corrections_or_questions(world):
    item = world.publish()
    world.store.relay()
    gone = app.withdraw_item(world.store, ADMIN, world.clock, item["id"], {"reason": "待审议"})
    assert gone["status"] == "withdrawn" and gone["withdraw_reason"] == "待审议"
    assert [k for k, _ in world.events()] == ["disclosure_withdrawn"]
    with pytest.raises(Conflict) as info:
        app.withdraw_item(world.store, ADMIN, world.clock, item["id"], {"reason": "再撤"})
    assert info.value.details == {"status": "withdrawn", "reason": "item_withdrawn"}
    with pytest.raises(Conflict):
        world.correct(item["id"])
    with pytest.raises(Conflict):
        world.ask(item["id"])
    with pytest.raises(Forbidden):
        app.withdraw_item(world.store, OTHER_ADMIN, world.clock, item["id"], {"reason": "x"})
    assert len(world.events()) == 1


# --- reading ---------------------------------------------------------------------------------------
def test_the_board_reads_and_first_opens(world):
    first = world.publish(title="一")
    world.clock.advance(hours=1)
    second = world.publish(title="二", category="wages_bonuses")
    board = app.list_items(
        world.store, M1, world.members, "u01", {"page": 1, "per_page": 20, "category": None}
    )
    assert [i["id"] for i in board["items"]] == [second["id"], first["id"]] and board["unread"] == 2
    opened = app.open_item(world.store, M1, world.clock, first["id"])
    again = app.open_item(world.store, M1, world.clock, first["id"])
    assert opened["first_read"] and not again["first_read"] and again["read"]
    app.open_item(world.store, SUPERIOR, world.clock, first["id"])  # admin above: no receipt
    assert world.store.get_item(first["id"])["read_count"] == 1
    board = app.list_items(
        world.store, M1, world.members, "u01", {"page": 1, "per_page": 20, "category": "wages_bonuses"}
    )
    assert (
        [i["id"] for i in board["items"]] == [second["id"]]
        and board["unread"] == 1
        and not board["can_manage"]
    )
    for actor in (OUTSIDER, OTHER_ADMIN):
        with pytest.raises(Forbidden):
            app.list_items(
                world.store, actor, world.members, "u01", {"page": 1, "per_page": 20, "category": None}
            )
        with pytest.raises(Forbidden):
            app.open_item(world.store, actor, world.clock, first["id"])
    with pytest.raises(NotFound):
        app.open_item(world.store, M1, world.clock, "dnothing")


def test_a_board_without_items_asks_members_for_the_unions_scope(world):
    board = app.list_items(
        world.store, ADMIN, world.members, "u01", {"page": 1, "per_page": 20, "category": None}
    )
    assert board["total"] == 0 and board["can_manage"] and board["union_name"] == "u01工会"


def test_revisions_and_attachments(world):
    item = world.publish(attachments=[{"filename": "../食堂.PDF", "content_b64": b64(b"%PDF-1")}])
    world.correct(item["id"], body="新正文", reason="补充")
    old = app.get_revision(world.store, M1, item["id"], 1)
    now = app.get_revision(world.store, M1, item["id"], 2)
    assert old["body"] == ITEM["body"] and old["superseded_by"] == 2 and old["superseded_reason"] == "补充"
    assert now["body"] == "新正文" and "superseded_by" not in now
    for bad in (0, 3, "1", True):
        with pytest.raises(NotFound):
            app.get_revision(world.store, M1, item["id"], bad)
    att = item["attachments"][0]
    assert att["filename"] == "食堂.pdf" and att["content_type"] == "application/pdf"
    got = app.get_attachment(world.store, M1, item["id"], att["id"])
    assert base64.b64decode(got["content_b64"]) == b"%PDF-1"
    with pytest.raises(NotFound):
        app.get_attachment(world.store, M1, item["id"], "fnothing")
    with pytest.raises(Forbidden):
        app.get_attachment(world.store, OUTSIDER, item["id"], att["id"])
    world.store.collections["revisions"].clear()
    with pytest.raises(Conflict):  # a kept snapshot missing is a data error, not a 404
        app.get_revision(world.store, M1, item["id"], 1)


# --- read figures ----------------------------------------------------------------------------------
def test_read_figures_for_admins_only(world):
    item = world.publish(mandatory=True)
    for m in ("M1", "M3"):
        app.open_item(world.store, member(m, "u01"), world.clock, item["id"])
    reads = app.item_reads(world.store, ADMIN, world.members, item["id"])
    assert reads["read"] == 2 and reads["rate"] == 0.5 and reads["unread_total"] == 2
    assert sorted(u["member_id"] for u in reads["unread"]) == ["M2", "M4"]
    assert {d["name"]: (d["read"], d["members"]) for d in reads["departments"]} == {
        "生产部": (1, 2),
        "财务部": (1, 1),
        "未分部门": (0, 1),
    }
    rates = app.union_reads(world.store, ADMIN, world.members, "u01")
    assert rates["members"] == 4 and rates["items"][0]["read"] == 2 and rates["items"][0]["rate"] == 0.5
    for call in (
        lambda a: app.item_reads(world.store, a, world.members, item["id"]),
        lambda a: app.union_reads(world.store, a, world.members, "u01"),
        lambda a: app.recount_reads(world.store, a, item["id"]),
    ):
        with pytest.raises(Forbidden):
            call(M1)


def test_bulk_reads_first_read_wins_and_recount_repairs_a_drifted_counter(world):
    item = world.publish()
    app.open_item(world.store, M1, world.clock, item["id"])
    reads = [{"member_id": m, "read_at": "2026-03-05T08:00:00+00:00"} for m in ("M1", "M2", "M3")]
    with pytest.raises(Forbidden):
        app.record_reads(world.store, ADMIN, item["id"], reads)
    assert app.record_reads(world.store, SYSTEM, item["id"], reads) == {"recorded": 2, "read_count": 3}
    for bad in ([{"member": "x"}], "not a list", [{"member_id": "M4", "read_at": "yesterday"}]):
        with pytest.raises(BadInput):
            app.record_reads(world.store, SYSTEM, item["id"], bad)
    world.store.collections["items"][item["id"]]["read_count"] = 7  # e.g. a crash after a receipt
    assert app.recount_reads(world.store, ADMIN, item["id"]) == {
        "item_id": item["id"],
        "before": 7,
        "receipts": 3,
    }
    assert world.store.get_item(item["id"])["read_count"] == 3
    assert world.store.readers(item["id"], 3) == {"M1", "M2", "M3"}


def test_taking_over_an_earlier_register(world):
    entry = {
        **ITEM,
        "published_at": datetime.fromisoformat("2025-12-10T09:00:00+08:00"),
        "published_by_name": "工会主席",
        "reads": [{"member_id": "M1", "read_at": datetime.fromisoformat("2025-12-11T08:00:00+08:00")}],
        "questions": [
            {
                "member_id": "M2",
                "name": "乙",
                "anonymous": True,
                "text": "年终奖？",
                "asked_at": datetime.fromisoformat("2025-12-12T10:00:00+08:00"),
                "answer": "春节前。",
                "answered_at": datetime.fromisoformat("2025-12-15T10:00:00+08:00"),
                "answered_by_name": None,
            }
        ],
    }
    with pytest.raises(Forbidden):
        app.import_register(world.store, ADMIN, world.members, world.settings, "u01", [entry])
    with pytest.raises(BadInput):
        app.import_register(world.store, SYSTEM, world.members, world.settings, "ftu", [entry])
    counts = app.import_register(world.store, SYSTEM, world.members, world.settings, "u01", [entry])
    assert counts == {"items": 1, "reads": 1, "questions": 1} and world.events() == []  # history, not news
    [item] = world.store.collections["items"].values()
    assert item["questions_total"] == 1 and item["questions_open"] == 0 and item["read_count"] == 1
    [q] = app.list_questions(world.store, M2, world.clock, world.settings, item["_id"])
    assert (
        q["mine"] and q["asker_name"] is None and q["answered_by_name"] == "工会主席" and q["age_days"] == 3
    )


# --- questions -------------------------------------------------------------------------------------
def test_questions_named_and_anonymous_answers_once_and_the_desk(world):
    item = world.publish()
    world.store.relay()
    named = world.ask(item["id"])
    world.clock.advance(days=2)
    anon = world.ask(item["id"], actor=M2, text="派遣工？", anonymous=True)
    asked = {b["question_id"]: b for k, b in world.events() if k == "question_asked"}
    assert asked[named["id"]]["asker_id"] == "M1" and asked[anon["id"]]["asker_id"] is None
    assert named["asker_name"] == "甲" and anon["asker_name"] is None and anon["mine"]
    with pytest.raises(Forbidden):
        world.ask(item["id"], actor=SUPERIOR)  # admins above answer, they do not ask
    assert [
        q["id"] for q in app.list_questions(world.store, M2, world.clock, world.settings, item["id"])
    ] == [anon["id"]]
    desk = app.open_questions(world.store, ADMIN, world.clock, world.members, world.settings, "u01")
    assert [(q["id"], q["age_days"]) for q in desk] == [(named["id"], 2), (anon["id"], 0)]
    world.store.relay()
    done = world.answer(anon["id"])
    assert done["status"] == "answered" and done["answered_by_name"] == "工会管理员"
    [(kind, body)] = world.events()
    assert kind == "question_answered" and body["asker_id"] is None and body["anonymous"] is True
    with pytest.raises(Conflict) as info:
        world.answer(anon["id"], text="再答")
    assert info.value.details == {"status": "answered", "reason": "already_answered"}
    with pytest.raises(Forbidden):
        world.answer(named["id"], actor=M2)
    with pytest.raises(Forbidden):
        world.answer(named["id"], actor=OTHER_ADMIN)
    with pytest.raises(NotFound):
        world.answer("qnothing")
    assert [
        q["id"]
        for q in app.open_questions(world.store, ADMIN, world.clock, world.members, world.settings, "u01")
    ] == [named["id"]]
    public = app.list_questions(world.store, member("M3", "u01"), world.clock, world.settings, item["id"])
    assert [(q["id"], q["mine"]) for q in public] == [(anon["id"], False)]
    stored = world.store.get_item(item["id"])
    assert stored["questions_total"] == 2 and stored["questions_open"] == 1
    for call in (
        lambda: world.ask(item["id"], actor=OUTSIDER),
        lambda: app.list_questions(world.store, OUTSIDER, world.clock, world.settings, item["id"]),
        lambda: app.open_questions(world.store, M1, world.clock, world.members, world.settings, "u01"),
    ):
        with pytest.raises(Forbidden):
            call()


def test_rebuilding_the_index_repairs_lists_and_counters_left_short_by_a_crash(world):
    item = world.publish()
    q = world.ask(item["id"])
    world.answer(q["id"])
    world.clock.advance(minutes=1)  # the rebuilt lists are in asking order
    second = world.ask(item["id"], actor=M2)
    items, unions = world.store.collections["items"], world.store.collections["unions"]
    items[item["id"]].update(questions_total=0, questions_open=5, question_ids=[])  # drifted
    unions["u01"].update(item_ids=[], open_question_ids=[])
    with pytest.raises(Forbidden):
        app.rebuild_union_index(world.store, ADMIN, "u01")
    assert app.rebuild_union_index(world.store, SYSTEM, "u01") == {"items": 1, "open_questions": 1}
    stored = world.store.get_item(item["id"])
    assert stored["question_ids"] == [q["id"], second["id"]]
    assert (stored["questions_total"], stored["questions_open"]) == (2, 1)
    assert unions["u01"]["item_ids"] == [item["id"]] and unions["u01"]["open_question_ids"] == [second["id"]]


# --- the audit log ---------------------------------------------------------------------------------
def _pending_audits(world, after):
    """Run ``after`` and return the audit entries it committed (the outbox emptied first)."""
    world.store.relay()
    after()
    return world.audits()


@pytest.mark.parametrize(
    ("action", "refused_by", "error"),
    [
        ("item_published", M1, Forbidden),
        ("item_corrected", OTHER_ADMIN, Forbidden),
        ("item_withdrawn", M1, Forbidden),
        ("question_asked", OUTSIDER, Forbidden),
        ("question_answered", M2, Forbidden),
        ("reads_recounted", M1, Forbidden),
    ],
)
def test_a_persons_change_leaves_one_audit_entry_and_a_refused_one_none(world, action, refused_by, error):
    item = world.publish()
    question = world.ask(item["id"])
    calls = {
        "item_published": lambda actor: world.publish(actor),
        "item_corrected": lambda actor: world.correct(item["id"], actor, title="更正后"),
        "item_withdrawn": lambda actor: app.withdraw_item(
            world.store, actor, world.clock, item["id"], {"reason": "错发"}
        ),
        "question_asked": lambda actor: world.ask(item["id"], actor),
        "question_answered": lambda actor: world.answer(question["id"], actor),
        "reads_recounted": lambda actor: app.recount_reads(world.store, actor, item["id"]),
    }
    with pytest.raises(error):
        _pending_audits(world, lambda: calls[action](refused_by))
    assert world.audits() == []
    actor = M2 if action == "question_asked" else ADMIN
    [entry] = _pending_audits(world, lambda: calls[action](actor))
    assert entry["action"] == f"disclosure.{action}" and entry["service"] == "disclosure"
    assert entry["actor"] == {"member_id": actor.member_id, "name": actor.name}
    assert entry["role"] == ("member" if action == "question_asked" else "union_admin")
    assert entry["union_id"] == "u01" and entry["union_path"] == ["ftu", "u01"]
    assert entry["object"]["type"] == ("question" if action.startswith("question") else "disclosure")


def test_audit_entries_say_what_changed_from_what_to_what(world):
    item = world.publish(mandatory=True)
    [published] = world.audits()
    assert published["object"] == {"type": "disclosure", "id": item["id"]}
    assert {c["field"]: (c["before"], c["after"]) for c in published["changes"]} == {
        "category": (None, "safety"),
        "period": (None, "2026-03"),
        "title": (None, "三月安全检查"),
        "mandatory": (None, True),
        "attachments": (None, []),
    }
    [corrected] = _pending_audits(world, lambda: world.correct(item["id"], title="三月安全检查（更正）"))
    changes = {c["field"]: (c["before"], c["after"]) for c in corrected["changes"]}
    assert changes["title"] == ("三月安全检查", "三月安全检查（更正）")
    assert changes["revision"] == (1, 2) and changes["correction_reason"] == (None, "更正")
    q = world.ask(item["id"])
    [answered] = _pending_audits(world, lambda: world.answer(q["id"], text="下月调整。"))
    assert {c["field"]: (c["before"], c["after"]) for c in answered["changes"]} == {
        "status": ("open", "answered"),
        "answer": (None, "下月调整。"),
    }
    assert answered["note"] == {"item_id": item["id"]}


def test_an_anonymous_questions_audit_entry_names_nobody(world):
    item = world.publish()
    [entry] = _pending_audits(world, lambda: world.ask(item["id"], actor=M1, text="匿名问？", anonymous=True))
    assert entry["action"] == "disclosure.question_asked" and entry["role"] == "member"
    assert entry["actor"] == {"member_id": "anonymous", "name": "匿名"} and entry["request_id"] is None
    assert {c["field"]: c["after"] for c in entry["changes"]} == {
        "item_id": item["id"],
        "anonymous": True,
        "text": "匿名问？",
    }
    assert "M1" not in str(entry) and "甲" not in str(entry) and "h-M1" not in str(entry)


def test_the_systems_changes_and_first_reads_are_not_audited(world):
    item = world.publish()
    world.store.relay()
    app.open_item(world.store, M1, world.clock, item["id"])  # a first read: a receipt, not a decision
    app.record_reads(world.store, SYSTEM, item["id"], [{"member_id": "M2", "read_at": "2026-03-02T08:00:00"}])
    app.recount_reads(world.store, SYSTEM, item["id"])
    app.rebuild_union_index(world.store, SYSTEM, "u01")
    assert world.store.get_item(item["id"])["read_count"] == 2
    assert world.audits() == []


# --- retried creates (issue 18: an idempotency key) --------------------------------------------------
def test_a_publish_retried_with_its_key_returns_the_first_item(world):
    first = world.publish(client_key="k-1")
    again = world.publish(client_key="k-1", title="三月安全检查（重发）")
    assert (again["id"], again["title"]) == (first["id"], first["title"]) and len(
        world.store.col("items")
    ) == 1
    assert [k for k, _ in world.events()] == ["disclosure_published"]
    other = world.publish(client_key="k-2")
    assert other["id"] != first["id"] and len(world.store.col("items")) == 2
    assert world.publish(actor=union_admin("u01", "A2"), client_key="k-1")["id"] not in (
        first["id"],
        other["id"],
    )


def test_a_refused_publish_leaves_its_key_free(world):
    with pytest.raises(BadInput):
        world.publish(client_key="k-1", attachments=[{"filename": "a.exe", "content_b64": "!!"}])
    assert world.publish(client_key="k-1")["title"] == "三月安全检查"


def test_a_question_retried_with_its_key_is_asked_once(world):
    item = world.publish()
    data = {"text": "夜班补贴？", "anonymous": False, "client_key": "q-1"}
    first = app.ask_question(world.store, M1, world.clock, world.settings, item["id"], data)
    again = app.ask_question(world.store, M1, world.clock, world.settings, item["id"], data)
    assert again["id"] == first["id"] and len(world.store.col("questions")) == 1
    assert world.store.get_item(item["id"])["questions_total"] == 1


# --- what needs me (issue 16) ----------------------------------------------------------------------
def _kinds(out, kind):
    return [q for q in out["queues"] if q["kind"] == kind]


def test_needs_of_lists_a_members_unread_mandatory_items_only(world):
    must = world.publish(mandatory=True, title="安全规程")
    world.publish(mandatory=False, title="食堂菜单")
    read = world.publish(mandatory=True, title="已读的")
    app.open_item(world.store, M1, world.clock, read["id"])
    out = app.needs_of(world.store, M1)
    assert [(i["kind"], i["id"], i["title"], i["union_id"]) for i in out["items"]] == [
        ("disclosure_unread", must["id"], "安全规程", "u01")
    ]
    assert out["queues"] == []  # a member administers nothing
    app.open_item(world.store, M1, world.clock, must["id"])
    assert app.needs_of(world.store, M1)["items"] == []


def test_needs_of_leaves_out_withdrawn_items(world):
    item = world.publish(mandatory=True)
    app.withdraw_item(world.store, ADMIN, world.clock, item["id"], {"reason": "发错了"})
    assert app.needs_of(world.store, M2)["items"] == []


def test_needs_of_gives_admins_the_question_desk_and_the_receipts_of_their_unions(world):
    first = world.publish(mandatory=True)
    world.publish(mandatory=False)
    world.ask(first["id"], text="第一个问题？")
    world.clock.advance(days=2)
    world.ask(first["id"], actor=M2, text="第二个问题？")
    app.open_item(world.store, M1, world.clock, first["id"])
    for actor in (ADMIN, SUPERIOR):  # the union's own admin and a superior admin above it
        out = app.needs_of(world.store, actor)
        [questions] = _kinds(out, "questions_waiting")
        assert questions["scope"] == "u01" and questions["count"] == 2
        assert questions["oldest_at"] == datetime(2026, 3, 1, 8, 0, tzinfo=questions["oldest_at"].tzinfo)
        [reads] = _kinds(out, "mandatory_reads")
        assert (reads["count"], reads["of"]) == (1, 1)
    assert app.needs_of(world.store, OTHER_ADMIN)["queues"] == []  # another union's admin sees nothing


def test_the_federation_board_covers_the_unions_below_with_search_and_sort(world):
    """Issue 16: ``include_below`` for the admins of the union or above; ``q`` in the title; ``sort``."""
    first = world.publish(title="三月安全检查")
    world.clock.advance(hours=1)
    other = app.publish(
        world.store,
        OTHER_ADMIN,
        world.clock,
        world.members,
        world.settings,
        "u02",
        {**ITEM, "title": "四月工资"},
    )

    def board(actor, union="ftu", **query):
        q = {"page": 1, "per_page": 20, "category": None, "include_below": True, **query}
        return app.list_items(world.store, actor, world.members, union, q)

    out = board(SUPERIOR)
    assert [i["id"] for i in out["items"]] == [other["id"], first["id"]]
    assert [i["union_name"] for i in out["items"]] == ["u02工会", "u01工会"] and out["total"] == 2
    assert [i["id"] for i in board(SUPERIOR, sort="oldest")["items"]] == [first["id"], other["id"]]
    assert [i["id"] for i in board(SUPERIOR, q="工资")["items"]] == [other["id"]]
    assert [i["id"] for i in board(SUPERIOR, per_page=1, page=2)["items"]] == [first["id"]]
    assert [i["id"] for i in board(ADMIN, union="u01")["items"]] == [first["id"]]
    for actor in (M1, ADMIN, OTHER_ADMIN):  # the federation's board is for its admins
        with pytest.raises(Forbidden):
            board(actor)
    with pytest.raises(Forbidden):  # a member reads their own board, not the unions below
        board(M1, union="u01")
