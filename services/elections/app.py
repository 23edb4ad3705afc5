"""Use cases of the elections service: functions of ``(ports, actor, input)`` that ask :mod:`.policy`,
apply :mod:`.rules` and write through :class:`~.store.ElectionsStore` (or the unit tests' fake). No
nameko.

The life of an election: ``nominating`` (set-up, candidates with their nomination records) → ``voting``
(electors fixed from their owner, the members or the congress service; round 1 opened) → rounds, each its
own secret ballot with receipts, a live tally and a recount at its close → ``decided`` (every seat filled,
or the rest left vacant) → ``published``. Closing a round decides it (:func:`.rules.decide`) and opens the
next one when the rules ask for it: a runoff among those tied at the last seat, a further round
(另行选举) for seats still open, or a repeat when the turnout was too low.

Secrecy (DESIGN.md §6) exactly as in the voting service, with the same keyed functions
(:mod:`dmlib.ballots`): a ballot is stored under HMAC(``VOTING_KEY``, "round:member"); one
``insert_one`` both enforces one ballot per elector (a second: Conflict 409, ``details.reason`` =
``already_voted``) and keeps the member id out of the ballot; the receipt is derived from the ballot id.
The live tally is ``$inc``-ed after the insert; the close recounts every ballot and records both, and a
difference is an alarm (``recount_mismatched``), never overwritten.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.ballots import ballot_id, normalise_receipt, receipt_code
from dmlib.errors import BadInput, Conflict, NotFound
from dmlib.schemas import iso, page_out
from dmlib.state import event

from . import policy
from . import rules as r

log = logging.getLogger(__name__)
ALREADY_VOTED = "already_voted"
#: A recount that differs from the live tally is taken again once after this pause (a cast between the
#: tally's close and its ballot's removal) before it counts as an alarm.
RECOUNT_SETTLE_S = 0.5
STATUSES = ("nominating", "voting", "decided", "published")


class Members(Protocol):
    def get_union(self, union_id: str) -> dict: ...
    def get_member(self, member_id: str) -> dict: ...
    def roster(self, union_id: str) -> list[str]: ...
    def delegates(self, term_id: str) -> list[dict]: ...
    def present_delegates(self, session_id: str) -> dict: ...
    def unions_under(self, union_id: str) -> list[str]: ...
    def search_members(self, union_id: str, q: str, limit: int) -> list[dict]: ...
    def record_titles(self, award_id: str, titles: list[dict]) -> dict: ...


@dataclass
class Ports:
    """What the use cases work with: the store, the ballot key (``VOTING_KEY``), the members and congress
    services (:class:`Members`, asked as this service, only after the policy allowed the caller), the
    clock (aware UTC) and a pause."""

    store: Any
    key: bytes
    peers: Members
    clock: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep


def _audit(actor: Actor, verb: str, obj: str, obj_id: str, doc: dict, **kwargs) -> Audit | None:
    return by_person(actor, f"elections.{verb}", obj, obj_id, doc["union_id"], doc["union_path"], **kwargs)


def rules_of(doc: dict) -> r.ElectionRules:
    raw = doc["rules"]
    return r.ElectionRules(
        contested=raw["contested"],
        margin_pct=Decimal(str(raw["margin_pct"])),
        shortfall=raw["shortfall"],
        write_ins=raw["write_ins"],
    )


# ===== reading =====================================================================================
def election_of(p: Ports, election_id: str) -> dict:
    doc = p.store.get_election(election_id)
    if doc is None:
        raise NotFound(f"no election {election_id} / 选举不存在", details={"election_id": election_id})
    return doc


def round_of(p: Ports, round_id: str) -> dict:
    doc = p.store.get_round(round_id)
    if doc is None:
        raise NotFound(f"no round {round_id} / 选举轮次不存在", details={"round_id": round_id})
    return doc


def require_reader(p: Ports, actor: Actor, doc: dict) -> None:
    is_elector = not actor.is_system and p.store.is_elector(doc["_id"], actor.member_id)
    policy.require_reader(actor, doc["union_id"], doc["union_path"], is_elector)


def live_counts(rnd: dict, tally: dict) -> dict:
    """The live tally in the shape of :meth:`rules.RoundTally.as_dict`."""
    cands = rnd["candidates"]
    approve = {c: int(tally.get(f"a{k}", 0)) for k, c in enumerate(cands)}
    for key, n in tally.items():
        if key.startswith("w_"):
            approve[key[2:]] = int(n)
    return r.RoundTally(
        ballots=int(tally.get("n", 0)),
        valid=int(tally.get("v", 0)),
        invalid=int(tally.get("i", 0)),
        approve=approve,
        disapprove={c: int(tally.get(f"d{k}", 0)) for k, c in enumerate(cands)},
        abstain={c: int(tally.get(f"x{k}", 0)) for k, c in enumerate(cands)},
    ).as_dict()


def _ballot_marks(rnd: dict, ballot: dict) -> dict:
    """A stored ballot (marks by position) as :mod:`.rules` reads it (marks by member id)."""
    return {
        "marks": dict(zip(rnd["candidates"], ballot["marks"], strict=True)),
        "write_ins": ballot.get("write_ins", []),
    }


def round_out(rnd: dict, tally: dict, show_counts: bool) -> dict:
    out = {
        "round_id": rnd["_id"],
        "n": rnd["n"],
        "kind": rnd["kind"],
        "status": rnd["status"],
        "seats": rnd["seats"],
        "candidates": [{"member_id": c, "name": rnd["names"].get(c, c)} for c in rnd["candidates"]],
        "ballots": int(tally.get("n", 0)),
        "opened_at": iso(rnd.get("opened_at")),
        "closes_at": iso(rnd.get("closes_at")),
        "closed_at": iso(rnd.get("closed_at")),
        "alarm": bool(rnd.get("alarm")),
        "recount_matches": (rnd.get("recount") or {}).get("matches"),
    }
    if show_counts and rnd["status"] == "closed":
        out["counts"] = rnd.get("tally")
        out["decision"] = rnd.get("decision")
    return out


def election_out(p: Ports, doc: dict, actor: Actor) -> dict:
    """An election as ``actor`` may see it: counts of closed rounds for its admins, for everyone once
    published; the caller's own ``has_voted`` / ``receipt`` in the open round."""
    manager = policy.may_manage(actor, doc["union_path"])
    show = manager or doc["status"] == "published"
    rounds = []
    for rid in doc.get("rounds", []):
        rnd = p.store.get_round(rid)
        if rnd is not None:
            rounds.append(round_out(rnd, p.store.get_tally(rid), show))
    out = {
        "election_id": doc["_id"],
        "union_id": doc["union_id"],
        "union_name": doc.get("union_name", ""),
        "title": doc["title"],
        "kind": doc["kind"],
        "seats": doc["seats"],
        "rules": {**doc["rules"], "margin_pct": str(doc["rules"]["margin_pct"])},
        "electorate": doc["electorate"],
        "term_id": doc.get("term_id"),
        "session_id": doc.get("session_id"),
        "status": doc["status"],
        "candidates": [
            {k: (iso(v) if isinstance(v, datetime) else v) for k, v in c.items()} for c in doc["candidates"]
        ],
        "due": doc.get("due"),
        "turnout_required": r.turnout_required(doc["due"]) if doc.get("due") else None,
        "majority_required": r.majority_required(doc["due"]) if doc.get("due") else None,
        "current_round": doc.get("current_round"),
        "rounds": rounds,
        "elected": doc.get("elected", []) if show else [],
        "vacant": doc.get("vacant") if show else None,
        "published_at": iso(doc.get("published_at")),
    }
    if not actor.is_system and doc.get("current_round"):
        got = p.store.get_ballot(
            doc["current_round"], ballot_id(p.key, doc["current_round"], actor.member_id)
        )
        out["has_voted"], out["receipt"] = (True, got["receipt"]) if got else (False, None)
    return out


