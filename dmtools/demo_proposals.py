"""Demo part of delegate proposals: the proposals of u01's 3rd-term 1st session (March 2026), and a few
drafts in the 2nd session's open collection.

60 proposals on canteen, shifts, safety gear, training, housing and wages, spread over every state:
drafts collecting co-signers, submitted ones awaiting review, converted to suggestions, not accepted
(with the reason), accepted awaiting assignment, with the departments (four past their deadline), replied
awaiting the rating, closed (three after a dissatisfied first round, and late replies among them), five
marked excellent. Every step is made through the proposals RPC by the person who takes it (a token per
delegate, admin and department handler, as from their phones); the times are then moved into the past
with ``backdate`` between the steps, so that the history reads like a real year: submitted in March,
reviewed a week later, replies within or after 20 days.

Logins (password demo1234): the union admin ``admin01`` reviews; ``M0100002`` handles the first
department's inbox, and the handlers of u01's other departments are printed in the figures; the delegate
in ``delegate_login`` has proposals in every state and an invitation to co-sign.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.auth import Actor, Grant, auth_secret, issue_token, service_actor

from .config import load_config

UNION = "u01"
CONGRESS = f"cg-{UNION}"
ADMIN = "M0100001"
#: (category, subject, reasons, measures, preferred department names)
SUBJECTS = [
    (
        "welfare",
        "关于延长职工食堂夜班供餐时间的提案",
        "夜班职工凌晨下班时食堂已停止供餐，只能吃冷食或外卖，影响身体健康。",
        "建议食堂夜宵供应延长至凌晨两点，并增加热食品种。",
        ("后勤保障部",),
    ),
    (
        "welfare",
        "关于改善食堂菜品质量和价格公示的提案",
        "近期食堂菜品重复率高、分量不稳定，价格调整未提前告知职工。",
        "建议每周公示菜单和价格，设立职工伙食委员会参与监督。",
        ("后勤保障部",),
    ),
    (
        "welfare",
        "关于在二号厂区增设职工就餐点的提案",
        "二号厂区距食堂步行约十五分钟，午休时间就餐十分紧张。",
        "建议在二号厂区设立配餐点，或错峰安排午餐时间。",
        ("后勤保障部", "行政办公室"),
    ),
    (
        "welfare",
        "关于食堂增设清真窗口的提案",
        "我厂少数民族职工有四十余人，目前食堂没有清真饭菜。",
        "建议设立清真窗口或与周边清真餐厅合作配餐。",
        ("后勤保障部",),
    ),
    (
        "production",
        "关于优化四班三运转倒班制度的提案",
        "现行倒班方式连续夜班天数过多，职工疲劳明显，差错率上升。",
        "建议改为四班三运转，连续夜班不超过三天，并征求班组意见。",
        ("生产部", "人力资源部"),
    ),
    (
        "production",
        "关于倒班职工交接班时间调整的提案",
        "交接班安排在早七点，住得远的职工需五点出门，公共交通尚未运营。",
        "建议交接班时间调整为早八点，或增开早班通勤车。",
        ("生产部", "行政办公室"),
    ),
    (
        "wages",
        "关于提高夜班津贴标准的提案",
        "夜班津贴标准多年未调整，已低于本地区同行业平均水平。",
        "建议参照本地区同行业水平，将夜班津贴提高至每班四十元。",
        ("人力资源部", "财务部"),
    ),
    (
        "production",
        "关于节假日轮休安排提前公布的提案",
        "节假日值班安排往往在节前两三天才公布，职工难以安排家庭事务。",
        "建议节假日轮休表至少提前两周公布，并允许职工之间申请调换。",
        ("生产部", "人力资源部"),
    ),
    (
        "safety",
        "关于更换一线岗位劳保鞋的提案",
        "现配发的劳保鞋防砸性能达标，但防滑性能差，冬季车间地面湿滑易摔倒。",
        "建议更换为防砸防滑款，并按岗位增加配发数量。",
        ("安全环保部",),
    ),
    (
        "safety",
        "关于焊接岗位配发电动送风呼吸器的提案",
        "焊接烟尘浓度在夏季超过限值，普通口罩防护不足。",
        "建议为焊接岗位配发电动送风呼吸器，并加强车间通风。",
        ("安全环保部", "生产部"),
    ),
    (
        "safety",
        "关于冲压车间噪声治理和耳塞配发的提案",
        "冲压车间噪声长期在九十分贝以上，部分职工出现听力下降。",
        "建议对冲压设备加装隔音罩，按季度配发降噪耳罩并组织听力检查。",
        ("安全环保部",),
    ),
    (
        "safety",
        "关于夏季高温岗位防暑降温措施的提案",
        "热处理车间夏季温度超过三十五度，防暑物品发放不及时。",
        "建议增设移动空调和休息室，按时足额发放高温津贴和防暑用品。",
        ("安全环保部", "后勤保障部"),
    ),
    (
        "safety",
        "关于完善厂区夜间照明的提案",
        "厂区东侧道路和停车场夜间照明不足，职工夜班上下班存在安全隐患。",
        "建议增设路灯和监控，定期检查照明设施。",
        ("后勤保障部", "安全环保部"),
    ),
    (
        "safety",
        "关于定期更换安全帽的提案",
        "部分安全帽已使用超过三年，帽壳老化开裂，仍在使用。",
        "建议建立安全帽台账，按使用年限强制更换。",
        ("安全环保部",),
    ),
    (
        "training",
        "关于开展数控技能等级培训的提案",
        "新引进的五轴数控设备操作人员不足，职工希望取得技能等级证书。",
        "建议与职业院校合作开设数控培训班，考取证书给予补贴。",
        ("人力资源部", "技术研发部"),
    ),
    (
        "training",
        "关于建立师带徒津贴制度的提案",
        "老师傅带徒弟投入大量精力，但没有任何补贴和考核认可。",
        "建议设立师带徒津贴，徒弟考核合格后给予师傅奖励。",
        ("人力资源部",),
    ),
    (
        "training",
        "关于新员工安全培训增加实操内容的提案",
        "新员工安全培训以课堂讲授为主，缺少实际操作演练。",
        "建议增加消防器材使用、急救和设备停机实操演练。",
        ("安全环保部", "人力资源部"),
    ),
    (
        "training",
        "关于支持职工学历提升的提案",
        "不少青年职工有提升学历的愿望，但学费负担较重。",
        "建议对取得学历的职工报销部分学费，考试期间给予假期。",
        ("人力资源部",),
    ),
    (
        "welfare",
        "关于增加青年职工公寓房源的提案",
        "现有职工公寓排队时间超过一年，新入职青年职工租房成本高。",
        "建议与园区公租房对接，增加青年职工公寓房源。",
        ("行政办公室", "后勤保障部"),
    ),
    (
        "welfare",
        "关于职工宿舍安装空调和热水器的提案",
        "三号宿舍楼没有空调，热水供应时间短，夏季休息质量差。",
        "建议为三号宿舍楼加装空调和热水器，延长热水供应时间。",
        ("后勤保障部",),
    ),
    (
        "welfare",
        "关于发放住房补贴的提案",
        "本地房租上涨明显，未入住公寓的职工没有任何住房补贴。",
        "建议为未入住公寓的职工每月发放住房补贴。",
        ("人力资源部", "财务部"),
    ),
    (
        "welfare",
        "关于改善宿舍区网络的提案",
        "宿舍区网络信号弱，职工下班后与家人视频通话经常中断。",
        "建议在宿舍区铺设无线网络，并与运营商协商优惠套餐。",
        ("行政办公室",),
    ),
    (
        "wages",
        "关于建立工资正常增长机制的提案",
        "近三年一线职工工资增幅低于企业效益增幅。",
        "建议通过工资集体协商建立与效益挂钩的正常增长机制。",
        ("人力资源部", "财务部"),
    ),
    (
        "wages",
        "关于加班费计算基数的提案",
        "加班费按基本工资计算，未包括岗位津贴，与规定不符。",
        "建议按照劳动法规定核定加班费计算基数，补发差额。",
        ("人力资源部", "财务部"),
    ),
    (
        "wages",
        "关于工资条明细公开的提案",
        "工资条只有总额，职工无法核对绩效、津贴和扣款项目。",
        "建议工资条列明各项目明细，可在手机上查询。",
        ("人力资源部", "财务部"),
    ),
    (
        "wages",
        "关于技能人才薪酬倾斜的提案",
        "高级工和技师的工资与普通工差距很小，影响职工学技术的积极性。",
        "建议按技能等级设置技能津贴，向关键岗位倾斜。",
        ("人力资源部",),
    ),
    (
        "wages",
        "关于年终奖分配办法公开的提案",
        "年终奖分配办法不透明，各部门差距大，职工意见较多。",
        "建议年终奖分配办法经职代会审议并向全体职工公开。",
        ("人力资源部", "财务部"),
    ),
    (
        "welfare",
        "关于增开职工通勤班车线路的提案",
        "南部新城居住的职工越来越多，现有班车不经过该区域。",
        "建议增开南部新城班车线路，并根据倒班时间安排车次。",
        ("行政办公室",),
    ),
    (
        "welfare",
        "关于建设职工子女暑期托管班的提案",
        "暑期双职工家庭子女无人照看，职工上班时十分牵挂。",
        "建议工会与企业合作举办暑期托管班。",
        ("行政办公室",),
    ),
    (
        "welfare",
        "关于设立母婴室的提案",
        "哺乳期女职工没有合适的哺乳场所。",
        "建议在办公楼和车间各设一间母婴室，配备冰箱和沙发。",
        ("后勤保障部", "行政办公室"),
    ),
    (
        "welfare",
        "关于增加职工体检项目的提案",
        "年度体检项目较少，不包括职业病相关检查。",
        "建议增加肺功能、听力等与岗位相关的体检项目。",
        ("人力资源部", "安全环保部"),
    ),
    (
        "welfare",
        "关于改善职工健身活动场地的提案",
        "厂区没有职工健身场所，职工文体活动较少。",
        "建议利用闲置仓库改建职工活动中心。",
        ("行政办公室", "后勤保障部"),
    ),
    (
        "production",
        "关于车间休息区配置饮水设备的提案",
        "装配车间距离饮水点较远，职工喝水要走很长一段路。",
        "建议在各车间休息区配置直饮水机。",
        ("后勤保障部", "生产部"),
    ),
    (
        "production",
        "关于设备维修响应时间的提案",
        "设备故障报修后维修人员往往半天才到，影响生产进度和计件收入。",
        "建议建立设备维修响应时限制度，停机损失不影响职工计件工资。",
        ("生产部", "技术研发部"),
    ),
    (
        "production",
        "关于合理化建议奖励办法的提案",
        "职工提出的合理化建议采纳后没有反馈，也没有奖励。",
        "建议制定合理化建议奖励办法，按产生的效益给予奖励。",
        ("技术研发部", "生产部"),
    ),
    (
        "production",
        "关于降低包装线劳动强度的提案",
        "包装线需人工搬运二十公斤纸箱，职工腰肌劳损多发。",
        "建议增加助力机械手或自动码垛设备。",
        ("生产部", "技术研发部"),
    ),
    (
        "democracy",
        "关于厂务公开栏定期更新的提案",
        "车间厂务公开栏内容长期未更新，职工不了解企业经营情况。",
        "建议厂务公开栏每月更新，重大事项同时在手机上公开。",
        ("行政办公室",),
    ),
    (
        "democracy",
        "关于职工代表列席经营例会的提案",
        "职工代表对企业经营决策了解不够，难以反映职工意见。",
        "建议每季度邀请职工代表列席经营例会。",
        ("行政办公室",),
    ),
    (
        "democracy",
        "关于提案办理结果公开的提案",
        "往年提案办理结果只反馈给提案人，其他职工不知道。",
        "建议提案办理结果在职代会上通报并在厂务公开栏公示。",
        ("行政办公室",),
    ),
    (
        "safety",
        "关于叉车作业区域划线隔离的提案",
        "仓库叉车与行人通道混行，多次发生险情。",
        "建议划设人车分流通道，设置隔离栏和警示灯。",
        ("安全环保部", "生产部"),
    ),
    (
        "safety",
        "关于化学品仓库通风改造的提案",
        "化学品仓库通风不良，进入时有刺激性气味。",
        "建议进行通风改造并安装气体检测报警装置。",
        ("安全环保部",),
    ),
    (
        "safety",
        "关于配备急救箱和除颤仪的提案",
        "车间急救箱药品过期，厂区没有自动除颤仪。",
        "建议定期检查急救箱，在人员密集处配备除颤仪并培训使用。",
        ("安全环保部", "后勤保障部"),
    ),
    (
        "training",
        "关于班组长管理能力培训的提案",
        "新任班组长缺乏管理经验，班组矛盾处理不当。",
        "建议每年组织班组长管理能力培训。",
        ("人力资源部",),
    ),
    (
        "training",
        "关于建立职工书屋的提案",
        "职工业余学习资源少，希望有读书学习的场所。",
        "建议在活动中心设立职工书屋，配备专业书籍和电子阅读设备。",
        ("行政办公室",),
    ),
    (
        "wages",
        "关于高温津贴足额发放的提案",
        "部分外包岗位职工没有领到高温津贴。",
        "建议核查高温津贴发放范围，确保所有在岗职工足额发放。",
        ("人力资源部", "财务部"),
    ),
    (
        "wages",
        "关于全员加薪百分之五十的提案",
        "物价上涨，职工生活压力大。",
        "建议全体职工工资一次性上调百分之五十。",
        ("人力资源部",),
    ),
    (
        "welfare",
        "关于职工生日慰问的提案",
        "职工生日时没有任何慰问，归属感不强。",
        "建议工会为职工发放生日蛋糕券或生日慰问品。",
        ("行政办公室",),
    ),
    (
        "welfare",
        "关于停车位紧张问题的提案",
        "厂区停车位不足，职工车辆只能停在路边，多次被贴罚单。",
        "建议规划职工停车场，优先保障倒班职工停车。",
        ("后勤保障部", "行政办公室"),
    ),
    (
        "production",
        "关于更新装配线老旧工装夹具的提案",
        "装配线部分夹具磨损严重，影响装配精度，返工多。",
        "建议对老旧工装夹具进行评估更新。",
        ("技术研发部", "生产部"),
    ),
    (
        "production",
        "关于车间更衣室扩容的提案",
        "车间更衣柜数量不足，多名职工共用一个柜子。",
        "建议扩建更衣室，做到一人一柜。",
        ("后勤保障部",),
    ),
    (
        "training",
        "关于开展安全生产知识竞赛的提案",
        "职工安全知识掌握不够扎实，安全培训形式单一。",
        "建议每年举办安全生产知识竞赛，以赛促学。",
        ("安全环保部",),
    ),
    (
        "welfare",
        "关于困难职工帮扶常态化的提案",
        "困难职工帮扶只在春节慰问，平时遇到困难缺少帮助。",
        "建议建立困难职工档案，实行动态帮扶。",
        ("行政办公室", "人力资源部"),
    ),
    (
        "democracy",
        "关于设立职工意见箱和线上反映渠道的提案",
        "职工反映问题渠道少，意见难以直接传达。",
        "建议设立意见箱和线上反映渠道，并限时答复。",
        ("行政办公室",),
    ),
    (
        "wages",
        "关于计件单价调整征求职工意见的提案",
        "计件单价调整时没有征求职工意见，部分工序单价明显偏低。",
        "建议计件单价调整前经班组讨论并报职代会备案。",
        ("人力资源部", "生产部"),
    ),
    (
        "safety",
        "关于登高作业安全带更换的提案",
        "部分安全带织带磨损，挂钩锈蚀。",
        "建议全面检查登高作业安全带，不合格的立即更换。",
        ("安全环保部",),
    ),
    (
        "welfare",
        "关于职工疗休养的提案",
        "一线职工长期倒班，身心疲惫，从未参加过疗休养。",
        "建议每年组织一线职工分批疗休养。",
        ("人力资源部", "行政办公室"),
    ),
    (
        "training",
        "关于质量管理小组活动经费的提案",
        "质量管理小组开展活动没有经费，成果也没有奖励。",
        "建议设立质量管理小组活动经费和成果奖励。",
        ("质量管理部", "技术研发部"),
    ),
    (
        "production",
        "关于质量检验标准统一的提案",
        "不同班次检验员掌握标准不一，同一产品判定结果不同。",
        "建议统一检验标准并开展检验员比对培训。",
        ("质量管理部",),
    ),
    (
        "other",
        "关于厂区绿化和环境整治的提案",
        "厂区部分空地杂草丛生，垃圾清运不及时。",
        "建议制定厂区绿化规划，增加垃圾清运频次。",
        ("后勤保障部",),
    ),
    (
        "other",
        "关于举办职工运动会的提案",
        "企业多年未举办职工运动会，职工之间交流少。",
        "建议每年秋季举办职工运动会。",
        ("行政办公室",),
    ),
]
#: What happens to the proposals, in order of SUBJECTS (60): counts per final state.
PLAN = (
    ["closed"] * 17
    + ["closed_round2"] * 3
    + ["replied"] * 7
    + ["assigned"] * 8
    + ["overdue"] * 4
    + ["accepted"] * 4
    + ["submitted"] * 5
    + ["converted"] * 5
    + ["rejected"] * 4
    + ["draft"] * 3
)
REPLY_TEXT = "经研究，{dep}已制定落实方案：{measure}相关工作已列入本年度计划，由专人负责，预计在两个月内完成，届时向职工代表通报。"
SECOND_REPLY = "针对提案人再次提出的意见，{dep}补充落实如下：已明确完成时限和责任人，本月底前完成，并邀请提案人现场查看。"
REJECT_REASONS = [
    "该事项已在工资集体协议中约定，不予立案",
    "建议内容超出企业当前承受能力，不予立案",
    "该事项属个人诉求，已转相关部门个别处理",
    "该事项已在本年度计划中安排，不予重复立案",
]


@contextmanager
def actors(config: dict):
    """``as_(actor)`` → a proxy carrying that actor's token (signed with the configured secret)."""
    secret = auth_secret(config)
    context = {"auth_token": ""}
    with ClusterRpcProxy(config, context_data=context, timeout=60) as rpc:

        def as_(actor: Actor):
            context["auth_token"] = issue_token(secret, actor, 900)
            return rpc

        yield as_


