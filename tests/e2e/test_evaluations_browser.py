"""Worker Home evaluations as people use them: a member rates their home with the star widget on a phone,
keeps the receipt and checks it; the superior admin closes and publishes the 2018 campaign and reads the
results with charts. The demo's published 2017 table is checked against a fresh recount. Screenshots go
to /tmp/evaluations-*.png (never into the repository)."""

import uuid

import pytest

from services.voting import evaluation as ev
from tests.helpers import MONGO_URI, TEST_SECRETS, browser_login

pytestmark = pytest.mark.e2e
SHOTS = "/tmp/evaluations"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Members, voting and the gateway as `make run` starts them (own vhost, prefix, port) with the
    demo's member registry and only the evaluations part of the demo: this module does not depend on
    the other capabilities' demo parts (the session-wide ``stack`` loads them all)."""
    from dmtools import demo
    from dmtools.config import system_rpc
    from dmtools.stack import running_stack
    from tests.conftest import drop_databases

    prefix = f"e2ev{uuid.uuid4().hex[:6]}_"
    log = str(tmp_path_factory.mktemp("evstack") / "services.log")
    parts = demo.PARTS
    try:
        with running_stack(
            prefix, log, {"MONGO_URI": MONGO_URI, **TEST_SECRETS}, services=["members", "voting", "gateway"]
        ) as s:
            demo.PARTS = ["evaluations"]
            with system_rpc({"AMQP_URI": s.env["AMQP_URI"], **TEST_SECRETS}, timeout=300) as rpc:
                demo.load(rpc, quiet=True)
            yield s
    finally:
        demo.PARTS = parts
        drop_databases(prefix)


def login(page, url, who, password="demo1234"):
    page.set_default_timeout(90_000)  # the shared 2-core machine and FerretDB can be slow; no speed asserted
    browser_login(page, url, who, password)


def fill_stars(page):
    for key, stars in zip(["c1", "c2", "c3", "c4", "c5"], [5, 4, 5, 3, 4], strict=True):
        page.click(f"label[for={key}-{stars}]")  # tap the star
    page.fill("#opinion", "职工书屋希望延长开放时间，方便倒班职工。")


def test_demo_campaigns_and_published_table_equals_a_recount(stack):
    admin = stack.login("ftu-admin")
    campaigns = {c["id"]: c for c in admin.get(f"{stack.url}/api/v1/campaigns").json()}
    assert campaigns["ev2017"]["status"] == "published"
    assert campaigns["ev2017"]["weights"] == {"member": 40, "unit": 30, "superior": 30}
    assert campaigns["ev2018"]["weights"] == {"member": 50, "unit": 25, "superior": 25}
    y2018 = admin.get(f"{stack.url}/api/v1/campaigns/ev2018").json()
    assert len(y2018["homes"]) == 16 and y2018["ballots"] >= 3890 and y2018["opinions"] >= 560
    published = admin.get(f"{stack.url}/api/v1/campaigns/ev2017/results").json()
    camp = published["campaign"]
    assert published["live"] is False and len(published["rows"]) == 16 and camp["ballots"] == 3890
    recount = admin.post(f"{stack.url}/api/v1/polls/ev2017/recount").json()
    assert recount["matches"] is True and recount["recounted"]["n"] == 3890
    rows = {r["union_id"]: r for r in published["rows"]}
    for home, s in recount["recounted"]["s"].items():
        row = rows[home]
        expect = ev.home_result(
            home,
            ev.HomeTally(
                s["n"], tuple(s[f"c{i}"] for i in range(5)), tuple(s[f"h{v}"] for v in range(1, 6)), s["op"]
            ),
            row["eligible"],
            row["unit_score"],
            row["superior_score"],
            camp["weights"],
            camp["thresholds"],
            ev.CampaignRules.from_doc(camp["rules"]),
        )
        assert (row["member_score"], row["total"], row["star_level"], row["voters"], row["opinions"]) == (
            expect.member_score,
            expect.total,
            expect.star_level,
            expect.voters,
            expect.opinions,
        )
    # the star levels were written into the member registry on publication
    u01 = admin.get(f"{stack.url}/api/v1/unions/u01").json()
    assert u01["worker_home"]["star_level"] == rows["u01"]["star_level"]