def get_election(p: Ports, actor: Actor, election_id: str) -> dict:
    doc = election_of(p, election_id)
    require_reader(p, actor, doc)
    return election_out(p, doc, actor)


def list_elections(p: Ports, actor: Actor) -> list[dict]:
    """The elections of the caller's union and of the unions they administer (system: all)."""
    if actor.is_system:
        docs = p.store.list_elections(None)
    else:
        docs = [
            d
            for d in p.store.list_elections(None)
            if d["union_id"] == actor.union_id or policy.may_manage(actor, d["union_path"])
        ]
    return [
        {
            "election_id": d["_id"],
            "union_id": d["union_id"],
            "title": d["title"],
            "kind": d["kind"],
            "status": d["status"],
            "seats": d["seats"],
        }
        for d in docs
    ]


# ===== set-up and nomination =======================================================================
def create_election(p: Ports, actor: Actor, data: dict) -> dict:
    """A new election (status ``nominating``) of a grassroots union by its admins (or above)."""
    union = p.peers.get_union(data["union_id"])
    policy.require_manager(actor, union["path"])
    if union.get("kind") != "grassroots":
        raise BadInput(
            "elections are held by grassroots unions / 仅基层工会可组织选举",
            fields={"union_id": ["not grassroots"]},
        )
    if data["electorate"] == "session":
        session = p.peers.present_delegates(data["session_id"])  # NotFound: no such session
        if session["union_id"] != union["id"] or session["state"] == "closed":
            raise BadInput(
                "the session is not an open session of this union's congress / 不是本单位职代会未闭幕的会议",
                fields={"session_id": ["not an open session of this union's congress"]},
            )
    rules = data["rules"]
    if not rules["contested"] and data["kind"] == "committee":
        raise BadInput(
            "a committee is elected contested (差额) / 委员会选举应实行差额选举",
            fields={"rules": {"contested": ["committee elections are contested"]}},
        )
    election_id = f"el-{uuid.uuid4().hex[:12]}"
    doc = {
        "_id": election_id,
        "union_id": union["id"],
        "union_path": list(union["path"]),
        "union_name": union.get("name", ""),
        "title": data["title"],
        "kind": data["kind"],
        "seats": data["seats"],
        "rules": {**rules, "margin_pct": str(rules["margin_pct"])},
        "electorate": data["electorate"],
        "term_id": data.get("term_id"),
        "session_id": data.get("session_id") if data["electorate"] == "session" else None,
        "status": "nominating",
        "candidates": [],
        "rounds": [],
        "current_round": None,
        "elected": [],
        "created_at": p.clock(),
    }
    created = event("election_created", election_id=election_id, union_id=union["id"])
    p.store.create(
        "elections",
        doc,
        events=[created],
        audit=_audit(actor, "election_created", "election", election_id, doc),
    )
    return election_out(p, doc, actor)


