"""The gateway's group commit of ballots (services/gateway/ballots.py) with a hand-written fake of the
voting RPC: concurrent requests share one call and each gets its own answer."""

import eventlet
import pytest

from dmlib.errors import Conflict, ServiceUnavailable
from services.gateway.ballots import BallotBatcher, Ballots


class FakeVoting:
    """``cast_ratings`` answering each item by its token: "dup…" → already voted, else a receipt."""

    def __init__(self, down: bool = False):
        self.calls: list[list[dict]] = []
        self.down = down

    def cast_ratings(self, items):
        self.calls.append(items)
        eventlet.sleep(0.01)  # the RPC's round trip: later requests queue for the next batch
        if self.down:
            raise ServiceUnavailable("voting unavailable")
        return [
            {"error": Conflict("already voted / 您已投票", details={"reason": "already_voted"}).to_dict()}
            if i["token"].startswith("dup")
            else {"ok": {"receipt": i["token"].upper(), "campaign_id": i["campaign_id"]}}
            for i in items
        ]


class Worker:
    def __init__(self, token):
        self.data = {"auth_token": token}


def batcher(window_ms=200.0, most=100) -> BallotBatcher:
    b = BallotBatcher()
    b.container = type("C", (), {"config": {"BALLOT_BATCH_MS": window_ms, "BALLOT_BATCH_MAX": most}})()
    b.setup()
    return b


def cast_all(b, voting, tokens):
    results = {}

    def one(token):
        try:
            results[token] = Ballots(b, Worker(token)).cast_rating(voting, "ev1", {"stars": {}})
        except Exception as exc:  # noqa: BLE001 - the answer under test
            results[token] = exc

    pool = eventlet.GreenPool()
    for token in tokens:
        pool.spawn(one, token)
    pool.waitall()
    return results


def test_requests_sent_together_share_one_call_and_each_gets_its_own_answer():
    b, voting = batcher(), FakeVoting()
    tokens = [f"t{i}" for i in range(12)] + ["dup1"]
    results = cast_all(b, voting, tokens)
    assert len(voting.calls) == 1 and [i["token"] for i in voting.calls[0]] == tokens
    assert all(results[t] == {"receipt": t.upper(), "campaign_id": "ev1"} for t in tokens[:12])
    assert isinstance(results["dup1"], Conflict) and results["dup1"].details["reason"] == "already_voted"
    assert b.queue == [] and b.gathering is None


def test_a_full_batch_is_sent_at_once_and_the_rest_follow_in_further_calls():
    b, voting = batcher(window_ms=10_000, most=5), FakeVoting()  # only "full" can end the gathering
    results = cast_all(b, voting, [f"t{i}" for i in range(5)])
    assert [len(c) for c in voting.calls] == [5] and len(results) == 5


def test_a_failed_call_is_every_request_s_answer():
    b, voting = batcher(), FakeVoting(down=True)
    results = cast_all(b, voting, ["a", "b", "c"])
    assert len(voting.calls) == 1
    assert all(isinstance(r, ServiceUnavailable) for r in results.values())
    with pytest.raises(ServiceUnavailable):  # and the next request leads a new batch
        Ballots(b, Worker("d")).cast_rating(voting, "ev1", {})
