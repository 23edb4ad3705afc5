"""The projector view (大屏) of a congress session and its revocable read-only links (issue 14).

Pages: ``/congress/sessions/<id>/projector`` (logged-in readers of the session) and
``/projector/congress/<token>`` (anyone holding a live link, no login): a full-screen 16:9 page, Chinese
first with English, that ``static/projector.js`` keeps current by polling the JSON twin every 1.5 s and
updating the numbers and bars in place (no reload; a reload shows the same state, everything is read
from the server). ``/congress/sessions/<id>/projector-links``: the session's admins create, copy and
revoke links (revoking asks for confirmation). The links are stored and checked by their owner, the
congress service (:mod:`services.congress.projector`); the JSON of a link holds counts only.
"""

from __future__ import annotations

from urllib.parse import quote

from dmlib.contracts import congress as c
from dmlib.errors import Forbidden

from .http import api, page
from .pages import require_confirmed
from .routing import Router

#: How often the page asks for the counts (milliseconds; issue 14: every 1–2 s).
POLL_MS = 1500


def link_path(token: str) -> str:
    """The public page of a projector link."""
    return f"/projector/congress/{quote(token, safe='')}"


class ProjectorRoutes(Router):
    uses = ("congress_rpc",)

    # ----- API -----------------------------------------------------------------------------------
    @api(
        "GET", "/api/v1/congress/sessions/<session_id>/projector", response=c.ProjectorOut, tags=["projector"]
    )
    def api_projector(self, request, session_id):
        """The projector view's counts for a logged-in reader of the session: 应到 / 实到, the quorum
        needed, the item being voted (ballots of eligible), the last outcome with counts. No voter
        identity. 403 / 404."""
        return self.congress_rpc.projector(session_id)

    @api(
        "GET",
        "/api/v1/projector/congress/<token>",
        response=c.ProjectorOut,
        tags=["projector"],
        public=True,
    )
    def api_projector_by_link(self, request, token):
        """The same counts through a read-only link, without a login. 404 for an unknown or forged
        token; 403 with ``details.revoked`` true once the link is revoked."""
        return self.congress_rpc.projector_by_link(token)

    @api(
        "GET",
        "/api/v1/congress/sessions/<session_id>/projector-links",
        response=[c.ProjectorLinkOut],
        tags=["projector"],
    )
    def api_list_projector_links(self, request, session_id):
        """The session's projector links, newest first, revoked ones included (admins)."""
        return self.congress_rpc.list_projector_links(session_id)

    @api(
        "POST",
        "/api/v1/congress/sessions/<session_id>/projector-links",
        response=c.ProjectorLinkOut,
        status=201,
        tags=["projector"],
    )
    def api_create_projector_link(self, request, session_id):
        """A new read-only projector link (admins of the session's union or above); the page is
        ``/projector/congress/<token>``."""
        return self.congress_rpc.create_projector_link(session_id)

    @api(
        "POST",
        "/api/v1/congress/projector-links/<token>/revoke",
        response=c.ProjectorLinkOut,
        tags=["projector"],
    )
    def api_revoke_projector_link(self, request, token):
        """Revoke a projector link (admins); 409 if revoked already."""
        return self.congress_rpc.revoke_projector_link(token)

    # ----- pages ---------------------------------------------------------------------------------
    @page("GET", "/congress/sessions/<session_id>/projector")
    def projector_page(self, request, session_id):
        """The projector view for a logged-in reader of the session (e.g. the admin's laptop at the
        projector)."""
        data = self.congress_rpc.projector(session_id)
        source = f"/api/v1/congress/sessions/{quote(session_id, safe='')}/projector"
        return self.web.render(
            "projector/projector.html", request=request, p=data, source=source, poll_ms=POLL_MS
        )

    @page("GET", "/projector/congress/<token>", public=True)
    def projector_link_page(self, request, token):
        """The projector view through a read-only link (no login). A revoked link shows a page saying
        so (403); an unknown one the error page (404)."""
        source = f"/api/v1/projector/congress/{quote(token, safe='')}"
        try:
            data = self.congress_rpc.projector_by_link(token)
        except Forbidden as exc:
            if not (exc.details or {}).get("revoked"):
                raise
            return self.web.render("projector/projector.html", status=403, request=request, p=None, source="")
        return self.web.render(
            "projector/projector.html", request=request, p=data, source=source, poll_ms=POLL_MS
        )

    @page("GET", "/congress/sessions/<session_id>/projector-links")
    def projector_links_page(self, request, session_id):
        """The session's projector links for its admins: create one, copy it, revoke it (confirmed)."""
        session = self.congress_rpc.get_session(session_id)
        links = self.congress_rpc.list_projector_links(session_id)
        base = request.host_url.rstrip("/")
        return self.web.render(
            "projector/links.html",
            request=request,
            session=session,
            links=[{**ln, "url": base + link_path(ln["token"])} for ln in links],
        )

    @page("POST", "/congress/sessions/<session_id>/projector-links")
    def projector_link_create_submit(self, request, session_id):
        target = f"/congress/sessions/{quote(session_id, safe='-_')}/projector-links"
        done = self.web.gettext("A projector link was created.")
        return self.web.act(target, self.congress_rpc.create_projector_link, session_id, done=done)

    @page("POST", "/congress/projector-links/<token>/revoke")
    def projector_link_revoke_submit(self, request, token):
        target = f"/congress/sessions/{quote(request.form.get('session_id', ''), safe='-_')}/projector-links"

        def run():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            return self.congress_rpc.revoke_projector_link(token)

        return self.web.act(target, run, done=self.web.gettext("The projector link was revoked."))
