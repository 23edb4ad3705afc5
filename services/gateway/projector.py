"""The projector view (大屏) of a congress session and of an election, and their revocable read-only
links (issue 14).

Pages: ``/congress/sessions/<id>/projector`` and ``/elections/<id>/projector`` (logged-in readers) and
``/projector/congress/<token>``, ``/projector/elections/<token>`` (anyone holding a live link, no login): a
full-screen 16:9 page, Chinese first with English, that ``static/projector.js`` keeps current by polling
the JSON twin every 1.5 s and updating the numbers and bars in place (no reload; a reload shows the same
state, everything is read from the server). ``/congress/sessions/<id>/projector-links``: the session's
admins create, copy and revoke links (revoking asks for confirmation), and
``/elections/<id>/projector-links`` the election's admins. The links are stored and checked by their
owners, the congress and elections services (:mod:`services.congress.projector`,
:mod:`services.elections.projector`); the JSON of a link holds counts (and, for a published election, the
results) only.

The two owners' routes have one shape, so they are written once (:func:`owner_routes`) and made for each
:class:`Owner` (:data:`CONGRESS`, :data:`ELECTIONS`) with its own URLs, handler names (the OpenAPI
``operationId``), RPC dependency, template and API docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from urllib.parse import quote

from dmlib.contracts import congress as c
from dmlib.contracts import elections as e
from dmlib.errors import Forbidden

from .http import api, page
from .pages import require_confirmed
from .routing import Router

#: How often the page asks for the counts (milliseconds; issue 14: every 1–2 s).
POLL_MS = 1500
TAGS = ["projector"]


def link_path(token: str, owner: str = "congress") -> str:
    """The public page of a projector link of ``owner`` (``congress`` | ``elections``)."""
    return f"/projector/{owner}/{quote(token, safe='')}"


@dataclass(frozen=True)
class Owner:
    """A service that owns projector links, and what its routes do not share with the other's."""

    #: ``congress`` | ``elections``: the word in ``/projector/<name>/<token>``, ``/<name>/projector-links``.
    name: str
    #: The gateway dependency of the owner (``congress_rpc``): methods ``projector``, ``projector_by_link``,
    #: ``list_projector_links``, ``create_projector_link``, ``revoke_projector_link`` and :attr:`get`.
    rpc: str
    #: The path value naming the subject (``session_id``), also the form field of a revocation.
    key: str
    #: The subject's pages: ``<subject>/<key>/projector``, ``…/projector-links`` (``/congress/sessions``).
    subject: str
    #: The contracts module of ``ProjectorOut`` and ``ProjectorLinkOut``.
    contracts: ModuleType
    #: The projector page's template.
    template: str
    #: Put before ``projector`` in the handler names (``api_election_projector``): they must stay unique.
    prefix: str
    #: The RPC method reading the subject (its ``title``) for the links page.
    get: str
    #: The subject's own page, the links page's way back (of the subject id).
    back: Callable[[str], str]
    #: The docstrings of the API handlers (the OpenAPI summary and description) by generic handler name,
    #: each as it stood in its own handler (lines after the first indented by 8 spaces), after a line break.
    docs: dict[str, str]


CONGRESS = Owner(
    name="congress",
    rpc="congress_rpc",
    key="session_id",
    subject="/congress/sessions",
    contracts=c,
    template="projector/projector.html",
    prefix="",
    get="get_session",
    back=lambda session_id: f"/congress/sessions/{session_id}/console",
    docs={
        "api_projector": """
        The projector view's counts for a logged-in reader of the session: 应到 / 实到, the quorum
        needed, the item being voted (ballots of eligible), the last outcome with counts. No voter
        identity. 403 / 404.""",
        "api_projector_by_link": """
        The same counts through a read-only link, without a login. 404 for an unknown or forged
        token; 403 with ``details.revoked`` true once the link is revoked.""",
        "api_list_projector_links": """
        The session's projector links, newest first, revoked ones included (admins).""",
        "api_create_projector_link": """
        A new read-only projector link (admins of the session's union or above); the page is
        ``/projector/congress/<token>``.""",
        "api_revoke_projector_link": """
        Revoke a projector link (admins); 409 if revoked already.""",
    },
)

ELECTIONS = Owner(
    name="elections",
    rpc="elections_rpc",
    key="election_id",
    subject="/elections",
    contracts=e,
    template="projector/election.html",
    prefix="election_",
    get="get_election",
    back=lambda election_id: f"/elections/{election_id}",
    docs={
        "api_projector": """
        The projector view of an election for a logged-in reader: electors due, ballots cast in the
        current round, the turnout and approvals needed, the candidates; results once published.""",
        "api_projector_by_link": """
        The same through a read-only link, without a login: 404 unknown or forged, 403 revoked
        (``details.revoked``).""",
        "api_list_projector_links": """
        The election's projector links, newest first, revoked ones included (its admins).""",
        "api_create_projector_link": """
        A new read-only projector link of an election (its admins); the page is
        ``/projector/elections/<token>``.""",
        "api_revoke_projector_link": """
        Revoke a projector link of an election (its admins); 409 if revoked already.""",
    },
)


