"""The "what needs me" home and the federation overview (services/gateway/home.py) with hand-written
answers and hand-written RPC methods: one round of calls, a service down costs only its part, every
item and queue links to the page where it is worked."""

from datetime import UTC, datetime
from types import SimpleNamespace

import eventlet
import lxml.html
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from dmlib.auth import issue_token
from dmlib.errors import ServiceUnavailable
from services.gateway import home
from services.gateway.pages import Pages
from services.gateway.web import Web
from tests.helpers import AUTH_SECRET, member

NOW = datetime(2026, 5, 10, 4, 0, tzinfo=UTC)


class Reply:
    def __init__(self, value=None, error=None, delay=0.0):
        self.value, self.error, self.delay = value, error, delay

    def result(self):
        if self.delay:
            eventlet.sleep(self.delay)
        if self.error:
            raise self.error
        return self.value


class Method:
    """An RPC method as the gateway's ``Rpc`` gives it: ``call_async()`` sends and returns the reply."""

    def __init__(self, log, name, reply=None, send_error=None):
        self.log, self.name, self.reply, self.send_error = log, name, reply, send_error

    def call_async(self):
        self.log.append(("sent", self.name))
        if self.send_error:
            raise self.send_error
        return self.reply


def test_gather_sends_every_call_before_waiting_and_a_failure_costs_only_its_part():
    log = []

    class Waiting(Reply):
        def result(self):
            log.append(("waited", "ok"))
            return super().result()

    calls = {
        "ok": Method(log, "ok", Waiting({"service": "ok"})),
        "down": Method(log, "down", send_error=ServiceUnavailable("down / 未运行")),
        "refuses": Method(log, "refuses", Reply(error=RuntimeError("boom"))),
    }
    out = home.gather(calls, timeout=1.0)
    assert out == {"ok": {"service": "ok"}, "down": None, "refuses": None}
    assert log[:3] == [("sent", "ok"), ("sent", "down"), ("sent", "refuses")]  # one round: all sent first


def test_gather_gives_a_slow_service_none_after_the_one_deadline():
    log = []
    calls = {
        "slow": Method(log, "slow", Reply({"x": 1}, delay=5)),
        "fast": Method(log, "fast", Reply({"y": 2})),
    }
    assert home.gather(calls, timeout=0.2) == {"slow": None, "fast": {"y": 2}}


ANSWERS = {
    "surveys": {
        "service": "surveys",
        "items": [{"kind": "survey_open", "id": "sv1", "title": "满意度", "due_at": "2026-05-12T04:00:00Z"}],
        "queues": [{"kind": "surveys_running", "scope": "u01", "count": 1, "overdue": 1}],
    },
    "proposals": {
        "service": "proposals",
        "items": [
            {"kind": "proposal_cosign", "id": "cg-u01-t1-s1-3", "title": "食堂", "scope": "cg-u01-t1-s1"}
        ],
        "queues": [
            {"kind": "proposals_to_review", "scope": "u01", "count": 2, "oldest_at": "2026-05-01T04:00:00Z"},
            {"kind": "proposals_open", "scope": "u01", "count": 5, "overdue": 2},
            {"kind": "proposals_to_reply", "scope": "u01-d1", "count": 0},
        ],
    },
    "disclosure": None,
    "cases": {
        "service": "cases",
        "items": [{"kind": "case_mine", "id": "C1", "title": "工资", "due_at": "2026-05-20T04:00:00Z"}],
        "queues": [
            {
                "kind": "cases_open",
                "scope": "u01",
                "count": 3,
                "oldest_at": "2026-04-30T04:00:00Z",
                "overdue": 1,
            }
        ],
    },
}


def test_home_view_links_every_item_and_queue_and_marks_the_silent_service():
    view = home.home_view(ANSWERS, NOW)
    assert [(i["kind"], i["href"]) for i in view["items"]] == [
        ("survey_open", "/surveys/sv1"),  # the nearest closing first
        ("case_mine", "/cases/C1"),
        ("proposal_cosign", "/proposals/cg-u01-t1-s1-3"),  # no closing date: last
    ]
    assert view["items"][0]["days_left"] == 2
    # figures (proposals_open) and empty queues are not work waiting; the oldest first
    assert [(q["kind"], q["href"], q["age_days"]) for q in view["queues"]] == [
        ("cases_open", "/unions/u01/cases", 10),
        ("proposals_to_review", "/proposals", 9),
        ("surveys_running", "/surveys", None),
    ]
    assert view["unavailable"] == ["disclosure"] and view["nothing"] is False


