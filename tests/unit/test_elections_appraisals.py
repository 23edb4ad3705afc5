"""Appraisals (述职评议 / 民主评议) and 双爱双评 use cases (services/elections/appraisals.py) over the fakes."""

import pytest

from dmlib.contracts import elections as c
from dmlib.errors import BadInput, Conflict, Forbidden
from services.elections import app
from services.elections import appraisals as ap
from tests.helpers import member, union_admin
from tests.unit.elections_fakes import KEY, Clock, FakeElectionsStore, FakePeers

ADMIN = union_admin("u05", "M05001")
FED_ADMIN = union_admin("ftu", "F0001")


@pytest.fixture
def p():
    peers = FakePeers(9)
    peers.members.update(
        {f"M06{i:03d}": {"id": f"M06{i:03d}", "name": f"康泰{i}", "union_id": "u06"} for i in range(2, 5)}
    )
    return app.Ports(store=FakeElectionsStore(), key=KEY, peers=peers, clock=Clock(), sleep=lambda s: None)


def rate(p, who, marks, comments=None):
    data = c.RatingIn().load({"marks": marks, "comments": comments or {}})
    return ap.rate(p, member(who, "u05"), p.appraisal, data)


def test_an_appraisal_ranks_subjects_and_flags_those_below_the_threshold(p):
    data = c.AppraisalIn().load(
        {"union_id": "u05", "title": "2024年职工代表述职评议", "subjects": ["M05002", "M05003"]}
    )
    with pytest.raises(Forbidden):
        ap.create_appraisal(p, union_admin("u06", "M06001"), data)
    with pytest.raises(BadInput):
        ap.create_appraisal(
            p, ADMIN, c.AppraisalIn().load({**data, "subjects": ["M06001"], "threshold_pct": 60})
        )
    out = ap.create_appraisal(p, ADMIN, data)
    p.appraisal = out["appraisal_id"]
    assert out["due"] == 9 and out["status"] == "open"
    # M05002: 5 satisfied, 1 partly, 1 dissatisfied → 85.71; M05003: 1, 1, 5 → 28.57, below and majority
    for i, who in enumerate([f"M05{k:03d}" for k in range(1, 8)]):
        m2 = "satisfied" if i < 5 else ("partly" if i == 5 else "dissatisfied")
        m3 = "satisfied" if i == 0 else ("partly" if i == 1 else "dissatisfied")
        rate(p, who, {"M05002": m2, "M05003": m3}, {"M05003": "联系职工不够"} if i == 6 else None)
    with pytest.raises(Conflict) as info:
        rate(p, "M05001", {"M05002": "satisfied"})
    assert info.value.details["reason"] == "already_voted"
    with pytest.raises(BadInput):
        rate(p, "M05008", {"M05009": "satisfied"})
    with pytest.raises(Forbidden):
        ap.rate(p, member("M06001", "u06"), p.appraisal, {"marks": {"M05002": "satisfied"}, "comments": {}})
    rate(p, "M05008", {"M05002": "satisfied"})  # M05003 not rated on this ballot
    seen = ap.get_appraisal(p, member("M05009", "u05"), p.appraisal)
    assert "results" not in seen and seen["ballots"] == 8
    closed = ap.close_appraisal(p, ADMIN, p.appraisal)
    assert closed["recount_matches"] is True
    rows = {r["subject"]: r for r in closed["results"]}
    assert rows["M05002"]["rate"] == "87.50" and rows["M05002"]["rank"] == 1  # 6 + 1 of 8
    assert rows["M05003"]["rate"] == "28.57" and rows["M05003"]["below_threshold"]
    assert rows["M05003"]["dissatisfied_majority"] and not rows["M05002"]["below_threshold"]
    assert ap.appraisal_comments(p, ADMIN, p.appraisal, "M05003") == ["联系职工不够"]
    ap.publish_appraisal(p, ADMIN, p.appraisal)
    assert ap.get_appraisal(p, member("M05009", "u05"), p.appraisal)["results"][0]["name"] == "会员2"
    assert {"appraisal_opened", "appraisal_closed", "appraisal_published"} <= set(p.store.kinds())


