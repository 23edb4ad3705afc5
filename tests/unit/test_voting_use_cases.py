"""Every use case of the voting service (services/voting/polls.py, campaigns.py) through the hand-written
fakes of tests/unit/voting_fakes.py: no RabbitMQ, no FerretDB, no mocks."""

import pytest

from dmlib.contracts import voting as c
from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, ServiceUnavailable
from services.voting import campaigns as camp
from services.voting import polls
from services.voting import tally as t
from tests.helpers import SYSTEM, member, union_admin
from tests.unit.voting_fakes import Clock, Crash, FakeMembers, FakeVotingStore, ports

D1, D2, D3 = member("D1", "u01"), member("D2", "u01"), member("D3", "u01")
SUPERIOR = member("S1", "area", ("superior_admin", "area"))
UNIONS = {
    "area": {"id": "area", "name": "园区工联会", "path": ["ftu", "area"], "kind": "street"},
    "u01": {
        "id": "u01",
        "name": "一厂工会",
        "path": ["ftu", "area", "u01"],
        "kind": "grassroots",
        "worker_home": {"name": "一厂之家"},
    },
    "u02": {
        "id": "u02",
        "name": "二厂工会",
        "path": ["ftu", "area", "u02"],
        "kind": "grassroots",
        "worker_home": {"name": "二厂之家"},
    },
}


def choice_poll(p, voters=("D1", "D2", "D3"), secret=True):
    data = c.ChoicePollIn().load(
        {
            "title": "关于食堂的决议",
            "voters": list(voters),
            "secret": secret,
            "owner": "congress",
            "ref": "item1",
            "union_id": "u01",
            "union_path": ["ftu", "area", "u01"],
            "congress_id": "cg-u01",
        }
    )
    return polls.open_choice_poll(p, SYSTEM, data)["poll_id"]


# ===== choice polls ===============================================================================
def test_open_choice_poll_is_for_services_and_commits_poll_opened_with_the_poll():
    p = ports()
    with pytest.raises(Forbidden):
        polls.open_choice_poll(p, union_admin("u01"), {})
    poll_id = choice_poll(p)
    assert p.store.docs["polls"][poll_id]["_v"] == 0
    assert p.store.events == [
        (
            "poll_opened",
            {
                **p.store.events[0][1],
                "poll_id": poll_id,
                "kind": "choice",
                "owner": "congress",
                "ref": "item1",
            },
        )
    ]


def test_cast_choice_one_ballot_per_voter_with_a_coded_conflict():
    p = ports()
    poll_id = choice_poll(p)
    out = polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    assert len(out["receipt"]) == 12
    assert p.store.get_tally(poll_id)["o0"] == 1
    with pytest.raises(Conflict) as twice:
        polls.cast_choice(p, D1, poll_id, {"choice": "no"})
    assert twice.value.details["reason"] == c.ALREADY_VOTED
    assert p.store.get_tally(poll_id)["n"] == 1
    with pytest.raises(Forbidden):
        polls.cast_choice(p, member("X9", "u01"), poll_id, {"choice": "yes"})
    with pytest.raises(BadInput):
        polls.cast_choice(p, D2, poll_id, {"choice": "maybe"})
    assert not any(b.get("pending") for b in p.store.ballots[poll_id].values())
    assert "D1" not in str(p.store.ballots[poll_id])  # secret: no member id in the ballot


def test_close_commits_poll_closed_once_and_refuses_late_ballots():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    polls.cast_choice(p, D2, poll_id, {"choice": "no"})
    with pytest.raises(Forbidden):
        polls.close_poll(p, union_admin("u01"), poll_id)
    out = polls.close_poll(p, SYSTEM, poll_id)
    assert out["counts"] == {"yes": 1, "no": 1, "abstain": 0} and out["recount_matches"] is True
    assert polls.close_poll(p, SYSTEM, poll_id) == out  # idempotent
    closed = [b for k, b in p.store.events if k == "poll_closed"]
    assert len(closed) == 1 and closed[0]["counts"] == out["counts"] and closed[0]["ballots"] == 2
    assert poll_id in p.store.shuffled
    with pytest.raises(Conflict):
        polls.cast_choice(p, D3, poll_id, {"choice": "yes"})


def test_a_close_cut_short_is_finished_by_the_next_close():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    p.store.fail_on.add("shuffle_ballots")  # an outage after the recount was committed
    with pytest.raises(ServiceUnavailable):
        polls.close_poll(p, SYSTEM, poll_id)
    assert p.store.docs["polls"][poll_id]["status"] == "closed" and poll_id not in p.store.shuffled
    polls.close_poll(p, SYSTEM, poll_id)
    assert poll_id in p.store.shuffled
    assert p.store.event_types().count("poll_closed") == 1


def test_an_interrupted_cast_is_repaired_at_the_close():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    p.store.fail_on.add("count_ballots")  # the process dies between the ballot insert and the $inc
    with pytest.raises(ServiceUnavailable):
        polls.cast_choice(p, D2, poll_id, {"choice": "no"})
    out = polls.close_poll(p, SYSTEM, poll_id)
    assert out["counts"] == {"yes": 1, "no": 1, "abstain": 0} and out["recount_matches"] is True
    assert p.store.docs["polls"][poll_id]["recount"]["repaired"]["ballots"] == 1
    assert "recount_mismatched" not in p.store.event_types()


