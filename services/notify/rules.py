"""Pure rules of the notify service: kinds of event, channels, preferences, the hourly limit, digest days
and the retry plan. No nameko, no pymongo (STYLE.md rule 7); unit-tested in tests/unit/test_notify_rules.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

#: Channels. ``inbox`` is always on (it is the record a member can come back to); the others are pushes.
CHANNELS = ("inbox", "email", "sms")
PUSH_CHANNELS = ("email", "sms")
LOCALES = ("zh-CN", "en")

#: Kind of notification → the group a member sets preferences for ("channels per kind of event").
KINDS: dict[str, str] = {
    "campaign_opened": "evaluations",
    "results_published": "evaluations",
    "disclosure_published": "disclosure",
    "disclosure_corrected": "disclosure",
    "question_answered": "disclosure",
    "session_planned": "congress",
    "session_convened": "congress",
    "vote_opened": "congress",
    "resolution_adopted": "congress",
    "resolution_failed": "congress",
    "proposal_accepted": "proposals",
    "proposal_assigned": "proposals",
    "proposal_replied": "proposals",
    "proposal_overdue": "proposals",
    "case_received": "cases",
    "case_dispatched": "cases",
    "case_overdue": "cases",
    "case_replied": "cases",
    "case_assigned": "cases",
    "case_reminded": "cases",
    "case_escalated": "cases",
    "case_supervised": "cases",
    "election_round_opened": "elections",
    "election_published": "elections",
    "survey_opened": "surveys",
    "survey_reminded": "surveys",
}
GROUPS = ("evaluations", "disclosure", "congress", "proposals", "cases", "elections", "surveys")
#: Push channels on by default per group: e-mail for what concerns a member personally or as a delegate;
#: broadcasts (campaigns, disclosures) only in the inbox unless the member asks for more. SMS is opt-in.
DEFAULT_CHANNELS: dict[str, tuple[str, ...]] = {
    "evaluations": (),
    "disclosure": (),
    "congress": ("email",),
    "proposals": ("email",),
    "cases": ("email",),
    "elections": (),
    "surveys": (),
}
DIGEST_MODES = ("immediate", "daily")
#: Digest days are calendar days in China Standard Time (UTC+8, no daylight saving).
CST = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Prefs:
    """A member's preferences: push channels per group and the digest mode."""

    channels: dict[str, tuple[str, ...]]
    digest: str = "immediate"

    @classmethod
    def from_doc(cls, doc: dict | None) -> Prefs:
        """Preferences from their stored document (None → the defaults)."""
        channels = dict(DEFAULT_CHANNELS)
        if doc:
            for group, chans in (doc.get("channels") or {}).items():
                if group in channels:
                    channels[group] = tuple(c for c in chans if c in PUSH_CHANNELS)
        return cls(channels=channels, digest=(doc or {}).get("digest") or "immediate")

    def push_channels(self, kind: str, available: tuple[str, ...] = PUSH_CHANNELS) -> tuple[str, ...]:
        """The push channels a message of ``kind`` goes to (only those configured on this server)."""
        return tuple(c for c in self.channels.get(KINDS[kind], ()) if c in available)


def message_id(event_id: str, member_id: str, channel: str) -> str:
    """The one ``_id`` of a member's message for an event on a channel: inserted once, so a redelivered
    or duplicated event cannot produce a second message (exactly once per member per event)."""
    return f"{event_id}:{member_id}:{channel}"


def hour_bucket(at: datetime) -> str:
    """The hourly-limit window of ``at``: ``YYYYMMDDHH`` in UTC."""
    return at.astimezone(UTC).strftime("%Y%m%d%H")


def digest_day(at: datetime) -> str:
    """The digest a deferred message goes into: the China-time calendar day ``YYYY-MM-DD`` of ``at``."""
    return at.astimezone(CST).strftime("%Y-%m-%d")