def load(rpc, rng: random.Random, config: dict | None = None) -> dict:
    """Load the proposals demo (after the congress demo). Returns figures to print."""
    started = time.monotonic()
    config = config or load_config()
    sessions = sorted(rpc.congress.list_sessions(CONGRESS), key=lambda s: (s["term_id"], s["number"]))
    first, second = sessions[0], sessions[-1]
    delegates = rpc.congress.list_delegates(first["term_id"])
    names = {m["member_id"]: m["name"] for m in rpc.members.union_roster(UNION, 0, 5000)["members"]}
    departments = rpc.members.list_departments(UNION)
    handlers = {}
    roster = sorted(names)
    delegate_ids = {d["member_id"] for d in delegates}
    spare = [m for m in roster[3:] if m not in delegate_ids]
    for i, dep in enumerate(departments):
        member_id = "M0100002" if i == 0 else spare[i]
        if i:
            rpc.members.grant_role({"member_id": member_id, "role": "handler", "scope": dep["id"]})
        handlers[dep["id"]] = Actor(
            member_id, names.get(member_id, ""), UNION, (Grant("handler", dep["id"]),)
        )
    by_name = {dep["name"]: dep["id"] for dep in departments}
    admin = Actor(ADMIN, names.get(ADMIN, "工会主席"), UNION, (Grant("union_admin", UNION),))

    def delegate(member_id: str) -> Actor:
        return Actor(member_id, names.get(member_id, ""), UNION, (Grant("delegate", CONGRESS),))

    pool = [d["member_id"] for d in delegates]
    star = pool[0]  # the demo delegate: proposals in several states and an invitation
    rpc.proposals.open_window(first["id"], {"min_cosigners": 2, "deadline_days": 20})
    # every random choice first, in order, so that the data do not depend on the threads below
    plans, excellent = [], 0
    for n, ((category, subject, reasons, measures, prefer), fate) in enumerate(
        zip(SUBJECTS, PLAN, strict=True)
    ):
        prng = random.Random(rng.random())
        proposer = star if n % 9 == 0 or n == 20 else prng.choice(pool)
        cosigners = prng.sample([m for m in pool if m != proposer], prng.choice((2, 2, 3, 4)))
        deps = [by_name[x] for x in prefer if x in by_name][:2] or [departments[n % len(departments)]["id"]]
        if fate in ("assigned", "overdue") and n % 2 == 0 and departments[0]["id"] not in deps:
            deps = [departments[0]["id"], *deps[:1]]  # the first department's inbox is busy
        choice = prng.choices(("satisfied", "partly"), (7, 3))[0]  # dissatisfied would reopen it
        if fate == "closed_round2":
            choice = prng.choice(("satisfied", "partly", "dissatisfied"))
        mark = fate == "closed" and choice == "satisfied" and excellent < 5
        excellent += mark
        plans.append(
            {
                "n": n,
                "fate": fate,
                "proposer": proposer,
                "cosigners": cosigners,
                "deps": deps,
                "choice": choice,
                "excellent": mark,
                "measures": measures,
                "rng": prng,
                "body": {
                    "subject": subject,
                    "category": category,
                    "reasons": reasons,
                    "measures": measures,
                    "invite": cosigners + ([star] if fate == "draft" and proposer != star else []),
                },
            }
        )
    counts: dict[str, int] = {}
    with actors(config) as as_:
        for plan in plans:  # drafted in order: the numbers p001 … p060 follow SUBJECTS
            plan["id"] = as_(delegate(plan["proposer"])).proposals.create_proposal(first["id"], plan["body"])[
                "id"
            ]
            counts[plan["fate"]] = counts.get(plan["fate"], 0) + 1
    dep_names = {d["id"]: d["name"] for d in departments}
    context = {
        "star": star,
        "admin": admin,
        "handlers": handlers,
        "delegate": delegate,
        "dep_names": dep_names,
    }
    with ThreadPoolExecutor(THREADS) as pool_:
        list(
            pool_.map(lambda chunk: _run(config, chunk, context), [plans[i::THREADS] for i in range(THREADS)])
        )
    with actors(config) as as_:
        rpc.proposals.close_window(first["id"])
        # the 2nd session's collection is open: a draft of the demo delegate and an invitation for them
        rpc.proposals.open_window(second["id"], {"min_cosigners": 2, "deadline_days": 20})
        other = next(m for m in pool if m != star)
        as_(delegate(other)).proposals.create_proposal(
            second["id"],
            {
                "subject": "关于厂区搬迁后通勤补贴的提案",
                "category": "welfare",
                "reasons": "厂区搬迁后多数职工通勤距离增加一倍以上，通勤时间和费用明显增加。",
                "measures": "建议按通勤距离发放通勤补贴，并增开新厂区班车线路。",
                "invite": [star, pool[2]],
            },
        )
        as_(delegate(star)).proposals.create_proposal(
            second["id"],
            {
                "subject": "关于搬迁过渡期弹性工作时间的提案",
                "category": "production",
                "reasons": "搬迁过渡期内职工需要处理子女转学、租房等事务。",
                "measures": "建议过渡期三个月内实行弹性上下班时间。",
                "invite": [pool[3], pool[4]],
            },
        )
    stats = rpc.proposals.statistics(first["id"])
    return {
        "session": first["id"],
        "proposals": sum(counts.values()),
        "states": counts,
        "excellent": excellent,
        "acceptance_rate": round(stats["acceptance_rate"], 3),
        "on_time_rate": round(stats["on_time_rate"], 3),
        "overdue": stats["overdue"],
        "delegate_login": star,
        "handler_logins": {dep: a.member_id for dep, a in handlers.items()},
        "seconds": round(time.monotonic() - started, 1),
    }