def test_get_poll_receipts_and_the_published_list():
    p = ports()
    poll_id = choice_poll(p)
    receipt = polls.cast_choice(p, D1, poll_id, {"choice": "yes"})["receipt"]
    seen = polls.get_poll(p, D1, poll_id, lambda _: None)
    assert seen["has_voted"] and seen["receipt"] == receipt and "counts" not in seen
    with pytest.raises(Forbidden):
        polls.get_poll(p, union_admin("u02"), poll_id, lambda _: None)
    with pytest.raises(Conflict):
        polls.list_ballots(p, D1, poll_id, 1, 100, lambda _: None)
    polls.close_poll(p, SYSTEM, poll_id)
    assert polls.verify_receipt(p, D2, poll_id, receipt.lower(), lambda _: None)["found"] is True
    with pytest.raises(BadInput):
        polls.verify_receipt(p, D2, poll_id, "XYZ", lambda _: None)
    listed = polls.list_ballots(p, D2, poll_id, 1, 100, lambda _: None)
    assert listed["items"] == [{"receipt": receipt, "choice": "yes", "subject": None, "stars": None}]
    with pytest.raises(NotFound):
        polls.get_poll(p, SYSTEM, "nope", lambda _: None)


def test_a_recount_mismatch_raises_the_alarm_and_changes_nothing():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    p.store.tallies[poll_id]["o1"] = 5  # the live tally tampered with
    with pytest.raises(Forbidden):
        polls.recount(p, D1, poll_id, lambda _: None)
    record = polls.recount(p, SYSTEM, poll_id, lambda _: None)
    assert record["matches"] is False and p.store.docs["polls"][poll_id]["alarm"] is True
    assert p.store.tallies[poll_id]["o1"] == 5
    assert p.store.event_types()[-1] == "recount_mismatched"


# ----- recount packs (issue 17 item 3) and the close's count of the ballots --------------------------
def pack_choices(p, poll_id):
    return sorted(v for pack in p.store.packs.get(poll_id, {}).values() for v in pack["v"])


def test_a_recount_reads_the_packs_when_they_account_for_every_ballot_else_every_ballot():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    polls.cast_choice(p, D2, poll_id, {"choice": "no"})
    assert pack_choices(p, poll_id) == ["no", "yes"]  # one pack per batch, written with its ballots
    read = []
    every_ballot = p.store.iter_ballots
    p.store.iter_ballots = lambda *a: read.append(a) or every_ballot(*a)
    record = polls.recount(p, SYSTEM, poll_id, lambda _: None)
    assert record["matches"] is True and record["recounted"] == {"yes": 1, "no": 1, "abstain": 0}
    assert record["source"] == "packs" and read == []
    bid = p.keys.ballot_id(poll_id, "D3")  # a ballot no pack holds (written by other means)
    p.store.ballots[poll_id][bid] = {"_id": bid, "receipt": p.keys.receipt(bid), "choice": "yes"}
    record = polls.recount(p, SYSTEM, poll_id, lambda _: None)
    assert record["recounted"] == {"yes": 2, "no": 1, "abstain": 0} and record["source"] == "ballots"
    assert record["matches"] is False and len(read) == 2  # every ballot, twice (the settle)
    assert p.store.docs["polls"][poll_id]["alarm"] is True  # nothing in flight: a real difference


def test_the_close_counts_the_ballots_it_copies_and_checks_the_packs_recount_and_the_live_tally():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    polls.cast_choice(p, D2, poll_id, {"choice": "no"})
    out = polls.close_poll(p, SYSTEM, poll_id)
    poll = p.store.docs["polls"][poll_id]
    assert out["recount_matches"] is True and poll["recount"]["source"] == "packs"
    assert poll["close_count"]["ballots_counted"] == {"yes": 1, "no": 1, "abstain": 0}
    assert poll["close_count"]["equals_recount"] is True and poll["close_count"]["equals_live"] is True
    assert pack_choices(p, poll_id) == ["no", "yes"]  # written again from the shuffled copy
    polls.close_poll(p, SYSTEM, poll_id)  # recorded once
    assert p.store.docs["polls"][poll_id]["close_count"] == poll["close_count"]
    assert "recount_mismatched" not in p.store.event_types()


def test_packs_and_live_tally_wrong_together_are_caught_by_the_close_count_of_the_ballots():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "no"})
    # a cast path that writes the same wrong thing into the pack and the tally (what (a) was about)
    [batch] = p.store.packs[poll_id]
    p.store.packs[poll_id][batch] = {"v": ["yes"]}
    p.store.tallies[poll_id].update(o0=1, o1=0)
    assert polls.recount(p, SYSTEM, poll_id, lambda _: None)["matches"] is True  # the packs agree
    out = polls.close_poll(p, SYSTEM, poll_id)
    poll = p.store.docs["polls"][poll_id]
    assert poll["recount"]["recounted"] == {"yes": 1, "no": 0, "abstain": 0}  # from the packs
    assert poll["close_count"]["ballots_counted"] == {"yes": 0, "no": 1, "abstain": 0}  # the ballots
    assert poll["close_count"]["equals_recount"] is False and poll["close_count"]["equals_live"] is False
    assert poll["alarm"] is True and out["recount_matches"] is False
    assert p.store.event_types().count("recount_mismatched") == 1
    assert p.store.tallies[poll_id]["o0"] == 1  # an alarm, nothing overwritten


