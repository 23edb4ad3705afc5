"""Pure rules of the notify service and its templates: preferences, the hourly limit, digest days, the
retry plan, what counts as a permanent failure, and every kind rendering in both languages."""

from datetime import UTC, datetime

import pytest
from jinja2 import UndefinedError

from services.notify.delivery import SmtpSettings, retry_queue
from services.notify.render import SMS_MAX, Renderer, make_env
from services.notify.rules import (
    KINDS,
    Prefs,
    digest_day,
    hour_bucket,
    http_permanent,
    message_id,
    next_delay,
    parse_delays,
    smtp_permanent,
    within_limit,
)


def test_defaults_email_for_personal_and_congress_matters_broadcasts_inbox_only():
    p = Prefs.from_doc(None)
    assert p.push_channels("proposal_replied") == ("email",)
    assert p.push_channels("vote_opened") == ("email",)
    assert p.push_channels("campaign_opened") == ()
    assert p.push_channels("disclosure_published") == ()
    assert p.digest == "immediate"


def test_preferences_per_group_only_on_configured_channels():
    p = Prefs.from_doc(
        {"channels": {"evaluations": ["email", "sms", "fax"], "proposals": []}, "digest": "daily"}
    )
    assert p.push_channels("results_published") == ("email", "sms")
    assert p.push_channels("results_published", available=("sms",)) == ("sms",)
    assert p.push_channels("proposal_accepted") == ()
    assert p.push_channels("session_planned") == ("email",)  # a group not given keeps its default
    assert p.digest == "daily"


def test_one_message_id_per_event_member_and_channel():
    assert message_id("e1", "M1", "email") == "e1:M1:email"
    assert len({message_id("e1", "M1", c) for c in ("inbox", "email", "sms")}) == 3


@pytest.mark.parametrize(
    ("count", "limit", "ok"), [(1, 5, True), (5, 5, True), (6, 5, False), (999, 0, True)]
)
def test_hourly_limit(count, limit, ok):
    assert within_limit(count, limit) is ok


def test_hour_bucket_utc_and_digest_day_china_time():
    at = datetime(2026, 11, 21, 16, 30, tzinfo=UTC)  # 00:30 on the 22nd in Beijing
    assert hour_bucket(at) == "2026112116"
    assert digest_day(at) == "2026-11-22"
    assert digest_day(datetime(2026, 11, 21, 15, 59, tzinfo=UTC)) == "2026-11-21"


def test_retry_plan():
    delays = parse_delays("10, 60,300")
    assert delays == (10.0, 60.0, 300.0)
    assert [next_delay(delays, n) for n in (1, 2, 3, 4)] == [10.0, 60.0, 300.0, None]
    assert parse_delays(None) == (10.0, 60.0, 300.0, 1800.0)
    for bad in ("0,5", "-1", "a"):
        with pytest.raises(ValueError):
            parse_delays(bad)
    q = retry_queue(0.3)
    assert q.name == "notify.retry.300ms" and q.queue_arguments["x-message-ttl"] == 300
    assert q.queue_arguments["x-dead-letter-routing-key"] == "deliver"


@pytest.mark.parametrize(
    ("code", "permanent"), [(550, True), (554, True), (421, False), (451, False), (None, False)]
)
def test_smtp_codes(code, permanent):
    assert smtp_permanent(code) is permanent


@pytest.mark.parametrize(
    ("status", "permanent"), [(400, True), (404, True), (408, False), (429, False), (503, False)]
)
def test_sms_provider_statuses(status, permanent):
    assert http_permanent(status) is permanent


def test_smtp_uri():
    s = SmtpSettings.parse("smtps://u%40x:p%3Aw@mail.example.org", "noreply@x.org")
    assert (s.host, s.port, s.user, s.password, s.ssl) == ("mail.example.org", 465, "u@x", "p:w", True)
    s = SmtpSettings.parse("smtp://127.0.0.1:2525?starttls=1", "a@b")
    assert (s.port, s.starttls, s.user) == (2525, True, None)
    with pytest.raises(RuntimeError):
        SmtpSettings.parse("http://x", "a@b")


CONTEXT = {
    "title": "标题",
    "union_name": "总工会",
    "closes_at": "2026-12-01 18:00",
    "star_level": 4,
    "ballots": 10,
    "mandatory": True,
    "revision": 2,
    "reason": "更正",
    "scheduled_at": "2026-12-05 09:30",
    "due_count": 120,
    "present_count": 85,
    "item_title": "决议",
    "yes": 61,
    "no": 30,
    "abstain": 5,
    "due": 120,
    "required": 61,
    "subject": "提案",
    "deadline": "2026-12-20",
    "role": "proposer",
    "case_id": "26120400001",
    "sign_for_by": "2026-12-07 11:00",
    "limit": "contact",
    "when": "after",
    "due_at": "2026-12-08 00:00",
    "n": 2,
    "round_kind": "runoff",
    "seats": 9,
    "elected": 9,
    "name": "张三",
    "url": "http://x/y",
    "base_url": "http://x",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_kind_renders_every_channel_in_both_languages(kind, locale):
    out = Renderer(make_env()).render(kind, locale, CONTEXT, ("subject", "inbox", "email", "sms"))
    assert all(out.values()) and len(out["sms"]) <= SMS_MAX
    assert ("http://x/y" in out["email"]) and (
        ("张三，您好" if locale == "zh-CN" else "Dear 张三") in out["email"]
    )
    fixed = out["subject"].split("：")[0].split(":")[0]  # the template's own words, before the title
    assert fixed.isascii() is (locale == "en")


def test_a_missing_variable_is_an_error_not_a_blank():
    with pytest.raises(UndefinedError):
        Renderer(make_env()).render("campaign_opened", "zh-CN", {"name": "x"}, ("subject",))
