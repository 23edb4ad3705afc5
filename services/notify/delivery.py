"""Delivery of push messages: the RabbitMQ plumbing (kombu) and the two senders (SMTP, SMS over HTTP).

Queues (DESIGN.md §5 allows kombu directly for delayed retries and bulk publishing; consuming goes
through nameko's ``consume`` entrypoint):

- exchange ``notify.delivery`` (direct, durable);
- ``notify.deliver`` (routing key ``deliver``): the work queue, one job ``{"id": message id}`` per push
  message, consumed by ``NotifyService.deliver``;
- ``notify.retry.<ms>ms`` (routing key ``retry.<ms>ms``), one per back-off step of
  ``NOTIFY_RETRY_DELAYS``: no consumer, ``x-message-ttl`` = the step, ``x-dead-letter-exchange`` =
  ``notify.delivery`` with routing key ``deliver``. A failed job is published here and RabbitMQ moves it
  back to the work queue when its TTL runs out: back-off without a sleeping worker. One queue per step
  because RabbitMQ expires messages only at the head of a queue (a per-message TTL would let a long
  delay hold up shorter ones behind it).

With ``AMQP_QUEUE_TYPE=quorum`` (a RabbitMQ cluster, :mod:`dmlib.queues`) the work and delay queues are
quorum queues, and the delay queues dead-letter at least once.

Senders raise :class:`Transient` (try again later) or :class:`Permanent` (retrying will not help).
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import parse_qs, unquote, urlparse

import requests
from kombu import Connection, Exchange, Queue
from kombu.pools import producers
from nameko.extensions import DependencyProvider

from dmlib.queues import shared_queue

from .rules import http_permanent, parse_delays, smtp_permanent

log = logging.getLogger(__name__)

EXCHANGE = Exchange("notify.delivery", type="direct", durable=True)
WORK_QUEUE = Queue("notify.deliver", exchange=EXCHANGE, routing_key="deliver", durable=True)
SEND_TIMEOUT_S = 10


def retry_queue(delay_s: float) -> Queue:
    ms = max(1, int(round(delay_s * 1000)))
    return Queue(
        f"notify.retry.{ms}ms",
        exchange=EXCHANGE,
        routing_key=f"retry.{ms}ms",
        durable=True,
        queue_arguments={
            "x-message-ttl": ms,
            "x-dead-letter-exchange": EXCHANGE.name,
            "x-dead-letter-routing-key": "deliver",
        },
    )


class Transient(Exception):
    """The send failed in a way that may pass (server down, 4xx, timeout): retry with back-off."""


class Permanent(Exception):
    """The send failed for good (5xx, address refused, bad request): no retry."""


class Courier:
    """Publishes delivery jobs: in bulk after a fan-out batch, or into a delay queue for a retry."""

    def __init__(self, provider: CourierProvider):
        self._p = provider

    @property
    def delays(self) -> tuple[float, ...]:
        return self._p.delays

    def publish_jobs(self, message_ids: list[str]) -> int:
        """Publish one job per message id on the work queue over one pooled connection and producer.
        Returns how many were published."""
        if not message_ids:
            return 0
        with producers[self._p.connection].acquire(block=True, timeout=10) as producer:
            for mid in message_ids:
                producer.publish(
                    {"id": mid},
                    exchange=EXCHANGE,
                    routing_key="deliver",
                    serializer="json",
                    delivery_mode=2,
                    retry=True,
                )
        return len(message_ids)

    def publish_retry(self, message_id: str, delay_s: float) -> None:
        """Put a job in the delay queue of ``delay_s``; it comes back to the work queue after that."""
        queue = retry_queue(delay_s)  # only its routing key is used here: its type does not matter
        with producers[self._p.connection].acquire(block=True, timeout=10) as producer:
            producer.publish(
                {"id": message_id},
                exchange=EXCHANGE,
                routing_key=queue.routing_key,
                serializer="json",
                delivery_mode=2,
                retry=True,
            )


class CourierProvider(DependencyProvider):
    """Declares the delivery exchange and queues at start (idempotent) and injects a :class:`Courier`.
    Config: ``AMQP_URI``, ``NOTIFY_RETRY_DELAYS`` (seconds, comma-separated; default 10,60,300,1800),
    ``AMQP_QUEUE_TYPE`` (:mod:`dmlib.queues`: quorum queues on a cluster)."""

    def setup(self) -> None:
        config = self.container.config
        self.delays = parse_delays(config.get("NOTIFY_RETRY_DELAYS"))
        self.connection = Connection(config["AMQP_URI"])

    def start(self) -> None:
        with Connection(self.container.config["AMQP_URI"]) as conn:
            channel = conn.channel()
            EXCHANGE(channel).declare()
            for queue in (WORK_QUEUE, *(retry_queue(d) for d in self.delays)):
                shared_queue(queue, self.container.config)(channel).declare()

    def stop(self) -> None:
        self.connection.release()

    def kill(self) -> None:
        self.connection.release()

    def get_dependency(self, worker_ctx) -> Courier:
        return Courier(self)


@dataclass
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool
    ssl: bool
    sender: str

    @classmethod
    def parse(cls, uri: str, sender: str) -> SmtpSettings:
        """``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://…`` (implicit TLS)."""
        u = urlparse(uri)
        if u.scheme not in ("smtp", "smtps") or not u.hostname:
            raise RuntimeError("SMTP_URI must look like smtp://host:port or smtps://user:pass@host:465")
        query = parse_qs(u.query)
        return cls(
            host=u.hostname,
            port=u.port or (465 if u.scheme == "smtps" else 25),
            user=unquote(u.username) if u.username else None,
            password=unquote(u.password) if u.password else None,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            ssl=u.scheme == "smtps",
            sender=sender,
        )