def test_a_live_tally_wrong_alone_is_one_alarm_at_the_close_and_the_ballots_agree_with_the_packs():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "no"})
    p.store.tallies[poll_id]["o0"] = 1  # the live tally tampered with
    out = polls.close_poll(p, SYSTEM, poll_id)
    check = p.store.docs["polls"][poll_id]["close_count"]
    assert check["equals_recount"] is True and check["equals_live"] is False
    assert out["recount_matches"] is False and p.store.docs["polls"][poll_id]["alarm"] is True
    assert p.store.event_types().count("recount_mismatched") == 1  # the close's recount raised it


def test_a_late_batch_refused_by_the_closed_tally_takes_its_pack_back_with_its_ballots():
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    p.store.close_tally(poll_id)  # the close stopped the tally; this cast had read the poll as open
    with pytest.raises(Conflict):
        polls.cast_choice(p, D2, poll_id, {"choice": "no"})
    assert pack_choices(p, poll_id) == ["yes"] and len(p.store.ballots[poll_id]) == 1
    out = polls.close_poll(p, SYSTEM, poll_id)
    poll = p.store.docs["polls"][poll_id]
    assert out["counts"] == {"yes": 1, "no": 0, "abstain": 0} and out["recount_matches"] is True
    assert poll["recount"]["source"] == "packs" and poll["close_count"]["equals_recount"] is True


@pytest.mark.parametrize("dies_in", ["write_pack", "count_ballots", "end_batch"])
def test_a_crashed_batch_pack_written_or_not_is_repaired_at_the_close_and_counted_once(dies_in):
    p = ports()
    poll_id = choice_poll(p)
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    p.store.fail_on.add(dies_in)  # before the pack / after the pack, before the $inc / after both
    with pytest.raises(ServiceUnavailable):
        polls.cast_choice(p, D2, poll_id, {"choice": "no"})
    assert len(p.store.casts_pending) == 1  # the marker a crash leaves
    record = polls.recount(p, SYSTEM, poll_id, lambda _: None)  # open: the batch read by its ballots
    assert record["recounted"] == {"yes": 1, "no": 1, "abstain": 0} and record["source"] == "packs"
    assert record["matches"] is (dies_in == "end_batch")
    assert record.get("busy", False) is (dies_in != "end_batch")  # in flight: no alarm while open
    assert "alarm" not in p.store.event_types() and "recount_mismatched" not in p.store.event_types()
    out = polls.close_poll(p, SYSTEM, poll_id)
    poll = p.store.docs["polls"][poll_id]
    assert out["counts"] == {"yes": 1, "no": 1, "abstain": 0} and out["recount_matches"] is True
    assert poll["recount"]["matches"] is True and p.store.casts_pending == {}
    assert poll["close_count"]["equals_recount"] is True and poll["close_count"]["equals_live"] is True
    assert "recount_mismatched" not in p.store.event_types()
    assert polls.recount(p, SYSTEM, poll_id, lambda _: None)["source"] == "packs"  # the copy's packs


def test_a_recount_while_casts_land_is_busy_not_an_alarm_and_matches_once_they_settle():
    p = ports()
    poll_id = choice_poll(p, voters=[f"D{i}" for i in range(1, 9)])
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    voters = iter(member(f"D{i}", "u01") for i in range(2, 9))
    packs = p.store.recount_packs

    def a_cast_lands_meanwhile(*args):  # a whole batch lands between the tally read and the packs read
        polls.cast_choice(p, next(voters), poll_id, {"choice": "no"})
        return packs(*args)

    p.store.recount_packs = a_cast_lands_meanwhile
    record = polls.recount(p, SYSTEM, poll_id, lambda _: None)
    assert record["busy"] is True and record["matches"] is False
    assert "alarm" not in p.store.docs["polls"][poll_id] or not p.store.docs["polls"][poll_id]["alarm"]
    assert "recount_mismatched" not in p.store.event_types()
    p.store.recount_packs = packs  # the casts settle
    record = polls.recount(p, SYSTEM, poll_id, lambda _: None)
    assert record["matches"] is True and "busy" not in record and record["source"] == "packs"
    assert record["recounted"] == {"yes": 1, "no": 2, "abstain": 0}
    p.store.tallies[poll_id]["o1"] = 9  # a live tally ahead of the ballots is no landing cast: an alarm
    p.store.recount_packs = a_cast_lands_meanwhile
    record = polls.recount(p, SYSTEM, poll_id, lambda _: None)
    assert "busy" not in record and p.store.docs["polls"][poll_id]["alarm"] is True


# ===== evaluation campaigns =======================================================================
def campaign(p, members=None, **extra):
    members = members or FakeMembers(UNIONS, {"u01": 3, "u02": 2})
    data = c.CampaignIn().load(
        {"id": "ev1", "title": "2026年星级职工之家评选", "union_id": "area", "year": 2026, **extra}
    )
    return camp.create_campaign(p, SUPERIOR, data, members), members


