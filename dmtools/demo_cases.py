"""Demo part of worker requests (接诉即办): a year of cases for the 16 grassroots unions.

About 1,500 cases over the last twelve months, spread over the unions by their member counts (the
seed's proportions): 55 % filed online by members at their own union, 40 % calls to the federation's
12351 hotline (`hotline`, M0100004, hotline staff of the federation), 5 % visits to a union; dispatched
to the employer's union (most), handled at the district level (分级主办) or transferred down with a
reason; signed for, contacted, replied mostly within their limits (some late), rated (不满意 reopens
once), callers rated at the return visit. Recent cases are in every state; a few recent ones stalled
past their limit and are escalated (督办) by the limit round; one cluster (6 wage-arrears requests at
华冠食品饮料 u08 within 20 days) raises a 未诉先办 alert. The history is taken over with
``cases.replay_cases`` (the ordinary use cases at the original times, without notifications), then
``cases.recount_indicators`` builds the counters and alerts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from . import demo
from .names import mobile, person

TOTAL = 1500
CST = timezone(timedelta(hours=8))
HOTLINE = {"member_id": "M0100004", "name": "12351热线", "role": "hotline_staff", "scope": demo.FEDERATION[0]}
SUPERIOR = {
    "member_id": "M0100003",
    "name": "总工会权益保障部",
    "role": "superior_admin",
    "scope": demo.FEDERATION[0],
}
CLUSTER_UNION = "u08"

#: category → (weight, [(title, description)], [reply])
TEXTS: dict[str, tuple[int, list[tuple[str, str]], list[str]]] = {
    "wage_arrears": (
        22,
        [
            (
                "拖欠两个月工资",
                "公司以资金紧张为由，已连续两个月未发放工资，车间二十多名工人受影响，多次向主管反映无果。",
            ),
            ("离职后工资未结清", "本人上月办理离职，公司承诺月底结清工资，至今未付，人事部门电话不接。"),
            ("绩效工资无故扣发", "本季度绩效工资被扣发一半，公司未说明考核依据，也未告知本人。"),
            ("劳务派遣工资迟发", "派遣公司每月迟发工资十天以上，用工单位说与其无关。"),
        ],
        [
            "经工会协调，企业已制定欠薪清偿计划，承诺于本月25日前全部补发，工会将跟踪落实。",
            "工会约谈企业负责人，企业已于三日内结清您的工资，请核对到账情况。",
            "经核实，企业已补发扣发的绩效工资并书面说明考核办法，今后考核结果将在班组公示。",
        ],
    ),
    "overtime_pay": (
        14,
        [
            (
                "周末加班没有加班费",
                "近三个月每周六都安排加班，公司只给调休，但调休一直安排不了，也不支付加班费。",
            ),
            ("加班费计算基数过低", "公司按最低工资标准计算加班费，而不是按实际工资，差额较大。"),
            ("法定节假日加班未按三倍支付", "国庆期间安排我们上班，工资只按平时标准发放。"),
        ],
        [
            "依据《劳动法》第四十四条，企业已同意按实际工资补足加班费差额，并调整计算办法。",
            "经协调，企业将节假日加班工资按300%补发，补发款随下月工资发放。",
        ],
    ),
    "labour_contract": (
        12,
        [
            (
                "入职半年未签劳动合同",
                "入职已经六个月，公司一直没有和我签订书面劳动合同，询问后说试用期不用签。",
            ),
            ("合同到期不续签也不补偿", "劳动合同下月到期，公司通知不再续签，但不提经济补偿。"),
            ("单方面调岗降薪", "公司未经协商把我从技术岗调到后勤岗，工资降了三成。"),
        ],
        [
            "企业已与您补签书面劳动合同，并依法支付未签合同期间的二倍工资差额。",
            "经工会协调，企业同意按《劳动合同法》第四十六条支付经济补偿。",
            "企业已撤销调岗决定，恢复原岗位和工资待遇。",
        ],
    ),
    "social_insurance": (
        12,
        [
            ("公司未缴社保", "查询社保记录发现公司从去年起就没有给我缴纳养老和医疗保险。"),
            ("按最低基数缴纳社保", "公司一直按最低基数给员工缴纳社保，与实际工资不符。"),
            ("工伤认定材料公司不配合", "上月在车间受伤，公司不愿提供工伤认定所需材料。"),
        ],
        [
            "企业已为您补缴欠缴的社会保险费，请登录社保平台查询。",
            "工会已协助您向人社部门提交工伤认定申请，企业已提供事故证明。",
        ],
    ),
    "dismissal": (
        9,
        [
            ("被无故辞退", "主管口头通知我明天不用来上班了，没有任何书面通知和理由。"),
            ("孕期被劝退", "怀孕后公司以岗位调整为由劝我主动离职。"),
        ],
        [
            "经工会介入，企业撤回违法解除决定，您已恢复上岗。",
            "依据《女职工劳动保护特别规定》，企业不得因怀孕解除劳动合同，企业已书面撤回劝退意见。",
        ],
    ),
    "safety": (
        10,
        [
            ("车间通风差气味刺鼻", "喷涂车间排风设备坏了两周没修，工人头晕恶心。"),
            ("没有发放劳动防护用品", "焊接岗位一直没有发放防护面罩和手套，只能自己买。"),
            ("高温天气仍安排露天作业", "连续高温天气，中午仍安排露天装卸，也没有防暑降温费。"),
        ],
        [
            "企业已维修排风设备并请第三方检测，检测结果已在车间公示。",
            "企业已为焊接岗位配齐防护用品，并纳入每月安全检查。",
            "企业已调整高温时段作业安排，并按标准发放防暑降温费。",
        ],
    ),
    "welfare": (
        8,
        [
            ("取消夜班餐补", "公司本月起取消夜班餐补，没有经过职代会讨论。"),
            ("带薪年休假不批", "申请年休假多次被拒，说生产忙，年底也不给折算。"),
        ],
        [
            "夜班餐补调整事项将提交职工代表大会审议，审议前维持原标准。",
            "企业已同意安排您的年休假，未休天数按规定折算工资。",
        ],
    ),
    "union_services": (
        8,
        [
            ("咨询困难职工帮扶申请", "家里老人重病，想了解工会困难职工帮扶的申请条件和材料。"),
            ("会员卡优惠无法使用", "工会会员服务卡在合作药店无法享受优惠。"),
            ("咨询法律援助", "想咨询工会是否提供免费的劳动争议法律援助。"),
        ],
        [
            "已向您说明困难职工帮扶的申请条件和所需材料，基层工会将协助您申请。",
            "已联系合作商户恢复会员优惠，并在会员服务平台更新了商户名单。",
            "工会职工法律服务中心提供免费法律咨询和援助，已为您预约律师。",
        ],
    ),
    "other": (
        5,
        [
            ("建议增设职工书屋开放时间", "职工书屋只在工作日白天开放，倒班职工无法使用，建议晚上也开放。"),
            ("通勤班车线路建议", "建议增加一条到亦庄线地铁站的通勤班车。"),
        ],
        [
            "感谢您的建议，职工书屋将于下月起延长至晚上八点开放。",
            "已将班车线路建议转交企业行政部门，企业将于下季度调整线路。",
        ],
    ),
}
TYPES = [("complaint", 35), ("resolution", 35), ("inquiry", 22), ("suggestion", 8)]


def _pick(rng: random.Random, weighted):
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights)[0]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _working_time(rng: random.Random, day: datetime) -> datetime:
    """A time between 08:30 and 20:00 China time on ``day``'s date."""
    local = day.astimezone(CST).replace(hour=8, minute=30, second=0, microsecond=0)
    return (local + timedelta(minutes=rng.randint(0, 690))).astimezone(UTC)


