"""Factory-affairs disclosure end to end: every service running as in `make run` with the demo loaded,
driven over the HTTP API and in headless Chromium at phone size (390 px)."""

import re
import time

import pytest
import requests

from tests.helpers import browser_login as login

pytestmark = pytest.mark.e2e

SHOTS = "/tmp/disclosure-shots"


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_demo_disclosures_scoping_and_receipts_over_the_api(stack):
    member = stack.login("M0800002")
    board = member.get(f"{stack.url}/api/v1/unions/u08/disclosures", params={"per_page": 200}).json()
    assert board["total"] >= 20 and board["union_name"]
    dates = [i["published_at"] for i in board["items"]]
    assert dates == sorted(dates, reverse=True)
    unread = next(i for i in board["items"] if not i["read"] and i["status"] == "published")
    admin = stack.login("admin08")
    before = admin.get(f"{stack.url}/api/v1/disclosures/{unread['id']}/reads").json()["read"]
    first = member.get(f"{stack.url}/api/v1/disclosures/{unread['id']}").json()
    second = member.get(f"{stack.url}/api/v1/disclosures/{unread['id']}").json()
    assert first["first_read"] and not second["first_read"]
    reads = admin.get(f"{stack.url}/api/v1/disclosures/{unread['id']}/reads").json()
    assert reads["read"] == before + 1
    assert reads["rate"] == round(reads["read"] / reads["members"], 4)
    assert sum(d["members"] for d in reads["departments"]) == reads["members"]
    assert sum(d["read"] for d in reads["departments"]) == reads["read"]
    outsider = stack.login("M0200002")
    assert outsider.get(f"{stack.url}/api/v1/unions/u08/disclosures").status_code == 403
    assert outsider.get(f"{stack.url}/api/v1/disclosures/{unread['id']}").status_code == 403
    q = outsider.post(
        f"{stack.url}/api/v1/disclosures/{unread['id']}/questions", json={"text": "外单位提问测试"}
    )
    assert q.status_code == 403
    item = {"category": "safety", "period": "2026-11", "title": "十一月安全检查", "body": "无"}
    assert (
        stack.login("admin02").post(f"{stack.url}/api/v1/unions/u08/disclosures", json=item).status_code
        == 403
    )
    assert member.post(f"{stack.url}/api/v1/unions/u08/disclosures", json=item).status_code == 403
    bad = admin.post(f"{stack.url}/api/v1/unions/u08/disclosures", json={**item, "period": "11月"})
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["period"]
    assert requests.get(f"{stack.url}/api/v1/unions/u08/disclosures", timeout=10).status_code == 401
    # figures for the report (printed, never asserted): the largest demo union's pages
    timings = {}
    for name, session, path in [
        ("board", member, "/api/v1/unions/u08/disclosures"),
        ("open item", member, f"/api/v1/disclosures/{unread['id']}"),
        ("item reads", admin, f"/api/v1/disclosures/{unread['id']}/reads"),
        ("union reads", admin, "/api/v1/unions/u08/disclosure-reads"),
        ("register.xlsx", admin, "/api/v1/unions/u08/disclosures/register.xlsx"),
        ("dashboard page", admin, "/unions/u08/disclosures/dashboard"),
    ]:
        started = time.perf_counter()
        for _ in range(5):
            assert session.get(f"{stack.url}{path}").status_code == 200
        timings[name] = f"{(time.perf_counter() - started) / 5 * 1000:.0f} ms"
    print(f"\n[disclosure e2e] u08 ({reads['members']} members, {board['total']} items): {timings}")


