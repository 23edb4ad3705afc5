"""Forged, foreign-signed, stale and replayed events change nothing (issue 12), over the real RabbitMQ and
FerretDB: whoever reaches the broker can publish on any exchange, so every handler must refuse what its
source service did not sign (dmlib.rpc.VerifiedEventHandler, docs/events.md, "Verification").

The handlers are collected from the service classes in ``services/``: a new handler without a case in
:data:`CASES` fails :func:`test_every_event_handler_has_a_case`. For each handler, an unsigned event, one
signed with another service's key, a stale one and a replay of a genuine one are published; each is
logged as refused and the service's whole database reads back unchanged, while the genuine one did
change it. Then the scenario of the issue: a session convened, a vote open, a forged ``poll_closed``
with ``yes: 120`` leaves the item open and sends nothing; the real close still decides and notifies.

The audit service's handlers (one per publisher of ``change_recorded``) get the same treatment, and an
entry signed by one publisher but claiming another service's change is not appended. The broadcast
handler ``handle_token_revoked`` (:class:`dmlib.auth.RevocationListener`, in every service and the
gateway) changes memory, not a database, and keeps no replay record (its effect is idempotent): a forged
``token_revoked`` naming a live token is refused and logged by every process and the token still works;
the genuine one makes it 401 everywhere."""

from __future__ import annotations

import importlib
import inspect
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest
from nameko.events import BROADCAST, EventHandler
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from dmlib import state
from dmlib.audit import AUDIT_EVENT, Audit, role_over
from dmlib.auth import Identity, RevocationListener, verify_token
from dmlib.errors import Unauthenticated
from dmlib.events import (
    load_private_key,
    now_iso,
    private_key_config,
    signed_envelope,
)
from dmlib.rpc import VerifiedEventHandler
from dmtools.broker import PUBLISHERS
from services.audit.service import AuditService
from services.congress.service import CongressService
from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.notify.service import NotifyService
from services.voting.service import VotingService
from tests.helpers import (
    AUTH_SECRET,
    ROOT,
    SYSTEM,
    event_recorder,
    import_members,
    member,
    publish_event,
    token,
    union_admin,
    wait_until,
)

pytestmark = pytest.mark.integration

PEOPLE = [(f"D{i:04d}", f"代表{i}", "u01") for i in range(6)]
DELEGATES = [no for no, _, _ in PEOPLE[:3]]
ADMIN = union_admin("u01", "M-ADMIN")
SEEN: list[tuple[str, dict]] = []
#: Records voting's genuine poll_closed as it went over the broker (to replay it byte for byte).
Recorder = event_recorder("forged_events_recorder", "voting", ["poll_closed"], SEEN)


# ----- the handlers and their cases --------------------------------------------------------------------
class Handler(NamedTuple):
    source: str  # the service whose events it takes
    event_type: str
    kind: type  # the entrypoint class
    handler_type: str  # nameko's SERVICE_POOL, SINGLETON or BROADCAST
    fn: Callable  # the method as the class has it (inherited ones included)


def event_handlers() -> dict[tuple[str, str], Handler]:
    """``(service, method) → Handler`` of every event handler of every service class in
    ``services/*/service.py``."""
    found = {}
    for package in sorted(os.listdir(os.path.join(ROOT, "services"))):
        if not os.path.exists(os.path.join(ROOT, "services", package, "service.py")):
            continue
        module = importlib.import_module(f"services.{package}.service")
        for cls in vars(module).values():
            if not (
                inspect.isclass(cls) and cls.__module__ == module.__name__ and getattr(cls, "name", None)
            ):
                continue
            for attr, fn in inspect.getmembers(cls, inspect.isfunction):
                for entrypoint in getattr(fn, "nameko_entrypoints", ()):
                    if isinstance(entrypoint, EventHandler):
                        found[(cls.name, attr)] = Handler(
                            entrypoint.source_service,
                            entrypoint.event_type,
                            type(entrypoint),
                            entrypoint.handler_type,
                            fn,
                        )
    return found


