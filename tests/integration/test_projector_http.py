"""The projector view (大屏, issue 14) through the gateway, with members, voting and congress running on the
real RabbitMQ and FerretDB: an admin's read-only link shows the counts without a login, the ballots cast
rise as delegates vote, the JSON never names a voter, a forged link is 404 and a revoked one 403 (the page
says so); links are created and revoked by the session's admins only, revoking asks for confirmation."""

import pytest

from tests.helpers import member, token

from .test_congress_http import ADMIN, OUTSIDER, call, delegate, site  # noqa: F401 (the shared fixture)

pytestmark = pytest.mark.integration


def public(http, path):
    """A request without any login (no bearer token, no cookie)."""
    http.cookies.clear()
    return http.get(path)


def test_link_shows_live_counts_without_login_and_revoked_link_is_refused(site):  # noqa: F811
    http, session = site
    sid, item = session["id"], session["items"][1]["id"]
    links = f"/api/v1/congress/sessions/{sid}/projector-links"

    assert call(http, None, "POST", links).status_code == 401
    assert call(http, OUTSIDER, "POST", links).status_code == 403
    assert call(http, delegate(0), "POST", links).status_code == 403  # delegates read, admins run
    created = call(http, ADMIN, "POST", links)
    assert created.status_code == 201, created.text
    link = created.json()
    tok = link["token"]
    assert link["active"] and link["session_id"] == sid and link["revoked_at"] is None
    assert [ln["token"] for ln in call(http, ADMIN, "GET", links).json()] == [tok]
    assert call(http, OUTSIDER, "GET", links).status_code == 403

    view = public(http, f"/api/v1/projector/congress/{tok}")
    assert view.status_code == 200, view.text
    p = view.json()
    assert (p["title"], p["state"], p["due_count"], p["present_count"], p["required"], p["quorum"]) == (
        "第一届第一次会议",
        "planned",
        5,
        0,
        4,
        False,
    )
    assert p["voting"] is None and p["outcome"] is None
    page = public(http, f"/projector/congress/{tok}")
    assert (
        page.status_code == 200
        and "应到" in page.text
        and f'data-source="/api/v1/projector/congress/{tok}"' in page.text
    )

    # a token not signed by congress, or signed but altered, is unknown
    random_part, _, signature = tok.partition(".")
    other_first = "y" if random_part[0] == "x" else "x"  # a changed random part (1 in 64 began with x)
    for forged in (
        f"{random_part}.{'A' * len(signature)}",
        f"{other_first}{random_part[1:]}.{signature}",
        "nope",
    ):
        assert public(http, f"/api/v1/projector/congress/{forged}").status_code == 404, forged
    assert public(http, f"/projector/congress/{random_part}.x").status_code == 404

    # 实到 rises with check-ins; the vote's ballots rise as delegates vote
    for n in range(4):
        assert (
            call(http, delegate(n), "POST", f"/api/v1/congress/sessions/{sid}/check-in", {}).status_code
            == 200
        )
        assert public(http, f"/api/v1/projector/congress/{tok}").json()["present_count"] == n + 1
    assert call(http, ADMIN, "POST", f"/api/v1/congress/sessions/{sid}/convene").status_code == 200
    assert call(http, ADMIN, "POST", f"/api/v1/congress/items/{item}/open").status_code == 200
    p = public(http, f"/api/v1/projector/congress/{tok}").json()
    assert p["quorum"] and p["state"] == "convened"
    assert p["voting"] == {"title": "关于食堂改造方案的决议", "secret": True, "ballots": 0, "eligible": 4}
    seen = []
    for n, choice in enumerate(["yes", "yes", "yes", "abstain"]):
        r = call(http, delegate(n), "POST", f"/api/v1/congress/items/{item}/vote", {"choice": choice})
        assert r.status_code == 200, r.text
        answer = public(http, f"/api/v1/projector/congress/{tok}")
        seen.append(answer.json()["voting"]["ballots"])
        for secret in ("D000", "代表", "receipt", r.json()["receipt"], choice):
            assert secret not in answer.text, (secret, answer.text)  # counts only: no voter, no choice
    assert seen == [1, 2, 3, 4]
    # the logged-in twin answers the same counts to a reader of the session
    mine = call(http, delegate(1), "GET", f"/api/v1/congress/sessions/{sid}/projector").json()
    assert mine["voting"]["ballots"] == 4
    assert call(http, OUTSIDER, "GET", f"/api/v1/congress/sessions/{sid}/projector").status_code == 403

    assert call(http, ADMIN, "POST", f"/api/v1/congress/items/{item}/close").status_code == 200
    p = public(http, f"/api/v1/projector/congress/{tok}").json()
    assert p["voting"] is None
    assert {k: p["outcome"][k] for k in ("title", "yes", "no", "abstain", "required", "due", "adopted")} == {
        "title": "关于食堂改造方案的决议",
        "yes": 3,
        "no": 0,
        "abstain": 1,
        "required": 3,
        "due": 5,
        "adopted": True,
    }

    # revoking: admins only, once; then the JSON is 403 (revoked) and the page says so
    revoke = f"/api/v1/congress/projector-links/{tok}/revoke"
    assert call(http, OUTSIDER, "POST", revoke).status_code == 403
    revoked = call(http, ADMIN, "POST", revoke)
    assert revoked.status_code == 200 and revoked.json()["active"] is False and revoked.json()["revoked_at"]
    assert call(http, ADMIN, "POST", revoke).status_code == 409
    refused = public(http, f"/api/v1/projector/congress/{tok}")
    assert refused.status_code == 403 and refused.json()["details"] == {"revoked": True}
    page = public(http, f"/projector/congress/{tok}")
    assert page.status_code == 403 and "此大屏链接已被撤销" in page.text and "应到" not in page.text


def test_links_page_creates_and_revokes_with_confirmation(site):  # noqa: F811
    http, session = site
    sid = session["id"]
    bearer = {"Authorization": f"Bearer {token(ADMIN)}"}
    r = http.post(f"/congress/sessions/{sid}/projector-links", headers=bearer, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == f"/congress/sessions/{sid}/projector-links"
    [link] = call(http, ADMIN, "GET", f"/api/v1/congress/sessions/{sid}/projector-links").json()
    page = call(http, ADMIN, "GET", f"/congress/sessions/{sid}/projector-links")
    assert page.status_code == 200 and f"/projector/congress/{link['token']}" in page.text
    assert (
        call(http, member("D0005", "u01"), "GET", f"/congress/sessions/{sid}/projector-links").status_code
        == 403
    )

    unconfirmed = http.post(
        f"/congress/projector-links/{link['token']}/revoke",
        data={"session_id": sid},
        headers=bearer,
        allow_redirects=False,
    )
    assert unconfirmed.status_code == 303  # back to the links page with the refusal
    assert public(http, f"/api/v1/projector/congress/{link['token']}").status_code == 200  # still live
    confirmed = http.post(
        f"/congress/projector-links/{link['token']}/revoke",
        data={"session_id": sid, "confirmed": "on"},
        headers=bearer,
        allow_redirects=False,
    )
    assert confirmed.status_code == 303
    assert public(http, f"/api/v1/projector/congress/{link['token']}").status_code == 403
    viewer = call(http, delegate(2), "GET", f"/congress/sessions/{sid}/projector")
    assert viewer.status_code == 200 and "第一届第一次会议" in viewer.text
