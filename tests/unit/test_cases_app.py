"""Use cases of 接诉即办 over hand-written fakes: a case through every state and both rounds, transfers,
reminders and escalation once, refusals, the progress query, 未诉先办 and the indicators computed by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from dmlib.auth import Actor, Grant, service_actor
from dmlib.contracts import cases as c
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, TooManyRequests
from dmlib.schemas import iso
from services.cases import app, rules, views
from tests.unit.cases_fakes import FakeCasesStore, FakePeers, FakeSms

WORKER = Actor("M1", "王工", "u1")
STRANGER = Actor("M2", "李工", "u2")
U1_ADMIN = Actor("A1", "一号工会管理员", "u1", (Grant("union_admin", "u1"),))
U2_ADMIN = Actor("A2", "二号工会管理员", "u2", (Grant("union_admin", "u2"),))
HOTLINE = Actor("H1", "热线员", "fed", (Grant("hotline_staff", "fed"),))
SUPERIOR = Actor("S1", "区总工会", "fed", (Grant("superior_admin", "fed"),))
SYSTEM = service_actor("cases")

CASE = {
    "case_type": "complaint",
    "category": "wage_arrears",
    "title": "拖欠三个月工资",
    "description": "公司自八月起拖欠全体一线工人工资，多次讨要无果。",
    "employer": {"union_id": "u1"},
    "phone": "13800138000",
}


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw) -> None:
        self.at += timedelta(**kw)


@pytest.fixture
def env():
    store, peers, sms = FakeCasesStore(), FakePeers(), FakeSms()
    clock = Clock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))  # Monday 09:00 China time
    settings = app.Settings()
    return store, peers, sms, clock, settings


def file(env, actor=WORKER, **over):
    store, peers, _sms, clock, settings = env
    return app.file_case(store, actor, clock, settings, peers, c.CaseIn().load({**CASE, **over}))


def test_a_case_through_every_state_and_both_rounds(env):
    store, peers, _sms, clock, settings = env
    case = file(env)
    assert case["state"] == "received" and case["_id"] == "26110200001"
    case = app.dispatch(
        store,
        HOTLINE,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "u1", "complexity": "general", "note": ""},
    )
    assert case["state"] == "dispatched" and case["handling_union_id"] == "u1"
    assert case["rounds"][0]["due"]["reply"] == rules.add_working_days(clock(), 5)
    clock.advance(hours=1)
    case = app.sign_for(store, U1_ADMIN, clock, case["_id"])
    case = app.contact(store, U1_ADMIN, clock, case["_id"], {"method": "phone", "note": "已电话联系"})
    case = app.add_note(store, U1_ADMIN, clock, case["_id"], {"text": "企业负责人称资金周转困难"})
    case = app.interim_reply(
        store, U1_ADMIN, clock, case["_id"], {"text": "已约谈企业负责人，正在核实工资发放情况。"}
    )
    case = app.reply(
        store, U1_ADMIN, clock, case["_id"], {"text": "企业承诺本月15日前补发全部欠薪，工会将跟踪落实。"}
    )
    assert case["state"] == "replied"
    case = app.rate(
        store,
        WORKER,
        clock,
        settings,
        case["_id"],
        {"satisfaction": "dissatisfied", "resolved": False, "comment": ""},
    )
    assert (case["state"], case["round"]) == ("dispatched", 2)
    for step in (app.sign_for,):
        case = step(store, U1_ADMIN, clock, case["_id"])
    case = app.contact(store, U1_ADMIN, clock, case["_id"], {"method": "visit", "note": ""})
    case = app.reply(store, U1_ADMIN, clock, case["_id"], {"text": "欠薪已于11月10日全部补发到位，请查收。"})
    case = app.rate(
        store,
        WORKER,
        clock,
        settings,
        case["_id"],
        {"satisfaction": "satisfied", "resolved": True, "comment": "谢谢"},
    )
    assert case["state"] == "closed" and case["closed_at"] is not None
    case = app.follow_up(
        store,
        HOTLINE,
        clock,
        settings,
        case["_id"],
        {"text": "回访：工资已到账", "satisfaction": None, "resolved": None},
    )
    actions = [h["action"] for h in case["history"]]
    assert actions == [
        "receive",
        "dispatch",
        "sign_for",
        "contact",
        "note",
        "interim_reply",
        "reply",
        "rate",
        "reopen",
        "sign_for",
        "contact",
        "reply",
        "rate",
        "follow_up",
    ]
    kinds = [t for t, _ in store.committed() if t != "change_recorded"]
    assert kinds == [
        "case_received",
        "case_dispatched",
        "case_replied",
        "case_rated",
        "case_dispatched",
        "case_replied",
        "case_rated",
        "case_closed",
    ]
    audits = [b["action"] for t, b in store.committed("change_recorded")]
    assert "cases.case_dispatched" in audits and "cases.case_rated" in audits and "cases.note_added" in audits
    # the worker sees no internal note, staff do
    mine = views.case(store.get(case["_id"]), WORKER, clock())
    assert "note" not in [h["action"] for h in mine["history"]]
    staff = views.case(store.get(case["_id"]), U1_ADMIN, clock())
    assert "note" in [h["action"] for h in staff["history"]]
    assert store.watched() == []


def test_refusals(env):
    store, peers, _sms, clock, settings = env
    case = file(env)
    with pytest.raises(
        Forbidden
    ):  # another union's staff cannot dispatch what fed's tree did not... u2 is not the receiver
        app.dispatch(
            store,
            U2_ADMIN,
            clock,
            settings,
            peers,
            case["_id"],
            {"union_id": "u2", "complexity": "general", "note": ""},
        )
    case = app.dispatch(
        store,
        U1_ADMIN,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "u1", "complexity": "general", "note": ""},
    )
    with pytest.raises(Conflict):  # wrong state: dispatched already
        app.dispatch(
            store,
            U1_ADMIN,
            clock,
            settings,
            peers,
            case["_id"],
            {"union_id": "u1", "complexity": "general", "note": ""},
        )
    with pytest.raises(Forbidden):  # another union's case
        app.sign_for(store, U2_ADMIN, clock, case["_id"])
    with pytest.raises(Forbidden):
        app.get_case(store, STRANGER, case["_id"])
    with pytest.raises(Forbidden):  # the handler may not rate
        app.rate(
            store, U1_ADMIN, clock, settings, case["_id"], {"satisfaction": "satisfied", "resolved": True}
        )
    with pytest.raises(Conflict):
        app.reply(store, U1_ADMIN, clock, case["_id"], {"text": "还没有签收就答复了这件事情"})
    with pytest.raises(NotFound):
        app.get_case(store, U1_ADMIN, "26110299999")
    with pytest.raises(Forbidden):  # a union admin of the handling union is not its supervisor
        app.supervise(store, U1_ADMIN, clock, case["_id"], {"note": "请加快"})
    with pytest.raises(Forbidden):  # dispatch only to the receiving union or below
        other = file(env, actor=STRANGER)
        app.dispatch(
            store,
            U2_ADMIN,
            clock,
            settings,
            peers,
            other["_id"],
            {"union_id": "u1", "complexity": "general", "note": ""},
        )


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"case_type": "praise"}, "case_type"),
        ({"title": "短"}, "title"),
        ({"anonymous": True}, "anonymous"),
        ({"employer": {}}, "employer"),
        ({"phone": "12345"}, "phone"),
        ({"channel": "phone"}, "caller"),
    ],
)
def test_bad_input_names_the_field(over, field):
    with pytest.raises(Exception) as exc:
        c.CaseIn().load({**CASE, **over})
    assert field in exc.value.messages


def test_transfer_down_and_up_in_the_history(env):
    store, peers, _sms, clock, settings = env
    case = app.record_call(
        store,
        HOTLINE,
        clock,
        settings,
        peers,
        "fed",
        c.CaseIn().load(
            {**CASE, "channel": "phone", "phone": None, "caller": {"name": "张先生", "phone": "13900139000"}}
        ),
    )
    case = app.dispatch(
        store,
        HOTLINE,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "fed", "complexity": "difficult", "note": ""},
    )
    deadline = case["rounds"][0]["due"]["reply"]
    case = app.transfer(
        store,
        SUPERIOR,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "u1", "reason": "属地企业，由基层工会办理"},
    )
    assert case["handling_union_id"] == "u1" and case["rounds"][0]["due"]["reply"] == deadline
    case = app.transfer(
        store,
        U1_ADMIN,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "fed", "reason": "企业拒不配合，提请上级工会主办"},
    )
    assert [(h["action"], h["to_union_id"]) for h in case["history"] if h["action"] == "transfer"] == [
        ("transfer", "u1"),
        ("transfer", "fed"),
    ]
    with pytest.raises(BadInput):
        app.transfer(
            store,
            SUPERIOR,
            clock,
            settings,
            peers,
            case["_id"],
            {"union_id": "other", "reason": "不相干的工会"},
        )
    with pytest.raises(Conflict):
        app.transfer(
            store,
            SUPERIOR,
            clock,
            settings,
            peers,
            case["_id"],
            {"union_id": "fed", "reason": "还是本级工会"},
        )
    # counters followed the case: fed's own column has the dispatch, u1 none
    counters = store.counters([f"fed:{rules.month_of(clock())}", f"u1:{rules.month_of(clock())}"])
    assert counters[f"fed:{rules.month_of(clock())}"]["u"]["fed"]["dispatched"] == 1
    assert counters[f"u1:{rules.month_of(clock())}"]["m"].get("dispatched", 0) == 0


def test_reminders_and_overdue_escalation_fire_once(env):
    store, peers, _sms, clock, settings = env
    case = file(env)
    app.dispatch(
        store,
        U1_ADMIN,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "u1", "complexity": "general", "note": ""},
    )
    first = app.check_limits(store, clock() + timedelta(hours=6), settings)  # sign-for due 11:00 China
    assert first["escalated"] == 0 and first["reminded"] >= 1
    late = clock() + timedelta(days=10)
    a = app.check_limits(store, late, settings)
    b = app.check_limits(store, late + timedelta(hours=1), settings)
    assert a["escalated"] == 1 and b == {"checked": 1, "reminded": 0, "escalated": 0}
    overdue = store.committed("case_overdue")
    assert len(overdue) == 1 and overdue[0][1]["supervising_union_id"] == "fed"
    doc = store.get(case["_id"])
    assert doc["supervised"] and doc["supervising_union_id"] == "fed"
    reminded = [b["limit"] + ":" + b["when"] for _, b in store.committed("case_reminded")]
    assert len(reminded) == len(set(reminded))
    assert views.case(doc, U1_ADMIN, late)["colour"] == "red"


def test_progress_query_with_a_one_time_code(env):
    store, peers, sms, clock, settings = env
    case = file(env)
    app.dispatch(
        store,
        U1_ADMIN,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "u1", "complexity": "general", "note": ""},
    )
    app.add_note(store, U1_ADMIN, clock, case["_id"], {"text": "内部：企业老板失联"})
    ask = {"case_number": case["_id"], "phone": "13800138000"}
    assert app.request_query_code(store, clock, settings, sms, ask)["sent"]
    code = sms.sent[-1][1].split("验证码：")[1][:6]
    with pytest.raises(NotFound) as wrong:
        app.query_progress(
            store, clock, settings, {**ask, "code": "000000" if code != "000000" else "111111"}
        )
    assert wrong.value.reason == "progress_not_found"  # the worker reads what to check (issue 16)
    doc = app.query_progress(store, clock, settings, {**ask, "code": code})
    shown = views.progress(doc, clock())
    assert shown["state"] == "dispatched" and all(h["action"] != "note" for h in shown["history"])
    with pytest.raises(NotFound):  # used once
        app.query_progress(store, clock, settings, {**ask, "code": code})
    # a wrong phone gets the same answer and no SMS
    n = len(sms.sent)
    assert app.request_query_code(store, clock, settings, sms, {**ask, "phone": "13900000000"})["sent"]
    assert len(sms.sent) == n
    app.request_query_code(store, clock, settings, sms, ask)
    app.request_query_code(store, clock, settings, sms, ask)
    with pytest.raises(TooManyRequests):
        app.request_query_code(store, clock, settings, sms, ask)


def test_wrong_codes_lock_the_code(env):
    store, peers, sms, clock, settings = env
    case = file(env)
    ask = {"case_number": case["_id"], "phone": "13800138000"}
    app.request_query_code(store, clock, settings, sms, ask)
    code = sms.sent[-1][1].split("验证码：")[1][:6]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(settings.max_attempts - 1):
        with pytest.raises(NotFound):
            app.query_progress(store, clock, settings, {**ask, "code": wrong})
    with pytest.raises(TooManyRequests):
        app.query_progress(store, clock, settings, {**ask, "code": wrong})
    with pytest.raises(TooManyRequests):
        app.query_progress(store, clock, settings, {**ask, "code": code})


def test_alert_when_one_enterprise_gets_n_cases_of_a_category(env):
    store, peers, _sms, clock, settings = env
    for _ in range(settings.alert_threshold - 1):
        file(env)
        clock.advance(days=2)
    assert app.alerts(store, SUPERIOR, peers, "fed") == []
    file(env, category="safety")  # another category does not count
    file(env)
    found = app.alerts(store, SUPERIOR, peers, "fed")
    assert (
        len(found) == 1
        and found[0]["count"] == settings.alert_threshold
        and found[0]["category"] == "wage_arrears"
    )
    with pytest.raises(Forbidden):
        app.alerts(store, STRANGER, peers, "fed")
    app.recount(store, SYSTEM, settings)  # computed in memory from the cases: the same alert
    assert app.alerts(store, SUPERIOR, peers, "fed") == found


def test_indicators_of_a_small_month_computed_by_hand(env):
    """November 2026 at u1, five cases:
    A dispatched, signed for and contacted in time, replied in time, rated satisfied + resolved;
    B dispatched, signed for late (after 2 working hours), replied in time, rated partly, not resolved;
    C dispatched, in time, replied, rated dissatisfied → round 2, replied, rated dissatisfied (final);
    D dispatched, never signed for, overdue (escalated);
    E received only.
    By hand: received 5; dispatched 4; responded 2 (A, C); due: A, B, C1, C2, D = 5; closed 4 (A, B, C1,
    C2), on time 4; overdue 1; rated 3 (final ratings A, B, C); resolved 1; satisfied 1, partly 1,
    dissatisfied 1. Rates: response 2/4, resolution 1/3, satisfaction 2/3, satisfied 1/3, closure 4/5,
    on time 4/5."""
    store, peers, _sms, clock, settings = env

    def handle(case_id, late_sign=False):
        if late_sign:
            clock.advance(hours=5)
        app.sign_for(store, U1_ADMIN, clock, case_id)
        app.contact(store, U1_ADMIN, clock, case_id, {"method": "phone", "note": ""})
        return app.reply(store, U1_ADMIN, clock, case_id, {"text": "已经协调企业依法处理，答复如下。"})

    def rate(case_id, s, resolved):
        return app.rate(
            store, WORKER, clock, settings, case_id, {"satisfaction": s, "resolved": resolved, "comment": ""}
        )

    ids = []
    for _ in range(5):
        ids.append(file(env)["_id"])
    for i in ids[:4]:
        app.dispatch(
            store,
            U1_ADMIN,
            clock,
            settings,
            peers,
            i,
            {"union_id": "u1", "complexity": "general", "note": ""},
        )
    a, b, cc, d, _e = ids
    handle(a)
    rate(a, "satisfied", True)
    handle(cc)
    rate(cc, "dissatisfied", False)
    handle(b, late_sign=True)
    rate(b, "partly", False)
    handle(cc)
    rate(cc, "dissatisfied", False)
    app.check_limits(
        store, clock() + timedelta(days=9), settings
    )  # D past its 5 working days, still November
    out = app.indicators(
        store,
        SUPERIOR,
        lambda: clock(),
        peers,
        {"union_id": "fed", "from_month": "2026-11", "to_month": "2026-11"},
    )
    assert out["counts"] == {
        "received": 5,
        "dispatched": 4,
        "responded": 2,
        "due": 5,
        "closed": 4,
        "closed_on_time": 4,
        "rated": 3,
        "resolved": 1,
        "satisfied": 1,
        "partly": 1,
        "dissatisfied": 1,
        "overdue": 1,
    }
    assert out["rates"] == {
        "response_rate": 0.5,
        "resolution_rate": round(1 / 3, 4),
        "satisfaction_rate": round(2 / 3, 4),
        "satisfied_rate": round(1 / 3, 4),
        "closure_rate": 0.8,
        "on_time_rate": 0.8,
    }
    assert out["by_union"] == [{"union_id": "u1", "counts": out["counts"], "rates": out["rates"]}]
    u1 = app.indicators(
        store,
        U1_ADMIN,
        lambda: clock(),
        peers,
        {"union_id": "u1", "from_month": "2026-11", "to_month": "2026-11"},
    )
    assert u1["counts"] == out["counts"]
    # the counters kept incrementally equal a recount from the cases
    before = store.counters([f"{u}:2026-11" for u in ("root", "fed", "u1")])
    app.recount(store, SYSTEM, settings)
    after = store.counters([f"{u}:2026-11" for u in ("root", "fed", "u1")])
    strip = lambda docs: {k: {f: v for f, v in d.items() if f in ("m", "c", "u")} for k, d in docs.items()}  # noqa: E731
    assert strip(after) == strip(before)
    with pytest.raises(Forbidden):
        app.indicators(
            store, U2_ADMIN, lambda: clock(), peers, {"union_id": "u1", "from_month": None, "to_month": None}
        )
    topic = app.topic(store, SUPERIOR, lambda: clock(), peers, {"union_id": "fed", "month": "2026-11"})
    assert (
        topic["top_categories"][0]["category"] == "wage_arrears" and topic["top_categories"][0]["count"] == 5
    )
    assert topic["top_employers"][0]["employer_key"] == "u1"


def test_replaying_a_past_case_is_quiet_and_recounted(env):
    store, peers, _sms, _clock, settings = env
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 China time
    staff = {"member_id": "A1", "name": "一号工会干事", "role": "union_admin", "scope": "u1"}
    spec = c.ReplayIn().load(
        {
            "case": CASE,
            "at": t0.isoformat(),
            "by": {"member_id": "M1", "name": "王工", "union_id": "u1"},
            "steps": [
                {
                    "action": "dispatch",
                    "at": (t0 + timedelta(minutes=30)).isoformat(),
                    "by": staff,
                    "data": {"union_id": "u1"},
                },
                {"action": "sign_for", "at": (t0 + timedelta(hours=1)).isoformat(), "by": staff},
                {"action": "contact", "at": (t0 + timedelta(hours=2)).isoformat(), "by": staff},
                {
                    "action": "reply",
                    "at": (t0 + timedelta(days=2)).isoformat(),
                    "by": staff,
                    "data": {"text": "已协调企业补发工资，请查收。"},
                },
                {
                    "action": "rate",
                    "at": (t0 + timedelta(days=3)).isoformat(),
                    "by": {"member_id": "M1", "union_id": "u1"},
                    "data": {"satisfaction": "satisfied", "resolved": True},
                },
            ],
        }
    )
    case = app.replay(store, SYSTEM, settings, peers, spec)
    assert case["state"] == "closed" and case["received_at"] == t0
    assert store.committed() == []  # no events, no audit entries
    assert store.counters(["fed:2026-03"]) == {}
    with pytest.raises(Forbidden):
        app.replay(store, U1_ADMIN, settings, peers, spec)
    app.recount(store, SYSTEM, settings)
    counts = store.counters(["fed:2026-03"])["fed:2026-03"]["m"]
    assert counts == {
        "received": 1,
        "dispatched": 1,
        "responded": 1,
        "due": 1,
        "closed": 1,
        "closed_on_time": 1,
        "rated": 1,
        "resolved": 1,
        "satisfied": 1,
    }


def test_no_reminder_right_after_dispatch(env):
    store, peers, _sms, clock, settings = env
    case = file(env)
    app.dispatch(
        store,
        U1_ADMIN,
        clock,
        settings,
        peers,
        case["_id"],
        {"union_id": "u1", "complexity": "general", "note": ""},
    )
    assert app.check_limits(store, clock() + timedelta(minutes=10), settings)["reminded"] == 0
    # 1.5 working hours later: the second half of the 2-hour sign-for limit
    assert app.check_limits(store, clock() + timedelta(minutes=90), settings)["reminded"] == 1
    assert [b["limit"] + ":" + b["when"] for _, b in store.committed("case_reminded")] == ["sign_for:before"]


def test_a_filing_retried_with_its_key_files_one_case(env):
    store = env[0]
    first = file(env, client_key="c-1")
    assert file(env, client_key="c-1") == first and len(store.col("cases")) == 1
    assert [t for t, _ in store.committed("case_received")] == ["case_received"]
    assert file(env, client_key="c-2")["_id"] != first["_id"]


# --- what needs me (issue 16) ----------------------------------------------------------------------
def test_needs_of_the_workers_open_cases_and_the_staffs_queue_with_cases_near_their_limit(env):
    store, peers, _sms, clock, settings = env
    first, second = file(env)["_id"], file(env, title="加班费未足额支付")["_id"]
    mine = app.needs_of(store, WORKER, clock())
    assert sorted(i["id"] for i in mine["items"]) == sorted([first, second]) and mine["queues"] == []
    assert app.needs_of(store, STRANGER, clock()) == {"items": [], "queues": []}
    app.dispatch(
        store, HOTLINE, clock, settings, peers, first, {"union_id": "u1", "complexity": "general", "note": ""}
    )
    [item] = [i for i in app.needs_of(store, WORKER, clock())["items"] if i["id"] == first]
    assert item["due_at"] == iso(rules.add_working_days(datetime(2026, 11, 2, 1, 0, tzinfo=UTC), 5))
    for staff in (U1_ADMIN, HOTLINE, SUPERIOR):
        queues = {q["kind"]: q for q in app.needs_of(store, staff, clock())["queues"] if q["scope"] == "u1"}
        assert queues["cases_open"]["count"] == 2 and queues["cases_open"]["overdue"] == 0
        assert queues["cases_open"]["oldest_at"] == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    assert app.needs_of(store, U2_ADMIN, clock())["queues"] == []
    clock.advance(days=14)  # past the 5 working days of the reply limit
    queues = {q["kind"]: q for q in app.needs_of(store, U1_ADMIN, clock())["queues"]}
    assert queues["cases_open"]["overdue"] == 1 and queues["cases_near_limit"]["count"] == 1