PROPOSAL = {
    "proposal_id": "pr1",
    "session_id": "s1",
    "congress_id": "cg-u01",
    "union_id": "u01",
    "proposer_id": "D0001",
    "cosigner_ids": ["D0002"],
    "department_ids": ["u01-d1"],
    "subject": "改善车间通风",
    "state": "accepted",
}
RESOLUTION = {
    "congress_id": "cg-u01",
    "term_id": "cg-u01-t1",
    "session_id": "s1",
    "item_id": "s1-i1",
    "poll_id": "p1",
    "title": "集体合同草案",
    "yes": 2,
    "no": 0,
    "abstain": 1,
    "ballots": 3,
    "eligible": 3,
    "due": 3,
    "required": 2,
}
DISCLOSURE = {
    "item_id": "d1",
    "union_id": "u01",
    "category": "welfare",
    "title": "食堂账目公开",
    "mandatory": True,
}
SURVEY = {
    "survey_id": "sv-1",
    "union_id": "u01",
    "title": "职工需求调查",
    "anonymous": True,
    "closes_at": "2026-12-31T09:00:00Z",
    "eligible": 3,
}
UNION_PATH = ("ftu", "u01")
CASE_EVENT = {
    "case_id": "26120400001",
    "case_type": "complaint",
    "category": "wage_arrears",
    "title": "拖欠十月工资",
    "state": "received",
    "round": 1,
    "receiving_union_id": "u01",
    "union_id": "u01",
    "union_path": ["ftu", "u01"],
    "worker_id": "D0004",
}


def change(action: str, object_type: str, object_id: str, before: dict | None, after: dict, actor=ADMIN):
    """A ``change_recorded`` payload as its publisher commits it (:meth:`dmlib.audit.Audit.event`, the
    role as the publishers name it), without the envelope's ``event_id`` and ``occurred_at`` (every
    event sent gets its own)."""
    audit = Audit(
        actor=actor,
        role=role_over(actor, UNION_PATH),
        action=action,
        object_type=object_type,
        object_id=object_id,
        union_id="u01",
        union_path=UNION_PATH,
    )
    body = audit.event(before, set=after, request_id=uuid.uuid4().hex)["body"]
    return {k: v for k, v in body.items() if k not in ("event_id", "occurred_at")}


