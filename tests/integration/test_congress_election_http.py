"""An agenda item of kind "election" through the gateway (API and pages) with members, congress and
elections running: the console sets the election up (seats, candidates) and links it; a bad link is a
400 with the field; the delegate's page leads a present delegate to the election's ballot page; a
delegate who was not present when the vote opened is refused (403); the session projector shows the
round's ballots of the electors due."""

import re

import pytest

from services.congress.service import CongressService
from services.elections.service import ElectionsService
from services.gateway.service import GatewayService
from services.members.service import MembersService
from tests.helpers import SYSTEM, import_members, member, token, union_admin

pytestmark = pytest.mark.integration

ADMIN = union_admin("u01", "A0001")


def delegate(n: int):
    return member(f"D{n:04d}", "u01")


@pytest.fixture
def site(runner_factory, config, rpc_as, web_session):
    """Gateway + members + congress + elections; u01 with 6 members, 5 delegates, a session with an
    election item, 4 delegates present (D0000–D0003), convened."""
    runner_factory(config, GatewayService, MembersService, CongressService, ElectionsService).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "u01", "name": "亦庄精密机械工会", "kind": "grassroots", "parent_id": "ftu"}
        )
        import_members(rpc, [(f"D{i:04d}", f"代表{i}", "u01") for i in range(6)])
    with rpc_as(ADMIN) as rpc:
        rpc.congress.create_congress({"union_id": "u01"})
        term = rpc.congress.create_term(
            "cg-u01",
            {"number": 1, "start": "2025-01-01", "end": "2030-01-01", "delegations": [{"name": "一团"}]},
        )
        rpc.congress.elect_delegates(
            term["id"], {"delegates": [{"member_id": f"D{i:04d}", "delegation_id": "g1"} for i in range(5)]}
        )
        session = rpc.congress.create_session(
            term["id"],
            {"title": "第一届第二次会议", "agenda": [{"kind": "election", "title": "选举工会主席"}]},
        )
        for i in range(4):
            rpc.congress.check_in(session["id"], {"member_id": f"D{i:04d}"})
        rpc.congress.convene_session(session["id"])
    return web_session, session


def as_(http, actor):
    http.headers["Authorization"] = f"Bearer {token(actor)}"
    return http


def test_the_console_sets_up_the_election_and_delegates_vote_on_its_ballot(site):
    http, session = site
    sid, item = session["id"], session["items"][0]["id"]
    console = as_(http, ADMIN).get(f"/congress/sessions/{sid}/console")
    assert console.status_code == 200 and f'id="setup-election-{item}"' in console.text
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', console.text).group(1)
    bad = http.post(f"/api/v1/congress/items/{item}/election", json={"election_id": "no such!"})
    assert bad.status_code == 400 and "election_id" in bad.json()["fields"]
    form = {
        "csrf_token": csrf,
        "session_id": sid,
        "kind": "chair",
        "seats": "1",
        "candidates": "D0000\nD0001",
        "contested": "on",
    }
    done = http.post(f"/congress/items/{item}/election", data=form, allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == f"/congress/sessions/{sid}/console"
    got = http.get(f"/api/v1/congress/sessions/{sid}").json()["items"][0]
    eid = got["election_id"]
    assert eid and got["state"] == "pending"
    election = http.get(f"/api/v1/elections/{eid}").json()
    assert election["electorate"] == "session" and election["session_id"] == sid
    assert [c["member_id"] for c in election["candidates"]] == ["D0000", "D0001"]
    shown = http.get(f"/elections/{eid}")
    assert shown.status_code == 200 and f'href="/congress/sessions/{sid}"' in shown.text
    assert 'id="session-electorate"' in shown.text
    console = http.get(f"/congress/sessions/{sid}/console")
    assert f'href="/elections/{eid}"' in console.text and 'class="open-vote"' in console.text

    opened = http.post(f"/api/v1/congress/items/{item}/open")
    assert opened.status_code == 200 and opened.json()["state"] == "voting"
    assert http.get(f"/api/v1/elections/{eid}").json()["due"] == 4  # the delegates present

    page = as_(http, delegate(1)).get(f"/congress/sessions/{sid}")
    assert page.status_code == 200 and f'href="/elections/{eid}/ballot"' in page.text
    assert http.get(f"/elections/{eid}/ballot").status_code == 200
    ballot = {"marks": {"D0000": "approve", "D0001": "disapprove"}}
    assert http.post(f"/api/v1/elections/{eid}/ballots", json=ballot).status_code == 201
    # a delegate who was not present when the vote opened, even checked in now: 403
    late = as_(http, delegate(4))
    assert late.post(f"/api/v1/congress/sessions/{sid}/check-in", json={}).status_code == 200
    assert late.post(f"/api/v1/elections/{eid}/ballots", json=ballot).status_code == 403
    projector = as_(http, ADMIN).get(f"/api/v1/congress/sessions/{sid}/projector")
    voting = projector.json()["voting"]  # the JSON source of the projector page
    assert voting["kind"] == "election" and voting["ballots"] == 1 and voting["eligible"] == 4
    assert voting["turnout_required"] == 3  # > 2/3 of the 4 present (条例 2016)
    page = http.get(f"/congress/sessions/{sid}/projector")
    assert (
        page.status_code == 200
        and 'id="p-turnout-line"' in page.text
        and "选举有效须超过三分之二" in page.text
    )
