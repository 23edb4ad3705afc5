"""Ballot ids, receipts, tallies and recounts as pure functions; the cast path with worker_factory."""

import pytest
from nameko.testing.services import worker_factory

from dmlib.errors import BadInput, Conflict, Forbidden
from services.voting import tally as t
from services.voting.campaigns import stars_errors
from services.voting.providers import OpenDocCache
from services.voting.service import VotingService
from tests.helpers import member

KEY = b"unit-test-voting-key-0123456789"


def test_ballot_id_is_keyed_and_deterministic():
    a = t.ballot_id(KEY, "p1", "M0100002")
    assert a == t.ballot_id(KEY, "p1", "M0100002") and len(a) == 64
    assert a != t.ballot_id(KEY, "p2", "M0100002") != t.ballot_id(b"another-key-0123456789", "p1", "M0100002")
    assert "M0100002" not in a
    r = t.receipt_code(KEY, a)
    assert len(r) == 12 and r == r.upper() and r not in a.upper()


def test_rating_tally_and_recount_agree():
    ballots = [
        {"subject": "u01", "stars": [5, 4, 3], "opinion": "好"},
        {"subject": "u01", "stars": [1, 1, 2], "opinion": None},
        {"subject": "u02", "stars": [5, 5, 5], "opinion": None},
    ]
    head, parts = t.rating_zero(["u01", "u02"], 3)
    assert head == {"open": True, "parts": True} and set(parts) == {"u01", "u02"}
    for b in ballots:
        for key, v in t.rating_inc(b["stars"], b["opinion"] is not None).items():
            parts[b["subject"]][key] += v
    live = {**head, "n": sum(p["n"] for p in parts.values()), "s": parts}  # as VotingStore.get_tally
    recount = t.recount_ratings(ballots, ["u01", "u02"], 3)
    assert t.rating_counts(live, ["u01", "u02"], 3) == recount
    assert recount["s"]["u01"] == {
        "n": 2,
        "op": 1,
        "c0": 6,
        "c1": 5,
        "c2": 5,
        "h1": 2,
        "h2": 1,
        "h3": 1,
        "h4": 1,
        "h5": 1,
    }
    batches = [{"d": {b["subject"]: t.rating_inc(b["stars"], b["opinion"] is not None)}} for b in ballots]
    zero = t.rating_zero(["u01", "u02"], 3)[1]
    folded = t.add_deltas(zero, batches[:1])  # one batch folded, two settled (as VotingStore.get_tally)
    assert zero["u01"]["n"] == 0 and t.add_deltas(folded, batches[1:]) == parts
    merged = t.merge_inc(t.rating_inc(b["stars"], False) for b in ballots if b["subject"] == "u01")
    assert merged == {"n": 2, "c0": 6, "c1": 5, "c2": 5, "h1": 2, "h2": 1, "h3": 1, "h4": 1, "h5": 1}


def test_choice_recount():
    assert t.recount_choices(
        [{"choice": "yes"}, {"choice": "no"}, {"choice": "yes"}], ["yes", "no", "abstain"]
    ) == {
        "yes": 2,
        "no": 1,
        "abstain": 0,
    }
    with pytest.raises(ValueError):
        t.recount_choices([{"choice": "maybe"}], ["yes", "no"])
    assert t.choice_counts({"o0": 2, "o2": 1}, ["同意", "不同意", "弃权"]) == {
        "同意": 2,
        "不同意": 0,
        "弃权": 1,
    }


@pytest.mark.parametrize("value", [0, 6, 2.5, "five", "5", True, None, [5]])
def test_stars_must_be_whole_1_to_5(value):
    _, errors = stars_errors({"c1": value, "c2": 3}, 2)
    assert list(errors) == ["c1"]


def test_stars_missing_and_unknown_criteria():
    marks, errors = stars_errors({"c1": 5, "c3": 4}, 2)
    assert marks == [5] and set(errors) == {"c2", "c3"}
    assert stars_errors({"c1": 1, "c2": 5}, 2) == ([1, 5], {})


CAMPAIGN = {
    "_id": "ev1",
    "status": "open",
    "criteria": ["a", "b"],
    "homes": [{"union_id": "u01", "eligible": 10}],
    "union_path": ["ftu"],
}


def service_with(campaign=CAMPAIGN):
    svc = worker_factory(VotingService, open_docs=OpenDocCache(0))
    svc.store.get_campaign.return_value = dict(campaign)
    svc.store.poll_header.return_value = {"_id": "ev1", "status": "open", "kind": "rating"}
    svc.keys.ballot_id.side_effect = lambda p, m: t.ballot_id(KEY, p, m)
    svc.keys.receipt.side_effect = lambda b: t.receipt_code(KEY, b)
    svc.store.insert_ballots.side_effect = lambda poll_id, docs: [True] * len(docs)
    svc.store.begin_batch.return_value = "batch1"
    svc.store.settle_batch.return_value = True
    return svc


def test_cast_rating_writes_one_secret_ballot_then_counts_it():
    svc = service_with()
    svc.identity.actor = member("M0100002", "u01")
    out = svc.cast_rating("ev1", {"stars": {"c1": 5, "c2": 4}, "opinion": " 很好 "})
    poll_id, [doc] = svc.store.insert_ballots.call_args.args
    assert poll_id == "ev1" and doc["_id"] == t.ballot_id(KEY, "ev1", "M0100002")
    assert doc["stars"] == [5, 4] and doc["opinion"] == "很好" and "M0100002" not in str(doc)
    assert out["receipt"] == doc["receipt"]
    svc.store.settle_batch.assert_called_once_with("batch1", {"u01": t.rating_inc([5, 4], True)})
    svc.store.count_ballots.assert_not_called()  # a rating poll's batch is settled, never $inc-ed


