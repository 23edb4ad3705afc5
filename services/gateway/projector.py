"""The projector view (大屏) of a congress session and its revocable read-only links (issue 14).

Pages: ``/congress/sessions/<id>/projector`` and ``/elections/<id>/projector`` (logged-in readers) and
``/projector/congress/<token>``, ``/projector/elections/<token>`` (anyone holding a live link, no login): a full-screen 16:9 page, Chinese
first with English, that ``static/projector.js`` keeps current by polling the JSON twin every 1.5 s and
updating the numbers and bars in place (no reload; a reload shows the same state, everything is read
from the server). ``/congress/sessions/<id>/projector-links``: the session's admins create, copy and
revoke links (revoking asks for confirmation), and ``/elections/<id>/projector-links`` the election's
admins. The links are stored and checked by their owners, the congress and elections services
(:mod:`services.congress.projector`, :mod:`services.elections.projector`); the JSON of a link holds
counts (and, for a published election, the results) only.
"""

from __future__ import annotations

from urllib.parse import quote

from dmlib.contracts import congress as c
from dmlib.contracts import elections as e
from dmlib.errors import Forbidden

from .http import api, page
from .pages import require_confirmed
from .routing import Router

#: How often the page asks for the counts (milliseconds; issue 14: every 1–2 s).
POLL_MS = 1500


def link_path(token: str, owner: str = "congress") -> str:
    """The public page of a projector link of ``owner`` (``congress`` | ``elections``)."""
    return f"/projector/{owner}/{quote(token, safe='')}"


class ProjectorRoutes(Router):
    uses = ("congress_rpc", "elections_rpc")

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
            owner="congress",
            subject={
                "id": session_id,
                "title": session["title"],
                "back": f"/congress/sessions/{session_id}/console",
            },
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

    # ----- elections: API ------------------------------------------------------------------------
    @api("GET", "/api/v1/elections/<election_id>/projector", response=e.ProjectorOut, tags=["projector"])
    def api_election_projector(self, request, election_id):
        """The projector view of an election for a logged-in reader: electors due, ballots cast in the
        current round, the turnout and approvals needed, the candidates; results once published."""
        return self.elections_rpc.projector(election_id)

    @api(
        "GET", "/api/v1/projector/elections/<token>", response=e.ProjectorOut, tags=["projector"], public=True
    )
    def api_election_projector_by_link(self, request, token):
        """The same through a read-only link, without a login: 404 unknown or forged, 403 revoked
        (``details.revoked``)."""
        return self.elections_rpc.projector_by_link(token)

    @api(
        "GET",
        "/api/v1/elections/<election_id>/projector-links",
        response=[e.ProjectorLinkOut],
        tags=["projector"],
    )
    def api_list_election_projector_links(self, request, election_id):
        """The election's projector links, newest first, revoked ones included (its admins)."""
        return self.elections_rpc.list_projector_links(election_id)

    @api(
        "POST",
        "/api/v1/elections/<election_id>/projector-links",
        response=e.ProjectorLinkOut,
        status=201,
        tags=["projector"],
    )
    def api_create_election_projector_link(self, request, election_id):
        """A new read-only projector link of an election (its admins); the page is
        ``/projector/elections/<token>``."""
        return self.elections_rpc.create_projector_link(election_id)

    @api(
        "POST",
        "/api/v1/elections/projector-links/<token>/revoke",
        response=e.ProjectorLinkOut,
        tags=["projector"],
    )
    def api_revoke_election_projector_link(self, request, token):
        """Revoke a projector link of an election (its admins); 409 if revoked already."""
        return self.elections_rpc.revoke_projector_link(token)

    # ----- elections: pages ----------------------------------------------------------------------
    @page("GET", "/elections/<election_id>/projector")
    def election_projector_page(self, request, election_id):
        """The projector view of an election for a logged-in reader."""
        data = self.elections_rpc.projector(election_id)
        source = f"/api/v1/elections/{quote(election_id, safe='')}/projector"
        return self.web.render(
            "projector/election.html", request=request, p=data, source=source, poll_ms=POLL_MS
        )

    @page("GET", "/projector/elections/<token>", public=True)
    def election_projector_link_page(self, request, token):
        """The projector view of an election through a read-only link (no login); revoked → says so."""
        try:
            data = self.elections_rpc.projector_by_link(token)
        except Forbidden as exc:
            if not (exc.details or {}).get("revoked"):
                raise
            return self.web.render("projector/election.html", status=403, request=request, p=None, source="")
        source = f"/api/v1/projector/elections/{quote(token, safe='')}"
        return self.web.render(
            "projector/election.html", request=request, p=data, source=source, poll_ms=POLL_MS
        )

    @page("GET", "/elections/<election_id>/projector-links")
    def election_projector_links_page(self, request, election_id):
        """The election's projector links for its admins: create, copy, revoke (confirmed)."""
        election = self.elections_rpc.get_election(election_id)
        links = self.elections_rpc.list_projector_links(election_id)
        base = request.host_url.rstrip("/")
        return self.web.render(
            "projector/links.html",
            request=request,
            owner="elections",
            subject={"id": election_id, "title": election["title"], "back": f"/elections/{election_id}"},
            links=[{**ln, "url": base + link_path(ln["token"], "elections")} for ln in links],
        )

    @page("POST", "/elections/<election_id>/projector-links")
    def election_projector_link_create_submit(self, request, election_id):
        target = f"/elections/{quote(election_id, safe='-_')}/projector-links"
        done = self.web.gettext("A projector link was created.")
        return self.web.act(target, self.elections_rpc.create_projector_link, election_id, done=done)

    @page("POST", "/elections/projector-links/<token>/revoke")
    def election_projector_link_revoke_submit(self, request, token):
        target = f"/elections/{quote(request.form.get('election_id', ''), safe='-_')}/projector-links"

        def run():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            return self.elections_rpc.revoke_projector_link(token)

        return self.web.act(target, run, done=self.web.gettext("The projector link was revoked."))