def nominate(p: Ports, actor: Actor, election_id: str, data: dict) -> dict:
    """Add a candidate with their nomination record. The candidate must be a member of the union
    (asked from the members service); not twice. Only while ``nominating``."""
    doc = election_of(p, election_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] != "nominating":
        raise Conflict(
            "nominations are closed / 提名已结束",
            details={"status": doc["status"]},
            reason="nominations_closed",
        )
    if any(c["member_id"] == data["member_id"] for c in doc["candidates"]):
        raise Conflict(
            "already a candidate / 已是候选人",
            details={"member_id": data["member_id"]},
            reason="already_candidate",
        )
    person = p.peers.get_member(data["member_id"])
    if person.get("union_id") != doc["union_id"]:
        raise BadInput(
            "a candidate is a member of this union / 候选人须为本单位会员",
            fields={"member_id": ["not a member of the union"]},
        )
    record = {
        "member_id": data["member_id"],
        "name": person.get("name", ""),
        "source": data["source"],
        "supporters": data["supporters"],
        "note": data["note"],
        "nominated_at": p.clock(),
        "nominated_by": actor.member_id,
    }
    doc = p.store.change(
        "elections",
        election_id,
        expect={"_v": doc.get("_v"), "status": "nominating"},
        set={"candidates": [*doc["candidates"], record]},
        audit=_audit(actor, "candidate_nominated", "election", election_id, doc, fields=("candidates",)),
    )
    return election_out(p, doc, actor)


def _electors(p: Ports, doc: dict) -> list[str]:
    """The electors due, read from their owner: the union's roster (members), the term's delegates or,
    for electorate ``session``, the delegates checked in at the congress session now (congress's
    ``present_delegates``). A session election opens only from its agenda item (the session names it
    as its open election) while the session is convened with at least two thirds of ALL delegates
    present (全民所有制工业企业职工代表大会条例 1986, art. 18, as for the congress's other votes);
    Conflict otherwise."""
    if doc["electorate"] == "session":
        session = p.peers.present_delegates(doc["session_id"])
        if session["state"] != "convened" or not session["quorum"]:
            raise Conflict(
                "the session must be convened with a quorum (1986 条例 art. 18) / 会议须已开幕且达到法定人数",
                details={
                    "state": session["state"],
                    "present_count": session["present_count"],
                    "required": session["required"],
                },
                reason="session_quorum_needed",
            )
        if session.get("open_election") != doc["_id"]:
            raise Conflict(
                "open this election from its agenda item of the session / 请在会议议程中开始本项选举",
                details={"session_id": doc["session_id"], "open_election": session.get("open_election")},
                reason="open_from_agenda",
            )
        return sorted(set(session["member_ids"]))
    if doc["electorate"] == "term":
        return sorted({d["member_id"] for d in p.peers.delegates(doc["term_id"])})
    return sorted(set(p.peers.roster(doc["union_id"])))