#: (service, handler) → a genuine payload that makes the handler change its database. The congress
#: handler's genuine event comes from voting closing the real poll (test_forged_poll_closed_…).
#: ``handle_token_revoked`` is not here: see :data:`BROADCAST_HANDLERS`.
CASES: dict[tuple[str, str], dict | None] = {
    ("notify", "handle_poll_opened"): {
        "poll_id": "ev1",
        "kind": "rating",
        "owner": "evaluations",
        "ref": "ev1",
    },
    ("notify", "handle_results_published"): {
        "campaign_id": "ev1",
        "union_id": "ftu",
        "homes": 1,
        "ballots": 3,
        "star_levels": {"u01": 4},
    },
    ("notify", "handle_disclosure_published"): {**DISCLOSURE, "revision": 1},
    ("notify", "handle_disclosure_corrected"): {**DISCLOSURE, "revision": 2, "reason": "金额更正"},
    ("notify", "handle_question_answered"): {
        "question_id": "q1",
        "item_id": "d1",
        "union_id": "u01",
        "anonymous": False,
        "asker_id": "D0004",
    },
    ("notify", "handle_session_planned"): {
        "congress_id": "cg-u01",
        "term_id": "cg-u01-t1",
        "session_id": "s1",
    },
    ("notify", "handle_session_convened"): {
        "congress_id": "cg-u01",
        "term_id": "cg-u01-t1",
        "session_id": "s1",
        "due_count": 3,
        "present_count": 3,
    },
    ("notify", "handle_vote_opened"): {
        "congress_id": "cg-u01",
        "session_id": "s1",
        "item_id": "s1-i1",
        "poll_id": "p1",
        "eligible": 3,
    },
    ("notify", "handle_resolution_adopted"): RESOLUTION,
    ("notify", "handle_resolution_failed"): {**RESOLUTION, "yes": 1, "no": 2, "abstain": 0},
    ("notify", "handle_proposal_accepted"): {**PROPOSAL, "reason": ""},
    ("notify", "handle_proposal_assigned"): {**PROPOSAL, "round": 1, "deadline": "2026-12-31T15:59:59Z"},
    ("notify", "handle_proposal_replied"): {**PROPOSAL, "round": 1},
    ("notify", "handle_proposal_overdue"): {
        **PROPOSAL,
        "overdue": True,
        "days_left": -2,
        "deadline": "2026-12-01T15:59:59Z",
        "round": 1,
        "pending_department_ids": ["u01-d1"],
        "day": "2026-12-03",
    },
    ("notify", "handle_case_received"): {**CASE_EVENT, "channel": "online"},
    ("notify", "handle_case_dispatched"): {
        **CASE_EVENT,
        "state": "dispatched",
        "transfer": False,
        "from_union_id": None,
        "direction": None,
        "complexity": "general",
        "deadline": "2026-12-11T16:00:00Z",
        "sign_for_by": "2026-12-07T03:00:00Z",
        "contact_by": "2026-12-07T16:00:00Z",
    },
    ("notify", "handle_case_overdue"): {
        **CASE_EVENT,
        "state": "in_progress",
        "deadline": "2026-12-03T16:00:00Z",
        "supervising_union_id": "ftu",
    },
    ("notify", "handle_case_replied"): {**CASE_EVENT, "state": "replied", "on_time": True},
    ("notify", "handle_case_reminded"): {
        **CASE_EVENT,
        "state": "dispatched",
        "limit": "sign_for",
        "when": "after",
        "due_at": "2026-12-07T03:00:00Z",
    },
    ("notify", "handle_case_supervised"): {
        **CASE_EVENT,
        "state": "signed",
        "supervising_union_id": "ftu",
        "note": "请三日内答复职工",
    },
    ("notify", "handle_survey_opened"): SURVEY,
    ("notify", "handle_survey_reminded"): {**SURVEY, "reminder": 1, "pending": 3},
    ("congress", "handle_poll_closed"): None,
    # forged, and signed-but-lying, election_published: tests/integration/test_congress_election.py
    ("congress", "handle_election_published"): None,
    # the audit log: one handler per publisher of change_recorded
    ("audit", "handle_members_change"): change(
        "members.member_registered",
        "member",
        "D0009",
        None,
        {"member_no": "D0009", "name": "新会员", "union_id": "u01", "national_id_hash": "x" * 64},
    ),
    ("audit", "handle_congress_change"): change(
        "congress.session_convened", "session", "s1", {"state": "planned"}, {"state": "convened"}
    ),
    ("audit", "handle_proposals_change"): change(
        "proposals.proposal_accepted",
        "proposal",
        "pr1",
        {"state": "submitted", "reason": None},
        {"state": "accepted", "reason": "符合立案条件"},
    ),
    ("audit", "handle_voting_change"): change(
        "voting.campaign_opened", "campaign", "ev1", {"status": "draft"}, {"status": "open"}
    ),
    ("audit", "handle_disclosure_change"): change(
        "disclosure.item_published",
        "disclosure",
        "d1",
        None,
        {"title": "食堂账目公开", "category": "welfare", "mandatory": True},
    ),
    ("notify", "handle_round_opened"): {
        "election_id": "el-1",
        "round_id": "el-1-r1",
        "union_id": "u01",
        "n": 1,
        "kind": "first",
        "title": "工会委员会选举",
        "seats": 9,
        "electorate": "union",
        "term_id": None,
    },
    ("notify", "handle_election_published"): {
        "election_id": "el-1",
        "union_id": "u01",
        "title": "工会委员会选举",
        "elected": 9,
    },
    ("audit", "handle_elections_change"): change(
        "elections.voting_opened", "election", "el-1", {"status": "nominating"}, {"status": "voting"}
    ),
    ("audit", "handle_notify_change"): change(
        "notify.preferences_changed",
        "member",
        "D0001",
        {"email": False},
        {"email": True},
        actor=member("D0001", "u01"),
    ),
    ("audit", "handle_cases_change"): change(
        "cases.case_dispatched", "case", "26120400001", {"state": "received"}, {"state": "dispatched"}
    ),
    ("audit", "handle_surveys_change"): change(
        "surveys.survey_opened", "survey", "sv-1", {"status": "draft"}, {"status": "open"}
    ),
}
#: Broadcast handlers, taken in every process that has them (every service through
#: ``dmlib.health.HealthRpc``, and the gateway): method → the one function they must all be. Their
#: effect is in memory and they keep no replay record (dmlib.rpc.VerifiedEventHandler); tested on a
#: running gateway and members by test_forged_token_revoked_….
BROADCAST_HANDLERS = {"handle_token_revoked": RevocationListener.handle_token_revoked}


