"""The evaluation API and pages through the gateway (members, voting and gateway running)."""

import io

import pytest
from openpyxl import load_workbook

from services.gateway.service import GatewayService
from services.voting.store import VotingStore
from tests.helpers import SYSTEM, member, union_admin
from tests.integration.test_voting_campaigns import ROSTER, SUPERIOR, ids  # noqa: F401 (fixture data)
from tests.integration.test_voting_campaigns import evaluation as _evaluation  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def site(_evaluation, container_factory, config):  # noqa: F811
    container_factory(GatewayService, config).start()
    with _evaluation(SUPERIOR) as rpc:
        rpc.voting.create_campaign({"id": "ev2018", "title": "2018年度星级职工之家评选", "union_id": "ftu"})
        rpc.voting.open_campaign("ev2018")
    return _evaluation


STARS = {"c1": 5, "c2": 4, "c3": 4, "c4": 5, "c5": 3}


def test_rating_over_http_statuses_and_pages(site, http):
    s = http(member("M0100011", "u01"))
    r = s.post("/api/v1/campaigns/ev2018/ballots", json={"stars": STARS, "opinion": "食堂可以再改善"})
    assert r.status_code == 201, r.text
    receipt = r.json()["receipt"]
    again = s.post("/api/v1/campaigns/ev2018/ballots", json={"stars": STARS})
    assert again.status_code == 409 and again.json()["message"] == "already voted / 您已投票"
    for bad in (
        {"stars": {**STARS, "c1": 0}},
        {"stars": {**STARS, "c1": 6}},
        {"stars": {**STARS, "c1": 2.5}},
        {"stars": {**STARS, "c1": "five"}},
        {"stars": {k: v for k, v in STARS.items() if k != "c5"}},
        {"stars": STARS, "opinion": "长" * 2001},
    ):
        got = http(member("M0100012", "u01")).post("/api/v1/campaigns/ev2018/ballots", json=bad)
        assert got.status_code == 400 and got.json()["fields"], got.text
    other = http(member("M0900011", "u09")).post("/api/v1/campaigns/ev2018/ballots", json={"stars": STARS})
    assert other.status_code == 403
    page = http(member("M0100011", "u01")).get(
        "/evaluations/ev2018/receipt", headers={"Accept-Language": "zh-CN"}
    )
    assert page.status_code == 200 and f"{receipt[:4]}-{receipt[4:8]}-{receipt[8:]}" in page.text
    assert "感谢参与" in page.text
    rate = http(member("M0100013", "u01")).get("/evaluations/ev2018/rate")
    assert rate.status_code == 200 and 'name="c5"' in rate.text and "劳动关系和谐" in rate.text
    check = http(member("M0100013", "u01")).get(f"/evaluations/ev2018/verify?receipt={receipt}")
    assert 'id="receipt-found"' in check.text


