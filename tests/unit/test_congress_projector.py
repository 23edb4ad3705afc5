"""The projector view (大屏, issue 14) through the hand-written fakes: links are signed and random, made and
revoked by the session's admins only (each with its audit entry), a forged or unknown token is NotFound,
a revoked one Forbidden with ``revoked``; the view holds counts only (quorum ⌈2/3⌉ of ALL delegates and
adoption yes > 1/2 of ALL delegates, 1986 条例 art. 18), never who voted."""

import json

import pytest

from dmlib import links
from dmlib.errors import Conflict, Forbidden, NotFound
from services.congress import app, projector
from tests.unit.test_congress_app import ADMIN, OTHER_ADMIN, clock, convened, d, plan, seat, world  # noqa: F401

KEY = links.link_key("a test secret of at least thirty-two characters", projector.LINK_PURPOSE)


def test_tokens_are_random_and_signed():
    a, b = links.new_token(KEY), links.new_token(KEY)
    assert a != b and links.signed(KEY, a) and links.signed(KEY, b)
    random_part, _, signature = a.partition(".")
    assert len(random_part) == 32 and len(signature) == 22
    assert not links.signed(links.link_key("a test secret of at least thirty-two characters", "elections"), a)
    other_first = "y" if random_part[0] == "x" else "x"  # a changed random part (1 in 64 began with x)
    for forged in (
        f"{random_part}.{'A' * 22}",
        f"{other_first}{random_part[1:]}.{signature}",
        random_part,
        "",
        ".",
    ):
        assert not links.signed(KEY, forged), forged


def test_admins_create_list_and_revoke_links_once_with_audit(world):  # noqa: F811
    store, peers = world
    sid = plan(store)["id"]
    for outsider in (OTHER_ADMIN, d(1)):
        with pytest.raises(Forbidden):
            projector.create_link(store, outsider, clock, KEY, sid)
    with pytest.raises(NotFound):
        projector.create_link(store, ADMIN, clock, KEY, "cg-u01-t1-s9")
    link = projector.create_link(store, ADMIN, clock, KEY, sid)
    assert link["active"] and link["session_id"] == sid and links.signed(KEY, link["token"])
    assert [x["token"] for x in projector.list_links(store, ADMIN, sid)] == [link["token"]]
    with pytest.raises(Forbidden):
        projector.list_links(store, d(1), sid)
    with pytest.raises(Forbidden):
        projector.revoke_link(store, OTHER_ADMIN, clock, KEY, link["token"])
    out = projector.revoke_link(store, ADMIN, clock, KEY, link["token"])
    assert out["active"] is False and out["revoked_at"]
    with pytest.raises(Conflict):
        projector.revoke_link(store, ADMIN, clock, KEY, link["token"])
    assert store.audits()[-2:] == ["congress.projector_link_created", "congress.projector_link_revoked"]
    assert link["token"] not in json.dumps(store.events[-2:], default=str)  # the audit log keeps no token


def test_link_shows_counts_only_then_is_refused_once_revoked(world):  # noqa: F811
    store, peers = world
    sid, item = convened(world, present=100)
    token = projector.create_link(store, ADMIN, clock, KEY, sid)["token"]
    view = projector.by_link(store, peers, KEY, token)
    assert (view["due_count"], view["present_count"], view["required"], view["quorum"]) == (
        120,
        100,
        80,
        True,
    )
    assert view["voting"] is None and view["outcome"] is None
    app.open_vote(store, ADMIN, clock, peers, item)
    for i in range(3):
        app.cast_vote(store, d(i), peers, item, {"choice": "yes"})
        assert projector.by_link(store, peers, KEY, token)["voting"]["ballots"] == i + 1
    assert projector.by_link(store, peers, KEY, token)["voting"]["eligible"] == 100
    peers.result(peers.polls["p1"]["poll_id"], yes=61, no=30, abstain=9)
    app.close_vote(store, ADMIN, clock, peers, item)
    view = projector.by_link(store, peers, KEY, token)
    assert view["voting"] is None
    assert {k: view["outcome"][k] for k in ("yes", "no", "abstain", "due", "required", "adopted")} == {
        "yes": 61, "no": 30, "abstain": 9, "due": 120, "required": 61, "adopted": True,
    }  # fmt: skip
    assert "D0000" not in json.dumps(view, default=str)
    assert projector.by_reader(store, d(5), peers, sid) == view
    with pytest.raises(Forbidden):
        projector.by_reader(store, OTHER_ADMIN, peers, sid)

    for bad in ("nope", token[:-1] + ("A" if token[-1] != "A" else "B"), links.new_token(KEY)):
        with pytest.raises(NotFound):
            projector.by_link(store, peers, KEY, bad)
    projector.revoke_link(store, ADMIN, clock, KEY, token)
    with pytest.raises(Forbidden) as refused:
        projector.by_link(store, peers, KEY, token)
    assert refused.value.details == {"revoked": True}