def test_every_event_handler_has_a_case_and_verifies():
    handlers = event_handlers()
    broadcast = {key for key in handlers if key[1] in BROADCAST_HANDLERS}
    assert set(handlers) - broadcast == set(CASES), "every event handler needs a forged-event case here"
    assert {"gateway", "members", "voting", "congress", "audit"} <= {s for s, _ in broadcast}
    for (service, method), handler in handlers.items():
        assert issubclass(handler.kind, VerifiedEventHandler), (
            f"{service}.{method} is not dmlib.rpc.event_handler"
        )
        if (service, method) in broadcast:
            assert handler.fn is BROADCAST_HANDLERS[method], f"{service}.{method} is not the shared one"
            assert handler.handler_type == BROADCAST, f"{service}.{method}"
        else:
            assert handler.handler_type != BROADCAST, (
                f"{service}.{method}: a broadcast handler without a case"
            )


# ----- publishing as an attacker would ------------------------------------------------------------------
def other_service(config: dict, source: str) -> str:
    return next(
        s for s in ("members", "disclosure", "proposals", "notify", "voting", "congress") if s != source
    )


def key_of(config: dict, service: str):
    return load_private_key(config[private_key_config(service)])


def forgeries(config: dict, source: str, event_type: str, payload: dict) -> dict[str, dict]:
    """reason → body: unsigned, signed with another service's key, stale (properly signed, too old)."""
    unsigned = {**payload, "event_id": uuid.uuid4().hex, "occurred_at": now_iso(), "publisher": source}
    old = (datetime.now(UTC) - timedelta(days=15)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "unsigned": unsigned,
        "bad signature": signed_envelope(
            source, event_type, payload, key_of(config, other_service(config, source))
        ),
        "stale": signed_envelope(source, event_type, {**payload, "occurred_at": old}, key_of(config, source)),
    }


def refusals(caplog, event_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("event refused") and f"event_id={event_id} " in r.getMessage()
    ]


def snapshot(database) -> dict[str, list[str]]:
    """Every document of every collection of a database, as sorted text (what "nothing changed" means)."""
    return {
        name: sorted(repr(sorted(doc.items())) for doc in database[name].find({}))
        for name in sorted(database.list_collection_names())
    }


def without_records(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k != "processed_events"}


def handled(database, method: str, event_id: str) -> bool:
    return bool(database.processed_events.find_one({"_id": f"{method}:{event_id}", "state": "done"}))


def refuse_and_replay(config, caplog, database, method, source, event_type, genuine_payload) -> dict:
    """The three forgeries refused and nothing changed; the genuine event changes the database; its
    replay is refused and changes nothing. Returns the genuine body."""
    dispatch = event_dispatcher(config)
    before = snapshot(database)
    for reason, body in forgeries(config, source, event_type, genuine_payload).items():
        dispatch(source, event_type, body)
        logged = wait_until(lambda body=body: refusals(caplog, body["event_id"]), timeout=15)
        assert f"handler={database.name.split('_', 1)[1]}.{method} source={source}" in logged[0], logged
        assert reason in logged[0], (reason, logged)
        assert snapshot(database) == before, (method, reason)
    genuine = signed_envelope(source, event_type, genuine_payload, key_of(config, source))
    dispatch(source, event_type, genuine)
    wait_until(lambda: handled(database, method, genuine["event_id"]), timeout=30)
    after = snapshot(database)
    assert without_records(after) != without_records(before), f"{method}: the genuine event changed nothing"
    dispatch(source, event_type, genuine)  # the same body again: a replay
    logged = wait_until(lambda: refusals(caplog, genuine["event_id"]), timeout=15)
    assert "replayed" in logged[0]
    assert snapshot(database) == after, f"{method}: the replay changed something"
    return genuine


