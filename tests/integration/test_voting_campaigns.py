"""Worker Home evaluation campaigns (星级职工之家评选) with the members and voting services running."""

import base64

import pytest

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound
from dmlib.schemas import resident_id_check_char
from services.members.service import MembersService
from services.voting.service import VotingService
from services.voting.store import VotingStore, ballots_of
from tests.helpers import SYSTEM, member, union_admin, wait_until

pytestmark = pytest.mark.integration

SUPERIOR = member("S0000001", "u01", ("superior_admin", "ftu"), name="上级管理员")
ROSTER = {"u01": ["M0100011", "M0100012", "M0100013", "M0100014"], "u02": ["M0200011", "M0200012"]}


def ids(n):
    out = []
    for i in range(n):
        first = f"1101151990{i % 12 + 1:02d}{i % 28 + 1:02d}{i + 100:03d}"
        out.append(first + resident_id_check_char(first))
    return out


@pytest.fixture
def evaluation(container_factory, config, rpc_as):
    """Members and voting running; ftu → area → u01 (4 members), u02 (2 members); ftu2 → u09 (1)."""
    container_factory(MembersService, config).start()
    container_factory(VotingService, config).start()
    with rpc_as(SYSTEM) as rpc:
        rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
        rpc.members.create_union({"id": "area", "name": "园区工联会", "kind": "street", "parent_id": "ftu"})
        for u in ("u01", "u02"):
            rpc.members.create_union(
                {"id": u, "name": f"{u}公司工会", "kind": "grassroots", "parent_id": "area"}
            )
        rpc.members.create_union({"id": "ftu2", "name": "另一总工会", "kind": "federation"})
        rpc.members.create_union(
            {"id": "u09", "name": "外单位工会", "kind": "grassroots", "parent_id": "ftu2"}
        )
        rows = [(m, u) for u, ms in ROSTER.items() for m in ms] + [("M0900011", "u09")]
        csv = "member_no,name,union_id,national_id\n" + "".join(
            f"{m},会员{i},{u},{nid}\n"
            for i, ((m, u), nid) in enumerate(zip(rows, ids(len(rows)), strict=True))
        )
        job = rpc.members.start_import(
            {"filename": "m.csv", "content_b64": base64.b64encode(csv.encode()).decode()}
        )
        wait_until(lambda: rpc.members.get_import(job["id"])["status"] == "done", 30)
    return rpc_as


def create(rpc, **extra):
    return rpc.voting.create_campaign(
        {"id": "ev2018", "title": "2018年度星级职工之家评选", "union_id": "ftu", **extra}
    )


def rate(rpc, stars, opinion=None, **extra):
    return rpc.voting.cast_rating(
        "ev2018", {"stars": {f"c{i + 1}": s for i, s in enumerate(stars)}, "opinion": opinion, **extra}
    )


