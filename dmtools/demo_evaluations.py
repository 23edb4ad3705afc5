"""Demo part: Worker Home evaluations (星级职工之家评选) from the seed articles' real runs.

- 2017 (``ev2017``): the 16 Worker Homes, member weight 40 % (40/30/30), closed and published, star
  levels set in the member registry; run by the rules of its time (no minimum participation, a home
  without ballots scored 0: ``rules`` given explicitly);
- 2018 (``ev2018``): the 16 Worker Homes, member weight 50 % (50/25/25), the default campaign rules
  (minimum participation 30 %, homes without member ballots flagged), voting open with 4,300 members'
  ballots already in and 560+ opinions; every unit and superior score entered, so the superior admin
  (``ftu-admin``) can close and publish it in two clicks. Two homes show the rules at work: nobody of
  ``u16`` has voted (flagged 无会员评价) and 15 % of ``u15`` (flagged 参评率不足). The first ten members
  of each union (among them the admins and ``M0100002``) have not voted, so they can try the star page.

Ballots are loaded in bulk through ``voting.load_ratings`` (system only; stored exactly like cast ballots:
secret ids, receipts, live tally), not one RPC each.
"""

from __future__ import annotations

import random

from .demo import FEDERATION, GRASSROOTS

VOTERS_2018 = 4300
#: 2018: homes with a set share of their members voting, to show the campaign rules (README).
QUIET_2018 = {"u16": 0.0, "u15": 0.15}
#: 2017 ran before the minimum participation existed.
RULES_2017 = {"min_participation": 0, "no_ballots": "zero"}
OPINIONS_2018 = 566
VOTERS_2017 = 3890
OPINIONS_2017 = 214
NOT_VOTING = 10  # the first members of each union keep their vote for trying the page
CHUNK = 1000

TOPICS = [
    "职工书屋",
    "健身活动室",
    "母婴关爱室",
    "职工食堂",
    "困难职工帮扶",
    "劳动竞赛",
    "技能培训",
    "厂务公开栏",
    "职工代表提案办理",
    "夏季送清凉",
    "节日慰问",
    "职工体检",
    "心理咨询室",
    "户外拓展活动",
    "一线班组休息区",
]
PRAISE = ["做得很好", "比去年有明显改善", "大家都很满意", "很实用，点赞", "服务很贴心", "坚持得不错"]
WISHES = [
    "希望延长开放时间",
    "建议增加设施和器材",
    "希望多听听一线职工的意见",
    "建议活动安排在下班后",
    "希望覆盖到倒班职工",
    "建议公开经费使用情况",
    "希望办理结果及时反馈",
    "建议增加新入职青年职工的活动",
]


def opinion(rng: random.Random) -> str:
    topic = rng.choice(TOPICS)
    kind = rng.random()
    if kind < 0.4:
        return f"{topic}{rng.choice(PRAISE)}。"
    if kind < 0.8:
        return f"{topic}{rng.choice(WISHES)}。"
    return f"{topic}{rng.choice(PRAISE)}，{rng.choice(WISHES)}。"


def spread(
    rng: random.Random, total: int, sizes: dict[str, int], quiet: dict[str, float] | None = None
) -> dict[str, int]:
    """Voters per union: uneven participation (about 0.7-1.3 × the mean), summing exactly to ``total``;
    the ``quiet`` unions get the given share of their members instead."""
    quiet = quiet or {}
    fixed = {u: int(sizes[u] * share) for u, share in quiet.items()}
    weights = {u: n * rng.uniform(0.7, 1.3) for u, n in sizes.items() if u not in quiet}
    scale = (total - sum(fixed.values())) / sum(weights.values())
    counts = {u: min(int(w * scale), sizes[u] - NOT_VOTING) for u, w in weights.items()}
    order = sorted(weights, key=lambda u: -sizes[u])
    i = 0
    while sum(counts.values()) < total - sum(fixed.values()):
        u = order[i % len(order)]
        if counts[u] < sizes[u] - NOT_VOTING:
            counts[u] += 1
        i += 1
    return {**counts, **fixed}


def ballots(rng, campaign_sizes, counts, quality, opinions_total) -> list[dict]:
    """Rating ballots: marks around each home's quality (1-5), opinions spread over the ballots."""
    out = []
    for index, (union_id, _, _) in enumerate(GRASSROOTS, start=1):
        if union_id not in counts:
            continue
        voters = rng.sample(range(NOT_VOTING + 1, campaign_sizes[union_id] + 1), counts[union_id])
        for seq in voters:
            marks = [max(1, min(5, round(rng.gauss(quality[union_id], 0.75)))) for _ in range(5)]
            out.append(
                {"member_id": f"M{index:02d}{seq:05d}", "home": union_id, "stars": marks, "opinion": None}
            )
    for b in rng.sample(out, opinions_total):
        b["opinion"] = opinion(rng)
    rng.shuffle(out)
    return out


def run_campaign(
    rpc, rng, *, campaign_id, title, year, preset, voters, opinions, sizes, publish, rules=None, quiet=None
) -> dict:
    spec = {"id": campaign_id, "title": title, "union_id": FEDERATION[0], "year": year, "preset": preset}
    rpc.voting.create_campaign({**spec, "rules": rules} if rules else spec)
    rpc.voting.open_campaign(campaign_id)
    quality = {u: rng.uniform(3.3, 4.8) for u in sizes}
    counts = spread(rng, voters, sizes, quiet)
    cast = ballots(rng, sizes, counts, quality, opinions)
    for i in range(0, len(cast), CHUNK):
        rpc.voting.load_ratings(campaign_id, cast[i : i + CHUNK])
    for union_id in sizes:
        base = quality[union_id] * 18 + rng.uniform(0, 12)
        rpc.voting.set_unit_score(
            campaign_id, union_id, {"score": round(min(99.0, base + rng.uniform(0, 6)), 1)}
        )
    rpc.voting.set_superior_scores(
        campaign_id,
        {"scores": {u: round(min(98.0, quality[u] * 17 + rng.uniform(5, 16)), 1) for u in sizes}},
    )
    if publish:
        rpc.voting.close_campaign(campaign_id)
        rpc.voting.publish_results(campaign_id)
    return {"ballots": len(cast), "opinions": opinions}


def load(rpc, rng: random.Random) -> dict:
    """Load the two campaigns (as the operator); returns the figures to print."""
    ids = [u for u, _, _ in GRASSROOTS]
    sizes = {u: int(n) for u, n in rpc.members.count_members(ids).items()}
    y2017 = run_campaign(
        rpc,
        rng,
        campaign_id="ev2017",
        title="2017年度星级职工之家评选",
        year=2017,
        preset="2017",
        voters=VOTERS_2017,
        opinions=OPINIONS_2017,
        sizes=sizes,
        publish=True,
        rules=RULES_2017,
    )
    y2018 = run_campaign(
        rpc,
        rng,
        campaign_id="ev2018",
        title="2018年度星级职工之家评选",
        year=2018,
        preset="2018",
        voters=VOTERS_2018,
        opinions=OPINIONS_2018,
        sizes=sizes,
        publish=False,
        quiet=QUIET_2018,
    )
    return {"2017 (published)": y2017, "2018 (open)": y2018}