def rate(p, actor, stars=(5, 4, 5, 4, 5), opinion=None):
    data = c.RatingIn().load({"stars": {f"c{i + 1}": s for i, s in enumerate(stars)}, "opinion": opinion})
    return camp.cast_rating(p, actor, "ev1", data)


def test_create_campaign_rules_and_refusals():
    p = ports()
    members = FakeMembers(UNIONS, {"u01": 3, "u02": 2})
    data = c.CampaignIn().load({"title": "评选", "union_id": "area", "year": 2026})
    with pytest.raises(Forbidden):
        camp.create_campaign(p, union_admin("u01"), data, members)
    with pytest.raises(BadInput):
        camp.create_campaign(p, SUPERIOR, {**data, "homes": ["u09"]}, members)
    out, _ = campaign(p)
    assert out["status"] == "draft" and [h["eligible"] for h in out["homes"]] == [3, 2]
    with pytest.raises(Conflict):
        campaign(p)
    assert p.store.docs["campaigns"]["ev1"]["_v"] == 0


def test_open_campaign_commits_poll_opened_with_the_campaign_and_resumes_after_a_crash():
    p = ports()
    _, members = campaign(p)
    with pytest.raises(Forbidden):
        camp.open_campaign(p, union_admin("u01"), "ev1", members)
    p.store.fail_on.add("change")  # the poll is made, then the campaign write fails
    with pytest.raises(ServiceUnavailable):
        camp.open_campaign(p, SUPERIOR, "ev1", members)
    assert "ev1" in p.store.docs["polls"] and p.store.docs["campaigns"]["ev1"]["status"] == "draft"
    assert "poll_opened" not in p.store.event_types()
    out = camp.open_campaign(p, SUPERIOR, "ev1", members)
    assert out["status"] == "open" and p.store.event_types().count("poll_opened") == 1
    with pytest.raises(Conflict):
        camp.open_campaign(p, SUPERIOR, "ev1", members)


def test_cast_rating_own_home_only_one_ballot():
    p = ports()
    _, members = campaign(p)
    with pytest.raises(Conflict):
        rate(p, member("M1", "u01"))  # still a draft
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    out = rate(p, member("M1", "u01"), opinion=" 很好 ")
    assert out["home"] == "u01" and len(out["receipt"]) == 12
    with pytest.raises(Conflict) as twice:
        rate(p, member("M1", "u01"))
    assert twice.value.details["reason"] == c.ALREADY_VOTED
    with pytest.raises(Forbidden):
        rate(p, member("M9", "u09"))
    with pytest.raises(BadInput):
        rate(p, member("M2", "u01"), stars=(5, 4, 5, 4, 6))
    seen = camp.get_campaign(p, member("M1", "u01"), "ev1")
    assert seen["me"]["has_voted"] and seen["homes"][0]["voters"] == 1
    with pytest.raises(Forbidden):
        camp.get_campaign(p, member("M9", "u09"), "ev1")
    assert [x["id"] for x in camp.list_campaigns(p, member("M1", "u01"))] == ["ev1"]
    assert camp.list_campaigns(p, member("M9", "u09")) == []
    opinions = camp.campaign_opinions(p, union_admin("u01"), "ev1", "u01", 1, 50)
    assert [i["text"] for i in opinions["items"]] == ["很好"]
    with pytest.raises(Forbidden):
        camp.campaign_opinions(p, union_admin("u02"), "ev1", "u01", 1, 50)


def rating_data(stars=(5, 4, 5, 4, 5), opinion=None):
    return c.RatingIn().load({"stars": {f"c{i + 1}": s for i, s in enumerate(stars)}, "opinion": opinion})


def test_a_batch_answers_each_cast_and_counts_each_home_once():
    p = ports()
    _, members = campaign(p)
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    rate(p, member("M0", "u01"))
    casts = [
        (member("M1", "u01"), "ev1", rating_data()),
        (member("M1", "u01"), "ev1", rating_data((1, 1, 1, 1, 1))),  # the same voter again in the batch
        (member("M0", "u01"), "ev1", rating_data()),  # voted before the batch
        (member("M2", "u02"), "ev1", rating_data((3, 3, 3, 3, 3))),
        (member("M3", "u01"), "ev1", rating_data((5, 4, 5, 4, 6))),  # bad stars
        (member("M9", "u09"), "ev1", rating_data()),  # not in a participating union
        (member("M4", "u02"), "nope", rating_data()),
    ]
    out = camp.cast_ratings(p, casts)
    assert [type(o).__name__ for o in out[2:]] == ["Conflict", "dict", "BadInput", "Forbidden", "NotFound"]
    first, second = out[:2]  # the same voter twice: which one is stored is the random insert order's
    assert sorted(type(o).__name__ for o in (first, second)) == ["Conflict", "dict"]
    kept = first if isinstance(first, dict) else second
    refused = second if kept is first else first
    assert refused.details["reason"] == out[2].details["reason"] == c.ALREADY_VOTED
    assert kept["home"] == "u01" and out[3]["home"] == "u02" and kept["receipt"] != out[3]["receipt"]
    tally = p.store.get_tally("ev1")
    assert tally["n"] == 3 and tally["s"]["u01"]["n"] == 2 and tally["s"]["u02"]["c0"] == 3
    # the batch wrote its sums once, into its own marker (no write per home); the fold takes them
    [marker] = [m for m in p.store.casts_pending.values() if len(m.get("d", [])) == 2]
    assert sorted(marker["d"]) == ["u01", "u02"] and "count_ballots" not in p.store.steps
    assert (
        marker["state"] == "settled" and polls.fold_all(p) == 2
    )  # M0's batch and this one and p.store.casts_pending == {} and p.store.get_tally("ev1") == tally
    assert p.store.folded["ev1"]["g"] == 1 and p.store.folded["ev1"]["s"]["u01"]["n"] == 2
    closed = camp.close_campaign(p, SUPERIOR, "ev1")
    assert closed["recount_matches"] is True


