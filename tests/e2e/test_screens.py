"""Each role's home, a work queue and a confirmation at phone size (issue 16, "What it must show"), on the
shared demo stack, read only: opened in headless Chromium at 390×844 (zh-CN) with the role's login, each
page checked for what it is for, that it is laid out for the phone (the page itself never wider than the
screen: wide tables scroll inside their own box) and saved as a full-page screenshot for people to look
at, in ``DM_SCREENS_DIR`` (default ``.local/screens``; the closing notes describe them).

``DM_CRAWL_URL=http://127.0.0.1:PORT`` uses an already running demo stack instead.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e import test_crawler
from tests.e2e.test_accessibility import PHONE, phone_context

pytestmark = pytest.mark.e2e

base_url = test_crawler.base_url
SCREENS = os.environ.get("DM_SCREENS_DIR", os.path.join(".local", "screens"))

#: (name, role of tests/e2e/test_crawler.ROLES, path, CSS selector that must be on the page)
PAGES = [
    ("home-member", "member", "/", "#needs"),
    ("home-delegate", "delegate", "/", "#needs"),
    ("home-handler", "handler", "/", "#needs"),
    ("home-union-admin", "union_admin", "/", "#needs"),
    ("home-superior-admin", "superior_admin", "/", "#needs"),
    ("home-hotline-staff", "hotline_staff", "/", "#needs"),
    ("federation-overview", "superior_admin", "/unions/ftu/overview", "table"),
    ("queue-review-desk", "union_admin", "/proposals/sessions/cg-u01-t3-s1/desk", "table a[href*='/review']"),
    ("queue-department-inbox", "handler", "/proposals/inbox/u01-d1", "table"),
    ("queue-cases", "union_admin", "/unions/u01/cases", "form"),
    ("confirm-disclosure-publish", "union_admin", "/unions/u01/disclosures/new", "input[name=confirmed]"),
]


@pytest.mark.parametrize("name,role,path,selector", PAGES, ids=[p[0] for p in PAGES])
def test_page_at_phone_size(browser, base_url, name, role, path, selector):
    context = phone_context(browser, base_url, role)
    try:
        page = context.new_page()
        response = page.goto(f"{base_url}{path}", wait_until="load", timeout=60_000)
        assert response is not None and response.status == 200, (path, response and response.status)
        assert page.locator(selector).count() >= 1, (path, selector)
        assert page.locator("header").count() >= 1, "the navigation"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"
        os.makedirs(SCREENS, exist_ok=True)
        page.screenshot(path=os.path.join(SCREENS, f"{name}.png"), full_page=True)
    finally:
        context.close()
