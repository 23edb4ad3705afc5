"""Elections over HTTP: the gateway with the real members and elections services, RabbitMQ and FerretDB.
A small election of u05's committee through the API (set-up, nomination, opening, ballots with an
over-marked one, closing, receipts, publication, the report and the workbook), an appraisal, and the
refusals: 400 with field messages, 403 for another union, 409 for voting twice."""

import io

import pytest
from docx import Document
from openpyxl import load_workbook

from services.elections.service import ElectionsService
from services.gateway.service import GatewayService
from services.members.service import MembersService
from tests.helpers import SYSTEM, import_members, member, union_admin

pytestmark = pytest.mark.integration

ADMIN = union_admin("u05", "M0500001")
NUMBERS = [f"M05{i:05d}" for i in range(1, 7)]  # 6 electors: > 2/3 is 5 ballots, > 1/2 is 4 approvals
C1, C2, C3 = NUMBERS[1:4]
OUTSIDER = member("M0600001", "u06")
OTHER_ADMIN = union_admin("u06", "M0600001")


def voter(no: str):
    return member(no, "u05")


@pytest.fixture
def gw(runner_factory, config, rpc_as, http):
    runner_factory(config, GatewayService, MembersService, ElectionsService).start()
    with rpc_as(SYSTEM, timeout=60) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        for u in ("u05", "u06"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "ftu"}
            )
        people = [(no, f"职工{no[-2:]}", "u05") for no in NUMBERS] + [("M0600001", "外单位", "u06")]
        import_members(rpc, people, timeout=60)
    return http


ELECTION = {"title": "2024年工会委员会换届选举", "kind": "committee", "seats": 2}


def test_a_small_election_through_http(gw):
    r = gw(ADMIN).post("/api/v1/unions/u05/elections", json=ELECTION)
    assert r.status_code == 201, r.text
    eid = r.json()["election_id"]
    assert r.json()["status"] == "nominating" and r.json()["union_id"] == "u05"
    for no in (C1, C2, C3):
        r = gw(ADMIN).post(
            f"/api/v1/elections/{eid}/candidates", json={"member_id": no, "source": "工会委员会提名"}
        )
        assert r.status_code == 201, r.text
    again = gw(ADMIN).post(
        f"/api/v1/elections/{eid}/candidates", json={"member_id": C1, "source": "会员联名推荐"}
    )
    assert again.status_code == 409
    r = gw(ADMIN).post(f"/api/v1/elections/{eid}/voting", json={})
    assert r.status_code == 200, r.text
    opened = r.json()
    assert (opened["status"], opened["due"], opened["majority_required"]) == ("voting", 6, 4)

    good = {"marks": {C1: "approve", C2: "approve", C3: "disapprove"}}
    receipts = []
    for no in NUMBERS[:4]:
        r = gw(voter(no)).post(f"/api/v1/elections/{eid}/ballots", json=good)
        assert r.status_code == 201 and r.json()["valid"] is True, r.text
        receipts.append(r.json()["receipt"])
    over = gw(voter(NUMBERS[4])).post(
        f"/api/v1/elections/{eid}/ballots", json={"marks": {C1: "approve", C2: "approve", C3: "approve"}}
    )
    assert over.status_code == 201 and over.json()["valid"] is False  # 3 approvals for 2 seats
    twice = gw(voter(NUMBERS[0])).post(f"/api/v1/elections/{eid}/ballots", json=good)
    assert twice.status_code == 409 and twice.json()["details"]["reason"] == "already_voted"
    mine = gw(voter(NUMBERS[0])).get(f"/api/v1/elections/{eid}").json()
    assert mine["has_voted"] is True and mine["receipt"] == receipts[0]
    assert gw(voter(NUMBERS[0])).get(f"/api/v1/elections/{eid}/report.docx").status_code == 409

    r = gw(ADMIN).post(f"/api/v1/elections/{eid}/round-closure")
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "decided"
    assert sorted(e["member_id"] for e in decided["elected"]) == sorted([C1, C2])
    counts = decided["rounds"][0]["counts"]
    assert (counts["ballots"], counts["valid"], counts["invalid"]) == (5, 4, 1)
    round_id = decided["rounds"][0]["round_id"]
    found = gw(voter(NUMBERS[0])).get(f"/api/v1/election-rounds/{round_id}/receipts/{receipts[0]}")
    assert found.status_code == 200 and found.json()["found"] is True
    listed = gw(ADMIN).get(f"/api/v1/election-rounds/{round_id}/ballots", params={"per_page": 10})
    assert listed.status_code == 200, listed.text
    bad_page = gw(ADMIN).get(f"/api/v1/election-rounds/{round_id}/ballots", params={"page": "x"})
    assert bad_page.status_code == 400 and set(bad_page.json()["fields"]) == {"page"}
    assert gw(ADMIN).post(f"/api/v1/election-rounds/{round_id}/recount").json()["matches"] is True
    # members see no counts before publication
    assert gw(voter(NUMBERS[5])).get(f"/api/v1/elections/{eid}").json()["elected"] == []

    assert gw(voter(NUMBERS[5])).post(f"/api/v1/elections/{eid}/publication").status_code == 403
    r = gw(ADMIN).post(f"/api/v1/elections/{eid}/publication")
    assert r.status_code == 200 and r.json()["status"] == "published", r.text
    report = gw(voter(NUMBERS[5])).get(f"/api/v1/elections/{eid}/report.docx")
    assert report.status_code == 200 and "wordprocessingml" in report.headers["Content-Type"]
    text = "\n".join(p.text for p in Document(io.BytesIO(report.content)).paragraphs)
    assert "选举结果报告" in text or "2024年工会委员会换届选举" in text
    book = gw(ADMIN).get(f"/api/v1/elections/{eid}/results.xlsx")
    assert book.status_code == 200
    assert load_workbook(io.BytesIO(book.content)).active.max_row > 1
    listed = gw(voter(NUMBERS[5])).get("/api/v1/elections").json()
    assert [e["election_id"] for e in listed] == [eid]


def test_bad_input_gives_400_with_field_messages(gw):
    r = gw(ADMIN).post("/api/v1/unions/u05/elections", json={})
    assert r.status_code == 400 and r.json()["error"] == "bad_input"
    assert set(r.json()["fields"]) == {"title", "kind", "seats"}
    r = gw(ADMIN).post("/api/v1/unions/u05/elections", json={**ELECTION, "kind": "king", "seats": 0})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"kind", "seats"}
    eid = gw(ADMIN).post("/api/v1/unions/u05/elections", json=ELECTION).json()["election_id"]
    r = gw(ADMIN).post(f"/api/v1/elections/{eid}/candidates", json={"member_id": C1})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"source"}
    r = gw(voter(C1)).post(f"/api/v1/elections/{eid}/ballots", json={"marks": {C1: "maybe"}})
    assert r.status_code == 400 and "marks" in r.json()["fields"]
    r = gw(ADMIN).post("/api/v1/unions/u05/appraisals", json={"title": "x"})
    assert r.status_code == 400 and set(r.json()["fields"]) == {"title", "subjects"}
    assert gw(ADMIN).get("/api/v1/elections/el-nothing").status_code == 404


def test_another_union_gets_403(gw):
    assert gw(OTHER_ADMIN).post("/api/v1/unions/u05/elections", json=ELECTION).status_code == 403
    eid = gw(ADMIN).post("/api/v1/unions/u05/elections", json=ELECTION).json()["election_id"]
    assert gw(OUTSIDER).get(f"/api/v1/elections/{eid}").status_code == 403
    assert (
        gw(OTHER_ADMIN)
        .post(f"/api/v1/elections/{eid}/candidates", json={"member_id": C1, "source": "上级工会提名"})
        .status_code
        == 403
    )
    assert gw(None).get(f"/api/v1/elections/{eid}").status_code == 401
    assert gw(ADMIN).get(f"/api/v1/elections/{eid}").json()["candidates"] == []  # nothing added


