"""What people read when a form is refused (issue 16, "one way to tell people things"), through the
gateway with the real members, voting, congress and disclosure services: the refused main forms of each
capability, in Chinese and in English. On a zh-CN page no shown message is Latin-only and none is the
service's own text; on an English page no shown message, heading, label or button holds Chinese."""

from __future__ import annotations

import re

import lxml.html
import pytest

from services.congress.service import CongressService
from services.disclosure.service import DisclosureService
from services.gateway.http import LANG_COOKIE
from services.gateway.service import GatewayService
from services.gateway.wording import fits_locale, has_chinese
from services.members.service import MembersService
from services.voting.service import VotingService
from tests.helpers import SYSTEM, import_members, member, union_admin
from tests.integration.test_disclosure_service import ITEM

pytestmark = pytest.mark.integration

ADMIN = union_admin("u01", "A0001")
M1 = member("D0001", "u01")
#: Where a page shows what it tells people: field messages, alerts and notices, the error page's text.
SHOWN = (
    "//*[contains(concat(' ', @class, ' '), ' field-error ')]"
    " | //*[contains(concat(' ', @class, ' '), ' alert ')]"
    " | //section[contains(@class, 'narrow')]/p[1]"
)
#: Interface words of a page: headings, labels, buttons, table heads and the navigation.
UI = "//h1 | //h2 | //label | //button | //th | //nav//a"
#: The data of this test that pages may echo (names, titles): taken out before looking for Chinese.
USER_DATA = (
    "三月工资调整方案",
    "精密机械公司工会",
    "总工会",
    "管理员",
    "第一届第一次会议",
    "工作报告",
    "一团",
    "代表",
)


@pytest.fixture
def site(runner_factory, config, rpc_as, http):
    """u01 with six members (five delegates of one term, a planned session), a published disclosure."""
    runner_factory(
        config, GatewayService, MembersService, VotingService, CongressService, DisclosureService
    ).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "u01", "name": "精密机械公司工会", "kind": "grassroots", "parent_id": "ftu"}
        )
        import_members(
            rpc, [("A0001", "管理员", "u01")] + [(f"D{i:04d}", f"代表{i}", "u01") for i in range(6)]
        )
    with rpc_as(ADMIN) as rpc:
        rpc.congress.create_congress({"union_id": "u01"})
        term = rpc.congress.create_term(
            "cg-u01",
            {"number": 1, "start": "2025-01-01", "end": "2030-01-01", "delegations": [{"name": "一团"}]},
        )
        rpc.congress.elect_delegates(
            term["id"], {"delegates": [{"member_id": f"D{i:04d}", "delegation_id": "g1"} for i in range(5)]}
        )
        session = rpc.congress.create_session(
            term["id"], {"title": "第一届第一次会议", "agenda": [{"kind": "report", "title": "工作报告"}]}
        )
        item = rpc.disclosure.publish("u01", ITEM)
    return http, session["id"], item["id"]


def shown(page: str, xpath: str = SHOWN) -> list[str]:
    tree = lxml.html.fromstring(page)
    return [t for t in (" ".join(e.text_content().split()) for e in tree.xpath(xpath)) if t]


def refusals(http, session_id: str, item_id: str, lang: str) -> dict[str, tuple[int, str]]:
    """Each refused form → (status, the page shown after it, following a redirect with its notice)."""

    def as_(actor):
        s = http(actor)
        s.cookies.set(LANG_COOKIE, lang)
        return s

    pages = {}
    pages["disclosure: empty title"] = as_(ADMIN).post("/unions/u01/disclosures", data={**ITEM, "title": ""})
    pages["disclosure: no period"] = as_(ADMIN).post("/unions/u01/disclosures", data={**ITEM, "period": ""})
    pages["disclosure: question too short"] = as_(M1).post(
        f"/disclosures/{item_id}/questions", data={"text": "?"}
    )
    pages["disclosure: withdraw unconfirmed"] = as_(ADMIN).post(
        f"/disclosures/{item_id}/withdraw", data={"reason": "数据有误"}
    )
    pages["congress: convene without quorum"] = as_(ADMIN).post(f"/congress/sessions/{session_id}/convene")
    pages["members: import without a file"] = as_(ADMIN).post("/imports", files={"nothing": ("", b"")})
    pages["error page: no such item"] = as_(M1).get("/disclosures/d-nope")
    pages["error page: not an admin"] = as_(M1).get("/unions/u01/disclosures/dashboard")
    return {
        name: (r.history[0].status_code if r.history else r.status_code, r.text) for name, r in pages.items()
    }


def test_refused_forms_speak_the_page_language_and_never_the_service_text(site):
    http, session_id, item_id = site
    service_texts = (
        "未达法定人数：应到",
        "quorum not reached:",
        "输入有误",
        "invalid input",
        "请确认此操作不可撤销",
    )
    for lang in ("zh-CN", "en"):
        for name, (status, page) in refusals(http, session_id, item_id, lang).items():
            messages = shown(page)
            assert status in (303, 400, 403, 404) and messages, (lang, name, status)
            for text in messages:
                assert fits_locale(text, lang), (lang, name, text)
                assert not any(t in text for t in service_texts), (lang, name, text)
            if lang == "en":
                ui = [t for t in shown(page, UI) if has_chinese(re.sub("|".join(USER_DATA), "", t))]
                assert ui == [], (name, ui)


def test_the_quorum_refusal_names_the_figures_in_each_language(site):
    http, session_id, _ = site
    for lang, expected in (
        ("zh-CN", "应到代表5人，实到0人，开幕须到会4人（三分之二）"),
        ("en", "Only 0 of 5 delegates have checked in; 4 (two thirds) are needed"),
    ):
        s = http(ADMIN)
        s.cookies.set(LANG_COOKIE, lang)
        page = s.post(f"/congress/sessions/{session_id}/convene", data={"confirmed": "on"}).text
        assert any(expected in t for t in shown(page)), shown(page)


def test_a_chinese_field_message_is_chinese_and_names_what_to_do(site):
    http, _, item_id = site
    s = http(M1)
    s.cookies.set(LANG_COOKIE, "zh-CN")
    page = s.post(f"/disclosures/{item_id}/questions", data={"text": "?"}).text
    messages = shown(page)
    assert messages and all(has_chinese(t) and not re.search("[A-Za-z]{3,}", t) for t in messages), messages