def test_awards_nomination_vote_with_k_limit_and_the_awarded_list(p):
    with pytest.raises(Forbidden):
        ap.create_award_round(
            p, ADMIN, c.AwardRoundIn().load({"union_id": "ftu", "title": "双爱双评", "k": 2, "places": {}})
        )
    rnd = ap.create_award_round(
        p,
        FED_ADMIN,
        c.AwardRoundIn().load(
            {
                "union_id": "ftu",
                "title": "2024年双爱双评",
                "k": 2,
                "places": {"good_worker": 2, "good_manager": 1},
            }
        ),
    )
    aid = rnd["award_id"]

    def nominate(actor, cat, who):
        data = c.AwardNominationIn().load({"category": cat, "member_id": who, "citation": "扎根一线二十年"})
        return ap.nominate_award(p, actor, aid, data)

    nominate(member("M05002", "u05"), "good_worker", "M05003")  # a member nominates
    nominate(FED_ADMIN, "good_worker", "M06002")
    nominate(FED_ADMIN, "good_worker", "M05004")
    nominate(FED_ADMIN, "good_manager", "M06003")
    with pytest.raises(Conflict):
        nominate(FED_ADMIN, "good_worker", "M05003")
    with pytest.raises(Conflict):
        ap.vote_award(p, member("M05002", "u05"), aid, {"choices": {"good_worker": ["M05003"]}})
    out = ap.open_award_vote(p, FED_ADMIN, aid)
    assert out["due"] == 9 + 4  # u05's 9 and u06's 4
    with pytest.raises(BadInput):  # more than k
        ap.vote_award(
            p, member("M05001", "u05"), aid, {"choices": {"good_worker": ["M05003", "M06002", "M05004"]}}
        )
    plan = [["M05003", "M06002"]] * 4 + [["M05003"]] * 2 + [["M05004"]]
    for i, chosen in enumerate(plan):
        who = f"M05{i + 1:03d}"
        ap.vote_award(
            p, member(who, "u05"), aid, {"choices": {"good_worker": chosen, "good_manager": ["M06003"]}}
        )
    ap.vote_award(p, member("M06002", "u06"), aid, {"choices": {"good_manager": ["M06003"]}})
    closed = ap.close_award_vote(p, FED_ADMIN, aid)
    assert closed["recount_matches"] is True
    assert closed["results"]["good_worker"]["awarded"] == ["M05003", "M06002"]
    assert closed["results"]["good_manager"]["ranking"][0] == {"nominee": "M06003", "votes": 8}
    published = ap.publish_awards(p, FED_ADMIN, aid)
    assert published["status"] == "published"
    body = next(b for t, b in p.store.events if t == "awards_published")
    assert body["awarded"] == {"good_worker": ["M05003", "M06002"], "good_manager": ["M06003"]}


AWARD = {"k": 2, "places": {"good_worker": 1, "good_manager": 1}}


def test_lists_of_appraisals_and_award_rounds_are_per_union_newest_first_and_paged(p):
    for i in range(3):
        p.clock.now = p.clock.now.replace(hour=i + 1)
        ap.create_appraisal(
            p, ADMIN, c.AppraisalIn().load({"union_id": "u05", "title": f"评议{i}", "subjects": ["M05002"]})
        )
    ap.create_award_round(
        p, FED_ADMIN, c.AwardRoundIn().load(AWARD | {"union_id": "ftu", "title": "联合会双爱双评"})
    )
    ap.create_award_round(
        p, ADMIN, c.AwardRoundIn().load(AWARD | {"union_id": "u05", "title": "本单位双爱双评"})
    )
    first = ap.list_appraisals(p, member("M05004", "u05"), "u05", 1, 2)
    assert [a["title"] for a in first["items"]] == ["评议2", "评议1"]
    assert (first["total"], first["pages"], first["can_manage"]) == (3, 2, False)
    assert [a["title"] for a in ap.list_appraisals(p, ADMIN, "u05", 2, 2)["items"]] == ["评议0"]
    assert ap.list_appraisals(p, ADMIN, "u05", 1, 2)["can_manage"] is True
    assert ap.list_appraisals(p, member("M06001", "u06"), "u06", 1, 50)["total"] == 0
    with pytest.raises(Forbidden):
        ap.list_appraisals(p, member("M06001", "u06"), "u05", 1, 50)
    with pytest.raises(BadInput):
        ap.list_appraisals(p, ADMIN, "u05", 0, 50)
    # a member of u05 sees the federation's round (it covers u05) and u05's own; u06 only the federation's
    titles = [a["title"] for a in ap.list_award_rounds(p, member("M05004", "u05"), "u05", 1, 50)["items"]]
    assert sorted(titles) == ["本单位双爱双评", "联合会双爱双评"]
    u06 = ap.list_award_rounds(p, member("M06001", "u06"), "u06", 1, 50)["items"]
    assert [a["title"] for a in u06] == ["联合会双爱双评"]
    assert u06[0]["nominees"] == {"good_worker": 0, "good_manager": 0}