def _open_round(p: Ports, doc: dict, n: int, kind: str, candidates: list[str], seats: int, closes_at) -> dict:
    """Create round ``n`` (its zeroed tally first, then the round with ``round_opened``)."""
    round_id = f"{doc['_id']}-r{n}"
    names = {c["member_id"]: c["name"] for c in doc["candidates"]}
    names.update({e["member_id"]: e["name"] for e in doc.get("elected", [])})
    existing = p.store.get_round(round_id)
    if existing is not None:  # a retry after a crash between the round and the election's change
        return existing
    p.store.create_tally(round_id, len(candidates))
    rnd = {
        "_id": round_id,
        "election_id": doc["_id"],
        "union_id": doc["union_id"],
        "n": n,
        "kind": kind,
        "candidates": candidates,
        "names": {c: names.get(c, c) for c in candidates},
        "seats": seats,
        "status": "open",
        "opened_at": p.clock(),
        "closes_at": closes_at,
        "alarm": False,
    }
    opened = event(
        "round_opened",
        election_id=doc["_id"],
        round_id=round_id,
        union_id=doc["union_id"],
        n=n,
        kind=kind,
        title=doc["title"],
        seats=seats,
        electorate=doc["electorate"],
        term_id=doc.get("term_id"),
        session_id=doc.get("session_id"),
    )
    p.store.create("rounds", rnd, events=[opened])
    return rnd


def open_voting(p: Ports, actor: Actor, election_id: str, data: dict) -> dict:
    """Close nominations, fix the electors from their owner (the union's roster, the delegates of the
    term, or the delegates present at the session: :func:`_electors`) and open round 1 among every
    candidate. ``due`` is then the number of electors fixed here: for a session election, the delegates
    present when voting opened; the 2/3 turnout and the majority of the electors due are counted
    against it (:func:`.rules.turnout_valid`, :func:`.rules.has_majority`; 条例 2016). Conflict when
    the slate does not fit the seats (:func:`.rules.check_slate`: 差额 margin, 等额 exactly), there
    are no electors, or (session) the session is not convened and quorate or has not opened this
    election from its agenda."""
    doc = election_of(p, election_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] != "nominating":
        raise Conflict(
            "voting has already opened / 投票已开始",
            details={"status": doc["status"]},
            reason="voting_already_open",
        )
    try:
        r.check_slate(doc["seats"], len(doc["candidates"]), rules_of(doc))
    except r.RuleError as exc:
        raise Conflict(
            exc.message,
            details={"field": exc.field, "candidates": len(doc["candidates"]), "seats": doc["seats"]},
            reason="slate_does_not_fit",
        ) from None
    electors = _electors(p, doc)
    if not electors:
        raise Conflict(
            "no electors / 没有选举人", details={"electorate": doc["electorate"]}, reason="no_electors"
        )
    p.store.add_electors(election_id, electors)
    rnd = _open_round(
        p, doc, 1, "first", [c["member_id"] for c in doc["candidates"]], doc["seats"], data.get("closes_at")
    )
    doc = p.store.change(
        "elections",
        election_id,
        expect={"_v": doc.get("_v"), "status": "nominating"},
        set={"status": "voting", "due": len(electors), "rounds": [rnd["_id"]], "current_round": rnd["_id"]},
        events=[
            event("election_opened", election_id=election_id, union_id=doc["union_id"], due=len(electors))
        ],
        audit=_audit(actor, "voting_opened", "election", election_id, doc, fields=("status", "due")),
    )
    return election_out(p, doc, actor)


# ===== casting =====================================================================================
def _check_open(p: Ports, rnd: dict) -> None:
    if rnd["status"] != "open":
        raise Conflict(
            "voting is not open / 投票未开放或已结束",
            details={"round_id": rnd["_id"], "status": rnd["status"]},
            reason="voting_not_open",
        )
    closes = rnd.get("closes_at")
    if closes is not None:
        if closes.tzinfo is None:
            closes = closes.replace(tzinfo=UTC)
        if p.clock() >= closes:
            raise Conflict(
                "voting has ended / 投票已截止", details={"closes_at": iso(closes)}, reason="voting_ended"
            )


