"""Every surveys use case (services/surveys/app.py) through the hand-written fakes: no RabbitMQ, no
FerretDB, no mocks. Outcomes are read back from the fake store and its outbox."""

from datetime import UTC, datetime, timedelta

import pytest

from dmlib.contracts import surveys as c
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound
from services.surveys import app
from tests.helpers import SYSTEM, member, union_admin
from tests.unit.surveys_fakes import FakeDirectory, FakeKeys, FakeSurveysStore

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
ADMIN, OTHER_ADMIN = union_admin("u01"), union_admin("u02", "B0000001")
SUPERIOR = member("S0000001", "ftu", ("superior_admin", "ftu"))
QUESTIONS = [
    {
        "id": "q1",
        "kind": "single",
        "title": "食堂",
        "required": True,
        "options": [{"id": "yes", "label": "去"}, {"id": "no", "label": "不去"}],
    },
    {
        "id": "q2",
        "kind": "rating",
        "title": "口味",
        "scale": "1-5",
        "required": True,
        "show_if": {"question": "q1", "any_of": ["yes"]},
    },
    {"id": "q3", "kind": "short_text", "title": "建议", "max_length": 20},
]


def survey_in(**kw):
    data = {
        "union_id": "u01",
        "title": "食堂满意度调查",
        "sections": [{"id": "s1", "questions": QUESTIONS}],
        "audience": {"kind": "unions", "union_ids": ["u01"]},
        **kw,
    }
    return c.SurveyIn().load(data)


@pytest.fixture
def w():
    class World:
        store, directory, keys = FakeSurveysStore(), FakeDirectory(), FakeKeys()

        def __init__(self):
            for i in range(6):
                self.directory.add("u01", f"M{i:07d}", "d1" if i < 5 else "d2")
            self.directory.add("u02", "N0000001")

        def create(self, actor=ADMIN, **kw):
            return app.create_survey(self.store, actor, NOW, self.directory, survey_in(**kw))

        def opened(self, **kw):
            s = self.create(**kw)
            return app.open_survey(self.store, ADMIN, NOW, self.directory, s["id"])

        def submit(self, sid, who, answers, at=NOW):
            return app.submit_response(self.store, who, at, self.keys, sid, {"answers": answers})

        def events(self):
            return [(t, b) for t, b in self.store.pending_events() if t != "change_recorded"]

        def audits(self):
            return [b for t, b in self.store.pending_events() if t == "change_recorded"]

    return World()


def m(i, union="u01"):
    return member(f"M{i:07d}", union)


def test_create_keeps_a_draft_and_audits_it(w):
    s = w.create()
    assert s["status"] == "draft" and s["question_count"] == 3 and s["min_group"] == 5
    assert [a["action"] for a in w.audits()] == ["surveys.survey_created"]


def test_only_admins_of_the_union_or_above_build(w):
    with pytest.raises(Forbidden):
        w.create(actor=OTHER_ADMIN)
    with pytest.raises(Forbidden):
        w.create(actor=m(1))
    assert w.create(actor=SUPERIOR)["union_id"] == "u01"


def test_audience_outside_the_survey_union_is_refused(w):
    with pytest.raises(Forbidden):
        w.create(audience={"kind": "unions", "union_ids": ["u02"]})
    with pytest.raises(BadInput) as e:
        w.create(audience={"kind": "departments", "department_ids": ["d9"]})
    assert e.value.fields == {"audience.department_ids": ["d9"]}


def test_a_named_survey_has_no_minimum_group(w):
    assert w.create(anonymous=False)["min_group"] == 1


def test_update_only_a_draft_with_its_version(w):
    s = w.create()
    data = c.SurveyUpdateIn().load(
        {
            **c.SurveyIn().dump(survey_in()),
            "title": "新标题",
            "version": 0,
            "sections": [{"id": "s1", "questions": QUESTIONS}],
            "audience": {"kind": "unions", "union_ids": ["u01"]},
            "opens_at": None,
            "closes_at": None,
        }
    )
    assert app.update_survey(w.store, ADMIN, NOW, w.directory, s["id"], data)["title"] == "新标题"
    with pytest.raises(Conflict):
        app.update_survey(w.store, ADMIN, NOW, w.directory, s["id"], data)  # version 0 is stale now


