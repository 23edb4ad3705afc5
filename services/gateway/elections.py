"""HTTP API and pages of elections (选举), appraisals (述职评议 / 民主评议) and 双爱双评, over the
``elections`` service (services/elections, docs/elections.md). Rights, rules and every refusal come from
that service on the caller's token; the gateway maps them to HTTP with the one error mapping
(services/gateway/http.py) and renders the pages: the member's ballot (赞成 / 不赞成 / 弃权 per candidate,
另选他人, over-marking warned, a confirmation of the marks, the receipt), the appraisal ballot, results
with a chart of approvals against the majority line, and the admin's set-up, nomination and round pages."""

from __future__ import annotations

import base64

from dmlib.contracts import elections as c
from dmlib.schemas import PageIn

from .http import api
from .pages import download
from .routing import Router

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TAGS = ["elections"]


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
        ``term_id``), ``rules`` {contested, margin_pct, shortfall, write_ins}. A committee is always
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

    @api("GET", "/api/v1/election-rounds/<round_id>/receipts/<receipt>", tags=TAGS)
    def api_verify_election_receipt(self, request, round_id, receipt):
        """Is the ballot with this receipt in the round's list? ``{"round_id", "receipt", "found",
        "ballot": {"receipt", "marks", "write_ins"} | null}``."""
        return self.elections_rpc.verify_receipt(round_id, receipt)

    @api("GET", "/api/v1/election-rounds/<round_id>/ballots", query=PageIn, tags=TAGS)
    def api_round_ballots(self, request, round_id):
        """The ballot list of a closed round by receipt (never by voter or casting order), paged
        (``page``, ``per_page`` ≤ 200). 409 while the round is open."""
        q = PageIn().load(request.args.to_dict())
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

    @api("POST", "/api/v1/award-rounds/<award_id>/publication", tags=TAGS)
    def api_publish_awards(self, request, award_id):
        """Publish the awarded list (admins; 409 while a tie straddles the last place)."""
        return self.elections_rpc.publish_awards(award_id)
