"""HTTP API and pages of delegate proposals (提案): collection windows, drafting and co-signing, review,
assignment, replies, ratings, excellence, statistics and the register (XLSX).

Pages (Chinese first, plain forms, no script): ``/proposals`` (the sessions of the caller's congress with
their windows and the links each role needs), ``/proposals/sessions/<id>/mine`` (the delegate: my
proposals, the submission form, co-sign invitations), ``/proposals/sessions/<id>/desk`` (the union admin's
review desk: window, review, assignment, excellence), ``/proposals/inbox/<department id>`` (a handling
department's inbox with the reply form), ``/proposals/sessions/<id>`` (the public list of accepted proposals
and their replies), ``/proposals/<id>`` (one proposal: co-signers, rounds, replies, ratings, history; the
rating form), ``/proposals/sessions/<id>/stats`` (statistics with SVG charts).
"""

from __future__ import annotations

import io
import re
from urllib.parse import quote, urlencode

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from werkzeug.wrappers import Response

from dmlib.contracts import proposals as c
from dmlib.errors import BadInput
from dmlib.exports import china_time, xlsx_append

from .congress import find_delegates
from .federation import unions_to_pick
from .http import api, page
from .pages import download, form_client_key, require_confirmed
from .routing import Router

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: English message ids of the states (Chinese in proposals.po).
STATE_LABELS = {
    "draft": "Draft, collecting co-signers",
    "submitted": "Submitted, awaiting review",
    "accepted": "Accepted as a proposal",
    "converted": "Converted to a suggestion",
    "rejected": "Not accepted",
    "assigned": "With the departments",
    "replied": "Replied, awaiting rating",
    "closed": "Handled and closed",
}
SATISFACTION_LABELS = {"satisfied": "Satisfied", "partly": "Partly satisfied", "dissatisfied": "Dissatisfied"}
ACTION_LABELS = {
    "draft": "drafted",
    "cosign": "co-signed",
    "submit": "submitted",
    "accept": "accepted it",
    "convert": "converted it to a suggestion",
    "reject": "did not accept it",
    "assign": "assigned it",
    "reply": "replied",
    "replies_complete": "all departments replied",
    "rate": "rated the reply",
    "return": "was dissatisfied: back to the departments",
    "mark_excellent": "marked it excellent",
}
STATE_ZH = {
    "draft": "草稿",
    "submitted": "待审查",
    "accepted": "已立案",
    "converted": "转为意见建议",
    "rejected": "不予立案",
    "assigned": "办理中",
    "replied": "已答复",
    "closed": "已办结",
}
DECISION_ZH = {"accept": "立案", "convert": "转为意见建议", "reject": "不予立案"}
#: The query-string filters of the desk and the inbox (:class:`dmlib.contracts.proposals.QueueIn`).
QUEUE_FILTERS = ("state", "awaiting", "q", "sort", "page")
#: What names a queue: a session's review desk or a department's inbox (taken from the path, never the query).
QUEUES = ("session_id", "department_id")
QUEUE_PAGE = 20
#: A queue with nothing in it (a refused filter, a session without a collection window).
EMPTY_QUEUE = {
    "items": [],
    "total": 0,
    "page": 1,
    "per_page": QUEUE_PAGE,
    "pages": 1,
    "counts": {},
    "awaiting": 0,
    "sort": "",
    "department": None,
}
DESK_SORTS = {
    "number": "By number",
    "-number": "Newest first",
    "state": "By state",
    "deadline": "By deadline",
}
INBOX_SORTS = {"awaiting": "Awaiting reply first", "deadline": "By deadline", "number": "By number"}
SPLIT = re.compile(r"[\s,，、;；]+")


def _whole(value: str | None, name: str) -> int | None:
    """A whole number from a form field (empty → None), else 400 with the field's message."""
    try:
        return int(value) if value else None
    except ValueError:
        raise BadInput("whole numbers only / 请填写整数", fields={name: ["not a whole number"]}) from None


