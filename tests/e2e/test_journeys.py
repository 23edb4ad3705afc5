"""The three user journeys of the README, walked in headless Chromium at phone size as people would (click,
type, submit), against every service running as in `make run` with the full demo loaded:

(a) a delegate co-signs a colleague's draft, drafts and submits their own proposal and later rates the reply;
(b) a member rates their Worker Home and reads a disclosure;
(c) a union admin plans and convenes a session, runs a resolution vote and publishes a disclosure.

Whoever else acts in between (co-signers, the reviewing admin, the handling department, the voting
delegates) does it in their own browser session or through the HTTP API as themselves, never in the
database. The actors are fresh ones the other e2e tests of the shared stack do not use: delegates from the
end of u01's list, a member of u03 who has not rated in 2018, a new session of u01's 3rd term.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import browser_login, wait_until

pytestmark = pytest.mark.e2e

TERM = "cg-u01-t3"
COLLECTING = "cg-u01-t3-s2"  # the demo session whose proposal collection is open (2 co-signers needed)
DEPARTMENT = "u01-d1"  # u01's first department; its handler is M0100002
HANDLER = "M0100002"
SHOTS = "/tmp/journeys"


def phone_context(browser):
    """A fresh phone-sized browser context (one per person), Chinese locale."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(60_000)  # the shared 2-core machine can be slow; no speed is asserted
    return context


def login(browser, url: str, who: str):
    page = phone_context(browser).new_page()
    browser_login(page, url, who)
    assert page.url == f"{url}/", f"{who} could not log in"
    return page


def delegates(stack) -> list[str]:
    r = stack.login("admin01").get(f"{stack.url}/api/v1/congress/terms/{TERM}/delegates", timeout=30)
    assert r.status_code == 200, r.text
    return [d["member_id"] for d in r.json()]


def done_id(page) -> str:
    """The id a form post's notice is about (``data-ref``: the proposals pages name what they created)."""
    page.wait_for_selector("#notice[data-ref]")
    return page.get_attribute("#notice", "data-ref")


def inbox_subjects(session, url: str) -> list[str]:
    box = session.get(f"{url}/api/v1/inbox", params={"per_page": 100}, timeout=30).json()
    return [m["subject"] for m in box["items"]]