def open_with_ballots(p, n=4):
    """An open campaign with ``n`` ballots cast in batches of two (some settled, the first folded)."""
    _, members = campaign(p)
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    for start in range(0, n, 2):
        camp.cast_ratings(
            p,
            [
                (member(f"A{i}", "u01" if i % 2 else "u02"), "ev1", rating_data())
                for i in range(start, start + 2)
            ],
        )
        if start == 0:
            polls.fold_all(p)


def recount_of(p, poll_id="ev1"):
    poll = p.store.docs["polls"][poll_id]
    return polls._recount(p, poll)[0]


CASTS = [
    (member(f"M{i}", "u01" if i % 2 else "u02"), "ev1", rating_data((i % 5 + 1,) * 5)) for i in range(1, 7)
]


@pytest.mark.parametrize("crash_at", range(6))
def test_a_batch_crashed_at_any_write_loses_nothing_answered_and_the_close_reconciles_exactly(crash_at):
    """Writes of a rating batch: marker, receipts, ballots, recount pack, the marker settled (then
    nothing more). A crash before the settle leaves ballots nobody was answered for: the close cuts
    their marker and repairs the tally from them exactly; after it, the batch counts in the live tally
    at once."""
    p = ports()
    open_with_ballots(p)
    p.store.writes_left = crash_at
    try:
        camp.cast_ratings(p, CASTS)
        crashed = False
    except Crash:
        crashed = True
    p.store.writes_left = None
    assert crashed == (crash_at < 5)
    stored = len(p.store.ballots["ev1"])
    live = polls.counts_of(p.store.docs["polls"]["ev1"], p.store.get_tally("ev1"))
    assert live["n"] == (10 if crash_at >= 5 else 4) and stored == (4 if crash_at < 3 else 10)
    closed = camp.close_campaign(p, SUPERIOR, "ev1")
    record = p.store.docs["polls"]["ev1"]["recount"]
    assert closed["recount_matches"] is True and record["recounted"]["n"] == stored
    assert record.get("repaired", {}).get("ballots", 0) == (6 if crash_at in (3, 4) else 0)
    assert polls.counts_of(p.store.docs["polls"]["ev1"], p.store.get_tally("ev1")) == record["recounted"]
    assert p.store.casts_pending == {} and "recount_mismatched" not in p.store.event_types()


def fold_steps(p):
    """The writes a full fold of ``ev1`` makes now (counted on a copy of the store)."""
    import copy

    twin = copy.deepcopy(p.store)
    polls.fold_poll(ports(twin), "ev1")
    return len(twin.steps) - len(p.store.steps)


def test_a_fold_crashed_at_any_write_counts_every_batch_exactly_once():
    p = ports()
    open_with_ballots(p, 8)
    before = p.store.get_tally("ev1")
    steps = fold_steps(p)
    assert steps == 2  # the folded tally's guarded write, the markers' delete
    for crash_at in range(steps):
        q = ports(__import__("copy").deepcopy(p.store))
        q.store.writes_left = crash_at
        with pytest.raises(Crash):
            polls.fold(q, "ev1")
        q.store.writes_left = None
        assert q.store.get_tally("ev1") == before  # the live tally is the same at every point
        assert polls.fold_all(q) == (3 if crash_at == 0 else 0) and q.store.settled_batches() == []
        assert q.store.get_tally("ev1") == before
        assert polls.counts_of(q.store.docs["polls"]["ev1"], before) == recount_of(q)
        assert camp.close_campaign(q, SUPERIOR, "ev1")["recount_matches"] is True


def test_two_folds_at_once_count_each_batch_once():
    p = ports()
    open_with_ballots(p, 8)
    before = p.store.get_tally("ev1")
    settled = p.store.settled_batches

    def another_fold_meanwhile(poll_id=None):
        found = settled(poll_id)
        if poll_id == "ev1" and not getattr(another_fold_meanwhile, "ran", False):
            another_fold_meanwhile.ran = True
            polls.fold(ports(p.store), "ev1")  # commits and deletes the markers this fold has just read
        return found

    p.store.settled_batches = another_fold_meanwhile
    assert polls.fold(p, "ev1") == 0  # its guarded write finds another generation: nothing written
    p.store.settled_batches = settled
    assert p.store.folded["ev1"]["g"] == 2 and p.store.settled_batches() == []
    assert p.store.get_tally("ev1") == before
    # a fold that read the markers BEFORE another committed and deleted them would count them twice
    # (hence the folded tally first): here the second fold only finds the first one's finished work
    assert polls.fold(p, "ev1") == 0 and p.store.get_tally("ev1") == before


