"""HTTP API and pages of the workers' congress (职代会): congresses, terms, delegates, sessions, check-in,
quorum, resolution votes, the published record and the minutes (DOCX).

Pages: ``/congress`` (the caller's union's congress), ``/congress/<congress id>`` (the published list of
sessions and resolutions with counts), ``/congress/sessions/<id>/console`` (admins: live due/present
counts updated by ``static/congress.js`` without reloading, agenda, open and close votes, outcomes),
``/congress/sessions/<id>`` (the delegate's page: check in, vote on the open item, outcomes) and
``/congress/sessions/<id>/minutes.docx``.

An agenda item of kind ``election`` runs an election of the elections service among the delegates present
at its session: the console sets it up there (seats, candidates: ``POST /congress/items/<id>/election``,
which creates the election with electorate ``session``, nominates the candidates and links it) or links
an existing one; its rounds, recount and publication are on the election's own page (``/elections/<id>``)
and the delegates vote on its ballot page (``/elections/<id>/ballot``).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from werkzeug.wrappers import Response

from dmlib.contracts import congress as c
from dmlib.errors import BadInput, NotFound

from .disclosure import _file_response
from .federation import unions_to_pick
from .http import api, page
from .pages import check_upload, download, form_client_key, form_files, require_confirmed
from .routing import Router

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CHINA = timezone(timedelta(hours=8), "CST")
KIND_ZH = {"report": "报告", "resolution": "决议", "election": "选举"}
#: Agenda rows of the "plan a session" form (more items: ``POST /api/v1/congress/sessions/<id>/items``).
AGENDA_ROWS = 4
#: Names the desk's name picker shows at most (a narrower search finds the rest).
PICKER_LIMIT = 20
STATE_ZH = {
    "pending": "待表决",
    "voting": "表决中",
    "adopted": "通过",
    "failed": "未通过",
    "decided": "已产生结果",
}
#: The nomination source recorded for candidates entered on the console's election form.
CONSOLE_SOURCE = "大会主席团提名"
MAX_CANDIDATES = 200


def congress_id_of(union_id: str) -> str:
    """A union's congress id (the congress service's convention: one congress per grassroots union)."""
    return f"cg-{union_id}"


def session_heading(congress_name: str, term_number: int, title: str) -> str:
    """The minutes' title (会议纪要 appended): the congress, the term and the session, each once. A session
    title naming its term already ("第三届职工代表大会第一次会议") gets no second term, nor the congress
    twice (issue 16: "…职工代表大会第3届第三届职工代表大会第一次会议会议纪要")."""
    if "届" not in title:
        title = f"第{term_number}届{title}"
    elif "职工代表大会" in title or "职代会" in title:
        congress_name = congress_name.removesuffix("职工代表大会")
    heading = congress_name + title
    return heading + ("纪要" if heading.endswith("会议") else "会议纪要")


def book_title(title: str) -> str:
    """A title in 书名号: 《…》, with the 《》 inside it turned into 〈〉 as Chinese punctuation nests them
    (GB/T 15834-2011 4.15), so "关于《集体合同》的决议" reads 《关于〈集体合同〉的决议》, never
    《关于《集体合同》的决议》 (issue 16). A title wholly in 《》 already is kept."""
    if title.startswith("《") and title.endswith("》") and title.count("《") == 1:
        return title
    return "《" + title.replace("《", "〈").replace("》", "〉") + "》"


def china_time(value: str | None) -> str:
    """An ISO 8601 instant as China time (UTC+8) ``YYYY-MM-DD HH:MM``, or "" for none."""
    if not value:
        return ""
    at = datetime.fromisoformat(value).astimezone(CHINA)
    return f"{at:%Y-%m-%d %H:%M}"


def find_delegates(congress_rpc, term_id: str, q: str, limit: int = PICKER_LIMIT) -> list[dict]:
    """The name picker of the check-in desk and of co-signer invitations (issue 16): the term's delegates
    (``list_delegates``: readers of the congress) whose name or member number contains ``q``
    (case-insensitive), at most ``limit``, each ``{member_id, name, delegation_name, …}``."""
    q = q.strip().casefold()
    if not q:
        return []
    found = [
        d
        for d in congress_rpc.list_delegates(term_id)
        if q in d["name"].casefold() or q in d["member_id"].casefold()
    ]
    return found[:limit]


def china_input(value: str) -> str | None:
    """A ``datetime-local`` field's value (China time, ``YYYY-MM-DDTHH:MM``) as ISO 8601 with its
    +08:00 offset; other text passed on for the contract to refuse; None when empty."""
    value = value.strip()
    return f"{value}:00+08:00" if len(value) == 16 else (value or None)


def minutes_docx(m: dict) -> bytes:
    """The minutes (会议纪要) of a session as a DOCX document (python-docx), Chinese, A4."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "SimSun"
    normal.font.size = Pt(11)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    s, term = m["session"], m["term"]
    doc.add_heading(session_heading(m["congress"]["name"], term["number"], s["title"]), level=1)
    kind = "临时会议" if s["kind"] == "extraordinary" else "例会"
    facts = [
        ("工会", m["congress"]["union_name"]),
        ("届期", f"第{term['number']}届（{term['start']} 至 {term['end']}）"),
        ("会议", f"第{s['number']}次会议（{kind}）"),
        ("开幕时间", china_time(s.get("convened_at")) or "未开幕"),
        ("闭幕时间", china_time(s.get("closed_at")) or "—"),
        ("出席情况", f"应到代表{s['due_count']}人，实到{s['present_count']}人，法定人数{s['required']}人"),
    ]
    for label, value in facts:
        p = doc.add_paragraph()
        p.add_run(f"{label}：").bold = True
        p.add_run(str(value))
    doc.add_heading("各代表团出席情况", level=2)
    table = doc.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("代表团", "应到", "实到"), strict=True):
        cell.text = text
    for d in m["delegations"]:
        row = table.add_row().cells
        row[0].text, row[1].text, row[2].text = d["name"], str(d["due"]), str(d["present"])
    doc.add_heading("议程与表决结果", level=2)
    doc.add_paragraph(
        "表决规则：决议须经全体职工代表过半数赞成方为通过（《全民所有制工业企业职工代表大会条例》第十八条；"
        "《企业民主管理规定》第二十条）。"
    )
    table = doc.add_table(rows=1, cols=7)
    table.style = "Table Grid"
    for cell, text in zip(
        table.rows[0].cells, ("议程", "类别", "方式", "赞成", "反对", "弃权", "结果"), strict=True
    ):
        cell.text = text
    for item in s["items"]:
        o = item.get("outcome") or {}
        row = table.add_row().cells
        values = [
            f"{item['order']}. {item['title']}",
            KIND_ZH.get(item["kind"], item["kind"]),
            ("无记名" if item["secret"] else "记名") if item["kind"] != "report" else "—",
            str(o.get("yes", "")),
            str(o.get("no", "")),
            str(o.get("abstain", "")),
            STATE_ZH.get(item["state"], item["state"]) if item["kind"] != "report" else "已听取",
        ]
        for cell, text in zip(row, values, strict=True):
            cell.text = text
    for item in s["items"]:
        when = "，".join(x for x in (china_time(item.get("starts_at")), item.get("place") or "") if x)
        if item.get("description") or when:
            p = doc.add_paragraph()
            p.add_run(f"{item['order']}. {book_title(item['title'])}").bold = True
            if when:
                p.add_run(f"（{when}）")
            if item.get("description"):
                doc.add_paragraph(item["description"])
    for item in s["items"]:
        e = item.get("election_outcome")
        if e:
            names = "、".join(f"{x['name']}（{x['approvals']}票）" for x in e["elected"]) or "无人当选"
            doc.add_paragraph(
                f"{book_title(item['title'])}：选举人为投票开始时到会代表{e['due']}人；当选：{names}"
                + (f"；空缺{e['vacant']}名" if e.get("vacant") else "")
                + "（当选须获得超过应到选举人半数的赞成票，《工会基层组织选举工作条例》）。"
            )
        o = item.get("outcome")
        if o:
            doc.add_paragraph(
                f"{book_title(item['title'])}：应到{o['due']}人，参加表决{o['eligible']}人，收回表决票{o['ballots']}张；"
                f"赞成{o['yes']}票、反对{o['no']}票、弃权{o['abstain']}票；通过须至少{o['required']}票赞成，"
                f"{'获得通过' if o['adopted'] else '未获通过'}。"
            )
    if m.get("held", True):
        doc.add_heading(f"缺席代表（{len(m['absent'])}人）", level=2)
        doc.add_paragraph("、".join(f"{a['name']}（{a['delegation']}）" for a in m["absent"]) or "无")
    else:  # a session not yet held (or called off) has no absentees (issue 16)
        doc.add_paragraph("本次会议尚未开幕，不记录缺席代表。")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def candidate_ids(text: str) -> list[str]:
    """Member numbers typed one per line or separated by commas / spaces (、，too), in order, once each."""
    for sep in ",，、;；\n\t":
        text = text.replace(sep, " ")
    return list(dict.fromkeys(x for x in text.split(" ") if x))


