"""Worker requests (接诉即办) end to end: every service running as in `make run` with the demo loaded,
driven in headless Chromium at phone size (390×844): a member files a request, the union's admin
dispatches, signs for, contacts and replies, the member rates the reply, the superior admin sees the
indicators change, and the progress query works with case number + phone + the SMS code.

The progress-query code goes out by SMS to the shared stack's SMS stand-in (tests/conftest.py
``sms_sink``). Screenshots are saved under the test's tmp dir (printed)."""

import json
import os
import re

import pytest

from tests.helpers import browser_login as login
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMBER, ADMIN, SUPERIOR = "M1300002", "admin13", "ftu-admin"
PHONE = "13912345678"
TITLE = "夜班加班费连续两个月未发"
INTERNAL = "内部：财务称系统故障，已要求人工核算。"


def sms_code(path: str, number: str) -> str:
    def found():
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
        return [t for t in texts if number in t and "验证码" in t]

    return re.search(r"验证码：?(\d{6})", wait_until(found, timeout=20)[-1]).group(1)


def submit(page, selector: str) -> None:
    """Click a form's button and wait for the page it leads to (a redirect to the next page)."""
    with page.expect_navigation():
        page.click(selector)


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def indicators(stack) -> dict:
    r = stack.login(SUPERIOR).get(f"{stack.url}/api/v1/unions/ftu/case-indicators", timeout=20)
    assert r.status_code == 200, r.text
    return r.json()


def test_file_handle_rate_indicators_and_progress_on_a_phone(stack, browser, sms_sink, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    print(f"\n[cases e2e] screenshots in {shots}")
    before = indicators(stack)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2
    )
    phone = context.new_page()

    # 1. the member files a request on the phone
    login(phone, stack.url, MEMBER)
    phone.click("summary.menu-button")  # the phone menu (issue 16)
    phone.click("nav.nav >> text=职工诉求")
    phone.wait_for_selector("#my-cases")
    phone.click("#file-case")
    phone.wait_for_selector("#case-form")
    phone.select_option("#case_type", "resolution")
    phone.select_option("#category", "overtime_pay")
    phone.fill("#title", TITLE)
    phone.fill("#description", "九月、十月的夜班加班费都没有发，车间里十几个人都一样，问班组长说等通知。")
    phone.fill("#phone", PHONE)
    assert fits_the_phone(phone)
    phone.screenshot(path=str(shots / "1-file.png"), full_page=True)
    submit(phone, "#case-form button.primary")
    phone.wait_for_selector("#notice.ok")
    number = phone.get_attribute("#case", "data-case")
    assert re.fullmatch(r"\d{11}", number) and phone.get_attribute("#state", "data-state") == "received"
    assert number in phone.inner_text("#notice")
    phone.screenshot(path=str(shots / "2-filed.png"), full_page=True)
    context.clear_cookies()

    # 2. the union's admin: the queue, then dispatch, sign for, contact, an internal note, the reply
    login(phone, stack.url, ADMIN)
    phone.goto(f"{stack.url}/unions/u13/cases?state=received&case_type=resolution&category=overtime_pay")
    row = phone.locator(f"#case-{number}")
    assert TITLE in row.inner_text() and fits_the_phone(phone)
    phone.screenshot(path=str(shots / "3-queue.png"), full_page=True)
    row.locator("a").click()
    phone.wait_for_selector("#act-dispatch")
    phone.select_option("#act-dispatch select[name=union_id]", "u13")
    phone.check("#act-dispatch input[name=confirmed]")
    submit(phone, "#act-dispatch button.primary")
    phone.wait_for_selector("#act-sign-for")
    assert phone.get_attribute("#state", "data-state") == "dispatched"
    assert phone.locator("#state .limit").get_attribute("data-colour") in ("green", "amber")
    submit(phone, "#act-sign-for button")
    phone.wait_for_selector("#act-contact")
    phone.fill("#contact-note", "已电话联系诉求人，核对了加班记录。")
    submit(phone, "#act-contact button.primary")
    phone.wait_for_selector("#act-reply")
    phone.click("#act-note summary")
    phone.fill("#note-text", INTERNAL)
    submit(phone, "#act-note button")
    phone.wait_for_selector("#act-reply")
    phone.fill("#reply-text", "经核实，企业已确认漏发九、十月夜班加班费，将于本月15日随工资一并补发。")
    phone.check("#act-reply input[name=confirmed]")
    assert fits_the_phone(phone)
    phone.screenshot(path=str(shots / "4-handling.png"), full_page=True)
    submit(phone, "#act-reply button.primary")
    phone.wait_for_selector("#notice.ok")
    assert phone.get_attribute("#state", "data-state") == "replied"
    context.clear_cookies()

    # 3. the member rates the reply (satisfied, solved); internal notes stay hidden
    login(phone, stack.url, MEMBER)
    phone.goto(f"{stack.url}/cases/{number}")
    phone.wait_for_selector("#rate-form")
    assert INTERNAL not in phone.content()
    phone.check("#rate-form input[name=satisfaction][value=satisfied]")
    phone.check("#rate-form input[name=resolved][value=yes]")
    phone.check("#rate-form input[name=confirmed]")
    phone.screenshot(path=str(shots / "5-rate.png"), full_page=True)
    submit(phone, "#rate-form button.primary")
    phone.wait_for_selector("#notice.ok")
    assert phone.get_attribute("#state", "data-state") == "closed"
    context.clear_cookies()

    # 4. the superior admin sees the indicators change (API and the dashboard)
    after = indicators(stack)
    for metric in ("received", "dispatched", "closed", "rated", "satisfied", "resolved"):
        assert after["counts"][metric] == before["counts"][metric] + 1, metric
    login(phone, stack.url, SUPERIOR)
    month = after["to_month"]  # the API's default period: this month (the page's: this year so far)
    phone.goto(f"{stack.url}/unions/ftu/cases/indicators?from_month={month}&to_month={month}")
    phone.wait_for_selector("#rates")
    assert int(phone.inner_text("[data-count=received]")) == after["counts"]["received"]
    assert "÷" in phone.inner_text("#rates") and phone.locator("#chart-months svg").count() == 1
    assert fits_the_phone(phone)
    phone.screenshot(path=str(shots / "6-indicators.png"), full_page=True)
    phone.goto(f"{stack.url}/unions/ftu/cases/topic")
    phone.wait_for_selector("#topic")
    phone.screenshot(path=str(shots / "7-topic.png"), full_page=True)
    context.clear_cookies()

    # 5. the progress query, logged out: case number + phone + the SMS code; no internal notes
    phone.goto(f"{stack.url}/cases/progress")
    phone.fill("#case_number", number)
    phone.fill("#phone", PHONE)
    submit(phone, "#progress-form button.primary")
    phone.wait_for_selector("#code-sent")
    phone.fill("#code", sms_code(sms_sink["path"], number))
    phone.screenshot(path=str(shots / "8-progress-code.png"), full_page=True)
    submit(phone, "#progress-form button.primary")
    phone.wait_for_selector("#progress")
    assert phone.get_attribute("#progress", "data-state") == "closed"
    assert INTERNAL not in phone.content() and "企业已确认漏发" in phone.inner_text("#progress")
    assert fits_the_phone(phone)
    phone.screenshot(path=str(shots / "9-progress.png"), full_page=True)
    context.close()