def test_a_delegate_cosigns_submits_and_rates_the_reply(stack, browser):
    pool = delegates(stack)
    me, colleague, third = pool[110], pool[111], pool[112]  # delegates no other test acts as
    subject = "关于车间增设工间休息座椅的提案"

    # a colleague drafts a proposal on their phone and invites me to co-sign it
    other = login(browser, stack.url, colleague)
    other.goto(f"{stack.url}/proposals/sessions/{COLLECTING}/mine")
    other.fill("#proposal-form [name=subject]", "关于更衣室加装排风扇的提案")
    other.select_option("#proposal-form [name=category]", "production")
    other.fill("#proposal-form [name=reasons]", "夏季更衣室闷热潮湿，衣物难以晾干。")
    other.fill("#proposal-form [name=measures]", "建议更衣室加装排风扇和除湿机。")
    other.fill("#proposal-form [name=invite]", f"{me} {third}")  # typed member numbers still work
    other.click("#proposal-submit")
    theirs = done_id(other)

    # I co-sign their draft from my invitations, then draft my own and invite two delegates
    page = login(browser, stack.url, me)
    page.click("a.tile[href='/proposals']")
    page.wait_for_url("**/proposals")
    page.goto(f"{stack.url}/proposals/sessions/{COLLECTING}/mine")
    invitation = page.locator(f"#inv-{theirs}")
    assert "关于更衣室加装排风扇的提案" in invitation.inner_text()
    invitation.locator("button").click()
    expect(page.locator(f"#inv-{theirs}")).to_contain_text("您已附议该提案")
    page.fill("#proposal-form [name=subject]", subject)
    page.select_option("#proposal-form [name=category]", "safety")
    page.fill("#proposal-form [name=reasons]", "装配线职工整班站立作业，下肢静脉曲张多发。")
    page.fill("#proposal-form [name=measures]", "建议每条装配线配备工间休息座椅，每两小时轮换休息十分钟。")
    for who in (
        colleague,
        third,
    ):  # the co-signer name picker (issue 16): search, tick; nothing typed is lost
        page.fill("#find", who)
        page.click("#find-submit")
        page.check(f"#found input[data-member='{who}']")
    assert page.input_value("#proposal-form [name=subject]") == subject
    page.click("#proposal-submit")
    mine = done_id(page)
    own = page.locator(f"#own-{mine}")
    assert subject in own.inner_text() and own.locator("button").is_disabled()  # 0 of 2 co-signers

    # the two invited delegates co-sign: one on their phone, one through the API as themselves
    other.goto(f"{stack.url}/proposals/sessions/{COLLECTING}/mine")
    other.locator(f"#inv-{mine} button").click()
    expect(other.locator(f"#inv-{mine}")).to_contain_text("您已附议该提案")
    r = stack.login(third).post(f"{stack.url}/api/v1/proposals/{mine}/cosign", timeout=30)
    assert r.status_code == 200, r.text

    # enough co-signers: I submit
    page.goto(f"{stack.url}/proposals/sessions/{COLLECTING}/mine")
    assert "附议人" in page.locator(f"#own-{mine}").inner_text()
    page.locator(f"#own-{mine} button").click()
    expect(page.locator(f"#own-{mine}")).to_contain_text("待审查")

    # the union admin accepts it at the review desk and assigns it to the first department
    admin = login(browser, stack.url, "admin01")
    # (issue 16: the desk is a paged table; each proposal's one form is on its own review page)
    admin.goto(f"{stack.url}/proposals/sessions/{COLLECTING}/desk?q={mine}")
    admin.locator(f"#p-{mine} a.button").click()
    admin.wait_for_url(re.compile(rf"/proposals/{mine}/review\?"))
    admin.check("#review-form input[name=confirmed]")
    admin.locator("#review-form button[value=accept]").click()
    admin.wait_for_selector(f"#p-{mine}[data-state=accepted]")
    admin.locator(f"#p-{mine} a.button").click()
    admin.locator(f"#assign-form input[value={DEPARTMENT}]").check()
    admin.locator("#assign-form button.primary").click()
    admin.wait_for_selector(f"#p-{mine}[data-state=assigned] >> text={subject}")

    # the department's handler replies from its inbox
    handler = login(browser, stack.url, HANDLER)
    handler.goto(f"{stack.url}/proposals")
    handler.click("text=交办给")
    handler.wait_for_url(f"**/proposals/inbox/{DEPARTMENT}")
    handler.locator(f"#p-{mine} a").first.click()
    handler.wait_for_url(re.compile(rf"/proposals/{mine}/reply\?"))
    form = handler.locator("#reply-form")
    form.locator("textarea[name=text]").fill(
        "已采购折叠式工间休息座椅六十把，下月起各装配线配齐并执行轮换休息。"
    )
    form.locator("button").click()
    expect(handler.locator("main")).to_contain_text("答复已提交")

    # I am told of the reply, read it and rate it: satisfied closes the proposal
    me_api = stack.login(me)
    wait_until(lambda: f"提案已答复：{subject}" in inbox_subjects(me_api, stack.url), timeout=30)
    page.goto(f"{stack.url}/inbox")
    page.locator("article.msg", has_text=f"提案已答复：{subject}").locator(
        f"a[href='/proposals/{mine}']"
    ).click()
    page.wait_for_url(f"**/proposals/{mine}")
    assert "折叠式工间休息座椅" in page.inner_text("main")
    page.check("#rate input[value=satisfied]")
    page.fill("#rate textarea", "落实及时，谢谢。")
    page.click("#rate button")
    page.wait_for_selector("#state[data-state=closed]")
    assert "满意" in page.inner_text("main") and "落实及时" in page.inner_text("main")
    page.screenshot(path=f"{SHOTS}-a-rated.png", full_page=True)
    closed = me_api.get(f"{stack.url}/api/v1/proposals/{mine}", timeout=30).json()
    assert closed["state"] == "closed"
    assert {c["member_id"] for c in closed["cosigners"]} == {colleague, third}
    assert [r["satisfaction"] for r in closed["ratings"]] == ["satisfied"]
    for p in (other, page, admin, handler):
        p.context.close()


