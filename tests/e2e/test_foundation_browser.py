"""The foundation as a person uses it, in headless Chromium at phone size, against every service
running as in `make run` with the demo data."""

import pytest

from tests.helpers import browser_login as login

pytestmark = pytest.mark.e2e


def test_union_admin_sees_own_members_and_not_another_unions(stack, phone):
    phone.goto(f"{stack.url}/login")
    assert phone.title().startswith("登录")  # Chinese first
    login(phone, stack.url, "admin01")
    assert phone.url == f"{stack.url}/"
    assert "欢迎" in phone.inner_text("h1")
    phone.click("text=会员名册")
    phone.wait_for_selector("#member-list")
    assert phone.url.endswith("/unions/u01/members")
    rows = phone.locator("#member-list tbody tr")
    assert rows.count() == 50
    assert rows.first.inner_text().startswith("M0100001")
    assert "亦庄精密机械制造有限公司工会" in phone.inner_text("main")
    # search by surname narrows the list to names starting with it
    phone.fill("input[name=q]", "王")
    phone.click("form.search button")
    phone.wait_for_load_state()
    names = phone.locator("#member-list tbody tr td:nth-child(2)").all_inner_texts()
    assert names and all(n.startswith("王") for n in names)
    # another union's list: refused
    response = phone.goto(f"{stack.url}/unions/u02/members")
    assert response.status == 403
    assert "无权访问" in phone.inner_text("h1")
    # the union tree shows the federation and the 16 grassroots unions with their Worker Homes
    phone.goto(f"{stack.url}/unions")
    assert phone.locator(".kind-grassroots").count() == 16


def test_web_import_reports_bad_rows_with_progress(stack, phone, tmp_path):
    csv = tmp_path / "new-members.csv"
    csv.write_text(
        "会员编号,姓名,工会编号,身份证号\n"
        "W0100001,韩梅梅,u01,440524199001010018\n"
        "W0100002,李雷,u01,440524199001010013\n"  # wrong check digit
        "W0100003,张伟,u02,440524199001010034\n",  # another union: outside admin01's scope
        encoding="utf-8",
    )
    login(phone, stack.url, "admin01")
    phone.goto(f"{stack.url}/imports/new")
    phone.set_input_files("#file", str(csv))
    phone.click("button.primary")
    phone.wait_for_url("**/imports/*")
    # issue 16: the file is checked first; the page states the rows and asks for the confirmation
    phone.wait_for_selector("#staged-rows", timeout=20000)  # app.js reloads once the rows are counted
    assert "3" in phone.inner_text("#staged-rows")
    assert "全部 3 行" in phone.inner_text("#import-staged label.confirm")
    phone.check("#import-staged input[name=confirmed]")
    phone.click("#import-staged button.primary")
    phone.wait_for_selector("#import-job[data-status=done]", timeout=20000)
    assert phone.inner_text("#job-inserted") == "1"
    assert phone.inner_text("#job-failed") == "2"
    errors = phone.locator("#job-errors tr").all_inner_texts()
    assert errors[0].startswith("3") and "校验码" in errors[0]
    assert errors[1].startswith("4") and "超出您的管理范围" in errors[1]
    assert phone.locator("#job-progress").get_attribute("value") == "3"


def test_language_switch_and_logout(stack, phone):
    login(phone, stack.url, "M0100002")
    phone.click("a.lang")
    phone.wait_for_load_state()
    assert "Welcome" in phone.inner_text("h1")
    assert "Member directory" not in phone.inner_text("main")  # a plain member administers nothing
    phone.click("button.link")  # log out
    phone.wait_for_url("**/login")
    assert phone.goto(f"{stack.url}/me").url.startswith(f"{stack.url}/login")