def test_a_second_rating_form_goes_to_the_receipt_by_the_error_code(site, http):
    """The page decides on the Conflict's ``details.reason`` (``already_voted``), not on its text."""
    import re

    s = http(member("M0100014", "u01"))
    assert s.post("/api/v1/campaigns/ev2018/ballots", json={"stars": STARS}).status_code == 201
    form = s.get("/evaluations/ev2018/receipt")
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', form.text).group(1)
    again = s.post("/evaluations/ev2018/rate", data={**STARS, "csrf_token": csrf}, allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"].endswith("/evaluations/ev2018/receipt")


def test_fifty_concurrent_http_ballots_by_one_member_leave_one(site, web_config, db):
    import eventlet
    import requests

    from tests.helpers import token

    url = f"http://{web_config['WEB_SERVER_ADDRESS']}/api/v1/campaigns/ev2018/ballots"
    headers = {"Authorization": f"Bearer {token(member('M0100014', 'u01'))}"}
    statuses = []

    def attempt():
        r = requests.post(url, json={"stars": STARS}, headers=headers, timeout=60)
        statuses.append((r.status_code, r.json().get("message")))

    pool = eventlet.GreenPool(50)
    for _ in range(50):
        pool.spawn(attempt)
    pool.waitall()
    assert sorted(s for s, _ in statuses) == [201] + [409] * 49
    assert {m for s, m in statuses if s == 409} == {"already voted / 您已投票"}
    assert db("voting").ballots_ev2018.count_documents({}) == 1
    assert VotingStore(db("voting")).get_tally("ev2018")["n"] == 1  # folded tally + settled batches


def test_admin_pages_and_exports(site, http):
    http(member("M0100011", "u01")).post("/api/v1/campaigns/ev2018/ballots", json={"stars": STARS})
    http(member("M0200011", "u02")).post(
        "/api/v1/campaigns/ev2018/ballots", json={"stars": STARS, "opinion": "好"}
    )
    assert (
        http(union_admin("u01"))
        .put("/api/v1/campaigns/ev2018/unit-scores/u01", json={"score": 90})
        .status_code
        == 200
    )
    assert (
        http(union_admin("u01"))
        .put("/api/v1/campaigns/ev2018/unit-scores/u02", json={"score": 90})
        .status_code
        == 403
    )
    assert (
        http(union_admin("u02"))
        .put("/api/v1/campaigns/ev2018/unit-scores/u02", json={"score": 80})
        .status_code
        == 200
    )
    admin = http(SUPERIOR)
    assert (
        admin.put(
            "/api/v1/campaigns/ev2018/superior-scores", json={"scores": {"u01": 95, "u02": 85}}
        ).status_code
        == 200
    )
    manage = admin.get("/evaluations/ev2018/manage")
    assert manage.status_code == 200 and 'id="participation"' in manage.text
    assert admin.post("/api/v1/campaigns/ev2018/close").json()["recount_matches"] is True
    published = admin.post("/api/v1/campaigns/ev2018/publish")
    assert published.status_code == 200, published.text
    rows = published.json()["rows"]
    results = admin.get("/evaluations/ev2018/results")
    assert results.status_code == 200
    for chart in ("chart-total", "chart-stars", "chart-participation"):
        assert f'id="{chart}"' in results.text
    csv = admin.get("/api/v1/campaigns/ev2018/results.csv")
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "2018年度星级职工之家评选" and "总分" in lines[1] and "标注" in lines[1]
    assert len(lines) == 2 + len(rows) + 1 + 5 and lines[2 + len(rows)] == ""  # then the campaign's rules
    assert lines[-2].startswith("最低参评率 30%：") and "/ Minimum participation 30%" in lines[-2]
    assert "本次评选规则" in results.text and "参评率不足" in results.text  # the rules on the page
    xlsx = admin.get("/api/v1/campaigns/ev2018/results.xlsx")
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    table = list(ws.iter_rows(min_row=4, max_row=3 + len(rows), values_only=True))
    assert [(r[1], r[6], r[7]) for r in table] == [(x["name"], x["total"], x["star_level"]) for x in rows]
    opinions = admin.get("/evaluations/ev2018/opinions")
    assert opinions.status_code == 200 and "好" in opinions.text
    assert http(member("M0100012", "u01")).get("/evaluations/ev2018/results").status_code == 200  # published
    assert http(member("M0100012", "u01")).get("/evaluations/ev2018/opinions").status_code == 403
    spec = http(member("M0100012", "u01")).get("/api/v1/openapi.json").json()
    assert "/api/v1/campaigns/{campaign_id}/ballots" in spec["paths"]
    assert http(member("M0100012", "u01")).get("/evaluations/new").status_code == 403
    listing = http(member("M0100012", "u01")).get("/evaluations")
    assert listing.status_code == 200 and "2018年度星级职工之家评选" in listing.text


def test_set_up_form(site, http):
    admin = http(SUPERIOR)
    form = admin.get("/evaluations/new")
    assert form.status_code == 200 and "2017年方案" in form.text
    assert 'name="min_participation" type="number" step="0.01" min="0" max="100" value="30.0"' in form.text
    too_high = admin.post(
        "/evaluations", data={"title": "t", "union_id": "ftu", "preset": "2018", "min_participation": "120"}
    )
    assert too_high.status_code == 400 and "min_participation" in too_high.text
    bad = admin.post(
        "/evaluations",
        data={"title": "", "union_id": "ftu", "preset": "custom", "w_member": "50", "w_unit": "30", "w_superior": "30",
              "criteria": "甲\n乙", "t5": "90", "t4": "80", "t3": "70", "t2": "60", "t1": "50"},
    )  # fmt: skip
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text
    ok = admin.post(
        "/evaluations",
        data={"title": "2017年度星级职工之家评选", "union_id": "ftu", "preset": "2017", "criteria": "甲\n乙",
              "t5": "90", "t4": "80", "t3": "70", "t2": "60", "t1": "50", "open_now": "1",
              "min_participation": "40", "no_ballots": "zero", "star_basis": "exact"},
        allow_redirects=False,
    )  # fmt: skip
    assert ok.status_code == 303, ok.text
    with site(SYSTEM) as rpc:
        made = [c for c in rpc.voting.list_campaigns() if c["title"].startswith("2017")]
    assert made[0]["weights"] == {"member": 40, "unit": 30, "superior": 30} and made[0]["status"] == "open"
    assert made[0]["rules"] == {"min_participation": 40.0, "no_ballots": "zero", "star_basis": "exact"}
