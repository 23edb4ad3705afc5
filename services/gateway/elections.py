"""HTTP API and pages of elections (选举), appraisals (述职评议 / 民主评议) and 双爱双评, over the
``elections`` service (services/elections, docs/elections.md). Rights, rules and every refusal come from
that service on the caller's token; the gateway maps them to HTTP with the one error mapping
(services/gateway/http.py) and renders the pages: the member's ballot (赞成 / 不赞成 / 弃权 per candidate,
另选他人, over-marking warned, a confirmation of the marks, the receipt), the appraisal ballot, results
with a chart of approvals against the majority line, and the admin's set-up, nomination and round pages."""

from __future__ import annotations

import base64
import re

from marshmallow import ValidationError

from dmlib.contracts import elections as c
from dmlib.errors import BadInput, Conflict
from dmlib.schemas import PageIn

from .http import api, page
from .pages import download, require_confirmed
from .routing import Router

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TAGS = ["elections"]
#: write-ins typed as member numbers, separated by commas, spaces or Chinese commas
SEPARATORS = re.compile(r"[\s,，、;；]+")


def current_round(election: dict) -> dict | None:
    """The open round of an election (its candidates and seats), or None."""
    return next((r for r in election["rounds"] if r["round_id"] == election.get("current_round")), None)


def ballot_from_form(form, rnd: dict) -> dict:
    """The ballot form as the service's input: ``mark_<candidate>`` radios (missing = abstain) and the
    write-ins: the people ticked in the name picker (``write_in`` checkboxes) and those carried from the
    previous step (``write_ins``, member numbers separated by commas)."""
    marks = {c["member_id"]: form.get(f"mark_{c['member_id']}") or "abstain" for c in rnd["candidates"]}
    carried = [w for w in SEPARATORS.split(form.get("write_ins", "").strip()) if w]
    write_ins = list(dict.fromkeys([*form.getlist("write_in"), *carried]))
    return {"marks": marks, "write_ins": write_ins}


def write_in_names(form, write_ins: list[str]) -> dict:
    """The names of the written-in people as the picker showed them (``name_<member id>`` fields, for
    the voter's own display only; the service checks the member ids)."""
    return {w: form.get(f"name_{w}", "")[:60] for w in write_ins}


def approvals(ballot: dict) -> int:
    """People a ballot approves: candidates marked 赞成 plus write-ins (more than seats: invalid)."""
    return sum(1 for m in ballot["marks"].values() if m == "approve") + len(ballot["write_ins"])


def award_choices(form, award: dict) -> dict:
    """The 双爱双评 ballot form as the service's input: one checkbox list per category (the category's
    name), each kept only if it names a nominee of that category."""
    out = {}
    for cat, nominees in award["nominees"].items():
        ids = {n["member_id"] for n in nominees}
        chosen = [m for m in dict.fromkeys(form.getlist(cat)) if m in ids]
        if chosen:
            out[cat] = chosen
    return {"choices": out}


def _paging(request) -> dict:
    """``page`` and ``per_page`` of the query (:class:`dmlib.schemas.PageIn`); 400 with field messages."""
    try:
        return PageIn().load({k: v for k, v in request.args.items() if k in ("page", "per_page")})
    except ValidationError as exc:
        raise BadInput("invalid paging / 分页参数有误", fields=exc.messages_dict) from None


def _file(doc: dict):
    """The service's ``{"filename", "content_type", "content_b64"}`` as a download (pages.download)."""
    return download(base64.b64decode(doc["content_b64"]), doc["content_type"], doc["filename"])