# ----- notify: every handler ----------------------------------------------------------------------------
class StandInVoting:
    """What notify asks voting (a campaign), without a campaign to set up."""

    name = "voting"

    @rpc
    def get_campaign(self, campaign_id):
        return {
            "id": campaign_id,
            "title": "星级职工之家评选",
            "union_name": "总工会",
            "homes": [{"union_id": "u01"}],
        }


class StandInCongress:
    """What notify asks congress (a session and its delegates)."""

    name = "congress"

    @rpc
    def get_session(self, session_id):
        return {
            "id": session_id,
            "term_id": "cg-u01-t1",
            "union_id": "u01",
            "title": "第一届职代会第一次会议",
            "scheduled_at": "2026-12-05T01:30:00Z",
            "items": [{"id": f"{session_id}-i1", "title": "集体合同草案"}],
        }

    @rpc
    def list_delegates(self, term_id):
        return [{"member_id": m} for m in DELEGATES]


class StandInSurveys:
    """What notify asks surveys (a survey's audience, those who have not answered)."""

    name = "surveys"

    @rpc
    def audience_members(self, survey_id, offset=0, limit=5000):
        members = [{"member_id": m, "locale": "zh-CN"} for m in DELEGATES]
        return {"survey_id": survey_id, "total": len(members), "offset": offset, "members": members[offset:]}

    @rpc
    def pending_members(self, survey_id, offset=0, limit=5000):
        return self.audience_members(survey_id, offset, limit)


class StandInCases:
    """What notify asks cases (the case, for its handling union), without a case to set up."""

    name = "cases"

    @rpc
    def get_case(self, case_id):
        return {**CASE_EVENT, "id": case_id, "handling_union_id": "u01", "handling_union_name": "测试工会"}


def populate(rpc) -> None:
    rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
    rpc.members.create_union({"id": "u01", "name": "测试工会", "kind": "grassroots", "parent_id": "ftu"})
    import_members(rpc, PEOPLE)


def test_forged_and_replayed_events_change_nothing_in_notify(runner_factory, config, rpc_as, db, caplog):
    runner_factory(
        config, MembersService, NotifyService, StandInVoting, StandInCongress, StandInSurveys, StandInCases
    ).start()
    with rpc_as(SYSTEM) as r:
        populate(r)
        r.members.grant_role({"member_id": "D0005", "role": "hotline_staff", "scope": "u01"})  # case staff
    notify = db("notify")
    handlers = event_handlers()
    for (service, method), payload in CASES.items():
        if service != "notify":
            continue
        handler = handlers[(service, method)]
        refuse_and_replay(config, caplog, notify, method, handler.source, handler.event_type, payload)
    with rpc_as(member("D0004", "u01")) as r:  # the genuine events did reach the members
        kinds = {m["kind"] for m in r.notify.inbox({"per_page": 100})["items"]}
    assert {"question_answered", "disclosure_published", "resolution_adopted"} <= kinds