def test_open_fixes_the_audience_and_publishes(w):
    s = w.opened()
    assert s["status"] == "open" and s["eligible"] == 6
    [(kind, body)] = [e for e in w.events() if e[0] == "survey_opened"]
    assert body["eligible"] == 6 and body["survey_id"] == s["id"]
    with pytest.raises(Conflict):
        app.open_survey(w.store, ADMIN, NOW, w.directory, s["id"])


def test_department_audience(w):
    s = w.opened(audience={"kind": "departments", "department_ids": ["d2"]})
    assert s["eligible"] == 1
    with pytest.raises(Forbidden):
        w.submit(s["id"], m(0), {"q1": "no"})
    assert w.submit(s["id"], m(5), {"q1": "no"})["status"] == "submitted"


def test_delegates_audience_comes_from_congress(w):
    w.directory.terms["cg-u01-t1"]["delegates"] = ["M0000001", "M0000002"]
    s = w.opened(audience={"kind": "delegates", "term_id": "cg-u01-t1"})
    assert s["eligible"] == 2


def test_answer_resume_and_submit_once(w):
    s = w.opened()
    sid = s["id"]
    assert app.my_response(w.store, m(0), w.keys, sid)["status"] == "not_started"
    d = app.save_draft(w.store, m(0), NOW, w.keys, sid, {"answers": {"q1": "yes"}})
    assert d["missing"] == ["q2"] and d["visible"] == ["q1", "q2", "q3"]
    resumed = app.my_response(w.store, m(0), w.keys, sid)
    assert resumed["status"] == "draft" and resumed["answers"] == {"q1": "yes"}
    assert app.participation(w.store, ADMIN, sid)["drafts"] == 1
    out = w.submit(sid, m(0), {"q1": "yes", "q2": 4})
    assert out["status"] == "submitted" and out["receipt"]
    assert app.participation(w.store, ADMIN, sid)["drafts"] == 0
    with pytest.raises(Conflict) as e:
        w.submit(sid, m(0), {"q1": "no"})
    assert e.value.details["reason"] == "already_submitted"
    with pytest.raises(Conflict):
        app.save_draft(w.store, m(0), NOW, w.keys, sid, {"answers": {"q1": "no"}})
    assert app.my_response(w.store, m(0), w.keys, sid)["status"] == "submitted"


def test_anonymous_responses_hold_no_member_id(w):
    s = w.opened()
    w.submit(s["id"], m(1), {"q1": "no", "q3": "加菜"})
    [stored] = w.store.collections[f"responses_{s['id']}"].values()
    assert "M0000001" not in repr(stored) and "member_id" not in stored and "at" not in stored


def test_a_named_survey_shows_who_answered(w):
    s = w.opened(anonymous=False)
    w.submit(s["id"], m(1), {"q1": "no"})
    page = app.respondents(w.store, ADMIN, s["id"], {"page": 1, "per_page": 50})
    assert [r["member_id"] for r in page["items"]] == ["M0000001"]
    anon = w.opened()
    with pytest.raises(Conflict):
        app.respondents(w.store, ADMIN, anon["id"], {"page": 1, "per_page": 50})


@pytest.mark.parametrize(
    "answers, field",
    [
        ({"q1": "maybe"}, "answers.q1"),
        ({"q1": "no", "q3": "x" * 21}, "answers.q3"),
        ({"q1": "no", "q2": 5}, "answers.q2"),
        ({"q1": "yes"}, "answers.q2"),
    ],
)
def test_bad_answers_store_nothing(w, answers, field):
    s = w.opened()
    with pytest.raises(BadInput) as e:
        w.submit(s["id"], m(0), answers)
    assert field in e.value.fields
    assert not w.store.collections.get(f"responses_{s['id']}")
    assert w.store.tally(s["id"]).get("n") == 0