def test_b_member_rates_their_worker_home_and_reads_a_disclosure(stack, browser):
    who = "M0300005"  # u03 (经开汽车零部件): the first ten members of each union have not rated in 2018
    page = login(browser, stack.url, who)
    page.click("a.tile[href='/evaluations']")
    page.wait_for_url("**/evaluations")
    page.click("#campaign-ev2018 >> text=评价我的职工之家")
    page.wait_for_url("**/evaluations/ev2018/rate")
    assert "经开汽车零部件有限公司" in page.inner_text("#home-name")
    for key, stars in zip(["c1", "c2", "c3", "c4", "c5"], [4, 5, 4, 4, 3], strict=True):
        page.click(f"label[for={key}-{stars}]")
    page.fill("#opinion", "希望职工书屋周末也开放。")
    assert page.inner_text("#rate-progress") == "已评 5 / 5 项"
    page.click("#rate-submit")
    page.wait_for_url("**/evaluations/ev2018/receipt")
    code = page.inner_text("#receipt-code")
    assert len(code) == 14 and code.count("-") == 2
    page.click("text=核验我的选票")
    page.wait_for_selector("#receipt-found")
    assert "★★★☆☆" in page.inner_text("#receipt-found")  # the ballot as cast, found by its code
    me = stack.login(who)
    camp = next(c for c in me.get(f"{stack.url}/api/v1/campaigns", timeout=30).json() if c["id"] == "ev2018")
    assert camp["me"]["has_voted"] is True

    # the disclosure board: the newest unread item, opened once, is read (and counted for the admin)
    page.goto(f"{stack.url}/")
    page.click("summary.menu-button")  # the phone menu (issue 16)
    page.click("nav.nav >> text=厂务公开")
    page.wait_for_selector("#disclosure-board")
    unread = page.locator("#disclosure-board li.unread").first
    item_id = unread.get_attribute("data-id")
    title = unread.locator("b").inner_text()
    admin = stack.login("admin03")
    before = admin.get(f"{stack.url}/api/v1/disclosures/{item_id}/reads", timeout=30).json()["read"]
    unread.locator("a").click()
    page.wait_for_selector("#disclosure-item")
    assert title in page.inner_text("#disclosure-item")
    page.screenshot(path=f"{SHOTS}-b-disclosure.png", full_page=True)
    page.goto(f"{stack.url}/disclosures")
    assert "unread" not in page.locator(f"#disclosure-board li[data-id='{item_id}']").get_attribute("class")
    after = admin.get(f"{stack.url}/api/v1/disclosures/{item_id}/reads", timeout=30).json()["read"]
    assert after == before + 1
    page.context.close()