def test_an_appraisal_through_http(gw):
    r = gw(ADMIN).post(
        "/api/v1/unions/u05/appraisals", json={"title": "2024年职工代表述职评议", "subjects": [C1, C2]}
    )
    assert r.status_code == 201, r.text
    aid = r.json()["appraisal_id"]
    marks = {"marks": {C1: "satisfied", C2: "dissatisfied"}, "comments": {C2: "提案跟进不够"}}
    for no in NUMBERS[:3]:
        assert gw(voter(no)).post(f"/api/v1/appraisals/{aid}/ratings", json=marks).status_code == 201
    twice = gw(voter(NUMBERS[0])).post(f"/api/v1/appraisals/{aid}/ratings", json=marks)
    assert twice.status_code == 409
    assert gw(OUTSIDER).post(f"/api/v1/appraisals/{aid}/ratings", json=marks).status_code == 403
    closed = gw(ADMIN).post(f"/api/v1/appraisals/{aid}/closure")
    assert closed.status_code == 200, closed.text
    results = {s["subject"]: s for s in closed.json()["results"]}
    assert results[C2]["below_threshold"] is True and results[C1]["below_threshold"] is False
    comments = gw(ADMIN).get(f"/api/v1/appraisals/{aid}/subjects/{C2}/comments")
    assert comments.status_code == 200 and comments.json() == ["提案跟进不够"] * 3
    assert gw(ADMIN).post(f"/api/v1/appraisals/{aid}/publication").json()["status"] == "published"
    assert "results" in gw(voter(NUMBERS[5])).get(f"/api/v1/appraisals/{aid}").json()


def _open_election(gw) -> str:
    eid = gw(ADMIN).post("/api/v1/unions/u05/elections", json=ELECTION).json()["election_id"]
    for no in (C1, C2, C3):
        gw(ADMIN).post(
            f"/api/v1/elections/{eid}/candidates", json={"member_id": no, "source": "工会委员会提名"}
        )
    assert gw(ADMIN).post(f"/api/v1/elections/{eid}/voting", json={}).status_code == 200
    return eid


def test_the_ballot_pages_warn_of_over_marking_confirm_and_give_a_receipt(gw):
    eid = _open_election(gw)
    s = gw(voter(NUMBERS[0]))
    page = s.get(f"/elections/{eid}/ballot")
    assert page.status_code == 200 and 'name="mark_' in page.text and 'id="find"' in page.text
    assert "赞成" in page.text and "不赞成" in page.text and "弃权" in page.text  # Chinese first
    assert "Disapprove" in s.get(f"/elections/{eid}/ballot?lang=en").text
    over = {f"mark_{C1}": "approve", f"mark_{C2}": "approve", f"mark_{C3}": "approve"}
    review = s.post(f"/elections/{eid}/ballot/review", data=over)
    assert review.status_code == 200 and 'id="overmarked"' in review.text  # 3 approvals for 2 seats
    good = {f"mark_{C1}": "approve", f"mark_{C2}": "disapprove"}
    review = s.post(f"/elections/{eid}/ballot/review", data=good)
    assert review.status_code == 200 and 'id="overmarked"' not in review.text
    edit = s.post(f"/elections/{eid}/ballot/review", data={**good, "edit": "1"})
    assert f'id="m-{C2}-disapprove" name="mark_{C2}" value="disapprove" checked' in edit.text
    unconfirmed = s.post(f"/elections/{eid}/ballot", data=good, allow_redirects=False)
    assert unconfirmed.status_code == 400 and 'id="form-error"' in unconfirmed.text
    assert s.get(f"/api/v1/elections/{eid}").json()["has_voted"] is False  # nothing cast
    cast = s.post(f"/elections/{eid}/ballot", data={**good, "confirmed": "on"}, allow_redirects=False)
    assert cast.status_code == 303 and cast.headers["Location"] == f"/elections/{eid}/receipt"
    receipt = s.get(f"/api/v1/elections/{eid}").json()["receipt"]
    shown = s.get(f"/elections/{eid}/receipt")
    assert f"{receipt[:4]}-{receipt[4:8]}-{receipt[8:]}" in shown.text
    again = s.post(f"/elections/{eid}/ballot", data={**good, "confirmed": "on"}, allow_redirects=False)
    assert again.status_code == 409
    assert gw(OUTSIDER).get(f"/elections/{eid}/ballot").status_code == 403


