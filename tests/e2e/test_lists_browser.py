"""Issue 16, federation views and queues, as the federation's admin uses them: in headless Chromium at
phone size against the shared demo stack (every service, the demo data)."""

import pytest

from tests.helpers import browser_login as login

pytestmark = pytest.mark.e2e


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_federation_admin_sees_the_members_of_u05_filtered_by_union(stack, phone):
    api = stack.login("ftu-admin")
    u05 = api.get(f"{stack.url}/api/v1/unions/u05/members?per_page=1", timeout=30).json()
    assert u05["total"] > 0
    someone = u05["items"][0]

    login(phone, stack.url, "ftu-admin")
    phone.goto(f"{stack.url}/unions/ftu/members")
    phone.wait_for_selector("#member-list")
    assert phone.locator("#member-list tbody tr[id], #member-list tbody tr td a").count() > 0
    total = int("".join(ch for ch in phone.inner_text("#member-total") if ch.isdigit()))
    assert total > u05["total"]  # the whole federation, not 0
    phone.select_option("#union", "u05")
    phone.click("#member-filters button")
    phone.wait_for_url("**union=u05*")
    unions = phone.locator("#member-list td[data-union]").evaluate_all(
        "cells => cells.map(c => c.dataset.union)"
    )
    assert unions and set(unions) == {"u05"}
    assert int("".join(ch for ch in phone.inner_text("#member-total") if ch.isdigit())) == u05["total"]
    assert fits(phone)
    phone.screenshot(path="/tmp/lists-federation-members.png", full_page=False)
    # the federation's search finds a u05 member by number
    phone.goto(f"{stack.url}/unions/ftu/members?q={someone['member_no']}")
    assert someone["name"] in phone.inner_text("#member-list")
    # the role filter: the union's admins
    phone.goto(f"{stack.url}/unions/ftu/members?union=u05&role=union_admin")
    roles = phone.locator("#member-list tbody tr").all_inner_texts()
    assert roles and all("工会管理员" in r for r in roles)
