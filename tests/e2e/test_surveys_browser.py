"""Worker surveys as people use them, in headless Chromium at phone size (390×844): a member answers a
20-question survey, the page saving as they go; a reload resumes where they left off; a question appears
when the skip logic shows it; they submit. An admin reads the results page with its charts. Screenshots go
to /tmp/surveys-*.png (never into the repository)."""

import uuid

import pytest

from tests.helpers import MONGO_URI, TEST_SECRETS, browser_login

pytestmark = pytest.mark.e2e
SHOTS = "/tmp/surveys"
UNION = "u01"
ADMIN = "admin01"
MEMBER = "M0100002"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Members, surveys and the gateway as `make run` starts them (own vhost, prefix, port) with only the
    demo's member registry: the survey is made by the test."""
    from dmtools import demo
    from dmtools.config import system_rpc
    from dmtools.stack import running_stack
    from tests.conftest import drop_databases

    prefix = f"e2sv{uuid.uuid4().hex[:6]}_"
    log = str(tmp_path_factory.mktemp("svstack") / "services.log")
    parts = demo.PARTS
    try:
        with running_stack(
            prefix, log, {"MONGO_URI": MONGO_URI, **TEST_SECRETS}, services=["members", "surveys", "gateway"]
        ) as s:
            demo.PARTS = []
            with system_rpc({"AMQP_URI": s.env["AMQP_URI"], **TEST_SECRETS}, timeout=300) as rpc:
                demo.load(rpc, quiet=True)
            yield s
    finally:
        demo.PARTS = parts
        drop_databases(prefix)


def opts(*labels):
    return [{"id": f"o{i}", "label": label} for i, label in enumerate(labels, 1)]


def twenty_questions() -> list[dict]:
    """Two sections, every kind, one skip rule (q10 only when q1 is 一般)."""
    first = [
        {
            "id": "q1",
            "kind": "single",
            "title": "您对食堂总体满意吗？",
            "required": True,
            "options": opts("满意", "一般", "不满意"),
        },
        {
            "id": "q2",
            "kind": "multiple",
            "title": "您常在食堂吃哪几餐？",
            "max_choices": 2,
            "options": opts("早餐", "午餐", "晚餐"),
        },
        {
            "id": "q3",
            "kind": "rating",
            "title": "饭菜口味",
            "scale": "1-5",
            "low_label": "很差",
            "high_label": "很好",
        },
        {"id": "q4", "kind": "rating", "title": "向同事推荐的可能性", "scale": "0-10"},
        {
            "id": "q5",
            "kind": "ranking",
            "title": "最希望改进的方面（前两位）",
            "max_choices": 2,
            "options": opts("价格", "口味", "卫生"),
        },
        {
            "id": "q6",
            "kind": "matrix",
            "title": "各项满意度",
            "scale": "1-5",
            "rows": [
                {"id": "r1", "label": "价格"},
                {"id": "r2", "label": "卫生"},
                {"id": "r3", "label": "服务"},
            ],
        },
        {"id": "q7", "kind": "short_text", "title": "最喜欢的菜", "max_length": 50},
        {"id": "q8", "kind": "long_text", "title": "其他意见和建议"},
        {
            "id": "q9",
            "kind": "number",
            "title": "每周在食堂就餐次数",
            "min": 0,
            "max": 21,
            "integer": True,
            "unit": "次",
        },
        {
            "id": "q10",
            "kind": "short_text",
            "title": "觉得一般的原因",
            "show_if": {"question": "q1", "any_of": ["o2"]},
        },
    ]
    second = [
        {"id": f"q{n}", "kind": "single" if n % 2 else "rating", "title": f"第{n}题：{topic}", "required": n == 11,
         **({"options": opts("是", "否")} if n % 2 else {"scale": "1-5"})}
        for n, topic in zip(range(11, 21), ["需要夜宵", "排队时间", "需要清真窗口", "餐具清洁", "需要外卖",
                                            "环境整洁", "需要预订", "菜品种类", "愿意参加评议", "总体打分"], strict=True)
    ]  # fmt: skip
    return [
        {"id": "s1", "title": "食堂总体", "questions": first},
        {"id": "s2", "title": "具体需求", "questions": second},
    ]


@pytest.fixture(scope="module")
def survey_id(stack):
    admin = stack.login(ADMIN)
    body = {
        "union_id": UNION,
        "title": "食堂满意度调查（测试）",
        "description": "请如实填写，答卷匿名。",
        "sections": twenty_questions(),
        "audience": {"kind": "unions", "union_ids": [UNION]},
        "min_group": 5,
    }
    created = admin.post(f"{stack.url}/api/v1/surveys", json=body, timeout=60)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert admin.post(f"{stack.url}/api/v1/surveys/{sid}/open", timeout=60).status_code == 200
    return sid


def login(page, url, who):
    page.set_default_timeout(90_000)  # the shared 2-core machine can be slow; no speed is asserted
    browser_login(page, url, who, "demo1234")


