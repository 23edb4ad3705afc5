"""HTTP API and pages of notifications: the member's inbox (with the unread count every page shows), the
preferences page (push channels per kind of event, digest) and, for admins, the delivery log of their
union's members with failure counts. Rights are checked by the notify service on the caller's token:
a member reads and marks only their own inbox; an admin sees the log of their union and those below."""

from __future__ import annotations

from urllib.parse import urlencode

from dmlib.contracts import notify as c

from .http import api, page
from .routing import Router

GROUP_LABELS = {
    "evaluations": "Worker Home evaluations",
    "disclosure": "Factory-affairs disclosure",
    "congress": "Workers' congress",
    "proposals": "Proposals",
    "elections": "Elections",
}


def _back(request, default: str) -> str:
    target = request.form.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else default


class NotifyRoutes(Router):
    uses = ("notify_rpc", "members_rpc")

    # ----- API -----------------------------------------------------------------------------------
    @api("GET", "/api/v1/inbox", query=c.InboxIn, response=c.InboxOut, tags=["notify"])
    def api_inbox(self, request):
        """A page of the caller's inbox, newest first, with ``read`` per message and the unread count."""
        return self.notify_rpc.inbox(request.args.to_dict())

    @api("GET", "/api/v1/inbox/unread", response=c.UnreadOut, tags=["notify"])
    def api_inbox_unread(self, request):
        """``{"unread": n}``: the badge every page shows (fetched by static/app.js; two ``_id`` reads)."""
        return self.notify_rpc.unread_count()

    @api("POST", "/api/v1/inbox/read", body=c.MarkReadIn, response=c.MarkReadOut, tags=["notify"])
    def api_inbox_read(self, request, body):
        """Mark messages read: ``{"ids": [...]}`` (only the caller's own: another id is 404 and nothing is
        marked) or ``{"all": true}``."""
        return self.notify_rpc.mark_read(body)

    @api("GET", "/api/v1/notifications/preferences", response=c.PrefsOut, tags=["notify"])
    def api_get_prefs(self, request):
        """The caller's notification preferences and the channels this server offers."""
        return self.notify_rpc.get_prefs()

    @api("PUT", "/api/v1/notifications/preferences", body=c.PrefsIn, response=c.PrefsOut, tags=["notify"])
    def api_set_prefs(self, request, body):
        """Replace the caller's preferences: ``{"channels": {group: ["email", "sms"]}, "digest":
        "immediate" | "daily"}`` (400 with field messages for an unknown group, channel or mode)."""
        return self.notify_rpc.set_prefs(body)

    @api(
        "GET",
        "/api/v1/unions/<union_id>/deliveries",
        query=c.DeliveryLogIn,
        response=c.DeliveryLogOut,
        tags=["notify"],
    )
    def api_deliveries(self, request, union_id):
        """The delivery log of a union's members (e-mail, SMS, digests): counts per status, failures,
        retries, and the messages with their tries. Admins of the union or above (403 otherwise)."""
        return self.notify_rpc.delivery_log({**request.args.to_dict(), "union_id": union_id})

    # ----- pages ---------------------------------------------------------------------------------
    @page("GET", "/inbox")
    def inbox_page(self, request):
        query = {k: v for k, v in request.args.items() if k in ("page", "unread")}
        # each message in the page's language (issue 16), whatever language it was sent in
        box = self.notify_rpc.inbox({**query, "locale": self.web.locale})
        return self.web.render(
            "notify/inbox.html", request=request, box=box, only_unread=query.get("unread") == "1"
        )

    @page("POST", "/inbox/read")
    def inbox_read_submit(self, request):
        ids = request.form.getlist("id")
        body = {"all": True} if request.form.get("all") else {"ids": ids}
        self.notify_rpc.mark_read(body)
        return self.web.redirect(_back(request, "/inbox"))

    def _prefs_page(self, request, prefs: dict, status: int = 200, errors: dict | None = None):
        return self.web.render(
            "notify/preferences.html",
            status=status,
            request=request,
            prefs=prefs,
            groups=GROUP_LABELS,
            errors=errors or {},
        )

    @page("GET", "/notifications/preferences")
    def prefs_page(self, request):
        return self._prefs_page(request, self.notify_rpc.get_prefs())

    @page("POST", "/notifications/preferences")
    def prefs_submit(self, request):
        channels = {g: request.form.getlist(f"ch-{g}") for g in GROUP_LABELS}
        body = {"channels": channels, "digest": request.form.get("digest", "immediate")}
        refusal = self.web.attempt(self.notify_rpc.set_prefs, body).refusal
        if refusal:
            prefs = {**self.notify_rpc.get_prefs(), **body}
            return self._prefs_page(request, prefs, status=refusal.status, errors=refusal.errors)
        return self.web.redirect("/notifications/preferences", self.web.gettext("Saved"))

    @page("GET", "/unions/<union_id>/deliveries")
    def deliveries_page(self, request, union_id):
        """The delivery log of a union and the unions below (``status``, ``channel``, ``page``) with a
        union filter (``union``: one union below, then its members' messages only; issue 16)."""
        query = {k: v for k, v in request.args.items() if k in ("page", "status", "channel") and v}
        below = [u for u in self.members_rpc.list_unions(union_id) if u["id"] != union_id]
        picked = (request.args.get("union") or "").strip()
        chosen = next((u for u in below if u["id"] == picked), None)
        if chosen:
            query["union"] = chosen["id"]
        ask = {k: v for k, v in query.items() if k != "union"}
        log = self.notify_rpc.delivery_log(
            {**ask, "union_id": picked if chosen else union_id, "per_page": 50}
        )
        union = self.members_rpc.get_union(union_id)
        return self.web.render(
            "notify/deliveries.html",
            request=request,
            log=log,
            union=union,
            query=query,
            statuses=c.STATUSES,
            below=below,
            older="?" + urlencode({**query, "page": log["page"] + 1}),
        )
