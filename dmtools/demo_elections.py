"""Demo part of elections (选举): the 2024 direct election of 博瑞集成电路 (u05)'s union committee and chair.

The committee: 9 seats from 11 candidates (差额, margin 5 %), every member of u05 an elector (842 in the
issue's scenario; the demo uses u05's roster as it is). Round 1: about 94 % take part, a few ballots
approve more than 9 people (invalid); eight candidates pass clearly, two tie above the majority for the
ninth seat, one stays below the majority (不过半). Round 2: a runoff between the tied two for the last
seat. The chair: 等额, one candidate (the committee's first), one round. Both published; the approvals
are fractions of the electors due, so the outcome is the same whatever the roster's size.

Not yet here (issue 14, later rounds): the appraisal of u01's 120 delegates and the 双爱双评 round over
the federation (their rules are in services/elections/rules.py; the service has no use cases for them
yet).

``load(rpc, rng)`` acts as the operator (the system); ballots go through ``elections.load_ballots``, which
stores them exactly as cast ones are (keyed ids, receipts, live tally).
"""

from __future__ import annotations

import random

UNION = "u05"
SEATS = 9
#: Approvals in round 1 as fractions of the electors due: eight clear, a tie at the last seat (0.58 is
#: above the majority), one below the majority (0.40).
ROUND1 = [0.85, 0.83, 0.80, 0.78, 0.75, 0.72, 0.69, 0.66, 0.58, 0.58, 0.40]
TURNOUT1, INVALID1 = 0.94, 6
#: Round 2, the runoff between the tied (first gets 0.55 of due, second 0.35).
ROUND2, TURNOUT2 = [0.55, 0.35], 0.92
CHAIR_APPROVE, CHAIR_TURNOUT = 0.88, 0.93
SOURCES = ["工会委员会提名", "会员联名推荐", "车间工会小组推荐", "上级工会推荐"]
BATCH = 500


def plan_ballots(
    rng: random.Random,
    candidates: list[str],
    seats: int,
    due: int,
    fractions: list[float],
    turnout: float,
    invalid: int,
) -> list[dict]:
    """Ballots (``{"marks", "write_ins"}``) that give candidate k ``round(fractions[k]·due)`` approvals:
    ``round(turnout·due)`` ballots, of which ``invalid`` approve seats + 1 people. Approvals are dealt
    round-robin over the valid ballots, so none approves more than ⌈Σ/valid⌉ ≤ seats (checked)."""
    took_part = round(turnout * due)
    valid = took_part - invalid
    targets = [round(f * due) for f in fractions]
    if max(targets) > valid or sum(targets) > seats * valid:
        raise ValueError("the plan does not fit the ballots")
    approvals: list[set[str]] = [set() for _ in range(valid)]
    pos = 0
    for cand, n in zip(candidates, targets, strict=True):
        for _ in range(n):
            approvals[pos % valid].add(cand)
            pos += 1
    ballots = []
    for chosen in approvals:
        assert len(chosen) <= seats
        marks = {
            c: "approve" if c in chosen else rng.choice(["disapprove", "abstain", "abstain"])
            for c in candidates
        }
        ballots.append({"marks": marks, "write_ins": []})
    over = candidates[: seats + 1]
    for _ in range(invalid):
        ballots.append({"marks": {c: "approve" for c in over}, "write_ins": []})
    rng.shuffle(ballots)
    return ballots


def runoff_ballots(
    rng: random.Random, candidates: list[str], due: int, fractions: list[float], turnout: float
) -> list[dict]:
    """Runoff ballots approving at most one of the tied (one seat)."""
    took_part = round(turnout * due)
    ballots = []
    for cand, f in zip(candidates, fractions, strict=True):
        ballots += [{"marks": {cand: "approve"}, "write_ins": []} for _ in range(round(f * due))]
    while len(ballots) < took_part:
        ballots.append({"marks": {c: "disapprove" for c in candidates}, "write_ins": []})
    rng.shuffle(ballots)
    return ballots


def load_round(rpc, election_id: str, electors: list[str], ballots: list[dict]) -> int:
    """Store ``ballots`` as cast by the first electors (in batches); returns how many."""
    rows = [{**b, "member_id": m} for m, b in zip(electors, ballots, strict=False)]
    for start in range(0, len(rows), BATCH):
        rpc.elections.load_ballots(election_id, rows[start : start + BATCH])
    return len(rows)


def committee(rpc, rng: random.Random, roster: list[str], candidates: list[str]) -> dict:
    """The committee election: set-up, nominations, round 1, the runoff, publication."""
    el = rpc.elections.create_election(
        {"union_id": UNION, "title": "2024年工会委员会换届选举", "kind": "committee", "seats": SEATS}
    )
    eid = el["election_id"]
    for c in candidates:
        rpc.elections.nominate(
            eid,
            {
                "member_id": c,
                "source": rng.choice(SOURCES),
                "supporters": rng.randint(10, 60),
                "note": "经上级工会考察，符合候选人条件",
            },
        )
    el = rpc.elections.open_voting(eid, {})
    due = el["due"]
    voters = list(roster)
    rng.shuffle(voters)
    load_round(rpc, eid, voters, plan_ballots(rng, candidates, SEATS, due, ROUND1, TURNOUT1, INVALID1))
    el = rpc.elections.close_round(eid)
    tied = el["rounds"][-1]["candidates"]
    rng.shuffle(voters)
    load_round(rpc, eid, voters, runoff_ballots(rng, [c["member_id"] for c in tied], due, ROUND2, TURNOUT2))
    rpc.elections.close_round(eid)
    return rpc.elections.publish(eid)


def chair(rpc, rng: random.Random, roster: list[str], candidate: str) -> dict:
    """The chair: 等额, one candidate, one round."""
    el = rpc.elections.create_election(
        {
            "union_id": UNION,
            "title": "2024年工会主席直接选举",
            "kind": "chair",
            "seats": 1,
            "rules": {"contested": False},
        }
    )
    eid = el["election_id"]
    rpc.elections.nominate(
        eid, {"member_id": candidate, "source": "工会委员会提名", "supporters": 0, "note": ""}
    )
    el = rpc.elections.open_voting(eid, {})
    due = el["due"]
    voters = list(roster)
    rng.shuffle(voters)
    ballots = runoff_ballots(rng, [candidate], due, [CHAIR_APPROVE], CHAIR_TURNOUT)
    load_round(rpc, eid, voters, ballots)
    rpc.elections.close_round(eid)
    return rpc.elections.publish(eid)


def load(rpc, rng: random.Random, config: dict | None = None) -> dict:
    """Load the elections demo (as the operator). Figures: electors due, elected, rounds per election."""
    roster = []
    while True:
        part = rpc.members.union_roster(UNION, len(roster), 5000)
        roster += [m["member_id"] for m in part["members"]]
        if not part["members"] or len(roster) >= part["total"]:
            break
    candidates = roster[3:14]  # the first three are the union's admins
    com = committee(rpc, rng, roster, candidates)
    top = com["elected"][0]["member_id"]
    ch = chair(rpc, rng, roster, top)
    return {
        "electors": com["due"],
        "committee_elected": len(com["elected"]),
        "committee_rounds": len(com["rounds"]),
        "chair_elected": len(ch["elected"]),
    }
