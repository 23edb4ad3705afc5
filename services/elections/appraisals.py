"""Use cases of appraisals (述职评议 / 民主评议) and of the "two loves" awards (双爱双评), on the same secret
ballot mechanism as elections (:mod:`.app`: keyed ballot ids from :mod:`dmlib.ballots`, one insert per
rater, a live tally ``$inc``-ed after the insert, a recount at the close, the storage order shuffled).

Appraisal: the admins of a grassroots union name the subjects (its delegates or cadres) and open it; the
raters (every member of the union) give each subject 满意 / 基本满意 / 不满意 (subjects left out are not
rated) with an optional comment; the close recounts and ranks them (:func:`.rules.appraisal_results`,
``threshold_pct`` flags those below). 双爱双评: over a union and every union below it (e.g. the
federation); members and admins nominate people of those unions per category with a short citation;
the admins open the vote; each member chooses at most ``k`` per category
(:func:`.rules.check_award_ballot`); the close recounts and awards the ``places`` with most votes
(:func:`.rules.award_results`); publication commits ``awards_published``.

Documents (database ``elections``): ``appraisals`` and ``award_rounds`` (``_v``/``outbox``; the
raters in ``electors`` keyed ``<id>:<member>``; the live tally in ``tallies`` keyed by the id: appraisal
``n``, ``s<k>``/``p<k>``/``d<k>`` per subject index; award ``n``, ``c<category index>_<nominee
index>``); ballots in ``ballots_<id>`` (appraisal: ``marks`` per subject, ``""`` = not rated,
``comments`` per subject; award: ``choices`` {category: [nominee ids]}).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from pymongo.errors import DuplicateKeyError

from dmlib.auth import Actor
from dmlib.ballots import ballot_id, receipt_code
from dmlib.errors import BadInput, Conflict, NotFound
from dmlib.schemas import iso, page_out
from dmlib.state import event

from . import policy
from . import rules as r
from .app import ALREADY_VOTED, Ports, _audit

SAT_KEYS = {"satisfied": "s", "partly": "p", "dissatisfied": "d"}


def _doc(p: Ports, collection: str, doc_id: str) -> dict:
    doc = p.store.get_doc(collection, doc_id)
    if doc is None:
        raise NotFound(f"no {collection[:-1]} {doc_id} / 不存在", details={"id": doc_id})
    return doc


def _cast(p: Ports, poll_id: str, member_id: str, ballot: dict, inc: dict) -> str:
    """The guarded ballot write shared with elections: insert (one per rater), count, settle."""
    bid = ballot_id(p.key, poll_id, member_id)
    receipt = receipt_code(p.key, bid)
    try:
        p.store.insert_ballot(poll_id, {"_id": bid, "receipt": receipt, **ballot, "pending": True})
    except DuplicateKeyError:
        raise Conflict("already voted / 您已投票", details={"id": poll_id, "reason": ALREADY_VOTED}) from None
    if not p.store.count_ballot(poll_id, bid, inc):
        raise Conflict("voting has ended / 投票已截止", details={"id": poll_id}, reason="voting_ended")
    p.store.settle_ballot(poll_id, bid)
    return receipt


def _has_voted(p: Ports, actor: Actor, poll_id: str) -> tuple[bool, str | None]:
    if actor.is_system:
        return False, None
    got = p.store.get_ballot(poll_id, ballot_id(p.key, poll_id, actor.member_id))
    return (True, got["receipt"]) if got else (False, None)


def _paging(page: int, per_page: int) -> None:
    if not 1 <= page or not 1 <= per_page <= 200:
        raise BadInput(
            "page ≥ 1, per_page 1-200 / 分页参数有误", fields={"page": ["≥ 1"], "per_page": ["1-200"]}
        )


# ===== appraisals ===================================================================================
def appraisal_counts(doc: dict, tally: dict) -> dict:
    """``{subject: {satisfied, partly, dissatisfied}}`` from a live tally."""
    return {
        s["member_id"]: {name: int(tally.get(f"{key}{k}", 0)) for name, key in SAT_KEYS.items()}
        for k, s in enumerate(doc["subjects"])
    }


def recount_appraisal(p: Ports, doc: dict) -> dict:
    ids = [s["member_id"] for s in doc["subjects"]]
    counts = {m: {name: 0 for name in SAT_KEYS} for m in ids}
    for b in p.store.iter_ballots(doc["_id"], collection="appraisals"):
        for m, mark in zip(ids, b["marks"], strict=True):
            if mark:
                counts[m][mark] += 1
    return counts


def appraisal_out(p: Ports, doc: dict, actor: Actor) -> dict:
    manager = policy.may_manage(actor, doc["union_path"])
    out = {
        "appraisal_id": doc["_id"],
        "union_id": doc["union_id"],
        "title": doc["title"],
        "status": doc["status"],
        "subjects": doc["subjects"],
        "due": doc["due"],
        "threshold_pct": doc["threshold_pct"],
        "ballots": int(p.store.get_tally(doc["_id"]).get("n", 0)),
        "closed_at": iso(doc.get("closed_at")),
        "recount_matches": (doc.get("recount") or {}).get("matches"),
    }
    if doc.get("results") is not None and (manager or doc["status"] == "published"):
        out["results"] = doc["results"]
    out["has_voted"], out["receipt"] = _has_voted(p, actor, doc["_id"])
    return out


def create_appraisal(p: Ports, actor: Actor, data: dict) -> dict:
    """Open an appraisal of ``subjects`` (members of the union: its delegates or cadres) by every member
    of the union (admins of the union or above). Out: the appraisal (status ``open``)."""
    union = p.peers.get_union(data["union_id"])
    policy.require_manager(actor, union["path"])
    subjects = []
    for m in dict.fromkeys(data["subjects"]):
        person = p.peers.get_member(m)
        if person.get("union_id") != union["id"]:
            raise BadInput(
                "subjects are members of this union / 被评议人须为本单位会员", fields={"subjects": [m]}
            )
        subjects.append({"member_id": m, "name": person.get("name", "")})
    raters = sorted(set(p.peers.roster(union["id"])))
    appraisal_id = f"ap-{uuid.uuid4().hex[:12]}"
    p.store.add_electors(appraisal_id, raters)
    zero = {"open": True, "n": 0}
    for k in range(len(subjects)):
        zero.update({f"s{k}": 0, f"p{k}": 0, f"d{k}": 0})
    p.store.put_tally(appraisal_id, zero)
    doc = {
        "_id": appraisal_id,
        "union_id": union["id"],
        "union_path": list(union["path"]),
        "title": data["title"],
        "subjects": subjects,
        "threshold_pct": str(data["threshold_pct"]),
        "due": len(raters),
        "status": "open",
        "created_at": p.clock(),
    }
    opened = event("appraisal_opened", appraisal_id=appraisal_id, union_id=union["id"], title=data["title"])
    p.store.create(
        "appraisals",
        doc,
        events=[opened],
        audit=_audit(actor, "appraisal_opened", "appraisal", appraisal_id, doc),
    )
    return appraisal_out(p, doc, actor)


def _rating(doc: dict, data: dict) -> tuple[dict, dict]:
    """The stored ballot and its ``$inc`` (BadInput for a subject not of the appraisal, or no mark)."""
    ids = [s["member_id"] for s in doc["subjects"]]
    unknown = sorted((set(data["marks"]) | set(data["comments"])) - set(ids))
    if unknown:
        raise BadInput("not a subject of this appraisal / 非被评议人", fields={"marks": unknown})
    if not data["marks"]:
        raise BadInput(
            "rate at least one / 请至少评议一人", fields={"marks": ["empty"]}, reason="rate_someone"
        )
    marks = [data["marks"].get(m, "") for m in ids]
    inc = {"n": 1}
    for k, mark in enumerate(marks):
        if mark:
            inc[f"{SAT_KEYS[mark]}{k}"] = 1
    comments = {m: t for m, t in data["comments"].items() if t.strip()}
    return {"marks": marks, "comments": comments}, inc


def load_ratings(p: Ports, actor: Actor, appraisal_id: str, ballots: list[dict]) -> dict:
    """Bulk loading for the demo (system only, open): ``[{"member_id", "marks", "comments"}]``, each
    checked, stored as cast ones are. Conflict if a rater in the batch had rated."""
    policy.require_system(actor)
    doc = _doc(p, "appraisals", appraisal_id)
    if doc["status"] != "open":
        raise Conflict(
            "the appraisal is not open / 评议未开放或已结束",
            details={"status": doc["status"]},
            reason="voting_not_open",
        )
    return _bulk(p, appraisal_id, [(b["member_id"], *_rating(doc, b)) for b in ballots])


def _bulk(p: Ports, poll_id: str, rows: list[tuple[str, dict, dict]]) -> dict:
    docs, total = [], {}
    for member_id, ballot, inc in rows:
        if not p.store.is_elector(poll_id, member_id):
            raise BadInput("not a rater / 非投票人", fields={"member_id": [member_id]})
        bid = ballot_id(p.key, poll_id, member_id)
        docs.append({"_id": bid, "receipt": receipt_code(p.key, bid), **ballot})
        for k, v in inc.items():
            total[k] = total.get(k, 0) + v
    try:
        p.store.bulk_ballots(poll_id, docs, total)
    except Exception as exc:  # BulkWriteError: someone in the batch had voted
        if "E11000" in str(exc) or "duplicate" in str(exc).lower():
            raise Conflict(
                "a voter in the batch had voted / 批量中有人已投票", details={"reason": ALREADY_VOTED}
            ) from None
        raise
    return {"id": poll_id, "loaded": len(docs)}


def rate(p: Ports, actor: Actor, appraisal_id: str, data: dict) -> dict:
    """A rater's one ballot: ``marks`` {subject: satisfied | partly | dissatisfied} (others not rated),
    ``comments`` {subject: text}. Out: ``{"appraisal_id", "receipt"}``."""
    doc = _doc(p, "appraisals", appraisal_id)
    policy.require_elector(actor, p.store.is_elector(appraisal_id, actor.member_id))
    if doc["status"] != "open":
        raise Conflict(
            "the appraisal is not open / 评议未开放或已结束",
            details={"status": doc["status"]},
            reason="voting_not_open",
        )
    ballot, inc = _rating(doc, data)
    receipt = _cast(p, appraisal_id, actor.member_id, ballot, inc)
    return {"appraisal_id": appraisal_id, "receipt": receipt}


def needs_of(p: Ports, actor: Actor) -> dict:
    """Ballots open to the caller (issue 16, :mod:`dmlib.contracts.needs`): ``election_ballot`` (an
    election voting now, its current round, ``due_at`` the round's closing time), ``appraisal_ballot``
    (an open appraisal, 述职评议) and ``award_ballot`` (a 双爱双评 round voting now), each only where
    the caller is an elector (:func:`policy.needs_ballot`) and has not cast their ballot. No queues.
    Cost: a scan of the elections, appraisals and award rounds open now, one elector and one ballot
    lookup each."""
    items: list[dict] = []
    for d in p.store.list_elections(None):
        if d["status"] != "voting" or not d.get("current_round"):
            continue
        if policy.needs_ballot(actor, p.store.is_elector(d["_id"], actor.member_id)):
            if not _has_voted(p, actor, d["current_round"])[0]:
                rnd = p.store.get_round(d["current_round"]) or {}
                items.append(_ballot_item("election_ballot", d, rnd.get("closes_at")))
    for collection, status, kind in (
        ("appraisals", "open", "appraisal_ballot"),
        ("award_rounds", "voting", "award_ballot"),
    ):
        for d in p.store.docs_in(collection, status):
            if policy.needs_ballot(actor, p.store.is_elector(d["_id"], actor.member_id)):
                if not _has_voted(p, actor, d["_id"])[0]:
                    items.append(_ballot_item(kind, d, d.get("closes_at")))
    return {"items": items, "queues": []}


def _ballot_item(kind: str, doc: dict, due) -> dict:
    return {"kind": kind, "id": doc["_id"], "title": doc["title"], "union_id": doc["union_id"], "due_at": due}


def close_appraisal(p: Ports, actor: Actor, appraisal_id: str) -> dict:
    """Close (admins; idempotent): stop the tally, recount (a difference is an alarm), rank
    (:func:`.rules.appraisal_results`), shuffle the ballots. Out: the appraisal with ``results``."""
    doc = _doc(p, "appraisals", appraisal_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] == "open":
        p.store.close_tally(appraisal_id)
        live = appraisal_counts(doc, p.store.get_tally(appraisal_id))
        recounted = recount_appraisal(p, doc)
        if live != recounted:
            p.sleep(0.5)
            live, recounted = (
                appraisal_counts(doc, p.store.get_tally(appraisal_id)),
                recount_appraisal(p, doc),
            )
        rows = r.appraisal_results(recounted, Decimal(doc["threshold_pct"]))
        names = {s["member_id"]: s["name"] for s in doc["subjects"]}
        results = [
            {**row, "name": names[row["subject"]], "rate": None if row["rate"] is None else str(row["rate"])}
            for row in rows
        ]
        events = [event("appraisal_closed", appraisal_id=appraisal_id, union_id=doc["union_id"])]
        if live != recounted:
            events.append(event("recount_mismatched", appraisal_id=appraisal_id))
        try:
            doc = p.store.change(
                "appraisals",
                appraisal_id,
                expect={"status": "open"},
                set={
                    "status": "closed",
                    "closed_at": p.clock(),
                    "recount": {
                        "at": p.clock(),
                        "matches": live == recounted,
                        "live": live,
                        "recounted": recounted,
                    },
                    "results": results,
                },
                events=events,
                audit=_audit(actor, "appraisal_closed", "appraisal", appraisal_id, doc, fields=("status",)),
            )
        except Conflict:
            doc = _doc(p, "appraisals", appraisal_id)
    p.store.shuffle_ballots(appraisal_id, collection="appraisals")
    return appraisal_out(p, doc, actor)


def publish_appraisal(p: Ports, actor: Actor, appraisal_id: str) -> dict:
    """Publish a closed appraisal's results to the union (admins; needs a matching recount)."""
    doc = _doc(p, "appraisals", appraisal_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] == "published":
        return appraisal_out(p, doc, actor)
    if doc["status"] != "closed" or not (doc.get("recount") or {}).get("matches"):
        raise Conflict(
            "close it with a matching recount first / 请先结束评议并复核计票",
            details={"status": doc["status"]},
            reason="close_first",
        )
    doc = p.store.change(
        "appraisals",
        appraisal_id,
        expect={"status": "closed"},
        set={"status": "published", "published_at": p.clock()},
        events=[
            event(
                "appraisal_published", appraisal_id=appraisal_id, union_id=doc["union_id"], title=doc["title"]
            )
        ],
        audit=_audit(actor, "appraisal_published", "appraisal", appraisal_id, doc, fields=("status",)),
    )
    return appraisal_out(p, doc, actor)


def get_appraisal(p: Ports, actor: Actor, appraisal_id: str) -> dict:
    """The appraisal (members of the union, admins); results for admins once closed, members once published."""
    doc = _doc(p, "appraisals", appraisal_id)
    policy.require_reader(
        actor, doc["union_id"], doc["union_path"], p.store.is_elector(appraisal_id, actor.member_id)
    )
    return appraisal_out(p, doc, actor)


def list_appraisals(p: Ports, actor: Actor, union_id: str, page: int, per_page: int) -> dict:
    """The appraisals of a union, newest first, paged (members of the union and its admins or those
    above). Out: :func:`dmlib.schemas.page_out` of ``{"appraisal_id", "union_id", "title", "status",
    "subjects" (how many), "due", "created_at"}`` plus ``union_id``, ``can_manage``."""
    union = p.peers.get_union(union_id)
    policy.require_reader(actor, union["id"], union["path"], False)
    _paging(page, per_page)
    docs, total = p.store.doc_page("appraisals", [union["id"]], (page - 1) * per_page, per_page)
    items = [
        {
            "appraisal_id": d["_id"],
            "union_id": d["union_id"],
            "title": d["title"],
            "status": d["status"],
            "subjects": len(d["subjects"]),
            "due": d.get("due"),
            "created_at": iso(d.get("created_at")),
        }
        for d in docs
    ]
    out = page_out(items, total, page, per_page)
    out.update(union_id=union["id"], can_manage=policy.may_manage(actor, union["path"]))
    return out


def appraisal_comments(p: Ports, actor: Actor, appraisal_id: str, subject: str) -> list[str]:
    """The comments left on one subject, anonymous, once closed (admins)."""
    doc = _doc(p, "appraisals", appraisal_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] == "open":
        raise Conflict("comments are read once closed / 评议结束后查看意见", reason="after_close")
    found = [
        b.get("comments", {}).get(subject)
        for b in p.store.iter_ballots(appraisal_id, collection="appraisals")
    ]
    return sorted(t for t in found if t)


# ===== 双爱双评 =======================================================================================
def award_out(p: Ports, doc: dict, actor: Actor) -> dict:
    manager = policy.may_manage(actor, doc["union_path"])
    out = {
        "award_id": doc["_id"],
        "union_id": doc["union_id"],
        "title": doc["title"],
        "status": doc["status"],
        "k": doc["k"],
        "places": doc["places"],
        "nominees": doc["nominees"],
        "due": doc.get("due"),
        "ballots": int(p.store.get_tally(doc["_id"]).get("n", 0)),
        "recount_matches": (doc.get("recount") or {}).get("matches"),
    }
    if doc.get("results") is not None and (manager or doc["status"] == "published"):
        out["results"] = doc["results"]
    out["has_voted"], out["receipt"] = _has_voted(p, actor, doc["_id"])
    return out


def _in_scope(p: Ports, doc: dict, member_union: str | None) -> bool:
    if not member_union:
        return False
    return doc["union_id"] in p.peers.get_union(member_union)["path"]


def create_award_round(p: Ports, actor: Actor, data: dict) -> dict:
    """A 双爱双评 round over ``union_id`` and every union below it (its admins). Status ``nominating``."""
    union = p.peers.get_union(data["union_id"])
    policy.require_manager(actor, union["path"])
    award_id = f"aw-{uuid.uuid4().hex[:12]}"
    doc = {
        "_id": award_id,
        "union_id": union["id"],
        "union_path": list(union["path"]),
        "title": data["title"],
        "k": data["k"],
        "places": {cat: data["places"].get(cat, 0) for cat in r.AWARD_CATEGORIES},
        "nominees": {cat: [] for cat in r.AWARD_CATEGORIES},
        "status": "nominating",
        "created_at": p.clock(),
    }
    p.store.create(
        "award_rounds", doc, audit=_audit(actor, "award_round_created", "award_round", award_id, doc)
    )
    return award_out(p, doc, actor)


def nominate_award(p: Ports, actor: Actor, award_id: str, data: dict) -> dict:
    """Nominate a member of a union in the round's scope for a category, with a short citation
    (members of those unions and the admins, while nominating). Not twice in a category."""
    doc = _doc(p, "award_rounds", award_id)
    if not (policy.may_manage(actor, doc["union_path"]) or _in_scope(p, doc, actor.union_id)):
        actor.require(False, policy.NOT_A_READER)
    if doc["status"] != "nominating":
        raise Conflict(
            "nominations are closed / 提名已结束",
            details={"status": doc["status"]},
            reason="nominations_closed",
        )
    person = p.peers.get_member(data["member_id"])
    if not _in_scope(p, doc, person.get("union_id")):
        raise BadInput(
            "a nominee is a member of these unions / 被提名人须为本级及下属工会会员",
            fields={"member_id": ["out of scope"]},
        )
    cat = data["category"]
    if any(n["member_id"] == data["member_id"] for n in doc["nominees"][cat]):
        raise Conflict(
            "already nominated / 已被提名",
            details={"member_id": data["member_id"]},
            reason="already_nominated",
        )
    entry = {
        "member_id": data["member_id"],
        "name": person.get("name", ""),
        "union_id": person.get("union_id"),
        "citation": data["citation"],
        "nominated_by": actor.member_id,
    }
    nominees = {**doc["nominees"], cat: [*doc["nominees"][cat], entry]}
    doc = p.store.change(
        "award_rounds",
        award_id,
        expect={"_v": doc.get("_v"), "status": "nominating"},
        set={"nominees": nominees},
        audit=_audit(actor, "award_nominated", "award_round", award_id, doc, fields=("nominees",)),
    )
    return award_out(p, doc, actor)


def open_award_vote(p: Ports, actor: Actor, award_id: str) -> dict:
    """Open the vote (admins): every member of the unions in scope may vote once."""
    doc = _doc(p, "award_rounds", award_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] != "nominating":
        raise Conflict(
            "the vote has already opened / 投票已开始",
            details={"status": doc["status"]},
            reason="voting_already_open",
        )
    raters: list[str] = []
    for u in p.peers.unions_under(doc["union_id"]):
        raters += p.peers.roster(u)
    raters = sorted(set(raters))
    p.store.add_electors(award_id, raters)
    zero = {"open": True, "n": 0}
    for c, cat in enumerate(r.AWARD_CATEGORIES):
        zero.update({f"c{c}_{k}": 0 for k in range(len(doc["nominees"][cat]))})
    p.store.put_tally(award_id, zero)
    doc = p.store.change(
        "award_rounds",
        award_id,
        expect={"status": "nominating"},
        set={"status": "voting", "due": len(raters)},
        events=[event("award_vote_opened", award_id=award_id, union_id=doc["union_id"], title=doc["title"])],
        audit=_audit(actor, "award_vote_opened", "award_round", award_id, doc, fields=("status", "due")),
    )
    return award_out(p, doc, actor)


def _award_inc(doc: dict, choices: dict) -> dict:
    inc = {"n": 1}
    for c, cat in enumerate(r.AWARD_CATEGORIES):
        ids = [n["member_id"] for n in doc["nominees"][cat]]
        for m in choices.get(cat, []):
            inc[f"c{c}_{ids.index(m)}"] = 1
    return inc


def vote_award(p: Ports, actor: Actor, award_id: str, data: dict) -> dict:
    """A member's one ballot: at most ``k`` nominees per category. Out: ``{"award_id", "receipt"}``."""
    doc = _doc(p, "award_rounds", award_id)
    if doc["status"] != "voting":
        raise Conflict(
            "voting is not open / 投票未开放或已结束",
            details={"status": doc["status"]},
            reason="voting_not_open",
        )
    policy.require_elector(actor, p.store.is_elector(award_id, actor.member_id))
    nominees = {cat: [n["member_id"] for n in doc["nominees"][cat]] for cat in r.AWARD_CATEGORIES}
    try:
        r.check_award_ballot(data["choices"], nominees, doc["k"])
    except r.RuleError as exc:
        raise BadInput(
            exc.message,
            fields={exc.field: [exc.message]},
            details={"k": doc["k"]},
            reason="award_choices_not_valid",
        ) from None
    choices = {cat: list(v) for cat, v in data["choices"].items() if v}
    receipt = _cast(p, award_id, actor.member_id, {"choices": choices}, _award_inc(doc, choices))
    return {"award_id": award_id, "receipt": receipt}


def load_award_ballots(p: Ports, actor: Actor, award_id: str, ballots: list[dict]) -> dict:
    """Bulk loading for the demo (system only, voting): ``[{"member_id", "choices"}]``, each checked."""
    policy.require_system(actor)
    doc = _doc(p, "award_rounds", award_id)
    if doc["status"] != "voting":
        raise Conflict(
            "voting is not open / 投票未开放或已结束",
            details={"status": doc["status"]},
            reason="voting_not_open",
        )
    nominees = {cat: [n["member_id"] for n in doc["nominees"][cat]] for cat in r.AWARD_CATEGORIES}
    rows = []
    for b in ballots:
        try:
            r.check_award_ballot(b["choices"], nominees, doc["k"])
        except r.RuleError as exc:
            raise BadInput(exc.message, fields={exc.field: [exc.message]}) from None
        choices = {cat: list(v) for cat, v in b["choices"].items() if v}
        rows.append((b["member_id"], {"choices": choices}, _award_inc(doc, choices)))
    return _bulk(p, award_id, rows)


def _award_votes(doc: dict, tally: dict) -> dict:
    return {
        cat: {n["member_id"]: int(tally.get(f"c{c}_{k}", 0)) for k, n in enumerate(doc["nominees"][cat])}
        for c, cat in enumerate(r.AWARD_CATEGORIES)
    }


def close_award_vote(p: Ports, actor: Actor, award_id: str) -> dict:
    """Close (admins; idempotent): recount, results and the awarded per category, shuffle."""
    doc = _doc(p, "award_rounds", award_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] == "voting":
        p.store.close_tally(award_id)
        live = _award_votes(doc, p.store.get_tally(award_id))
        recounted = _award_votes(doc, {})
        for b in p.store.iter_ballots(award_id, collection="award_rounds"):
            for cat, chosen in (b.get("choices") or {}).items():
                for m in chosen:
                    recounted[cat][m] += 1
        results = r.award_results(recounted, doc["places"])
        try:
            doc = p.store.change(
                "award_rounds",
                award_id,
                expect={"status": "voting"},
                set={
                    "status": "closed",
                    "closed_at": p.clock(),
                    "recount": {"at": p.clock(), "matches": live == recounted},
                    "results": results,
                },
                audit=_audit(actor, "award_vote_closed", "award_round", award_id, doc, fields=("status",)),
            )
        except Conflict:
            doc = _doc(p, "award_rounds", award_id)
    p.store.shuffle_ballots(award_id, collection="award_rounds")
    return award_out(p, doc, actor)


def settle_award_tie(p: Ports, actor: Actor, award_id: str, data: dict) -> dict:
    """Settle a tie across the last place of a category (admins, closed, before publication): the admins
    choose ``awarded`` among the tied, exactly the places left. The choice, the tied, the reason, who
    and when are recorded in the category's ``settled`` and audited (``award_tie_settled``); the ranking
    and votes stay as counted. Errors: Conflict (not closed, no tie in the category), BadInput (not among
    the tied, not the number of places left)."""
    doc = _doc(p, "award_rounds", award_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] != "closed":
        raise Conflict(
            "settle a tie once the vote is closed / 投票结束后处理同票",
            details={"status": doc["status"]},
            reason="vote_still_open",
        )
    cat = data["category"]
    result = doc["results"][cat]
    if not result["tied"]:
        raise Conflict("no tie in this category / 该类别没有同票", details={"category": cat}, reason="no_tie")
    chosen = list(dict.fromkeys(data["awarded"]))
    left = doc["places"][cat] - len(result["awarded"])
    if not set(chosen) <= set(result["tied"]) or len(chosen) != left:
        raise BadInput(
            f"choose {left} among the tied / 请在同票者中选定 {left} 人",
            fields={"awarded": [f"{left} of {', '.join(result['tied'])}"]},
        )
    settled = {
        "tied": result["tied"],
        "chosen": chosen,
        "reason": data["reason"],
        "by": actor.member_id,
        "at": iso(p.clock()),
    }
    results = {
        **doc["results"],
        cat: {**result, "awarded": [*result["awarded"], *chosen], "tied": [], "settled": settled},
    }
    doc = p.store.change(
        "award_rounds",
        award_id,
        expect={"_v": doc.get("_v"), "status": "closed"},
        set={"results": results},
        audit=_audit(actor, "award_tie_settled", "award_round", award_id, doc, fields=("results",)),
    )
    return award_out(p, doc, actor)


def record_award_titles(p: Ports, doc: dict) -> dict:
    """The published round's titles onto the awarded members' records (the members service's
    ``record_titles``, idempotent): "<round title> · 爱企业的好职工" per awarded member and category."""
    titles = [
        {"member_id": m, "category": cat, "title": f"{doc['title']} · {r.AWARD_TITLES[cat]}"}
        for cat, res in doc["results"].items()
        for m in res["awarded"]
    ]
    return p.peers.record_titles(doc["_id"], titles)


def publish_awards(p: Ports, actor: Actor, award_id: str) -> dict:
    """Publish the awarded list (admins; a matching recount; ties at the last place must be settled
    first: Conflict). Commits ``awards_published`` with the awarded member ids, then records the titles
    on the member records (:func:`record_award_titles`; publishing again repeats only that, so a failed
    recording is completed by asking again)."""
    doc = _doc(p, "award_rounds", award_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] == "published":
        record_award_titles(p, doc)
        return award_out(p, doc, actor)
    if doc["status"] != "closed" or not (doc.get("recount") or {}).get("matches"):
        raise Conflict(
            "close it with a matching recount first / 请先结束投票并复核计票",
            details={"status": doc["status"]},
            reason="close_first",
        )
    tied = {cat: v["tied"] for cat, v in doc["results"].items() if v["tied"]}
    if tied:
        raise Conflict(
            "a tie at the last place / 末位票数相等，请先决定", details={"tied": tied}, reason="tie_to_settle"
        )
    awarded = {cat: v["awarded"] for cat, v in doc["results"].items()}
    doc = p.store.change(
        "award_rounds",
        award_id,
        expect={"status": "closed"},
        set={"status": "published", "published_at": p.clock()},
        events=[event("awards_published", award_id=award_id, union_id=doc["union_id"], awarded=awarded)],
        audit=_audit(actor, "awards_published", "award_round", award_id, doc, fields=("status",)),
    )
    record_award_titles(p, doc)
    return award_out(p, doc, actor)


def list_award_rounds(p: Ports, actor: Actor, union_id: str, page: int, per_page: int) -> dict:
    """The 双爱双评 rounds a union takes part in (those of the union and of every union above it: a
    round covers its union and every union below), newest first, paged (members of the union and its
    admins or those above). Out: :func:`dmlib.schemas.page_out` of ``{"award_id", "union_id", "title",
    "status", "k", "places", "nominees" ({category: how many}), "created_at"}`` plus ``union_id``,
    ``can_manage`` (may set up a round here)."""
    union = p.peers.get_union(union_id)
    policy.require_reader(actor, union["id"], union["path"], False)
    _paging(page, per_page)
    docs, total = p.store.doc_page("award_rounds", list(union["path"]), (page - 1) * per_page, per_page)
    items = [
        {
            "award_id": d["_id"],
            "union_id": d["union_id"],
            "title": d["title"],
            "status": d["status"],
            "k": d["k"],
            "places": d["places"],
            "nominees": {cat: len(v) for cat, v in d["nominees"].items()},
            "created_at": iso(d.get("created_at")),
        }
        for d in docs
    ]
    out = page_out(items, total, page, per_page)
    out.update(union_id=union["id"], can_manage=policy.may_manage(actor, union["path"]))
    return out


def get_award_round(p: Ports, actor: Actor, award_id: str) -> dict:
    doc = _doc(p, "award_rounds", award_id)
    if not (policy.may_manage(actor, doc["union_path"]) or _in_scope(p, doc, actor.union_id)):
        actor.require(False, policy.NOT_A_READER)
    return award_out(p, doc, actor)