def within_limit(sent_this_hour: int, limit: int) -> bool:
    """True if the ``sent_this_hour``-th immediate push message of a member this hour may go out now
    (counting this one); the rest go into the next digest. ``limit`` ≤ 0 means no limit."""
    return limit <= 0 or sent_this_hour <= limit


def parse_delays(text: str | list | tuple | None, default: str = "10,60,300,1800") -> tuple[float, ...]:
    """Retry delays in seconds from ``"10,60,300"`` (config ``NOTIFY_RETRY_DELAYS``); each > 0."""
    if isinstance(text, list | tuple):
        items = [float(x) for x in text]
    else:
        items = [float(x) for x in str(text or default).replace(" ", "").split(",") if x]
    if not items or any(x <= 0 for x in items):
        raise ValueError("NOTIFY_RETRY_DELAYS: a list of positive seconds, e.g. 10,60,300")
    return tuple(items)


def next_delay(delays: tuple[float, ...], attempts: int) -> float | None:
    """The back-off before the next try after ``attempts`` failed tries, or None when the message has
    used every retry (a permanent failure: status ``failed``, ``notification_failed`` published)."""
    return delays[attempts - 1] if 1 <= attempts <= len(delays) else None


def smtp_permanent(code: int | None) -> bool:
    """An SMTP reply code that retrying will not fix (5xx, RFC 5321 §4.2.1); 4xx and no reply are
    transient."""
    return code is not None and 500 <= code < 600


def http_permanent(status: int | None) -> bool:
    """An SMS provider answer that retrying will not fix: 4xx except 408 and 429. 5xx, timeouts and
    refused connections are transient."""
    return status is not None and 400 <= status < 500 and status not in (408, 429)


# --- the life of a push message (docs/architecture.md "Changing state"; resumed after a crash) ----------
#: Statuses after which nothing more happens to a push message (its ``due`` marker is removed).
FINAL = ("sent", "failed", "skipped", "digest", "digested")
#: How long a delivery worker holds a message it took (``sending``): longer than a send can take (two
#: 10 s sender timeouts plus the members look-up); after it, another worker may take the message again.
LEASE = timedelta(minutes=2)
#: A ``queued`` message whose job has not taken it after this long is re-queued by the resume timer
#: (its job was lost: a crash between the insert and the publish). Long enough for a large fan-out's
#: queue to drain, so the resume timer rarely doubles a job (a doubled job does nothing: :func:`takeable`).
RESUME_QUEUED = timedelta(minutes=10)
#: A ``retrying`` message whose delay-queue job has not come back this long after its time is re-queued.
RESUME_RETRY = timedelta(minutes=1)


def takeable(msg: dict, at: datetime) -> bool:
    """May a delivery worker take ``msg`` for sending at ``at``? ``queued`` yes; ``retrying`` once its
    ``next_at`` has come; ``sending`` only once the previous taker's lease (``lease_until``) ran out (it
    crashed); final statuses never. A duplicate job therefore does nothing."""
    status = msg.get("status")
    if status == "queued":
        return True
    if status == "retrying":
        return aware(msg.get("next_at")) <= at
    if status == "sending":
        return aware(msg.get("lease_until")) <= at
    return False


def stuck(msg: dict, at: datetime) -> bool:
    """Is ``msg`` owed a new delivery job at ``at`` (its job was lost to a crash or an outage)? ``queued``
    untouched for :data:`RESUME_QUEUED`, ``retrying`` :data:`RESUME_RETRY` past its time, ``sending``
    past its lease."""
    status = msg.get("status")
    if status == "queued":
        return aware(msg.get("updated_at")) + RESUME_QUEUED <= at
    if status == "retrying":
        return aware(msg.get("next_at")) + RESUME_RETRY <= at
    if status == "sending":
        return aware(msg.get("lease_until")) <= at
    return False


def aware(at: datetime | None) -> datetime:
    """A stored time as an aware UTC datetime (pymongo returns naive UTC; None = long ago)."""
    if at is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
