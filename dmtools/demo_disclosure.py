"""Demo part of factory-affairs disclosure (厂务公开): a year of disclosures in four grassroots unions.

For 亦庄精密机械 (u01), 经开汽车零部件 (u03), 华冠食品饮料 (u08) and 恒远建设工程 (u13), about 26 items
each over the last twelve months: monthly wages and bonuses, quarterly canteen accounts and safety
inspections, half-yearly union finances, rules changes, the annual wage adjustment and a major
business decision. Members' reads (mandatory items 75-95 %, others 40-75 %, the last fortnight's
fewer) and questions (a quarter anonymous; older ones answered within days, recent ones waiting on the
admin's desk) come with them. The history is taken over with ``disclosure.import_register`` (the
operator's migration of a paper register, so the dates are the original ones); then each union's admin,
with their own token, corrects one item and withdraws another through the ordinary RPCs.
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime, timedelta

from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.auth import Actor, Grant, auth_secret, issue_token

from .config import load_config

UNIONS = ["u01", "u03", "u08", "u13"]
DAY = timedelta(days=1)

QUESTIONS = {
    "wages_bonuses": [
        "夜班津贴是否计入本月绩效奖金基数？",
        "劳务派遣员工的绩效奖金是否按同一标准发放？",
        "本月加班费的计算基数是多少？",
        "绩效考核结果在哪里可以查到本人的明细？",
    ],
    "welfare": [
        "食堂伙食补贴标准明年是否调整？",
        "食材采购是否有公开招标？供应商名单可以公布吗？",
        "夜班职工的餐补如何领取？",
        "本季度食堂支出比上季度高的原因是什么？",
    ],
    "safety": [
        "检查发现的隐患整改完成后会再公示吗？",
        "冲压车间的噪声检测结果可以公布具体数值吗？",
        "新进职工的三级安全教育由哪个部门负责？",
    ],
    "rules": [
        "新考勤办法对哺乳期女职工有什么特别规定？",
        "修订稿是否经过职工代表大会审议？",
        "弹性工作时间适用于哪些岗位？",
    ],
    "union_finances": [
        "困难职工帮扶支出的申请条件是什么？",
        "会费收缴比例是按工资总额的多少计算？",
        "文体活动经费明年能否向一线班组倾斜？",
    ],
    "major_decisions": [
        "新产线投产后原岗位职工如何安置？",
        "技能培训是否在工作时间内进行？是否计发工资？",
    ],
}
ANSWERS = {
    "wages_bonuses": "经与人力资源部核实，按公司薪酬制度第十二条执行，明细可在OA系统“我的工资单”中查询。",
    "welfare": "食堂管理委员会已研究，将在下季度公开时一并说明，欢迎职工代表参与伙食监督。",
    "safety": "整改完成后由安全环保部复查并在本栏目公示复查结果，谢谢您的关注。",
    "rules": "该办法已经职工代表大会审议通过，具体适用范围见第三章，如有疑问可到工会办公室咨询。",
    "union_finances": "按照《工会法》和工会经费管理办法执行，详细标准见工会办公室公告栏。",
    "major_decisions": "公司承诺不因产线改造裁减人员，转岗职工先培训后上岗，培训期间工资照发。",
}


def _quarter(month: int) -> int:
    return (month - 1) // 3 + 1


def _plan(rng: random.Random, today: datetime) -> list[dict]:
    """The items of one union over the last twelve months: (category, period, title, body, mandatory, date)."""
    items = []
    first = (today.replace(day=1) - timedelta(days=365)).replace(day=1)
    for k in range(12):
        month_start = (first + timedelta(days=32 * k)).replace(day=1)
        m = month_start.month
        prev = month_start - DAY
        if month_start < today - 3 * DAY:
            base = rng.randint(6800, 7600)
            rows = "\n".join(
                f"| {dep} | {base + rng.randint(-900, 1600):,} | {rng.randint(600, 2400):,} |"
                for dep in ("生产部", "技术研发部", "质量管理部", "后勤保障部")
            )
            items.append(
                dict(
                    category="wages_bonuses",
                    period=f"{prev.year}-{prev.month:02d}",
                    title=f"{prev.year}年{prev.month}月工资及绩效奖金发放情况",
                    body=(
                        f"根据公司薪酬管理制度，{prev.month}月工资已于{m}月10日前足额发放，现将各部门平均水平公开如下：\n\n"
                        "| 部门 | 人均应发工资（元） | 人均绩效奖金（元） |\n|---|---|---|\n"
                        f"{rows}\n\n对本人工资有疑问的，请于本月25日前向人力资源部或工会反映。"
                    ),
                    mandatory=False,
                    at=month_start + timedelta(days=rng.randint(9, 12), hours=rng.randint(1, 8)),
                )
            )
        if m in (1, 4, 7, 10) and month_start < today - 5 * DAY:
            q, qy = _quarter(prev.month), prev.year
            income = rng.randint(380000, 520000)
            spent = income - rng.randint(-15000, 30000)
            items.append(
                dict(
                    category="welfare",
                    period=f"{qy}-Q{q}",
                    title=f"{qy}年第{q}季度职工食堂收支情况公开",
                    body=(
                        f"本季度职工食堂收入 **{income:,} 元**（公司补贴与职工餐费），支出 **{spent:,} 元**，"
                        f"结余 {income - spent:,} 元，结余全部用于下季度伙食改善。\n\n"
                        "| 项目 | 金额（元） |\n|---|---|\n"
                        f"| 主副食品采购 | {int(spent * 0.71):,} |\n| 燃料水电 | {int(spent * 0.12):,} |\n"
                        f"| 炊具及低值易耗品 | {int(spent * 0.05):,} |\n| 其他 | {spent - int(spent * 0.88):,} |\n\n"
                        "伙食管理委员会每月抽查采购单据，详细账目见附表，欢迎监督。"
                    ),
                    mandatory=False,
                    at=month_start + timedelta(days=rng.randint(12, 18), hours=2),
                )
            )
            items.append(
                dict(
                    category="safety",
                    period=f"{qy}-Q{q}",
                    title=f"{qy}年第{q}季度安全生产检查情况通报",
                    body=(
                        f"安全环保部会同工会劳动保护监督检查委员会，于{prev.month}月对各车间开展安全检查，"
                        f"共查出隐患 **{rng.randint(8, 26)} 项**，已整改 {rng.randint(6, 8)} 成以上，其余限期整改。\n\n"
                        "主要问题：\n\n- 部分设备防护罩缺失\n- 消防通道堆放物料\n- 个别职工未按规定佩戴劳动防护用品\n\n"
                        "请全体职工严格遵守安全操作规程，发现隐患及时报告。"
                    ),
                    mandatory=True,
                    at=month_start + timedelta(days=rng.randint(5, 9), hours=3),
                )
            )
        if m in (1, 7) and month_start < today - 20 * DAY:
            half = "H2" if m == 1 else "H1"
            hy = prev.year
            items.append(
                dict(
                    category="union_finances",
                    period=f"{hy}-{half}",
                    title=f"{hy}年{'下' if half == 'H2' else '上'}半年工会经费收支情况",
                    body=(
                        f"本期工会经费收入 {rng.randint(420, 680)} 千元，其中会费 {rng.randint(40, 70)} 千元；"
                        f"支出：职工活动 {rng.randint(120, 220)} 千元，困难职工帮扶 {rng.randint(30, 90)} 千元，"
                        f"职工教育 {rng.randint(40, 110)} 千元，慰问 {rng.randint(60, 150)} 千元。\n\n"
                        "经工会经费审查委员会审查，收支符合规定。"
                    ),
                    mandatory=False,
                    at=month_start + timedelta(days=rng.randint(15, 24)),
                )
            )
    specials = [
        (
            "rules",
            "《职工考勤与休假管理办法》修订",
            "经职工代表大会审议通过，修订后的《职工考勤与休假管理办法》自下月1日起施行。\n\n"
            "主要变化：\n\n1. 带薪年休假可分段使用\n2. 哺乳期女职工每日哺乳时间1小时\n3. 弹性工作时间适用于研发、行政岗位",
            True,
            200,
        ),
        (
            "rules",
            "《劳动防护用品发放标准》调整",
            "根据岗位风险评估结果，调整劳动防护用品发放标准：一线岗位防护手套由每月2副增至4副，"
            "高温岗位增发防暑降温用品。",
            False,
            110,
        ),
        (
            "wages_bonuses",
            "年度工资调整方案",
            "经工资集体协商，年度工资调整方案如下：\n\n- 一线生产岗位平均上调 **6%**\n- 其他岗位平均上调 **4%**\n"
            "- 最低工资标准以上部分同步调整\n\n新标准自本月起执行。",
            True,
            150,
        ),
        (
            "major_decisions",
            "关于新建智能化生产线的决定",
            "公司拟投资建设智能化生产线。根据《企业民主管理规定》，涉及职工切身利益的重大决策须向职工公开。"
            "改造期间不裁减人员，受影响岗位职工优先参加转岗培训。",
            True,
            60,
        ),
    ]
    for category, title, body, mandatory, days_ago in specials:
        at = today - days_ago * DAY + timedelta(hours=rng.randint(1, 9))
        items.append(
            dict(
                category=category,
                period=f"{at.year}",
                title=f"{at.year}年{title}" if category == "wages_bonuses" else title,
                body=body,
                mandatory=mandatory,
                at=at,
            )
        )
    return [i for i in items if i["at"] < today - DAY]


def _entry(rng: random.Random, item: dict, roster: list[dict], admin_name: str, today: datetime) -> dict:
    age = (today - item["at"]).days
    share = rng.uniform(0.75, 0.95) if item["mandatory"] else rng.uniform(0.4, 0.75)
    if age < 14:
        share *= rng.uniform(0.25, 0.55)
    readers = rng.sample(roster, int(len(roster) * share))
    reads = [
        {
            "member_id": m["member_id"],
            "read_at": (
                item["at"] + timedelta(minutes=rng.randint(5, 60 * 24 * min(max(age, 1), 20)))
            ).isoformat(),
        }
        for m in readers
    ]
    questions = []
    if rng.random() < (0.9 if age <= 45 else 0.4):
        for text in rng.sample(QUESTIONS[item["category"]], rng.randint(1, 2)):
            asker = rng.choice(roster[1:])
            asked = item["at"] + timedelta(hours=rng.randint(3, 24 * max(1, min(age - 1, 10))))
            q = {
                "member_id": asker["member_id"],
                "name": asker["name"],
                "anonymous": rng.random() < 0.25,
                "text": text,
                "asked_at": asked.isoformat(),
            }
            if age > 75 or (age > 20 and rng.random() < 0.6):  # the last weeks' ones still wait
                q["answer"] = ANSWERS[item["category"]]
                q["answered_at"] = (
                    asked + timedelta(days=rng.randint(1, 9), hours=rng.randint(1, 6))
                ).isoformat()
                q["answered_by_name"] = admin_name
            questions.append(q)
    return {
        "category": item["category"],
        "period": item["period"],
        "title": item["title"],
        "body": item["body"],
        "mandatory": item["mandatory"],
        "published_at": item["at"].isoformat(),
        "published_by_name": admin_name,
        "reads": reads,
        "questions": questions,
    }


def load(rpc, rng: random.Random, config: dict | None = None) -> dict:
    """Load the disclosure demo (see the module docstring). Returns figures to print."""
    config = config or load_config()
    started = time.monotonic()
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    figures = {"items": 0, "reads": 0, "questions": 0, "corrected": 0, "withdrawn": 0}
    for union_id in UNIONS:
        roster = rpc.members.union_roster(union_id, 0, 5000)["members"]
        admin = roster[0]  # M{NN}00001, the union admin (admin01 … admin16)
        plan = _plan(rng, today)
        entries = [_entry(rng, item, roster, admin["name"], today) for item in plan]
        counts = rpc.disclosure.import_register(union_id, entries)
        for k in ("items", "reads", "questions"):
            figures[k] += counts[k]
        token = issue_token(
            auth_secret(config),
            Actor(admin["member_id"], admin["name"], union_id, (Grant("union_admin", union_id),)),
            600,
        )
        with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=60) as as_admin:
            board = as_admin.disclosure.list_items(union_id, {"per_page": 200})["items"]
            canteen = next(i for i in board if i["category"] == "welfare")
            current = as_admin.disclosure.open_item(canteen["id"])
            figures["reads"] += current["first_read"]  # the admin is a member too
            as_admin.disclosure.correct_item(
                canteen["id"],
                {
                    "category": current["category"],
                    "period": current["period"],
                    "title": current["title"],
                    "body": re.sub(
                        r"\| 燃料水电 \| ([\d,]+) \|",
                        lambda m: f"| 燃料水电 | {int(m.group(1).replace(',', '')) - 4210:,} |",
                        current["body"],
                    )
                    + "\n\n> 更正：原表“燃料水电”一项多计 4,210 元，已按财务凭证更正。",
                    "mandatory": current["mandatory"],
                    "reason": "燃料水电支出金额录入有误，按财务凭证更正",
                },
            )
            figures["corrected"] += 1
            rules = next(i for i in board if i["category"] == "rules" and not i["mandatory"])
            as_admin.disclosure.withdraw_item(
                rules["id"], {"reason": "标准尚需提交职代会安全卫生专门委员会审议，审议后重新公布"}
            )
            figures["withdrawn"] += 1
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures
