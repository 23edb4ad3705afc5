"""The authorisation matrix: every route of the gateway × seven roles → the status the route answers.

One table, three uses: ``tests/e2e/test_authz_matrix.py`` asks every cell of it on a running demo stack,
the same test fails when the gateway has a route the table lacks, and ``docs/authorization.md`` is
rendered from it (``.venv/bin/python -m tests.authz_matrix > docs/authorization.md``; a test checks the
committed page equals the rendering).

Roles are relative to the union that owns the target (in the test: 博瑞集成电路, ``u05``):

- ``anonymous``: no token;
- ``member``: a member of the union with no other role;
- ``delegate``: a member elected delegate of the union's workers' congress (grant ``delegate``, scope =
  congress) and the proposer of the proposals the rows act on (co-signing: another delegate's draft that
  invites them);
- ``handler``: staff of the union's first department (grant ``handler``, scope = department), the
  department the proposals are assigned to;
- ``admin``: ``union_admin`` of the union;
- ``other_admin``: ``union_admin`` of another grassroots union (u01);
- ``superior``: ``superior_admin`` of the federation above every union (``ftu-admin``).

A row with a ``target`` asks the same route about another object: ``another union's member`` (a member of
恒远建设工程 ``u16``, a union none of the roles but the superior admin administers), ``scope in another
union`` (a u05 member given a role in a department of u01, the other admin's union), ``congress vote`` (a
u05 congress resolution's poll instead of the evaluation poll). On every refused answer of a row that
names a member, the body must contain none of that member's personal data (name, mobile, e-mail, ID tail).

Codes: ``200`` ``201`` ``202`` ``204`` allowed (API); ``401`` anonymous (API); ``403`` refused; ``404``
hidden (the rule is that the object does not exist for that caller); ``409`` allowed past the role check
but refused by the state (only where the row's target cannot be made fresh per caller); a code with ``*``
is answered like a success but must change nothing (an import by another union's admin is accepted and
each of its rows refused in the job's report). Pages: ``200``
(the page), ``303`` (a form done, redirected onward), ``login`` (303 to ``/login``: anonymous), ``back``
(a refused form: 303 back to the page with the refusal's message in the signed notice cookie,
services/gateway/pages.py), ``403`` (the error page).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

ROLES = ("anonymous", "member", "delegate", "handler", "admin", "other_admin", "superior")
ROLE_TITLES = {
    "anonymous": "anonymous",
    "member": "member",
    "delegate": "delegate",
    "handler": "handler",
    "admin": "union admin (same union)",
    "other_admin": "union admin (other union)",
    "superior": "superior admin",
}
ALLOWED = {"200", "201", "202", "204", "303"}


@dataclass(frozen=True)
class Row:
    """One route: ``method`` and ``path`` exactly as the gateway declares them, the expected code per
    role (seven codes in :data:`ROLES` order, space-separated) and the rule's source."""

    method: str
    path: str
    codes: str
    rule: str
    target: str = ""

    @property
    def expect(self) -> dict[str, str]:
        codes = self.codes.split()
        assert len(codes) == len(ROLES), (self.method, self.path, self.codes)
        return dict(zip(ROLES, codes, strict=True))

    @property
    def is_page(self) -> bool:
        return not (self.path.startswith("/api/") or self.path == "/healthz")

    @property
    def changes_state(self) -> bool:
        return self.method not in ("GET", "HEAD")

    @property
    def route(self) -> str:
        """``METHOD path`` as the gateway declares it."""
        return f"{self.method} {self.path}"

    @property
    def key(self) -> str:
        """The row's identity: the route, and the target when the row asks it about another object."""
        return f"{self.route} [{self.target}]" if self.target else self.route


# rule sources, cited in the table
D1 = "DESIGN §1 (roles, scoped)"
PUB = "public"
LOGIN = "any login"
OWN = "oneself (one's own record)"
REG = "DESIGN §3 members: admins of the union or above"
CG = "DESIGN §4 congress: admins run sessions"
CGR = "DESIGN §4 congress: members read the published record"
CGD = "DESIGN §4 congress: delegates check in and vote"
PR = "DESIGN §4 proposals: admins review, assign, mark excellent"
PRD = "DESIGN §4 proposals: delegates draft, co-sign, submit"
PRH = "DESIGN §4 proposals: the handling department replies"
PRR = "DESIGN §4 proposals: the proposer and co-signers rate"
PRM = "DESIGN §4 proposals: members read accepted proposals and statistics"
CGV = "DESIGN §4 congress: the delegates present when the vote opens are its voters"
EV = "DESIGN §1/§4 evaluations: superior admins run campaigns"
EVU = "DESIGN §4 evaluations: a union admin scores their own unit"
EVM = "DESIGN §4 evaluations: members rate their own Worker Home, one ballot"
DI = "DESIGN §4 disclosure: the union publishes and answers"
DIM = "DESIGN §4 disclosure: visible to the union's own members"
NO = "DESIGN §3 notify: one's own inbox and preferences"
NOA = "DESIGN §3 notify: admins read their members' delivery log"
XU = "DESIGN §1: a member of another union is outside the admin's scope (issue 12)"
XS = "a role's scope is administered by the actor and in the member's own union (issue 12)"
CGP = "a congress vote poll is read inside its union: admins (and above), members, delegates (issue 12)"
OTHER_MEMBER = "another union's member"
OTHER_SCOPE = "scope in another union"
VOTE = "congress vote"
AU = "DESIGN §3 audit: admins read the log of their union and the unions below"
PJ = "issue 14 projector: the session's (election's) admins create and revoke read-only links"
PJR = "issue 14 projector: readers of the session (election) see the live counts"
PJL = "issue 14 projector: a live read-only link shows counts only, without a login"
CA = "DESIGN §1/§4 cases: staff (hotline staff, admins) of the receiving or handling union or above"
CAM = "DESIGN §4 cases: a member files online and reads, rates their own case"
CAS = "DESIGN §4 cases: a superior union supervises the handling union (督办)"
CAP = "DESIGN §4 cases: progress query by case number + phone + one-time code, no login"
SV = "issue 15 surveys: admins of the running union (and above) build, open, close, read results"
SVA = "issue 15 surveys: the members of the audience answer, one response each"
SVR = "issue 15 surveys: open surveys are read by their audience and their admins"
EL = "issue 14 elections: the union's admins (or those above) run its elections, appraisals, 双爱双评"
ELM = "issue 14 elections: members of the union (and electors) see it; results once published"
ELV = "issue 14 elections: electors (members of the union) cast one secret ballot"
OV = "issue 16 home: the federation overview, for admins of the union or above (figures by each service's policy)"