def staff(union_id: str) -> dict:
    index = [u[0] for u in demo.GRASSROOTS].index(union_id) + 1
    return {"member_id": f"M{index:02d}00001", "name": "工会主席", "role": "union_admin", "scope": union_id}


def plan(rng: random.Random, now: datetime, members: dict[str, list[dict]]) -> list[dict]:
    """The replay specs of the year (oldest first)."""
    unions = list(members)
    weights = [len(members[u]) for u in unions]
    specs = []
    recent: dict[tuple[str, str], list[datetime]] = {}
    categories = [(k, v[0]) for k, v in TEXTS.items()]
    for i in range(TOTAL):
        at = _working_time(rng, now - timedelta(days=365 * (1 - i / TOTAL) ** 1.1))
        union_id = rng.choices(unions, weights)[0]
        for _ in range(20):  # no accidental 未诉先办 cluster: at most 3 of a category per union in 30 days
            category = _pick(rng, categories)
            seen = [t for t in recent.get((union_id, category), []) if at - t < timedelta(days=30)]
            if len(seen) < 3 and not (union_id == CLUSTER_UNION and category == "wage_arrears"):
                break
        recent[(union_id, category)] = [*seen, at]
        specs.append(one(rng, now, at, union_id, members, category=category))
    cluster_start = now - timedelta(days=19)
    for k in range(6):
        at = _working_time(rng, cluster_start + timedelta(days=3 * k))
        specs.append(one(rng, now, at, CLUSTER_UNION, members, category="wage_arrears", online=True))
    specs.sort(key=lambda s: s["at"])
    return specs


