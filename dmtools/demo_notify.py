"""Demo part of notifications: the demo's own events (congress sessions and resolutions, disclosures,
the evaluation campaigns) have already reached the notify service while the other parts loaded; this
part waits until the first member's inbox has them, and gives a few members of 亦庄精密机械 (u01) their
own preferences (e-mail and SMS for the congress and proposals, one on the daily digest), set by the
members themselves through ``notify.set_prefs``, so the preferences page shows real choices.

Log in as ``M0100002`` to see the inbox (unread badge on every page) and ``/notifications/preferences``;
as ``admin01`` for ``/unions/u01/deliveries`` (e-mail and SMS are off unless ``SMTP_URI``/``SMS_URL`` are
set, so the demo's log lists only what a configured server would have sent).
"""

from __future__ import annotations

import random
import time

from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.auth import Actor, auth_secret, issue_token

from .config import load_config

UNION = "u01"
FIRST = "M0100002"
WAIT_S = 30


def load(rpc, rng: random.Random, config: dict | None = None) -> dict:
    config = config or load_config()
    secret = auth_secret(config)
    roster = rpc.members.union_roster(UNION, 0, 40)["members"]
    chosen = [m for m in roster if m["member_id"] != FIRST][:12]
    context: dict = {}
    unread = 0
    with ClusterRpcProxy(config, context_data=context, timeout=60) as as_member:
        for i, m in enumerate([{"member_id": FIRST}, *chosen]):
            context["auth_token"] = issue_token(secret, Actor(member_id=m["member_id"], union_id=UNION), 600)
            channels = {"congress": ["email", "sms"], "proposals": ["email"]}
            if rng.random() < 0.5:
                channels["disclosure"] = ["email"]
            as_member.notify.set_prefs(
                {"channels": channels, "digest": "daily" if i % 4 == 3 else "immediate"}
            )
        context["auth_token"] = issue_token(secret, Actor(member_id=FIRST, union_id=UNION), 600)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            unread = as_member.notify.unread_count()["unread"]
            if unread:
                break
            time.sleep(0.5)
    return {"members with preferences": len(chosen) + 1, f"unread messages of {FIRST}": unread}