def ballot_doc(p: Ports, rnd: dict, member_id: str, data: dict) -> tuple[dict, dict]:
    """The stored ballot and its ``$inc`` on the live tally (an over-marked ballot: ``n`` and ``i``)."""
    bid = ballot_id(p.key, rnd["_id"], member_id)
    marks = [data["marks"].get(c, r.ABSTAIN) for c in rnd["candidates"]]
    write_ins = list(data["write_ins"])
    valid = r.ballot_valid({"marks": data["marks"], "write_ins": write_ins}, rnd["seats"])
    doc = {"_id": bid, "receipt": receipt_code(p.key, bid), "marks": marks, "write_ins": write_ins}
    inc = {"n": 1, "v" if valid else "i": 1}
    if valid:
        letter = {r.APPROVE: "a", r.DISAPPROVE: "d", r.ABSTAIN: "x"}
        for k, mark in enumerate(marks):
            inc[f"{letter[mark]}{k}"] = 1
        for person in write_ins:
            inc[f"w_{person}"] = 1
    return doc, inc


def _check_ballot(p: Ports, doc: dict, rnd: dict, data: dict) -> None:
    try:
        r.check_ballot(data, rnd["candidates"], rules_of(doc))
    except r.RuleError as exc:
        raise BadInput(exc.message, fields={exc.field: [exc.message]}, reason="ballot_not_valid") from None
    if rnd["kind"] == "runoff" and data["write_ins"]:
        raise BadInput(
            "a runoff is among the tied only / 重新投票仅限票数相等的候选人",
            fields={"write_ins": ["none in a runoff"]},
        )
    strangers = [m for m in data["write_ins"] if not p.store.is_elector(doc["_id"], m)]
    if strangers:
        raise BadInput(
            "a write-in must be an eligible person of this election / 另选他人须为本次选举的选举人",
            fields={"write_ins": [f"not eligible: {', '.join(strangers)}"]},
            reason="write_in_not_elector",
        )


def cast(p: Ports, actor: Actor, election_id: str, data: dict) -> dict:
    """Cast ``actor``'s ballot in the election's open round. Out: ``{"election_id", "round_id",
    "receipt", "valid"}`` (``valid`` false: more approved than seats, counted as an invalid ballot).
    BadInput (not a ballot of this round), NotFound, Forbidden (not an elector), Conflict (not open,
    closed, already voted with ``details.reason`` = ``already_voted``)."""
    doc = election_of(p, election_id)
    policy.require_elector(actor, p.store.is_elector(election_id, actor.member_id))
    if doc["status"] != "voting" or not doc.get("current_round"):
        raise Conflict(
            "voting is not open / 投票未开放或已结束",
            details={"status": doc["status"]},
            reason="voting_not_open",
        )
    rnd = round_of(p, doc["current_round"])
    _check_open(p, rnd)
    _check_ballot(p, doc, rnd, data)
    ballot, inc = ballot_doc(p, rnd, actor.member_id, data)
    try:
        p.store.insert_ballot(rnd["_id"], {**ballot, "pending": True})
    except DuplicateKeyError:
        raise Conflict(
            "already voted / 您已投票",
            details={"round_id": rnd["_id"], "reason": ALREADY_VOTED},
            reason="already_voted",
        ) from None
    if not p.store.count_ballot(rnd["_id"], ballot["_id"], inc):
        raise Conflict(
            "voting has ended / 投票已截止", details={"round_id": rnd["_id"]}, reason="voting_ended"
        )
    p.store.settle_ballot(rnd["_id"], ballot["_id"])
    return {
        "election_id": election_id,
        "round_id": rnd["_id"],
        "receipt": ballot["receipt"],
        "valid": "i" not in inc,
    }


def load_ballots(p: Ports, actor: Actor, election_id: str, ballots: list[dict]) -> dict:
    """Bulk loading for the demo (system only, a round open): every ballot checked first, then stored
    exactly as cast ones are (keyed ids, receipts, one live tally update). Conflict if one had voted."""
    policy.require_system(actor)
    doc = election_of(p, election_id)
    if doc["status"] != "voting":
        raise Conflict(
            "voting is not open / 投票未开放或已结束",
            details={"status": doc["status"]},
            reason="voting_not_open",
        )
    rnd = round_of(p, doc["current_round"])
    _check_open(p, rnd)
    docs, total = [], {}
    for data in ballots:
        if not p.store.is_elector(election_id, data["member_id"]):
            raise BadInput("not an elector / 非选举人", fields={"member_id": [data["member_id"]]})
        _check_ballot(p, doc, rnd, data)
        ballot, inc = ballot_doc(p, rnd, data["member_id"], data)
        docs.append(ballot)
        for k, v in inc.items():
            total[k] = total.get(k, 0) + v
    try:
        p.store.bulk_ballots(rnd["_id"], docs, total)
    except Exception as exc:  # BulkWriteError: someone in the batch had voted
        if "E11000" in str(exc) or "duplicate" in str(exc).lower():
            raise Conflict(
                "a voter in the batch had voted / 批量中有人已投票", details={"reason": ALREADY_VOTED}
            ) from None
        raise
    return {"round_id": rnd["_id"], "loaded": len(docs)}