def saved(page):
    """Wait until the page's background save of the last change has answered (a CSS selector: the CSP
    forbids the eval behind ``wait_for_function``)."""
    page.wait_for_selector("#q-form[data-last-saved]:not([data-pending])", state="attached")


def dot(page, qid, value, row=None):
    name = f"q_{qid}__{row}" if row else f"q_{qid}"
    page.locator(f"#q-{qid} label.sv-dot", has=page.locator(f'input[name="{name}"][value="{value}"]')).click()


def test_member_answers_twenty_questions_on_a_phone_and_resumes_after_a_reload(stack, phone, survey_id):
    login(phone, stack.url, MEMBER)
    phone.goto(f"{stack.url}/surveys")
    phone.click(f"#survey-{survey_id} a.button")
    assert phone.locator("fieldset.sv-q").count() == 20
    assert phone.locator("#q-q10").is_hidden()  # the skip logic hides it
    phone.check('#q-q1 input[value="o2"]')  # 一般 → q10 is shown after the save
    phone.check('#q-q2 input[value="o1"]')
    phone.check('#q-q2 input[value="o2"]')
    dot(phone, "q3", 4)
    dot(phone, "q4", 8)
    phone.select_option('select[name="q_q5__o2"]', "1")
    phone.select_option('select[name="q_q5__o1"]', "2")
    for row, v in (("r1", 3), ("r2", 5), ("r3", 4)):
        dot(phone, "q6", v, row)
    phone.fill('input[name="q_q7"]', "红烧肉")
    saved(phone)
    assert phone.locator("#q-q10").is_visible()
    phone.screenshot(path=f"{SHOTS}-answering.png", full_page=False)
    # a reload resumes from the saved draft
    phone.reload()
    assert phone.locator('#q-q1 input[value="o2"]').is_checked()
    assert phone.locator('#q-q6 input[name="q_q6__r2"][value="5"]').is_checked()
    assert phone.input_value('input[name="q_q7"]') == "红烧肉"
    assert phone.input_value('select[name="q_q5__o2"]') == "1"
    assert phone.locator("#q-q10").is_visible()
    phone.fill('input[name="q_q10"]', "菜品少")
    phone.fill('textarea[name="q_q8"]', "希望增加夜班窗口。")
    phone.fill('input[name="q_q9"]', "30")  # over the maximum: the background save refuses it
    phone.wait_for_selector("#q9-error", state="visible")  # the message next to the question
    phone.fill('input[name="q_q9"]', "9")
    for n in range(11, 21):
        if n % 2:
            phone.check(f'#q-q{n} input[value="o1"]')
        else:
            dot(phone, f"q{n}", 5)
    saved(phone)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # fits the phone
    phone.screenshot(path=f"{SHOTS}-filled.png", full_page=True)
    phone.reload()  # a full-page screenshot leaves headless Chromium ignoring the next click: reload first
    phone.click("#submit-answers")
    phone.wait_for_selector("#submitted")
    phone.screenshot(path=f"{SHOTS}-submitted.png", full_page=False)
    mine = stack.login(MEMBER).get(f"{stack.url}/api/v1/surveys/{survey_id}/response", timeout=60).json()
    assert mine["status"] == "submitted" and mine["answers"]["q10"] == "菜品少" and mine["answers"]["q9"] == 9
    assert mine["answers"]["q5"][:2] == ["o2", "o1"] and len(mine["answers"]) == 20


def test_admin_reads_the_results_page_with_charts(stack, phone, survey_id):
    for i, pick in enumerate(["o1", "o1", "o3", "o2", "o1", "o3"], start=4):  # M0100003 logs in as ftu-admin
        s = stack.login(f"M01{i:05d}")
        answers = {"q1": pick, "q3": 1 + i % 5, "q4": i, "q6": {"r1": 1 + i % 5, "r2": 4}, "q9": i, "q11": "o1",
                   "q7": f"菜{i}"}  # fmt: skip
        r = s.post(f"{stack.url}/api/v1/surveys/{survey_id}/response", json={"answers": answers}, timeout=60)
        assert r.status_code in (201, 409), r.text  # 409: answered by an earlier run of this module
    login(phone, stack.url, ADMIN)
    phone.goto(f"{stack.url}/surveys/{survey_id}/results?crosstab=q1&by=department")
    for chart in ("chart-q1", "chart-q3", "chart-q6", "chart-q9", "chart-q5"):
        assert phone.locator(f"#{chart} svg rect").count() > 0, chart
    assert phone.locator("#ring").is_visible() and phone.locator("#crosstab-table").is_visible()
    phone.screenshot(path=f"{SHOTS}-results.png", full_page=True)
    phone.goto(f"{stack.url}/surveys/{survey_id}/questions/q7/texts?q=菜")
    assert phone.locator("#texts li").count() >= 6
