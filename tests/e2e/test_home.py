"""The "what needs me" home (issue 16) on the shared demo stack: a member, a handler and a superior admin
each see the things the demo leaves waiting for them, linked to the pages where they are done, and the
superior admin's federation overview has a row per union with its figures.

Read only (GETs), so the tests after it (journeys, proposals…) find the demo as they expect. Counts are
compared with what the owners' own APIs answer at the same moment, not with fixed numbers, so a test
that ran earlier on the shared stack does not break it.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

MEMBER, HANDLER, SUPERIOR = "M0300005", "M0100002", "ftu-admin"  # README "Demo logins", journeys
ITEM = re.compile(
    r'<li class="need" data-kind="(?P<kind>[^"]+)" data-id="(?P<id>[^"]+)">\s*<a href="(?P<href>[^"]+)">'
    r'.*?<b class="need-title">(?P<title>[^<]*)</b>',
    re.S,
)
QUEUE = re.compile(
    r'<li class="need queue" data-kind="(?P<kind>[^"]+)" data-scope="(?P<scope>[^"]+)">\s*'
    r'<a href="(?P<href>[^"]+)">.*?<span class="need-count">(?P<count>[^<]*)</span>',
    re.S,
)


def home_of(stack, login):
    s = stack.login(login)
    s.cookies.set("lang", "zh-CN")
    r = s.get(f"{stack.url}/", timeout=60)
    assert r.status_code == 200 and 'id="needs"' in r.text and 'class="tiles"' in r.text
    items = [m.groupdict() for m in ITEM.finditer(r.text)]
    queues = [m.groupdict() for m in QUEUE.finditer(r.text)]
    unavailable = re.findall(r'<span class="tag" data-service="([^"]+)">', r.text)
    return s, r.text, items, queues, unavailable


def number(text: str) -> int:
    return int(re.search(r"\d+", text.replace(",", "")).group())


def test_a_members_home_lists_the_campaign_the_survey_and_the_unread_disclosures(stack):
    s, html, items, queues, _ = home_of(stack, MEMBER)
    kinds = {(i["kind"], i["id"]): i for i in items}
    campaign = kinds[("campaign_open", "ev2018")]  # u03 has not voted in 2018 (README journey b)
    assert campaign["href"] == "/evaluations/ev2018/rate" and campaign["title"] == "2018年度星级职工之家评选"
    assert s.get(f"{stack.url}{campaign['href']}", timeout=60).status_code == 200
    surveys = [i for i in items if i["kind"] == "survey_open"]
    assert surveys and all(i["href"] == f"/surveys/{i['id']}" for i in surveys)
    board = s.get(f"{stack.url}/api/v1/unions/u03/disclosures", params={"per_page": 200}, timeout=60).json()
    unread = {
        i["id"] for i in board["items"] if i["mandatory"] and not i["read"] and i["status"] == "published"
    }
    shown = {i["id"] for i in items if i["kind"] == "disclosure_unread"}
    # the crawler and the accessibility test (earlier in the tier) open some of them as this member, and
    # opening marks read: whatever is left unread is exactly what the home lists
    assert shown == unread
    assert all(i["href"] == f"/disclosures/{i['id']}" for i in items if i["kind"] == "disclosure_unread")
    assert queues == []  # a member administers nothing
    assert "/overview" not in html
    assert s.get(f"{stack.url}/unions/ftu/overview", timeout=60).status_code == 403


def test_a_handlers_home_has_the_departments_inbox_with_its_count_and_age(stack):
    s, _, _, queues, _ = home_of(stack, HANDLER)
    [inbox] = [q for q in queues if q["kind"] == "proposals_to_reply"]
    assert inbox["scope"] == "u01-d1" and inbox["href"] == "/proposals/inbox/u01-d1"
    waiting = [
        p
        for p in s.get(f"{stack.url}/api/v1/proposals/inbox/u01-d1", timeout=60).json()
        if "u01-d1" in p["pending_departments"]
    ]
    assert waiting and number(inbox["count"]) == len(waiting)
    assert s.get(f"{stack.url}{inbox['href']}", timeout=60).status_code == 200


def test_a_superior_admins_home_has_the_queues_of_the_unions_below_and_the_overview(stack):
    s, html, _, queues, _ = home_of(stack, SUPERIOR)
    by = {(q["kind"], q["scope"]): q for q in queues}
    desk = s.get(f"{stack.url}/api/v1/unions/u01/disclosure-questions", timeout=60).json()
    assert number(by[("questions_waiting", "u01")]["count"]) == len(desk)
    assert by[("questions_waiting", "u01")]["href"] == "/unions/u01/disclosures/questions"
    assert ("proposals_to_review", "u01") in by  # u01's 3rd term leaves submitted proposals unreviewed
    assert 'href="/unions/ftu/overview"' in html
    page = s.get(f"{stack.url}/unions/ftu/overview", timeout=60)
    assert page.status_code == 200 and 'id="chart-open"' in page.text
    rows = dict(re.findall(r'<tr class="depth-\d" data-union="([^"]+)">(.*?)</tr>', page.text, re.S))
    unions = s.get(f"{stack.url}/api/v1/unions", timeout=60).json()

    def ids(tree):
        for u in tree:
            yield u["id"]
            yield from ids(u.get("children", []))

    assert set(rows) == set(ids(unions))
    u01 = rows["u01"]
    members = re.search(r'data-col="members">([^<]*)<', u01).group(1)
    assert number(members) == s.get(f"{stack.url}/api/v1/unions/u01", timeout=60).json()["member_count"]
    assert number(re.search(r'data-col="open_proposals">([^<]*)<', u01).group(1)) > 0
    assert "%" in re.search(r'data-col="read_rate">([^<]*)<', u01).group(1)