def test_member_rates_own_home_on_a_phone_and_checks_the_receipt(stack, phone):
    login(phone, stack.url, "M0100002")
    phone.goto(f"{stack.url}/evaluations")
    phone.click("#campaign-ev2018 >> text=评价我的职工之家")
    phone.wait_for_url("**/evaluations/ev2018/rate")
    assert "亦庄精密机械制造有限公司" in phone.inner_text("#home-name")
    fill_stars(phone)
    assert phone.inner_text("#rate-progress") == "已评 5 / 5 项"
    assert phone.inner_text("#f-c4 .ev-word").startswith("3 ★")
    phone.screenshot(path=f"{SHOTS}-rate.png", full_page=True)
    # After a full-page screenshot headless Chromium ignores the next submit click (seen here, not a
    # user-facing problem): load the page afresh and fill it again to submit.
    phone.goto(f"{stack.url}/evaluations/ev2018/rate")
    fill_stars(phone)
    phone.click("#rate-submit")
    phone.wait_for_url("**/evaluations/ev2018/receipt")
    code = phone.inner_text("#receipt-code")
    assert len(code) == 14 and code.count("-") == 2
    phone.screenshot(path=f"{SHOTS}-receipt.png", full_page=True)
    phone.click("text=核验我的选票")
    phone.wait_for_selector("#receipt-found")
    assert "★★★☆☆" in phone.inner_text("#receipt-found")
    # a second ballot is impossible: the rate page now leads to the receipt, the API answers 409
    phone.goto(f"{stack.url}/evaluations/ev2018/rate")
    assert phone.url.endswith("/evaluations/ev2018/receipt")
    again = stack.login("M0100002").post(
        f"{stack.url}/api/v1/campaigns/ev2018/ballots", json={"stars": {f"c{i}": 5 for i in range(1, 6)}}
    )
    assert again.status_code == 409 and "您已投票" in again.json()["message"]
    # another union's member cannot rate this one
    other = stack.login("M0200002").post(
        f"{stack.url}/api/v1/campaigns/ev2018/ballots",
        json={"stars": {f"c{i}": 5 for i in range(1, 6)}, "home": "u01"},
    )
    assert other.status_code == 403


def test_superior_admin_closes_publishes_and_reads_results_with_charts(stack, phone):
    login(phone, stack.url, "ftu-admin")
    phone.goto(f"{stack.url}/evaluations/ev2018/manage")
    assert phone.locator("#participation tbody tr").count() == 16
    phone.screenshot(path=f"{SHOTS}-manage.png", full_page=True)
    phone.goto(f"{stack.url}/evaluations/ev2018/manage")  # a fresh page after the screenshot (see above)
    # issue 16: closing states its effect with the figures and needs its box; posted without it, it is
    # refused and the campaign stays open
    assert "名会员将无法再投票" in phone.inner_text("#close-form") and "并立即复核计票" in phone.inner_text(
        "#close-form"
    )
    csrf = phone.get_attribute("#close-form input[name=csrf_token]", "value")
    unboxed = phone.request.post(f"{stack.url}/evaluations/ev2018/actions/close", form={"csrf_token": csrf})
    assert unboxed.status == 400 and 'id="confirmed-error"' in unboxed.text()
    admin = stack.login("ftu-admin")
    assert admin.get(f"{stack.url}/api/v1/campaigns/ev2018").json()["status"] == "open"
    phone.check("#close-form input[name=confirmed]")
    phone.click("text=结束投票并复核计票")
    phone.wait_for_selector("text=公布评选结果")
    phone.check("#publish-form input[name=confirmed]")
    phone.click("text=公布评选结果")
    phone.wait_for_url("**/evaluations/ev2018/results")
    assert phone.locator("#results-table tbody tr").count() == 16
    # the demo's two quiet homes show the campaign rules at work (dmtools/demo_evaluations.py)
    assert phone.get_attribute("#results-table tr[data-home=u16]", "data-flags") == "no_member_ballots"
    assert phone.get_attribute("#results-table tr[data-home=u15]", "data-flags") == "low_participation"
    assert "无会员评价" in phone.inner_text("#results-table tr[data-home=u16]")
    assert "最低参评率 30%" in phone.inner_text("#rules")
    for chart in ("#chart-total svg rect", "#chart-stars svg rect", "#chart-participation svg rect"):
        assert phone.locator(chart).count() >= 5
    assert "复核计票与实时计票一致" in phone.inner_text("#recount")
    phone.screenshot(path=f"{SHOTS}-results.png", full_page=True)
    csv = phone.request.get(f"{stack.url}/api/v1/campaigns/ev2018/results.csv")
    assert csv.status == 200 and len(csv.text().splitlines()) == 18 + 1 + 5  # table, blank, the rules
    xlsx = phone.request.get(f"{stack.url}/api/v1/campaigns/ev2018/results.xlsx")
    assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"