@pytest.mark.parametrize("crash_at", range(13))  # 12 writes: every one, then none
def test_a_close_crashed_at_any_write_finishes_with_the_recount_equal_to_the_live_tally(crash_at):
    """The close: the tally stopped, the poll closed, the batches in flight cut, every settled batch
    folded, the recount (repairing a cut batch), the shuffle. A batch cut in flight is repaired."""
    p = ports()
    open_with_ballots(p, 6)
    p.store.writes_left = 3  # a batch whose process dies after its ballots are stored
    with pytest.raises(Crash):
        camp.cast_ratings(p, CASTS[:2])
    p.store.writes_left = crash_at
    try:
        camp.close_campaign(p, SUPERIOR, "ev1")
    except (Crash, ServiceUnavailable):
        pass
    p.store.writes_left = None
    closed = camp.close_campaign(p, SUPERIOR, "ev1")
    record = p.store.docs["polls"]["ev1"]["recount"]
    assert closed["recount_matches"] is True and record["recounted"]["n"] == 8
    assert polls.counts_of(p.store.docs["polls"]["ev1"], p.store.get_tally("ev1")) == record["recounted"]
    assert p.store.casts_pending == {} and p.store.event_types().count("poll_closed") == 1
    assert "recount_mismatched" not in p.store.event_types()


def test_a_batch_the_close_cut_is_taken_back_and_answered_voting_has_ended():
    p = ports()
    open_with_ballots(p, 2)
    insert = p.store.insert_ballots

    def close_meanwhile(poll_id, ballots):  # the close stops the tally and cuts while ballots go in
        done = insert(poll_id, ballots)
        p.store.close_tally("ev1")
        assert p.store.cut_batches("ev1") == 1
        return done

    p.store.insert_ballots = close_meanwhile
    out = camp.cast_ratings(p, CASTS[:2])
    p.store.insert_ballots = insert
    assert [o.details["reason"] if isinstance(o, Conflict) else o for o in out] == ["voting_ended"] * 2
    assert len(p.store.ballots["ev1"]) == 2 and p.store.get_tally("ev1")["n"] == 2  # taken back
    assert camp.close_campaign(p, SUPERIOR, "ev1")["recount_matches"] is True
    assert p.store.get_tally("ev1")["n"] == 2 and p.store.casts_pending == {}
    # a cast that read the campaign as open before the close (a cached copy) begins after it
    late = polls.cast_many(p, "ev1", [("L1", {"subject": "u01", "stars": [5] * 5}, {"n": 1}, "u01")])
    assert late[0].details["reason"] == "voting_ended" and len(p.store.ballots["ev1"]) == 2
    assert p.store.casts_pending == {}


def test_bulk_loading_writes_its_sums_once_and_the_fold_takes_them():
    p = ports()
    _, members = campaign(p)
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    rows = [{"member_id": f"B{i}", "home": "u01" if i % 3 else "u02", "stars": [4] * 5} for i in range(30)]
    camp.load_ratings(p, SYSTEM, "ev1", rows)
    assert p.store.steps.count("add_to_tally") == 1 and p.store.get_tally("ev1")["n"] == 30
    polls.fold_all(p)
    assert p.store.casts_pending == {} and p.store.folded["ev1"]["s"]["u02"]["n"] == 10
    assert polls.counts_of(p.store.docs["polls"]["ev1"], p.store.get_tally("ev1")) == recount_of(p)


def test_scores_by_whom_and_never_after_publication():
    p = ports()
    _, members = campaign(p)
    with pytest.raises(Forbidden):
        camp.set_unit_score(p, SUPERIOR, "ev1", "u01", {"score": 90})  # not their own home
    with pytest.raises(NotFound):
        camp.set_unit_score(p, union_admin("u09"), "ev1", "u09", {"score": 90})
    out = camp.set_unit_score(p, union_admin("u01"), "ev1", "u01", {"score": 88.125})
    assert out["homes"][0]["unit_score"] == 88.13  # half-up
    with pytest.raises(Forbidden):
        camp.set_superior_scores(p, union_admin("u01"), "ev1", {"scores": {"u01": 90}})
    with pytest.raises(BadInput):
        camp.set_superior_scores(p, SUPERIOR, "ev1", {"scores": {"u09": 90}})
    camp.set_superior_scores(p, SUPERIOR, "ev1", {"scores": {"u01": 90, "u02": 80}})
    assert p.store.docs["campaigns"]["ev1"]["superior_scores"] == {"u01": 90.0, "u02": 80.0}


def run_to_closed(p, members):
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    for who in ("M1", "M2", "M3"):
        rate(p, member(who, "u01"))
    camp.load_ratings(p, SYSTEM, "ev1", [{"member_id": "M4", "home": "u02", "stars": [3, 3, 3, 3, 3]}])
    camp.set_unit_score(p, union_admin("u01"), "ev1", "u01", {"score": 90})
    camp.set_unit_score(p, union_admin("u02"), "ev1", "u02", {"score": 70})
    camp.set_superior_scores(p, SUPERIOR, "ev1", {"scores": {"u01": 90, "u02": 70}})
    return camp.close_campaign(p, SUPERIOR, "ev1")