def register_xlsx(reg: dict) -> bytes:
    """The session's proposal register (提案登记表) as an XLSX workbook: one row per submitted proposal
    (number, subject, category, proposer, co-signers, state, review, departments, deadline, reply dates,
    on time, satisfaction of the proposer, excellent)."""
    w = reg["window"]
    wb = Workbook()
    ws = wb.active
    ws.title = "提案登记表"
    xlsx_append(ws, [f"{w['session_title']} 提案登记表"])
    ws["A1"].font = Font(bold=True, size=14)
    head = [
        "提案号",
        "案由",
        "类别",
        "提案人",
        "附议人",
        "状态",
        "审查结果",
        "审查意见",
        "承办部门",
        "办理轮次",
        "答复期限",
        "答复时间",
        "按期答复",
        "提案人满意度",
        "优秀提案",
    ]
    xlsx_append(ws, head)
    for cell in ws[2]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="C8102E")
        cell.alignment = Alignment(horizontal="center")
    for p in reg["proposals"]:
        last = p["rounds"][-1] if p["rounds"] else None
        proposer_rating = [r for r in p["ratings"] if r["member_id"] == p["proposer"]["member_id"]]
        xlsx_append(
            ws,
            [
                p["number"],
                p["subject"],
                p["category_label"],
                p["proposer"]["name"],
                "、".join(x["name"] for x in p["cosigners"]),
                STATE_ZH.get(p["state"], p["state"]),
                DECISION_ZH.get((p["review"] or {}).get("decision"), ""),
                (p["review"] or {}).get("reason") or "",
                "、".join(d["name"] for d in last["departments"]) if last else "",
                p["round"] or "",
                (china_time(last["deadline"], "day") or "") if last else "",
                (china_time(last["replied_at"], "day") or "") if last else "",
                ("是" if last["on_time"] else "否") if last and last["on_time"] is not None else "",
                c.SATISFACTION_ZH.get(proposer_rating[-1]["satisfaction"], "") if proposer_rating else "",
                "是" if p["excellent"] else "",
            ],
        )
    for col, width in zip(
        "ABCDEFGHIJKLMNO", (8, 40, 10, 10, 24, 12, 12, 24, 22, 8, 12, 12, 8, 12, 8), strict=True
    ):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