class ElectionsRoutes(Router):
    uses = ("elections_rpc", "members_rpc")

    # ===== API: elections ========================================================================
    @api("GET", "/api/v1/elections", tags=TAGS)
    def api_list_elections(self, request):
        """The elections of the caller's union and of the unions they administer, newest first:
        ``[{"election_id", "union_id", "title", "kind", "status", "seats"}]``."""
        return self.elections_rpc.list_elections()

    @api("POST", "/api/v1/unions/<union_id>/elections", body=c.ElectionIn, status=201, tags=TAGS)
    def api_create_election(self, request, union_id, body):
        """Set up an election of a grassroots union (its admins or those above): ``title``, ``kind``
        (committee | chair | delegates), ``seats`` (应选名额), ``electorate`` (union | term, with
        ``term_id`` | session, with ``session_id``: the delegates present at that congress session when
        voting opens, opened from its agenda item), ``rules`` {contested, margin_pct, shortfall, write_ins}. A committee is always
        差额. Answers the election (status ``nominating``). 400 with field messages, 403, 404."""
        return self.elections_rpc.create_election({**body, "union_id": union_id})

    @api("GET", "/api/v1/elections/<election_id>", tags=TAGS)
    def api_get_election(self, request, election_id):
        """An election: candidates with nomination records, ``due``, ``turnout_required`` (> 2/3 of
        due), ``majority_required`` (> 1/2 of due), rounds (counts and decisions of closed rounds for
        admins, for everyone once published), the caller's ``has_voted`` / ``receipt`` in the open
        round. Members of the union, electors, admins; else 403."""
        return self.elections_rpc.get_election(election_id)

    @api("POST", "/api/v1/elections/<election_id>/candidates", body=c.NominationIn, status=201, tags=TAGS)
    def api_nominate_candidate(self, request, election_id, body):
        """Add a candidate with the nomination record (admins, while nominating): ``member_id`` (a
        member of the union), ``source``, ``supporters``, ``note``. 409 when nominations are closed
        or the person is already a candidate."""
        return self.elections_rpc.nominate(election_id, body)

    @api("POST", "/api/v1/elections/<election_id>/voting", body=c.OpenRoundIn, tags=TAGS)
    def api_open_voting(self, request, election_id, body):
        """Close nominations, fix the electors and open round 1 (admins). 409 when the slate does not
        fit the seats (差额 margin or 等额), there are no electors, or voting is already open."""
        return self.elections_rpc.open_voting(election_id, body)

    @api("POST", "/api/v1/elections/<election_id>/ballots", body=c.ElectionBallotIn, status=201, tags=TAGS)
    def api_cast_election_ballot(self, request, election_id, body):
        """Cast the caller's secret ballot in the open round: ``marks`` {candidate: approve |
        disapprove | abstain} (unmarked = 弃权), ``write_ins`` [member id] (另选他人). Answers
        ``{"election_id", "round_id", "receipt", "valid"}``: a ballot approving more people than seats
        is kept and counted as invalid. 403 not an elector; 409 not open, or already voted
        (``details.reason`` = ``already_voted``)."""
        return self.elections_rpc.cast(election_id, body)

    @api("POST", "/api/v1/elections/<election_id>/round-closure", tags=TAGS)
    def api_close_round(self, request, election_id):
        """Close the open round, recount and decide it, open the runoff / 另行选举 / repeat round the
        rules ask for or mark the election decided (admins). 409 when no round is open."""
        return self.elections_rpc.close_round(election_id)

    @api("POST", "/api/v1/elections/<election_id>/publication", tags=TAGS)
    def api_publish_election(self, request, election_id):
        """Publish a decided election to the union's members (admins). 409 when not decided or a
        round's recount differs from its live tally."""
        return self.elections_rpc.publish(election_id)

    @api("GET", "/api/v1/elections/<election_id>/electors", tags=TAGS)
    def api_find_electors(self, request, election_id):
        """The write-in picker (另选他人): electors whose name or member number starts with ``q``
        (1-50 characters), not candidates of the open round, at most 20: ``[{"member_id", "name"}]``.
        Electors and admins while a round is open; 400 without ``q``, 409 when no round is open."""
        return self.elections_rpc.find_electors(election_id, request.args.get("q", ""))

    @api("GET", "/api/v1/election-rounds/<round_id>/receipts/<receipt>", tags=TAGS)
    def api_verify_election_receipt(self, request, round_id, receipt):
        """Is the ballot with this receipt in the round's list? ``{"round_id", "receipt", "found",
        "ballot": {"receipt", "marks", "write_ins"} | null}``."""
        return self.elections_rpc.verify_receipt(round_id, receipt)

    @api("GET", "/api/v1/election-rounds/<round_id>/ballots", query=PageIn, tags=TAGS)
    def api_round_ballots(self, request, round_id):
        """The ballot list of a closed round by receipt (never by voter or casting order), paged
        (``page``, ``per_page`` ≤ 200). 409 while the round is open."""
        q = _paging(request)
        return self.elections_rpc.list_ballots(round_id, q["page"], q["per_page"])

    @api("POST", "/api/v1/election-rounds/<round_id>/recount", tags=TAGS)
    def api_recount_round(self, request, round_id):
        """Recount a round now against its live tally (admins; audited): ``{"at", "matches", "live",
        "recounted"}``; a mismatch raises the alarm and blocks publication."""
        return self.elections_rpc.recount(round_id)

    @api("GET", "/api/v1/elections/<election_id>/report.docx", response=DOCX, tags=TAGS)
    def api_election_report(self, request, election_id):
        """The official results report (选举结果报告, DOCX): electors due, took part, valid and
        invalid ballots, approvals per candidate per round, elected. Admins once decided, members
        once published (else 409)."""
        return _file(self.elections_rpc.results_report(election_id, "docx"))

    @api("GET", "/api/v1/elections/<election_id>/results.xlsx", response=XLSX, tags=TAGS)
    def api_election_results_xlsx(self, request, election_id):
        """The results workbook (XLSX), same rights as the report."""
        return _file(self.elections_rpc.results_report(election_id, "xlsx"))

    # ===== API: appraisals (述职评议 / 民主评议) ======================================================
    @api("POST", "/api/v1/unions/<union_id>/appraisals", body=c.AppraisalIn, status=201, tags=TAGS)
    def api_create_appraisal(self, request, union_id, body):
        """Open an appraisal of ``subjects`` (member ids of the union) by every member of the union
        (its admins); ``threshold_pct`` flags a satisfaction rate below it (default 60)."""
        return self.elections_rpc.create_appraisal({**body, "union_id": union_id})

    @api("GET", "/api/v1/unions/<union_id>/appraisals", query=PageIn, tags=TAGS)
    def api_list_appraisals(self, request, union_id):
        """The appraisals of a union, newest first, paged (``page``, ``per_page`` ≤ 200): ``{"items":
        [{"appraisal_id", "union_id", "title", "status", "subjects" (count), "due", "created_at"}],
        "total", "page", "per_page", "pages", "union_id", "can_manage"}``. Members of the union, its
        admins and those above; else 403."""
        q = _paging(request)
        return self.elections_rpc.list_appraisals(union_id, q["page"], q["per_page"])

    @api("GET", "/api/v1/appraisals/<appraisal_id>", tags=TAGS)
    def api_get_appraisal(self, request, appraisal_id):
        """An appraisal: subjects, raters due, ballots so far, the caller's ``has_voted`` / ``receipt``;
        ``results`` (counts, satisfaction rate = (满意 + 基本满意) ÷ valid, rank, flags) for admins once
        closed and for members once published."""
        return self.elections_rpc.get_appraisal(appraisal_id)

    @api("POST", "/api/v1/appraisals/<appraisal_id>/ratings", body=c.RatingIn, status=201, tags=TAGS)
    def api_rate_appraisal(self, request, appraisal_id, body):
        """The caller's one secret rating: ``marks`` {subject: satisfied | partly | dissatisfied},
        optional ``comments`` {subject: text}. 409 closed or already rated."""
        return self.elections_rpc.rate(appraisal_id, body)

    @api("POST", "/api/v1/appraisals/<appraisal_id>/closure", tags=TAGS)
    def api_close_appraisal(self, request, appraisal_id):
        """Close, recount and rank (admins; idempotent)."""
        return self.elections_rpc.close_appraisal(appraisal_id)

    @api("POST", "/api/v1/appraisals/<appraisal_id>/publication", tags=TAGS)
    def api_publish_appraisal(self, request, appraisal_id):
        """Publish the results to the union (admins; 409 unless closed with a matching recount)."""
        return self.elections_rpc.publish_appraisal(appraisal_id)

    @api("GET", "/api/v1/appraisals/<appraisal_id>/subjects/<subject_id>/comments", tags=TAGS)
    def api_appraisal_comments(self, request, appraisal_id, subject_id):
        """The anonymous comments on one subject once closed (admins): ``[text]``."""
        return self.elections_rpc.appraisal_comments(appraisal_id, subject_id)

    # ===== API: 双爱双评 ===============================================================================
    @api("POST", "/api/v1/unions/<union_id>/award-rounds", body=c.AwardRoundIn, status=201, tags=TAGS)
    def api_create_award_round(self, request, union_id, body):
        """A 双爱双评 round over a union and every union below it (its admins): ``title``, ``k``
        (choices per category per ballot), ``places`` {good_worker, good_manager}."""
        return self.elections_rpc.create_award_round({**body, "union_id": union_id})

    @api("GET", "/api/v1/unions/<union_id>/award-rounds", query=PageIn, tags=TAGS)
    def api_list_award_rounds(self, request, union_id):
        """The 双爱双评 rounds covering a union (its own and those of the unions above it), newest
        first, paged (``page``, ``per_page`` ≤ 200): ``{"items": [{"award_id", "union_id", "title",
        "status", "k", "places", "nominees": {category: count}, "created_at"}], "total", "page",
        "per_page", "pages", "union_id", "can_manage"}``. Members of the union, its admins and those
        above; else 403."""
        q = _paging(request)
        return self.elections_rpc.list_award_rounds(union_id, q["page"], q["per_page"])

    @api("GET", "/api/v1/award-rounds/<award_id>", tags=TAGS)
    def api_get_award_round(self, request, award_id):
        """A 双爱双评 round: nominees with citations, ``k``, places, ballots so far, the caller's
        receipt; ``results`` for admins once closed and for everyone once published."""
        return self.elections_rpc.get_award_round(award_id)

    @api(
        "POST", "/api/v1/award-rounds/<award_id>/nominations", body=c.AwardNominationIn, status=201, tags=TAGS
    )
    def api_nominate_award(self, request, award_id, body):
        """Nominate (members of the unions in scope, or admins): ``category``, ``member_id``,
        ``citation`` (事迹简介). 409 closed or already nominated."""
        return self.elections_rpc.nominate_award(award_id, body)

    @api("POST", "/api/v1/award-rounds/<award_id>/voting", tags=TAGS)
    def api_open_award_vote(self, request, award_id):
        """Open the vote (admins): every member of the unions in scope may vote once."""
        return self.elections_rpc.open_award_vote(award_id)

    @api("POST", "/api/v1/award-rounds/<award_id>/ballots", body=c.AwardBallotIn, status=201, tags=TAGS)
    def api_vote_award(self, request, award_id, body):
        """The caller's one secret ballot: ``choices`` {category: [nominee]}, at most ``k`` each (400
        beyond). 409 not open or already voted."""
        return self.elections_rpc.vote_award(award_id, body)

    @api("POST", "/api/v1/award-rounds/<award_id>/closure", tags=TAGS)
    def api_close_award_vote(self, request, award_id):
        """Close, recount, rank and award per category (admins; idempotent)."""
        return self.elections_rpc.close_award_vote(award_id)

    @api("POST", "/api/v1/award-rounds/<award_id>/tie-settlement", body=c.AwardTieIn, tags=TAGS)
    def api_settle_award_tie(self, request, award_id, body):
        """Settle a tie across the last place of a category (admins, once closed, before publication;
        recorded and audited): ``category``, ``awarded`` (member ids among the tied, exactly the places
        left), ``reason``. Answers the round; the category's result gains ``settled``. 400 not among
        the tied or not the places left; 409 not closed or no tie."""
        return self.elections_rpc.settle_award_tie(award_id, body)

    @api("POST", "/api/v1/award-rounds/<award_id>/publication", tags=TAGS)
    def api_publish_awards(self, request, award_id):
        """Publish the awarded list (admins; 409 while a tie straddles the last place)."""
        return self.elections_rpc.publish_awards(award_id)

    # ===== pages ===================================================================================
    def _require_admin_of(self, union: dict) -> None:
        actor = self.identity.actor
        actor.require(actor.administers(union["path"]), "union admins only / 仅本工会管理员可操作")

    @page("GET", "/elections")
    def elections_page(self, request):
        """The caller's elections (their union's and those they administer); set-up links for admins."""
        actor = self.identity.actor
        return self.web.render(
            "elections/list.html",
            request=request,
            elections=self.elections_rpc.list_elections(),
            admin_unions=sorted(actor.admin_unions),
            own_union=actor.union_id,
        )

    @page("GET", "/unions/<union_id>/appraisals")
    def appraisals_page(self, request, union_id):
        """The appraisals of a union, newest first, paged (``?page=``); the set-up link for its admins."""
        q = _paging(request)
        listed = self.elections_rpc.list_appraisals(union_id, q["page"], q["per_page"])
        return self.web.render("elections/appraisals.html", request=request, listed=listed)

    @page("GET", "/unions/<union_id>/award-rounds")
    def award_rounds_page(self, request, union_id):
        """The 双爱双评 rounds covering a union (its own and those above it), newest first, paged."""
        q = _paging(request)
        listed = self.elections_rpc.list_award_rounds(union_id, q["page"], q["per_page"])
        return self.web.render("elections/award_rounds.html", request=request, listed=listed)

    def _setup_page(self, request, union: dict, status: int = 200, values=None, errors=None):
        values = values or {"kind": "committee", "seats": "9", "margin_pct": "5", "contested": "on"}
        return self.web.render(
            "elections/new.html",
            status=status,
            request=request,
            union=union,
            values=values,
            errors=errors or {},
            kinds=c.KINDS,
        )

    @page("GET", "/unions/<union_id>/elections/new")
    def election_setup_page(self, request, union_id):
        """The set-up form (admins of the union or above)."""
        union = self.members_rpc.get_union(union_id)
        self._require_admin_of(union)
        return self._setup_page(request, union)

    @page("POST", "/unions/<union_id>/elections")
    def election_setup_submit(self, request, union_id):
        form = request.form
        seats = form.get("seats", "").strip()
        data = {
            "union_id": union_id,
            "title": form.get("title", ""),
            "kind": form.get("kind", ""),
            "seats": int(seats) if seats.isdigit() else seats,
            "rules": {
                "contested": form.get("contested") == "on",
                "margin_pct": form.get("margin_pct", "5").strip() or "5",
                "shortfall": form.get("shortfall", "further_round"),
                "write_ins": form.get("write_ins") == "on",
            },
        }
        made = self.web.attempt(self.elections_rpc.create_election, data)
        if made.refusal:
            union = self.members_rpc.get_union(union_id)
            errors = {"form": made.refusal.message, **made.refusal.errors}
            return self._setup_page(request, union, made.refusal.status, form.to_dict(), errors)
        return self.web.redirect(f"/elections/{made.value['election_id']}")

    def _election_page(self, request, election: dict, status: int = 200, errors=None, values=None):
        return self.web.render(
            "elections/election.html",
            status=status,
            request=request,
            election=election,
            current=current_round(election),
            manager=self._manages(election),
            errors=errors or {},
            values=values or {},
        )

    def _manages(self, election: dict) -> bool:
        union = self.members_rpc.get_union(election["union_id"])
        return self.identity.actor.administers(union["path"])

    @page("GET", "/elections/<election_id>")
    def election_page(self, request, election_id):
        """An election: status, candidates with nomination records, the ballot link for electors,
        results with the approvals chart against the majority line, and the admin's actions."""
        return self._election_page(request, self.elections_rpc.get_election(election_id))

    @page("POST", "/elections/<election_id>/candidates")
    def nominate_submit(self, request, election_id):
        form = request.form
        supporters = form.get("supporters", "0").strip() or "0"
        data = {
            "member_id": form.get("member_id", "").strip(),
            "source": form.get("source", ""),
            "supporters": int(supporters) if supporters.isdigit() else supporters,
            "note": form.get("note", ""),
        }
        done = self.web.attempt(self.elections_rpc.nominate, election_id, data)
        if done.refusal:
            election = self.elections_rpc.get_election(election_id)
            errors = {"nominate": done.refusal.message, **done.refusal.errors}
            return self._election_page(request, election, done.refusal.status, errors, form.to_dict())
        return self.web.redirect(f"/elections/{election_id}#candidates", self.web.gettext("Candidate added."))

    def _confirmed(self, request, call, *args):
        def run():
            require_confirmed(request)  # irreversible: the confirm box of templates/_pages.html
            return call(*args)

        return run

    @page("POST", "/elections/<election_id>/voting")
    def open_voting_submit(self, request, election_id):
        call = self._confirmed(request, self.elections_rpc.open_voting, election_id, {})
        return self.web.act(f"/elections/{election_id}", call, done=self.web.gettext("Voting is open."))

    @page("POST", "/elections/<election_id>/round-closure")
    def close_round_submit(self, request, election_id):
        call = self._confirmed(request, self.elections_rpc.close_round, election_id)
        return self.web.act(
            f"/elections/{election_id}#rounds", call, done=self.web.gettext("The round is closed.")
        )

    @page("POST", "/elections/<election_id>/publication")
    def publish_election_submit(self, request, election_id):
        call = self._confirmed(request, self.elections_rpc.publish, election_id)
        return self.web.act(
            f"/elections/{election_id}", call, done=self.web.gettext("The results are published.")
        )

    def _ballot_page(
        self, request, election: dict, ballot=None, status: int = 200, errors=None, names=None, found=None
    ):
        rnd = current_round(election)
        if rnd is None or rnd["status"] != "open":
            raise Conflict("voting is not open / 投票未开始或已结束", reason="voting_not_open")
        return self.web.render(
            "elections/ballot.html",
            status=status,
            request=request,
            election=election,
            round=rnd,
            ballot=ballot or {"marks": {}, "write_ins": []},
            write_ins_allowed=election["rules"]["write_ins"] and rnd["kind"] != "runoff",
            errors=errors or {},
            names=names or {},
            found=found,
            find=request.form.get("find", "") if request.method == "POST" else "",
        )

    @page("GET", "/elections/<election_id>/ballot")
    def election_ballot_page(self, request, election_id):
        """The member's ballot: 赞成 / 不赞成 / 弃权 per candidate and 另选他人; the next step shows the
        marks (and warns of an over-marked, invalid ballot) before casting."""
        election = self.elections_rpc.get_election(election_id)
        if election.get("has_voted"):
            return self.web.redirect(f"/elections/{election_id}/receipt")
        return self._ballot_page(request, election)

    @page("POST", "/elections/<election_id>/ballot/review")
    def election_ballot_review(self, request, election_id):
        """The confirmation of the marks (or, with ``edit``, the ballot again with them)."""
        election = self.elections_rpc.get_election(election_id)
        rnd = current_round(election)
        if rnd is None:
            raise Conflict("voting is not open / 投票未开始或已结束", reason="voting_not_open")
        ballot = ballot_from_form(request.form, rnd)
        names = write_in_names(request.form, ballot["write_ins"])
        if request.form.get("find_go"):  # the write-in picker: search the electors by name
            q = request.form.get("find", "")
            searched = self.web.attempt(self.elections_rpc.find_electors, election_id, q)
            if searched.refusal:
                errors = {"find": searched.refusal.message}
                return self._ballot_page(request, election, ballot, searched.refusal.status, errors, names)
            found = [f for f in searched.value if f["member_id"] not in ballot["write_ins"]]
            return self._ballot_page(request, election, ballot, names=names, found=found)
        if request.form.get("edit"):
            return self._ballot_page(request, election, ballot, names=names)
        return self.web.render(
            "elections/review.html",
            request=request,
            election=election,
            round=rnd,
            ballot=ballot,
            names=names,
            approved=approvals(ballot),
            errors={},
        )

    @page("POST", "/elections/<election_id>/ballot")
    def election_ballot_submit(self, request, election_id):
        election = self.elections_rpc.get_election(election_id)
        rnd = current_round(election)
        if rnd is None:
            raise Conflict("voting is not open / 投票未开始或已结束", reason="voting_not_open")
        ballot = ballot_from_form(request.form, rnd)
        cast = self.web.attempt(self._confirmed(request, self.elections_rpc.cast, election_id, ballot))
        if cast.refusal:
            errors = {"form": cast.refusal.message, **cast.refusal.errors}
            names = write_in_names(request.form, ballot["write_ins"])
            return self._ballot_page(request, election, ballot, cast.refusal.status, errors, names)
        return self.web.redirect(f"/elections/{election_id}/receipt")

    @page("GET", "/elections/<election_id>/receipt")
    def election_receipt_page(self, request, election_id):
        """The caller's receipt in the open round (or that they have not voted)."""
        election = self.elections_rpc.get_election(election_id)
        return self.web.render(
            "elections/receipt.html", request=request, election=election, round=current_round(election)
        )

    @page("GET", "/election-rounds/<round_id>/receipt-check")
    def receipt_check_page(self, request, round_id):
        """Check a receipt code (``?code=``) against the round's ballots: found or not, and the ballot
        as stored (marks per candidate, write-ins). Without a code, the form. Readers of the election."""
        code = request.args.get("code", "").strip()
        checked, errors = None, {}
        # asked even without a code: the service decides who may see the round (403) before the code
        done = self.web.attempt(self.elections_rpc.verify_receipt, round_id, code)
        if done.refusal and code:
            errors = {"code": done.refusal.message}
        elif not done.refusal:
            checked = done.value
        return self.web.render(
            "elections/receipt_check.html",
            status=400 if errors else 200,
            request=request,
            round_id=round_id,
            code=code,
            checked=checked,
            errors=errors,
        )

    @page("GET", "/election-rounds/<round_id>/ballots")
    def round_ballots_page(self, request, round_id):
        """The published ballot list of a closed round, by receipt code (never by voter or order of
        casting), paged (``?page=``, ``per_page`` ≤ 200): marks per candidate and write-ins."""
        q = _paging(request)
        listed = self.elections_rpc.list_ballots(round_id, q["page"], q["per_page"])
        return self.web.render(
            "elections/round_ballots.html", request=request, listed=listed, round_id=round_id
        )

    @page("GET", "/elections/<election_id>/report.docx")
    def election_report_page(self, request, election_id):
        return _file(self.elections_rpc.results_report(election_id, "docx"))

    @page("GET", "/elections/<election_id>/results.xlsx")
    def election_results_xlsx_page(self, request, election_id):
        return _file(self.elections_rpc.results_report(election_id, "xlsx"))

    # ----- appraisal pages -----------------------------------------------------------------------
    def _appraisal_page(self, request, appraisal: dict, status: int = 200, errors=None, values=None):
        union = self.members_rpc.get_union(appraisal["union_id"])
        return self.web.render(
            "elections/appraisal.html",
            status=status,
            request=request,
            appraisal=appraisal,
            manager=self.identity.actor.administers(union["path"]),
            errors=errors or {},
            values=values or {},
        )

    @page("GET", "/appraisals/<appraisal_id>")
    def appraisal_page(self, request, appraisal_id):
        """An appraisal: the rater's ballot (满意 / 基本满意 / 不满意 per subject, optional comment), the
        receipt once rated, results once visible, the admin's close and publish."""
        return self._appraisal_page(request, self.elections_rpc.get_appraisal(appraisal_id))

    def _appraisal_setup_page(self, request, union: dict, status: int = 200, values=None, errors=None):
        return self.web.render(
            "elections/appraisal_new.html",
            status=status,
            request=request,
            union=union,
            values=values or {"threshold_pct": "60"},
            errors=errors or {},
        )

    @page("GET", "/unions/<union_id>/appraisals/new")
    def appraisal_setup_page(self, request, union_id):
        """The appraisal set-up form (admins of the union or above): title, the people appraised (member
        numbers), the threshold."""
        union = self.members_rpc.get_union(union_id)
        self._require_admin_of(union)
        return self._appraisal_setup_page(request, union)

    @page("POST", "/unions/<union_id>/appraisals")
    def appraisal_setup_submit(self, request, union_id):
        form = request.form
        data = {
            "union_id": union_id,
            "title": form.get("title", ""),
            "subjects": [m for m in SEPARATORS.split(form.get("subjects", "").strip()) if m],
            "threshold_pct": form.get("threshold_pct", "").strip() or "60",
        }
        made = self.web.attempt(self.elections_rpc.create_appraisal, data)
        if made.refusal:
            union = self.members_rpc.get_union(union_id)
            errors = {"form": made.refusal.message, **made.refusal.errors}
            return self._appraisal_setup_page(request, union, made.refusal.status, form.to_dict(), errors)
        return self.web.redirect(f"/appraisals/{made.value['appraisal_id']}")

    @page("POST", "/appraisals/<appraisal_id>/ratings")
    def appraisal_rate_submit(self, request, appraisal_id):
        form = request.form
        appraisal = self.elections_rpc.get_appraisal(appraisal_id)
        ids = [s["member_id"] for s in appraisal["subjects"]]
        data = {
            "marks": {i: form[f"mark_{i}"] for i in ids if form.get(f"mark_{i}")},
            "comments": {
                i: form[f"comment_{i}"].strip() for i in ids if form.get(f"comment_{i}", "").strip()
            },
        }
        rated = self.web.attempt(self.elections_rpc.rate, appraisal_id, data)
        if rated.refusal:
            errors = {"form": rated.refusal.message, **rated.refusal.errors}
            return self._appraisal_page(request, appraisal, rated.refusal.status, errors, form.to_dict())
        return self.web.redirect(
            f"/appraisals/{appraisal_id}#receipt", self.web.gettext("Your appraisal has been recorded.")
        )

    @page("POST", "/appraisals/<appraisal_id>/closure")
    def appraisal_close_submit(self, request, appraisal_id):
        call = self._confirmed(request, self.elections_rpc.close_appraisal, appraisal_id)
        return self.web.act(
            f"/appraisals/{appraisal_id}", call, done=self.web.gettext("The appraisal is closed.")
        )

    @page("POST", "/appraisals/<appraisal_id>/publication")
    def appraisal_publish_submit(self, request, appraisal_id):
        call = self._confirmed(request, self.elections_rpc.publish_appraisal, appraisal_id)
        return self.web.act(
            f"/appraisals/{appraisal_id}", call, done=self.web.gettext("The results are published.")
        )

    # ----- 双爱双评 pages ---------------------------------------------------------------------------
    def _award_page(self, request, award: dict, status: int = 200, errors=None, values=None):
        union = self.members_rpc.get_union(award["union_id"])
        return self.web.render(
            "elections/award.html",
            status=status,
            request=request,
            award=award,
            manager=self.identity.actor.administers(union["path"]),
            errors=errors or {},
            values=values or {},
        )

    @page("GET", "/award-rounds/<award_id>")
    def award_page(self, request, award_id):
        """A 双爱双评 round: nominees with citations per category, the nomination form while nominating
        (members of the unions in scope and admins), the vote link or the caller's receipt, results
        (votes per nominee, awarded, a tie at the last place) and the admin's open / close / settle /
        publish with confirmations; once published, the awarded list."""
        return self._award_page(request, self.elections_rpc.get_award_round(award_id))

    def _award_setup_page(self, request, union: dict, status: int = 200, values=None, errors=None):
        return self.web.render(
            "elections/award_new.html",
            status=status,
            request=request,
            union=union,
            values=values or {},
            errors=errors or {},
        )

    @page("GET", "/unions/<union_id>/award-rounds/new")
    def award_setup_page(self, request, union_id):
        """The 双爱双评 set-up form (admins of the union or above): title, k, places per category."""
        union = self.members_rpc.get_union(union_id)
        self._require_admin_of(union)
        return self._award_setup_page(request, union)

    @page("POST", "/unions/<union_id>/award-rounds")
    def award_setup_submit(self, request, union_id):
        form = request.form

        def number(name: str, default: str):
            text = form.get(name, "").strip() or default
            return int(text) if text.isdigit() else text

        data = {
            "union_id": union_id,
            "title": form.get("title", ""),
            "k": number("k", "3"),
            "places": {cat: number(f"places_{cat}", "0") for cat in c.AWARD_CATEGORIES},
        }
        made = self.web.attempt(self.elections_rpc.create_award_round, data)
        if made.refusal:
            union = self.members_rpc.get_union(union_id)
            errors = {"form": made.refusal.message, **made.refusal.errors}
            return self._award_setup_page(request, union, made.refusal.status, form.to_dict(), errors)
        return self.web.redirect(f"/award-rounds/{made.value['award_id']}")

    @page("POST", "/award-rounds/<award_id>/nominations")
    def award_nominate_submit(self, request, award_id):
        form = request.form
        data = {
            "category": form.get("category", ""),
            "member_id": form.get("member_id", "").strip(),
            "citation": form.get("citation", "").strip(),
        }
        done = self.web.attempt(self.elections_rpc.nominate_award, award_id, data)
        if done.refusal:
            award = self.elections_rpc.get_award_round(award_id)
            errors = {"nominate": done.refusal.message, **done.refusal.errors}
            return self._award_page(request, award, done.refusal.status, errors, form.to_dict())
        return self.web.redirect(f"/award-rounds/{award_id}#nominees", self.web.gettext("Nominated."))

    @page("POST", "/award-rounds/<award_id>/voting")
    def award_open_submit(self, request, award_id):
        call = self._confirmed(request, self.elections_rpc.open_award_vote, award_id)
        return self.web.act(f"/award-rounds/{award_id}", call, done=self.web.gettext("Voting is open."))

    @page("POST", "/award-rounds/<award_id>/closure")
    def award_close_submit(self, request, award_id):
        call = self._confirmed(request, self.elections_rpc.close_award_vote, award_id)
        return self.web.act(
            f"/award-rounds/{award_id}#results", call, done=self.web.gettext("The vote is closed.")
        )

    @page("POST", "/award-rounds/<award_id>/tie-settlement")
    def award_tie_submit(self, request, award_id):
        form = request.form
        data = {
            "category": form.get("category", ""),
            "awarded": form.getlist("awarded"),
            "reason": form.get("reason", "").strip(),
        }
        call = self._confirmed(request, self.elections_rpc.settle_award_tie, award_id, data)
        return self.web.act(
            f"/award-rounds/{award_id}#results", call, done=self.web.gettext("The tie is settled.")
        )

    @page("POST", "/award-rounds/<award_id>/publication")
    def award_publish_submit(self, request, award_id):
        call = self._confirmed(request, self.elections_rpc.publish_awards, award_id)
        return self.web.act(
            f"/award-rounds/{award_id}#awarded", call, done=self.web.gettext("The awarded list is published.")
        )

    def _award_ballot(self, request, award: dict, choices=None, status: int = 200, errors=None):
        if award["status"] != "voting":
            raise Conflict("voting is not open / 投票未开放或已结束", reason="voting_not_open")
        return self.web.render(
            "elections/award_ballot.html",
            status=status,
            request=request,
            award=award,
            choices=choices or {},
            errors=errors or {},
        )

    @page("GET", "/award-rounds/<award_id>/ballot")
    def award_ballot_page(self, request, award_id):
        """The member's 双爱双评 ballot at phone size: a checkbox per nominee with the citation, at most
        ``k`` per category; the next step shows the choices back before casting."""
        award = self.elections_rpc.get_award_round(award_id)
        if award.get("has_voted"):
            return self.web.redirect(f"/award-rounds/{award_id}#receipt")
        return self._award_ballot(request, award)

    @page("POST", "/award-rounds/<award_id>/ballot/review")
    def award_ballot_review(self, request, award_id):
        """The confirmation of the choices (more than ``k`` in a category: refused with the message and
        "change my choices"; with ``edit``, the ballot again with them)."""
        award = self.elections_rpc.get_award_round(award_id)
        if award["status"] != "voting":
            raise Conflict("voting is not open / 投票未开放或已结束", reason="voting_not_open")
        choices = award_choices(request.form, award)["choices"]
        if request.form.get("edit"):
            return self._award_ballot(request, award, choices)
        over = [cat for cat, chosen in choices.items() if len(chosen) > award["k"]]
        errors = {}
        if over:
            errors["form"] = self.web.gettext("At most %(k)s choices in each category.", k=award["k"])
        return self.web.render(
            "elections/award_review.html",
            status=400 if over else 200,
            request=request,
            award=award,
            choices=choices,
            errors=errors,
        )

    @page("POST", "/award-rounds/<award_id>/ballot")
    def award_ballot_submit(self, request, award_id):
        award = self.elections_rpc.get_award_round(award_id)
        ballot = award_choices(request.form, award)
        cast = self.web.attempt(self._confirmed(request, self.elections_rpc.vote_award, award_id, ballot))
        if cast.refusal:
            errors = {"form": cast.refusal.message, **cast.refusal.errors}
            return self._award_ballot(request, award, ballot["choices"], cast.refusal.status, errors)
        return self.web.redirect(
            f"/award-rounds/{award_id}#receipt", self.web.gettext("Your ballot has been cast.")
        )