THREADS = 4


def _run(config: dict, plans: list[dict], ctx: dict) -> None:
    """Take each planned proposal from draft to its fate, as the people who act, dating the steps back
    with ``backdate`` (one thread per share of the proposals, each with its own connection)."""
    system = service_actor("dmtools")
    admin, handlers, delegate, dep_names = ctx["admin"], ctx["handlers"], ctx["delegate"], ctx["dep_names"]
    with actors(config) as as_:
        for plan in plans:
            _chain(as_, system, admin, handlers, delegate, dep_names, plan)


def _chain(as_, system, admin, handlers, delegate, dep_names, plan: dict) -> None:
    pid, fate, n, rng, deps = plan["id"], plan["fate"], plan["n"], plan["rng"], plan["deps"]
    proposer, cosigners = plan["proposer"], plan["cosigners"]

    def back(days: int) -> None:
        as_(system).proposals.backdate(pid, days)

    for m in cosigners[:1] if fate == "draft" else cosigners:
        as_(delegate(m)).proposals.cosign(pid)
    if fate == "draft":
        return back(245 + rng.randint(0, 5))
    as_(delegate(proposer)).proposals.submit(pid)
    if fate == "submitted":
        return back(244 + rng.randint(0, 5))
    back(rng.randint(4, 8))  # reviewed about a week after submission
    if fate in ("converted", "rejected"):
        reason = (
            REJECT_REASONS[n % len(REJECT_REASONS)]
            if fate == "rejected"
            else "属日常管理事项，转有关部门作为意见建议办理"
        )
        as_(admin).proposals.review(
            pid, {"decision": "convert" if fate == "converted" else "reject", "reason": reason}
        )
        return back(236 + rng.randint(0, 4))
    as_(admin).proposals.review(pid, {"decision": "accept", "reason": ""})
    if fate == "accepted":
        return back(236 + rng.randint(0, 4))
    if fate in ("assigned", "overdue"):
        # accepted in March, assigned now or a month ago: overdue ones are past their 20 days
        ago = rng.randint(23, 35) if fate == "overdue" else rng.randint(1, 15)
        back(236 - ago)
        as_(admin).proposals.assign(pid, {"department_ids": deps})
        return back(ago)
    back(rng.randint(3, 6))  # assigned a few days after acceptance
    as_(admin).proposals.assign(pid, {"department_ids": deps})
    back(rng.randint(22, 30) if n % 6 == 5 else rng.randint(6, 18))  # every sixth replies late
    for dep in deps:
        text = REPLY_TEXT.format(dep=dep_names[dep], measure=plan["measures"])
        as_(handlers[dep]).proposals.reply(pid, {"text": text, "department_id": dep})
    back(rng.randint(2, 6))
    if fate == "replied":
        if n % 2:
            as_(delegate(cosigners[0])).proposals.rate(pid, {"satisfaction": "partly", "comment": ""})
        return back(200 + rng.randint(0, 10))
    if fate == "closed_round2":
        as_(delegate(proposer)).proposals.rate(
            pid, {"satisfaction": "dissatisfied", "comment": "答复没有明确完成时间，希望进一步落实"}
        )
        back(rng.randint(10, 16))
        for dep in deps:
            as_(handlers[dep]).proposals.reply(
                pid, {"text": SECOND_REPLY.format(dep=dep_names[dep]), "department_id": dep}
            )
        back(rng.randint(2, 5))
    as_(delegate(proposer)).proposals.rate(pid, {"satisfaction": plan["choice"], "comment": ""})
    for m in cosigners:
        if rng.random() < 0.6:
            c = rng.choices(("satisfied", "partly", "dissatisfied"), (6, 3, 1))[0]
            as_(delegate(m)).proposals.rate(pid, {"satisfaction": c, "comment": ""})
    if plan["excellent"]:
        as_(admin).proposals.mark_excellent(pid)
    back(170 + rng.randint(0, 30))
