"""HTTP API and pages of online evaluations: Worker Home evaluation campaigns (星级职工之家评选) and the
generic polls behind them (receipts, the published ballot list).

Members: "evaluate my Worker Home" (a star widget that works on a phone without script), then the receipt
and its check. Admins: campaign set-up, live participation, unit and superior scores, results with charts,
CSV and XLSX export, anonymous opinions. Every right is checked by the voting service on the caller's
token; the gateway only shapes requests and pages.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from werkzeug.wrappers import Response

from dmlib.contracts import voting as c
from dmlib.errors import BadInput, ServiceError
from dmlib.exports import csv_bytes, export_stamp, xlsx_append

from .http import api, page
from .pages import download, form_errors, require_confirmed
from .routing import Router

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STAR_COLORS = {"5": "#c8102e", "4": "#e0533d", "3": "#f5a623", "2": "#7a8699", "1": "#98a2b3", "0": "#d0d5dd"}
#: Export columns: (English header id, row key).
EXPORT_COLUMNS = [
    ("Place", "rank"),
    ("Worker Home", "name"),
    ("Union name", "union_name"),
    ("Member score", "member_score"),
    ("Unit score", "unit_score"),
    ("Superior score", "superior_score"),
    ("Total score", "total"),
    ("Star level", "star_level"),
    ("Members voted", "voters"),
    ("Eligible members", "eligible"),
    ("Participation rate %", "participation"),
    ("Opinions", "opinions"),
    ("Ballots needed", "min_voters"),
    ("Flags", "flags"),
]
#: Row flags of the results table (codes from the voting service, ``ResultRowOut.flags``).
#: Fields of the campaign and rating forms whose messages are per key (a criterion, a rule).
EXPAND = ("stars", "rules")
#: Manage-page actions that cannot be undone and reach every member in scope: confirmed (issue 16).
CONFIRMED_ACTIONS = ("open", "close", "publish")
FLAG_LABELS = {
    "no_member_ballots": "no member ballots",
    "low_participation": "participation below the minimum",
}


def _fmt(x: float) -> str:
    return f"{x:g}"


def campaign_rules(campaign: dict, gettext) -> list[tuple[str, str]]:
    """The campaign's rules in plain words as (text in the page's language, English) pairs: weights and
    member score (DESIGN.md §4, scheme of 北京经开区总工会), the one rounding, the star level's basis and
    thresholds, the minimum participation and homes without member ballots (``rules`` of the campaign;
    README "Worker Home evaluations")."""
    w, t = campaign["weights"], campaign["thresholds"]
    rules = campaign.get("rules") or {}
    floor = rules.get("min_participation", 0)
    lines: list[tuple[str, dict]] = [
        (
            "Total = member score × %(member)s%% + unit score × %(unit)s%% + superior score × "
            "%(superior)s%%; member score = mean stars ÷ 5 × 100 (scheme of 北京经开区总工会).",
            dict(w),
        ),
        (
            "Every score and total is rounded half-up to 2 decimals (88.125 → 88.13), participation to "
            "1 decimal.",
            {},
        ),
        (
            "The star level is read from the exact total before rounding (89.995 is below 90): 5 stars ≥ "
            "%(t5)s, 4 ≥ %(t4)s, 3 ≥ %(t3)s, 2 ≥ %(t2)s, 1 ≥ %(t1)s."
            if rules.get("star_basis") == "exact"
            else "The star level is read from the total as published, to 2 decimals (89.995 → 90.00): "
            "5 stars ≥ %(t5)s, 4 ≥ %(t4)s, 3 ≥ %(t3)s, 2 ≥ %(t2)s, 1 ≥ %(t1)s.",
            {f"t{5 - i}": _fmt(x) for i, x in enumerate(t)},
        ),
        (
            "Minimum participation %(floor)s%%: a Worker Home where a smaller share of its members voted "
            "is flagged “participation below the minimum” and gets no star level and no place (its "
            "figures are still shown)."
            if floor
            else "No minimum participation.",
            {"floor": _fmt(floor)} if floor else {},
        ),
        (
            "A Worker Home without member ballots counts member score 0 in its total."
            if rules.get("no_ballots") == "zero"
            else "A Worker Home without member ballots is flagged “no member ballots” and gets no star "
            "level and no place.",
            {},
        ),
    ]
    return [(gettext(msg, **v), msg % v if v else msg) for msg, v in lines]


def bilingual(pair: tuple[str, str]) -> str:
    """ "中文 / English", or the English alone when the page is in English."""
    text, english = pair
    return text if text == english else f"{text} / {english}"


def flag_text(row: dict, gettext) -> str:
    """A row's flags in words (both languages), "" when it qualifies."""
    return "; ".join(
        bilingual((gettext(FLAG_LABELS[f]), FLAG_LABELS[f]))
        for f in row.get("flags") or ()
        if f in FLAG_LABELS
    )