def test_live_results_close_and_bulk_loading():
    p = ports()
    _, members = campaign(p)
    with pytest.raises(Forbidden):
        camp.load_ratings(p, SUPERIOR, "ev1", [])
    closed = run_to_closed(p, members)
    assert closed["status"] == "closed" and closed["ballots"] == 4
    assert camp.close_campaign(p, SUPERIOR, "ev1")["status"] == "closed"  # idempotent
    assert p.store.event_types().count("poll_closed") == 1
    live = camp.campaign_results(p, SUPERIOR, "ev1")
    assert live["live"] is True and {r["union_id"] for r in live["rows"]} == {"u01", "u02"}
    with pytest.raises(Forbidden):
        camp.campaign_results(p, member("M1", "u01"), "ev1")  # members see results once published
    with pytest.raises(Conflict):
        camp.load_ratings(p, SYSTEM, "ev1", [])  # closed


def test_publish_commits_results_published_and_sets_every_star_level():
    p = ports()
    _, members = campaign(p)
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    with pytest.raises(Conflict):
        camp.publish_results(p, SUPERIOR, "ev1")  # still open
    camp.close_campaign(p, SUPERIOR, "ev1")
    with pytest.raises(Conflict) as missing:
        camp.publish_results(p, SUPERIOR, "ev1")
    assert "unit_scores" in missing.value.details
    p2 = ports()
    _, members = campaign(p2)
    run_to_closed(p2, members)
    with pytest.raises(Forbidden):
        camp.publish_results(p2, union_admin("u01"), "ev1")
    assert camp.publish_results(p2, SUPERIOR, "ev1") is True
    assert camp.publish_results(p2, SUPERIOR, "ev1") is False  # idempotent
    published = [b for k, b in p2.store.events if k == "results_published"]
    assert len(published) == 1 and published[0]["ballots"] == 4
    assert camp.apply_star_levels(p2, "ev1", members) is True
    assert members.star_levels == published[0]["star_levels"]
    doc = p2.store.docs["campaigns"]["ev1"]
    assert doc["star_levels_set"] == doc["star_levels_due"] and doc["star_levels_done_at"]
    assert camp.campaign_results(p2, member("M1", "u01"), "ev1")["live"] is False
    with pytest.raises(Conflict):
        camp.set_unit_score(p2, union_admin("u01"), "ev1", "u01", {"score": 10})


def test_star_levels_survive_an_outage_midway_and_finish_from_the_follow_up():
    clock = Clock()
    p = ports(FakeVotingStore(), clock)
    _, members = campaign(p)
    run_to_closed(p, members)
    camp.publish_results(p, SUPERIOR, "ev1")
    members.fail_after = 1  # the first home's level is set, then members goes away
    with pytest.raises(ServiceUnavailable):
        camp.apply_star_levels(p, "ev1", members)
    assert len(members.star_levels) == 1 and len(p.store.followups) == 1
    assert camp.resume_follow_ups(p, members) == 0  # still away: the marker stays
    assert len(p.store.followups) == 1
    members.fail_after = None
    assert camp.resume_follow_ups(p, members) == 1
    doc = p.store.docs["campaigns"]["ev1"]
    assert members.star_levels == doc["star_levels_due"] and len(members.star_levels) == 2
    assert p.store.followups == {}


def test_a_publication_that_never_committed_leaves_a_marker_that_is_dropped_when_stale():
    clock = Clock()
    p = ports(FakeVotingStore(), clock)
    _, members = campaign(p)
    run_to_closed(p, members)
    p.store.change = _fail_publication(p.store)  # the publication's write fails after the recount
    with pytest.raises(ServiceUnavailable):
        camp.publish_results(p, SUPERIOR, "ev1")
    assert p.store.docs["campaigns"]["ev1"]["status"] == "closed" and len(p.store.followups) == 1
    assert camp.resume_follow_ups(p, members) == 0 and len(p.store.followups) == 1  # maybe in flight
    clock.advance(2 * 3600)
    camp.resume_follow_ups(p, members)
    assert p.store.followups == {} and members.star_levels == {}


def _fail_publication(store):
    """``change`` that fails (an outage) for the write setting ``published``, and works otherwise."""
    real = type(store).change.__get__(store)

    def change(collection, doc_id, **kw):
        if (kw.get("set") or {}).get("status") == "published":
            raise ServiceUnavailable("database away")
        return real(collection, doc_id, **kw)

    return change


def test_changes_by_people_are_audited_ballots_and_the_system_never():
    p = ports()
    _, members = campaign(p)
    run_to_closed(p, members)
    camp.publish_results(p, SUPERIOR, "ev1")
    audited = [b for k, b in p.store.events if k == "change_recorded"]
    assert [b["action"] for b in audited] == [
        "voting.campaign_created",
        "voting.campaign_opened",
        "voting.unit_score_set",
        "voting.unit_score_set",
        "voting.superior_scores_set",
        "voting.campaign_closed",
        "voting.results_published",
    ]
    assert {b["union_id"] for b in audited} == {"area"}
    assert audited[2]["role"] == "union_admin" and audited[4]["role"] == "superior_admin"
    assert audited[2]["changes"] == [{"field": "unit_scores.u01", "before": None, "after": 90.0}]
    assert "ballot" not in str(audited) and "M1" not in str(audited)  # no voter, no ballot