def test_member_reads_and_asks_admin_publishes_and_answers_on_a_phone(stack, browser):
    import os

    os.makedirs(SHOTS, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2
    )
    phone = context.new_page()
    # the admin publishes an item whose Markdown tries to run script
    login(phone, stack.url, "admin13")
    phone.goto(f"{stack.url}/")
    phone.screenshot(path=f"{SHOTS}/home.png", full_page=True)
    phone.click("text=厂务公开管理")
    phone.wait_for_selector("#read-chart")
    assert fits_the_phone(phone)
    phone.screenshot(path=f"{SHOTS}/dashboard.png", full_page=True)
    phone.click("text=发布")
    phone.select_option("#category", "welfare")
    phone.fill("#period", "2026-Q4")
    phone.fill("#title", "第四季度职工食堂收支情况")
    phone.fill(
        "#body",
        "收入 **41万元**。<img src=x onerror=\"window.__xss='img'\">\n\n"
        "[点此核对](javascript:window.__xss='link') <script>window.__xss='script'</script>\n\n"
        "| 项目 | 金额 |\n|---|---|\n| 主副食品 | 29万元 |",
    )
    phone.check("input[name=mandatory]")
    phone.check("#publish-form input[name=confirmed]")  # issue 16: publishing is confirmed
    phone.click("#publish-form button.primary")
    phone.wait_for_selector("#disclosure-item")
    item_url = phone.url
    assert phone.evaluate("window.__xss") is None
    assert phone.locator(".md table").count() == 1 and phone.locator(".md a").count() == 0
    assert "<script>" in phone.inner_text(".md")  # shown as text
    phone.screenshot(path=f"{SHOTS}/admin-item.png", full_page=True)
    context.clear_cookies()
    # a member sees it unread on the board, opens it (read once), asks anonymously
    login(phone, stack.url, "M1300002")
    phone.click("summary.menu-button")  # the phone menu (issue 16)
    phone.click("nav.nav >> text=厂务公开")
    phone.wait_for_selector("#disclosure-board")
    first = phone.locator("#disclosure-board li").first
    assert "第四季度职工食堂收支情况" in first.inner_text() and "unread" in first.get_attribute("class")
    assert fits_the_phone(phone)
    phone.screenshot(path=f"{SHOTS}/board.png", full_page=True)
    first.locator("a").click()
    phone.wait_for_selector("#disclosure-item")
    phone.fill("#text", "食堂是否考虑增加夜班餐？")
    phone.check("input[name=anonymous]")
    phone.click("#ask-form button")
    phone.wait_for_selector("#notice.ok")  # the redirect's notice: the question was sent
    assert "食堂是否考虑增加夜班餐？" in phone.inner_text("#questions") and "匿名" in phone.inner_text(
        "#questions"
    )
    assert fits_the_phone(phone)
    phone.screenshot(path=f"{SHOTS}/member-item.png", full_page=True)
    phone.goto(f"{stack.url}/disclosures")
    assert "unread" not in phone.locator("#disclosure-board li").first.get_attribute("class")
    context.clear_cookies()
    # the admin answers from the desk; the corrected demo item shows its earlier revision
    login(phone, stack.url, "admin13")
    phone.goto(f"{stack.url}/unions/u13/disclosures/questions")
    card = phone.locator("section.qa", has_text="食堂是否考虑增加夜班餐？")
    assert "匿名" in card.inner_text() and fits_the_phone(phone)
    phone.screenshot(path=f"{SHOTS}/desk.png", full_page=False)
    card.locator("textarea").fill("下月起增设夜班餐，标准另行公布。")
    card.locator("button").click()
    phone.wait_for_load_state()
    assert phone.locator("section.qa", has_text="食堂是否考虑增加夜班餐？").count() == 0
    phone.goto(item_url)
    assert "下月起增设夜班餐" in phone.inner_text("#questions")
    phone.goto(f"{item_url}/reads")
    assert phone.locator("#unread li").count() >= 1 and fits_the_phone(phone)
    phone.screenshot(path=f"{SHOTS}/reads.png", full_page=False)
    phone.goto(f"{stack.url}/unions/u13/disclosures?category=welfare")
    corrected = phone.locator("#disclosure-board li", has_text="已更正").first
    corrected.locator("a").click()
    phone.wait_for_selector("#revisions")
    phone.locator("#revisions a").first.click()
    phone.wait_for_selector("#disclosure-revision")
    assert re.search(r"第1版", phone.inner_text("#disclosure-revision"))
    phone.screenshot(path=f"{SHOTS}/old-revision.png", full_page=True)
    export = phone.request.get(f"{stack.url}/unions/u13/disclosures/register.xlsx")
    assert export.status == 200 and export.body()[:2] == b"PK"
    context.close()