#            anonymous member delegate handler admin other_admin superior
ROUTES: list[Row] = [
    # ----- account and meta ---------------------------------------------------------------------
    Row("GET", "/healthz", "200 200 200 200 200 200 200", PUB),
    Row("GET", "/api/v1/openapi.json", "200 200 200 200 200 200 200", PUB),
    Row("POST", "/api/v1/auth/login", "200 200 200 200 200 200 200", PUB),
    Row("POST", "/api/v1/auth/logout", "204 204 204 204 204 204 204", PUB),
    Row("POST", "/api/v1/auth/refresh", "401 200 200 200 200 200 200", OWN),
    Row("GET", "/api/v1/<path:rest>", "404 404 404 404 404 404 404", "no such API address: JSON 404"),
    Row("POST", "/api/v1/<path:rest>", "404 404 404 404 404 404 404", "no such API address: JSON 404"),
    Row("PUT", "/api/v1/<path:rest>", "404 404 404 404 404 404 404", "no such API address: JSON 404"),
    Row("PATCH", "/api/v1/<path:rest>", "404 404 404 404 404 404 404", "no such API address: JSON 404"),
    Row("DELETE", "/api/v1/<path:rest>", "404 404 404 404 404 404 404", "no such API address: JSON 404"),
    Row("GET", "/api/v1/me", "401 200 200 200 200 200 200", OWN),
    Row("PUT", "/api/v1/me/password", "401 200 200 200 200 200 200", OWN),
    Row("GET", "/static/<path:path>", "200 200 200 200 200 200 200", PUB),
    Row("GET", "/lang/<code>", "303 303 303 303 303 303 303", PUB),
    Row("GET", "/login", "200 200 200 200 200 200 200", PUB),
    Row("POST", "/login", "303 303 303 303 303 303 303", PUB),
    Row("POST", "/logout", "login login login login login login login", LOGIN),
    Row("GET", "/", "login 200 200 200 200 200 200", LOGIN),
    Row("GET", "/unions/<union_id>/overview", "login 403 403 403 200 403 200", OV),
    Row("GET", "/me", "login 200 200 200 200 200 200", OWN),
    Row("POST", "/me/password", "login 303 303 303 303 303 303", OWN),
    # ----- member registry -----------------------------------------------------------------------
    Row("GET", "/api/v1/unions", "401 200 200 200 200 200 200", LOGIN),
    Row("POST", "/api/v1/unions", "401 403 403 403 403 403 201", REG),
    Row("GET", "/api/v1/unions/<union_id>", "401 200 200 200 200 200 200", LOGIN),
    Row("GET", "/api/v1/unions/<union_id>/departments", "401 200 200 200 200 200 200", LOGIN),
    Row("POST", "/api/v1/unions/<union_id>/departments", "401 403 403 403 201 403 201", REG),
    Row("GET", "/api/v1/unions/<union_id>/members", "401 403 403 403 200 403 200", REG),
    Row("POST", "/api/v1/members", "401 403 403 403 201 403 201", REG),
    Row("GET", "/api/v1/members/<member_id>", "401 200 403 403 200 403 200", OWN + "; " + REG),
    Row("POST", "/api/v1/members/<member_id>/roles", "401 403 403 403 200 403 200", REG),
    Row("DELETE", "/api/v1/members/<member_id>/roles/<role>/<scope>", "401 403 403 403 200 403 200", REG),
    Row("POST", "/api/v1/members/<member_id>/password", "401 403 403 403 200 403 200", REG),
    Row("GET", "/api/v1/members/<member_id>", "401 403 403 403 403 403 200", XU, OTHER_MEMBER),
    Row("POST", "/api/v1/members/<member_id>/roles", "401 403 403 403 403 403 200", XU, OTHER_MEMBER),
    Row("POST", "/api/v1/members/<member_id>/roles", "401 403 403 403 403 403 403", XS, OTHER_SCOPE),
    Row(
        "DELETE",
        "/api/v1/members/<member_id>/roles/<role>/<scope>",
        "401 403 403 403 403 403 200",
        XU,
        OTHER_MEMBER,
    ),
    Row("POST", "/api/v1/members/<member_id>/password", "401 403 403 403 403 403 200", XU, OTHER_MEMBER),
    Row("POST", "/api/v1/imports", "401 403 403 403 202 202* 202", REG),
    Row("POST", "/api/v1/imports/<job_id>/start", "401 403 403 403 200 403 403", REG),
    Row("GET", "/api/v1/imports/<job_id>", "401 403 403 403 200 403 403", REG),
    Row("GET", "/api/v1/imports/<job_id>/errors", "401 403 403 403 200 403 403", REG),
    Row("GET", "/api/v1/imports/<job_id>/errors.csv", "401 403 403 403 200 403 403", REG),
    Row("GET", "/unions", "login 200 200 200 200 200 200", LOGIN),
    Row("GET", "/unions/<union_id>/members", "login 403 403 403 200 403 200", REG),
    Row("GET", "/members/<member_id>", "login 200 403 403 200 403 200", OWN + "; " + REG),
    Row("GET", "/members/<member_id>", "login 403 403 403 403 403 200", XU, OTHER_MEMBER),
    Row("GET", "/imports/new", "login 403 403 403 200 200 200", REG),
    Row("GET", "/imports/template.csv", "login 403 403 403 200 200 200", REG),
    Row("POST", "/imports", "login 403 403 403 303 303* 303", REG),
    Row("POST", "/imports/<job_id>/start", "login 403 403 403 303 403 403", REG),
    Row("GET", "/imports/<job_id>", "login 403 403 403 200 403 403", REG),
    # ----- workers' congress ---------------------------------------------------------------------
    Row("POST", "/api/v1/congresses", "401 403 403 403 409 403 409", CG),
    Row("GET", "/api/v1/congresses/<congress_id>", "401 200 200 200 200 403 200", CGR),
    Row("GET", "/api/v1/congresses/<congress_id>/sessions", "401 200 200 200 200 403 200", CGR),
    Row("POST", "/api/v1/congresses/<congress_id>/terms", "401 403 403 403 201 403 201", CG),
    Row("GET", "/api/v1/congress/terms/<term_id>", "401 200 200 200 200 403 200", CGR),
    Row("POST", "/api/v1/congress/terms/<term_id>/delegations", "401 403 403 403 201 403 201", CG),
    Row("GET", "/api/v1/congress/terms/<term_id>/delegates", "401 200 200 200 200 403 200", CGR),
    Row("POST", "/api/v1/congress/terms/<term_id>/delegates", "401 403 403 403 201 403 201", CG),
    Row("POST", "/api/v1/congress/terms/<term_id>/sessions", "401 403 403 403 201 403 201", CG),
    Row("GET", "/api/v1/congress/sessions/<session_id>", "401 200 200 200 200 403 200", CGR),
    Row("GET", "/api/v1/congress/sessions/<session_id>/counts", "401 200 200 200 200 403 200", CGR),
    Row("GET", "/api/v1/congress/sessions/<session_id>/me", "401 200 200 200 200 403 200", CGD),
    Row("POST", "/api/v1/congress/sessions/<session_id>/check-in", "401 403 200 403 403 403 403", CGD),
    Row("POST", "/api/v1/congress/sessions/<session_id>/convene", "401 403 403 403 200 403 200", CG),
    Row("POST", "/api/v1/congress/sessions/<session_id>/close", "401 403 403 403 200 403 200", CG),
    Row("POST", "/api/v1/congress/sessions/<session_id>/items", "401 403 403 403 201 403 201", CG),
    Row("POST", "/api/v1/congress/items/<item_id>/open", "401 403 403 403 200 403 200", CG),
    Row("POST", "/api/v1/congress/items/<item_id>/close", "401 403 403 403 200 403 200", CG),
    Row("POST", "/api/v1/congress/items/<item_id>/vote", "401 403 200 403 403 403 403", CGD),
    Row("GET", "/api/v1/congress/sessions/<session_id>/minutes.docx", "401 200 200 200 200 403 200", CGR),
    Row(
        "GET",
        "/api/v1/congress/items/<item_id>/attachments/<attachment_id>",
        "401 200 200 200 200 403 200",
        CGR,
    ),
    Row("GET", "/congress", "login 303 303 303 303 303 303", CGR),
    Row("GET", "/congress/<congress_id>", "login 200 200 200 200 403 200", CGR),
    Row("GET", "/congress/sessions/<session_id>/console", "login 403 403 403 200 403 200", CG),
    Row("GET", "/congress/sessions/<session_id>", "login 200 200 200 200 403 200", CGD),
    Row("POST", "/congress/terms/<term_id>/sessions", "login 403 403 403 303 403 303", CG),
    Row("POST", "/congress/sessions/<session_id>/check-in", "login 403 303 403 403 403 403", CGD),
    Row("POST", "/congress/sessions/<session_id>/convene", "login 403 403 403 303 403 303", CG),
    Row("POST", "/congress/sessions/<session_id>/close", "login 403 403 403 303 403 303", CG),
    Row("POST", "/congress/items/<item_id>/open", "login 403 403 403 303 403 303", CG),
    Row("POST", "/congress/items/<item_id>/close", "login 403 403 403 303 403 303", CG),
    Row("POST", "/congress/items/<item_id>/vote", "login 403 303 403 403 403 403", CGD),
    # an agenda item of kind "election" names its election (issue 14)
    Row("POST", "/api/v1/congress/items/<item_id>/election", "401 403 403 403 200 403 200", CG),
    Row("POST", "/congress/items/<item_id>/election", "login 403 403 403 303 403 303", CG),
    Row("GET", "/congress/items/<item_id>/vote", "login 303 200 303 303 403 303", CGD),
    Row("GET", "/congress/items/<item_id>/attachments/<attachment_id>", "login 200 200 200 200 403 200", CGR),
    # ----- projector view (大屏) of a session, issue 14 ---------------------------------------------
    Row("GET", "/api/v1/congress/sessions/<session_id>/projector", "401 200 200 200 200 403 200", PJR),
    Row("GET", "/api/v1/projector/congress/<token>", "200 200 200 200 200 200 200", PJL),
    Row("GET", "/api/v1/congress/sessions/<session_id>/projector-links", "401 403 403 403 200 403 200", PJ),
    Row("POST", "/api/v1/congress/sessions/<session_id>/projector-links", "401 403 403 403 201 403 201", PJ),
    Row("POST", "/api/v1/congress/projector-links/<token>/revoke", "401 403 403 403 200 403 200", PJ),
    Row("GET", "/congress/sessions/<session_id>/projector", "login 200 200 200 200 403 200", PJR),
    Row("GET", "/projector/congress/<token>", "200 200 200 200 200 200 200", PJL),
    Row("GET", "/congress/sessions/<session_id>/projector-links", "login 403 403 403 200 403 200", PJ),
    Row("POST", "/congress/sessions/<session_id>/projector-links", "login 403 403 403 303 403 303", PJ),
    Row("POST", "/congress/projector-links/<token>/revoke", "login 403 403 403 303 403 303", PJ),
    # ----- proposals -----------------------------------------------------------------------------
    Row("POST", "/api/v1/proposals/sessions/<session_id>/window", "401 403 403 403 200 403 200", PR),
    Row("POST", "/api/v1/proposals/sessions/<session_id>/window/close", "401 403 403 403 200 403 200", PR),
    Row("GET", "/api/v1/proposals/sessions/<session_id>/window", "401 200 200 200 200 403 200", PRM),
    Row("POST", "/api/v1/proposals/sessions/<session_id>/proposals", "401 403 201 403 403 403 403", PRD),
    Row("GET", "/api/v1/proposals/sessions/<session_id>/proposals", "401 200 200 200 200 403 200", PRM),
    Row("GET", "/api/v1/proposals/sessions/<session_id>/mine", "401 200 200 200 200 403 200", PRD),
    Row("GET", "/api/v1/proposals/sessions/<session_id>/statistics", "401 200 200 200 200 403 200", PRM),
    Row("GET", "/api/v1/proposals/sessions/<session_id>/register.xlsx", "401 403 403 403 200 403 200", PR),
    Row("GET", "/api/v1/proposals/inbox/<department_id>", "401 403 403 200 403 403 403", PRH),
    Row("GET", "/api/v1/proposals/sessions/<session_id>/queue", "401 403 403 403 200 403 200", PR),
    Row("GET", "/api/v1/proposals/inbox/<department_id>/queue", "401 403 403 200 403 403 403", PRH),
    Row("GET", "/api/v1/proposals/<proposal_id>", "401 200 200 200 200 403 200", PRM),
    Row("POST", "/api/v1/proposals/<proposal_id>/cosign", "401 403 200 403 403 403 403", PRD),
    Row("POST", "/api/v1/proposals/<proposal_id>/submit", "401 403 200 403 403 403 403", PRD),
    Row("POST", "/api/v1/proposals/<proposal_id>/review", "401 403 403 403 200 403 200", PR),
    Row("POST", "/api/v1/proposals/<proposal_id>/assign", "401 403 403 403 200 403 200", PR),
    Row("POST", "/api/v1/proposals/<proposal_id>/reply", "401 403 403 200 403 403 403", PRH),
    Row("POST", "/api/v1/proposals/<proposal_id>/rate", "401 403 200 403 403 403 403", PRR),
    Row("POST", "/api/v1/proposals/<proposal_id>/excellent", "401 403 403 403 200 403 200", PR),
    Row("GET", "/proposals", "login 200 200 200 200 200 200", PRM),
    Row("POST", "/proposals/sessions/<session_id>/window", "login 403 403 403 303 403 303", PR),
    Row("GET", "/proposals/sessions/<session_id>/mine", "login 200 200 200 200 403 200", PRD),
    Row("POST", "/proposals/sessions/<session_id>/mine", "login 403 303 403 403 403 403", PRD),
    Row("POST", "/proposals/<proposal_id>/cosign", "login 403 303 403 403 403 403", PRD),
    Row("POST", "/proposals/<proposal_id>/submit", "login 403 303 403 403 403 403", PRD),
    Row("GET", "/proposals/sessions/<session_id>/desk", "login 403 403 403 200 403 200", PR),
    Row("GET", "/proposals/<proposal_id>/review", "login 403 403 403 200 403 200", PR),
    Row("POST", "/proposals/<proposal_id>/review", "login 403 403 403 303 403 303", PR),
    Row("POST", "/proposals/<proposal_id>/assign", "login 403 403 403 303 403 303", PR),
    Row("POST", "/proposals/<proposal_id>/excellent", "login 403 403 403 303 403 303", PR),
    Row("GET", "/proposals/inbox/<department_id>", "login 403 403 200 403 403 403", PRH),
    Row("GET", "/proposals/<proposal_id>/reply", "login 403 403 200 403 403 403", PRH),
    Row("POST", "/proposals/<proposal_id>/reply", "login 403 403 303 403 403 403", PRH),
    Row("GET", "/proposals/sessions/<session_id>", "login 200 200 200 200 403 200", PRM),
    Row("GET", "/proposals/sessions/<session_id>/stats", "login 200 200 200 200 403 200", PRM),
    Row("GET", "/proposals/<proposal_id>", "login 200 200 200 200 403 200", PRM),
    Row("POST", "/proposals/<proposal_id>/rate", "login 403 303 403 403 403 403", PRR),
    # ----- evaluations ---------------------------------------------------------------------------
    Row("GET", "/api/v1/campaigns", "401 200 200 200 200 200 200", LOGIN),
    Row("POST", "/api/v1/campaigns", "401 403 403 403 403 403 201", EV),
    Row("GET", "/api/v1/campaigns/<campaign_id>", "401 200 200 200 200 403 200", EVM),
    Row("POST", "/api/v1/campaigns/<campaign_id>/open", "401 403 403 403 403 403 200", EV),
    Row("POST", "/api/v1/campaigns/<campaign_id>/close", "401 403 403 403 403 403 200", EV),
    Row("POST", "/api/v1/campaigns/<campaign_id>/publish", "401 403 403 403 403 403 200", EV),
    Row("PUT", "/api/v1/campaigns/<campaign_id>/unit-scores/<union_id>", "401 403 403 403 200 403 403", EVU),
    Row("PUT", "/api/v1/campaigns/<campaign_id>/superior-scores", "401 403 403 403 403 403 200", EV),
    Row("POST", "/api/v1/campaigns/<campaign_id>/ballots", "401 201 201 201 201 403 403", EVM),
    Row("GET", "/api/v1/campaigns/<campaign_id>/results", "401 403 403 403 403 403 200", EV),
    Row("GET", "/api/v1/campaigns/<campaign_id>/results.csv", "401 403 403 403 403 403 200", EV),
    Row("GET", "/api/v1/campaigns/<campaign_id>/results.xlsx", "401 403 403 403 403 403 200", EV),
    Row("GET", "/api/v1/campaigns/<campaign_id>/opinions", "401 403 403 403 200 403 200", EVU),
    Row("GET", "/api/v1/polls/<poll_id>", "401 200 200 200 200 403 200", EVM),
    Row("POST", "/api/v1/polls/<poll_id>/ballots", "401 403 201 403 403 403 403", CGV),
    Row("GET", "/api/v1/polls/<poll_id>/receipts/<receipt>", "401 200 200 200 200 200 200", EVM),
    Row("GET", "/api/v1/polls/<poll_id>/ballots", "401 409 409 409 409 403 409", EVM),
    Row("POST", "/api/v1/polls/<poll_id>/recount", "401 403 403 403 403 403 200", EV),
    Row("GET", "/api/v1/polls/<poll_id>", "401 200 200 200 200 403 200", CGP, VOTE),
    Row("GET", "/api/v1/polls/<poll_id>/receipts/<receipt>", "401 200 200 200 200 403 200", CGP, VOTE),
    Row("GET", "/api/v1/polls/<poll_id>/ballots", "401 200 200 200 200 403 200", CGP, VOTE),
    Row(
        "POST",
        "/api/v1/polls/<poll_id>/recount",
        "401 403 403 403 403 403 403",
        "a choice poll is recounted by its service",
        VOTE,
    ),
    Row("GET", "/evaluations", "login 200 200 200 200 200 200", LOGIN),
    Row("GET", "/evaluations/new", "login 403 403 403 403 403 200", EV),
    Row(
        "GET",
        "/evaluations/<campaign_id>",
        "login 303 303 303 303 403 303",
        EVM + " (a redirect to what the caller may see)",
    ),
    Row("POST", "/evaluations", "login 403 403 403 403 403 303", EV),
    Row("GET", "/evaluations/<campaign_id>/rate", "login 303 200 200 200 403 200", EVM),
    Row("POST", "/evaluations/<campaign_id>/rate", "login 303 303 303 303 403 403", EVM),
    Row("GET", "/evaluations/<campaign_id>/receipt", "login 200 200 200 200 403 200", EVM),
    Row("GET", "/evaluations/<campaign_id>/verify", "login 200 200 200 200 403 200", EVM),
    Row("GET", "/evaluations/<campaign_id>/manage", "login 403 403 403 200 403 200", EV),
    Row("POST", "/evaluations/<campaign_id>/actions/<action>", "login 403 403 403 403 403 303", EV),
    Row("GET", "/evaluations/<campaign_id>/results", "login 403 403 403 403 403 200", EV),
    Row("GET", "/evaluations/<campaign_id>/opinions", "login 403 403 403 200 403 200", EVU),
    # ----- disclosure ----------------------------------------------------------------------------
    Row("GET", "/api/v1/unions/<union_id>/disclosures", "401 200 200 200 200 403 200", DIM),
    Row("POST", "/api/v1/unions/<union_id>/disclosures", "401 403 403 403 201 403 201", DI),
    Row("GET", "/api/v1/disclosures/<item_id>", "401 200 200 200 200 403 200", DIM),
    Row("GET", "/api/v1/disclosures/<item_id>/revisions/<int:revision>", "401 200 200 200 200 403 200", DIM),
    Row("POST", "/api/v1/disclosures/<item_id>/corrections", "401 403 403 403 200 403 200", DI),
    Row("POST", "/api/v1/disclosures/<item_id>/withdrawal", "401 403 403 403 200 403 200", DI),
    Row(
        "GET", "/api/v1/disclosures/<item_id>/attachments/<attachment_id>", "401 200 200 200 200 403 200", DIM
    ),
    Row("GET", "/api/v1/disclosures/<item_id>/questions", "401 200 200 200 200 403 200", DIM),
    Row("POST", "/api/v1/disclosures/<item_id>/questions", "401 201 201 201 201 403 403", DIM),
    Row("POST", "/api/v1/disclosure-questions/<question_id>/answer", "401 403 403 403 200 403 200", DI),
    Row("GET", "/api/v1/unions/<union_id>/disclosure-questions", "401 403 403 403 200 403 200", DI),
    Row("GET", "/api/v1/disclosures/<item_id>/reads", "401 403 403 403 200 403 200", DI),
    Row("GET", "/api/v1/unions/<union_id>/disclosure-reads", "401 403 403 403 200 403 200", DI),
    Row("GET", "/api/v1/unions/<union_id>/disclosures/register.xlsx", "401 403 403 403 200 403 200", DI),
    Row("GET", "/disclosures", "login 200 200 200 200 200 200", DIM),
    Row("GET", "/unions/<union_id>/disclosures", "login 200 200 200 200 403 200", DIM),
    Row("GET", "/disclosures/<item_id>", "login 200 200 200 200 403 200", DIM),
    Row("GET", "/disclosures/<item_id>/revisions/<int:revision>", "login 200 200 200 200 403 200", DIM),
    Row("GET", "/disclosures/<item_id>/attachments/<attachment_id>", "login 200 200 200 200 403 200", DIM),
    Row("POST", "/disclosures/<item_id>/questions", "login 303 303 303 303 403 403", DIM),
    Row("POST", "/disclosure-questions/<question_id>/answer", "login 403 403 403 303 403 303", DI),
    Row("GET", "/unions/<union_id>/disclosures/new", "login 403 403 403 200 403 200", DI),
    Row("POST", "/unions/<union_id>/disclosures", "login 403 403 403 303 403 303", DI),
    Row("GET", "/disclosures/<item_id>/correct", "login 403 403 403 200 403 200", DI),
    Row("POST", "/disclosures/<item_id>/correct", "login 403 403 403 303 403 303", DI),
    Row("POST", "/disclosures/<item_id>/withdraw", "login 403 403 403 303 403 303", DI),
    Row("GET", "/unions/<union_id>/disclosures/dashboard", "login 403 403 403 200 403 200", DI),
    Row("GET", "/disclosures/<item_id>/reads", "login 403 403 403 200 403 200", DI),
    Row("GET", "/disclosures/<item_id>/unread.csv", "login 403 403 403 200 403 200", DI),
    Row("GET", "/unions/<union_id>/disclosures/questions", "login 403 403 403 200 403 200", DI),
    Row("GET", "/unions/<union_id>/disclosures/register.xlsx", "login 403 403 403 200 403 200", DI),
    # ----- notifications -------------------------------------------------------------------------
    Row("GET", "/api/v1/inbox", "401 200 200 200 200 200 200", NO),
    Row("GET", "/api/v1/inbox/unread", "401 200 200 200 200 200 200", NO),
    Row("POST", "/api/v1/inbox/read", "401 200 200 200 200 200 200", NO),
    Row("GET", "/api/v1/notifications/preferences", "401 200 200 200 200 200 200", NO),
    Row("PUT", "/api/v1/notifications/preferences", "401 200 200 200 200 200 200", NO),
    Row("GET", "/api/v1/unions/<union_id>/deliveries", "401 403 403 403 200 403 200", NOA),
    Row("GET", "/inbox", "login 200 200 200 200 200 200", NO),
    Row("POST", "/inbox/read", "login 303 303 303 303 303 303", NO),
    Row("GET", "/notifications/preferences", "login 200 200 200 200 200 200", NO),
    Row("POST", "/notifications/preferences", "login 303 303 303 303 303 303", NO),
    Row("GET", "/unions/<union_id>/deliveries", "login 403 403 403 200 403 200", NOA),
    # ----- audit log -----------------------------------------------------------------------------
    Row("GET", "/api/v1/unions/<union_id>/audit", "401 403 403 403 200 403 200", AU),
    Row("GET", "/api/v1/unions/<union_id>/audit.csv", "401 403 403 403 200 403 200", AU),
    Row("GET", "/api/v1/unions/<union_id>/audit.xlsx", "401 403 403 403 200 403 200", AU),
    Row("GET", "/api/v1/unions/<union_id>/audit/verify", "401 403 403 403 200 403 200", AU),
    Row("GET", "/unions/<union_id>/audit", "login 403 403 403 200 403 200", AU),
    # ----- worker requests (接诉即办): the case is filed by `member` at u05 and handled by u05 ------------
    Row("GET", "/api/v1/cases/settings", "401 200 200 200 200 200 200", LOGIN),
    Row("POST", "/api/v1/cases", "401 201 201 201 201 201 201", CAM),
    Row("GET", "/api/v1/cases/mine", "401 200 200 200 200 200 200", CAM),
    Row("POST", "/api/v1/unions/<union_id>/hotline-cases", "401 403 403 403 201 403 201", CA),
    Row("GET", "/api/v1/unions/<union_id>/cases", "401 403 403 403 200 403 200", CA),
    Row("GET", "/api/v1/cases/<case_id>", "401 200 403 403 200 403 200", CAM),
    Row("GET", "/api/v1/cases/<case_id>/attachments/<attachment_id>", "401 200 403 403 200 403 200", CAM),
    Row("POST", "/api/v1/cases/<case_id>/dispatch", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/transfer", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/sign-for", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/contact", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/notes", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/interim-replies", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/reply", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/rating", "401 200 403 403 403 403 403", CAM),
    Row("POST", "/api/v1/cases/<case_id>/follow-ups", "401 403 403 403 200 403 200", CA),
    Row("POST", "/api/v1/cases/<case_id>/supervision", "401 403 403 403 403 403 200", CAS),
    Row("POST", "/api/v1/case-progress/code", "200 200 200 200 200 200 200", CAP),
    Row("POST", "/api/v1/case-progress", "404 404 404 404 404 404 404", CAP + " (asked without a code)"),
    Row("GET", "/api/v1/unions/<union_id>/case-indicators", "401 403 403 403 200 403 200", CA),
    Row("GET", "/api/v1/unions/<union_id>/case-report.xlsx", "401 403 403 403 200 403 200", CA),
    Row("GET", "/api/v1/unions/<union_id>/case-alerts", "401 403 403 403 200 403 200", CA),
    Row("GET", "/api/v1/unions/<union_id>/case-topic", "401 403 403 403 200 403 200", CA),
    Row("GET", "/cases", "login 200 200 200 200 200 200", LOGIN),
    Row("GET", "/cases/new", "login 200 200 200 200 200 200", CAM),
    Row("POST", "/cases/new", "login 303 303 303 303 303 303", CAM),
    Row("GET", "/cases/<case_id>", "login 200 403 403 200 403 200", CAM),
    Row("GET", "/cases/<case_id>/attachments/<attachment_id>", "login 200 403 403 200 403 200", CAM),
    Row("POST", "/cases/<case_id>/<action>", "login 403 403 403 303 403 303", CA + " (action: note)"),
    Row("GET", "/cases/progress", "200 200 200 200 200 200 200", CAP),
    Row("POST", "/cases/progress", "200 200 200 200 200 200 200", CAP),
    Row("GET", "/unions/<union_id>/hotline", "login 403 403 403 200 403 200", CA),
    Row("POST", "/unions/<union_id>/hotline", "login 403 403 403 303 403 303", CA),
    Row("GET", "/unions/<union_id>/cases", "login 403 403 403 200 403 200", CA),
    Row("GET", "/unions/<union_id>/cases/indicators", "login 403 403 403 200 403 200", CA),
    Row("GET", "/unions/<union_id>/cases/report.xlsx", "login 403 403 403 200 403 200", CA),
    Row("GET", "/unions/<union_id>/cases/topic", "login 403 403 403 200 403 200", CA),
    # ----- surveys (issue 15): an anonymous survey run by u05 over its members, open ------------------
    Row("GET", "/api/v1/survey-templates", "401 200 200 200 200 200 200", LOGIN),
    Row("GET", "/api/v1/survey-templates/<key>", "401 200 200 200 200 200 200", LOGIN),
    Row("POST", "/api/v1/surveys", "401 403 403 403 201 403 201", SV),
    Row("GET", "/api/v1/unions/<union_id>/surveys", "401 403 403 403 200 403 200", SV),
    Row("GET", "/api/v1/surveys/mine", "401 200 200 200 200 200 200", LOGIN),
    Row("GET", "/api/v1/surveys/<survey_id>", "401 200 200 200 200 403 200", SVR),
    Row("PUT", "/api/v1/surveys/<survey_id>", "401 403 403 403 200 403 200", SV),
    Row("POST", "/api/v1/surveys/<survey_id>/open", "401 403 403 403 200 403 200", SV),
    Row("POST", "/api/v1/surveys/<survey_id>/close", "401 403 403 403 200 403 200", SV),
    Row("POST", "/api/v1/surveys/<survey_id>/reminders", "401 403 403 403 200 403 200", SV),
    Row("GET", "/api/v1/surveys/<survey_id>/response", "401 200 200 200 200 403 403", SVA),
    Row("PUT", "/api/v1/surveys/<survey_id>/response/draft", "401 200 200 200 200 403 403", SVA),
    Row("POST", "/api/v1/surveys/<survey_id>/response", "401 201 201 201 201 403 403", SVA),
    Row("GET", "/api/v1/surveys/<survey_id>/results", "401 403 403 403 200 403 200", SV),
    Row("GET", "/api/v1/surveys/<survey_id>/participation", "401 403 403 403 200 403 200", SV),
    Row(
        "GET",
        "/api/v1/surveys/<survey_id>/questions/<question_id>/crosstab",
        "401 403 403 403 200 403 200",
        SV,
    ),
    Row(
        "GET", "/api/v1/surveys/<survey_id>/questions/<question_id>/texts", "401 403 403 403 200 403 200", SV
    ),
    Row("GET", "/api/v1/surveys/<survey_id>/respondents", "401 403 403 403 409 403 409", SV),
    Row("GET", "/api/v1/surveys/<survey_id>/results.xlsx", "401 403 403 403 200 403 200", SV),
    Row("GET", "/api/v1/surveys/<survey_id>/answers.csv", "401 403 403 403 200 403 200", SV),
    Row("GET", "/surveys", "login 200 200 200 200 200 200", LOGIN),
    Row("GET", "/surveys/new", "login 403 403 403 200 200 200", SV),
    Row("POST", "/surveys", "login 403 403 403 303 403 303", SV),
    Row("GET", "/surveys/<survey_id>/edit", "login 403 403 403 200 403 200", SV),
    Row("POST", "/surveys/<survey_id>/settings", "login 403 403 403 303 403 303", SV),
    Row("POST", "/surveys/<survey_id>/questions", "login 403 403 403 303 403 303", SV),
    Row("POST", "/surveys/<survey_id>/questions/<question_id>/move", "login 403 403 403 303 403 303", SV),
    Row("POST", "/surveys/<survey_id>/questions/<question_id>/delete", "login 403 403 403 303 403 303", SV),
    Row("POST", "/surveys/<survey_id>/sections", "login 403 403 403 303 403 303", SV),
    Row("POST", "/surveys/<survey_id>/open", "login 403 403 403 303 403 303", SV),
    Row("POST", "/surveys/<survey_id>/close", "login 403 403 403 303 403 303", SV),
    Row("POST", "/surveys/<survey_id>/remind", "login 403 403 403 303 403 303", SV),
    Row("GET", "/surveys/<survey_id>", "login 200 200 200 200 403 303", SVA),
    Row("POST", "/surveys/<survey_id>/answer", "login 303 303 303 303 403 403", SVA),
    Row("GET", "/surveys/<survey_id>/results", "login 403 403 403 200 403 200", SV),
    Row("GET", "/surveys/<survey_id>/questions/<question_id>/texts", "login 403 403 403 200 403 200", SV),
    # ----- elections, appraisals, 双爱双评 ---------------------------------------------------------
    Row("GET", "/api/v1/elections", "401 200 200 200 200 200 200", ELM),
    Row("POST", "/api/v1/unions/<union_id>/elections", "401 403 403 403 201 403 201", EL),
    Row("GET", "/api/v1/elections/<election_id>", "401 200 200 200 200 403 200", ELM),
    Row("POST", "/api/v1/elections/<election_id>/candidates", "401 403 403 403 201 403 201", EL),
    Row("POST", "/api/v1/elections/<election_id>/voting", "401 403 403 403 200 403 200", EL),
    Row("POST", "/api/v1/elections/<election_id>/ballots", "401 201 201 201 201 403 403", ELV),
    Row("POST", "/api/v1/elections/<election_id>/round-closure", "401 403 403 403 200 403 200", EL),
    Row("POST", "/api/v1/elections/<election_id>/publication", "401 403 403 403 200 403 200", EL),
    Row("GET", "/api/v1/election-rounds/<round_id>/receipts/<receipt>", "401 200 200 200 200 403 200", ELM),
    Row("GET", "/api/v1/election-rounds/<round_id>/ballots", "401 200 200 200 200 403 200", ELM),
    Row("POST", "/api/v1/election-rounds/<round_id>/recount", "401 403 403 403 200 403 200", EL),
    Row("GET", "/api/v1/elections/<election_id>/report.docx", "401 200 200 200 200 403 200", ELM),
    Row("GET", "/api/v1/elections/<election_id>/results.xlsx", "401 200 200 200 200 403 200", ELM),
    Row("POST", "/api/v1/unions/<union_id>/appraisals", "401 403 403 403 201 403 201", EL),
    Row("GET", "/api/v1/appraisals/<appraisal_id>", "401 200 200 200 200 403 200", ELM),
    Row("POST", "/api/v1/appraisals/<appraisal_id>/ratings", "401 201 201 201 201 403 403", ELV),
    Row("POST", "/api/v1/appraisals/<appraisal_id>/closure", "401 403 403 403 200 403 200", EL),
    Row("POST", "/api/v1/appraisals/<appraisal_id>/publication", "401 403 403 403 200 403 200", EL),
    Row(
        "GET",
        "/api/v1/appraisals/<appraisal_id>/subjects/<subject_id>/comments",
        "401 403 403 403 200 403 200",
        EL,
    ),
    Row("POST", "/api/v1/unions/<union_id>/award-rounds", "401 403 403 403 201 403 201", EL),
    Row("GET", "/api/v1/award-rounds/<award_id>", "401 200 200 200 200 403 200", ELM),
    Row("POST", "/api/v1/award-rounds/<award_id>/nominations", "401 201 201 201 201 403 201", ELM),
    Row("POST", "/api/v1/award-rounds/<award_id>/voting", "401 403 403 403 200 403 200", EL),
    Row("POST", "/api/v1/award-rounds/<award_id>/ballots", "401 201 201 201 201 403 403", ELV),
    Row("POST", "/api/v1/award-rounds/<award_id>/closure", "401 403 403 403 200 403 200", EL),
    Row("POST", "/api/v1/award-rounds/<award_id>/publication", "401 403 403 403 200 403 200", EL),
    Row("GET", "/elections", "login 200 200 200 200 200 200", ELM),
    Row("GET", "/unions/<union_id>/elections/new", "login 403 403 403 200 403 200", EL),
    Row("POST", "/unions/<union_id>/elections", "login 403 403 403 303 403 303", EL),
    Row("GET", "/elections/<election_id>", "login 200 200 200 200 403 200", ELM),
    Row("POST", "/elections/<election_id>/candidates", "login 403 403 403 303 403 303", EL),
    Row("POST", "/elections/<election_id>/voting", "login 403 403 403 303 403 303", EL),
    Row("POST", "/elections/<election_id>/round-closure", "login 403 403 403 303 403 303", EL),
    Row("POST", "/elections/<election_id>/publication", "login 403 403 403 303 403 303", EL),
    Row("GET", "/elections/<election_id>/ballot", "login 200 200 200 200 403 200", ELV),
    Row("POST", "/elections/<election_id>/ballot/review", "login 200 200 200 200 403 200", ELV),
    Row("POST", "/elections/<election_id>/ballot", "login 303 303 303 303 403 403", ELV),
    Row("GET", "/elections/<election_id>/receipt", "login 200 200 200 200 403 200", ELV),
    Row("GET", "/elections/<election_id>/report.docx", "login 200 200 200 200 403 200", ELM),
    Row("GET", "/elections/<election_id>/results.xlsx", "login 200 200 200 200 403 200", ELM),
    # projector view (大屏) of an election, issue 14
    Row("GET", "/api/v1/elections/<election_id>/projector", "401 200 200 200 200 403 200", PJR),
    Row("GET", "/api/v1/projector/elections/<token>", "200 200 200 200 200 200 200", PJL),
    Row("GET", "/api/v1/elections/<election_id>/projector-links", "401 403 403 403 200 403 200", PJ),
    Row("POST", "/api/v1/elections/<election_id>/projector-links", "401 403 403 403 201 403 201", PJ),
    Row("POST", "/api/v1/elections/projector-links/<token>/revoke", "401 403 403 403 200 403 200", PJ),
    Row("GET", "/elections/<election_id>/projector", "login 200 200 200 200 403 200", PJR),
    Row("GET", "/projector/elections/<token>", "200 200 200 200 200 200 200", PJL),
    Row("GET", "/elections/<election_id>/projector-links", "login 403 403 403 200 403 200", PJ),
    Row("POST", "/elections/<election_id>/projector-links", "login 403 403 403 303 403 303", PJ),
    Row("POST", "/elections/projector-links/<token>/revoke", "login 403 403 403 303 403 303", PJ),
    Row("GET", "/unions/<union_id>/appraisals/new", "login 403 403 403 200 403 200", EL),
    Row("POST", "/unions/<union_id>/appraisals", "login 403 403 403 303 403 303", EL),
    Row("GET", "/appraisals/<appraisal_id>", "login 200 200 200 200 403 200", ELM),
    Row("POST", "/appraisals/<appraisal_id>/ratings", "login 303 303 303 303 403 403", ELV),
    Row("POST", "/appraisals/<appraisal_id>/closure", "login 403 403 403 303 403 303", EL),
    Row("POST", "/appraisals/<appraisal_id>/publication", "login 403 403 403 303 403 303", EL),
    Row("GET", "/api/v1/unions/<union_id>/appraisals", "401 200 200 200 200 403 200", ELM),
    Row("GET", "/api/v1/unions/<union_id>/award-rounds", "401 200 200 200 200 403 200", ELM),
    Row("GET", "/unions/<union_id>/appraisals", "login 200 200 200 200 403 200", ELM),
    Row("GET", "/unions/<union_id>/award-rounds", "login 200 200 200 200 403 200", ELM),
    Row("POST", "/api/v1/award-rounds/<award_id>/tie-settlement", "401 403 403 403 200 403 200", EL),
    Row("GET", "/unions/<union_id>/award-rounds/new", "login 403 403 403 200 403 200", EL),
    Row("POST", "/unions/<union_id>/award-rounds", "login 403 403 403 303 403 303", EL),
    Row("GET", "/award-rounds/<award_id>", "login 200 200 200 200 403 200", ELM),
    Row("POST", "/award-rounds/<award_id>/nominations", "login 303 303 303 303 403 303", ELM),
    Row("POST", "/award-rounds/<award_id>/voting", "login 403 403 403 303 403 303", EL),
    Row("GET", "/award-rounds/<award_id>/ballot", "login 200 200 200 200 403 200", ELV),
    Row("POST", "/award-rounds/<award_id>/ballot/review", "login 200 200 200 200 403 200", ELV),
    Row("POST", "/award-rounds/<award_id>/ballot", "login 303 303 303 303 403 403", ELV),
    Row("POST", "/award-rounds/<award_id>/closure", "login 403 403 403 303 403 303", EL),
    Row("POST", "/award-rounds/<award_id>/tie-settlement", "login 403 403 403 303 403 303", EL),
    Row("POST", "/award-rounds/<award_id>/publication", "login 403 403 403 303 403 303", EL),
    Row("GET", "/api/v1/elections/<election_id>/electors", "401 200 200 200 200 403 200", ELV),
    Row("GET", "/election-rounds/<round_id>/receipt-check", "login 200 200 200 200 403 200", ELM),
    Row("GET", "/election-rounds/<round_id>/ballots", "login 200 200 200 200 403 200", ELM),
]


def render_markdown() -> str:
    """docs/authorization.md: the roles, the codes and the table, grouped by capability."""
    head = "| route | " + " | ".join(ROLE_TITLES[r] for r in ROLES) + " | rule |"
    rule_line = "|---|" + "---|" * len(ROLES) + "---|"
    lines = [
        "# Authorisation matrix",
        "",
        "<!-- generated by `.venv/bin/python -m tests.authz_matrix > docs/authorization.md`; edit",
        "tests/authz_matrix.py, not this page (tests/e2e/test_authz_matrix.py checks they agree) -->",
        "",
        "Every route of the gateway and what each of seven roles gets from it, as asked by",
        "`tests/e2e/test_authz_matrix.py` on a running demo stack (the test also fails when the gateway has",
        "a route this table lacks). Authorisation is always scoped (DESIGN.md §1): roles are granted per",
        "union, per congress (delegates) and per department (handlers), and each service checks the verified",
        "token of every call itself (DESIGN.md §5), so a refusal here comes from the service that owns the",
        "data, and the gateway only maps it to HTTP (`services/gateway/http.py`).",
        "",
        "## Roles",
        "",
        "The roles are relative to the union that owns the route's target (in the test, 博瑞集成电路 `u05`):",
        "",
        "- **anonymous**: no token. The API answers 401; pages redirect to `/login` (303).",
        "- **member** (会员): a member of the union with no other role: reads their union's disclosures,",
        "  congress record, accepted proposals, rates their own Worker Home (DESIGN.md §1, §4).",
        "- **delegate** (职工代表): a member elected delegate of the union's congress (grant `delegate`,",
        "  scope = the congress): drafts, co-signs, submits and rates proposals, checks in and votes.",
        "- **handler** (承办部门): staff of a handling department (grant `handler`, scope = the department):",
        "  the department's proposal inbox and replies.",
        "- **union admin (same union)** (基层工会): `union_admin` of the union: runs its congress, reviews",
        "  proposals, publishes disclosures, enters its own unit score.",
        "- **union admin (other union)**: `union_admin` of another grassroots union: nothing of this union",
        '  ("a union_admin of union A can do nothing to union B", DESIGN.md §1).',
        "- **superior admin** (上级工会): `superior_admin` of the federation: runs evaluation campaigns,",
        "  enters superior scores, and, as an admin of every union below, may do what their admins do.",
        "",
        "## Codes",
        "",
        "`200` `201` `202` `204`: allowed (API). `401`: not logged in (API). `403`: refused. `404`: hidden.",
        "`409`: past the role check but refused by the target's state. Pages: `200` the page, `303` a form",
        "done and redirected onward, `login` a 303 to `/login`, `back` a refused form sent back to its page",
        "with the refusal's message (the notice cookie), `403` the error page. State-changing rows are asked on a",
        "fresh target per allowed role (each must succeed) and on one shared target for the refused roles",
        "(read back before and after: nothing may change).",
        "",
        "A route followed by a target in brackets is asked about another object than its plain row:",
        "*another union's member* (a member of `u16`, which only the superior admin administers), *scope in",
        "another union* (a u05 member given a handler role in a department of u01, the other admin's",
        "union: a role's scope must be one the actor administers and in the member's own union), *congress",
        "vote* (the poll of a u05 congress resolution, not the evaluation poll). Every refused answer of a",
        "route that names a member is checked to carry none of that member's personal data (name, mobile,",
        "e-mail, last four ID characters): a refusal is a code and a plain message.",
        "",
    ]
    groups = [
        ("Account and meta", lambda r: r.path in ("/", "/healthz", "/login", "/logout", "/me")
         or r.path.startswith(("/api/v1/auth", "/api/v1/me", "/api/v1/openapi", "/static", "/lang", "/me/"))),
        ("Audit log", lambda r: "/audit" in r.path),
        ("Worker requests", lambda r: "/case" in r.path or r.path.endswith("/hotline")),
        ("Surveys", lambda r: "survey" in r.path),
        ("Elections", lambda r: any(k in r.path for k in ("election", "appraisal", "award-round"))),
        ("Member registry", lambda r: "/unions" in r.path and not any(
            k in r.path for k in ("disclosure", "deliveries")) or "/members" in r.path or "/imports" in r.path),
        ("Workers' congress", lambda r: "/congress" in r.path),
        ("Proposals", lambda r: "/proposals" in r.path),
        ("Evaluations", lambda r: "/campaigns" in r.path or "/polls" in r.path or "/evaluations" in r.path),
        ("Disclosure", lambda r: "disclosure" in r.path),
        ("Notifications", lambda r: True),
    ]  # fmt: skip
    placed: set[str] = set()
    for title, belongs in groups:
        rows = [r for r in ROUTES if r.key not in placed and belongs(r)]
        placed.update(r.key for r in rows)
        lines += [f"## {title}", "", head, rule_line]
        for r in rows:
            cells = " | ".join(r.expect[role] for role in ROLES)
            target = f" ({r.target})" if r.target else ""
            lines.append(f"| `{r.method} {r.path}`{target} | {cells} | {r.rule} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