def test_a_recount_asked_by_a_campaign_admin_is_audited():
    p = ports()
    _, members = campaign(p)
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    rate(p, member("M1", "u01"))
    with pytest.raises(Forbidden):
        polls.recount(p, union_admin("u01"), "ev1", p.store.get_campaign)
    record = polls.recount(p, SUPERIOR, "ev1", p.store.get_campaign)
    assert record["matches"] is True
    audited = [b for k, b in p.store.events if k == "change_recorded"][-1]
    assert audited["action"] == "voting.recount_recorded" and audited["object"] == {
        "type": "poll",
        "id": "ev1",
    }


def test_a_repeated_score_form_writes_nothing_and_leaves_no_second_audit_entry():
    """Found by the crash drill: an admin who sends the same unit score again after a timeout (the
    first one landed) must not leave a second audit entry for a change that changed nothing."""
    p = ports()
    campaign(p)
    camp.set_unit_score(p, union_admin("u01"), "ev1", "u01", {"score": 88.125})
    again = camp.set_unit_score(p, union_admin("u01"), "ev1", "u01", {"score": 88.13})  # same, rounded
    camp.set_superior_scores(p, SUPERIOR, "ev1", {"scores": {"u01": 90}})
    camp.set_superior_scores(p, SUPERIOR, "ev1", {"scores": {"u01": 90}})
    camp.set_unit_score(p, union_admin("u01"), "ev1", "u01", {"score": 70})  # a change: recorded
    audited = [b["action"] for k, b in p.store.events if k == "change_recorded"]
    assert audited == [
        "voting.campaign_created",
        "voting.unit_score_set",
        "voting.superior_scores_set",
        "voting.unit_score_set",
    ]
    assert again["homes"][0]["unit_score"] == 88.13
    assert p.store.docs["campaigns"]["ev1"]["unit_scores"] == {"u01": 70.0}


def test_needs_of_a_ballot_to_cast_until_cast_and_the_participation_for_the_campaigns_admins():
    p = ports()
    _, members = campaign(p)
    assert camp.needs_of(p, member("M1", "u01")) == {"items": [], "queues": []}  # a draft asks nothing
    camp.open_campaign(p, SUPERIOR, "ev1", members)
    mine = camp.needs_of(p, member("M1", "u01"))
    assert [(i["kind"], i["id"], i["title"]) for i in mine["items"]] == [
        ("campaign_open", "ev1", "2026年星级职工之家评选")
    ]
    assert mine["queues"] == []
    rate(p, member("M1", "u01"))
    assert camp.needs_of(p, member("M1", "u01"))["items"] == []
    assert camp.needs_of(p, member("M9", "u09")) == {"items": [], "queues": []}  # not a home of it
    queues = camp.needs_of(p, SUPERIOR)["queues"]
    assert [(q["kind"], q["scope"], q["count"], q["of"]) for q in queues] == [
        ("evaluation_ballots", "u01", 1, 3),
        ("evaluation_ballots", "u02", 0, 2),
    ]
    assert camp.needs_of(p, union_admin("u01"))["queues"] == []  # a home's admin runs no campaign


def test_needs_of_a_congress_vote_for_its_voters_until_they_voted_or_it_closed():
    p = ports()
    poll_id = choice_poll(p)
    mine = camp.needs_of(p, D1)["items"]
    assert [(i["kind"], i["id"], i["title"], i["scope"]) for i in mine] == [
        ("choice_vote", poll_id, "关于食堂的决议", "item1")
    ]
    assert camp.needs_of(p, member("X9", "u01"))["items"] == []  # not a voter
    polls.cast_choice(p, D1, poll_id, {"choice": "yes"})
    assert camp.needs_of(p, D1)["items"] == []
    polls.close_poll(p, SYSTEM, poll_id)
    assert camp.needs_of(p, D2)["items"] == []


def test_a_rating_batch_cut_by_the_close_takes_its_pack_back_and_the_close_counts_from_the_packs():
    p = ports()
    open_with_ballots(p)
    settle = p.store.settle_batch

    def the_close_cuts_it_first(batch, incs):
        p.store.close_tally("ev1")
        p.store.cut_batches("ev1")
        return settle(batch, incs)

    p.store.settle_batch = the_close_cuts_it_first
    out = camp.cast_ratings(p, CASTS[:2])
    p.store.settle_batch = settle
    assert all(isinstance(o, Conflict) for o in out) and len(p.store.ballots["ev1"]) == 4
    assert sum(t.pack_size(pk) for pk in p.store.packs["ev1"].values()) == 4  # its pack went with it
    camp.close_campaign(p, SUPERIOR, "ev1")
    poll = p.store.docs["polls"]["ev1"]
    assert poll["recount"]["source"] == "packs" and poll["recount"]["matches"] is True
    assert poll["close_count"]["ballots_counted"]["n"] == 4
    assert poll["close_count"]["equals_recount"] is True and poll["close_count"]["equals_live"] is True
    assert "recount_mismatched" not in p.store.event_types()
