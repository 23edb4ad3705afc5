"""Evaluation campaigns (星级职工之家评选) on the poll engine: a new campaign's settings, the rules a stored
campaign runs by, and its results table. Functions of the stored campaign document and the rating
poll's counts, with no nameko and no pymongo: the voting service's entrypoints call them; the rules
themselves are in :mod:`.evaluation`.

A campaign document (collection ``campaigns``) carries ``weights``, ``criteria``, ``thresholds`` and
``rules`` (``{min_participation, no_ballots, star_basis}``, :class:`~.evaluation.CampaignRules`).
Campaigns made before ``rules`` existed have none stored: they run by the defaults, except a campaign
already published without them, whose stored table was computed by :data:`~.evaluation.LEGACY_RULES`
(no floor, a home without ballots scored 0), which is what its page then states.
"""

from __future__ import annotations

from dmlib.contracts import voting as c

from . import evaluation as ev
from . import tally as t


def settings(data: dict) -> dict:
    """Weights, criteria, thresholds and rules of a new campaign from :class:`CampaignIn` data, the
    evaluation domain's defaults for what was left out; scores and floors rounded by :func:`ev.round2`."""
    weights = data.get("weights") or ev.WEIGHT_PRESETS[data.get("preset") or ev.DEFAULT_PRESET]
    given = {k: v for k, v in (data.get("rules") or {}).items() if v is not None}
    if "min_participation" in given:
        given["min_participation"] = ev.round2(given["min_participation"])
    return {
        "weights": dict(weights),
        "criteria": list(data.get("criteria") or ev.DEFAULT_CRITERIA),
        "thresholds": [ev.round2(x) for x in data.get("thresholds") or ev.DEFAULT_THRESHOLDS],
        "rules": ev.CampaignRules.from_doc(given).to_doc(),
    }


def rules_of(campaign: dict) -> ev.CampaignRules:
    """The rules the campaign runs by (defaults applied on read; see the module docstring)."""
    if "rules" not in campaign and campaign.get("status") == "published":
        return ev.LEGACY_RULES
    return ev.CampaignRules.from_doc(campaign.get("rules"))


def results_table(campaign: dict, counts: dict) -> list[ev.HomeResult]:
    """Every home's row under the campaign's weights, thresholds and rules, ranked (flagged homes last,
    without a place). ``counts`` are the rating poll's counts (live tally or recount)."""
    k = len(campaign["criteria"])
    rules = rules_of(campaign)
    results = []
    for h in campaign["homes"]:
        s = counts["s"].get(h["union_id"]) or t.subject_zero(k)
        tally = ev.HomeTally(
            ballots=s["n"],
            star_sums=tuple(s[f"c{i}"] for i in range(k)),
            star_counts=tuple(s[f"h{v}"] for v in range(1, 6)),
            opinions=s["op"],
        )
        results.append(
            ev.home_result(
                h["union_id"],
                tally,
                h["eligible"],
                campaign["unit_scores"].get(h["union_id"]),
                campaign["superior_scores"].get(h["union_id"]),
                campaign["weights"],
                campaign["thresholds"],
                rules,
            )
        )
    return ev.rank(results)


ROW_FIELDS = list(c.ResultRowOut().fields)
_OWN = [f for f in ROW_FIELDS if f in ev.HomeResult.__slots__]


def rows_out(campaign: dict, ranked: list[ev.HomeResult]) -> list[dict]:
    """The ranked rows in the shape of :class:`ResultRowOut`, built directly (a 1,000-home table is on
    the live-results path, where a schema dump per row costs more than the arithmetic)."""
    names = {h["union_id"]: h for h in campaign["homes"]}
    rows = []
    for r in ranked:
        row = {
            **{f: getattr(r, f) for f in _OWN},
            "name": names[r.union_id]["name"],
            "union_name": names[r.union_id]["union_name"],
            "criteria_means": list(r.criteria_means),
            "star_counts": list(r.star_counts),
            "flags": list(r.flags),
        }
        rows.append({k: row[k] for k in ROW_FIELDS})
    return rows