def one(rng, now, at, union_id, members, category=None, online=None) -> dict:
    category = category or _pick(rng, [(k, v[0]) for k, v in TEXTS.items()])
    title, description = rng.choice(TEXTS[category][1])
    case_type = "suggestion" if category == "other" else _pick(rng, TYPES)
    channel = (
        ("online" if rng.random() < 0.55 else _pick(rng, [("phone", 8), ("visit", 1)]))
        if online is None
        else "online"
    )
    worker = rng.choice(members[union_id])
    case = {
        "case_type": case_type,
        "category": category,
        "title": title,
        "description": description,
        "employer": {"union_id": union_id},
    }
    if channel == "online":
        case["phone"] = worker.get("phone") or mobile(rng)
        by = {"member_id": worker["id"], "name": worker["name"], "union_id": union_id}
        receiving, receiver = union_id, staff(union_id)
        spec = {"case": case, "at": _iso(at), "by": by}
    else:
        name = person(rng)[0]
        case.update(channel=channel, phone=None, caller={"name": name, "phone": mobile(rng)})
        if channel == "phone":
            receiving, receiver = demo.FEDERATION[0], HOTLINE
        else:
            receiving, receiver = union_id, staff(union_id)
        spec = {"case": case, "at": _iso(at), "by": receiver, "union_id": receiving}
        by = None
    steps: list[dict] = []
    t = at

    def step(action, delay_h, who, data=None) -> bool:
        nonlocal t
        t = t + timedelta(hours=delay_h)
        if t >= now:
            return False
        steps.append({"action": action, "at": _iso(t), "by": who, "data": data or {}})
        return True

    area = next(a for u, _, a in demo.GRASSROOTS if u == union_id)
    complexity = _pick(rng, [("general", 75), ("difficult", 20), ("complex", 5)])
    r = rng.random()
    handler = staff(union_id)
    stalled = now - at < timedelta(days=45) and rng.random() < 0.02
    if receiving == demo.FEDERATION[0] and r < 0.12:  # 分级主办: the district handles it
        target, handler = area, HOTLINE
    else:
        target = union_id
    spec["steps"] = steps
    if now - at < timedelta(days=2) and rng.random() < 0.3:  # waiting for dispatch (待派单)
        return spec
    if not step("dispatch", rng.uniform(0.2, 3), receiver, {"union_id": target, "complexity": complexity}):
        return spec
    if receiving == demo.FEDERATION[0] and target == area and rng.random() < 0.4:
        if not step(
            "transfer",
            rng.uniform(2, 30),
            HOTLINE,
            {"union_id": union_id, "reason": "经核实属企业内部问题，转基层工会属地办理"},
        ):
            return spec
        handler = staff(union_id)
    if stalled:
        step("check", (now - t).total_seconds() / 3600 - 0.01, None)
        return spec
    late = rng.random() < 0.04
    if not step("sign_for", rng.uniform(0.2, 1.5) if rng.random() > 0.1 else rng.uniform(6, 30), handler):
        return spec
    if not step(
        "contact",
        rng.uniform(1, 8) if rng.random() > 0.05 else rng.uniform(30, 60),
        handler,
        {"method": "phone"},
    ):
        return spec
    if rng.random() < 0.25:
        step(
            "note", rng.uniform(2, 24), handler, {"text": "已与企业人事部门初步沟通，企业表示愿意协商解决。"}
        )
    limit = {"general": 5, "difficult": 15, "complex": 30}[complexity]
    if complexity != "general" and rng.random() < 0.6:
        step(
            "interim_reply",
            rng.uniform(24, 24 * 4),
            handler,
            {"text": "您的诉求正在办理中，工会已与企业进行第一轮协商，近期将给您正式答复。"},
        )
    replies = TEXTS[category][2]
    reply_after = rng.uniform(24, 24 * limit * 1.1) if not late else 24 * (limit * 1.4 + 3)
    if rng.random() < 0.03 and supervise_ok(t, now):
        step("supervise", rng.uniform(24, 48), SUPERIOR, {"note": "请加快办理进度，按时答复诉求人"})
    if late:
        step("check", reply_after - 1, None)
        reply_after = 1
    if not step("reply", reply_after, handler, {"text": rng.choice(replies)}):
        return spec
    for round_no in (1, 2):
        sat = _pick(
            rng,
            [("satisfied", 78), ("partly", 15), ("dissatisfied", 7)]
            if round_no == 1
            else [("satisfied", 50), ("partly", 35), ("dissatisfied", 15)],
        )
        rating = {"satisfaction": sat, "resolved": sat != "dissatisfied" and rng.random() < 0.93}
        if by is not None:
            if not step("rate", rng.uniform(4, 72), by, rating):
                return spec
        else:
            visit = {"text": "电话回访诉求人，了解办理结果。", **rating}
            if not step("follow_up", rng.uniform(24, 96), HOTLINE, visit):
                return spec
        if sat != "dissatisfied" or round_no == 2:
            break
        if not step("sign_for", rng.uniform(0.5, 3), handler):
            return spec
        if not step("contact", rng.uniform(1, 6), handler, {"method": "visit"}):
            return spec
        if not step(
            "reply",
            rng.uniform(24, 24 * limit),
            handler,
            {"text": "针对您的意见，工会再次与企业协商，" + rng.choice(replies)},
        ):
            return spec
    if by is not None and rng.random() < 0.3:
        step("follow_up", rng.uniform(24, 24 * 7), HOTLINE, {"text": "回访：诉求人对办理结果表示认可。"})
    return spec


