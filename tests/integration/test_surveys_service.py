"""The surveys service with the real members service, RabbitMQ and FerretDB: build, open, answer (skip
logic, drafts and resume), close, results equal to a hand count; one response per member under 50
concurrent attempts; anonymity (no member id stored; a small department merged into 其他/other in every
report and export); bad inputs refused with field messages and nothing stored; events."""

import eventlet
import pytest

from dmlib.errors import BadInput, Conflict, Forbidden
from services.members.service import MembersService
from services.surveys.service import SurveysService
from tests.helpers import SYSTEM, event_recorder, member, union_admin, valid_ids, wait_until

pytestmark = pytest.mark.integration

SEEN: list[tuple[str, dict]] = []
Listener = event_recorder(
    "surveys_listener", "surveys", ["survey_opened", "survey_reminded", "survey_closed"], SEEN
)

ADMIN = union_admin("u01", "A0000001")
OTHER_ADMIN = union_admin("u02", "B0000009")
# u01: d1 (生产部) M0000001-M0000006, d2 (财务部) M0000007-M0000008; u02: B0000001-B0000002
D1 = [f"M{i:07d}" for i in range(1, 7)]
D2 = ["M0000007", "M0000008"]
U02 = ["B0000001", "B0000002"]
QUESTIONS = [
    {
        "id": "canteen",
        "kind": "single",
        "title": "您在食堂就餐吗？",
        "required": True,
        "options": [{"id": "yes", "label": "是"}, {"id": "no", "label": "否"}],
    },
    {
        "id": "taste",
        "kind": "rating",
        "title": "口味",
        "scale": "1-5",
        "required": True,
        "show_if": {"question": "canteen", "any_of": ["yes"]},
    },
    {
        "id": "wants",
        "kind": "multiple",
        "title": "希望改进（最多2项）",
        "max_choices": 2,
        "options": [
            {"id": "price", "label": "价格"},
            {"id": "variety", "label": "品种"},
            {"id": "queue", "label": "排队"},
        ],
    },
    {"id": "price", "kind": "number", "title": "可接受的午餐价格", "min": 0, "max": 50},
    {"id": "idea", "kind": "short_text", "title": "一句话建议", "max_length": 20},
]


def seen() -> list[str]:
    """The event types received, each event once (an event may be delivered twice: at least once)."""
    unique = {p["event_id"]: e for e, p in SEEN}
    return list(unique.values())


def survey_in(**kw):
    return {
        "union_id": "u01",
        "title": "食堂满意度调查",
        "sections": [{"id": "s1", "questions": QUESTIONS}],
        "audience": {"kind": "unions", "union_ids": ["u01"]},
        "min_group": 3,
        **kw,
    }


@pytest.fixture
def services(runner_factory, config, rpc_as):
    SEEN.clear()
    runner_factory(config, MembersService, SurveysService, Listener).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for u in ("u01", "u02"):
            rpc.members.create_union({"id": u, "name": f"{u}工会", "kind": "grassroots", "parent_id": "ftu"})
        rpc.members.create_department({"id": "u01-d1", "union_id": "u01", "name": "生产部"})
        rpc.members.create_department({"id": "u01-d2", "union_id": "u01", "name": "财务部"})
        people = [(no, "u01", "u01-d1") for no in D1] + [(no, "u01", "u01-d2") for no in D2]
        people += [(no, "u02", None) for no in U02]
        for (no, union, dep), nid in zip(people, valid_ids(len(people)), strict=True):
            rpc.members.register_member(
                {
                    "member_no": no,
                    "name": f"会员{no[-2:]}",
                    "union_id": union,
                    "national_id": nid,
                    "department_id": dep,
                }
            )
    return rpc_as


def opened(services, **kw):
    with services(ADMIN) as rpc:
        survey = rpc.surveys.create_survey(survey_in(**kw))
        return rpc.surveys.open_survey(survey["id"])


def answer(services, member_id, answers):
    with services(member(member_id, "u01")) as rpc:
        return rpc.surveys.submit_response(SURVEY_ID[0], {"answers": answers})


SURVEY_ID: list[str] = [""]


def test_build_open_answer_resume_close_and_results_equal_a_hand_count(services, db):
    survey = opened(services)
    sid = SURVEY_ID[0] = survey["id"]
    assert survey["status"] == "open" and survey["eligible"] == 8 and survey["anonymous"]
    wait_until(lambda: seen() == ["survey_opened"])

    # resume: a draft saved, read back, completed and submitted
    with services(member(D1[0], "u01")) as rpc:
        draft = rpc.surveys.save_draft(sid, {"answers": {"canteen": "yes"}})
        assert draft["missing"] == ["taste"]
        resumed = rpc.surveys.my_response(sid)
        assert resumed["status"] == "draft" and resumed["answers"] == {"canteen": "yes"}
        done = rpc.surveys.submit_response(sid, {"answers": {**resumed["answers"], "taste": 4, "price": 12}})
        assert done["status"] == "submitted" and done["receipt"]
    given = [
        (
            D1[1],
            {"canteen": "yes", "taste": 5, "wants": ["price", "variety"], "price": 15, "idea": "多些面食"},
        ),
        (D1[2], {"canteen": "yes", "taste": 2, "wants": ["queue"], "price": 20}),
        (D1[3], {"canteen": "no", "wants": ["price"], "idea": "太贵了"}),
        (D1[4], {"canteen": "no"}),
        (D2[0], {"canteen": "yes", "taste": 3, "wants": ["price"], "price": 50}),
    ]
    for who, answers in given:
        answer(services, who, answers)
    with services(ADMIN) as rpc:
        live = rpc.surveys.participation(sid)
        assert (live["responses"], live["eligible"], live["drafts"]) == (6, 8, 0)
        closed = rpc.surveys.close_survey(sid)
        assert closed["status"] == "closed"
    with pytest.raises(Conflict):
        answer(services, D1[5], {"canteen": "no"})  # after close: 409

    with services(ADMIN) as rpc:
        results = rpc.surveys.results(sid)
        crosstab = rpc.surveys.crosstab(sid, "canteen", {"by": "department"})
        texts = rpc.surveys.texts(sid, "idea", {"q": "贵"})
        raw = rpc.surveys.raw_answers(sid, {"limit": 4})
        raw2 = rpc.surveys.raw_answers(sid, {"after": raw["next"], "limit": 4})
        part = rpc.surveys.participation(sid)
    by_q = {q["id"]: q for q in results["questions"]}
    assert results["responses"] == 6 and not results["withheld"]
    # the hand count: canteen yes = D1[0], D1[1], D1[2], D2[0]; no = D1[3], D1[4]
    assert [(c["id"], c["count"], c["percent"]) for c in by_q["canteen"]["counts"]] == [
        ("yes", 4, 66.7),
        ("no", 2, 33.3),
    ]
    assert by_q["taste"]["answered"] == 4 and by_q["taste"]["mean"] == 3.5  # (4 + 5 + 2 + 3) / 4
    assert [c["count"] for c in by_q["taste"]["counts"]] == [0, 1, 1, 1, 1]
    assert [c["count"] for c in by_q["wants"]["counts"]] == [3, 1, 1]
    assert by_q["price"]["answered"] == 4 and by_q["price"]["mean"] == 24.25
    assert (by_q["price"]["min_seen"], by_q["price"]["max_seen"]) == (12, 50)
    assert sum(b["count"] for b in by_q["price"]["bins"]) == 4 and by_q["price"]["bins"][-1]["count"] == 1
    assert by_q["idea"]["text_count"] == 2
    assert [t["text"] for t in texts["items"]] == ["太贵了"] and texts["items"][0]["name"] is None

    # anonymity: 财务部 has 1 response (< 3), so it is merged into other: other = 1 < 3 → 生产部 joins
    assert [(g["key"], g["responses"]) for g in crosstab["groups"]] == [("other", 6)]
    assert [g["key"] for g in part["by_department"]] == ["other"]
    rows = raw["rows"] + raw2["rows"]
    assert len(rows) == 6 and raw2["next"] is None
    assert {r["group_department"] for r in rows} == {"其他 / other"}
    assert all(r["member_id"] is None and r["name"] is None for r in rows)
    stored = list(db("surveys")[f"responses_{sid}"].find({}))
    assert len(stored) == 6
    everyone = D1 + D2
    assert not any(m in repr(doc) for doc in stored for m in everyone)
    texts_stored = list(db("surveys")[f"texts_{sid}"].find({}))
    assert len(texts_stored) == 2 and all(t["name"] is None for t in texts_stored)
    assert not any(m in repr(doc) for doc in texts_stored for m in everyone)
    wait_until(lambda: seen() == ["survey_opened", "survey_closed"])
    assert next(p for e, p in SEEN if e == "survey_closed")["responses"] == 6


