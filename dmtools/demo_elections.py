"""Demo part of elections (选举): the 2024 direct election of 博瑞集成电路 (u05)'s union committee and chair.

The committee: 9 seats from 11 candidates (差额, margin 5 %), every member of u05 an elector (842 in the
issue's scenario; the demo uses u05's roster as it is). Round 1: about 94 % take part, a few ballots
approve more than 9 people (invalid); eight candidates pass clearly, two tie above the majority for the
ninth seat, one stays below the majority (不过半). Round 2: a runoff between the tied two for the last
seat. The chair: 等额, one candidate (the committee's first), one round. Both published; the approvals
are fractions of the electors due, so the outcome is the same whatever the roster's size.

The appraisal (述职评议) of u01's delegates (the 120 of the congress demo's 3rd term, read from the
congress service) by u01's members: each rater rates the delegates of one delegation-sized group (20);
most delegates are rated well, three poorly (one with 不满意 from more than half of those rating them).
The 双爱双评 round over the federation: 12 nominees for 爱企业的好职工 (8 places) and 6 for 爱职工的好经理
(3 places), each with a citation; a ballot chooses at most 5 per category (the demo's voters pick up to 5
good workers and up to 2 good managers); about 60 % of the federation's members vote; published.

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


APPRAISAL_UNION = "u01"
APPRAISAL_TERM = "cg-u01-t3"  # the congress demo's term (dmtools/demo_congress.py)
GROUP = 20
POOR = 3  # delegates rated poorly; the first of them dissatisfied by more than half
COMMENTS = ["希望多到车间听取意见", "提案落实情况反馈及时", "代表职工发声积极", "联系职工不够紧密"]
FEDERATION = "ftu"
AWARD_NOMINEES = {"good_worker": 12, "good_manager": 6}
AWARD_PLACES = {"good_worker": 8, "good_manager": 3}
AWARD_K = {"good_worker": 5, "good_manager": 2}
CITATIONS = {
    "good_worker": [
        "扎根一线二十年，带出徒弟三十余名",
        "技术革新节约成本百万元",
        "抗疫保供连续奋战",
        "安全生产零事故标兵",
    ],
    "good_manager": ["推动职工工资集体协商", "坚持每月与一线职工座谈", "改善食堂和倒班宿舍条件"],
}


def roster_of(rpc, union_id: str) -> list[str]:
    out: list[str] = []
    while True:
        part = rpc.members.union_roster(union_id, len(out), 5000)
        out += [m["member_id"] for m in part["members"]]
        if not part["members"] or len(out) >= part["total"]:
            return out


def appraisal(
    rpc, rng: random.Random, subjects: list[str], raters: list[str], union_id: str = APPRAISAL_UNION
) -> dict:
    """A union's delegates appraised by its members (each rates one group of :data:`GROUP`); published."""
    ap = rpc.elections.create_appraisal(
        {
            "union_id": union_id,
            "title": "2024年度职工代表述职评议",
            "subjects": subjects,
            "threshold_pct": 60,
        }
    )
    aid = ap["appraisal_id"]
    poor = set(subjects[5 : 5 + POOR])
    groups = [subjects[i : i + GROUP] for i in range(0, len(subjects), GROUP)]
    ballots = []
    for who in raters:
        if rng.random() > 0.85:
            continue
        marks, comments = {}, {}
        for s in rng.choice(groups):
            if s == subjects[5]:
                weights = (0.15, 0.2, 0.65)
            elif s in poor:
                weights = (0.25, 0.3, 0.45)
            else:
                weights = (0.7, 0.25, 0.05)
            marks[s] = rng.choices(["satisfied", "partly", "dissatisfied"], weights)[0]
            if rng.random() < 0.02:
                comments[s] = rng.choice(COMMENTS)
        ballots.append({"member_id": who, "marks": marks, "comments": comments})
    for start in range(0, len(ballots), BATCH):
        rpc.elections.load_ratings(aid, ballots[start : start + BATCH])
    rpc.elections.close_appraisal(aid)
    return rpc.elections.publish_appraisal(aid)


def awards(rpc, rng: random.Random, people: list[str]) -> dict:
    """A 双爱双评 round over the federation: nominations with citations, a vote, the awarded published."""
    rnd = rpc.elections.create_award_round(
        {
            "union_id": FEDERATION,
            "title": "2024年度“双爱双评”",
            "k": max(AWARD_K.values()),
            "places": AWARD_PLACES,
        }
    )
    aid = rnd["award_id"]
    chosen = rng.sample(people, sum(AWARD_NOMINEES.values()))
    nominees = {
        "good_worker": chosen[: AWARD_NOMINEES["good_worker"]],
        "good_manager": chosen[AWARD_NOMINEES["good_worker"] :],
    }
    for cat, ids in nominees.items():
        for m in ids:
            rpc.elections.nominate_award(
                aid, {"category": cat, "member_id": m, "citation": rng.choice(CITATIONS[cat])}
            )
    opened = rpc.elections.open_award_vote(aid)
    weights = {cat: [rng.uniform(0.2, 1.0) for _ in ids] for cat, ids in nominees.items()}
    ballots = []
    for who in people:
        if rng.random() > 0.6:
            continue
        choices = {}
        for cat, ids in nominees.items():
            n = rng.randint(1, AWARD_K[cat])
            picked: list[str] = []
            while len(picked) < n:
                m = rng.choices(ids, weights[cat])[0]
                if m not in picked:
                    picked.append(m)
            choices[cat] = picked
        ballots.append({"member_id": who, "choices": choices})
    for start in range(0, len(ballots), BATCH):
        rpc.elections.load_award_ballots(aid, ballots[start : start + BATCH])
    closed = rpc.elections.close_award_vote(aid)
    if any(v["tied"] for v in closed["results"].values()):
        return {**closed, "due": opened["due"]}  # a tie at the last place is left for the admins to settle
    return rpc.elections.publish_awards(aid)


def load(rpc, rng: random.Random, config: dict | None = None) -> dict:
    """Load the elections demo (as the operator). Figures: electors due, elected, rounds per election,
    the appraisal's subjects and raters, the awards given."""
    roster = roster_of(rpc, UNION)
    candidates = roster[3:14]  # the first three are the union's admins
    com = committee(rpc, rng, roster, candidates)
    top = com["elected"][0]["member_id"]
    ch = chair(rpc, rng, roster, top)
    figures = {
        "electors": com["due"],
        "committee_elected": len(com["elected"]),
        "committee_rounds": len(com["rounds"]),
        "chair_elected": len(ch["elected"]),
    }
    delegates = [d["member_id"] for d in rpc.congress.list_delegates(APPRAISAL_TERM)]
    ap = appraisal(rpc, rng, delegates, roster_of(rpc, APPRAISAL_UNION))
    figures["appraisal_subjects"] = len(ap["subjects"])
    figures["appraisal_below"] = sum(1 for row in ap["results"] if row["below_threshold"])
    people = []
    for union in rpc.members.list_unions(FEDERATION, "grassroots"):
        people += roster_of(rpc, union["id"])
    aw = awards(rpc, rng, people)
    figures["awarded"] = sum(len(v["awarded"]) for v in aw["results"].values())
    return figures