def test_c_admin_convenes_a_session_runs_a_vote_and_publishes_a_disclosure(stack, browser):
    pool = delegates(stack)
    resolution = "关于《职工互助保障金管理办法》的决议"

    # the admin plans the session on the congress page and lands on its console
    admin = login(browser, stack.url, "admin01")
    admin.click("a.tile[href='/congress']")
    admin.wait_for_url("**/congress/cg-u01")
    admin.click("#plan-session summary")
    admin.fill("#session-title", "第三届职工代表大会第三次会议（旅程测试）")
    admin.fill("#scheduled_at", "2026-12-18T09:00")
    admin.fill("#agenda-title-1", "工会经费收支情况报告")
    admin.select_option("[name=kind-1]", "report")
    admin.fill("#agenda-title-2", resolution)
    admin.click("#plan-submit")
    admin.wait_for_url("**/console")
    session_id = admin.url.split("/")[-2]
    assert admin.inner_text("#due-count") == "120" and admin.inner_text("#present-count") == "0"

    # the admin checks one delegate in at the desk; 79 check themselves in on their phones (API)
    admin.fill("#find", pool[40])  # the desk's name picker (issue 16): by name or member number
    admin.click("#find-submit")
    admin.click(f".check-in-pick[data-member='{pool[40]}']")
    admin.wait_for_load_state()
    expect(admin.locator("#present-count")).to_have_text("1")
    voters = {m: stack.login(m) for m in pool[41:120]}
    for s in voters.values():
        r = s.post(f"{stack.url}/api/v1/congress/sessions/{session_id}/check-in", json={}, timeout=30)
        assert r.status_code == 200, r.text
    expect(admin.locator("#present-count")).to_have_text("80", timeout=15_000)  # live, no reload
    expect(admin.locator("#quorum-state")).to_have_class("ok")

    # convene (80 of 120: two thirds), open the vote on the resolution
    admin.check("#convene-form input[name=confirmed]")  # irreversible: confirmed (issue 16)
    admin.click("#convene")
    admin.wait_for_load_state()
    expect(admin.locator("#session-state")).to_have_text("已开幕")
    admin.locator("form:has(.open-vote) input[name=confirmed]").check()
    admin.locator(".open-vote").click()
    admin.wait_for_selector(".close-vote")

    # one delegate votes on their phone; the others through the API as themselves
    phone_voter = pool[40]
    phone = login(browser, stack.url, phone_voter)
    phone.goto(f"{stack.url}/congress/sessions/{session_id}")
    phone.click("#vote-yes")
    phone.wait_for_selector("#vote-choice[data-choice=yes]")  # the second step shows the choice (issue 16)
    phone.check("#vote-confirm-form input[name=confirmed]")
    phone.click("#vote-cast")
    phone.wait_for_selector("#notice[data-ref]")  # the receipt code the redirect's notice carries
    assert len(phone.inner_text("#notice b")) >= 8
    item_id = (
        stack.login("admin01")
        .get(f"{stack.url}/api/v1/congress/sessions/{session_id}", timeout=30)
        .json()["items"][1]["id"]
    )
    choices = ["yes"] * 63 + ["no"] * 9 + ["abstain"] * 7  # with the phone's: 64 yes > 120 / 2
    for (m, s), choice in zip(voters.items(), choices, strict=True):
        r = s.post(f"{stack.url}/api/v1/congress/items/{item_id}/vote", json={"choice": choice}, timeout=30)
        assert r.status_code == 200, (m, r.text)

    # the admin closes the vote: adopted with more than half of ALL delegates; then closes the session
    admin.goto(f"{stack.url}/congress/sessions/{session_id}/console")
    admin.locator("form:has(.close-vote) input[name=confirmed]").check()
    admin.locator(".close-vote").click()
    admin.wait_for_selector(f"#item-{item_id} .outcome")
    outcome = admin.inner_text(f"#item-{item_id} .outcome")
    assert "通过" in outcome and "赞成64" in outcome and "反对9" in outcome and "弃权7" in outcome
    admin.check("#close-session-form input[name=confirmed]")
    admin.click("#close-session")
    expect(admin.locator("#session-state")).to_have_text("已闭幕")
    admin.screenshot(path=f"{SHOTS}-c-console.png", full_page=True)

    # and publishes the outcome as a factory-affairs disclosure
    admin.goto(f"{stack.url}/")
    admin.click("text=厂务公开管理")
    admin.click("text=发布")
    admin.select_option("#category", "major_decisions")
    admin.fill("#period", "2026-12")
    admin.fill("#title", "职代会第三次会议决议公告")
    admin.fill(
        "#body", f"{resolution}经职工代表大会表决通过：**赞成64票**，反对9票，弃权7票（全体代表120人）。"
    )
    admin.check("#publish-form input[name=confirmed]")
    admin.click("#publish-form button.primary")
    admin.wait_for_selector("#disclosure-item")
    published = admin.url.split("/")[-1]

    # a delegate (a member of the union) sees the outcome, the notice and the disclosure
    phone.goto(f"{stack.url}/congress/sessions/{session_id}")
    assert "通过" in phone.inner_text("main")
    phone_api = stack.login(phone_voter)
    wait_until(lambda: f"决议通过：{resolution}" in inbox_subjects(phone_api, stack.url), timeout=30)
    phone.goto(f"{stack.url}/disclosures")
    item = phone.locator(f"#disclosure-board li[data-id='{published}']")
    assert "职代会第三次会议决议公告" in item.inner_text() and "unread" in item.get_attribute("class")
    item.locator("a").click()
    phone.wait_for_selector("#disclosure-item")
    assert "赞成64票" in phone.inner_text("#disclosure-item")
    phone.screenshot(path=f"{SHOTS}-c-disclosure.png", full_page=True)
    session = stack.login("admin01").get(f"{stack.url}/api/v1/congress/sessions/{session_id}", timeout=30)
    outcome = session.json()["items"][1]["outcome"]
    assert (outcome["yes"], outcome["ballots"], outcome["adopted"]) == (64, 80, True)
    admin.context.close()
    phone.context.close()
