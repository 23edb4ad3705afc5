"""The notify service over the real RabbitMQ and FerretDB, with the real members service, a real local
SMTP server (aiosmtpd) and a local SMS receiver (HTTP), both in their own processes on 127.0.0.1.

Voting and congress are stood in for by two small nameko services answering the RPCs notify asks
(``get_campaign``, ``get_session``, ``list_delegates``); every event is published over RabbitMQ with
nameko's dispatcher, signed with the owning service's key, as the owning services do."""

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from kombu import Connection
from nameko.events import event_handler
from nameko.rpc import rpc

from dmlib.errors import BadInput, Forbidden, NotFound
from dmlib.schemas import resident_id_check_char
from dmtools.stack import free_port
from services.members.service import MembersService
from services.notify import app
from services.notify.delivery import Courier
from services.notify.rules import LEASE, digest_day
from services.notify.service import NotifyService
from services.notify.store import NotifyStore, now
from tests.helpers import ROOT, SYSTEM, member, publish_event, union_admin, wait_until

pytestmark = pytest.mark.integration

M1 = member("N0000001", "nu1", name="张三")  # zh-CN, e-mail and phone
M2 = member("N0000002", "nu1", name="Li Si")  # en, e-mail and phone
M3 = member("N0000003", "nu1", name="王五")  # zh-CN, no e-mail, no phone, default preferences
ADMIN = union_admin("nu1", "N0000009")
OTHER_ADMIN = union_admin("nu2", "N0000099")
ALL_PUSH = {
    "channels": {
        g: ["email", "sms"] for g in ("evaluations", "disclosure", "congress", "proposals", "elections")
    }
}
FAILED: list[dict] = []


class FakeVoting:
    name = "voting"

    @rpc
    def get_campaign(self, campaign_id):
        return {
            "id": campaign_id,
            "title": "2026年度星级职工之家评选",
            "union_name": "测试总工会",
            "closes_at": "2026-12-01T10:00:00Z",
            "homes": [{"union_id": "nu1"}],
        }


class FakeCongress:
    name = "congress"

    @rpc
    def get_session(self, session_id):
        return {
            "id": session_id,
            "term_id": "cg-nu1-t1",
            "union_id": "nu1",
            "title": "第三届职代会第二次会议",
            "scheduled_at": "2026-12-05T01:30:00Z",
            "items": [{"id": f"{session_id}-i1", "title": "集体合同草案"}],
        }

    @rpc
    def list_delegates(self, term_id):
        return [{"member_id": "N0000001"}, {"member_id": "N0000002"}]


class FailureListener:
    name = "notify_failure_listener"

    @event_handler("notify", "notification_failed")
    def failed(self, payload):
        FAILED.append(payload)


def national_id(i: int) -> str:
    first17 = f"11011519900101{i:03d}"
    return first17 + resident_id_check_char(first17)


class Sink:
    """A local SMTP server or SMS receiver in its own process, recording to a JSON-lines file."""

    def __init__(self, kind: str, tmp_path, port: int | None = None):
        self.kind, self.port = kind, port or free_port()
        self.path = str(tmp_path / f"{kind}-{uuid.uuid4().hex[:6]}.jsonl")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.notify.devsinks", self.kind, str(self.port), self.path],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def records(self) -> list[dict]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def sinks(tmp_path):
    smtp, sms = Sink("smtp", tmp_path).start(), Sink("sms", tmp_path).start()
    yield smtp, sms
    smtp.stop()
    sms.stop()