def test_one_response_per_member_under_50_concurrent_attempts(services, db):
    survey = opened(services, min_group=1)
    sid = survey["id"]
    who = member(D1[0], "u01")

    def attempt(_):
        with services(who) as rpc:
            try:
                rpc.surveys.submit_response(sid, {"answers": {"canteen": "no"}})
                return "ok"
            except Conflict:
                return "conflict"

    outcomes = list(eventlet.GreenPool(50).imap(attempt, range(50)))
    assert outcomes.count("ok") == 1 and outcomes.count("conflict") == 49
    assert db("surveys")[f"responses_{sid}"].count_documents({}) == 1
    with services(ADMIN) as rpc:
        assert rpc.surveys.results(sid)["responses"] == 1
        assert rpc.surveys.recount(sid) == {"survey_id": sid, "responses": 1, "drifted": False}


@pytest.mark.parametrize(
    "answers, field",
    [
        ({"canteen": "sometimes"}, "answers.canteen"),  # a choice not offered
        ({"canteen": "no", "wants": ["price", "variety", "queue"]}, "answers.wants"),  # too many choices
        ({"canteen": "no", "idea": "太" * 21}, "answers.idea"),  # text over the limit
        ({"canteen": "no", "taste": 5}, "answers.taste"),  # a question its skip logic hides
        ({"canteen": "yes"}, "answers.taste"),  # a required question shown and unanswered
        ({"canteen": "no", "price": 51}, "answers.price"),
    ],
)
def test_bad_answers_are_400_with_field_messages_and_store_nothing(services, db, answers, field):
    survey = opened(services)
    with services(member(D1[0], "u01")) as rpc:
        with pytest.raises(BadInput) as info:
            rpc.surveys.submit_response(survey["id"], {"answers": answers})
        assert field in info.value.fields
        with pytest.raises(BadInput):
            rpc.surveys.save_draft(survey["id"], {"answers": {"canteen": 3, "idea": "太" * 21}})
    assert db("surveys")[f"responses_{survey['id']}"].count_documents({}) == 0
    assert db("surveys").drafts.count_documents({}) == 0
    assert db("surveys")[f"tallies_{survey['id']}"].find_one({"_id": survey["id"]})["n"] == 0


