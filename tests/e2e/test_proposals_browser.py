"""Delegate proposals as people use them, in headless Chromium at phone size, against every service running
as in `make run` with the demo data (60 proposals of u01's 3rd-term 1st session, the 2nd session's
collection open)."""

import re

import pytest

from tests.helpers import browser_login as login

pytestmark = pytest.mark.e2e

FIRST = "cg-u01-t3-s1"
SECOND = "cg-u01-t3-s2"


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_demo_data_covers_every_state(stack):
    admin = stack.login("admin01")
    desk = admin.get(f"{stack.url}/api/v1/proposals/sessions/{FIRST}/proposals?view=desk", timeout=30).json()
    states = {p["state"] for p in desk}
    assert states == {"submitted", "accepted", "converted", "rejected", "assigned", "replied", "closed"}
    assert sum(p["overdue"] for p in desk) == 4
    assert any(p["round"] == 2 and p["state"] == "closed" for p in desk)
    assert any(p["excellent"] for p in desk)
    stats = admin.get(f"{stack.url}/api/v1/proposals/sessions/{FIRST}/statistics", timeout=30).json()
    assert stats["submitted"] == 57 and stats["ratings"] > 20 and 0 < stats["on_time_rate"] < 1
    r = admin.get(f"{stack.url}/api/v1/proposals/sessions/{FIRST}/register.xlsx", timeout=30)
    assert r.status_code == 200 and len(r.content) > 5000


def test_admin_desk_and_statistics_on_a_phone(stack, phone):
    login(phone, stack.url, "admin01")
    phone.goto(f"{stack.url}/proposals")
    assert "提案" in phone.inner_text("h1")  # the glossary's one name (issue 16)
    phone.goto(f"{stack.url}/proposals/sessions/{FIRST}/desk")
    phone.wait_for_selector("#window[data-status=closed]")
    assert "待审查" in phone.inner_text("#state-tabs")
    phone.click("#state-tabs a[data-state=assigned]")
    phone.wait_for_url("**state=assigned*")
    assert "已超期" in phone.inner_text("#proposal-queue")
    assert fits(phone)
    phone.screenshot(path="/tmp/proposals-desk.png", full_page=False)
    phone.click("#state-tabs a[data-state=submitted]")
    phone.wait_for_url("**state=submitted*")
    phone.locator("#proposal-queue a.button").first.click()
    phone.wait_for_url(re.compile(r"/proposals/[^/?]+/review\?"))
    phone.check("#review-form input[name=confirmed]")
    phone.locator("#review-form button[value=accept]").click()
    phone.wait_for_load_state()
    assert "已完成" in phone.inner_text("main")
    phone.goto(f"{stack.url}/proposals/sessions/{FIRST}/stats")
    phone.wait_for_selector("#chart-satisfaction svg")
    assert "立案率" in phone.inner_text("main") and fits(phone)
    phone.screenshot(path="/tmp/proposals-stats.png", full_page=True)


def test_delegate_cosigns_drafts_and_rates_on_a_phone(stack, phone):
    admin = stack.login("admin01")
    desk = admin.get(f"{stack.url}/api/v1/proposals/sessions/{FIRST}/proposals?view=desk", timeout=30).json()
    star = desk[0]["proposer"]["member_id"]  # the demo delegate
    replied = next(p for p in desk if p["state"] == "replied" and p["proposer"]["member_id"] == star)
    login(phone, stack.url, star)
    phone.goto(f"{stack.url}/proposals/sessions/{SECOND}/mine")
    invitation = phone.locator("#invitations .pitem").first
    assert "通勤补贴" in invitation.inner_text()
    invitation.locator("button").click()
    phone.wait_for_load_state()
    assert "您已附议该提案" in phone.inner_text("#invitations")
    phone.fill("#proposal-form [name=subject]", "关于新厂区食堂早餐供应的提案")
    phone.select_option("#proposal-form [name=category]", "welfare")
    phone.fill("#proposal-form [name=reasons]", "新厂区周边没有早餐店，早班职工无处吃早餐。")
    phone.fill("#proposal-form [name=measures]", "建议新厂区食堂早六点起供应早餐。")
    phone.click("#proposal-submit")  # the name picker's search button comes first
    phone.wait_for_load_state()
    assert "关于新厂区食堂早餐供应的提案" in phone.inner_text("#own") and fits(phone)
    phone.screenshot(path="/tmp/proposals-mine.png", full_page=True)
    # the reply to their proposal: dissatisfied sends it back for one more round
    phone.goto(f"{stack.url}/proposals/{replied['id']}")
    phone.check("#rate input[value=dissatisfied]")
    phone.fill("#rate textarea", "仍未明确完成时间")
    phone.click("#rate button")
    phone.wait_for_selector("#state[data-state=assigned]")
    assert "退回承办部门" in phone.inner_text("#history") and fits(phone)
    phone.screenshot(path="/tmp/proposals-detail.png", full_page=True)


def test_department_replies_from_its_inbox(stack, phone):
    login(phone, stack.url, "M0100002")
    phone.goto(f"{stack.url}/proposals")
    phone.click("text=交办给")
    phone.wait_for_load_state()
    assert phone.inner_text("#department-name")  # the department is named (issue 16)
    phone.locator("#proposal-queue tbody tr a").first.click()  # awaiting the reply first
    phone.wait_for_url(re.compile(r"/proposals/[^/?]+/reply\?"))
    form = phone.locator("#reply-form form")
    form.locator("textarea").fill("已落实：本周起执行，并在厂务公开栏公示。")
    form.locator("button").click()
    phone.wait_for_load_state()
    assert "答复已提交" in phone.inner_text("main") and fits(phone)
    phone.screenshot(path="/tmp/proposals-inbox.png", full_page=False)


def test_the_review_desk_pages_with_one_form_per_proposal_page(stack, phone):
    """Issue 16: the desk of 57 submitted proposals is a paged table (20 a page: page 2 exists) with no
    form per row; a proposal's review page has exactly one form."""
    login(phone, stack.url, "admin01")
    phone.goto(f"{stack.url}/proposals/sessions/{FIRST}/desk")
    assert phone.locator("#proposal-queue tbody tr").count() == 20
    assert phone.locator("main form[method=post]").count() == 1  # the window's form, none per row
    assert "第1页，共3页" in phone.inner_text("#queue-pager")
    first = phone.locator("#proposal-queue tbody tr").first.get_attribute("id")
    phone.click("#queue-pager a[rel=next]")
    phone.wait_for_url("**page=2*")
    assert phone.locator("#proposal-queue tbody tr").count() == 20
    assert phone.locator("#proposal-queue tbody tr").first.get_attribute("id") != first
    assert fits(phone)
    phone.screenshot(path="/tmp/proposals-desk-page2.png", full_page=True)
    phone.goto(f"{stack.url}/proposals/sessions/{FIRST}/desk?state=accepted")
    phone.locator("#proposal-queue a.button").first.click()
    phone.wait_for_url(re.compile(r"/proposals/[^/?]+/review\?"))
    assert phone.locator("main form[method=post]").count() == 1
    assert phone.locator("#assign-form").count() == 1 and fits(phone)