@pytest.fixture
def start(config, runner_factory, rpc_as, sinks):
    """``start(**config_overrides)``: members, notify and the stand-ins running, a union ``nu1`` with
    three members (one English), an admin, and M1/M2 opted in to e-mail and SMS for everything."""
    smtp, sms = sinks

    def go(**overrides):
        cfg = {
            **config,
            "SMTP_URI": f"smtp://127.0.0.1:{smtp.port}",
            "SMS_URL": f"http://127.0.0.1:{sms.port}/sms",
            "NOTIFY_RETRY_DELAYS": "0.3,0.6,1.2,2.4",
            "NOTIFY_HOURLY_LIMIT": 100,
            **overrides,
        }
        runner = runner_factory(cfg, MembersService, NotifyService, FakeVoting, FakeCongress, FailureListener)
        runner.start()
        with rpc_as(SYSTEM) as r:
            r.members.create_union({"id": "nf", "name": "测试总工会", "kind": "federation"})
            for u in ("nu1", "nu2"):
                r.members.create_union({"id": u, "name": f"工会{u}", "kind": "grassroots", "parent_id": "nf"})
            people = [
                ("N0000001", "张三", "nu1", "zh-CN", "n1@example.org", "13800000001"),
                ("N0000002", "Li Si", "nu1", "en", "n2@example.org", "13800000002"),
                ("N0000003", "王五", "nu1", "zh-CN", None, None),
                ("N0000009", "管理员", "nu1", "zh-CN", None, None),
                ("N0000099", "外单位管理员", "nu2", "zh-CN", None, None),
            ]
            for i, (no, name, union, locale, email, phone) in enumerate(people, 1):
                r.members.register_member(
                    {
                        "member_no": no,
                        "name": name,
                        "union_id": union,
                        "national_id": national_id(i),
                        "locale": locale,
                        "email": email,
                        "phone": phone,
                    }
                )
        for who in (M1, M2):
            with rpc_as(who) as r:
                r.notify.set_prefs(ALL_PUSH)
        return cfg

    return go


def dispatch(cfg, source: str, event: str, **payload) -> dict:
    return publish_event(cfg, source, event, **payload)


EVENTS = [
    ("voting", "poll_opened", {"poll_id": "evx", "kind": "rating", "owner": "evaluations", "ref": "evx"}),
    ("voting", "results_published", {"campaign_id": "evx", "union_id": "nf", "homes": 1, "ballots": 3,
                                     "star_levels": {"nu1": 4}}),
    ("disclosure", "disclosure_published", {"item_id": "d1", "union_id": "nu1", "category": "welfare",
                                            "title": "食堂账目公开", "mandatory": True, "revision": 1}),
    ("disclosure", "disclosure_corrected", {"item_id": "d1", "union_id": "nu1", "revision": 2,
                                            "title": "食堂账目公开", "mandatory": True, "reason": "金额更正"}),
    ("disclosure", "question_answered", {"question_id": "q1", "item_id": "d1", "union_id": "nu1",
                                         "anonymous": False, "asker_id": "N0000002"}),
    ("congress", "session_planned", {"congress_id": "cg-nu1", "term_id": "cg-nu1-t1", "session_id": "s1"}),
    ("congress", "session_convened", {"congress_id": "cg-nu1", "term_id": "cg-nu1-t1", "session_id": "s1",
                                      "due_count": 2, "present_count": 2}),
    ("congress", "vote_opened", {"congress_id": "cg-nu1", "session_id": "s1", "item_id": "s1-i1",
                                 "poll_id": "p1", "eligible": 2}),
    ("congress", "resolution_adopted", {"congress_id": "cg-nu1", "term_id": "cg-nu1-t1", "session_id": "s1",
                                        "item_id": "s1-i1", "poll_id": "p1", "title": "集体合同草案", "yes": 2,
                                        "no": 0, "abstain": 0, "ballots": 2, "eligible": 2, "due": 2,
                                        "required": 2}),
    ("congress", "resolution_failed", {"congress_id": "cg-nu1", "term_id": "cg-nu1-t1", "session_id": "s1",
                                       "item_id": "s1-i2", "poll_id": "p2", "title": "加班制度修订", "yes": 1,
                                       "no": 1, "abstain": 0, "ballots": 2, "eligible": 2, "due": 2,
                                       "required": 2}),
] + [
    ("proposals", kind, {"proposal_id": "pr1", "union_id": "nu1", "proposer_id": "N0000001",
                         "cosigner_ids": ["N0000002"], "department_ids": ["nu1-d1"], "subject": "改善车间通风"})
    for kind in ("proposal_accepted", "proposal_assigned", "proposal_replied", "proposal_overdue")
] + [
    ("elections", "round_opened", {"election_id": "el-1", "round_id": "el-1-r1", "union_id": "nu1", "n": 1,
                                   "kind": "first", "title": "工会委员会选举", "seats": 9, "electorate": "union",
                                   "term_id": None}),
    ("elections", "election_published", {"election_id": "el-1", "union_id": "nu1", "title": "工会委员会选举",
                                         "elected": 9}),
]  # fmt: skip
#: kind → who gets it: the union's roster (M1, M2, M3 and the admin) for broadcasts; the delegates (M1, M2);
#: the asker (M2); the proposer and co-signer (M1, M2).
ROSTER = {"N0000001", "N0000002", "N0000003", "N0000009"}
AUDIENCE = {
    "campaign_opened": ROSTER,
    "results_published": ROSTER,
    "disclosure_published": ROSTER,
    "disclosure_corrected": ROSTER,
    "question_answered": {"N0000002"},
    "session_planned": {"N0000001", "N0000002"},
    "session_convened": {"N0000001", "N0000002"},
    "vote_opened": {"N0000001", "N0000002"},
    "resolution_adopted": ROSTER,
    "resolution_failed": ROSTER,
    "proposal_accepted": {"N0000001", "N0000002"},
    "proposal_assigned": {"N0000001", "N0000002"},
    "proposal_replied": {"N0000001", "N0000002"},
    "proposal_overdue": {"N0000001", "N0000002"},
    "election_round_opened": ROSTER,
    "election_published": ROSTER,
}