# ----- congress: the scenario of the issue ---------------------------------------------------------------
def test_forged_poll_closed_leaves_the_vote_open_and_sends_nothing(
    container_factory, config, rpc_as, db, caplog
):
    SEEN.clear()
    for cls in (MembersService, VotingService, CongressService, NotifyService, Recorder):
        container_factory(cls, config).start()
    with rpc_as(SYSTEM) as r:
        populate(r)
    with rpc_as(ADMIN) as r:
        r.congress.create_congress({"union_id": "u01"})
        term = r.congress.create_term(
            "cg-u01",
            {"number": 1, "start": "2026-01-01", "end": "2030-12-31", "delegations": [{"name": "一团"}]},
        )
        r.congress.elect_delegates(
            term["id"],
            {"delegates": [{"member_id": m, "delegation_id": "g1", "category": "worker"} for m in DELEGATES]},
        )
        session = r.congress.create_session(
            term["id"], {"title": "第一次会议", "agenda": [{"kind": "resolution", "title": "集体合同草案"}]}
        )
        sid, item_id = session["id"], session["items"][0]["id"]
        for m in DELEGATES:
            r.congress.check_in(sid, {"member_id": m})
        r.congress.convene_session(sid)
        poll_id = r.congress.open_vote(item_id)["poll_id"]
    congress, notify = db("congress"), db("notify")
    # notify has taken the genuine events so far (poll_opened, session_planned/convened, vote_opened)
    wait_until(lambda: notify.processed_events.count_documents({"state": "done"}) == 4, timeout=30)
    sent_before = snapshot(notify)

    forged = {
        "poll_id": poll_id,
        "kind": "choice",
        "owner": "congress",
        "ref": item_id,
        "counts": {"yes": 120, "no": 0, "abstain": 0},
        "ballots": 120,
        "eligible": 3,
    }
    for m in DELEGATES[:2]:  # two real ballots: the poll stays open
        with rpc_as(member(m, "u01")) as r:
            r.congress.cast_vote(item_id, {"choice": "yes"})
    # unsigned, signed with another service's key, stale: refused before the handler runs. The snapshot
    # waits for congress's outbox relay to have published what the set-up committed (under load it may
    # still be at it, and its bookkeeping is not the handler's doing)
    wait_until(lambda: congress[state.PENDING].count_documents({}) == 0, timeout=30)
    before = snapshot(congress)
    dispatch = event_dispatcher(config)
    sent = []
    for reason, body in forgeries(config, "voting", "poll_closed", forged).items():
        sent.append(body["event_id"])
        dispatch("voting", "poll_closed", body)
        logged = wait_until(lambda body=body: refusals(caplog, body["event_id"]), timeout=15)
        assert reason in logged[0] and "handler=congress.handle_poll_closed source=voting" in logged[0]
    assert snapshot(congress) == before
    # even signed with voting's own key, the counts in a message decide nothing: congress asks voting,
    # which says the poll is open
    lying = signed_envelope("voting", "poll_closed", forged, key_of(config, "voting"))
    dispatch("voting", "poll_closed", lying)
    wait_until(lambda: handled(congress, "handle_poll_closed", lying["event_id"]), timeout=15)
    assert without_records(snapshot(congress)) == without_records(before)
    with rpc_as(ADMIN) as r:
        item = next(i for i in r.congress.get_session(sid)["items"] if i["id"] == item_id)
        assert item["state"] == "voting" and not item.get("outcome")
        assert r.voting.get_poll(poll_id)["status"] == "open"
    assert snapshot(notify) == sent_before  # nothing sent to members
    assert not notify.inbox.count_documents({"kind": {"$in": ["resolution_adopted", "resolution_failed"]}})

    # the genuine close: voting publishes poll_closed itself; congress records what voting counted
    with rpc_as(SYSTEM) as r:
        r.voting.close_poll(poll_id)
    wait_until(lambda: congress.items.find_one({"_id": item_id})["state"] == "adopted", timeout=30)
    outcome = congress.items.find_one({"_id": item_id})["outcome"]
    assert (outcome["yes"], outcome["ballots"], outcome["due"]) == (2, 2, 3)
    # the members are told, once each (every member of u01)
    wait_until(
        lambda: notify.inbox.count_documents({"kind": "resolution_adopted"}) == len(PEOPLE), timeout=30
    )

    # a replay of voting's genuine event, byte for byte, is refused and changes nothing
    ours = {lying["event_id"], *sent}
    genuine = wait_until(lambda: [b for e, b in SEEN if e == "poll_closed" and b["event_id"] not in ours])[0]
    assert handled(congress, "handle_poll_closed", genuine["event_id"])
    after = snapshot(congress)
    dispatch("voting", "poll_closed", genuine)
    logged = wait_until(lambda: refusals(caplog, genuine["event_id"]), timeout=15)
    assert "replayed" in logged[0]
    assert snapshot(congress) == after


# ----- audit: every handler, and entries claiming another service's change ------------------------------
def create_unions(rpc) -> None:
    rpc.members.create_union({"id": "ftu", "name": "总工会", "kind": "federation"})
    rpc.members.create_union({"id": "u01", "name": "测试工会", "kind": "grassroots", "parent_id": "ftu"})