def test_an_answer_racing_the_close_is_refused_and_removed(w):
    s = w.opened()
    w.store.close_tally(s["id"])  # a close has shut the counters; its state change is not yet written
    with pytest.raises(Conflict) as e:
        w.submit(s["id"], m(0), {"q1": "no"})
    assert e.value.details["reason"] == "not_open"
    assert not w.store.collections.get(f"responses_{s['id']}")
    assert w.store.tally(s["id"])["n"] == 0


def test_answers_after_close_or_outside_the_audience(w):
    s = w.opened()
    with pytest.raises(Forbidden):
        w.submit(s["id"], member("N0000001", "u02"), {"q1": "no"})
    app.close_survey(w.store, ADMIN, NOW, s["id"])
    with pytest.raises(Conflict) as e:
        w.submit(s["id"], m(0), {"q1": "no"})
    assert e.value.details["reason"] == "not_open"


def test_window_by_time(w):
    s = w.create(opens_at=NOW + timedelta(hours=1), closes_at=NOW + timedelta(days=1))
    assert app.follow_window(w.store, NOW, w.directory) == {"opened": 0, "closed": 0}
    assert app.follow_window(w.store, NOW + timedelta(hours=2), w.directory) == {"opened": 1, "closed": 0}
    with pytest.raises(Conflict):
        w.submit(s["id"], m(0), {"q1": "no"}, at=NOW + timedelta(days=2))  # past closes_at, before the timer
    assert app.follow_window(w.store, NOW + timedelta(days=2), w.directory) == {"opened": 0, "closed": 1}
    assert w.store.survey(s["id"])["status"] == "closed"
    [closed] = [b for t, b in w.events() if t == "survey_closed"]
    assert closed["by"] == "window"


def test_results_equal_a_hand_count_and_small_departments_merge(w):
    s = w.opened(min_group=3)
    sid = s["id"]
    answers = [
        {"q1": "yes", "q2": 5},
        {"q1": "yes", "q2": 3},
        {"q1": "no", "q3": "加菜"},
        {"q1": "no"},
        {"q1": "yes", "q2": 4},
    ]
    for i, a in enumerate(answers):
        w.submit(sid, m(i), a)
    w.submit(sid, m(5), {"q1": "no"})  # d2: alone in its department
    r = app.results(w.store, ADMIN, sid)
    assert r["responses"] == 6 and not r["withheld"]
    q1, q2, q3 = r["questions"]
    assert [(x["id"], x["count"]) for x in q1["counts"]] == [("yes", 3), ("no", 3)]
    assert q2["answered"] == 3 and q2["mean"] == 4.0
    assert q3["text_count"] == 1
    tab = app.crosstab(w.store, ADMIN, sid, "q1", {"by": "department"})
    # d2 (1 response) is below 3; "other" would hold 1, so d1 (5) joins it: one group of 6
    assert [(g["key"], g["responses"], g["merged"]) for g in tab["groups"]] == [("other", 6, 2)]
    assert [x["count"] for x in tab["groups"][0]["counts"]] == [3, 3]
    by_union = app.crosstab(w.store, ADMIN, sid, "q1", {"by": "union"})
    assert [(g["key"], g["responses"]) for g in by_union["groups"]] == [("u01", 6)]
    part = app.participation(w.store, ADMIN, sid)
    assert "d2" not in [g["key"] for g in part["by_department"]]
    raw = app.raw_answers(w.store, ADMIN, sid, {"after": None, "limit": 500})
    assert len(raw["rows"]) == 6 and raw["next"] is None
    assert {row["group_department"] for row in raw["rows"]} == {"其他 / other"}
    assert {row["group_union"] for row in raw["rows"]} == {"一厂工会"}
    assert all(row["member_id"] is None for row in raw["rows"])
    texts = app.texts(w.store, ADMIN, sid, "q3", {"page": 1, "per_page": 50, "q": "加"})
    assert [t["text"] for t in texts["items"]] == ["加菜"] and texts["items"][0]["name"] is None