def kind_of(source_event: str, payload: dict) -> str:
    return {"poll_opened": "campaign_opened", "round_opened": "election_round_opened"}.get(
        source_event, source_event
    )


def test_every_event_reaches_inbox_email_and_sms_in_the_members_language(start, sinks, rpc_as, db):
    smtp, sms = sinks
    cfg = start()
    sent = {}
    for source, event, payload in EVENTS:
        body = dispatch(cfg, source, event, **payload)
        sent[kind_of(event, payload)] = body["event_id"]
    expected_inbox = sum(len(v) for v in AUDIENCE.values())
    wait_until(lambda: db("notify").inbox.count_documents({}) == expected_inbox, timeout=30)
    wait_until(lambda: db("notify").fanouts.count_documents({"state": "done"}) == len(EVENTS), timeout=10)
    push = sum(
        len(v & {"N0000001", "N0000002"}) for v in AUDIENCE.values()
    )  # the others: defaults, no address
    wait_until(lambda: len(smtp.records()) >= push and len(sms.records()) >= push, timeout=30)

    # the inbox, through the service, in each member's language
    mine = sum("N0000001" in v for v in AUDIENCE.values())
    with rpc_as(M1) as r:
        wait_until(lambda: r.notify.unread_count()["unread"] == mine, timeout=10)
        box = r.notify.inbox({"per_page": 100})
    assert box["total"] == sum("N0000001" in v for v in AUDIENCE.values()) == box["unread"]
    subjects = {m["kind"]: m["subject"] for m in box["items"]}
    assert subjects["campaign_opened"] == "评选活动已开始：2026年度星级职工之家评选"
    assert subjects["resolution_failed"] == "决议未通过：加班制度修订"
    assert "question_answered" not in subjects
    with rpc_as(M2) as r:
        box2 = r.notify.inbox({"per_page": 100})
    subjects2 = {m["kind"]: m["subject"] for m in box2["items"]}
    assert subjects2["disclosure_published"] == "Disclosure: 食堂账目公开"
    assert subjects2["question_answered"] == "Your question was answered"
    assert "4 stars" in next(m["body"] for m in box2["items"] if m["kind"] == "results_published")
    # read in the other language (the page's, issue 16): the same messages, rendered in it at fan-out
    with rpc_as(M1) as r:
        english = {
            m["kind"]: m["subject"] for m in r.notify.inbox({"per_page": 100, "locale": "en"})["items"]
        }
    assert english.keys() == subjects.keys()
    assert english["resolution_failed"] == "Resolution failed: 加班制度修订"
    with rpc_as(M2) as r:
        chinese = {
            m["kind"]: m["subject"] for m in r.notify.inbox({"per_page": 100, "locale": "zh-CN"})["items"]
        }
    assert chinese["disclosure_published"] == "厂务公开：食堂账目公开"
    with rpc_as(M3) as r:
        assert {m["kind"] for m in r.notify.inbox({"per_page": 100})["items"]} == {
            k for k, v in AUDIENCE.items() if "N0000003" in v
        }

    # e-mail at the local SMTP server and SMS at the local receiver: one per member, kind and channel
    mails = smtp.records()
    assert len(mails) == push
    by_to = {}
    for m in mails:
        by_to.setdefault(m["to"][0], []).append(m)
    assert {m["message"].split(":")[0] for m in by_to["n1@example.org"]} == {
        sent[k] for k, v in AUDIENCE.items() if "N0000001" in v
    }
    zh = next(m for m in by_to["n1@example.org"] if m["message"].startswith(sent["proposal_replied"]))
    assert zh["subject"] == "提案已答复：改善车间通风" and zh["body"].startswith("张三，您好：")
    en = next(m for m in by_to["n2@example.org"] if m["message"].startswith(sent["proposal_replied"]))
    assert en["subject"] == "Proposal replied: 改善车间通风" and en["body"].startswith("Dear Li Si,")
    assert "/proposals/pr1" in en["body"]
    texts = sms.records()
    assert len(texts) == push
    assert {t["to"] for t in texts} == {"13800000001", "13800000002"}
    vote_zh = next(t for t in texts if t["message_id"] == f"{sent['vote_opened']}:N0000001:sms")
    assert vote_zh["text"] == "【职代会】“集体合同草案”正在表决，已签到代表请投票。"
    vote_en = next(t for t in texts if t["message_id"] == f"{sent['vote_opened']}:N0000002:sms")
    assert vote_en["text"].startswith("[Congress] Vote open on “集体合同草案”")

    # the delivery log: every push message sent, none failed. M3 and the admin keep the default
    # preferences (e-mail for congress matters) but have no address: their two resolutions are skipped.
    out = db("notify").outbox
    wait_until(lambda: out.count_documents({"status": "sent"}) == 2 * push, timeout=15)
    wait_until(lambda: out.count_documents({"status": "skipped"}) == 4, timeout=15)
    m3 = list(out.find({"member_id": "N0000003"}))
    assert {(d["kind"], d["channel"], d["log"][-1]["note"]) for d in m3} == {
        ("resolution_adopted", "email", "no e-mail address on record"),
        ("resolution_failed", "email", "no e-mail address on record"),
    }
    with rpc_as(ADMIN) as r:
        report = r.notify.delivery_log({"union_id": "nu1", "per_page": 5})
    assert report["counts"] == {"sent": 2 * push, "skipped": 4} and report["failures"] == 0
    assert report["total"] == 2 * push + 4 and len(report["items"]) == 5
    with rpc_as(OTHER_ADMIN) as r, pytest.raises(Forbidden):
        r.notify.delivery_log({"union_id": "nu1"})
    fan = db("notify").fanouts.find_one({"_id": sent["campaign_opened"]})
    assert fan["state"] == "done" and fan["members"] == 4 and fan["inbox"] == 4