class ProposalsRoutes(Router):
    uses = ("proposals_rpc", "congress_rpc", "members_rpc")

    # ----- API -----------------------------------------------------------------------------------
    @api(
        "POST",
        "/api/v1/proposals/sessions/<session_id>/window",
        body=c.WindowIn,
        response=c.WindowOut,
        tags=["proposals"],
    )
    def api_proposals_open_window(self, request, session_id, body):
        """Open (or re-open) a session's collection window: ``{"min_cosigners": 2, "deadline_days": 20}``.
        Union admins (403 otherwise); 404 for an unknown session."""
        return self.proposals_rpc.open_window(session_id, body)

    @api(
        "POST",
        "/api/v1/proposals/sessions/<session_id>/window/close",
        response=c.WindowOut,
        tags=["proposals"],
    )
    def api_proposals_close_window(self, request, session_id):
        """Close the collection window (409 if it is not open)."""
        return self.proposals_rpc.close_window(session_id)

    @api("GET", "/api/v1/proposals/sessions/<session_id>/window", response=c.WindowOut, tags=["proposals"])
    def api_proposals_get_window(self, request, session_id):
        """The session's window: ``status`` none | open | closed, minimum co-signers, deadline days."""
        return self.proposals_rpc.get_window(session_id)

    @api(
        "POST",
        "/api/v1/proposals/sessions/<session_id>/proposals",
        body=c.ProposalIn,
        response=c.ProposalOut,
        status=201,
        tags=["proposals"],
        idempotent=True,
    )
    def api_proposals_create_proposal(self, request, session_id, body):
        """Draft a proposal and invite co-signers (delegates of the congress; 409 outside the window).
        ``Idempotency-Key``: a retry with the same key returns what the first made."""
        return self.proposals_rpc.create_proposal(session_id, body)

    @api(
        "GET",
        "/api/v1/proposals/sessions/<session_id>/proposals",
        query=c.SessionProposalsIn,
        response=[c.ProposalOut],
        tags=["proposals"],
    )
    def api_proposals_list_session(self, request, session_id):
        """``?view=public`` (default): accepted proposals with replies (members); ``?view=desk``: every
        submitted one (admins)."""
        return self.proposals_rpc.list_session(session_id, request.args.get("view", "public"))

    @api(
        "GET",
        "/api/v1/proposals/sessions/<session_id>/mine",
        response=c.MyProposalsOut,
        tags=["proposals"],
    )
    def api_proposals_my_proposals(self, request, session_id):
        """``{"window", "own": [...], "invitations": [...]}`` for the calling delegate."""
        return self.proposals_rpc.my_proposals(session_id)

    @api("GET", "/api/v1/proposals/sessions/<session_id>/statistics", response=c.StatsOut, tags=["proposals"])
    def api_proposals_statistics(self, request, session_id):
        """Counts and rates of the session: acceptance, on-time replies, closure, satisfaction shares."""
        return self.proposals_rpc.statistics(session_id)

    @api("GET", "/api/v1/proposals/sessions/<session_id>/register.xlsx", response=XLSX, tags=["proposals"])
    def api_proposals_register(self, request, session_id):
        """The session's proposal register (提案登记表) as an Excel workbook (admins)."""
        reg = self.proposals_rpc.register(session_id)
        name = f"{reg['window']['session_title']}-提案登记表.xlsx"
        return download(register_xlsx(reg), XLSX, name, ascii_name="proposals.xlsx")

    @api("GET", "/api/v1/proposals/inbox/<department_id>", response=[c.ProposalOut], tags=["proposals"])
    def api_proposals_inbox(self, request, department_id):
        """A department's inbox (handlers of the department): awaiting its reply first."""
        return self.proposals_rpc.inbox(department_id)

    @api(
        "GET",
        "/api/v1/proposals/sessions/<session_id>/queue",
        query=c.QueueIn,
        response=c.QueuePageOut,
        tags=["proposals"],
    )
    def api_proposals_desk_queue(self, request, session_id):
        """A page of the session's review desk (admins of its union or above): ``state``, ``q`` (a
        number, or text in the subject or the proposer's name), ``sort`` (number, -number, deadline,
        state), ``page``, ``per_page`` (≤ 100, default 20); ``counts`` per state."""
        return self._p_api_queue(request, {"session_id": session_id})

    @api(
        "GET",
        "/api/v1/proposals/inbox/<department_id>/queue",
        query=c.QueueIn,
        response=c.QueuePageOut,
        tags=["proposals"],
    )
    def api_proposals_inbox_queue(self, request, department_id):
        """A page of a department's inbox (its handlers), with the department's name: ``awaiting``
        (true: awaiting its reply), ``state``, ``q``, ``sort`` (default ``awaiting``: those awaiting the
        reply first, then by deadline), ``page``, ``per_page`` (≤ 100)."""
        return self._p_api_queue(request, {"department_id": department_id})

    def _p_api_queue(self, request, where: dict) -> dict:
        """A page of a proposal queue (:class:`c.QueuePageOut`) for the API: the query string's filters
        (:class:`c.QueueIn`, checked by the service) with ``where``, the queue of the path (``session_id``
        of a desk, ``department_id`` of an inbox), in place of any queue the query string names."""
        args = {k: v for k, v in request.args.items() if k not in QUEUES}
        return self.proposals_rpc.queue({**args, **where})

    @api("GET", "/api/v1/proposals/<proposal_id>", response=c.ProposalOut, tags=["proposals"])
    def api_proposals_get_proposal(self, request, proposal_id):
        """One proposal with co-signers, rounds, replies, ratings and its full history."""
        return self.proposals_rpc.get_proposal(proposal_id)

    @api("POST", "/api/v1/proposals/<proposal_id>/cosign", response=c.ProposalOut, tags=["proposals"])
    def api_proposals_cosign(self, request, proposal_id):
        """Co-sign a draft: 403 one's own, 409 twice or outside the window."""
        return self.proposals_rpc.cosign(proposal_id)

    @api("POST", "/api/v1/proposals/<proposal_id>/submit", response=c.ProposalOut, tags=["proposals"])
    def api_proposals_submit(self, request, proposal_id):
        """Submit one's draft: 409 outside the window or with too few co-signers (``details.missing``)."""
        return self.proposals_rpc.submit(proposal_id)

    @api(
        "POST",
        "/api/v1/proposals/<proposal_id>/review",
        body=c.ReviewIn,
        response=c.ProposalOut,
        tags=["proposals"],
    )
    def api_proposals_review(self, request, proposal_id, body):
        """``{"decision": "accept" | "convert" | "reject", "reason"}`` (a rejection needs a reason). Admins."""
        return self.proposals_rpc.review(proposal_id, body)

    @api(
        "POST",
        "/api/v1/proposals/<proposal_id>/assign",
        body=c.AssignIn,
        response=c.ProposalOut,
        tags=["proposals"],
    )
    def api_proposals_assign(self, request, proposal_id, body):
        """``{"department_ids": [...], "deadline_days": 20}``: assign an accepted proposal. Admins."""
        return self.proposals_rpc.assign(proposal_id, body)

    @api(
        "POST",
        "/api/v1/proposals/<proposal_id>/reply",
        body=c.ReplyIn,
        response=c.ProposalOut,
        tags=["proposals"],
    )
    def api_proposals_reply(self, request, proposal_id, body):
        """A handling department's written reply ``{"text"}``: 403 another department, 409 not assigned."""
        return self.proposals_rpc.reply(proposal_id, body)

    @api(
        "POST",
        "/api/v1/proposals/<proposal_id>/rate",
        body=c.RateIn,
        response=c.ProposalOut,
        tags=["proposals"],
    )
    def api_proposals_rate(self, request, proposal_id, body):
        """``{"satisfaction": "satisfied" | "partly" | "dissatisfied", "comment"}`` by the proposer or a
        co-signer; the proposer's dissatisfaction sends it back for one more round."""
        return self.proposals_rpc.rate(proposal_id, body)

    @api("POST", "/api/v1/proposals/<proposal_id>/excellent", response=c.ProposalOut, tags=["proposals"])
    def api_proposals_mark_excellent(self, request, proposal_id):
        """Mark a closed proposal excellent (优秀提案). Admins."""
        return self.proposals_rpc.mark_excellent(proposal_id)

    # ----- pages: helpers ------------------------------------------------------------------------
    def _p_render(self, template: str, request, **context) -> Response:
        return self.web.render(
            f"proposals/{template}",
            request=request,
            STATE_LABELS=STATE_LABELS,
            SATISFACTION_LABELS=SATISFACTION_LABELS,
            ACTION_LABELS=ACTION_LABELS,
            CATEGORIES=c.CATEGORIES,
            **context,
        )

    def _p_act(self, target: str, call, done: str = "Done.") -> Response:
        """A button of the proposals pages: done → back to ``target`` with ``done`` (a message id);
        refused → back with the refusal's message (the pages' one policy: :mod:`services.gateway.pages`)."""
        return self.web.act(target, call, done=self.web.gettext(done))

    @staticmethod
    def _p_safe(value: str) -> str:
        return quote(value or "", safe="-_")

    def _p_desk(self, session_id: str) -> str:
        """The path of a session's review desk."""
        return f"/proposals/sessions/{self._p_safe(session_id)}/desk"

    def _p_inbox(self, department_id: str) -> str:
        """The path of a department's inbox."""
        return f"/proposals/inbox/{self._p_safe(department_id)}"

    # ----- pages ---------------------------------------------------------------------------------
    @page("GET", "/proposals")
    def proposals_home(self, request):
        """The sessions of the caller's congress with their windows and the links each role needs."""
        actor = self.identity.actor
        congresses = sorted(actor.scopes("delegate"))
        union = request.args.get("union") or actor.union_id or next(iter(sorted(actor.admin_unions)), "")
        congress_id = request.args.get("congress") or (congresses[0] if congresses else f"cg-{union}")
        sessions = self.web.visible(self.congress_rpc.list_sessions, congress_id, default=[])
        windows = (
            {w["session_id"]: w for w in self.proposals_rpc.list_windows(congress_id)} if sessions else {}
        )
        return self._p_render(
            "index.html",
            request,
            congress_id=congress_id,
            union_id=congress_id.removeprefix("cg-"),
            unions=unions_to_pick(self.members_rpc, self.web, actor),
            sessions=sessions,
            windows=windows,
            is_delegate=actor.has("delegate", congress_id),
            is_admin=bool(actor.admin_unions),
            departments=self._p_departments(actor),
        )

    def _p_departments(self, actor) -> list[dict]:
        """The departments the actor handles, with their names (``[{id, name}]``)."""
        mine = actor.scopes("handler")
        if not mine:
            return []
        found = self.web.visible(self.members_rpc.list_departments, actor.union_id, default=[])
        names = {d["id"]: d["name"] for d in (found if actor.union_id else [])}
        return [{"id": d, "name": names.get(d, d)} for d in sorted(mine)]

    @page("POST", "/proposals/sessions/<session_id>/window")
    def proposals_window_submit(self, request, session_id):
        """Open the collection window (``min_cosigners``, ``deadline_days``), or close it (``action=close``,
        confirmed: delegates can no longer draft, co-sign or submit; re-openable). Back to the desk with
        a notice; without the box: refused (400 ``confirm_required``), nothing changed."""
        target = self._p_desk(session_id)
        if request.form.get("action") == "close":

            def close():
                require_confirmed(request)  # consequential: no submission or co-signature afterwards
                return self.proposals_rpc.close_window(session_id)

            return self._p_act(target, close)
        f = request.form
        return self._p_act(
            target,
            lambda: self.proposals_rpc.open_window(
                session_id,
                {
                    "min_cosigners": _whole(f.get("min_cosigners"), "min_cosigners") or 2,
                    "deadline_days": _whole(f.get("deadline_days"), "deadline_days") or 20,
                },
            ),
        )

    @page("GET", "/proposals/sessions/<session_id>/mine")
    def proposals_mine(self, request, session_id):
        """The delegate's page: my proposals, the submission form, co-sign invitations."""
        return self._p_mine(request, session_id)

    def _p_mine(self, request, session_id, form=None, errors=None, status=200, found=None, picked=()):
        mine = self.proposals_rpc.my_proposals(session_id)
        response = self._p_render(
            "mine.html",
            request,
            session_id=session_id,
            mine=mine,
            form=form or {},
            errors=errors or {},
            found=found,
            picked=list(picked),
        )
        response.status_code = status
        return response

    @page("POST", "/proposals/sessions/<session_id>/mine")
    def proposals_create_submit(self, request, session_id):
        """Draft a proposal and invite co-signers: the delegates ticked in the name picker (``pick``,
        with their names as ``name_<member id>``) and any member numbers typed in ``invite``. With
        ``find_go`` the form comes back with the delegates of the session's term whose name or number
        contains ``find`` (issue 16: no typed numbers needed), keeping everything entered."""
        form = {k: request.form.get(k, "") for k in ("subject", "category", "reasons", "measures", "invite")}
        picked = [
            {"member_id": m, "name": request.form.get(f"name_{m}", m)} for m in request.form.getlist("pick")
        ]
        if request.form.get("find_go"):
            q = request.form.get("find", "")
            session = self.congress_rpc.get_session(session_id)
            taken = {x["member_id"] for x in picked} | {self.identity.actor.member_id}
            found = [
                d
                for d in find_delegates(self.congress_rpc, session["term_id"], q)
                if d["member_id"] not in taken
            ]
            form["find"] = q
            return self._p_mine(request, session_id, form, found=found, picked=picked)
        typed = [m for m in SPLIT.split(form["invite"].strip()) if m]
        invite = list(dict.fromkeys([x["member_id"] for x in picked] + typed))
        body = {**form, "invite": invite, "client_key": form_client_key(request)}
        p = self.web.attempt(self.proposals_rpc.create_proposal, session_id, body)
        if p.refusal:
            errors = {"form": p.refusal.message, **p.refusal.errors}
            return self._p_mine(request, session_id, form, errors, p.refusal.status, picked=picked)
        target = f"/proposals/sessions/{self._p_safe(session_id)}/mine"
        return self.web.redirect(target, self.web.gettext("Done."), ref=p.value["id"])

    @page("POST", "/proposals/<proposal_id>/cosign")
    def proposals_cosign_submit(self, request, proposal_id):
        target = request.form.get("back") or f"/proposals/{self._p_safe(proposal_id)}"
        target = target if target.startswith("/proposals/") else "/proposals"
        return self._p_act(target, lambda: self.proposals_rpc.cosign(proposal_id))

    @page("POST", "/proposals/<proposal_id>/submit")
    def proposals_submit_submit(self, request, proposal_id):
        target = request.form.get("back") or f"/proposals/{self._p_safe(proposal_id)}"
        target = target if target.startswith("/proposals/") else "/proposals"
        return self._p_act(target, lambda: self.proposals_rpc.submit(proposal_id))

    def _p_queue_page(
        self, request, template: str, path: str, where: dict, sorts: dict, *, empty=None, **context
    ) -> Response:
        """A page of a proposal queue (the desk's, an inbox's) at ``path`` from the page's query string
        (``state``, ``awaiting``, ``q``, ``sort``, ``page``; 20 a page) and ``where`` (the queue), shown
        with ``template``, the sorts offered (``sorts``) and ``context``; ``empty``: a queue to show
        without asking (none yet). A hand-edited filter the service refuses shows the page again with the
        message and no rows. The template gets the page (``queue``), the filters as they travel
        (``filters``), the form errors, ``link(**changes)`` (the path with changed filters) and ``back``
        (this page, for an item page to return to)."""
        filters, errors = {}, {}
        if empty is not None:
            queue = empty
        else:
            filters = {k: v.strip() for k, v in request.args.items() if k in QUEUE_FILTERS and v.strip()}
            result = self.web.attempt(self.proposals_rpc.queue, {**filters, **where, "per_page": QUEUE_PAGE})
            queue = result.value
            if result.refusal:
                queue, errors = EMPTY_QUEUE, {"form": result.refusal.message, **result.refusal.errors}

        def link(**changes) -> str:
            return path + "?" + urlencode({k: v for k, v in {**filters, **changes}.items() if v})

        return self._p_render(
            template,
            request,
            queue=queue,
            filters=filters,
            errors=errors,
            link=link,
            back=link(page=queue["page"] if queue["page"] > 1 else None),
            SORTS=sorts,
            **context,
        )

    @page("GET", "/proposals/sessions/<session_id>/desk")
    def proposals_desk(self, request, session_id):
        """The admin's review desk (issue 16): the collection window, then the session's submitted
        proposals as a paged table (20 a page) with state tabs and their counts, a search (number,
        subject, proposer) and a sort; each row links to the proposal's own review page
        (``/proposals/<id>/review``), where its one form is."""
        window = self.proposals_rpc.get_window(session_id)
        none = {**EMPTY_QUEUE, "sort": "number"} if window["status"] == "none" else None  # no proposals yet
        return self._p_queue_page(
            request,
            "desk.html",
            self._p_desk(session_id),
            {"session_id": session_id},
            DESK_SORTS,
            empty=none,
            session_id=session_id,
            window=window,
        )

    @page("GET", "/proposals/<proposal_id>/review")
    def proposals_review_page(self, request, proposal_id):
        """One proposal of the review desk on its own page (admins of its union or above, as the
        service's ``my_roles`` says): its text and the one form its state calls for (review, assign,
        mark excellent); ``back``: the desk page to return to."""
        p = self.proposals_rpc.get_proposal(proposal_id)
        self.identity.actor.require(
            "admin" in p["my_roles"], "only admins of this union may review / 仅本单位工会管理员可审查提案"
        )
        window = self.proposals_rpc.get_window(p["session_id"])
        departments = self.members_rpc.list_departments(p["union_id"]) if p["state"] == "accepted" else []
        return self._p_render(
            "review.html",
            request,
            p=p,
            window=window,
            departments=departments,
            back=self._p_back(request, self._p_desk(p["session_id"])),
        )

    @staticmethod
    def _p_back(request, default: str) -> str:
        """The ``back`` of a queue's item page: a path of the same queue (else ``default``)."""
        back = request.values.get("back") or ""
        prefix = default.split("?")[0]
        return back if back.startswith(prefix) and "//" not in back else default

    @page("POST", "/proposals/<proposal_id>/review")
    def proposals_review_submit(self, request, proposal_id):
        target = self._p_back(request, self._p_desk(request.form.get("session_id", "")))
        body = {"decision": request.form.get("decision", ""), "reason": request.form.get("reason", "")}

        def review():
            require_confirmed(request)  # final: accepted, converted or not accepted, the proposer is told
            return self.proposals_rpc.review(proposal_id, body)

        return self._p_act(target, review)

    @page("POST", "/proposals/<proposal_id>/assign")
    def proposals_assign_submit(self, request, proposal_id):
        target = self._p_back(request, self._p_desk(request.form.get("session_id", "")))
        return self._p_act(
            target,
            lambda: self.proposals_rpc.assign(
                proposal_id,
                {
                    "department_ids": request.form.getlist("department_ids"),
                    "deadline_days": _whole(request.form.get("deadline_days"), "deadline_days") or None,
                },
            ),
        )

    @page("POST", "/proposals/<proposal_id>/excellent")
    def proposals_excellent_submit(self, request, proposal_id):
        """Mark a closed proposal excellent (优秀提案), confirmed (once, never taken back); back to the
        desk with a notice; without the box: refused (400 ``confirm_required``), nothing changed."""
        target = self._p_back(request, self._p_desk(request.form.get("session_id", "")))

        def mark():
            require_confirmed(request)  # final: marked once, listed as excellent in the register
            return self.proposals_rpc.mark_excellent(proposal_id)

        return self._p_act(target, mark)

    @page("GET", "/proposals/inbox/<department_id>")
    def proposals_inbox(self, request, department_id):
        """A handling department's inbox (issue 16): its name, the proposals assigned to it as a paged
        table (20 a page; awaiting its reply first, then by deadline), filters (awaiting / replied,
        search, sort); each row links to the proposal's reply page, where the one reply form is."""
        return self._p_queue_page(
            request,
            "inbox.html",
            self._p_inbox(department_id),
            {"department_id": department_id},
            INBOX_SORTS,
            department_id=department_id,
        )

    @page("GET", "/proposals/<proposal_id>/reply")
    def proposals_reply_page(self, request, proposal_id):
        """One proposal of a department's inbox on its own page (handlers of a department of its current
        round, as the service's ``my_roles`` says): its text, the earlier replies and ratings, and the
        reply form while the department's reply is due. ``department_id``: the inbox it came from."""
        p = self.proposals_rpc.get_proposal(proposal_id)
        self.identity.actor.require(
            "handler" in p["my_roles"], "only the assigned departments reply / 仅承办部门可答复"
        )
        current = [d["id"] for d in (p["rounds"][-1]["departments"] if p["rounds"] else [])]
        dep = request.args.get("department_id") or ""
        mine = sorted(self.identity.actor.scopes("handler"))
        dep = (
            dep if dep in current else next((d for d in current if d in mine), current[0] if current else "")
        )
        return self._p_render(
            "reply.html",
            request,
            p=p,
            department_id=dep,
            back=self._p_back(request, self._p_inbox(dep)),
        )

    @page("POST", "/proposals/<proposal_id>/reply")
    def proposals_reply_submit(self, request, proposal_id):
        dep = request.form.get("department_id", "")
        target = self._p_back(request, self._p_inbox(dep))
        body = {"text": request.form.get("text", ""), "department_id": dep or None}
        return self._p_act(
            target, lambda: self.proposals_rpc.reply(proposal_id, body), done="Your reply has been sent."
        )

    @page("GET", "/proposals/sessions/<session_id>")
    def proposals_public(self, request, session_id):
        """The public list of accepted proposals and their replies."""
        window = self.proposals_rpc.get_window(session_id)
        items = self.proposals_rpc.list_session(session_id, "public") if window["status"] != "none" else []
        return self._p_render("public.html", request, session_id=session_id, window=window, items=items)

    @page("GET", "/proposals/sessions/<session_id>/stats")
    def proposals_stats(self, request, session_id):
        """Statistics with charts."""
        window = self.proposals_rpc.get_window(session_id)
        stats = self.proposals_rpc.statistics(session_id)
        return self._p_render("stats.html", request, session_id=session_id, window=window, s=stats)

    @page("GET", "/proposals/<proposal_id>")
    def proposals_detail(self, request, proposal_id):
        """One proposal with its history and, for the proposer and co-signers, the rating form."""
        p = self.proposals_rpc.get_proposal(proposal_id)
        window = self.proposals_rpc.get_window(p["session_id"]) if p["state"] == "draft" else None
        return self._p_render("detail.html", request, p=p, window=window)

    @page("POST", "/proposals/<proposal_id>/rate")
    def proposals_rate_submit(self, request, proposal_id):
        target = f"/proposals/{self._p_safe(proposal_id)}"
        body = {
            "satisfaction": request.form.get("satisfaction", ""),
            "comment": request.form.get("comment", ""),
        }
        return self._p_act(target, lambda: self.proposals_rpc.rate(proposal_id, body))
