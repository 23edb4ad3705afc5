"""Local stand-ins for the outside world, for development and tests: an SMTP server (aiosmtpd) and an
SMS provider endpoint (HTTP) that append what they receive to a JSON-lines file. They listen on
127.0.0.1 only and run as their own process (aiosmtpd is asyncio, which must not share a process with
eventlet's monkey-patching)::

    python -m services.notify.devsinks smtp 2525 /tmp/mail.jsonl
    python -m services.notify.devsinks sms 8025 /tmp/sms.jsonl     # SMS_URL=http://127.0.0.1:8025/sms
"""

from __future__ import annotations

import json
import sys
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()


def _append(path: str, record: dict) -> None:
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()


def run_smtp(port: int, path: str) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            msg = message_from_bytes(envelope.content, policy=policy.default)
            _append(
                path,
                {
                    "to": envelope.rcpt_tos,
                    "from": envelope.mail_from,
                    "subject": str(msg["Subject"]),
                    "message": str(msg["X-DM-Message"] or ""),
                    "body": msg.get_body(("plain",)).get_content(),
                },
            )
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


def run_sms(port: int, path: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                data = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            _append(path, data)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": "accepted"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    kind, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    (run_smtp if kind == "smtp" else run_sms)(port, out)