def test_the_same_event_twice_gives_one_message_per_member(start, sinks, rpc_as, db, caplog):
    smtp, sms = sinks
    cfg = start()
    twice = [EVENTS[2], EVENTS[10]]  # a union broadcast and a named audience
    for source, event, payload in twice:
        body = dispatch(cfg, source, event, **payload)
        dispatch(cfg, source, event, **body)  # the same event_id: a duplicate publish (or a replay)
    # the copy is refused before the handler runs (dmlib.rpc.VerifiedEventHandler), the first runs once
    wait_until(lambda: len([r for r in caplog.records if "event refused" in r.getMessage()]) == 2, timeout=30)
    wait_until(lambda: db("notify").fanouts.count_documents({"runs": 1, "state": "done"}) == 2, timeout=30)
    wait_until(lambda: db("notify").outbox.count_documents({"status": "sent"}) == 8, timeout=15)
    assert db("notify").inbox.count_documents({}) == 4 + 2
    assert len(smtp.records()) == 4 and len(sms.records()) == 4
    with rpc_as(M1) as r:
        box = r.notify.inbox()
    assert box["total"] == 2 and box["unread"] == 2


def test_above_the_hourly_limit_the_rest_goes_into_the_digest(start, sinks, rpc_as, db):
    smtp, _ = sinks
    cfg = start(NOTIFY_HOURLY_LIMIT=2, SMS_URL="")
    for n, subject in enumerate(["第一件", "第二件", "第三件"]):
        dispatch(cfg, "proposals", "proposal_accepted", proposal_id=f"px{n}", union_id="nu1",
                 proposer_id="N0000001", cosigner_ids=[], department_ids=[], subject=subject)  # fmt: skip
    out = db("notify").outbox
    wait_until(lambda: out.count_documents({"status": "sent"}) == 2, timeout=20)
    deferred = wait_until(lambda: list(out.find({"status": "digest"})), timeout=10)
    assert len(deferred) == 1 and deferred[0]["log"][-1]["note"] == "over the hourly limit of 2"
    assert len(smtp.records()) == 2

    with rpc_as(SYSTEM) as r:
        with pytest.raises(BadInput):
            r.notify.run_digests("tomorrow")
        assert r.notify.run_digests(digest_day(now() + timedelta(days=1))) == {"sent": 1}
        assert r.notify.run_digests(digest_day(now() + timedelta(days=1))) == {"sent": 0}  # once a day
    wait_until(lambda: len(smtp.records()) == 3, timeout=15)
    digest = smtp.records()[-1]
    assert digest["subject"].startswith("职工民主管理平台每日摘要：1条通知")
    assert deferred[0]["subject"] in digest["body"]
    assert out.find_one({"_id": deferred[0]["_id"]})["status"] == "digested"
    with rpc_as(M1) as r:  # the inbox has all three at once: the limit is for pushes
        assert r.notify.inbox()["total"] == 3