def test_campaign_from_set_up_to_published_star_levels(evaluation, db):
    with evaluation(SUPERIOR) as rpc:
        camp = create(rpc)
        assert camp["weights"] == {"member": 50, "unit": 25, "superior": 25}
        assert [h["union_id"] for h in camp["homes"]] == ["u01", "u02"]
        assert [h["eligible"] for h in camp["homes"]] == [4, 2]
        assert [cr["name"] for cr in camp["criteria"]][0] == "工会组织健全"
    with evaluation(member("M0100011", "u01")) as rpc:
        with pytest.raises(Conflict):
            rate(rpc, [5] * 5)  # a draft: voting not open yet
    with evaluation(SUPERIOR) as rpc:
        assert rpc.voting.open_campaign("ev2018")["status"] == "open"
    receipts = {}
    for m, stars, opinion in [
        ("M0100011", [5, 5, 5, 5, 5], "职工书屋很好"),
        ("M0100012", [4, 4, 4, 4, 4], None),
        ("M0100013", [5, 4, 3, 4, 4], "希望增加健身器材"),
        ("M0200011", [3, 3, 3, 3, 3], "  "),
    ]:
        union = m[:3].replace("M01", "u01").replace("M02", "u02")
        with evaluation(member(m, union)) as rpc:
            receipts[m] = rate(rpc, stars, opinion)["receipt"]
    with evaluation(member("M0100011", "u01")) as rpc:
        with pytest.raises(Conflict) as twice:
            rate(rpc, [1] * 5)
        assert str(twice.value) == "already voted / 您已投票"
        mine = rpc.voting.get_campaign("ev2018")["me"]
        assert mine == {"home": "u01", "has_voted": True, "receipt": receipts["M0100011"]}
        with pytest.raises(Forbidden):
            rpc.voting.campaign_results("ev2018")  # members see results once published
    # scores: each union its own home only; the superior admin the superior scores
    with evaluation(union_admin("u01")) as rpc:
        rpc.voting.set_unit_score("ev2018", "u01", {"score": 88})
        with pytest.raises(Forbidden):
            rpc.voting.set_unit_score("ev2018", "u02", {"score": 99})
        with pytest.raises(BadInput):
            rpc.voting.set_unit_score("ev2018", "u01", {"score": 101})
        with pytest.raises(Forbidden):
            rpc.voting.set_superior_scores("ev2018", {"scores": {"u01": 100}})
    with evaluation(SUPERIOR) as rpc:
        with pytest.raises(Forbidden):
            rpc.voting.set_unit_score("ev2018", "u01", {"score": 100})  # not the unit's own admin
        with pytest.raises(BadInput):
            rpc.voting.set_superior_scores("ev2018", {"scores": {"u01": 90, "u09": 50}})
        rpc.voting.set_superior_scores("ev2018", {"scores": {"u01": 90, "u02": 70}})
        live = rpc.voting.campaign_results("ev2018")
        assert live["live"] is True and live["rows"][0]["union_id"] == "u01"
        with pytest.raises(Conflict):
            rpc.voting.publish_results("ev2018")  # still open
        closed = rpc.voting.close_campaign("ev2018")
        assert closed["status"] == "closed" and closed["recount_matches"] is True
        assert closed["ballots"] == 4 and closed["opinions"] == 2
        with pytest.raises(Conflict) as missing:
            rpc.voting.publish_results("ev2018")
        assert missing.value.details == {"unit_scores": ["u02"], "reason": "scores_missing"}
    with evaluation(member("M0100014", "u01")) as rpc:
        with pytest.raises(Conflict):
            rate(rpc, [5] * 5)  # closed
    with evaluation(union_admin("u02")) as rpc:
        rpc.voting.set_unit_score("ev2018", "u02", {"score": 75})
    with evaluation(SUPERIOR) as rpc:
        published = rpc.voting.publish_results("ev2018")
        opinions = rpc.voting.campaign_opinions("ev2018")
    rows = {r["union_id"]: r for r in published["rows"]}
    # by hand: u01 marks 25 + 20 + 20 = 65 over 15 → mean 4.333 → 86.67; total 86.667×.5 + 88×.25 + 90×.25
    assert rows["u01"] | {} == rows["u01"]
    assert (rows["u01"]["member_score"], rows["u01"]["total"], rows["u01"]["star_level"]) == (86.67, 87.83, 4)
    assert (rows["u01"]["voters"], rows["u01"]["eligible"], rows["u01"]["participation"]) == (3, 4, 75.0)
    assert (rows["u02"]["member_score"], rows["u02"]["total"], rows["u02"]["star_level"]) == (60.0, 66.25, 2)
    assert rows["u02"]["participation"] == 50.0 and rows["u01"]["rank"] == 1 and rows["u02"]["rank"] == 2
    assert published["star_distribution"] == {"5": 0, "4": 1, "3": 0, "2": 1, "1": 0, "0": 0}
    assert sorted(o["text"] for o in opinions["items"]) == ["希望增加健身器材", "职工书屋很好"]
    with evaluation(member("M0200012", "u02")) as rpc:
        assert rpc.voting.campaign_results("ev2018")["rows"] == published["rows"]  # published to members
        assert rpc.voting.verify_receipt("ev2018", receipts["M0200011"])["found"] is True
        assert rpc.voting.verify_receipt("ev2018", "000000000000")["found"] is False
        assert rpc.members.get_union("u01")["worker_home"]["star_level"] == 4  # set on publication
    with evaluation(union_admin("u01")) as rpc:
        with pytest.raises(Conflict):
            rpc.voting.set_unit_score("ev2018", "u01", {"score": 10})  # published: frozen
    stored = list(ballots_of(db("voting"), "ev2018").find({}))  # the close moved them (shuffled)
    assert len(stored) == 4
    every_member = [m for ms in ROSTER.values() for m in ms]
    assert not any(m in str(b) for b in stored for m in every_member)  # no ballot carries a member id
    assert all(set(b) == {"_id", "receipt", "subject", "stars", "opinion"} for b in stored)  # no day


