"""The projector view (大屏, issue 14) in headless Chromium at 1920×1080, against every service running as in
`make run` with the demo data (u01's 3rd-term congress: 120 delegates): an admin makes a read-only link,
a browser with no login shows it, and the live counts rise as delegates check in and vote, in place (no
reload); then the outcome with its counts; a revoked link's page says so by itself.

Screenshots: /tmp/projector-checkin.png (attendance rising), /tmp/projector-voting.png (ballots cast of
eligible as a bar), /tmp/projector-outcome.png (the result), /tmp/projector-revoked.png."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

TERM = "cg-u01-t3"
WAIT = 10000  # ms: a few polls (1.5 s each) on a loaded machine


@pytest.fixture
def hall(browser):
    """A fresh browser context the size of a 16:9 projector (1920×1080), with no login."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def test_projector_link_shows_the_count_rising_as_delegates_vote(stack, hall):
    url = stack.url
    admin = stack.login("admin01")
    r = admin.get(f"{url}/api/v1/congress/terms/{TERM}/delegates", timeout=30)
    assert r.status_code == 200, r.text
    members = [d["member_id"] for d in r.json()]
    r = admin.post(
        f"{url}/api/v1/congress/terms/{TERM}/sessions",
        json={
            "title": "第三届职工代表大会大屏演示会议",
            "agenda": [{"kind": "resolution", "title": "关于职工食堂改造方案的决议"}],
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    sid, item = r.json()["id"], r.json()["items"][0]["id"]
    link = admin.post(f"{url}/api/v1/congress/sessions/{sid}/projector-links", timeout=30)
    assert link.status_code == 201, link.text
    token = link.json()["token"]

    hall.goto(f"{url}/projector/congress/{token}")
    assert hall.inner_text("#p-title") == "第三届职工代表大会大屏演示会议"
    assert hall.inner_text("#p-due") == "120" and hall.inner_text("#p-present") == "0"
    assert hall.inner_text("#p-required") == "80" and "未达法定人数" in hall.inner_text("#p-quorum")
    hall.evaluate("window.__sameDocument = true")
    for member_id in members[:80]:  # the check-in desk
        r = admin.post(
            f"{url}/api/v1/congress/sessions/{sid}/check-in", json={"member_id": member_id}, timeout=30
        )
        assert r.status_code == 200, r.text
    expect(hall.locator("#p-present")).to_have_text("80", timeout=WAIT)
    expect(hall.locator("#p-quorum")).to_contain_text("已达法定人数", timeout=WAIT)
    hall.screenshot(path="/tmp/projector-checkin.png")

    assert admin.post(f"{url}/api/v1/congress/sessions/{sid}/convene", timeout=30).status_code == 200
    assert admin.post(f"{url}/api/v1/congress/items/{item}/open", timeout=30).status_code == 200
    expect(hall.locator("#p-vote")).to_be_visible(timeout=WAIT)
    expect(hall.locator("#p-vote-title")).to_have_text("关于职工食堂改造方案的决议")
    expect(hall.locator("#p-eligible")).to_have_text("80", timeout=WAIT)
    expect(hall.locator("#p-ballots")).to_have_text("0", timeout=WAIT)
    voters = members[:45]
    for n, member_id in enumerate(voters, start=1):
        delegate = stack.login(member_id)
        r = delegate.post(f"{url}/api/v1/congress/items/{item}/vote", json={"choice": "yes"}, timeout=30)
        assert r.status_code == 200, r.text
        if n in (1, 15, 45):
            expect(hall.locator("#p-ballots")).to_have_text(str(n), timeout=WAIT)  # rising, in place
            if n == 15:
                assert hall.evaluate("document.getElementById('p-ballots-bar').style.width") == "18.8%"
    hall.screenshot(path="/tmp/projector-voting.png")
    assert hall.evaluate("window.__sameDocument") is True  # never reloaded
    assert "D0" not in hall.inner_text("body") and "M0" not in hall.inner_text("body")  # no voter shown

    closed = admin.post(f"{url}/api/v1/congress/items/{item}/close", timeout=30).json()
    assert (closed["state"], closed["outcome"]["yes"]) == ("failed", 45)  # 45 < 61 of all 120 delegates
    expect(hall.locator("#p-outcome")).to_be_visible(timeout=WAIT)
    expect(hall.locator("#p-verdict")).to_contain_text("未通过")
    assert hall.inner_text("#p-yes") == "45" and hall.inner_text("#p-no") == "0"
    assert "至少 61 / 120" in hall.inner_text("#p-rule")
    assert hall.locator("#p-vote").is_hidden()
    fits = "document.documentElement.scrollHeight <= 1080 && document.documentElement.scrollWidth <= 1920"
    assert hall.evaluate(fits)  # one 16:9 screen, no scrolling
    hall.screenshot(path="/tmp/projector-outcome.png")
    assert hall.evaluate("window.__sameDocument") is True

    hall.reload()  # survives a reload: everything is read from the server
    assert hall.inner_text("#p-yes") == "45" and hall.locator("#p-outcome").is_visible()

    r = admin.post(f"{url}/api/v1/congress/projector-links/{token}/revoke", timeout=30)
    assert r.status_code == 200, r.text
    expect(hall.locator("#projector")).to_contain_text("此大屏链接已被撤销", timeout=WAIT)
    hall.screenshot(path="/tmp/projector-revoked.png")
    assert admin.post(f"{url}/api/v1/congress/sessions/{sid}/close", timeout=30).status_code == 200