def test_the_admin_pages_run_an_election_to_its_results_chart(gw):
    assert gw(ADMIN).get("/unions/u05/elections/new").status_code == 200
    assert gw(voter(NUMBERS[5])).get("/unions/u05/elections/new").status_code == 403
    bad = gw(ADMIN).post("/unions/u05/elections", data={"title": "选举", "kind": "committee", "seats": "0"})
    assert bad.status_code == 400 and 'id="seats-error"' in bad.text
    made = gw(ADMIN).post(
        "/unions/u05/elections",
        data={**ELECTION, "seats": "2", "contested": "on", "write_ins": "on"},
        allow_redirects=False,
    )
    assert made.status_code == 303
    eid = made.headers["Location"].rsplit("/", 1)[1]
    for no in (C1, C2, C3):
        r = gw(ADMIN).post(f"/elections/{eid}/candidates", data={"member_id": no, "source": "工会委员会提名"})
        assert r.status_code == 200 and no in r.text  # redirected back to the election page
    refused = gw(ADMIN).post(f"/elections/{eid}/voting", allow_redirects=False)
    assert (
        refused.status_code == 303
        and gw(ADMIN).get(f"/api/v1/elections/{eid}").json()["status"] == "nominating"
    )
    assert gw(ADMIN).post(f"/elections/{eid}/voting", data={"confirmed": "on"}).status_code == 200
    for no in NUMBERS[:5]:
        r = gw(voter(no)).post(
            f"/api/v1/elections/{eid}/ballots", json={"marks": {C1: "approve", C2: "approve"}}
        )
        assert r.status_code == 201
    assert gw(ADMIN).post(f"/elections/{eid}/round-closure", data={"confirmed": "on"}).status_code == 200
    page = gw(ADMIN).get(f"/elections/{eid}")
    assert 'id="chart-round-1"' in page.text and 'class="threshold"' in page.text
    assert gw(ADMIN).post(f"/elections/{eid}/publication", data={"confirmed": "on"}).status_code == 200
    member_view = gw(voter(NUMBERS[5])).get(f"/elections/{eid}")
    assert 'id="elected"' in member_view.text and "职工02" in member_view.text
    assert gw(voter(NUMBERS[5])).get(f"/elections/{eid}/report.docx").status_code == 200
    assert eid in gw(voter(NUMBERS[5])).get("/elections").text


def test_the_appraisal_page_rates_and_shows_results(gw):
    assert gw(ADMIN).get("/unions/u05/appraisals/new").status_code == 200
    assert gw(voter(C1)).get("/unions/u05/appraisals/new").status_code == 403
    bad = gw(ADMIN).post("/unions/u05/appraisals", data={"title": "评议", "subjects": "M0600001"})
    assert bad.status_code == 400 and 'id="form-error"' in bad.text  # not a member of u05
    made = gw(ADMIN).post(
        "/unions/u05/appraisals",
        data={"title": "2024年职工代表述职评议", "subjects": f"{C1}\n{C2}", "threshold_pct": "60"},
        allow_redirects=False,
    )
    assert made.status_code == 303, made.text
    aid = made.headers["Location"].rsplit("/", 1)[1]
    assert [x["member_id"] for x in gw(ADMIN).get(f"/api/v1/appraisals/{aid}").json()["subjects"]] == [C1, C2]
    s = gw(voter(NUMBERS[0]))  # one shared session: gw(actor) switches its token
    page = s.get(f"/appraisals/{aid}")
    assert page.status_code == 200 and f'name="mark_{C1}"' in page.text
    done = s.post(f"/appraisals/{aid}/ratings", data={f"mark_{C1}": "satisfied", f"mark_{C2}": "partly"})
    assert done.status_code == 200 and 'id="receipt-code"' in done.text
    bad = gw(voter(NUMBERS[1])).post(f"/appraisals/{aid}/ratings", data={f"mark_{C1}": "great"})
    assert bad.status_code == 400 and 'id="form-error"' in bad.text
    assert gw(ADMIN).post(f"/appraisals/{aid}/closure", data={"confirmed": "on"}).status_code == 200
    assert 'id="appraisal-chart"' in gw(ADMIN).get(f"/appraisals/{aid}").text


def test_lists_of_appraisals_and_award_rounds_per_union_paged(gw):
    for i in range(3):
        r = gw(ADMIN).post(
            "/api/v1/unions/u05/appraisals", json={"title": f"2024年述职评议{i}", "subjects": [C1]}
        )
        assert r.status_code == 201, r.text
    award = {"title": "2024年双爱双评", "k": 2, "places": {"good_worker": 1, "good_manager": 1}}
    assert gw(ADMIN).post("/api/v1/unions/u05/award-rounds", json=award).status_code == 201
    first = gw(voter(NUMBERS[4])).get("/api/v1/unions/u05/appraisals?per_page=2")
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["total"], body["pages"], len(body["items"]), body["can_manage"]) == (3, 2, 2, False)
    second = gw(voter(NUMBERS[4])).get("/api/v1/unions/u05/appraisals?per_page=2&page=2").json()
    titles = {a["title"] for a in body["items"] + second["items"]}
    assert titles == {f"2024年述职评议{i}" for i in range(3)}
    assert gw(OUTSIDER).get("/api/v1/unions/u05/appraisals").status_code == 403
    assert gw(None).get("/api/v1/unions/u05/appraisals").status_code == 401
    bad = gw(ADMIN).get("/api/v1/unions/u05/appraisals?per_page=500")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"per_page"}
    rounds = gw(voter(NUMBERS[4])).get("/api/v1/unions/u05/award-rounds").json()
    assert [a["title"] for a in rounds["items"]] == ["2024年双爱双评"]
    assert rounds["items"][0]["nominees"] == {"good_worker": 0, "good_manager": 0}
    assert gw(OTHER_ADMIN).get("/api/v1/unions/u05/award-rounds").status_code == 403
    page = gw(ADMIN).get("/unions/u05/appraisals?per_page=2")
    assert page.status_code == 200 and 'id="appraisals"' in page.text and 'class="pager"' in page.text
    assert "/unions/u05/appraisals/new" in page.text  # the admin's set-up link
    page = gw(voter(NUMBERS[4])).get("/unions/u05/award-rounds")
    assert page.status_code == 200 and "2024年双爱双评" in page.text
    assert gw(OUTSIDER).get("/unions/u05/appraisals").status_code == 403
    assert "/unions/u05/award-rounds" in gw(voter(NUMBERS[4])).get("/elections").text