def test_results_are_withheld_below_the_minimum(w):
    s = w.opened()
    w.submit(s["id"], m(0), {"q1": "no"})
    r = app.results(w.store, ADMIN, s["id"])
    assert r["withheld"] and r["questions"] == []
    assert app.raw_answers(w.store, ADMIN, s["id"], {"after": None, "limit": 10})["rows"] == []


def test_recount_rebuilds_the_counters(w):
    s = w.opened(min_group=1)
    for i in range(3):
        w.submit(s["id"], m(i), {"q1": "yes", "q2": i + 1})
    before = app.results(w.store, ADMIN, s["id"])
    w.store.collections["tallies"][s["id"]]["n"] = 99  # drift
    out = app.recount(w.store, SYSTEM, s["id"])
    assert out == {"survey_id": s["id"], "responses": 3, "drifted": True}
    assert app.results(w.store, ADMIN, s["id"]) == before
    assert app.recount(w.store, ADMIN, s["id"])["drifted"] is False


def test_remind_counts_pending_and_notify_sees_only_them(w):
    s = w.opened()
    w.submit(s["id"], m(0), {"q1": "no"})
    out = app.remind(w.store, ADMIN, NOW, w.keys, s["id"])
    assert out == {"survey_id": s["id"], "reminder": 1, "pending": 5}
    [(_, body)] = [e for e in w.events() if e[0] == "survey_reminded"]
    assert body["reminder"] == 1 and "answers" not in body
    page = app.audience_members(w.store, SYSTEM, w.keys, s["id"], 0, 100, pending=True)
    assert sorted(x["member_id"] for x in page["members"]) == [f"M{i:07d}" for i in range(1, 6)]
    with pytest.raises(Forbidden):
        app.audience_members(w.store, ADMIN, w.keys, s["id"], 0, 100, pending=True)


def test_members_see_their_surveys_and_admins_of_others_see_nothing(w):
    s = w.opened()
    assert [(x["id"], x["mine"]) for x in app.my_surveys(w.store, m(0), w.keys)] == [(s["id"], "not_started")]
    assert app.my_surveys(w.store, member("N0000001", "u02"), w.keys) == []
    with pytest.raises(Forbidden):
        app.results(w.store, OTHER_ADMIN, s["id"])
    with pytest.raises(NotFound):
        app.results(w.store, ADMIN, "sv-nope")


def test_templates(w):
    keys = [t["key"] for t in app.list_templates(ADMIN, "en")]
    assert keys == ["needs", "satisfaction", "canteen"]
    t = app.get_template(ADMIN, "needs", "zh")
    data = c.SurveyIn().load({**t, "union_id": "u01", "audience": {"kind": "unions", "union_ids": ["u01"]}})
    s = app.create_survey(w.store, ADMIN, NOW, w.directory, data)
    assert s["title"] == "职工需求调查"
    with pytest.raises(NotFound):
        app.get_template(ADMIN, "nope", "zh")


# --- what needs me (issue 16) ----------------------------------------------------------------------
def test_needs_of_a_survey_to_answer_until_submitted_and_the_admins_running_surveys(w):
    s = w.opened(closes_at=NOW + timedelta(days=2))
    out = app.needs_of(w.store, m(0), NOW, w.keys)
    assert out["queues"] == [] and [(i["kind"], i["id"], i["title"]) for i in out["items"]] == [
        ("survey_open", s["id"], "食堂满意度调查")
    ]
    assert out["items"][0]["due_at"] == s["closes_at"]
    assert app.needs_of(w.store, m(9, "u02"), NOW, w.keys)["items"] == []  # not in the audience
    w.submit(s["id"], m(0), {"q1": "no"})
    assert app.needs_of(w.store, m(0), NOW, w.keys)["items"] == []
    for admin in (ADMIN, SUPERIOR):
        [running] = app.needs_of(w.store, admin, NOW, w.keys)["queues"]
        assert (running["kind"], running["scope"], running["count"], running["overdue"]) == (
            "surveys_running",
            "u01",
            1,
            1,  # closes within 3 days
        )
    assert app.needs_of(w.store, OTHER_ADMIN, NOW, w.keys)["queues"] == []
