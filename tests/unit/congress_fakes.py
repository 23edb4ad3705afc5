"""Hand-written fakes for the congress use cases (services/congress/app.py): an in-memory store with the
methods of :class:`services.congress.store.CongressStore` on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``Store.change``/``create`` contract), and
:class:`FakePeers`, members and voting as the use cases ask them. No RabbitMQ, no FerretDB, no mocks."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from pymongo.errors import DuplicateKeyError

from dmlib.errors import Conflict, NotFound, ServiceUnavailable
from services.congress.store import checkins_collection, delegate_id
from tests.unit.fake_links import FakeProjectorLinks
from tests.unit.fake_store import FakeStore


class FakeCongressStore(FakeProjectorLinks, FakeStore):
    service = "congress"
    link_subject = "session_id"

    def committed(self, event_type: str) -> list[dict]:  # type: ignore[override]
        """The bodies of the committed events of one type, oldest first."""
        return [b for t, b in self.events if t == event_type]

    def types(self) -> list[str]:
        """The types of the committed domain events (audit entries left out), in order."""
        return [t for t, _ in self.events if t != "change_recorded"]

    def audits(self) -> list[str]:
        """The actions of the committed audit entries, in order."""
        return [b["action"] for t, b in self.events if t == "change_recorded"]

    # --- congresses and terms --------------------------------------------------------------------
    def insert_congress(self, doc: dict, events: list, audit=None) -> None:
        self.create("congresses", doc, events=events, audit=audit)

    def get_congress(self, congress_id: str) -> dict | None:
        return copy.deepcopy(self.col("congresses").get(congress_id))

    def insert_term(self, doc: dict, audit=None) -> None:
        self.create("terms", doc, audit=audit)

    def get_term(self, term_id: str) -> dict | None:
        return copy.deepcopy(self.col("terms").get(term_id))

    def terms_of(self, congress_id: str) -> list[dict]:
        terms = [copy.deepcopy(t) for t in self.col("terms").values() if t["congress_id"] == congress_id]
        return sorted(terms, key=lambda t: t["number"])

    # --- delegates -------------------------------------------------------------------------------
    def get_delegate(self, term_id: str, member_id: str) -> dict | None:
        return copy.deepcopy(self.col("delegates").get(delegate_id(term_id, member_id)))

    def delegates_of(self, term_id: str) -> list[dict]:
        docs = [copy.deepcopy(d) for d in self.col("delegates").values() if d["term_id"] == term_id]
        return sorted(docs, key=lambda d: d["_id"])

    def insert_delegates(self, term: dict, docs: list[dict], events: list, audit=None) -> list[str] | None:
        clashes = [d["member_id"] for d in docs if d["_id"] in self.col("delegates")]
        if clashes:
            return clashes
        inc: dict[str, int] = {"delegate_count": len(docs)}
        managers = sum(1 for d in docs if d["category"] == "manager")
        if managers:
            inc["manager_count"] = managers
        for d in docs:
            key = f"delegation_counts.{d['delegation_id']}"
            inc[key] = inc.get(key, 0) + 1
        # the real store inserts first and removes them again on a refusal: the same outcome
        self.change("terms", term["_id"], expect={"_v": term.get("_v")}, inc=inc, events=events, audit=audit)
        for d in docs:
            self.col("delegates")[d["_id"]] = copy.deepcopy(d)
        return None

    # --- sessions and agenda ---------------------------------------------------------------------
    def insert_session(self, term: dict, make, events, audit=None) -> tuple[dict, list[dict]]:
        term_id = term["_id"]
        number = term.get("session_count", 0) + 1
        while f"{term_id}-s{number}" in self.col("sessions"):
            number += 1
        self.change("terms", term_id, expect={"_v": term.get("_v")}, set={"session_count": number})
        doc, items = make(f"{term_id}-s{number}", number)
        for item in items:
            self.col("items")[item["_id"]] = {**copy.deepcopy(item), "_v": 0}
        self.col(checkins_collection(doc["_id"]))
        doc = self.create("sessions", doc, events=events(doc), audit=audit(doc) if audit else None)
        return doc, items

    def get_session(self, session_id: str) -> dict | None:
        return copy.deepcopy(self.col("sessions").get(session_id))

    def sessions_of(self, congress_id: str) -> list[dict]:
        docs = [copy.deepcopy(s) for s in self.col("sessions").values() if s["congress_id"] == congress_id]
        return sorted(docs, key=lambda s: (s["term_id"], s["number"]))

    def convened_sessions(self, term_id: str) -> list[dict]:
        return [
            {"_id": s["_id"]}
            for s in self.col("sessions").values()
            if s["term_id"] == term_id and s["state"] == "convened"
        ]

    def store_files(self, files: list[dict]) -> None:
        for f in files:
            self.col("attachments")[f["_id"]] = copy.deepcopy(f)

    def get_attachment(self, attachment_id: str) -> dict | None:
        return copy.deepcopy(self.col("attachments").get(attachment_id))

    def add_item(self, session_id: str, make, audit=None) -> dict:
        n = 1
        while f"{session_id}-i{n}" in self.col("items"):
            n += 1
        item_id = f"{session_id}-i{n}"
        doc = {**make(item_id), "_id": item_id, "session_id": session_id, "order": n}
        return self.create(
            "items", doc, audit=dataclasses.replace(audit, object_id=doc["_id"]) if audit else None
        )

    def items_of(self, session_id: str) -> list[dict]:
        items, n = [], 1
        while (doc := self.col("items").get(f"{session_id}-i{n}")) is not None:
            items.append(copy.deepcopy(doc))
            n += 1
        return items

    def get_item(self, item_id: str) -> dict | None:
        return copy.deepcopy(self.col("items").get(item_id))

    def item_of_election(self, election_id: str) -> dict | None:
        return next(
            (copy.deepcopy(i) for i in self.col("items").values() if i.get("election_id") == election_id),
            None,
        )

    # --- check-in --------------------------------------------------------------------------------
    def check_in(self, session_id: str, delegate: dict, by: str, at, audit=None) -> bool:
        doc = {
            "_id": delegate["member_id"],
            "member_id": delegate["member_id"],
            "delegation_id": delegate["delegation_id"],
            "by": by,
            "at": at,
        }
        try:
            self.create(checkins_collection(session_id), doc, audit=audit)
        except DuplicateKeyError:
            return False
        return True

    def is_present(self, session_id: str, member_id: str) -> bool:
        return member_id in self.col(checkins_collection(session_id))

    def present_count(self, session_id: str) -> int:
        return len(self.col(checkins_collection(session_id)))

    def presence(self, session_id: str) -> tuple[list[str], dict[str, int]]:
        present, by = [], {}
        for c in self.col(checkins_collection(session_id)).values():
            present.append(c["_id"])
            by[c["delegation_id"]] = by.get(c["delegation_id"], 0) + 1
        return sorted(present), by


class FakePeers:
    """Members (one grassroots union ``u01`` and its roster) and voting (choice polls kept here) as
    :class:`services.congress.app.Peers`. ``voting_down`` makes opening a poll fail as voting's
    absence does; ``refuse_grants`` makes members refuse the delegate role."""

    def __init__(self, roster_size: int = 130) -> None:
        self.unions = {
            "u01": {
                "id": "u01",
                "kind": "grassroots",
                "name": "亦庄精密机械制造有限公司工会",
                "path": ["ftu", "u01"],
            },
            "ftu": {"id": "ftu", "kind": "federation", "name": "市总工会", "path": ["ftu"]},
        }
        self.members = {
            f"D{i:04d}": {"member_id": f"D{i:04d}", "name": f"代表{i}"} for i in range(roster_size)
        }
        self.granted: list[tuple[str, str]] = []
        self.polls: dict[str, dict] = {}
        self.voting_down = False
        self.refuse_grants = False
        #: elections: {election id: election as elections' get_election answers it}; ``present`` reads
        #: the congress's own ``present_delegates`` (wired by the test to the use case over its store).
        self.elections: dict[str, dict] = {}
        self.present: Callable[[str], dict] | None = None
        self.elections_down = False
        self.has_voted: set[str] = set()

    # elections
    def add_election(self, election_id: str, session: str, **over: Any) -> dict:
        """An election of u01 among the delegates present at ``session``, nominating (overridable)."""
        self.elections[election_id] = {
            "election_id": election_id,
            "union_id": "u01",
            "title": "职工董事选举",
            "electorate": "session",
            "session_id": session,
            "status": "nominating",
            "due": None,
            "rounds": [],
            "elected": [],
            "vacant": None,
            "ballots": 0,
            **over,
        }
        return self.elections[election_id]

    def election(self, election_id: str) -> dict:
        if self.elections_down:
            raise ServiceUnavailable("elections is not running / 服务未运行")
        if election_id not in self.elections:
            raise NotFound(f"no election {election_id}")
        return copy.deepcopy(self.elections[election_id])

    def open_election(self, election_id: str) -> dict:
        """As elections' open_voting for a session electorate: the session convened and quorate, naming
        this election as its open one; the electors due = the delegates present now."""
        el = self.elections[election_id]
        if self.elections_down:
            raise ServiceUnavailable("elections is not running / 服务未运行")
        if el["status"] != "nominating":
            raise Conflict("voting has already opened", details={"status": el["status"]})
        session = self.present(el["session_id"])
        if session["state"] != "convened" or not session["quorum"]:
            raise Conflict("the session must be convened with a quorum")
        if session["open_election"] != election_id:
            raise Conflict("open this election from its agenda item")
        el.update(status="voting", due=len(session["member_ids"]), electors=session["member_ids"])
        el["rounds"].append(f"{election_id}-r1")
        return copy.deepcopy(el)

    def publish(self, election_id: str, elected: list[tuple[str, str, int]], vacant: int = 0) -> None:
        """The election decided and published with ``elected`` [(member id, name, approvals)]."""
        self.elections[election_id].update(
            status="published",
            elected=[{"member_id": m, "name": n, "approvals": a, "round": 1} for m, n, a in elected],
            vacant=vacant,
            published_at="2026-04-01T03:00:00Z",
        )

    def my_election(self, election_id: str) -> dict:
        return {**self.election(election_id), "has_voted": election_id in self.has_voted}

    def election_projector(self, election_id: str) -> dict:
        el = self.election(election_id)
        due = el["due"]
        return {
            "election_id": election_id,
            "status": el["status"],
            "due": due,
            "turnout_required": (2 * due) // 3 + 1 if due else None,
            "round": {"n": len(el["rounds"]), "status": "open", "ballots": el["ballots"]}
            if el["rounds"]
            else None,
            "result": None,
        }

    # members
    def union(self, union_id: str) -> dict:
        if union_id not in self.unions:
            raise NotFound(f"no union {union_id}")
        return copy.deepcopy(self.unions[union_id])

    def roster(self, union_id: str) -> dict[str, dict]:
        return copy.deepcopy(self.members) if union_id == "u01" else {}

    def grant_delegate(self, member_id: str, congress_id: str) -> None:
        if self.refuse_grants:
            raise ServiceUnavailable("members is not running")
        self.granted.append((member_id, congress_id))

    # voting
    def open_poll(self, spec: dict) -> dict:
        if self.voting_down:
            raise ServiceUnavailable("voting is not running / 服务未运行")
        poll_id = f"p{len(self.polls) + 1}"
        self.polls[poll_id] = {
            **copy.deepcopy(spec),
            "poll_id": poll_id,
            "status": "open",
            "counts": {k: 0 for k in spec["options"]},
            "ballots": 0,
            "eligible": len(spec["voters"]),
            "cast": {},
        }
        return {"poll_id": poll_id, "eligible": len(spec["voters"])}

    def cast(self, poll_id: str, choice: str, member_id: str = "") -> dict:
        poll = self.polls[poll_id]
        if poll["status"] != "open":
            raise Conflict("the poll is closed")
        poll["counts"][choice] += 1
        poll["ballots"] += 1
        return {"receipt": f"r{poll['ballots']}"}

    def result(self, poll_id: str, **counts: int) -> None:
        """Set the counts voting will report for ``poll_id`` (``yes=…, no=…, abstain=…``)."""
        poll = self.polls[poll_id]
        poll["counts"] = {k: counts.get(k, 0) for k in ("yes", "no", "abstain")}
        poll["ballots"] = sum(counts.values())

    def close_poll(self, poll_id: str) -> dict:
        poll = self.polls[poll_id]
        poll["status"] = "closed"
        return {**self.poll(poll_id), "recount_matches": True}

    def poll(self, poll_id: str) -> dict:
        return {k: copy.deepcopy(v) for k, v in self.polls[poll_id].items() if k not in ("cast", "voters")}

    def my_poll(self, poll_id: str) -> dict:
        return {**self.poll(poll_id), "has_voted": self.polls[poll_id]["ballots"] > 0}