@pytest.mark.parametrize(
    "stars, field",
    [
        ({"c1": 0, "c2": 5, "c3": 5, "c4": 5, "c5": 5}, "c1"),
        ({"c1": 6, "c2": 5, "c3": 5, "c4": 5, "c5": 5}, "c1"),
        ({"c1": 2.5, "c2": 5, "c3": 5, "c4": 5, "c5": 5}, "c1"),
        ({"c1": "five", "c2": 5, "c3": 5, "c4": 5, "c5": 5}, "c1"),
        ({"c1": True, "c2": 5, "c3": 5, "c4": 5, "c5": 5}, "c1"),
        ({"c2": 5, "c3": 5, "c4": 5, "c5": 5}, "c1"),
        ({"c1": 5, "c2": 5, "c3": 5, "c4": 5, "c5": 5, "c6": 5}, "c6"),
    ],
    ids=["zero", "six", "half", "word", "bool", "missing", "unknown"],
)
def test_bad_stars_are_400_and_store_nothing(evaluation, db, stars, field):
    with evaluation(SUPERIOR) as rpc:
        create(rpc)
        rpc.voting.open_campaign("ev2018")
    with evaluation(member("M0100011", "u01")) as rpc:
        with pytest.raises(BadInput) as bad:
            rpc.voting.cast_rating("ev2018", {"stars": stars})
        assert field in bad.value.fields["stars"]
        with pytest.raises(BadInput) as long:
            rate(rpc, [5] * 5, "意" * 2001)
        assert "opinion" in long.value.fields
        assert rpc.voting.get_campaign("ev2018")["me"]["has_voted"] is False
    assert db("voting").ballots_ev2018.count_documents({}) == 0
    assert VotingStore(db("voting")).get_tally("ev2018")["n"] == 0  # folded tally + settled batches


def test_who_may_do_what(evaluation, db):
    with evaluation(union_admin("u01")) as rpc:
        with pytest.raises(Forbidden):
            create(rpc)  # a grassroots admin does not run campaigns
    with evaluation(SUPERIOR) as rpc:
        with pytest.raises(BadInput) as bad:
            create(rpc, weights={"member": 50, "unit": 30, "superior": 30}, thresholds=[90, 80, 80, 60, 50])
        assert {"weights", "thresholds"} <= set(bad.value.fields)
        with pytest.raises(BadInput):
            create(rpc, homes=["u09"])  # not under ftu
        with pytest.raises(NotFound):
            create(rpc, union_id="nowhere")
        camp = create(rpc, preset="2017", closes_at="2020-01-01T00:00:00+00:00")
        assert camp["weights"] == {"member": 40, "unit": 30, "superior": 30}
        with pytest.raises(Conflict):
            create(rpc)  # id taken
        rpc.voting.open_campaign("ev2018")
    with evaluation(member("M0900011", "u09")) as rpc:
        with pytest.raises(Forbidden):
            rate(rpc, [5] * 5)  # a member of a union outside the campaign
        with pytest.raises(Forbidden):
            rpc.voting.get_campaign("ev2018")
    with evaluation(member("M0200011", "u02")) as rpc:
        with pytest.raises(Forbidden):
            rate(rpc, [5] * 5, home="u01")  # another union's Worker Home
        with pytest.raises(Conflict):
            rate(rpc, [5] * 5)  # past closes_at: outside the window
        with pytest.raises(Forbidden):
            rpc.voting.campaign_opinions("ev2018")
    with evaluation(union_admin("u02")) as rpc:
        with pytest.raises(Forbidden):
            rpc.voting.close_campaign("ev2018")
        assert rpc.voting.campaign_opinions("ev2018", "u02")["total"] == 0
    assert db("voting").ballots_ev2018.count_documents({}) == 0


def test_bulk_loading_equals_casting_and_refuses_duplicates(evaluation, db):
    with evaluation(SUPERIOR) as rpc:
        create(rpc)
        rpc.voting.open_campaign("ev2018")
    with evaluation(member("M0100011", "u01")) as rpc:
        rate(rpc, [2, 3, 4, 5, 1], "好")
    ballots = [
        {"member_id": "M0100012", "home": "u01", "stars": [5, 5, 4, 4, 3], "opinion": None},
        {"member_id": "M0200011", "home": "u02", "stars": [1, 2, 3, 4, 5], "opinion": "加油"},
    ]
    with evaluation(SYSTEM) as rpc:
        assert rpc.voting.load_ratings("ev2018", ballots) == {"loaded": 2}
        with pytest.raises(Conflict):
            rpc.voting.load_ratings("ev2018", [{**ballots[0], "member_id": "M0100013"}, ballots[1]])
        with pytest.raises(BadInput):
            rpc.voting.load_ratings("ev2018", [{**ballots[0], "stars": [6, 5, 5, 5, 5]}])
        check = rpc.voting.recount("ev2018")
    assert check["matches"] is True and check["recounted"]["n"] == 3
    assert check["recounted"]["s"]["u01"]["c0"] == 7 and check["recounted"]["s"]["u02"]["op"] == 1
    assert db("voting").ballots_ev2018.count_documents({}) == 3  # the refused batch left nothing


