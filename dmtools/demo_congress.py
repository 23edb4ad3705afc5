"""Demo part of the workers' congress: 亦庄精密机械制造有限公司工会 (u01) holds its 3rd-term congress.

120 delegates drawn from u01's members in 6 delegations of 20 (18 managers: 15 %, within the 20 % limit),
the 1st session of the term closed with 85 present and three resolutions voted by secret or named ballot
through the voting service — two adopted, one failed: 52 yes is a majority of the 85 present but not more
than half of all 120 delegates (61 needed) — and the 2nd session (extraordinary) planned, nobody checked in,
for trying the console's live counts, with an election item (补选工会委员会委员: 1 seat, 2 candidates, an
election of the elections service among the delegates present at that session, in nomination and linked
to the item: check delegates in, convene and open it from the console). Ballots are cast by the delegates themselves (a token per delegate,
signed with the configured ``AUTH_SECRET``), exactly as from their phones.
"""

from __future__ import annotations

import random

from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.auth import Actor, Grant, auth_secret, issue_token

from .config import load_config

UNION = "u01"
CONGRESS = f"cg-{UNION}"
DELEGATIONS = [
    "生产一车间代表团",
    "生产二车间代表团",
    "技术研发代表团",
    "质量安全代表团",
    "经营管理代表团",
    "后勤保障代表团",
]
PER_DELEGATION = 20
MANAGERS = 18
TECHNICIANS = 22
PRESENT = 85
ELECTION_TITLE = "补选工会委员会委员"
#: (kind, title, secret, (yes, no, abstain) of the 85 present or None for a report)
AGENDA = [
    ("report", "总经理2025年度工作报告及2026年度经营计划", True, None),
    ("resolution", "关于《2026年度工资集体协商协议（草案）》的决议", True, (72, 6, 7)),
    ("resolution", "关于《职工带薪年休假实施办法（修订稿）》的决议", False, (66, 10, 9)),
    ("resolution", "关于《生产一线倒班津贴调整方案》的决议", True, (52, 21, 12)),
]


def load(rpc, rng: random.Random, config: dict | None = None) -> dict:
    """Load the congress demo through the congress RPC interface (as the operator, and each delegate).

    ``config``: the nameko config of the running services (default: config.yaml with the environment)."""
    roster = rpc.members.union_roster(UNION, 0, 5000)["members"]
    candidates = [m["member_id"] for m in roster[3:]]  # the first three are the union's admins
    chosen = sorted(rng.sample(candidates, PER_DELEGATION * len(DELEGATIONS)))
    rng.shuffle(chosen)
    categories = ["manager"] * MANAGERS + ["technician"] * TECHNICIANS
    categories += ["worker"] * (len(chosen) - len(categories))
    delegates = [
        {"member_id": m, "delegation_id": f"g{i % len(DELEGATIONS) + 1}", "category": categories[i]}
        for i, m in enumerate(chosen)
    ]
    rpc.congress.create_congress({"union_id": UNION})
    term = rpc.congress.create_term(
        CONGRESS,
        {
            "number": 3,
            "start": "2024-04-01",
            "end": "2029-03-31",
            "delegations": [{"name": n} for n in DELEGATIONS],
        },
    )
    rpc.congress.elect_delegates(term["id"], {"delegates": delegates})
    session = rpc.congress.create_session(
        term["id"],
        {
            "title": "第三届职工代表大会第一次会议",
            "scheduled_at": "2026-03-20T09:00:00+08:00",
            "agenda": [{"kind": kind, "title": title, "secret": secret} for kind, title, secret, _ in AGENDA],
        },
    )
    present = sorted(rng.sample(chosen, PRESENT))
    for member_id in present:
        rpc.congress.check_in(session["id"], {"member_id": member_id})
    rpc.congress.convene_session(session["id"])
    outcomes = {"adopted": 0, "failed": 0}
    config = config or load_config()
    secret = auth_secret(config)
    context = {"auth_token": ""}
    with ClusterRpcProxy(config, context_data=context, timeout=60) as as_delegate:
        for item, (_, _, _, votes) in zip(session["items"], AGENDA, strict=True):
            if votes is None:
                continue
            rpc.congress.open_vote(item["id"])
            yes, no, abstain = votes
            ballots = ["yes"] * yes + ["no"] * no + ["abstain"] * abstain
            voters = rng.sample(present, len(ballots))
            for member_id, choice in zip(voters, ballots, strict=True):
                actor = Actor(member_id=member_id, union_id=UNION, grants=(Grant("delegate", CONGRESS),))
                context["auth_token"] = issue_token(secret, actor, 600)
                as_delegate.congress.cast_vote(item["id"], {"choice": choice})
            outcomes[rpc.congress.close_vote(item["id"])["state"]] += 1
    rpc.congress.close_session(session["id"])
    planned = rpc.congress.create_session(
        term["id"],
        {
            "title": "第三届职工代表大会第二次会议（临时会议）",
            "kind": "extraordinary",
            "scheduled_at": "2026-12-04T14:00:00+08:00",
            "agenda": [  # with the text, time and place delegates read beforehand (issue 16)
                {
                    "kind": "report",
                    "title": "关于厂区搬迁职工安置工作的情况通报",
                    "secret": True,
                    "description": "通报厂区搬迁进度、职工安置意向摸底结果和班车、宿舍安排。",
                    "starts_at": "2026-12-04T14:00:00+08:00",
                    "place": "行政楼三楼礼堂",
                },
                {
                    "kind": "resolution",
                    "title": "关于《厂区搬迁职工安置方案》的决议",
                    "secret": True,
                    "description": "大会审议通过《厂区搬迁职工安置方案》：随迁职工发放交通补贴，不随迁职工依法"
                    "协商解除劳动合同并支付经济补偿。",
                    "starts_at": "2026-12-04T15:00:00+08:00",
                    "place": "行政楼三楼礼堂",
                },
                {"kind": "election", "title": ELECTION_TITLE, "secret": True},
            ],
        },
    )
    election = rpc.elections.create_election(
        {
            "union_id": UNION,
            "title": ELECTION_TITLE,
            "kind": "committee",
            "seats": 1,
            "electorate": "session",
            "session_id": planned["id"],
        }
    )
    for member_id in chosen[:2]:
        rpc.elections.nominate(election["election_id"], {"member_id": member_id, "source": "大会主席团提名"})
    rpc.congress.link_election(planned["items"][-1]["id"], {"election_id": election["election_id"]})
    return {
        "congress": CONGRESS,
        "delegates": len(chosen),
        "present": PRESENT,
        **outcomes,
        "delegate_login": present[0],
        "session_election": election["election_id"],
    }