def test_scope_reminders_and_a_bad_questionnaire(services):
    with services(OTHER_ADMIN) as rpc, pytest.raises(Forbidden):
        rpc.surveys.create_survey(survey_in())
    with services(ADMIN) as rpc, pytest.raises(BadInput) as info:
        bad = [{**QUESTIONS[1], "show_if": {"question": "idea", "any_of": ["x"]}}, *QUESTIONS[4:]]
        rpc.surveys.create_survey(survey_in(sections=[{"id": "s1", "questions": bad}]))
    assert "sections.0.questions.0.show_if" in info.value.fields
    survey = opened(services)
    with services(member(U02[0], "u02")) as rpc, pytest.raises(Forbidden):
        rpc.surveys.submit_response(survey["id"], {"answers": {"canteen": "no"}})
    SURVEY_ID[0] = survey["id"]
    answer(services, D1[0], {"canteen": "no"})
    with services(ADMIN) as rpc:
        assert rpc.surveys.remind(survey["id"]) == {"survey_id": survey["id"], "reminder": 1, "pending": 7}
    with services(SYSTEM) as rpc:
        pending = rpc.surveys.pending_members(survey["id"])
    assert sorted(m["member_id"] for m in pending["members"]) == sorted(D1[1:] + D2)
    wait_until(lambda: "survey_reminded" in seen())
    reminded = next(p for e, p in SEEN if e == "survey_reminded")
    assert reminded["pending"] == 7 and reminded["reminder"] == 1


def test_notify_tells_the_audience_and_reminds_only_those_who_have_not_submitted(
    runner_factory, config, rpc_as
):
    from services.notify.service import NotifyService

    runner_factory(config, MembersService, SurveysService, NotifyService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "u01", "name": "u01工会", "kind": "grassroots", "parent_id": "ftu"})
        for no, nid in zip(D1[:3], valid_ids(3), strict=True):
            rpc.members.register_member(
                {"member_no": no, "name": "会员", "union_id": "u01", "national_id": nid}
            )
    survey = opened(rpc_as, min_group=1)

    def kinds(member_id):
        with rpc_as(member(member_id, "u01")) as rpc:
            return [m["kind"] for m in rpc.notify.inbox({"per_page": 50})["items"]]

    wait_until(lambda: all(kinds(m) == ["survey_opened"] for m in D1[:3]), timeout=30)
    with rpc_as(member(D1[0], "u01")) as rpc:
        rpc.surveys.submit_response(survey["id"], {"answers": {"canteen": "no"}})
    with rpc_as(ADMIN) as rpc:
        assert rpc.surveys.remind(survey["id"])["pending"] == 2
    wait_until(lambda: all(kinds(m) == ["survey_reminded", "survey_opened"] for m in D1[1:3]), timeout=30)
    assert kinds(D1[0]) == ["survey_opened"]  # the one who answered is not reminded


def test_a_survey_of_the_delegates_of_a_congress_term(runner_factory, config, rpc_as):
    from services.congress.service import CongressService

    runner_factory(config, MembersService, CongressService, SurveysService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "u01", "name": "u01工会", "kind": "grassroots", "parent_id": "ftu"})
        for no, nid in zip(D1, valid_ids(len(D1)), strict=True):
            rpc.members.register_member(
                {"member_no": no, "name": "会员", "union_id": "u01", "national_id": nid}
            )
    with rpc_as(ADMIN) as rpc:
        rpc.congress.create_congress({"union_id": "u01"})
        term = rpc.congress.create_term(
            "cg-u01",
            {"number": 1, "start": "2026-01-01", "end": "2030-12-31", "delegations": [{"name": "一团"}]},
        )
        delegates = [{"member_id": m, "delegation_id": "g1"} for m in D1[:3]]
        rpc.congress.elect_delegates(term["id"], {"delegates": delegates})
        survey = rpc.surveys.create_survey(survey_in(audience={"kind": "delegates", "term_id": term["id"]}))
        opened = rpc.surveys.open_survey(survey["id"])
    assert opened["eligible"] == 3
    with rpc_as(member(D1[3], "u01")) as rpc, pytest.raises(Forbidden):  # a member, not a delegate
        rpc.surveys.submit_response(survey["id"], {"answers": {"canteen": "no"}})
    with rpc_as(member(D1[0], "u01")) as rpc:
        assert (
            rpc.surveys.submit_response(survey["id"], {"answers": {"canteen": "no"}})["status"] == "submitted"
        )