# ===== closing, recounts, deciding ==================================================================
def _recount(p: Ports, rnd: dict) -> tuple[dict, int]:
    pending = 0

    def ballots():
        nonlocal pending
        for b in p.store.iter_ballots(rnd["_id"]):
            pending += bool(b.get("pending"))
            yield _ballot_marks(rnd, b)

    counted = r.tally(ballots(), rnd["candidates"], rnd["seats"]).as_dict()
    return counted, pending


def _with_write_ins(live: dict, recounted: dict) -> tuple[dict, dict]:
    """Both tallies over the same people (a write-in with no approvals is absent from the live one)."""
    people = set(live["approve"]) | set(recounted["approve"])
    for t in (live, recounted):
        t["approve"] = {k: t["approve"].get(k, 0) for k in sorted(people)}
    return live, recounted


def recount_and_record(p: Ports, rnd: dict, audit: Audit | None = None) -> dict:
    """Recount every ballot of the round and compare with the live tally; a mismatch that persists after
    a short settle is an alarm (``recount_mismatched``; the live tally is never overwritten). Recorded
    on the round: ``{at, matches, live, recounted, pending}``."""
    live, recounted = _with_write_ins(live_counts(rnd, p.store.get_tally(rnd["_id"])), _recount(p, rnd)[0])
    if live != recounted:
        p.sleep(RECOUNT_SETTLE_S)
        live, recounted = _with_write_ins(
            live_counts(rnd, p.store.get_tally(rnd["_id"])), _recount(p, rnd)[0]
        )
    record = {"at": p.clock(), "matches": live == recounted, "live": live, "recounted": recounted}
    events, changes = [], {"recount": record}
    if not record["matches"]:
        changes["alarm"] = True
        log.error("RECOUNT MISMATCH in round %s: live %s, recount %s", rnd["_id"], live, recounted)
        events.append(event("recount_mismatched", round_id=rnd["_id"], election_id=rnd["election_id"]))
    p.store.change("rounds", rnd["_id"], expect={}, set=changes, events=events, audit=audit)
    return record


def close_round(p: Ports, actor: Actor, election_id: str) -> dict:
    """Close the open round (admins): stop the tally, mark it closed, recount, decide
    (:func:`.rules.decide` over the recounted ballots), shuffle the ballots' storage order, then advance
    the election: open the runoff, the
    further round or the repeat the decision asks for, or mark the election ``decided``. Idempotent:
    called again after a crash it finishes the advance. Out: the election."""
    doc = election_of(p, election_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] != "voting":
        raise Conflict(
            "no round is open / 没有进行中的投票", details={"status": doc["status"]}, reason="no_open_round"
        )
    rnd = round_of(p, doc["current_round"])
    if rnd["status"] == "open":
        p.store.close_tally(rnd["_id"])
        try:
            rnd = p.store.change(
                "rounds",
                rnd["_id"],
                expect={"status": "open"},
                set={"status": "closed", "closed_at": p.clock()},
                audit=_audit(actor, "round_closed", "round", rnd["_id"], doc, fields=("status",)),
            )
        except Conflict:
            rnd = round_of(p, rnd["_id"])
    if "decision" not in rnd:
        record = recount_and_record(p, rnd)
        counted = r.tally(
            (_ballot_marks(rnd, b) for b in p.store.iter_ballots(rnd["_id"])), rnd["candidates"], rnd["seats"]
        )
        decision = r.decide(counted, rnd["candidates"], rnd["seats"], doc["due"], rules_of(doc))
        closed = event(
            "round_closed",
            election_id=election_id,
            round_id=rnd["_id"],
            union_id=doc["union_id"],
            next=decision.next,
            ballots=counted.ballots,
            recount_matches=record["matches"],
        )
        try:
            rnd = p.store.change(
                "rounds",
                rnd["_id"],
                expect={"decision": {"$exists": False}},
                set={"tally": counted.as_dict(), "decision": decision.as_dict()},
                events=[closed],
            )
        except Conflict:  # a concurrent close decided it first (the same ballots, the same decision)
            rnd = round_of(p, rnd["_id"])
    # ballot secrecy at rest: the storage order no longer tells the order of casting (store.py)
    p.store.shuffle_ballots(rnd["_id"])
    return advance(p, actor, doc, rnd)


