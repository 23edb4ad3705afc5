"""The questionnaires a union starts from (issue 15): 职工需求调查 (worker needs), 职工满意度调查 (worker
satisfaction with the union) and 食堂满意度调查 (canteen satisfaction), in Chinese and English.

The topics follow what the national worker surveys ask about (wages, working hours, safety, training,
housing, childcare, the union's services) and the usual canteen survey items (taste, variety, hygiene,
price, service). Each text is a (Chinese, English) pair; :func:`template` picks one language.
"""

from __future__ import annotations

from typing import Any

T = tuple[str, str]


def _opts(*labels: T) -> list[dict]:
    return [{"id": f"o{i}", "label": label} for i, label in enumerate(labels, start=1)]


_NEEDS: dict[str, Any] = {
    "title": ("职工需求调查", "Worker needs survey"),
    "description": (
        "了解职工最关心、最需要工会帮助解决的问题，作为工会年度工作安排的依据。",
        "What workers care about most and want the union's help with, to plan the union's year.",
    ),
    "sections": [
        {
            "id": "s1",
            "title": ("基本情况", "About you"),
            "questions": [
                {
                    "id": "q1",
                    "kind": "single",
                    "required": True,
                    "title": ("您的年龄段", "Your age group"),
                    "options": _opts(
                        ("30岁以下", "under 30"),
                        ("30-39岁", "30-39"),
                        ("40-49岁", "40-49"),
                        ("50岁及以上", "50 or over"),
                    ),
                },
                {
                    "id": "q2",
                    "kind": "single",
                    "required": True,
                    "title": ("您的岗位类别", "Your kind of job"),
                    "options": _opts(
                        ("一线生产", "production line"),
                        ("技术研发", "engineering"),
                        ("管理", "management"),
                        ("后勤服务", "support services"),
                    ),
                },
                {
                    "id": "q3",
                    "kind": "number",
                    "title": ("您每周平均工作多少小时？", "Hours worked in an average week"),
                    "min": 0,
                    "max": 100,
                    "integer": True,
                    "unit": ("小时", "hours"),
                },
            ],
        },
        {
            "id": "s2",
            "title": ("您的需求", "Your needs"),
            "questions": [
                {
                    "id": "q4",
                    "kind": "multiple",
                    "required": True,
                    "max_choices": 3,
                    "title": (
                        "您最希望工会帮助解决哪些问题？（最多选3项）",
                        "What should the union help with most? (up to 3)",
                    ),
                    "options": _opts(
                        ("工资收入", "pay"),
                        ("劳动安全", "safety at work"),
                        ("技能培训", "training"),
                        ("住房", "housing"),
                        ("子女托育", "childcare"),
                        ("医疗健康", "health care"),
                        ("文体活动", "sports and culture"),
                        ("法律援助", "legal aid"),
                    ),
                },
                {
                    "id": "q5",
                    "kind": "single",
                    "title": ("您希望参加哪类培训？", "Which training would you take?"),
                    "options": _opts(
                        ("岗位技能", "job skills"),
                        ("学历提升", "a degree"),
                        ("安全生产", "safety"),
                        ("数字技能", "digital skills"),
                    ),
                    "show_if": {"question": "q4", "any_of": ["o3"]},
                },
                {
                    "id": "q6",
                    "kind": "ranking",
                    "max_choices": 3,
                    "title": (
                        "请对以下福利按重要性排序（前三位）",
                        "Rank the benefits that matter most to you (top 3)",
                    ),
                    "options": _opts(
                        ("体检", "health checks"),
                        ("节日慰问", "holiday gifts"),
                        ("疗休养", "rest leave"),
                        ("困难帮扶", "hardship support"),
                        ("子女助学", "children's school aid"),
                    ),
                },
                {
                    "id": "q7",
                    "kind": "rating",
                    "scale": "1-5",
                    "required": True,
                    "title": (
                        "您对目前工作与生活平衡的满意程度",
                        "How satisfied are you with your work-life balance?",
                    ),
                    "low_label": ("很不满意", "very dissatisfied"),
                    "high_label": ("很满意", "very satisfied"),
                },
                {
                    "id": "q8",
                    "kind": "long_text",
                    "max_length": 1000,
                    "title": (
                        "您对工会工作还有哪些意见和建议？",
                        "Anything else the union should know or do?",
                    ),
                },
            ],
        },
    ],
}