def test_the_award_pages_nominate_vote_settle_a_tie_and_publish_the_awarded_list(gw):
    assert gw(voter(C1)).get("/unions/u05/award-rounds/new").status_code == 403
    made = gw(ADMIN).post(
        "/unions/u05/award-rounds",
        data={"title": "2024年双爱双评", "k": "1", "places_good_worker": "1", "places_good_manager": "0"},
        allow_redirects=False,
    )
    assert made.status_code == 303, made.text
    aid = made.headers["Location"].rsplit("/", 1)[1]
    nominate = {"category": "good_worker", "citation": "扎根一线二十年，技术革新能手"}
    by_member = gw(voter(NUMBERS[4])).post(
        f"/award-rounds/{aid}/nominations", data={**nominate, "member_id": C1}, allow_redirects=False
    )
    assert by_member.status_code == 303, by_member.text  # a member nominates
    assert gw(ADMIN).post(f"/award-rounds/{aid}/nominations", data={**nominate, "member_id": C2}).ok
    again = gw(ADMIN).post(f"/award-rounds/{aid}/nominations", data={**nominate, "member_id": C1})
    assert again.status_code == 409 and 'id="form-error"' in again.text
    page = gw(voter(NUMBERS[5])).get(f"/award-rounds/{aid}")
    assert page.status_code == 200 and "扎根一线二十年" in page.text and 'id="nominate-form"' in page.text
    unconfirmed = gw(ADMIN).post(f"/award-rounds/{aid}/voting", data={})
    assert gw(ADMIN).get(f"/api/v1/award-rounds/{aid}").json()["status"] == "nominating", unconfirmed.text
    assert gw(ADMIN).post(f"/award-rounds/{aid}/voting", data={"confirmed": "on"}).ok
    assert gw(ADMIN).get(f"/api/v1/award-rounds/{aid}").json()["status"] == "voting"
    s = gw(voter(NUMBERS[0]))
    ballot = s.get(f"/award-rounds/{aid}/ballot")
    assert ballot.status_code == 200 and f'value="{C1}"' in ballot.text
    over = s.post(f"/award-rounds/{aid}/ballot/review", data={"good_worker": [C1, C2]})
    assert over.status_code == 400 and 'id="form-error"' in over.text and 'id="cast-form"' not in over.text
    review = s.post(f"/award-rounds/{aid}/ballot/review", data={"good_worker": [C1]})
    assert review.status_code == 200 and "职工" in review.text and 'id="cast-form"' in review.text
    cast = s.post(f"/award-rounds/{aid}/ballot", data={"good_worker": [C1], "confirmed": "on"})
    assert cast.status_code == 200 and 'id="receipt-code"' in cast.text
    other = gw(voter(NUMBERS[1]))
    assert other.post(f"/award-rounds/{aid}/ballot", data={"good_worker": [C2], "confirmed": "on"}).ok
    assert gw(ADMIN).post(f"/award-rounds/{aid}/closure", data={"confirmed": "on"}).ok
    closed = gw(ADMIN).get(f"/api/v1/award-rounds/{aid}").json()
    assert sorted(closed["results"]["good_worker"]["tied"]) == sorted([C1, C2])
    page = gw(ADMIN).get(f"/award-rounds/{aid}")
    assert 'id="tie-form-good_worker"' in page.text and 'id="award-chart-good_worker"' in page.text
    refused = gw(ADMIN).post(f"/award-rounds/{aid}/publication", data={"confirmed": "on"})
    assert refused.status_code == 200 and 'id="notice"' in refused.text
    assert gw(ADMIN).get(f"/api/v1/award-rounds/{aid}").json()["status"] == "closed"  # the tie blocks it
    tie = {"category": "good_worker", "awarded": [C2], "reason": "工会委员会研究决定"}
    two = gw(ADMIN).post(f"/api/v1/award-rounds/{aid}/tie-settlement", json={**tie, "awarded": [C1, C2]})
    assert two.status_code == 400 and set(two.json()["fields"]) == {"awarded"}
    assert gw(voter(C1)).post(f"/api/v1/award-rounds/{aid}/tie-settlement", json=tie).status_code == 403
    unconfirmed = gw(ADMIN).post(f"/award-rounds/{aid}/tie-settlement", data=tie)
    assert "settled" not in gw(ADMIN).get(f"/api/v1/award-rounds/{aid}").json()["results"]["good_worker"]
    assert unconfirmed.status_code == 200 and 'id="notice"' in unconfirmed.text
    assert gw(ADMIN).post(f"/award-rounds/{aid}/tie-settlement", data={**tie, "confirmed": "on"}).ok
    settled = gw(ADMIN).get(f"/api/v1/award-rounds/{aid}").json()["results"]["good_worker"]
    assert settled["awarded"] == [C2] and settled["settled"]["reason"] == "工会委员会研究决定"
    assert gw(ADMIN).post(f"/award-rounds/{aid}/publication", data={"confirmed": "on"}).ok
    shown = gw(voter(NUMBERS[5])).get(f"/award-rounds/{aid}")
    assert 'id="awarded-good_worker"' in shown.text and "职工" in shown.text
    assert gw(OUTSIDER).get(f"/award-rounds/{aid}").status_code == 403
    titles = gw(ADMIN).get(f"/api/v1/members/{C2}").json()["titles"]  # recorded on the member record
    assert [(t["ref"], t["title"]) for t in titles] == [(aid, "2024年双爱双评 · 爱企业的好职工")]
    assert gw(ADMIN).get(f"/api/v1/members/{C1}").json()["titles"] == []


def test_write_ins_are_picked_by_name_and_receipts_check_against_the_ballot_list(gw):
    eid = _open_election(gw)
    s = gw(voter(NUMBERS[0]))
    marks = {f"mark_{C1}": "approve"}
    found = s.post(f"/elections/{eid}/ballot/review", data={**marks, "find": "职工", "find_go": "1"})
    assert found.status_code == 200 and 'id="found"' in found.text
    assert f'value="{NUMBERS[5]}"' in found.text and f'name="write_in" value="{C2}"' not in found.text
    assert f'id="m-{C1}-approve" name="mark_{C1}" value="approve" checked' in found.text  # marks kept
    nobody = s.post(f"/elections/{eid}/ballot/review", data={**marks, "find": "外单位", "find_go": "1"})
    assert 'id="found-none"' in nobody.text  # not an elector
    empty = s.post(f"/elections/{eid}/ballot/review", data={**marks, "find": "", "find_go": "1"})
    assert empty.status_code == 400 and 'id="find-error"' in empty.text
    picked = {**marks, "write_in": NUMBERS[5], f"name_{NUMBERS[5]}": "职工06"}
    review = s.post(f"/elections/{eid}/ballot/review", data=picked)
    assert review.status_code == 200 and "职工06" in review.text
    cast = s.post(
        f"/elections/{eid}/ballot",
        data={**marks, "write_ins": NUMBERS[5], "confirmed": "on"},
        allow_redirects=False,
    )
    assert cast.status_code == 303, cast.text
    election = s.get(f"/api/v1/elections/{eid}").json()
    receipt, rid = election["receipt"], election["current_round"]
    assert 'id="check-link"' in s.get(f"/elections/{eid}/receipt").text
    picker = gw(voter(NUMBERS[4])).get(f"/api/v1/elections/{eid}/electors?q=职工")
    assert picker.status_code == 200 and {p["member_id"] for p in picker.json()} == {
        NUMBERS[0],
        NUMBERS[4],
        NUMBERS[5],
    }
    assert set(picker.json()[0]) == {"member_id", "name"}  # no other personal data
    assert gw(OUTSIDER).get(f"/api/v1/elections/{eid}/electors?q=职工").status_code == 403
    assert gw(ADMIN).post(f"/api/v1/elections/{eid}/round-closure").status_code == 200  # 1 of 6: repeat
    check = s.get(f"/election-rounds/{rid}/receipt-check?code={receipt}")
    assert check.status_code == 200 and 'id="receipt-found"' in check.text and "赞成" in check.text
    missing = s.get(f"/election-rounds/{rid}/receipt-check?code=000000000000")
    assert missing.status_code == 200 and 'id="receipt-missing"' in missing.text
    bad = s.get(f"/election-rounds/{rid}/receipt-check?code=nope")
    assert bad.status_code == 400 and 'id="code-error"' in bad.text
    assert s.get(f"/election-rounds/{rid}/receipt-check").status_code == 200  # the form
    assert gw(OUTSIDER).get(f"/election-rounds/{rid}/receipt-check").status_code == 403
    listed = gw(voter(NUMBERS[4])).get(f"/election-rounds/{rid}/ballots")
    assert listed.status_code == 200 and 'id="ballot-list"' in listed.text
    assert f"{receipt[:4]}-{receipt[4:8]}-{receipt[8:]}" in listed.text and NUMBERS[5] in listed.text
    assert gw(OUTSIDER).get(f"/election-rounds/{rid}/ballots").status_code == 403
    assert gw(ADMIN).get(f"/election-rounds/{rid}/ballots?per_page=500").status_code == 400