def test_forged_and_replayed_changes_leave_the_audit_log_as_it_was(
    runner_factory, config, rpc_as, db, caplog
):
    runner_factory(config, MembersService, AuditService).start()  # members: the unions audit reads by
    with rpc_as(SYSTEM) as r:
        create_unions(r)
    audit = db("audit")
    handlers = event_handlers()
    appended = []
    for (service, method), payload in CASES.items():
        if service != "audit":
            continue
        handler = handlers[(service, method)]
        assert handler.event_type == AUDIT_EVENT and payload["service"] == handler.source
        count = audit.entries.count_documents({})
        genuine = refuse_and_replay(config, caplog, audit, method, handler.source, AUDIT_EVENT, payload)
        assert audit.entries.count_documents({}) == count + 1, f"{method}: not exactly one entry"
        (entry,) = audit.entries.find({"event_id": genuine["event_id"]})
        assert (entry["service"], entry["action"], entry["seq"]) == (
            handler.source,
            payload["action"],
            count + 1,
        )
        appended.append(payload["action"])
    # read back through the service: the genuine entries (one per publisher), in one unbroken chain
    with rpc_as(ADMIN) as r:
        page = r.audit.list_entries({"union_id": "u01", "per_page": 50})
        assert len(appended) == len(PUBLISHERS)
        assert sorted(e["action"] for e in page["items"]) == sorted(appended)
        assert page["total"] == len(appended)
    with rpc_as(SYSTEM) as r:
        assert r.audit.verify_chain({"union_id": "u01"})["ok"]


@pytest.mark.parametrize(
    ("claims", "action"),
    [
        ("voting", "voting.results_published"),  # another service's entry, whole
        ("congress", "voting.results_published"),  # its own name on another service's action
        ("voting", "congress.session_convened"),  # its own action under another service's name
    ],
)
def test_an_entry_signed_by_one_service_claiming_another_services_change_is_not_appended(
    runner_factory, config, db, caplog, claims, action
):
    """Congress's key is good for congress's own entries only: a ``change_recorded`` it signs (so the
    envelope verifies) claiming a ``voting`` change is handled but appends nothing, and is logged."""
    runner_factory(config, AuditService).start()
    audit = db("audit")
    payload = {
        **change(action, "campaign", "ev1", {"status": "open"}, {"status": "published"}),
        "service": claims,
    }
    before = snapshot(audit)
    body = publish_event(config, "congress", AUDIT_EVENT, **payload)
    wait_until(lambda: handled(audit, "handle_congress_change", body["event_id"]), timeout=15)
    assert without_records(snapshot(audit)) == without_records(before)  # no entry, no head, no marker
    assert audit.entries.count_documents({}) == 0
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("event refused: audit entry from congress")
        and body["event_id"] in r.getMessage()
    ]
    assert len(logged) == 1, logged
    # the same entry as its real publisher would sign it is appended: the refusal was about the claim
    if claims == "voting" and action.startswith("voting."):
        genuine = publish_event(config, "voting", AUDIT_EVENT, **payload)
        wait_until(lambda: audit.entries.count_documents({"event_id": genuine["event_id"]}) == 1, timeout=15)