_SATISFACTION: dict[str, Any] = {
    "title": ("职工满意度调查", "Worker satisfaction survey"),
    "description": (
        "请对工会各项工作作出评价，帮助工会改进服务。",
        "Rate the union's work so it can serve you better.",
    ),
    "sections": [
        {
            "id": "s1",
            "title": ("工会工作评价", "The union's work"),
            "questions": [
                {
                    "id": "q1",
                    "kind": "matrix",
                    "scale": "1-5",
                    "required": True,
                    "title": (
                        "请对以下工作评分（1=很不满意，5=很满意）",
                        "Rate each (1 = very dissatisfied, 5 = very satisfied)",
                    ),
                    "rows": _opts(
                        ("维护职工权益", "defending workers' rights"),
                        ("厂务公开", "factory-affairs disclosure"),
                        ("职代会与提案办理", "workers' congress and proposals"),
                        ("困难帮扶", "hardship support"),
                        ("文体活动", "sports and culture"),
                        ("职工之家建设", "the Worker Home"),
                    ),
                },
                {
                    "id": "q2",
                    "kind": "rating",
                    "scale": "0-10",
                    "required": True,
                    "title": (
                        "您向同事推荐参加工会活动的可能性有多大？",
                        "How likely are you to recommend union activities to a colleague?",
                    ),
                },
                {
                    "id": "q3",
                    "kind": "single",
                    "required": True,
                    "title": ("总体而言，您对工会工作", "Overall, the union's work is"),
                    "options": _opts(
                        ("满意", "satisfactory"),
                        ("基本满意", "partly satisfactory"),
                        ("不满意", "unsatisfactory"),
                    ),
                },
                {
                    "id": "q4",
                    "kind": "long_text",
                    "max_length": 1000,
                    "title": ("您不满意的主要原因是什么？", "What is the main reason you are not satisfied?"),
                    "show_if": {"question": "q3", "any_of": ["o3"]},
                },
                {
                    "id": "q5",
                    "kind": "short_text",
                    "max_length": 100,
                    "title": (
                        "用一句话说说您最希望工会做的一件事",
                        "One thing you most want the union to do",
                    ),
                },
            ],
        },
    ],
}

_CANTEEN: dict[str, Any] = {
    "title": ("食堂满意度调查", "Canteen satisfaction survey"),
    "description": ("请对职工食堂作出评价。", "Tell us what you think of the staff canteen."),
    "sections": [
        {
            "id": "s1",
            "title": ("就餐情况", "Eating there"),
            "questions": [
                {
                    "id": "q1",
                    "kind": "single",
                    "required": True,
                    "title": ("您每周在食堂就餐几次？", "How often do you eat in the canteen each week?"),
                    "options": _opts(
                        ("从不", "never"),
                        ("1-3次", "1-3 times"),
                        ("4-7次", "4-7 times"),
                        ("8次以上", "8 or more"),
                    ),
                },
                {
                    "id": "q2",
                    "kind": "matrix",
                    "scale": "1-5",
                    "required": True,
                    "title": ("请对以下方面评分", "Rate each of these"),
                    "rows": _opts(
                        ("饭菜口味", "taste"),
                        ("品种花样", "variety"),
                        ("卫生状况", "hygiene"),
                        ("价格", "price"),
                        ("服务态度", "service"),
                        ("就餐环境", "the dining room"),
                    ),
                    "show_if": {"question": "q1", "any_of": ["o2", "o3", "o4"]},
                },
                {
                    "id": "q3",
                    "kind": "multiple",
                    "max_choices": 3,
                    "title": ("您不在食堂就餐的原因（最多3项）", "Why you do not eat there (up to 3)"),
                    "options": _opts(
                        ("口味不合", "the taste"),
                        ("价格偏高", "the price"),
                        ("排队太久", "the queues"),
                        ("距离太远", "too far"),
                        ("自带饭菜", "I bring my own"),
                    ),
                    "show_if": {"question": "q1", "any_of": ["o1"]},
                },
                {
                    "id": "q4",
                    "kind": "number",
                    "min": 0,
                    "max": 60,
                    "title": ("您能接受的午餐价格（元）", "The lunch price you find fair (yuan)"),
                    "unit": ("元", "yuan"),
                },
                {
                    "id": "q5",
                    "kind": "short_text",
                    "max_length": 200,
                    "title": ("您希望增加的菜品", "Dishes you would like added"),
                },
            ],
        },
    ],
}

TEMPLATES: dict[str, dict[str, Any]] = {"needs": _NEEDS, "satisfaction": _SATISFACTION, "canteen": _CANTEEN}


def _pick(value: Any, index: int) -> Any:
    if isinstance(value, tuple):
        return value[index]
    if isinstance(value, list):
        return [_pick(v, index) for v in value]
    if isinstance(value, dict):
        return {k: _pick(v, index) for k, v in value.items()}
    return value


def template(key: str, language: str) -> dict[str, Any]:
    """The template ``key`` in ``language`` (``zh`` or ``en``): ``{title, description, language,
    sections}``, ready to become a :class:`dmlib.contracts.surveys.SurveyIn` with a union and audience.
    KeyError for an unknown key."""
    out = _pick(TEMPLATES[key], 0 if language == "zh" else 1)
    out["language"] = language
    return out
