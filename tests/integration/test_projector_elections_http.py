"""The projector view (大屏, issue 14) of an election through the gateway, with members and elections on
the real RabbitMQ and FerretDB: a read-only link shows the ballots cast rising of the electors due
(no login), no count before publication and never a voter, the results once published; a forged link is
404, a revoked one 403 (the page says so); links are the election's admins' to make and revoke."""

import pytest

from .test_elections_http import ADMIN, C1, C2, C3, ELECTION, NUMBERS, OTHER_ADMIN, gw, voter  # noqa: F401

pytestmark = pytest.mark.integration


def test_election_link_shows_ballots_rising_then_results_and_is_refused_once_revoked(gw):  # noqa: F811
    eid = gw(ADMIN).post("/api/v1/unions/u05/elections", json=ELECTION).json()["election_id"]
    for no in (C1, C2, C3):
        assert (
            gw(ADMIN).post(f"/api/v1/elections/{eid}/candidates", json={"member_id": no, "source": "提名"}).ok
        )
    links = f"/api/v1/elections/{eid}/projector-links"
    assert gw(None).post(links).status_code == 401
    assert gw(OTHER_ADMIN).post(links).status_code == 403
    assert gw(voter(NUMBERS[0])).post(links).status_code == 403
    made = gw(ADMIN).post(links)
    assert made.status_code == 201, made.text
    tok = made.json()["token"]
    assert [x["token"] for x in gw(ADMIN).get(links).json()] == [tok]

    view = gw(None).get(f"/api/v1/projector/elections/{tok}")
    assert view.status_code == 200, view.text
    assert (view.json()["status"], view.json()["due"], view.json()["round"]) == ("nominating", None, None)
    assert gw(ADMIN).post(f"/api/v1/elections/{eid}/voting", json={}).status_code == 200
    p = gw(None).get(f"/api/v1/projector/elections/{tok}").json()
    assert (p["due"], p["turnout_required"], p["majority_required"]) == (6, 5, 4)  # > 2/3 and > 1/2 of 6
    assert p["round"]["ballots"] == 0 and p["round"]["seats"] == 2 and len(p["round"]["candidates"]) == 3
    good = {"marks": {C1: "approve", C2: "approve", C3: "disapprove"}}
    seen = []
    for no in NUMBERS[:5]:
        r = gw(voter(no)).post(f"/api/v1/elections/{eid}/ballots", json=good)
        assert r.status_code == 201, r.text
        answer = gw(None).get(f"/api/v1/projector/elections/{tok}")
        seen.append(answer.json()["round"]["ballots"])
        for secret in (no, r.json()["receipt"], "approve", "receipt"):
            assert secret not in answer.text, secret  # counts only: no voter, no mark, no receipt
        assert answer.json()["result"] is None
    assert seen == [1, 2, 3, 4, 5]
    page = gw(None).get(f"/projector/elections/{tok}")
    assert page.status_code == 200 and "应到选举人" in page.text and ">5<" in page.text

    assert gw(ADMIN).post(f"/api/v1/elections/{eid}/round-closure").json()["status"] == "decided"
    assert gw(None).get(f"/api/v1/projector/elections/{tok}").json()["result"] is None  # not yet published
    assert gw(ADMIN).post(f"/api/v1/elections/{eid}/publication").status_code == 200
    result = gw(None).get(f"/api/v1/projector/elections/{tok}").json()["result"]
    assert sorted(x["approvals"] for x in result["elected"]) == [5, 5]
    assert sorted(x["approve"] for x in result["approvals"]) == [0, 5, 5]
    assert gw(voter(NUMBERS[5])).get(f"/api/v1/elections/{eid}/projector").json()["result"] == result

    random_part, _, signature = tok.partition(".")
    assert (
        gw(None).get(f"/api/v1/projector/elections/{random_part}.{'A' * len(signature)}").status_code == 404
    )
    revoke = f"/api/v1/elections/projector-links/{tok}/revoke"
    assert gw(OTHER_ADMIN).post(revoke).status_code == 403
    assert gw(ADMIN).post(revoke).json()["active"] is False
    assert gw(ADMIN).post(revoke).status_code == 409
    refused = gw(None).get(f"/api/v1/projector/elections/{tok}")
    assert refused.status_code == 403 and refused.json()["details"] == {"revoked": True}
    page = gw(None).get(f"/projector/elections/{tok}")
    assert page.status_code == 403 and "此大屏链接已被撤销" in page.text
    # the admins' links page and the form's revocation (confirmed)
    assert gw(ADMIN).get(f"/elections/{eid}/projector-links").status_code == 200
    assert gw(voter(NUMBERS[0])).get(f"/elections/{eid}/projector-links").status_code == 403
    assert gw(voter(NUMBERS[0])).get(f"/elections/{eid}/projector").status_code == 200