def test_campaign_rules_flag_homes_round_half_up_and_apply_to_old_campaigns(evaluation, db):
    """The campaign rules (README "Worker Home evaluations"): a minimum participation, homes without
    member ballots, one half-up rounding; a campaign stored without rules runs by the defaults."""
    with evaluation(SUPERIOR) as rpc:
        with pytest.raises(BadInput) as bad:
            create(rpc, rules={"min_participation": -1, "no_ballots": "skip", "star_basis": "rounded"})
        assert set(bad.value.fields["rules"]) == {"min_participation", "no_ballots", "star_basis"}
        camp = create(rpc, rules={"min_participation": 50, "star_basis": "exact"})
        assert camp["rules"] == {"min_participation": 50.0, "no_ballots": "exclude", "star_basis": "exact"}
        rpc.voting.create_campaign({"id": "evold", "title": "旧评选", "union_id": "ftu"})
        assert rpc.voting.campaign_defaults()["rules"]["min_participation"] == 30.0
    # "evold" as a campaign stored before the rules existed: defaults applied on read
    db("voting").campaigns.update_one({"_id": "evold"}, {"$unset": {"rules": ""}})
    with evaluation(SUPERIOR) as rpc:
        old = rpc.voting.get_campaign("evold")
        assert old["rules"] == {"min_participation": 30.0, "no_ballots": "exclude", "star_basis": "published"}
        rpc.voting.open_campaign("evold")
        rpc.voting.open_campaign("ev2018")
    stars = {"stars": {f"c{i}": 4 for i in range(1, 6)}}
    for m, u, campaigns in [
        ("M0100011", "u01", ("ev2018", "evold")),
        ("M0100012", "u01", ("ev2018",)),  # ev2018: u01 2 of 4 members (exactly 50 %), u02 none
        ("M0200011", "u02", ("evold",)),  # evold: u01 1 of 4 (25 % < 30 %), u02 1 of 2
    ]:
        with evaluation(member(m, u)) as rpc:
            for campaign_id in campaigns:
                rpc.voting.cast_rating(campaign_id, stars)
    with evaluation(SUPERIOR) as rpc:
        rows = {r["union_id"]: r for r in rpc.voting.campaign_results("evold")["rows"]}
    assert rows["u01"]["flags"] == ["low_participation"] and rows["u01"]["rank"] is None
    assert (rows["u01"]["star_level"], rows["u01"]["min_voters"], rows["u01"]["participation"]) == (
        0,
        2,
        25.0,
    )
    assert rows["u02"]["flags"] == [] and rows["u02"]["rank"] == 1
    with evaluation(union_admin("u01")) as rpc:
        saved = rpc.voting.set_unit_score("ev2018", "u01", {"score": 88.125})
        assert saved["homes"][0]["unit_score"] == 88.13  # half-up, not float round() (88.12)
    with evaluation(union_admin("u02")) as rpc:
        rpc.voting.set_unit_score("ev2018", "u02", {"score": 99})
    with evaluation(SUPERIOR) as rpc:
        rpc.voting.set_superior_scores("ev2018", {"scores": {"u01": 90.005, "u02": 99}})
        rpc.voting.close_campaign("ev2018")
        published = rpc.voting.publish_results("ev2018")
    assert [r["union_id"] for r in published["rows"]] == ["u01", "u02"]  # flagged last, whatever its total
    u01, u02 = published["rows"]
    # u01: 80 × .5 + 88.13 × .25 + 90.01 × .25 = 40 + 22.0325 + 22.5025 = 84.535 → 84.54, 4★, at the floor
    assert (u01["rank"], u01["flags"], u01["superior_score"], u01["total"], u01["star_level"]) == (
        1, [], 90.01, 84.54, 4,
    )  # fmt: skip
    # u02: no ballots: 0 × .5 + 99 × .25 + 99 × .25 = 49.5, flagged, no star level, no place
    assert (u02["rank"], u02["flags"], u02["member_score"], u02["total"], u02["star_level"]) == (
        None, ["no_member_ballots"], None, 49.5, 0,
    )  # fmt: skip
    assert published["campaign"]["rules"]["star_basis"] == "exact"
    assert db("voting").campaigns.find_one({"_id": "ev2018"})["rules"]["min_participation"] == 50.0
    with evaluation(member("M0200012", "u02")) as rpc:
        assert rpc.members.get_union("u02")["worker_home"]["star_level"] == 0  # set on publication
        assert rpc.members.get_union("u01")["worker_home"]["star_level"] == 4