def test_a_congress_vote_links_to_its_session_page():
    answers = {
        "voting": {
            "service": "voting",
            "items": [
                {"kind": "choice_vote", "id": "p1", "title": "决议", "scope": "cg-u05-t1-s1-i2"},
                {"kind": "choice_vote", "id": "p2", "title": "决议", "scope": None},
            ],
        }
    }
    hrefs = [i["href"] for i in home.home_view(answers, NOW)["items"]]
    assert hrefs == ["/congress/sessions/cg-u05-t1-s1", "/congress"]


def test_home_view_with_nothing_to_do():
    view = home.home_view({"cases": {"service": "cases", "items": [], "queues": []}}, NOW)
    assert view == {"items": [], "queues": [], "unavailable": [], "nothing": True}


def test_overview_rows_per_union_with_the_read_rate_and_dashes_for_a_silent_service():
    unions = [
        {"id": "ftu", "name": "总工会", "kind": "federation", "path": ["ftu"]},
        {"id": "u01", "name": "一号", "kind": "grassroots", "path": ["ftu", "u01"]},
    ]
    answers = {
        **ANSWERS,
        "disclosure": {
            "service": "disclosure",
            "queues": [
                {"kind": "mandatory_reads", "scope": "u01", "count": 30, "of": 2},
                {"kind": "questions_waiting", "scope": "u01", "count": 4},
            ],
        },
        "cases": None,
        "voting": {
            "service": "voting",
            "queues": [{"kind": "evaluation_ballots", "scope": "u01", "count": 5, "of": 20}],
        },
    }
    ftu, u01 = home.overview_rows(unions, {"ftu": 0, "u01": 20}, answers)
    assert (u01["members"], u01["open_proposals"], u01["overdue_proposals"], u01["to_review"]) == (
        20,
        5,
        2,
        2,
    )
    assert u01["read_rate"] == 30 / (2 * 20) and u01["questions_waiting"] == 4
    assert u01["open_cases"] is None and u01["cases_near_limit"] is None  # cases did not answer
    assert u01["evaluation_participation"] == 0.25
    assert (ftu["open_proposals"], ftu["read_rate"], ftu["surveys_running"]) == (0, None, 0)
    assert ftu["evaluation_participation"] is None  # no Worker Home of a campaign


# ----- the tile grid (全部功能) ---------------------------------------------------------------------------
def render_home(actor, language="zh-CN") -> str:
    """home.html rendered by the gateway's real Jinja environment for ``actor``, nothing waiting."""
    web = Web()
    web.setup()
    web.secret, web.cookie_secure, web.max_upload_bytes = AUTH_SECRET, False, 1024
    ctx = SimpleNamespace(
        container=SimpleNamespace(entrypoints=()),
        data={"language": language, "auth_token": issue_token(AUTH_SECRET, actor)},
    )
    profile = {
        "name": actor.name,
        "member_no": actor.member_id,
        "union_path": [],
        "roles": [{"role": g.role, "scope": g.scope} for g in actor.grants],
        "scope_names": {},
    }
    request = Request(EnvironBuilder(path="/").get_environ())
    page = Pages(web, ctx).render(
        "home.html", request=request, profile=profile, needs=home.home_view({}, NOW)
    )
    return page.get_data(as_text=True)


def tiles_and_menu(html: str) -> tuple[dict[str, str], dict[str, str]]:
    tree = lxml.html.fromstring(html)
    tiles = {a.get("href"): a.findtext("b") for a in tree.xpath("//div[@class='tiles']/a")}
    menu = {a.get("href"): a.text_content().strip() for a in tree.xpath("//nav[@class='nav']/a")}
    return tiles, menu


def test_the_tile_grid_offers_requests_surveys_and_elections_in_the_menus_words():
    """Issue 16: a member's 全部功能 has 接诉即办 (cases), 问卷 (surveys) and 选举 (elections), as the menu
    does, with the menu's words in both languages; a hotline staff member outside any union gets the
    requests tile only, as in the menu."""
    for language, words in (
        ("zh-CN", ("职工诉求", "问卷调查", "选举")),
        ("en", ("Requests", "Surveys", "Elections")),
    ):
        tiles, menu = tiles_and_menu(render_home(member("M0000001", "u01"), language))
        for href, word in zip(("/cases", "/surveys", "/elections"), words, strict=True):
            assert tiles.get(href) == menu.get(href) == word, (
                language,
                href,
                tiles.get(href),
                menu.get(href),
            )
    tiles, menu = tiles_and_menu(render_home(member("H0000001", None, ("hotline_staff", "u01"))))
    assert "/cases" in tiles and "/cases" in menu
    assert not {"/surveys", "/elections"} & (set(tiles) | set(menu))
