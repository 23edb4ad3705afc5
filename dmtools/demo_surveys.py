"""Demo part of worker surveys (职工问卷调查): a 职工需求调查 over the whole federation, with about 4,000
answers.

The federation's superior admin (``ftu-admin``) builds the survey from the ``needs`` template (Chinese),
sends it to every member of every union below the federation (anonymous, minimum group 5), and opens
it; then about a third of the members answer through the ordinary ``submit_response`` RPC with their
own tokens (participation 20-50 % per union), and some more leave a saved draft. The survey stays open,
so participation is live on the results page.

Answer distributions follow what the national worker surveys report as workers' main concerns (pay
first, then health, safety, training and housing; work-life balance rated "fair" to "good" by most):
ages and job kinds per union, weekly hours around 44 (production lines longer), up to three needs with
pay chosen by ~70 %, training wishes only from those who chose training (the skip logic), a ranking of
benefits, and an opinion text from about one in seven.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.auth import Actor, Grant, auth_secret, issue_token

from .config import load_config

TARGET_ANSWERS = 4000
CLIENTS = 4  # members answering at the same time (each client its own connection)
FEDERATION = "ftu"
SUPERIOR = ("M0100003", "ftu")  # the federation's superior admin (dmtools/demo.py)
NEEDS = {"o1": 0.70, "o2": 0.30, "o3": 0.35, "o4": 0.28, "o5": 0.18, "o6": 0.32, "o7": 0.15, "o8": 0.06}
BENEFITS = {"o1": 5.0, "o2": 2.0, "o3": 3.0, "o4": 2.5, "o5": 2.0}
BALANCE = [5, 13, 36, 32, 14]  # 1-5 stars
OPINIONS = [
    "希望工会多组织技能培训，最好安排在工作时间内。",
    "夜班补贴多年没有调整，希望工会和公司协商提高。",
    "食堂饭菜品种少，夜班职工吃饭不方便。",
    "希望增加子女暑期托管服务。",
    "建议每年组织一次职工体检，增加妇科和心脑血管项目。",
    "希望工会帮助解决上下班通勤问题，增开班车。",
    "车间夏季温度太高，希望改善防暑降温条件。",
    "希望多开展文体活动，丰富业余生活。",
    "希望职代会提案的办理结果能及时反馈。",
    "新员工租房压力大，希望提供人才公寓。",
]


@contextmanager
def _as(config: dict):
    secret = auth_secret(config)
    context = {"auth_token": ""}
    with ClusterRpcProxy(config, context_data=context, timeout=60) as rpc:

        def as_(actor: Actor):
            context["auth_token"] = issue_token(secret, actor, 900)
            return rpc

        yield as_


def _weighted_sample(rng: random.Random, weights: dict[str, float], k: int) -> list[str]:
    """``k`` distinct keys, drawn in order with probability proportional to their weights."""
    pool, out = dict(weights), []
    for _ in range(min(k, len(pool))):
        pick = rng.choices(list(pool), weights=list(pool.values()))[0]
        out.append(pick)
        del pool[pick]
    return out


def answers(rng: random.Random, production_share: float) -> dict:
    """One member's answers to the ``needs`` template (see the module docstring)."""
    job = rng.choices(["o1", "o2", "o3", "o4"], weights=[production_share, 0.25, 0.15, 0.10])[0]
    hours = rng.gauss(47 if job == "o1" else 42, 5)
    needs = [k for k, p in NEEDS.items() if rng.random() < p][:3] or ["o1"]
    out = {
        "q1": rng.choices(["o1", "o2", "o3", "o4"], weights=[32, 34, 22, 12])[0],
        "q2": job,
        "q3": int(min(80, max(20, round(hours)))),
        "q4": needs,
        "q6": _weighted_sample(rng, BENEFITS, 3),
        "q7": rng.choices([1, 2, 3, 4, 5], weights=BALANCE)[0],
    }
    if "o3" in needs:  # the skip logic: training wishes only from those who want training
        out["q5"] = rng.choices(["o1", "o2", "o3", "o4"], weights=[45, 20, 15, 20])[0]
    if rng.random() < 0.14:
        out["q8"] = rng.choice(OPINIONS)
    return out


def load(rpc, rng: random.Random, config: dict | None = None, target: int = TARGET_ANSWERS) -> dict:
    """Load the surveys demo (after the member registry): about ``target`` answers. Returns figures."""
    config = config or load_config()
    started = time.monotonic()
    template = rpc.surveys.get_template("needs", "zh")
    unions = [u for u in rpc.members.list_unions(FEDERATION) if u["kind"] == "grassroots"]
    rosters = {u["id"]: rpc.members.union_roster(u["id"], 0, 5000)["members"] for u in unions}
    eligible = sum(len(r) for r in rosters.values())
    share = target / max(1, eligible)
    superior = Actor(SUPERIOR[0], "总工会管理员", SUPERIOR[1], (Grant("superior_admin", FEDERATION),))
    figures = {"survey": "", "eligible": 0, "answers": 0, "drafts": 0}
    with _as(config) as as_:
        survey = as_(superior).surveys.create_survey(
            {
                **template,
                "title": "2026年度职工需求调查",
                "union_id": FEDERATION,
                "audience": {"kind": "unions", "union_ids": [FEDERATION]},
                "anonymous": True,
                "min_group": 5,
            }
        )
        opened = as_(superior).surveys.open_survey(survey["id"])
        figures.update(survey=survey["id"], eligible=opened["eligible"])
    work = []  # drawn here, in order, so the demo is the same whatever the clients' timing
    for union in unions:
        roster = rosters[union["id"]]
        rate = min(0.9, max(0.05, rng.uniform(0.65, 1.35) * share))
        production = rng.uniform(0.35, 0.6)
        for m in roster:
            roll = rng.random()
            if roll >= rate + 0.02:
                continue
            given = answers(rng, production)
            if roll >= rate:  # started, saved, not yet submitted
                given = {"q1": given["q1"], "q2": given["q2"]}
            work.append((Actor(m["member_id"], m["name"], union["id"]), given, roll < rate))
    local = threading.local()
    clients = []

    def answer(item) -> None:
        who, given, submit = item
        if not hasattr(local, "as_"):
            local.cm = _as(config)
            local.as_ = local.cm.__enter__()
            clients.append(local.cm)
        if submit:
            local.as_(who).surveys.submit_response(survey["id"], {"answers": given})
        else:
            local.as_(who).surveys.save_draft(survey["id"], {"answers": given})

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(answer, work))
    finally:
        for client in clients:
            client.__exit__(None, None, None)
    figures["answers"] = sum(1 for _, _, submit in work if submit)
    figures["drafts"] = len(work) - figures["answers"]
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures
