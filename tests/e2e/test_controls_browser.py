"""Controls that do not mislead (issue 16), in headless Chromium at phone size against the shared demo
stack: the weights scheme chosen is the one shown and stored, the opinions page offers only the homes the
reader may open, and the minutes of a session not yet held list no absentees."""

import io
import uuid

import pytest

from tests.helpers import browser_login as login

pytestmark = pytest.mark.e2e

PLANNED = "cg-u01-t3-s2"  # the demo's planned extraordinary session


def test_the_2017_scheme_sets_its_weights(stack, phone):
    login(phone, stack.url, "ftu-admin")
    phone.goto(f"{stack.url}/evaluations/new")
    weights = phone.locator("#weights input[name=w_member]")
    assert not weights.is_visible()  # a scheme's shares are in its label; only custom ones are typed
    phone.check("#weights input[name=preset][value='2017']")
    phone.check("#preset-custom")
    assert weights.is_visible()
    shown = [phone.input_value(f"#weights input[name=w_{k}]") for k in ("member", "unit", "superior")]
    assert shown == ["40", "30", "30"]  # custom starts from the scheme chosen before, as shown
    phone.check("#weights input[name=preset][value='2017']")
    assert not weights.is_visible()
    title = f"2017年方案测试{uuid.uuid4().hex[:4]}"
    phone.fill("#title", title)
    phone.click("#campaign-form button.primary")
    phone.wait_for_url("**/manage")
    campaign_id = phone.url.split("/")[-2]
    got = stack.login("ftu-admin").get(f"{stack.url}/api/v1/campaigns/{campaign_id}", timeout=30).json()
    assert (got["title"], got["weights"]) == (title, {"member": 40, "unit": 30, "superior": 30})
    assert "40%" in phone.inner_text("main")


def test_opinions_offer_only_the_homes_the_reader_may_open(stack, phone):
    login(phone, stack.url, "admin01")  # the admin of u01's Worker Home, not of the campaign
    phone.goto(f"{stack.url}/evaluations/ev2018/opinions")
    options = phone.locator("#home-picker option")
    values = [options.nth(i).get_attribute("value") for i in range(options.count())]
    assert values == ["u01"]  # no "all homes", no other home: each of those would be a 403
    opened = phone.goto(f"{stack.url}/evaluations/ev2018/opinions?home=u01")
    assert opened.status == 200 and phone.locator("#opinions").count() == 1
    admin = stack.login("admin01")
    assert admin.get(f"{stack.url}/api/v1/campaigns/ev2018/opinions?home=u02", timeout=30).status_code == 403
    phone.context.clear_cookies()
    login(phone, stack.url, "ftu-admin")  # the campaign's admin: every home and all of them
    phone.goto(f"{stack.url}/evaluations/ev2018/opinions")
    assert phone.locator("#home-picker option[value='']").count() == 1
    assert phone.locator("#home-picker option").count() == 17


def test_minutes_of_a_session_not_held_list_no_absentees(stack):
    from docx import Document

    r = stack.login("admin01").get(f"{stack.url}/api/v1/congress/sessions/{PLANNED}/minutes.docx", timeout=30)
    assert r.status_code == 200
    text = "\n".join(p.text for p in Document(io.BytesIO(r.content)).paragraphs)
    assert "缺席代表（" not in text and "本次会议尚未开幕" in text
    assert "第3届第三届" not in text and "职工代表大会第三届职工代表大会" not in text