def supervise_ok(t: datetime, now: datetime) -> bool:
    return now - t > timedelta(days=3)


def load(rpc, rng: random.Random) -> dict:
    """Grant the hotline role, replay the year, recount. Returns ``{"cases", "seconds"}``."""
    import time

    started = time.perf_counter()
    rpc.members.grant_role(
        {"member_id": HOTLINE["member_id"], "role": "hotline_staff", "scope": HOTLINE["scope"]}
    )
    rpc.members.set_password(
        {"member_id": HOTLINE["member_id"], "login": "hotline", "new_password": demo.DEMO_PASSWORD}
    )
    members: dict[str, list[dict]] = {}
    for index, (union_id, _, _) in enumerate(demo.GRASSROOTS, start=1):
        count = rpc.members.get_union(union_id)["member_count"]
        ids = [
            f"M{index:02d}{n:05d}" for n in rng.sample(range(10, max(count, 60)), min(60, max(count - 10, 1)))
        ]
        found = rpc.members.get_members(ids)
        members[union_id] = [{"id": m["id"], "name": m["name"], "phone": m.get("phone")} for m in found] or [
            {"id": f"M{index:02d}00005", "name": person(rng)[0], "phone": None}
        ]
    specs = plan(rng, datetime.now(UTC), members)
    prepared = time.perf_counter()
    done = 0
    for start in range(0, len(specs), 100):
        done += len(rpc.cases.replay_cases(specs[start : start + 100])["cases"])
    replayed = time.perf_counter()
    counted = rpc.cases.recount_indicators()
    end = time.perf_counter()
    return {
        "cases": done,
        "counters": counted["counters"],
        "seconds": round(end - started, 1),
        "replay_s": round(replayed - prepared, 1),
        "recount_s": round(end - replayed, 1),
    }