def advance(p: Ports, actor: Actor, doc: dict, rnd: dict) -> dict:
    """After a closed round: record who it elected and open the next round, or decide the election."""
    d = rnd["decision"]
    approvals = rnd["tally"]["approve"]
    names = dict(rnd["names"])
    for m in d["elected"]:
        if m not in names:  # a person written in (另选他人) and elected
            names[m] = p.peers.get_member(m).get("name", m)
    newly = [
        {"member_id": m, "name": names.get(m, m), "approvals": approvals[m], "round": rnd["n"]}
        for m in d["elected"]
    ]
    elected = [*doc.get("elected", []), *newly]
    nxt = d["next"]
    if nxt == "further_round" and rnd["kind"] == "further":
        nxt = "vacant"  # 另行选举 is held once: seats still open after it stay vacant (docs/elections.md)
    changes: dict = {"elected": elected}
    events = []
    if nxt in ("runoff", "further_round", "repeat"):
        candidates = {
            "runoff": d["runoff"],
            "further_round": d["further_candidates"],
            "repeat": rnd["candidates"],
        }[nxt]
        kind = {"runoff": "runoff", "further_round": "further", "repeat": "repeat"}[nxt]
        new = _open_round(
            p, {**doc, "elected": elected}, rnd["n"] + 1, kind, candidates, d["open_seats"], None
        )
        changes.update(rounds=[*doc["rounds"], new["_id"]], current_round=new["_id"])
    else:
        changes.update(status="decided", vacant=d["open_seats"], current_round=None, decided_at=p.clock())
        events.append(
            event(
                "election_decided",
                election_id=doc["_id"],
                union_id=doc["union_id"],
                elected=len(elected),
                vacant=d["open_seats"],
            )
        )
    try:
        doc = p.store.change(
            "elections", doc["_id"], expect={"current_round": rnd["_id"]}, set=changes, events=events
        )
    except Conflict:  # advanced already (a repeated close)
        doc = election_of(p, doc["_id"])
    return election_out(p, doc, actor)


def publish(p: Ports, actor: Actor, election_id: str) -> dict:
    """Publish a decided election's results to the union (admins); needs every round's recount to
    match. Commits ``election_published``. Idempotent once published."""
    doc = election_of(p, election_id)
    policy.require_manager(actor, doc["union_path"])
    if doc["status"] == "published":
        return election_out(p, doc, actor)
    if doc["status"] != "decided":
        raise Conflict(
            "the election is not decided yet / 选举尚未产生结果",
            details={"status": doc["status"]},
            reason="not_decided",
        )
    alarms = [
        rid for rid in doc["rounds"] if (round_of(p, rid).get("recount") or {}).get("matches") is not True
    ]
    if alarms:
        raise Conflict(
            "a recount differs from the live tally / 复核计票不一致",
            details={"rounds": alarms},
            reason="recount_differs",
        )
    doc = p.store.change(
        "elections",
        election_id,
        expect={"status": "decided"},
        set={"status": "published", "published_at": p.clock()},
        events=[
            event(
                "election_published",
                election_id=election_id,
                union_id=doc["union_id"],
                title=doc["title"],
                elected=len(doc.get("elected", [])),
            )
        ],
        audit=_audit(actor, "results_published", "election", election_id, doc, fields=("status",)),
    )
    return election_out(p, doc, actor)


# ===== receipts, the published list, recounts ========================================================
def _round_reader(p: Ports, actor: Actor, round_id: str) -> tuple[dict, dict]:
    rnd = round_of(p, round_id)
    doc = election_of(p, rnd["election_id"])
    require_reader(p, actor, doc)
    return doc, rnd


def verify_receipt(p: Ports, actor: Actor, round_id: str, receipt: str) -> dict:
    """Is the ballot with this receipt in the round? Out: ``{"round_id", "receipt", "found", "ballot"}``
    (the ballot as published: marks by candidate, write-ins). BadInput for a malformed code."""
    _, rnd = _round_reader(p, actor, round_id)
    code = normalise_receipt(receipt)
    if code is None:
        raise BadInput(
            "a receipt is 12 characters 0-9, A-F / 回执码为12位", fields={"receipt": ["12 hex characters"]}
        )
    found = p.store.find_receipt(round_id, code)
    return {
        "round_id": round_id,
        "receipt": code,
        "found": found is not None,
        "ballot": found and published(rnd, found),
        **_round_names(rnd),
    }