class CongressRoutes(Router):
    uses = ("congress_rpc", "members_rpc", "elections_rpc")

    # ----- API: congresses, terms, delegates -----------------------------------------------------
    @api(
        "POST", "/api/v1/congresses", body=c.CongressIn, response=c.CongressOut, status=201, tags=["congress"]
    )
    def api_create_congress(self, request, body):
        """Set up a grassroots union's workers' congress (admins of the union or above); id ``cg-<union>``."""
        return self.congress_rpc.create_congress(body)

    @api("GET", "/api/v1/congresses/<congress_id>", response=c.CongressOut, tags=["congress"])
    def api_get_congress(self, request, congress_id):
        """A congress with its terms, delegations and the 20 % managers flag."""
        return self.congress_rpc.get_congress(congress_id)

    @api("GET", "/api/v1/congresses/<congress_id>/sessions", response=[c.SessionOut], tags=["congress"])
    def api_list_sessions(self, request, congress_id):
        """The published record: sessions with their agenda and each vote's outcome and counts (members)."""
        return self.congress_rpc.list_sessions(congress_id)

    @api(
        "POST",
        "/api/v1/congresses/<congress_id>/terms",
        body=c.TermIn,
        response=c.TermOut,
        status=201,
        tags=["congress"],
    )
    def api_create_term(self, request, congress_id, body):
        """Open a term (届): ``{"number", "start", "end", "delegations": [{"name"}]}``. 409 if it exists."""
        return self.congress_rpc.create_term(congress_id, body)

    @api("GET", "/api/v1/congress/terms/<term_id>", response=c.TermOut, tags=["congress"])
    def api_get_term(self, request, term_id):
        """A term with delegate counts per delegation and ``managers_over_limit`` (> 20 %)."""
        return self.congress_rpc.get_term(term_id)

    @api(
        "POST",
        "/api/v1/congress/terms/<term_id>/delegations",
        body=c.DelegationIn,
        response=c.TermOut,
        status=201,
        tags=["congress"],
    )
    def api_add_delegation(self, request, term_id, body):
        """Add a delegation (代表团/组) to a term."""
        return self.congress_rpc.add_delegation(term_id, body)

    @api("GET", "/api/v1/congress/terms/<term_id>/delegates", response=[c.DelegateOut], tags=["congress"])
    def api_list_delegates(self, request, term_id):
        """The delegates of a term (代表名单), by delegation."""
        return self.congress_rpc.list_delegates(term_id)

    @api(
        "POST",
        "/api/v1/congress/terms/<term_id>/delegates",
        body=c.ElectIn,
        response=c.ElectOut,
        status=201,
        tags=["congress"],
    )
    def api_elect_delegates(self, request, term_id, body):
        """Record elected delegates, all or none (members of the union; ≤ 1,000 per call). 400 lists each
        failing entry under ``fields.delegates.<index>``; 409 if one is already a delegate."""
        return self.congress_rpc.elect_delegates(term_id, body)

    # ----- API: sessions, check-in, votes ---------------------------------------------------------
    @api(
        "POST",
        "/api/v1/congress/terms/<term_id>/sessions",
        body=c.SessionIn,
        response=c.SessionOut,
        status=201,
        tags=["congress"],
        idempotent=True,
    )
    def api_create_session(self, request, term_id, body):
        """Plan a session (次会议) with its agenda (reports, resolutions, elections).
        ``Idempotency-Key``: a retry with the same key returns what the first made."""
        return self.congress_rpc.create_session(term_id, body)

    @api("GET", "/api/v1/congress/sessions/<session_id>", response=c.SessionOut, tags=["congress"])
    def api_get_session(self, request, session_id):
        """A session with agenda, outcomes and counts."""
        return self.congress_rpc.get_session(session_id)

    @api("GET", "/api/v1/congress/sessions/<session_id>/counts", response=c.CountsOut, tags=["congress"])
    def api_session_counts(self, request, session_id):
        """Live 应到/实到 counts, the quorum needed (⌈2/3⌉ of all delegates), per delegation, and the open
        vote's ballots so far. Polled by the console."""
        return self.congress_rpc.session_counts(session_id)

    @api("GET", "/api/v1/congress/sessions/<session_id>/me", response=c.MyStatusOut, tags=["congress"])
    def api_my_status(self, request, session_id):
        """The caller's place in a session: delegate?, checked in?, the open item and whether they voted."""
        return self.congress_rpc.my_status(session_id)

    @api(
        "POST",
        "/api/v1/congress/sessions/<session_id>/check-in",
        body=c.CheckInIn,
        response=c.CheckInOut,
        tags=["congress"],
    )
    def api_check_in(self, request, session_id, body):
        """Check in (签到): ``{}`` for oneself (delegates), ``{"member_id"}`` for an admin's desk.
        Idempotent (``already``: true the second time). 403 for a non-delegate; 409 when closed."""
        return self.congress_rpc.check_in(session_id, body)

    @api("POST", "/api/v1/congress/sessions/<session_id>/convene", response=c.SessionOut, tags=["congress"])
    def api_convene(self, request, session_id):
        """Convene: only with present ≥ 2/3 of all delegates; otherwise 409 with ``details``
        ``{due_count, present_count, required}``."""
        return self.congress_rpc.convene_session(session_id)

    @api("POST", "/api/v1/congress/sessions/<session_id>/close", response=c.SessionOut, tags=["congress"])
    def api_close_session(self, request, session_id):
        """Close the session (409 while a vote is open)."""
        return self.congress_rpc.close_session(session_id)

    @api(
        "POST",
        "/api/v1/congress/sessions/<session_id>/items",
        body=c.AgendaItemIn,
        response=c.ItemOut,
        status=201,
        tags=["congress"],
    )
    def api_add_item(self, request, session_id, body):
        """Add an agenda item to a session not yet closed: ``{"kind", "title", "description" (its text),
        "starts_at" (ISO 8601 with offset), "place", "secret", "attachments": [{"filename",
        "content_b64"}] (≤ 5 files of ≤ 5 MiB)}``. 400 bad input or file, 413 a file over the limit."""
        return self.congress_rpc.add_agenda_item(session_id, body)

    @api("GET", "/api/v1/congress/items/<item_id>/attachments/<attachment_id>", tags=["congress"])
    def api_item_attachment(self, request, item_id, attachment_id):
        """Download a file of an agenda item (whoever may read the session: members of the union, its
        delegates, admins); always as an attachment. 404 for a file not of this item."""
        return _file_response(self.congress_rpc.get_item_attachment(item_id, attachment_id), download_it=True)

    @api("POST", "/api/v1/congress/items/<item_id>/open", response=c.ItemOut, tags=["congress"])
    def api_open_vote(self, request, item_id):
        """Put a resolution to the vote of the delegates present (a choice poll in voting)."""
        return self.congress_rpc.open_vote(item_id)

    @api("POST", "/api/v1/congress/items/<item_id>/close", response=c.ItemOut, tags=["congress"])
    def api_close_vote(self, request, item_id):
        """Close the vote and record the outcome: adopted only if yes > 1/2 of ALL delegates."""
        return self.congress_rpc.close_vote(item_id)

    @api(
        "POST",
        "/api/v1/congress/items/<item_id>/election",
        body=c.ElectionLinkIn,
        response=c.ItemOut,
        tags=["congress"],
    )
    def api_link_election(self, request, item_id, body):
        """Name the election an agenda item of kind ``election`` runs: ``{"election_id"}`` of an election
        of the session's union with electorate ``session`` = this session, still nominating (create it
        with ``POST /api/v1/elections``). 400 another union's or electorate's election, 409 not an
        election item, voted on, session closed, election past nomination."""
        return self.congress_rpc.link_election(item_id, body)

    @api(
        "POST", "/api/v1/congress/items/<item_id>/vote", body=c.VoteIn, response=c.VoteOut, tags=["congress"]
    )
    def api_cast_vote(self, request, item_id, body):
        """A delegate's ballot ``{"choice": "yes" | "no" | "abstain"}``: 403 not a delegate or not checked
        in, 409 not open or already voted, 400 bad choice. Returns the receipt code."""
        return self.congress_rpc.cast_vote(item_id, body)

    @api("GET", "/api/v1/congress/sessions/<session_id>/minutes.docx", response=DOCX, tags=["congress"])
    def api_minutes(self, request, session_id):
        """The minutes (会议纪要) of a session as a Word document (DOCX)."""
        m = self.congress_rpc.minutes(session_id)
        name = f"{m['session']['title']}-会议纪要.docx"
        return download(minutes_docx(m), DOCX, name, ascii_name="minutes.docx")

    # ----- pages ---------------------------------------------------------------------------------
    @page("GET", "/congress")
    def congress_home(self, request):
        actor = self.identity.actor
        union = request.args.get("union") or actor.union_id or next(iter(sorted(actor.admin_unions)), "")
        if not union:
            raise BadInput("no union / 未指定工会", reason="no_union")
        return self.web.redirect(f"/congress/{congress_id_of(union)}")

    @page("GET", "/congress/<congress_id>")
    def congress_page(self, request, congress_id):
        """A congress with its terms and sessions. The caller's own union without a congress yet (the
        nav item 职工代表大会 leads here for every member), or a union an admin picked below theirs, gets a page
        saying so, not a 404 (issue 16); admins get the union filter (unions they administer and below)."""
        try:
            congress = self.congress_rpc.get_congress(congress_id)
        except NotFound:
            actor = self.identity.actor
            union_id = congress_id.removeprefix("cg-")
            if congress_id != congress_id_of(union_id) or (
                union_id != actor.union_id and not actor.admin_unions
            ):
                raise
            union = self.members_rpc.get_union(union_id)
            if union_id != actor.union_id and not actor.administers(union["path"]):
                raise  # an admin's own union or one below it (the federation's union filter)
            return self.web.render(
                "congress/none.html",
                request=request,
                union=union,
                unions=unions_to_pick(self.members_rpc, self.web, actor),
            )
        sessions = self.congress_rpc.list_sessions(congress_id)
        actor = self.identity.actor
        return self.web.render(
            "congress/congress.html",
            request=request,
            congress=congress,
            sessions=sessions,
            unions=unions_to_pick(self.members_rpc, self.web, actor),
            is_admin=bool(actor.admin_unions),
            agenda_rows=range(1, AGENDA_ROWS + 1),
        )

    @page("GET", "/congress/sessions/<session_id>/console")
    def congress_console(self, request, session_id):
        """The session console: admins of the session's union or above only (DESIGN.md §4, admins run
        sessions; members read the record at ``/congress/<id>``)."""
        session = self.congress_rpc.get_session(session_id)
        union = self.members_rpc.get_union(session["union_id"])
        self.identity.actor.require(
            self.identity.actor.administers(union["path"]), "union admins only / 仅工会管理员可使用会议控制台"
        )
        counts = self.congress_rpc.session_counts(session_id)
        find = request.args.get("find", "").strip()
        found = (
            find_delegates(self.congress_rpc, session["term_id"], find)
            if find and session["state"] != "closed"
            else None
        )
        return self.web.render(
            "congress/console.html",
            request=request,
            session=session,
            counts=counts,
            find=find,
            found=found,
        )

    @page("GET", "/congress/sessions/<session_id>")
    def congress_delegate_page(self, request, session_id):
        session = self.congress_rpc.get_session(session_id)
        me = self.congress_rpc.my_status(session_id)
        return self.web.render(
            "congress/session.html",
            request=request,
            session=session,
            me=me,
        )

    @page("POST", "/congress/sessions/<session_id>/check-in")
    def congress_check_in_submit(self, request, session_id):
        member_id = request.form.get("member_id", "").strip() or None
        back = request.form.get("back") == "console"
        target = f"/congress/sessions/{session_id}" + ("/console" if back else "")
        body = {"member_id": member_id} if member_id else {}
        return self.web.act(target, lambda: self.congress_rpc.check_in(session_id, body))

    @page("POST", "/congress/terms/<term_id>/sessions")
    def congress_plan_session_submit(self, request, term_id):
        """The congress page's "plan a session" form (union admins): title, kind, date and time (China
        time, UTC+8), and up to :data:`AGENDA_ROWS` agenda rows (kind, title, named vote?; rows without a
        title are left out). Plans it like ``POST /api/v1/congress/terms/<id>/sessions`` and goes to the
        new session's console; a refusal (400 with the field, 403, 404) is shown on the congress page."""
        back = f"/congress/{quote(request.form.get('congress_id', ''), safe='-_')}"
        check_upload(request, self.web.max_upload_bytes)
        agenda = [
            {
                "kind": request.form.get(f"kind-{n}", "resolution"),
                "title": title,
                "description": request.form.get(f"text-{n}", "").strip(),
                "starts_at": china_input(request.form.get(f"starts-{n}", "")),
                "place": request.form.get(f"place-{n}", "").strip(),
                "secret": not request.form.get(f"named-{n}"),
                "attachments": form_files(request, f"files-{n}"),
            }
            for n in range(1, AGENDA_ROWS + 1)
            if (title := request.form.get(f"title-{n}", "").strip())
        ]
        when = request.form.get("scheduled_at", "").strip()
        body = {
            "title": request.form.get("title", "").strip(),
            "kind": request.form.get("kind", "ordinary"),
            "scheduled_at": china_input(when),
            "agenda": agenda,
            "client_key": form_client_key(request),
        }
        session = self.web.attempt(self.congress_rpc.create_session, term_id, body)
        if session.refusal:
            return self.web.redirect(back, session.refusal.message, kind="error")
        return self.web.redirect(f"/congress/sessions/{quote(session.value['id'], safe='-_')}/console")

    def _confirmed_act(self, request, target: str, call) -> Response:
        """A console button for an irreversible action: refused (400, nothing done) without its
        confirmation box (the ``confirm`` macro), else :meth:`Pages.act`."""
        confirmed = self.web.attempt(require_confirmed, request)
        if confirmed.refusal:
            return self.web.redirect(target, confirmed.refusal.message, kind="error")
        return self.web.act(target, call)

    @page("POST", "/congress/sessions/<session_id>/convene")
    def congress_convene_submit(self, request, session_id):
        """宣布开幕 (confirmed: 应到 is fixed and votes may open); 409 with the figures below the quorum."""
        target = f"/congress/sessions/{session_id}/console"
        return self._confirmed_act(request, target, lambda: self.congress_rpc.convene_session(session_id))

    @page("POST", "/congress/sessions/<session_id>/close")
    def congress_close_submit(self, request, session_id):
        """宣布闭幕, or calling off a session not yet convened (confirmed: no check-in or vote after it)."""
        target = f"/congress/sessions/{session_id}/console"
        return self._confirmed_act(request, target, lambda: self.congress_rpc.close_session(session_id))

    @page("POST", "/congress/items/<item_id>/open")
    def congress_open_vote_submit(self, request, item_id):
        """Put an item to the vote (confirmed: the delegates present may vote at once)."""
        target = f"/congress/sessions/{quote(request.form.get('session_id', ''), safe='-_')}/console"
        return self._confirmed_act(request, target, lambda: self.congress_rpc.open_vote(item_id))

    @page("POST", "/congress/items/<item_id>/close")
    def congress_close_vote_submit(self, request, item_id):
        """结束表决 (confirmed: nobody may vote any more; the ballots are recounted and the outcome
        recorded)."""
        target = f"/congress/sessions/{quote(request.form.get('session_id', ''), safe='-_')}/console"
        return self._confirmed_act(request, target, lambda: self.congress_rpc.close_vote(item_id))

    @page("GET", "/congress/items/<item_id>/vote")
    def congress_vote_review(self, request, item_id):
        """The second step of a delegate's vote (issue 16): the item and the choice made (``choice`` =
        yes | no | abstain, ``session_id``), asked once more before it is cast; works without scripts.
        Another choice, or an item the caller cannot vote on now (not a delegate, not checked in, not the
        open item, voted already), goes back to the session page (303); 403 outside the union."""
        session_id = request.args.get("session_id", "")
        target = f"/congress/sessions/{quote(session_id, safe='-_')}"
        choice = request.args.get("choice", "")
        me = self.congress_rpc.my_status(session_id)
        item = me.get("open_item")
        votes = (
            me["is_delegate"]
            and me["checked_in"]
            and item
            and item["id"] == item_id
            and not item["has_voted"]
        )
        if choice not in c.CHOICES or not votes:
            return self.web.redirect(target)
        session = self.congress_rpc.get_session(session_id)
        return self.web.render(
            "congress/vote.html", request=request, session=session, item=item, choice=choice, errors={}
        )

    @page("POST", "/congress/items/<item_id>/election")
    def congress_election_submit(self, request, item_id):
        """The console's form of an election item (union admins): either link an existing election
        (``election_id``), or set one up here: ``kind`` (committee | chair | delegates), ``seats``,
        ``candidates`` (member numbers, one per line), ``contested`` (差额, ticked by default); it is
        created in elections with electorate ``session`` (the delegates present when voting opens),
        each candidate nominated with the source 大会主席团提名, then linked. A refusal (400 with the
        field, 403, 409) is shown on the console; an election made before a later refusal stays in
        nomination on the elections list and can be linked."""
        sid = request.form.get("session_id", "")
        target = f"/congress/sessions/{quote(sid, safe='-_')}/console"
        eid = request.form.get("election_id", "").strip()
        if not eid:
            candidates = candidate_ids(request.form.get("candidates", ""))[:MAX_CANDIDATES]
            seats = request.form.get("seats", "").strip()
            session = self.congress_rpc.get_session(sid)
            item = next((i for i in session["items"] if i["id"] == item_id), None)
            if item is None:
                raise NotFound("no such agenda item in this session / 议程不存在")
            body = {
                "union_id": session["union_id"],
                "title": item["title"],
                "kind": request.form.get("kind", "committee"),
                "seats": int(seats) if seats.isdigit() else seats,
                "electorate": "session",
                "session_id": sid,
                "rules": {"contested": bool(request.form.get("contested"))},
            }
            created = self.web.attempt(self.elections_rpc.create_election, body)
            if created.refusal:
                return self.web.redirect(target, created.refusal.message, kind="error")
            eid = created.value["election_id"]
            for m in candidates:
                nominated = self.web.attempt(
                    self.elections_rpc.nominate, eid, {"member_id": m, "source": CONSOLE_SOURCE}
                )
                if nominated.refusal:
                    return self.web.redirect(target, f"{m}: {nominated.refusal.message}", kind="error")
        return self.web.act(
            target,
            lambda: self.congress_rpc.link_election(item_id, {"election_id": eid}),
            done=self.web.gettext("The election is set up for this item."),
        )

    @page("POST", "/congress/items/<item_id>/vote")
    def congress_vote_submit(self, request, item_id):
        """Cast the delegate's ballot, confirmed on the second step (without the box: refused, nothing
        cast, the step shown again); the receipt code comes back on the session page."""
        session_id = request.form.get("session_id", "")
        target = f"/congress/sessions/{quote(session_id, safe='-_')}"
        choice = request.form.get("choice", "")

        def cast():
            require_confirmed(request)  # a ballot cannot be taken back: the step's confirm box
            return self.congress_rpc.cast_vote(item_id, {"choice": choice})

        out = self.web.attempt(cast)
        if out.refusal:
            if "confirmed" in out.refusal.errors and choice in c.CHOICES:
                me = self.congress_rpc.my_status(session_id)
                item = me.get("open_item")
                if item and item["id"] == item_id:
                    return self.web.render(
                        "congress/vote.html",
                        status=out.refusal.status,
                        request=request,
                        session=self.congress_rpc.get_session(session_id),
                        item=item,
                        choice=choice,
                        errors=out.refusal.errors,
                    )
            return self.web.redirect(target, out.refusal.message, kind="error")
        counted = self.web.gettext("Your ballot was counted. Receipt code:")
        return self.web.redirect(target, counted, ref=out.value["receipt"])

    @page("GET", "/congress/items/<item_id>/attachments/<attachment_id>")
    def congress_item_attachment(self, request, item_id, attachment_id):
        """A file of an agenda item (whoever may read the session): PDF, images and text shown in the
        browser (sandboxed), the rest downloaded; ``?download=1`` always downloads."""
        return _file_response(
            self.congress_rpc.get_item_attachment(item_id, attachment_id),
            download_it=bool(request.args.get("download")),
        )
