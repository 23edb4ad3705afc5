"""Storage of the proposals service (database ``proposals``).

Every page is answered by ``_id`` lookups (docs/storage.md rule 1); the lists are derived documents kept
next to the proposals (rule 2), each updated right after the proposal write that is the commit point:

- ``proposals``: ``_id`` = ``<session id>-p<NNN>`` (number within the session); ``session_id``,
  ``congress_id``, ``term_id``, ``union_id``, ``union_path``, ``number``, ``subject``, ``category``,
  ``reasons``, ``measures``, ``proposer`` {member_id, name}, ``invited`` [{member_id, name}],
  ``cosigners`` [{member_id, name, at}], ``cosigner_ids`` (flat, for the guard against co-signing twice),
  ``min_cosigners``, ``state``, ``review`` {decision, reason, by, by_name, at}, ``round``, ``rounds``
  [{round, department_ids, assigned_at, deadline, replied_at}], ``departments`` {id: name},
  ``pending_departments`` (those yet to reply in the current round), ``replies``
  [{round, department_id, text, by, by_name, at}], ``ratings`` [{round, member_id, name, satisfaction,
  comment, at}], ``rated_keys`` (``<member>:<round>``: one rating per rater per round), ``excellent``,
  ``history`` [{action, from_state, to_state, by, by_name, role, at, note}], ``created_at``,
  ``submitted_at``, ``closed_at``.
- ``windows``: ``_id`` = session id: the collection window (``status`` open | closed, ``min_cosigners``,
  ``deadline_days``) and ``seq``, the last number given: the session's proposals are ``p001`` … ``seq``.
- ``people``: ``_id`` = ``<member id>:<session id>``: ``own`` (proposals they drafted) and ``invited``
  (invited to or co-signed): the delegate's page.
- ``inboxes``: ``_id`` = department id: ``proposal_ids`` ever assigned to it: the department's inbox.
- ``watchlist``: one document per proposal now with the departments (``_id`` = proposal id, inserted on
  assignment with its time ``at``, deleted on the reply): what the reminder timer reads.
- ``reminders``: ``_id`` = ``<proposal id>:<YYYY-MM-DD>`` (China day): one insert per proposal per day
  decides whether a reminder is published, however often the timer ticks and however many instances run.

Every change of a window, a proposal or a reminder is ONE guarded, versioned write with its events in
the document's outbox (``Store.change`` / ``Store.create``, docs/architecture.md "Changing state"). The
derived lists (``people``, ``inboxes``, ``watchlist``) are written just BEFORE that commit point and
are harmless if it never comes: readers keep only the proposals that really are the member's, the
department's or still assigned (the reminder round drops the others from the watch list once their
entry is older than ``app.WATCH_GRACE``, so an assignment still committing keeps its entry), so a crash
or an outage at any point leaves nothing locked and nothing half-listed. :meth:`ProposalsStore.
rebuild_indexes` rebuilds every derived document from ``proposals`` (an operator's repair). Their
arrays are updated with ``$addToSet``, atomic on MongoDB and the patched local FerretDB.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.audit import Audit
from dmlib.storage import Store


def now() -> datetime:
    return datetime.now(UTC)


def proposal_id(session_id: str, number: int) -> str:
    return f"{session_id}-p{number:03d}"


WINDOWS = "windows"
PROPOSALS = "proposals"
REMINDERS = "reminders"


class ProposalsStore(Store):
    indexes = {"proposals": [IndexModel("session_id"), IndexModel("state")]}

    def create_new(
        self, collection: str, doc: dict, *, events: list = (), audit: Audit | None = None
    ) -> dict | None:
        """``Store.create`` of a document whose ``_id`` decides once (a window, a numbered proposal, the
        day's reminder of a proposal): the document, or None when that ``_id`` exists (nothing written,
        nothing audited)."""
        try:
            return self.create(collection, doc, events=events, audit=audit)
        except DuplicateKeyError:
            return None

    # --- windows ---------------------------------------------------------------------------------
    def get_window(self, session_id: str) -> dict | None:
        return self.db.windows.find_one({"_id": session_id})

    def windows_of(self, congress_id: str) -> list[dict]:
        """Windows of a congress: a scan of ``windows``, fine: one document per session (a handful a year)."""
        return list(self.db.windows.find({"congress_id": congress_id}))

    def windows_under(self, union_ids: set[str]) -> list[dict]:
        """Windows of the unions at or below any of ``union_ids`` (the admins' "what needs me" queues): a
        scan of ``windows`` (one document per session, a handful a year per union), filtered here."""
        if not union_ids:
            return []
        return [w for w in self.db.windows.find({}) if union_ids & set(w.get("union_path", []))]

    def note_person(self, member_id: str, session_id: str, key: str, proposal_id: str) -> None:
        """List ``proposal_id`` on a member's page of a session: ``key`` ``own`` (drafted) or ``invited``
        (invited or co-signed). Written before the proposal's commit; readers keep only the real ones."""
        self.db.people.update_one(
            {"_id": f"{member_id}:{session_id}"},
            {"$addToSet": {key: proposal_id}, "$set": {"member_id": member_id, "session_id": session_id}},
            upsert=True,
        )

    # --- proposals -------------------------------------------------------------------------------
    def get(self, proposal_id: str) -> dict | None:
        return self.db.proposals.find_one({"_id": proposal_id})

    def get_many(self, proposal_ids: list[str]) -> list[dict]:
        """Proposals by id in the order given (one ``_id`` lookup each; missing ones skipped)."""
        docs = (self.db.proposals.find_one({"_id": i}) for i in proposal_ids)
        return [d for d in docs if d]

    def session_ids(self, session_id: str) -> list[str]:
        """The ids of a session's proposals: numbers 1 … ``seq`` (a number lost to a failed insert is
        simply missing), so the list needs no array that concurrent inserts could overwrite."""
        w = self.db.windows.find_one({"_id": session_id}, projection={"seq": 1})
        return [proposal_id(session_id, n) for n in range(1, (w or {}).get("seq", 0) + 1)]

    def person(self, member_id: str, session_id: str) -> dict:
        return self.db.people.find_one({"_id": f"{member_id}:{session_id}"}) or {"own": [], "invited": []}

    # --- departments and the timer's watch list -----------------------------------------------------
    def add_to_inboxes(self, department_ids: list[str], proposal_id: str) -> None:
        for dep in department_ids:
            self.db.inboxes.update_one(
                {"_id": dep}, {"$addToSet": {"proposal_ids": proposal_id}}, upsert=True
            )

    def inbox(self, department_id: str) -> list[str]:
        return (self.db.inboxes.find_one({"_id": department_id}) or {}).get("proposal_ids", [])

    def watch(self, proposal_id: str, at: datetime) -> None:
        """Put a proposal on the reminder watch list, stamped ``at`` (just before its assignment commits)."""
        self.db.watchlist.replace_one({"_id": proposal_id}, {"_id": proposal_id, "at": at}, upsert=True)

    def unwatch(self, proposal_id: str, before: datetime | None = None) -> None:
        """Take a proposal off the watch list; with ``before``, only if it was put there before that time
        (or unstamped): a younger stamp belongs to an assignment still committing, which keeps its place."""
        query: dict = {"_id": proposal_id}
        if before is not None:
            query["$or"] = [{"at": {"$lt": before}}, {"at": {"$exists": False}}]
        self.db.watchlist.delete_one(query)

    def watched(self) -> list[str]:
        """Proposals now with the departments: a scan of ``watchlist``, which holds only those (hundreds
        at most: ~50 µs each on FerretDB)."""
        return [d["_id"] for d in self.db.watchlist.find({})]

    # --- rebuild ---------------------------------------------------------------------------------
    def rebuild_indexes(self) -> dict:
        """Rebuild ``people``, ``inboxes`` and ``watch`` from ``proposals``
        (a full scan: an operator's repair, not a page)."""
        docs = sorted(self.db.proposals.find({}), key=lambda d: (d["session_id"], d["number"]))
        sessions: dict[str, list[str]] = {}
        people: dict[str, dict] = {}
        inboxes: dict[str, list[str]] = {}
        watched = []
        for d in docs:
            sessions.setdefault(d["session_id"], []).append(d["_id"])
            key = f"{d['proposer']['member_id']}:{d['session_id']}"
            people.setdefault(key, {"own": [], "invited": []})["own"].append(d["_id"])
            for p in {p["member_id"] for p in d["invited"]} | set(d.get("cosigner_ids", [])):
                people.setdefault(f"{p}:{d['session_id']}", {"own": [], "invited": []})["invited"].append(
                    d["_id"]
                )
            for r in d.get("rounds", []):
                for dep in r["department_ids"]:
                    if d["_id"] not in inboxes.setdefault(dep, []):
                        inboxes[dep].append(d["_id"])
            if d["state"] == "assigned":
                watched.append(d["_id"])
        self.db.people.delete_many({})
        for key, v in people.items():
            member_id, session_id = key.split(":", 1)
            self.db.people.insert_one({"_id": key, "member_id": member_id, "session_id": session_id, **v})
        self.db.inboxes.delete_many({})
        for dep, ids in inboxes.items():
            self.db.inboxes.insert_one({"_id": dep, "proposal_ids": ids})
        self.db.watchlist.delete_many({})
        if watched:
            self.db.watchlist.insert_many([{"_id": w} for w in watched])
        return {"proposals": len(docs), "sessions": len(sessions), "inboxes": len(inboxes)}