def test_cast_rating_refusals_never_write():
    svc = service_with()
    svc.identity.actor = member("M0900001", "u09")
    with pytest.raises(Forbidden):
        svc.cast_rating("ev1", {"stars": {"c1": 5, "c2": 4}})
    svc.identity.actor = member("M0100002", "u01")
    with pytest.raises(BadInput):
        svc.cast_rating("ev1", {"stars": {"c1": 5, "c2": 0}})
    svc.store.insert_ballots.side_effect = lambda poll_id, docs: [False] * len(docs)  # voted before
    with pytest.raises(Conflict, match="您已投票"):
        svc.cast_rating("ev1", {"stars": {"c1": 5, "c2": 4}})
    svc.store.settle_batch.assert_not_called()
    closed = service_with({**CAMPAIGN, "status": "closed"})
    closed.identity.actor = member("M0100002", "u01")
    with pytest.raises(Conflict):
        closed.cast_rating("ev1", {"stars": {"c1": 5, "c2": 4}})
    closed.store.insert_ballots.assert_not_called()


def test_open_doc_cache_keeps_only_open_documents():
    reads = []

    def load(doc_id):
        reads.append(doc_id)
        return {"_id": doc_id, "status": "open" if doc_id == "a" else "draft"}

    cache = OpenDocCache(60)
    for _ in range(3):
        assert cache.get("campaign", "a", load)["status"] == "open"
        assert cache.get("campaign", "b", load)["status"] == "draft"
    assert reads == ["a", "b", "b", "b"]  # an open document is read once; any other every time
    off = OpenDocCache(0)
    off.get("poll", "a", load)
    off.get("poll", "a", load)
    assert reads[-2:] == ["a", "a"]


def test_explaining_subset_accounts_for_a_difference_exactly_or_not_at_all():
    a, b, c = t.rating_inc([5, 4], True), t.rating_inc([3, 3], False), t.rating_inc([1, 2], False)
    diff = t.merge_inc([a, c])
    assert sorted(t.explaining_subset(diff, [a, b, c])) == [0, 2]
    assert t.explaining_subset({}, [a, b]) == []  # nothing to explain
    assert t.explaining_subset({"n": 1, "c0": 9}, [a, b, c]) is None  # no ballot gives 9 stars
    assert t.explaining_subset(t.merge_inc([a]), [b, c]) is None
    assert t.explaining_subset(diff, [a] * 13) is None  # more than the limit: an alarm, not a search
    assert t.subtract({"n": 2, "c0": 5}, {"n": 2, "c0": 4}) == {"c0": 1}


def test_a_pack_recounts_as_its_ballots():
    rating = {"subject": "u01", "stars": [5, 4, 3, 2, 1], "opinion": "好"}
    plain = {"subject": "u02", "stars": [1, 1, 1, 1, 1], "opinion": None}
    again = {"subject": "u01", "stars": [2, 2, 3, 4, 5], "opinion": None}
    pack = t.pack_of([rating, plain, again])
    assert pack == {"s": ["u01", "u02", "u01"], "c": ["512", "412", "313", "214", "115"], "o": "100"}
    assert t.pack_size(pack) == 3
    subjects = ["u01", "u02", "u03"]
    by_ballot = t.recount_ratings([rating, plain, again], subjects, 5)
    assert t.recount_rating_packs([t.pack_of([rating]), t.pack_of([plain, again])], subjects, 5) == by_ballot
    with pytest.raises(ValueError):
        t.recount_rating_packs([pack], ["u01"], 5)
    choices = t.pack_of([{"choice": "yes"}, {"choice": "no"}, {"choice": "yes"}])
    assert t.recount_choice_packs([choices], ["yes", "no", "abstain"]) == {"yes": 2, "no": 1, "abstain": 0}
    assert t.recount_choice_packs([], ["yes"]) == {"yes": 0}
    with pytest.raises(ValueError):
        t.recount_choice_packs([choices], ["yes"])


def test_only_ahead_is_what_casts_landing_during_a_recount_can_cause():
    assert t.only_ahead({"yes": 2, "no": 1}, {"yes": 1, "no": 1}) is True
    assert t.only_ahead({"yes": 2, "no": 0}, {"yes": 1, "no": 1}) is False
    row = t.subject_zero(2)
    ahead = {"n": 1, "s": {"u01": {**row, "n": 1, "c0": 3}}}
    assert t.only_ahead(ahead, {"n": 0, "s": {"u01": row}}) is True
    assert t.only_ahead({"n": 0, "s": {"u01": row}}, ahead) is False


def test_a_busy_recount_is_shown_as_neither_equal_nor_different():
    """A recount taken while casts landed compared nothing: the pages get no recount statement."""
    from services.voting.campaigns import compared_recount

    busy = {"recount": {"at": 1, "matches": False, "busy": True}}
    assert compared_recount(busy) == {} and compared_recount(None) == {}
    compared = {"recount": {"at": 1, "matches": False}}
    assert compared_recount(compared) == {"at": 1, "matches": False}