def short_name(name: str) -> str:
    """A Worker Home's name without the common suffixes, for chart labels on a phone."""
    short = name
    for suffix in ("职工之家", "股份有限公司", "有限公司", "工会"):
        short = short.replace(suffix, "")
    return short or name


def flat_errors(exc: ServiceError) -> dict[str, str]:
    """A 400's field messages flattened for a form: ``{"title": "…", "c3": "…", "min_participation":
    "…"}`` (stars per criterion, campaign rules per rule): :func:`services.gateway.pages.form_errors`."""
    return form_errors(exc, expand=EXPAND)


def _cells(row: dict, gettext) -> list:
    cells = {k: row.get(k) for _, k in EXPORT_COLUMNS}
    cells["flags"] = flag_text(row, gettext)
    return [cells[k] for _, k in EXPORT_COLUMNS]


def results_csv(results: dict, headers: list[str], gettext=None) -> bytes:
    """The results table as CSV (UTF-8 with BOM so that Excel shows the Chinese; cells through
    :func:`dmlib.exports.csv_bytes`): title, headers, one line per Worker Home (flagged ones without a
    place), then an empty line and the campaign's rules."""
    gettext = gettext or (lambda m, **v: m % v if v else m)
    return csv_bytes(
        [
            [results["campaign"]["title"]],
            headers,
            *(_cells(r, gettext) for r in results["rows"]),
            [],
            *([bilingual(pair)] for pair in campaign_rules(results["campaign"], gettext)),
        ]
    )


def results_xlsx(results: dict, headers: list[str], gettext=None) -> bytes:
    """The results table as an XLSX workbook: title, weights, then one row per Worker Home, then an
    empty row and the campaign's rules."""
    gettext = gettext or (lambda m, **v: m % v if v else m)
    camp = results["campaign"]
    wb = Workbook()
    ws = wb.active
    ws.title = "评选结果"
    xlsx_append(ws, [camp["title"]])
    ws["A1"].font = Font(bold=True, size=14)
    w = camp["weights"]
    xlsx_append(
        ws,
        [
            f"会员评家 {w['member']}% · 单位评家 {w['unit']}% · 上级评家 {w['superior']}% · "
            f"参评会员 {camp['ballots']} / {camp['eligible']} · 导出 {export_stamp()}"
        ],
    )
    xlsx_append(ws, headers)
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F2F4F7")
    for r in results["rows"]:
        xlsx_append(ws, _cells(r, gettext))
    ws.append([])
    for pair in campaign_rules(camp, gettext):
        xlsx_append(ws, [bilingual(pair)])
    for col, width in zip("ABCDEFGHIJKLMN", [6, 30, 30, 10, 10, 10, 10, 8, 8, 8, 10, 8, 8, 30], strict=True):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _int_or_none(value: str | None):
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value  # the contract answers with a field message


class EvaluationsRoutes(Router):
    uses = ("voting_rpc", "members_rpc", "ballots")

    # ===== API: campaigns ==========================================================================
    @api("GET", "/api/v1/campaigns", response=[c.CampaignOut], tags=["evaluations"])
    def api_campaigns(self, request):
        """The evaluation campaigns the caller takes part in or runs, newest first."""
        return self.voting_rpc.list_campaigns()

    @api(
        "POST",
        "/api/v1/campaigns",
        body=c.CampaignIn,
        response=c.CampaignOut,
        status=201,
        tags=["evaluations"],
    )
    def api_create_campaign(self, request, body):
        """Create a campaign (draft) over the Worker Homes under ``union_id``: superior admins. Weights
        from ``weights`` or ``preset`` (2018: member 50 %, 2017: member 40 %), default criteria and
        thresholds (90/80/70/60/50 for 5…1 stars)."""
        return self.voting_rpc.create_campaign(body)

    @api("GET", "/api/v1/campaigns/<campaign_id>", response=c.CampaignOut, tags=["evaluations"])
    def api_campaign(self, request, campaign_id):
        """A campaign with live participation per Worker Home and, for a member, ``me`` (has voted, receipt)."""
        return self.voting_rpc.get_campaign(campaign_id)

    @api("POST", "/api/v1/campaigns/<campaign_id>/open", response=c.CampaignOut, tags=["evaluations"])
    def api_open_campaign(self, request, campaign_id):
        """Open member voting (draft → open). 409 if not a draft."""
        return self.voting_rpc.open_campaign(campaign_id)

    @api("POST", "/api/v1/campaigns/<campaign_id>/close", response=c.CampaignOut, tags=["evaluations"])
    def api_close_campaign(self, request, campaign_id):
        """Close member voting and recount every ballot (open → closed; idempotent)."""
        return self.voting_rpc.close_campaign(campaign_id)

    @api("POST", "/api/v1/campaigns/<campaign_id>/publish", response=c.ResultsOut, tags=["evaluations"])
    def api_publish(self, request, campaign_id):
        """Publish the results (closed → published): needs every score and a recount equal to the tally;
        sets each Worker Home's star level."""
        return self.voting_rpc.publish_results(campaign_id)

    @api(
        "PUT",
        "/api/v1/campaigns/<campaign_id>/unit-scores/<union_id>",
        body=c.ScoreIn,
        response=c.CampaignOut,
        tags=["evaluations"],
    )
    def api_unit_score(self, request, campaign_id, union_id, body):
        """The unit score (0-100) of one Worker Home, by that union's own admin only (403 otherwise)."""
        return self.voting_rpc.set_unit_score(campaign_id, union_id, body)

    @api(
        "PUT",
        "/api/v1/campaigns/<campaign_id>/superior-scores",
        body=c.SuperiorScoresIn,
        response=c.CampaignOut,
        tags=["evaluations"],
    )
    def api_superior_scores(self, request, campaign_id, body):
        """Superior scores ``{"scores": {union_id: 0-100}}`` by the campaign's superior admins."""
        return self.voting_rpc.set_superior_scores(campaign_id, body)

    @api(
        "POST",
        "/api/v1/campaigns/<campaign_id>/ballots",
        body=c.RatingIn,
        response=c.ReceiptOut,
        status=201,
        tags=["evaluations"],
    )
    def api_rate(self, request, campaign_id, body):
        """Rate one's own union's Worker Home: ``{"stars": {"c1": 1-5, …}, "opinion"}``. Returns the
        receipt. 400 bad stars or opinion over 2,000 characters; 403 another union; 409 outside the
        window or already voted (您已投票). Sent with the ballots that arrive within a few milliseconds in one
        RPC (group commit, :mod:`services.gateway.ballots`); this request's answer is its own."""
        return self.ballots.cast_rating(self.voting_rpc, campaign_id, body)

    @api("GET", "/api/v1/campaigns/<campaign_id>/results", response=c.ResultsOut, tags=["evaluations"])
    def api_results(self, request, campaign_id):
        """Results per Worker Home, ranked: live for the campaign's admins, for everyone once published.
        The voting service sends the table already serialised; it is passed through as it is."""
        return Response(self.voting_rpc.campaign_results(campaign_id, True), mimetype="application/json")

    def _export_headers(self) -> list[str]:
        _ = self.web.gettext
        return [_(h) for h, _k in EXPORT_COLUMNS]

    @api("GET", "/api/v1/campaigns/<campaign_id>/results.csv", response="text/csv", tags=["evaluations"])
    def api_results_csv(self, request, campaign_id):
        """The results table as CSV (UTF-8 with BOM)."""
        results = self.voting_rpc.campaign_results(campaign_id)
        return download(
            results_csv(results, self._export_headers(), self.web.gettext),
            "text/csv",
            f"{campaign_id}-results.csv",
        )

    @api("GET", "/api/v1/campaigns/<campaign_id>/results.xlsx", response=XLSX_TYPE, tags=["evaluations"])
    def api_results_xlsx(self, request, campaign_id):
        """The results table as an Excel workbook."""
        results = self.voting_rpc.campaign_results(campaign_id)
        return download(
            results_xlsx(results, self._export_headers(), self.web.gettext),
            XLSX_TYPE,
            f"{campaign_id}-results.xlsx",
        )

    @api(
        "GET",
        "/api/v1/campaigns/<campaign_id>/opinions",
        query=c.OpinionListIn,
        response=c.OpinionPageOut,
        tags=["evaluations"],
    )
    def api_opinions(self, request, campaign_id):
        """Anonymous opinions: ``home`` (a union id), ``page``, ``per_page`` (≤ 500). Campaign admins, or a
        union admin for their own home."""
        return self.voting_rpc.campaign_opinions(
            campaign_id, request.args.get("home") or None, *self._paging(request)
        )

    @staticmethod
    def _paging(request) -> tuple[int, int]:
        try:
            return int(request.args.get("page", 1)), int(request.args.get("per_page", 50))
        except ValueError:
            raise BadInput(
                "page must be a number / 页码须为数字", fields={"page": ["not an integer"]}
            ) from None

    # ===== API: polls ===============================================================================
    @api("GET", "/api/v1/polls/<poll_id>", response=c.PollOut, tags=["evaluations"])
    def api_poll(self, request, poll_id):
        """A poll: status, ballots, eligible, whether the caller voted (and their receipt); counts once
        closed or when not secret."""
        return self.voting_rpc.get_poll(poll_id)

    @api(
        "POST",
        "/api/v1/polls/<poll_id>/ballots",
        body=c.ChoiceIn,
        response=c.ReceiptOut,
        status=201,
        tags=["evaluations"],
    )
    def api_cast_choice(self, request, poll_id, body):
        """Vote in a choice poll: ``{"choice": option}``. 403 not a voter, 409 closed or already voted."""
        return self.voting_rpc.cast_choice(poll_id, body)

    @api(
        "GET", "/api/v1/polls/<poll_id>/receipts/<receipt>", response=c.ReceiptCheckOut, tags=["evaluations"]
    )
    def api_verify_receipt(self, request, poll_id, receipt):
        """Is the ballot with this receipt in the poll's list (and what does it say)?"""
        return self.voting_rpc.verify_receipt(poll_id, receipt)

    @api(
        "GET",
        "/api/v1/polls/<poll_id>/ballots",
        query=c.BallotListIn,
        response=c.BallotPageOut,
        tags=["evaluations"],
    )
    def api_ballots(self, request, poll_id):
        """The published ballot list of a closed poll, by receipt (``page``, ``per_page`` ≤ 500)."""
        page_no, per_page = self._paging(request)
        return self.voting_rpc.list_ballots(
            poll_id, page_no, min(per_page, 500) if per_page > 0 else per_page
        )

    @api("POST", "/api/v1/polls/<poll_id>/recount", response=c.RecountOut, tags=["evaluations"])
    def api_recount(self, request, poll_id):
        """Recount every ballot of a poll now and compare with the live tally (a campaign's admins):
        ``{"at", "matches", "live", "recounted"}``; a mismatch raises the alarm, nothing is overwritten."""
        return self.voting_rpc.recount(poll_id)

    # ===== pages ====================================================================================
    @page("GET", "/evaluations")
    def evaluations_page(self, request):
        campaigns = self.voting_rpc.list_campaigns()
        actor = self.identity.actor
        return self.web.render(
            "evaluations/list.html",
            request=request,
            campaigns=campaigns,
            can_create=bool(actor.scopes("superior_admin")),
        )

    def _setup_context(self) -> dict:
        actor = self.identity.actor
        unions = [self.members_rpc.get_union(u) for u in sorted(actor.scopes("superior_admin"))]
        defaults = self.voting_rpc.campaign_defaults()
        return {
            "unions": unions,
            "presets": defaults["presets"],
            "default_criteria": defaults["criteria"],
            "default_thresholds": defaults["thresholds"],
            "default_rules": defaults["rules"],
            "year": datetime.now(UTC).year,
        }

    @page("GET", "/evaluations/new")
    def campaign_new_page(self, request):
        actor = self.identity.actor
        actor.require(
            bool(actor.scopes("superior_admin")),
            "only a superior union's admin runs evaluations / 仅上级工会管理员可组织评选",
        )
        return self.web.render(
            "evaluations/new.html", request=request, errors={}, form={}, **self._setup_context()
        )

    @page("POST", "/evaluations")
    def campaign_create_submit(self, request):
        f = request.form
        data: dict = {
            "title": f.get("title", "").strip(),
            "union_id": f.get("union_id", ""),
            "criteria": [line.strip() for line in f.get("criteria", "").splitlines() if line.strip()],
            "thresholds": [_int_or_none(f.get(f"t{i}")) for i in range(5, 0, -1)],
        }
        if f.get("year"):
            data["year"] = _int_or_none(f.get("year"))
        if f.get("preset") in c.WEIGHT_PRESET_NAMES:
            data["preset"] = f["preset"]
        else:
            data["weights"] = {k: _int_or_none(f.get(f"w_{k}")) for k in ("member", "unit", "superior")}
        rules = {
            "min_participation": _int_or_none(f.get("min_participation")),
            "no_ballots": f.get("no_ballots") or None,
            "star_basis": f.get("star_basis") or None,
        }
        if any(v is not None for v in rules.values()):
            data["rules"] = {k: v for k, v in rules.items() if v is not None}
        for key in ("opens_at", "closes_at"):
            if f.get(key):
                # a date from the form: voting runs to the end of that day, Beijing time
                data[key] = f[key] if "T" in f[key] else f"{f[key]}T23:59:59+08:00"
        campaign = self.web.attempt(self.voting_rpc.create_campaign, data, expand=EXPAND)
        if campaign.refusal:
            return self.web.render(
                "evaluations/new.html",
                status=campaign.refusal.status,
                request=request,
                errors=campaign.refusal.errors,
                form=f.to_dict(),
                **self._setup_context(),
            )
        if f.get("open_now"):
            self.voting_rpc.open_campaign(campaign.value["id"])
        return self.web.redirect(f"/evaluations/{campaign.value['id']}/manage")

    @page("GET", "/evaluations/<campaign_id>")
    def campaign_page(self, request, campaign_id):
        """Where a link to a campaign (the 查看 of the "campaign opened" inbox message) leads, for this
        caller (issue 16: no dead ends): their receipt if they voted, the rating form while it is open to
        them, the results once published, else the campaign's card on the list. 404/403 as
        ``get_campaign``."""
        campaign = self.voting_rpc.get_campaign(campaign_id)
        me = campaign.get("me") or {}
        if me.get("home") and me.get("has_voted"):
            return self.web.redirect(f"/evaluations/{campaign_id}/receipt")
        if me.get("home") and campaign.get("status") == "open":
            return self.web.redirect(f"/evaluations/{campaign_id}/rate")
        if campaign.get("status") == "published":
            return self.web.redirect(f"/evaluations/{campaign_id}/results")
        return self.web.redirect(f"/evaluations#campaign-{campaign_id}")

    @page("GET", "/evaluations/<campaign_id>/rate")
    def rate_page(self, request, campaign_id):
        campaign = self.voting_rpc.get_campaign(campaign_id)
        me = campaign.get("me") or {}
        if me.get("has_voted"):
            return self.web.redirect(f"/evaluations/{campaign_id}/receipt")
        return self.web.render(
            "evaluations/rate.html", request=request, campaign=campaign, errors={}, chosen={}, opinion=""
        )

    @page("POST", "/evaluations/<campaign_id>/rate")
    def rate_submit(self, request, campaign_id):
        f = request.form
        campaign = self.voting_rpc.get_campaign(campaign_id)
        stars = {cr["key"]: _int_or_none(f.get(cr["key"])) for cr in campaign["criteria"]}
        stars = {k: v for k, v in stars.items() if v is not None}
        ballot = {"stars": stars, "opinion": f.get("opinion") or None}
        refusal = self.web.attempt(
            self.ballots.cast_rating, self.voting_rpc, campaign_id, ballot, expand=EXPAND
        ).refusal
        if refusal and refusal.reason != c.ALREADY_VOTED:  # a second form goes to the receipt
            return self.web.render(
                "evaluations/rate.html",
                status=refusal.status,
                request=request,
                campaign=campaign,
                errors=refusal.errors if refusal.status == 400 else {"form": refusal.message},
                chosen=stars,
                opinion=f.get("opinion", ""),
            )
        return self.web.redirect(f"/evaluations/{campaign_id}/receipt")

    @page("GET", "/evaluations/<campaign_id>/receipt")
    def receipt_page(self, request, campaign_id):
        campaign = self.voting_rpc.get_campaign(campaign_id)
        return self.web.render("evaluations/receipt.html", request=request, campaign=campaign)

    @page("GET", "/evaluations/<campaign_id>/verify")
    def verify_page(self, request, campaign_id):
        campaign = self.voting_rpc.get_campaign(campaign_id)
        code = request.args.get("receipt", "").strip()
        check, error = None, None
        if code:
            try:
                check = self.voting_rpc.verify_receipt(campaign["poll_id"], code)
            except BadInput as exc:  # the catalogue's words, in the page's language
                error = "; ".join(self.web.refusal(exc).errors.values())
        return self.web.render(
            "evaluations/verify.html", request=request, campaign=campaign, code=code, check=check, error=error
        )

    @page("GET", "/evaluations/<campaign_id>/manage")
    def manage_page(self, request, campaign_id):
        """The manage page: the campaign's superior admins and the union admins of its Worker Homes (the
        service refuses other unions' admins); members get 403 (DESIGN.md §1, §4)."""
        actor = self.identity.actor
        actor.require(bool(actor.admin_unions), "union admins only / 仅工会管理员可管理评选")
        return self._manage(request, campaign_id, {}, 200)

    def _manage(self, request, campaign_id, errors: dict, status: int):
        campaign = self.voting_rpc.get_campaign(campaign_id)
        actor = self.identity.actor
        own_homes = [h for h in campaign["homes"] if actor.has("union_admin", h["union_id"])]
        return self.web.render(
            "evaluations/manage.html",
            status=status,
            request=request,
            campaign=campaign,
            own_homes=own_homes,
            errors=errors,
        )

    def _campaign_action(self, request, campaign_id: str, action: str) -> None:
        f = request.form
        if action in CONFIRMED_ACTIONS:
            require_confirmed(request)  # irreversible, for every member in scope: the confirm box
        if action == "open":
            self.voting_rpc.open_campaign(campaign_id)
        elif action == "close":
            self.voting_rpc.close_campaign(campaign_id)
        elif action == "publish":
            self.voting_rpc.publish_results(campaign_id)
        elif action == "unit-score":
            self.voting_rpc.set_unit_score(
                campaign_id, f.get("union_id", ""), {"score": _int_or_none(f.get("score"))}
            )
        elif action == "superior-scores":
            scores = {
                k[6:]: _int_or_none(v) for k, v in f.items() if k.startswith("score_") and v.strip() != ""
            }
            self.voting_rpc.set_superior_scores(campaign_id, {"scores": scores})
        else:
            raise BadInput("unknown action / 未知操作")

    @page("POST", "/evaluations/<campaign_id>/actions/<action>")
    def campaign_action(self, request, campaign_id, action):
        """Form posts of the manage page: open, close, publish (each confirmed: :data:`CONFIRMED_ACTIONS`,
        400 without the box, nothing done), unit-score, superior-scores. A refusal
        shows the manage page again with its message and the figures it names (``missing_<key>``)."""
        refusal = self.web.attempt(self._campaign_action, request, campaign_id, action, expand=EXPAND).refusal
        if refusal:
            errors = {"form": refusal.message, **refusal.errors}
            for key, value in refusal.details.items():
                errors[f"missing_{key}"] = (
                    ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                )
            return self._manage(request, campaign_id, errors, refusal.status)
        if action == "publish":
            return self.web.redirect(f"/evaluations/{campaign_id}/results")
        return self.web.redirect(f"/evaluations/{campaign_id}/manage", self.web.gettext("Saved."))

    @page("GET", "/evaluations/<campaign_id>/results")
    def results_page(self, request, campaign_id):
        results = self.voting_rpc.campaign_results(campaign_id)
        _ = self.web.gettext
        rows = results["rows"]
        composite = [
            {"label": short_name(r["name"]), "value": r["total"], "text": f"{r['total']:.2f}",
             "color": STAR_COLORS[str(r["star_level"])]}
            for r in rows
        ]  # fmt: skip
        participation = [
            {"label": short_name(r["name"]), "value": r["participation"], "text": f"{r['participation']:.1f}"}
            for r in sorted(rows, key=lambda r: -r["participation"])
        ]  # fmt: skip
        stars = [
            {
                "label": _("%(n)s stars", n=k) if k != "0" else _("no star"),
                "value": v,
                "color": STAR_COLORS[k],
            }
            for k, v in results["star_distribution"].items()
        ]
        return self.web.render(
            "evaluations/results.html",
            request=request,
            results=results,
            rules=campaign_rules(results["campaign"], _),
            flag_labels=FLAG_LABELS,
            campaign=results["campaign"],
            composite=composite,
            participation=participation,
            stars=stars,
        )

    @page("GET", "/evaluations/<campaign_id>/opinions")
    def opinions_page(self, request, campaign_id):
        """The opinions of a campaign. The home picker offers only the homes the reader may open (issue
        16): every home (and "all") for the campaign's admins, else the homes the reader administers
        (the voting service's policy decides; this only keeps the page from offering a 403); without
        ``home`` such a reader sees their first home."""
        campaign = self.voting_rpc.get_campaign(campaign_id)
        actor = self.identity.actor
        homes = [
            h
            for h in campaign["homes"]
            if campaign.get("is_admin") or actor.has("union_admin", h["union_id"])
        ]
        home = request.args.get("home") or None
        if home is None and not campaign.get("is_admin") and homes:
            home = homes[0]["union_id"]
        page_no, _per = self._paging(request)
        opinions = self.voting_rpc.campaign_opinions(campaign_id, home, page_no, 50)
        return self.web.render(
            "evaluations/opinions.html",
            request=request,
            campaign=campaign,
            opinions=opinions,
            home=home,
            homes=homes,
        )