def owner_routes(o: Owner) -> dict:
    """The entrypoints of one owner's projector routes, by handler name (``api_projector`` for congress,
    ``api_election_projector`` for elections, …), for a :class:`Router` body. The handlers take the
    subject's id as the path value ``o.key``."""
    at = f"{o.subject}/<{o.key}>"  # /congress/sessions/<session_id>, /elections/<election_id>
    links_out = o.contracts.ProjectorLinkOut

    def rpc(router: Router):
        return getattr(router, o.rpc)

    def api_projector(self, request, **path):
        return rpc(self).projector(path[o.key])

    def api_projector_by_link(self, request, token):
        return rpc(self).projector_by_link(token)

    def api_list_projector_links(self, request, **path):
        return rpc(self).list_projector_links(path[o.key])

    def api_create_projector_link(self, request, **path):
        return rpc(self).create_projector_link(path[o.key])

    def api_revoke_projector_link(self, request, token):
        return rpc(self).revoke_projector_link(token)

    def projector_page(self, request, **path):
        """The projector view for a logged-in reader of the session or election (e.g. the admin's laptop
        at the projector)."""
        subject_id = path[o.key]
        data = rpc(self).projector(subject_id)
        source = f"/api/v1{o.subject}/{quote(subject_id, safe='')}/projector"
        return self.web.render(o.template, request=request, p=data, source=source, poll_ms=POLL_MS)

    def projector_link_page(self, request, token):
        """The projector view through a read-only link (no login). A revoked link shows a page saying
        so (403); an unknown one the error page (404)."""
        try:
            data = rpc(self).projector_by_link(token)
        except Forbidden as exc:
            if not (exc.details or {}).get("revoked"):
                raise
            return self.web.render(o.template, status=403, request=request, p=None, source="")
        source = f"/api/v1/projector/{o.name}/{quote(token, safe='')}"
        return self.web.render(o.template, request=request, p=data, source=source, poll_ms=POLL_MS)

    def projector_links_page(self, request, **path):
        """The session's or election's projector links for its admins: create one, copy it, revoke it
        (confirmed)."""
        subject_id = path[o.key]
        subject = getattr(rpc(self), o.get)(subject_id)
        links = rpc(self).list_projector_links(subject_id)
        base = request.host_url.rstrip("/")
        return self.web.render(
            "projector/links.html",
            request=request,
            owner=o.name,
            here=f"{o.subject}/{subject_id}",
            id_field=o.key,
            subject={"id": subject_id, "title": subject["title"], "back": o.back(subject_id)},
            links=[{**ln, "url": base + link_path(ln["token"], o.name)} for ln in links],
        )

    def projector_link_create_submit(self, request, **path):
        subject_id = path[o.key]
        target = f"{o.subject}/{quote(subject_id, safe='-_')}/projector-links"
        done = self.web.gettext("A projector link was created.")
        return self.web.act(target, rpc(self).create_projector_link, subject_id, done=done)

    def projector_link_revoke_submit(self, request, token):
        target = f"{o.subject}/{quote(request.form.get(o.key, ''), safe='-_')}/projector-links"

        def run():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            return rpc(self).revoke_projector_link(token)

        return self.web.act(target, run, done=self.web.gettext("The projector link was revoked."))

    routes = [
        (api("GET", f"/api/v1{at}/projector", response=o.contracts.ProjectorOut, tags=TAGS), api_projector),
        (
            api(
                "GET",
                f"/api/v1/projector/{o.name}/<token>",
                response=o.contracts.ProjectorOut,
                tags=TAGS,
                public=True,
            ),
            api_projector_by_link,
        ),
        (
            api("GET", f"/api/v1{at}/projector-links", response=[links_out], tags=TAGS),
            api_list_projector_links,
        ),
        (
            api("POST", f"/api/v1{at}/projector-links", response=links_out, status=201, tags=TAGS),
            api_create_projector_link,
        ),
        (
            api("POST", f"/api/v1/{o.name}/projector-links/<token>/revoke", response=links_out, tags=TAGS),
            api_revoke_projector_link,
        ),
        (page("GET", f"{at}/projector"), projector_page),
        (page("GET", f"/projector/{o.name}/<token>", public=True), projector_link_page),
        (page("GET", f"{at}/projector-links"), projector_links_page),
        (page("POST", f"{at}/projector-links"), projector_link_create_submit),
        (page("POST", f"/{o.name}/projector-links/<token>/revoke"), projector_link_revoke_submit),
    ]
    body = {}
    for entrypoint, handler in routes:
        generic = handler.__name__
        handler.__name__ = handler.__qualname__ = generic.replace("projector", o.prefix + "projector", 1)
        handler.__doc__ = o.docs[generic].lstrip() if generic in o.docs else handler.__doc__
        body[handler.__name__] = entrypoint(handler)
    return body


ProjectorRoutes = type(
    "ProjectorRoutes",
    (Router,),
    {
        "__doc__": "The projector routes of both owners (:func:`owner_routes` of each :class:`Owner`).",
        "__module__": __name__,
        "uses": (CONGRESS.rpc, ELECTIONS.rpc),
        **owner_routes(CONGRESS),
        **owner_routes(ELECTIONS),
    },
)