def _round_names(rnd: dict) -> dict:
    """What a page needs to show a round's ballots: the election, the round and candidate names."""
    return {
        "election_id": rnd["election_id"],
        "n": rnd["n"],
        "status": rnd["status"],
        "candidates": [{"member_id": c, "name": rnd["names"].get(c, c)} for c in rnd["candidates"]],
    }


PICKER_LIMIT = 20


def find_electors(p: Ports, actor: Actor, election_id: str, q: str) -> list[dict]:
    """Electors whose name or member number starts with ``q`` (the write-in picker), not candidates of
    the open round, at most :data:`PICKER_LIMIT`: from the members' search (electorate ``union``) or
    the term's delegates (``term``), each checked against the recorded electors."""
    doc = election_of(p, election_id)
    is_elector = p.store.is_elector(election_id, actor.member_id) if actor.member_id else False
    actor.require(is_elector or policy.may_manage(actor, doc["union_path"]), policy.NOT_AN_ELECTOR)
    q = (q or "").strip()
    if not 1 <= len(q) <= 50:
        raise BadInput("type 1-50 characters / 请输入1-50个字", fields={"q": ["1-50 characters"]})
    rnd = p.store.get_round(doc.get("current_round") or "")
    if rnd is None or rnd["status"] != "open":
        raise Conflict(
            "no round is open / 当前没有进行中的投票",
            details={"status": doc["status"]},
            reason="no_open_round",
        )
    if doc["electorate"] == "term":
        found = [
            {"member_id": d["member_id"], "name": d.get("name", "")}
            for d in p.peers.delegates(doc["term_id"])
            if d.get("name", "").startswith(q) or d["member_id"].startswith(q)
        ]
    else:
        found = p.peers.search_members(doc["union_id"], q, PICKER_LIMIT * 2)
    out = []
    for person in found:
        if person["member_id"] in rnd["candidates"] or not p.store.is_elector(
            election_id, person["member_id"]
        ):
            continue
        out.append(person)
        if len(out) == PICKER_LIMIT:
            break
    return out


def published(rnd: dict, b: dict) -> dict:
    return {"receipt": b["receipt"], **_ballot_marks(rnd, b)}


def list_ballots(p: Ports, actor: Actor, round_id: str, page: int, per_page: int) -> dict:
    """The published ballot list of a closed round, by receipt (its readers). Conflict while open."""
    _, rnd = _round_reader(p, actor, round_id)
    if rnd["status"] != "closed":
        raise Conflict(
            "the list is published when voting closes / 投票结束后公布选票清单", reason="list_after_close"
        )
    if not 1 <= page or not 1 <= per_page <= 500:
        raise BadInput(
            "page ≥ 1, per_page 1-500 / 分页参数有误", fields={"page": ["≥ 1"], "per_page": ["1-500"]}
        )
    docs, total = p.store.ballot_page(round_id, (page - 1) * per_page, per_page)
    return {**page_out([published(rnd, d) for d in docs], total, page, per_page), **_round_names(rnd)}


def recount(p: Ports, actor: Actor, round_id: str) -> dict:
    """Recount a round now (the election's admins; audited). Out: the record."""
    rnd = round_of(p, round_id)
    doc = election_of(p, rnd["election_id"])
    policy.require_manager(actor, doc["union_path"])
    record = recount_and_record(
        p, rnd, audit=_audit(actor, "recount_recorded", "round", round_id, doc, fields=("alarm",))
    )
    return {**record, "at": iso(record["at"])}


def report_data(p: Ports, actor: Actor, election_id: str) -> dict:
    """What the results report shows (its admins any time after a round closed; readers once
    published): the election, each round's figures and decision, the elected."""
    doc = election_of(p, election_id)
    require_reader(p, actor, doc)
    if not policy.may_manage(actor, doc["union_path"]) and doc["status"] != "published":
        raise Conflict(
            "results are shown once published / 结果公布后可查看",
            details={"status": doc["status"]},
            reason="not_published",
        )
    if doc["status"] not in ("decided", "published"):
        raise Conflict(
            "the election is not decided yet / 选举尚未产生结果",
            details={"status": doc["status"]},
            reason="not_decided",
        )
    return election_out(p, doc, actor)