def test_smtp_down_messages_are_retried_and_delivered_when_it_comes_back(start, sinks, db):
    smtp, _ = sinks
    smtp.stop()
    cfg = start(NOTIFY_RETRY_DELAYS="0.5,1,2,4,8", SMS_URL="")
    dispatch(cfg, "congress", "session_planned", congress_id="cg-nu1", term_id="cg-nu1-t1", session_id="s1")
    out = db("notify").outbox
    wait_until(lambda: out.count_documents({"status": "retrying", "attempts": {"$gte": 2}}) == 2, timeout=20)
    assert smtp.records() == []
    smtp.start()  # the server comes back on the same port
    wait_until(lambda: out.count_documents({"status": "sent"}) == 2, timeout=30)
    assert sorted(m["to"][0] for m in smtp.records()) == ["n1@example.org", "n2@example.org"]
    for doc in out.find({}):
        statuses = [line["status"] for line in doc["log"]]
        assert statuses[0] == "queued" and statuses[-1] == "sent" and statuses.count("retrying") >= 2
        assert "SMTP unreachable" in doc["log"][1]["note"]
    assert FAILED == [] or all(f["channel"] != "email" for f in FAILED)


def test_a_permanent_failure_publishes_notification_failed(start, db):
    FAILED.clear()
    cfg = start(NOTIFY_RETRY_DELAYS="0.2,0.4", SMS_URL=f"http://127.0.0.1:{free_port()}/sms", SMTP_URI="")
    body = dispatch(cfg, "disclosure", "question_answered", question_id="q9", item_id="d9", union_id="nu1",
                    anonymous=False, asker_id="N0000001")  # fmt: skip
    wait_until(lambda: FAILED, timeout=20)
    doc = db("notify").outbox.find_one({"_id": f"{body['event_id']}:N0000001:sms"})
    assert doc["status"] == "failed" and doc["attempts"] == 3
    assert [line["status"] for line in doc["log"]] == ["queued", "retrying", "retrying", "failed"]
    assert FAILED[0]["message_id"] == doc["_id"] and FAILED[0]["channel"] == "sms"