# ----- token_revoked: a broadcast handler in every process, its effect in memory ------------------------
def test_forged_token_revoked_is_refused_everywhere_and_the_token_still_works(
    runner_factory, config, rpc_as, db, caplog, web_session
):
    """The gateway and members each keep their own set of revoked token ids (dmlib.auth.Identity). A
    ``token_revoked`` naming a live token, unsigned, signed with another service's key or stale, is
    refused and logged by both, and the token still answers over HTTP and RPC; the genuine one (signed
    by members) revokes it in both; a copy of it again changes nothing (no replay record: idempotent);
    the real logout revokes another token the same way."""
    runner = runner_factory(config, GatewayService, MembersService)
    runner.start()
    with rpc_as(SYSTEM) as r:
        create_unions(r)
        import_members(r, PEOPLE[:2])
    identities = {
        c.service_name: next(d for d in c.dependencies if isinstance(d, Identity)) for c in runner.containers
    }
    assert set(identities) == {"gateway", "members"}
    wait_until(lambda: all(i.revocations_loaded for i in identities.values()), timeout=30)
    live, other = token(member("D0000", "u01")), token(member("D0001", "u01"))
    claims = verify_token(AUTH_SECRET, live)
    payload = {"token_id": claims.token_id, "expires_at": claims.expires_at}

    def answers(jwt: str) -> tuple[int, bool]:
        """(the gateway's status for /api/v1/me, whether members answers an RPC) with ``jwt``."""
        status = web_session.get("/api/v1/me", headers={"Authorization": f"Bearer {jwt}"}).status_code
        with ClusterRpcProxy(config, context_data={"auth_token": jwt}, timeout=10) as proxy:
            try:
                return status, proxy.members.profile()["id"] is not None
            except Unauthenticated:
                return status, False

    def revoked_in() -> set[str]:
        return {name for name, i in identities.items() if claims.token_id in i.revoked_ids}

    assert answers(live) == (200, True)
    members_db = db("members")
    before = snapshot(members_db)
    dispatch = event_dispatcher(config)
    for reason, body in forgeries(config, "members", "token_revoked", payload).items():
        dispatch("members", "token_revoked", body)
        wait_until(lambda body=body: len(refusals(caplog, body["event_id"])) == 2, timeout=15)  # both
        logged = refusals(caplog, body["event_id"])
        assert {line.split("handler=", 1)[1].split(" ", 1)[0] for line in logged} == {
            "gateway.handle_token_revoked",
            "members.handle_token_revoked",
        }
        assert all(reason in line and "source=members" in line for line in logged), logged
        assert not revoked_in(), reason
        assert answers(live) == (200, True), reason
    assert snapshot(members_db) == before

    genuine = publish_event(config, "members", "token_revoked", **payload)
    wait_until(lambda: revoked_in() == {"gateway", "members"}, timeout=15)
    assert answers(live) == (401, False)
    assert answers(other) == (200, True)  # only that token
    assert not refusals(caplog, genuine["event_id"])
    kept = {name: i.revoked_ids[claims.token_id] for name, i in identities.items()}
    dispatch("members", "token_revoked", genuine)  # again: taken (no replay record), and changes nothing
    later = {"token_id": "sentinel", "expires_at": claims.expires_at}  # sent after it, taken after it
    sentinel = publish_event(config, "members", "token_revoked", **later)
    wait_until(lambda: all("sentinel" in i.revoked_ids for i in identities.values()), timeout=15)
    assert not refusals(caplog, genuine["event_id"]) and not refusals(caplog, sentinel["event_id"])
    assert {name: i.revoked_ids[claims.token_id] for name, i in identities.items()} == kept
    assert answers(live) == (401, False) and answers(other) == (200, True)

    # the real logout (gateway → members.revoke_token, which records and publishes it) revokes it too
    assert (
        web_session.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {other}"}).status_code
        == 204
    )
    wait_until(lambda: answers(other) == (401, False), timeout=15)


# ----- keys ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "service, change, named",
    [
        (CongressService, {"EVENT_KEY_CONGRESS": None}, "EVENT_KEY_CONGRESS"),  # cannot sign
        (CongressService, {"EVENT_KEY_CONGRESS": "not-a-key"}, "EVENT_KEY_CONGRESS"),
        (CongressService, {"EVENT_KEY_CONGRESS": "voting"}, "EVENT_KEY_CONGRESS"),  # another service's key
        (NotifyService, {"EVENT_PUBLIC_KEYS": "drop congress"}, "congress"),  # cannot verify congress
    ],
)
def test_a_service_refuses_to_start_without_its_keys(container_factory, config, service, change, named):
    ((key, value),) = change.items()
    bad = dict(config)
    if value is None:
        bad.pop(key)
    elif value == "voting":
        bad[key] = config["EVENT_KEY_VOTING"]
    elif value == "drop congress":
        bad[key] = ",".join(e for e in config[key].split(",") if not e.startswith("congress:"))
    else:
        bad[key] = value
    container = container_factory(service, bad)
    with pytest.raises(RuntimeError) as refused:
        container.start()
    assert named in str(refused.value)
    assert config["EVENT_KEY_VOTING"] not in str(refused.value)  # names the key, never a value
