"""Notifications over HTTP: the gateway with the real members and notify services. The inbox and its
unread count, marking (only one's own), preferences (400 with field messages), the admin delivery log
(403 for members and other unions), and the pages."""

import pytest

from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.notify.service import NotifyService
from tests.helpers import SYSTEM, member, publish_event, union_admin, wait_until
from tests.integration.test_notify_service import national_id

pytestmark = pytest.mark.integration

M1 = member("H0000001", "hu1", name="赵六")
M2 = member("H0000002", "hu1", name="Ann Lee")
ADMIN = union_admin("hu1", "H0000009")
OTHER_ADMIN = union_admin("hu2", "H0000099")


@pytest.fixture
def gw(runner_factory, config, rpc_as, http, db):
    runner_factory(config, GatewayService, MembersService, NotifyService).start()
    with rpc_as(SYSTEM) as r:
        r.members.create_union({"id": "hf", "name": "总工会", "kind": "federation"})
        for u in ("hu1", "hu2"):
            r.members.create_union({"id": u, "name": f"{u}工会", "kind": "grassroots", "parent_id": "hf"})
        for i, (no, name, union, locale) in enumerate(
            [
                ("H0000001", "赵六", "hu1", "zh-CN"),
                ("H0000002", "Ann Lee", "hu1", "en"),
                ("H0000009", "管理员", "hu1", "zh-CN"),
                ("H0000099", "外单位", "hu2", "zh-CN"),
            ],
            1,
        ):
            r.members.register_member(
                {
                    "member_no": no,
                    "name": name,
                    "union_id": union,
                    "national_id": national_id(i),
                    "locale": locale,
                }
            )
    publish_event(
        config,
        "disclosure",
        "disclosure_published",
        item_id="dx1",
        union_id="hu1",
        category="welfare",
        title="职工食堂账目",
        mandatory=False,
        revision=1,
    )
    publish_event(
        config,
        "disclosure",
        "question_answered",
        question_id="q1",
        item_id="dx1",
        union_id="hu1",
        anonymous=False,
        asker_id="H0000001",
    )
    wait_until(lambda: db("notify").inbox.count_documents({}) == 4, timeout=20)
    wait_until(lambda: db("notify").fanouts.count_documents({"state": "done"}) == 2, timeout=10)
    return http


def test_inbox_unread_count_and_marking_only_ones_own(gw):
    assert gw(None).get("/api/v1/inbox/unread").status_code == 401
    s = gw(M1)
    assert s.get("/api/v1/inbox/unread").json() == {"unread": 2}
    box = s.get("/api/v1/inbox").json()
    assert {m["subject"] for m in box["items"]} == {"您的提问已获答复", "厂务公开：职工食堂账目"}
    assert [m["at"] for m in box["items"]] == sorted((m["at"] for m in box["items"]), reverse=True)
    assert s.get("/api/v1/inbox?per_page=0").status_code == 400
    english = gw(M2).get("/api/v1/inbox").json()["items"]
    assert [m["subject"] for m in english] == ["Disclosure: 职工食堂账目"]
    theirs = english[0]["id"]
    s = gw(M1)  # one session underneath: back to M1's token

    bad = s.post("/api/v1/inbox/read", json={"ids": "x"})
    assert bad.status_code == 400 and "ids" in bad.json()["fields"]
    assert s.post("/api/v1/inbox/read", json={}).status_code == 400
    foreign = s.post("/api/v1/inbox/read", json={"ids": [box["items"][0]["id"], theirs]})
    assert foreign.status_code == 404, foreign.text
    assert s.get("/api/v1/inbox/unread").json() == {"unread": 2}  # nothing partial
    done = s.post("/api/v1/inbox/read", json={"ids": [box["items"][0]["id"]]})
    assert done.status_code == 200 and done.json() == {"marked": 1, "unread": 1}
    assert gw(M2).get("/api/v1/inbox/unread").json() == {"unread": 1}  # M2's own untouched
    s = gw(M1)

    page = s.get("/inbox")
    assert (
        page.status_code == 200 and "厂务公开：职工食堂账目" in page.text and 'id="inbox-link"' in page.text
    )
    # after the English switch the inbox page reads in English (issue 16); the API keeps the member's language
    english_page = s.get("/inbox?lang=en").text
    assert "Disclosure: 职工食堂账目" in english_page and "厂务公开：职工食堂账目" not in english_page
    marked = s.post("/inbox/read", data={"all": "1"}, allow_redirects=False)
    assert marked.status_code == 303 and marked.headers["Location"] == "/inbox"
    assert s.get("/api/v1/inbox/unread").json() == {"unread": 0}


def test_preferences_api_and_page(gw):
    s = gw(M1)
    prefs = s.get("/api/v1/notifications/preferences").json()
    assert prefs["channels"]["proposals"] == ["email"] and prefs["digest"] == "immediate"
    assert prefs["available"] == []  # no SMTP_URI / SMS_URL in this config: inbox only
    bad = s.put(
        "/api/v1/notifications/preferences", json={"channels": {"wages": ["email"]}, "digest": "hourly"}
    )
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"channels", "digest"}
    assert s.put("/api/v1/notifications/preferences", json={"digest": "daily"}).status_code == 400
    ok = s.put(
        "/api/v1/notifications/preferences", json={"channels": {"congress": ["sms"]}, "digest": "daily"}
    )
    assert ok.status_code == 200 and ok.json()["channels"]["congress"] == ["sms"]
    assert s.get("/notifications/preferences").status_code == 200
    refused = s.post("/notifications/preferences", data={"digest": "weekly"})
    assert refused.status_code == 400 and "未保存" in refused.text
    saved = s.post("/notifications/preferences", data={"digest": "immediate"}, allow_redirects=False)
    assert saved.status_code == 303
    assert s.get("/api/v1/notifications/preferences").json()["digest"] == "immediate"


def test_delivery_log_is_for_the_unions_admins(gw):
    assert gw(ADMIN).get("/api/v1/unions/hu1/deliveries").json()["failures"] == 0
    assert gw(M1).get("/api/v1/unions/hu1/deliveries").status_code == 403
    assert gw(OTHER_ADMIN).get("/api/v1/unions/hu1/deliveries").status_code == 403
    assert gw(ADMIN).get("/api/v1/unions/hu1/deliveries?status=lost").status_code == 400
    page = gw(ADMIN).get("/unions/hu1/deliveries")
    assert page.status_code == 200 and 'id="count-failed"' in page.text
    assert gw(M1).get("/unions/hu1/deliveries").status_code == 403
