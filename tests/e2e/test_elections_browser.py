"""Elections as a member uses them on a phone (390×844, Chinese): the ballot of an election of u03's
committee (one seat, two candidates) with an over-marked ballot warned at the review, changed, confirmed and
cast, the receipt; then an appraisal ballot (满意 / 基本满意 / 不满意). Set up over the API by u03's admin
(u05 is the authorisation matrix's union). Screenshots go to /tmp/elections-*.png (never into the
repository)."""

import pytest

from tests.helpers import browser_login as login

pytestmark = pytest.mark.e2e

SHOTS = "/tmp/elections"
UNION = "u03"


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_member_votes_in_an_election_and_an_appraisal_on_a_phone(stack, phone):
    url = stack.url
    admin = stack.login(f"admin{UNION[1:]}")
    roster = admin.get(f"{url}/api/v1/unions/{UNION}/members", params={"per_page": 20}).json()["items"]
    voter, c1, c2 = [x["id"] for x in roster][5:8]
    r = admin.post(
        f"{url}/api/v1/unions/{UNION}/elections",
        json={"title": "2026年工会委员会补选", "kind": "committee", "seats": 1},
    )
    assert r.status_code == 201, r.text
    eid = r.json()["election_id"]
    for c in (c1, c2):
        r = admin.post(
            f"{url}/api/v1/elections/{eid}/candidates", json={"member_id": c, "source": "工会委员会提名"}
        )
        assert r.status_code == 201, r.text
    assert admin.post(f"{url}/api/v1/elections/{eid}/voting", json={}).status_code == 200
    r = admin.post(
        f"{url}/api/v1/unions/{UNION}/appraisals",
        json={"title": "2026年工会干部民主评议", "subjects": [c1, c2]},
    )
    assert r.status_code == 201, r.text
    aid = r.json()["appraisal_id"]

    page = phone
    page.set_default_timeout(90_000)  # the shared 2-core machine can be slow; no speed asserted
    login(page, url, voter)
    page.goto(f"{url}/elections")
    page.click(f"a[href='/elections/{eid}']")
    page.click("#ballot-link")
    assert "应选名额 1 名" in page.inner_text("#seat-rule")
    page.click(f"label[for=m-{c1}-approve]")
    page.click(f"label[for=m-{c2}-approve]")
    page.screenshot(path=f"{SHOTS}-1-ballot.png", full_page=True)
    assert fits_the_phone(page)
    page.click("#review-submit")
    page.wait_for_selector("#overmarked")
    assert "2" in page.inner_text("#overmarked") and "废票" in page.inner_text("#overmarked")
    page.screenshot(path=f"{SHOTS}-2-overmarked.png", full_page=True)
    assert fits_the_phone(page)
    page.click("#edit-submit")  # back to the ballot with the marks kept
    assert page.is_checked(f"#m-{c1}-approve") and page.is_checked(f"#m-{c2}-approve")
    page.click(f"label[for=m-{c2}-disapprove]")
    page.click("#review-submit")
    page.wait_for_selector("#cast-form")
    assert page.query_selector("#overmarked") is None
    review = page.inner_text("#review")
    assert "赞成" in review and "不赞成" in review
    page.screenshot(path=f"{SHOTS}-3-review.png", full_page=True)
    page.check("input[name=confirmed]")
    page.click("#cast-submit")
    page.wait_for_selector("#receipt-code")
    shown = page.inner_text("#receipt-code").replace("-", "")
    page.screenshot(path=f"{SHOTS}-4-receipt.png", full_page=True)
    assert fits_the_phone(page)
    me = stack.login(voter).get(f"{url}/api/v1/elections/{eid}").json()
    assert me["has_voted"] is True and me["receipt"] == shown
    assert admin.get(f"{url}/api/v1/elections/{eid}").json()["rounds"][0]["ballots"] == 1

    page.goto(f"{url}/appraisals/{aid}")
    page.click(f"label[for=r-{c1}-satisfied]")
    page.click(f"label[for=r-{c2}-partly]")
    page.screenshot(path=f"{SHOTS}-5-appraisal.png", full_page=True)
    assert fits_the_phone(page)
    page.click("#rate-submit")
    page.wait_for_selector("#receipt-code")
    page.screenshot(path=f"{SHOTS}-6-appraisal-receipt.png", full_page=True)
    appraisal = admin.get(f"{url}/api/v1/appraisals/{aid}").json()
    assert appraisal["ballots"] == 1
