"""The projector view of an election (大屏, issue 14) over the fakes: links are the election admins' to
make and revoke (audited), a congress link is not an elections link, a revoked one is Forbidden with
``revoked``; the view counts ballots of the electors due with the lines of 条例 2016 (valid with > 2/3
taking part, elected with > 1/2 approving) and shows results only once published, never a voter."""

import json

import pytest

from dmlib import links
from dmlib.errors import Conflict, Forbidden, NotFound
from services.elections import app, projector
from tests.unit.test_elections_app import ADMIN, OTHER_ADMIN, p, setup, vote  # noqa: F401

SECRET = "a test secret of at least thirty-two characters"
KEY = links.link_key(SECRET, projector.LINK_PURPOSE)


def test_link_counts_ballots_then_shows_results_once_published(p):  # noqa: F811
    eid = setup(p)["election_id"]
    with pytest.raises(Forbidden):
        projector.create_link(p, OTHER_ADMIN, KEY, eid)
    token = projector.create_link(p, ADMIN, KEY, eid)["token"]
    view = projector.by_link(p, KEY, token)
    assert (view["due"], view["turnout_required"], view["majority_required"]) == (9, 7, 5)
    assert view["round"]["ballots"] == 0 and view["result"] is None
    for n, who in enumerate(["M05001", "M05002", "M05003", "M05004", "M05005", "M05006", "M05007"], 1):
        vote(p, eid, who, approve=("M05001", "M05002"))
        view = projector.by_link(p, KEY, token)
        assert view["round"]["ballots"] == n and view["result"] is None
        assert who not in json.dumps(view)
    app.close_round(p, ADMIN, eid)
    assert projector.by_link(p, KEY, token)["result"] is None  # decided, not yet published
    app.publish(p, ADMIN, eid)
    result = projector.by_link(p, KEY, token)["result"]
    assert sorted(x["approvals"] for x in result["elected"]) == [7, 7]
    assert sorted(x["approve"] for x in result["approvals"]) == [0, 7, 7]


def test_links_are_signed_per_owner_and_revoked_once(p):  # noqa: F811
    eid = setup(p)["election_id"]
    link = projector.create_link(p, ADMIN, KEY, eid)
    congress_key = links.link_key(SECRET, "congress.projector_link")
    for bad in (links.new_token(congress_key), "nope", links.new_token(KEY)):
        with pytest.raises(NotFound):
            projector.by_link(p, KEY, bad)
    assert [x["token"] for x in projector.list_links(p, ADMIN, eid)] == [link["token"]]
    with pytest.raises(Forbidden):
        projector.revoke_link(p, OTHER_ADMIN, KEY, link["token"])
    assert projector.revoke_link(p, ADMIN, KEY, link["token"])["active"] is False
    with pytest.raises(Conflict):
        projector.revoke_link(p, ADMIN, KEY, link["token"])
    with pytest.raises(Forbidden) as refused:
        projector.by_link(p, KEY, link["token"])
    assert refused.value.details == {"revoked": True}
    actions = [b["action"] for t, b in p.store.events if t == "change_recorded"]
    assert actions[-2:] == ["elections.projector_link_created", "elections.projector_link_revoked"]