def test_a_tie_at_the_last_place_is_settled_by_the_admins_recorded_and_audited(p):
    body = {"union_id": "u05", "title": "2024年双爱双评", "k": 1, "places": {"good_worker": 1}}
    aid = ap.create_award_round(p, ADMIN, c.AwardRoundIn().load(body))["award_id"]
    for who in ("M05002", "M05003", "M05004"):
        data = {"category": "good_worker", "member_id": who, "citation": "扎根一线二十年"}
        ap.nominate_award(p, ADMIN, aid, c.AwardNominationIn().load(data))
    ap.open_award_vote(p, ADMIN, aid)
    for voter_no, chosen in (("M05001", "M05002"), ("M05005", "M05003"), ("M05006", "M05004")):
        ap.vote_award(p, member(voter_no, "u05"), aid, {"choices": {"good_worker": [chosen]}})
    tie = {"category": "good_worker", "awarded": ["M05003"], "reason": "工会委员会研究决定"}
    with pytest.raises(Conflict):  # not closed yet
        ap.settle_award_tie(p, ADMIN, aid, c.AwardTieIn().load(tie))
    closed = ap.close_award_vote(p, ADMIN, aid)
    assert closed["results"]["good_worker"]["tied"] == ["M05002", "M05003", "M05004"]
    with pytest.raises(Conflict):
        ap.publish_awards(p, ADMIN, aid)
    with pytest.raises(Forbidden):
        ap.settle_award_tie(p, member("M05001", "u05"), aid, c.AwardTieIn().load(tie))
    with pytest.raises(BadInput):  # two for one place
        ap.settle_award_tie(p, ADMIN, aid, c.AwardTieIn().load({**tie, "awarded": ["M05002", "M05003"]}))
    with pytest.raises(BadInput):  # not among the tied
        ap.settle_award_tie(p, ADMIN, aid, c.AwardTieIn().load({**tie, "awarded": ["M05009"]}))
    with pytest.raises(Conflict):  # no tie in the other category
        ap.settle_award_tie(p, ADMIN, aid, c.AwardTieIn().load({**tie, "category": "good_manager"}))
    out = ap.settle_award_tie(p, ADMIN, aid, c.AwardTieIn().load(tie))
    result = out["results"]["good_worker"]
    assert result["awarded"] == ["M05003"] and result["tied"] == []
    assert result["settled"]["tied"] == ["M05002", "M05003", "M05004"]
    assert result["settled"]["reason"] == "工会委员会研究决定" and result["settled"]["by"] == "M05001"
    audit = [b for t, b in p.store.events if t == "change_recorded"][-1]
    assert audit["action"] == "elections.award_tie_settled"
    with pytest.raises(Conflict):  # settled: no tie left
        ap.settle_award_tie(p, ADMIN, aid, c.AwardTieIn().load(tie))
    published = ap.publish_awards(p, ADMIN, aid)
    body = next(b for t, b in p.store.events if t == "awards_published")
    assert published["status"] == "published" and body["awarded"]["good_worker"] == ["M05003"]
    assert p.peers.titles[aid] == [
        {"member_id": "M05003", "category": "good_worker", "title": "2024年双爱双评 · 爱企业的好职工"}
    ]
    ap.publish_awards(p, ADMIN, aid)  # again: the titles are recorded once
    assert len(p.peers.titles[aid]) == 1


def test_needs_of_lists_an_open_appraisal_for_its_raters_until_they_rated(p):
    data = c.AppraisalIn().load(
        {"union_id": "u05", "title": "2024年职工代表述职评议", "subjects": ["M05002"]}
    )
    p.appraisal = ap.create_appraisal(p, ADMIN, data)["appraisal_id"]
    out = ap.needs_of(p, member("M05001", "u05"))
    assert out["queues"] == [] and [
        (i["kind"], i["id"], i["title"], i["union_id"]) for i in out["items"]
    ] == [("appraisal_ballot", p.appraisal, "2024年职工代表述职评议", "u05")]
    assert ap.needs_of(p, member("M06002", "u06"))["items"] == []  # not a rater
    rate(p, "M05001", {"M05002": "satisfied"})
    assert ap.needs_of(p, member("M05001", "u05"))["items"] == []
    assert [i["id"] for i in ap.needs_of(p, member("M05003", "u05"))["items"]] == [p.appraisal]
    ap.close_appraisal(p, ADMIN, p.appraisal)
    assert ap.needs_of(p, member("M05003", "u05"))["items"] == []  # closed: nothing to cast