def test_inbox_rights_marking_and_preferences(start, rpc_as, db):
    cfg = start(SMS_URL="")
    dispatch(cfg, *EVENTS[2][:2], **EVENTS[2][2])
    dispatch(cfg, *EVENTS[4][:2], **EVENTS[4][2])
    wait_until(lambda: db("notify").inbox.count_documents({}) == 5, timeout=20)
    wait_until(lambda: db("notify").fanouts.count_documents({"state": "done"}) == 2, timeout=10)
    with rpc_as(M2) as r:
        box = r.notify.inbox()
        assert r.notify.unread_count() == {"unread": 2}
        with pytest.raises(BadInput):
            r.notify.mark_read({})
        with pytest.raises(BadInput):
            r.notify.inbox({"per_page": 0})
        first = box["items"][0]["id"]
        assert r.notify.mark_read({"ids": [first]}) == {"marked": 1, "unread": 1}
        assert r.notify.mark_read({"ids": [first]}) == {"marked": 0, "unread": 1}
        assert r.notify.inbox({"unread": True})["total"] == 1
    with rpc_as(M1) as r:
        with pytest.raises(NotFound):  # another member's message: refused, nothing marked
            r.notify.mark_read({"ids": [first]})
        assert r.notify.unread_count() == {"unread": 1}
        assert r.notify.mark_read({"all": True}) == {"marked": 1, "unread": 0}
        with pytest.raises(BadInput) as bad:
            r.notify.set_prefs({"channels": {"congress": ["fax"]}, "digest": "weekly"})
        assert set(bad.value.fields) == {"channels", "digest"}
        prefs = r.notify.set_prefs({"channels": {"congress": ["email"]}, "digest": "daily"})
        assert prefs["channels"]["congress"] == ["email"] and prefs["channels"]["proposals"] == []
        assert prefs["digest"] == "daily" and prefs["available"] == ["email"] and prefs["has_email"]
    assert db("members").members.find_one({"_id": "N0000002"})["locale"] == "en"
    with rpc_as(SYSTEM) as r:  # the roster carries the locale the fan-out renders in
        roster = r.members.union_roster("nu1")
    assert {m["member_id"]: m["locale"] for m in roster["members"]}["N0000002"] == "en"


def test_a_message_left_sending_by_a_crash_is_resumed_and_sent_once(start, sinks, db):
    """A worker took a message (``sending``) and died: after its lease the resume step re-queues it
    over the real FerretDB and RabbitMQ, the running service sends it, and a duplicate job sends nothing."""
    smtp, _ = sinks
    cfg = start(SMS_URL="")
    store = NotifyStore(db("notify"))
    mid = "crash1:N0000001:email"
    taken_at = now() - LEASE - timedelta(seconds=1)
    store.insert_outbox([{
        "_id": mid, "member_id": "N0000001", "name": "张三", "union_id": "nu1", "union_path": ["nf", "nu1"],
        "event_id": "crash1", "kind": "proposal_accepted", "channel": "email", "locale": "zh-CN",
        "subject": "提案已立案", "body": "…", "link": "/proposals/p1", "status": "queued", "attempts": 0,
        "log": [{"at": taken_at, "status": "queued", "note": ""}], "at": taken_at, "updated_at": taken_at,
    }])  # fmt: skip
    assert store.take(store.get_outbox(mid), taken_at, taken_at + LEASE)["status"] == "sending"
    with Connection(cfg["AMQP_URI"]) as conn:
        courier = Courier(SimpleNamespace(connection=conn, delays=(1.0,)))
        assert app.resume_deliveries(store, now, courier) == 1
        wait_until(lambda: store.get_outbox(mid)["status"] == "sent", timeout=20)
        courier.publish_jobs([mid])  # a late duplicate job
        assert app.resume_deliveries(store, now, courier) == 0
    wait_until(lambda: store.owed() == [], timeout=10)
    assert [m["to"][0] for m in smtp.records()] == ["n1@example.org"]
    assert [line["status"] for line in store.get_outbox(mid)["log"]] == ["queued", "queued", "sent"]