class Senders:
    """What the delivery worker sends with (config ``SMTP_URI``, ``NOTIFY_FROM``, ``SMS_URL``)."""

    def __init__(self, smtp: SmtpSettings | None, sms_url: str | None):
        self.smtp = smtp
        self.sms_url = sms_url

    @property
    def available(self) -> tuple[str, ...]:
        """The push channels configured on this server (an empty ``SMTP_URI``/``SMS_URL`` turns one off)."""
        return tuple(c for c, on in (("email", self.smtp), ("sms", self.sms_url)) if on)

    def send_email(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Send one plain-text UTF-8 e-mail. Raises :class:`Transient` or :class:`Permanent`."""
        s = self.smtp
        if s is None:
            raise Permanent("e-mail channel is off (SMTP_URI empty)")
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = formataddr(("职工民主管理平台", s.sender))
        msg["To"] = to
        msg["Message-ID"] = make_msgid(domain=s.sender.rpartition("@")[2] or None)
        msg["X-DM-Message"] = message_id
        msg.set_content(body)
        try:
            cls = smtplib.SMTP_SSL if s.ssl else smtplib.SMTP
            with cls(s.host, s.port, timeout=SEND_TIMEOUT_S) as smtp:
                if s.starttls:
                    smtp.starttls()
                if s.user:
                    smtp.login(s.user, s.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(smtp_permanent(c) for c in codes):
                raise Permanent(f"recipient refused: {codes}") from None
            raise Transient(f"recipient deferred: {codes}") from None
        except smtplib.SMTPResponseException as exc:
            if smtp_permanent(exc.smtp_code):
                raise Permanent(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from None
            raise Transient(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise Transient(f"SMTP unreachable: {exc.__class__.__name__}: {exc}") from None

    def send_sms(self, to: str, text: str, message_id: str) -> None:
        """POST ``{"to", "text", "message_id"}`` (JSON) to ``SMS_URL``; 2xx = accepted by the provider.
        Raises :class:`Transient` (5xx, 408, 429, network) or :class:`Permanent` (other 4xx)."""
        if not self.sms_url:
            raise Permanent("SMS channel is off (SMS_URL empty)")
        try:
            r = requests.post(
                self.sms_url,
                json={"to": to, "text": text, "message_id": message_id},
                timeout=SEND_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise Transient(f"SMS provider unreachable: {exc.__class__.__name__}") from None
        if 200 <= r.status_code < 300:
            return
        if http_permanent(r.status_code):
            raise Permanent(f"SMS provider refused: HTTP {r.status_code}")
        raise Transient(f"SMS provider error: HTTP {r.status_code}")


class SendersProvider(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        uri = (config.get("SMTP_URI") or "").strip()
        sender = config.get("NOTIFY_FROM") or "noreply@dm.local"
        self.senders = Senders(
            SmtpSettings.parse(uri, sender) if uri else None, (config.get("SMS_URL") or "").strip() or None
        )

    def get_dependency(self, worker_ctx) -> Senders:
        return self.senders
