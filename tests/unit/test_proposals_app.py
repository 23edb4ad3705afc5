"""Every use case of the proposals service through the hand-written fake store (no RabbitMQ, no
FerretDB): what it changes, what it commits to the outbox, and that a refusal writes nothing."""

from datetime import UTC, datetime, timedelta

import pytest

from dmlib.errors import BadInput, Conflict, Forbidden, NotFound, ServiceError
from services.gateway.wording import REASONS, po_translations, refusal_text
from services.proposals import app, views
from tests.helpers import member, union_admin
from tests.unit.proposals_fakes import FakeProposalsStore

T0 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
SID = "cg-u01-t1-s1"
CONGRESS = "cg-u01"
ADMIN = union_admin("u01")
SYSTEM = member("SYS", None, ("system", "*"))
H1 = member("H0001", "u01", ("handler", "u01-d1"))
H2 = member("H0002", "u01", ("handler", "u01-d2"))
OUTSIDER = member("X0001", "u02", ("union_admin", "u02"))


def d(n: int):
    return member(f"D000{n}", "u01", ("delegate", CONGRESS), name=f"代表{n}")


DRAFT = {
    "subject": "关于改善职工食堂的提案",
    "category": "welfare",
    "reasons": "食堂菜品单一，价格偏高，职工意见较大。",
    "measures": "引入竞争机制，每季度开展满意度测评。",
    "invite": [],
}


class Peers:
    def __init__(self):
        self.fresh_asks = 0

    def session(self, session_id):
        if session_id != SID:
            raise NotFound("no session")
        return {"union_id": "u01", "congress_id": CONGRESS, "term_id": "cg-u01-t1", "title": "一届一次"}

    def union(self, union_id):
        return {"id": union_id, "path": ["ftu", union_id], "name": "一号工会"}

    def delegates(self, term_id):
        return {f"D000{n}": f"代表{n}" for n in range(1, 6)}

    def departments(self, union_id, fresh=False):
        self.fresh_asks += fresh
        return {"u01-d1": "后勤部", "u01-d2": "人事部"}


class Clock:
    def __init__(self):
        self.at = T0

    def __call__(self):
        return self.at


@pytest.fixture
def world():
    store, clock, peers = FakeProposalsStore(), Clock(), Peers()
    app.open_window(store, ADMIN, clock, peers, SID, {"min_cosigners": 1, "deadline_days": 20})
    return store, clock, peers


def submitted(world, n=1, cosigner=2):
    store, clock, peers = world
    p = app.create_proposal(store, d(n), clock, peers, SID, {**DRAFT, "invite": [f"D000{cosigner}"]})
    app.cosign(store, d(cosigner), clock, p["_id"])
    return app.submit(store, d(n), clock, p["_id"])


def assigned(world, deps=("u01-d1",)):
    store, clock, peers = world
    p = submitted(world)
    app.review(store, ADMIN, clock, p["_id"], {"decision": "accept", "reason": ""})
    return app.assign(
        store, ADMIN, clock, peers, p["_id"], {"department_ids": list(deps), "deadline_days": None}
    )


def types(store):
    """The domain events committed, in order (the audit entries: :func:`audits`)."""
    return [t for t, _ in store.committed() if t != "change_recorded"]


def audits(store):
    """The audit entries committed, in order."""
    return [b for _, b in store.committed("change_recorded")]


def test_windows_open_close_reopen_keep_the_numbers(world):
    store, clock, peers = world
    app.create_proposal(store, d(1), clock, peers, SID, DRAFT)
    closed = app.close_window(store, ADMIN, clock, SID)
    assert closed["status"] == "closed" and closed["seq"] == 1
    with pytest.raises(Conflict, match="not open"):
        app.close_window(store, ADMIN, clock, SID)
    with pytest.raises(Conflict, match="not open"):
        app.create_proposal(store, d(1), clock, peers, SID, DRAFT)
    again = app.open_window(store, ADMIN, clock, peers, SID, {"min_cosigners": 2, "deadline_days": 10})
    assert again["status"] == "open" and again["seq"] == 1 and again["min_cosigners"] == 2
    assert types(store) == [
        "proposal_window_opened",
        "proposal_window_closed",
        "proposal_window_opened",
    ]
    assert views.window(again)["proposal_count"] == 1
    assert [w["_id"] for w in app.list_windows(store, d(1), CONGRESS)] == [SID]
    assert app.get_window(store, d(1), peers, SID)["status"] == "open"


def test_a_window_never_opened_reads_as_none_and_only_admins_open_one():
    store, clock, peers = FakeProposalsStore(), Clock(), Peers()
    none = app.get_window(store, d(1), peers, SID)
    assert views.window(none)["status"] == "none" and views.window(none)["proposal_count"] == 0
    with pytest.raises(Forbidden, match="only admins"):
        app.open_window(store, d(1), clock, peers, SID, {"min_cosigners": 1, "deadline_days": 20})
    with pytest.raises(NotFound):
        app.close_window(store, ADMIN, clock, SID)
    assert store.writes == 0 and store.committed() == []


def test_one_proposal_through_every_state_with_a_dissatisfied_round(world):
    store, clock, peers = world
    p = app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "invite": ["D0002"]})
    assert p["_id"] == f"{SID}-p001" and p["state"] == "draft" and p["_v"] == 0
    p = app.cosign(store, d(2), clock, p["_id"])
    p = app.submit(store, d(1), clock, p["_id"])
    p = app.review(store, ADMIN, clock, p["_id"], {"decision": "accept", "reason": ""})
    p = app.assign(
        store, ADMIN, clock, peers, p["_id"], {"department_ids": ["u01-d1", "u01-d2"], "deadline_days": None}
    )
    assert p["state"] == "assigned" and p["pending_departments"] == ["u01-d1", "u01-d2"]
    assert store.watched() == [p["_id"]] and store.inbox("u01-d2") == [p["_id"]]
    p = app.reply(store, H1, clock, p["_id"], {"text": "已安排后勤部整改食堂。", "department_id": None})
    assert p["state"] == "assigned" and p["pending_departments"] == ["u01-d2"]
    p = app.reply(store, H2, clock, p["_id"], {"text": "人事部配合开展测评。", "department_id": None})
    assert p["state"] == "replied" and store.watched() == []
    p = app.rate(store, d(1), clock, p["_id"], {"satisfaction": "dissatisfied", "comment": "未落实"})
    assert p["state"] == "assigned" and p["round"] == 2 and len(p["rounds"]) == 2
    p = app.reply(store, H1, clock, p["_id"], {"text": "第二轮：已更换供应商。", "department_id": None})
    p = app.reply(store, H2, clock, p["_id"], {"text": "第二轮：测评已开展。", "department_id": None})
    p = app.rate(store, d(1), clock, p["_id"], {"satisfaction": "satisfied", "comment": ""})
    assert p["state"] == "closed" and p["closed_at"] == T0
    p = app.rate(store, d(2), clock, p["_id"], {"satisfaction": "partly", "comment": ""})
    p = app.mark_excellent(store, ADMIN, clock, p["_id"])
    assert p["excellent"] is True
    assert types(store) == [
        "proposal_window_opened",
        "cosigners_invited",
        "proposal_cosigned",
        "proposal_submitted",
        "proposal_accepted",
        "proposal_assigned",
        "proposal_replied",
        "proposal_rated",
        "proposal_assigned",
        "proposal_replied",
        "proposal_rated",
        "proposal_closed",
        "proposal_rated",
        "proposal_marked_excellent",
    ]
    closed = store.committed("proposal_closed")[0][1]
    assert closed["state"] == "closed" and closed["rounds"] == 2 and closed["satisfaction"] == "satisfied"
    assert closed["department_ids"] == ["u01-d1", "u01-d2"] and closed["event_id"]
    assert [b["round"] for _, b in store.committed("proposal_assigned")] == [1, 2]
    assert [h["action"] for h in p["history"]].count("reply") == 4
    out = views.proposal(p, d(1), T0)
    assert out["my_roles"] == ["cosigner", "delegate", "proposer"] and out["rounds"][1]["on_time"] is True


def test_a_stale_read_loses_to_the_first_writer_and_writes_nothing(world):
    store, clock, _ = world
    p = submitted(world)
    stale = store.get(p["_id"])
    app.review(store, ADMIN, clock, p["_id"], {"decision": "accept", "reason": ""})
    before = store.get(p["_id"])
    with pytest.raises(Conflict, match="changed by someone else") as lost:
        app.commit(store, stale, {"state": "rejected"})
    assert lost.value.details == {"proposal_id": p["_id"], "expected_state": "submitted", "reason": "stale"}
    assert store.get(p["_id"]) == before and types(store).count("proposal_accepted") == 1


def test_a_delegates_usual_refusals_carry_their_own_reason_and_sentence(world):
    """Issue 16: the refusals a delegate meets most have a reason code of their own, so the page shows
    its catalogue sentence (services/gateway/wording.py), not the error type's general one."""
    store, clock, _ = world
    pid = submitted(world)["_id"]
    zh = po_translations()
    for call, reason in (
        (lambda: app.submit(store, d(2), clock, pid), "not_your_step"),  # a co-signer submits
        (lambda: app.submit(store, d(1), clock, pid), "proposal_moved_on"),  # submitted already
        (lambda: app.mark_excellent(store, ADMIN, clock, pid), "proposal_moved_on"),  # not closed
        (
            lambda: app.close_window(store, ADMIN, clock, SID) and app.close_window(store, ADMIN, clock, SID),
            "window_not_open",
        ),
    ):
        with pytest.raises(ServiceError) as refused:
            call()
        assert refused.value.reason == reason
        assert refusal_text(refused.value, lambda t: zh.get(t, t)) == zh[REASONS[reason][1]]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda s, c, p, pid: app.review(s, d(1), c, pid, {"decision": "accept", "reason": ""}),
            Forbidden,
            "only an admin",
        ),
        (
            lambda s, c, p, pid: app.review(s, OUTSIDER, c, pid, {"decision": "accept", "reason": ""}),
            Forbidden,
            "only an admin",
        ),
        (lambda s, c, p, pid: app.mark_excellent(s, ADMIN, c, pid), Conflict, "cannot mark excellent"),
        (lambda s, c, p, pid: app.cosign(s, d(1), c, pid), Forbidden, "cannot co-sign your own"),
        (lambda s, c, p, pid: app.submit(s, d(2), c, pid), Forbidden, "only the proposer"),
        (
            lambda s, c, p, pid: app.reply(s, H1, c, pid, {"text": "x" * 10, "department_id": None}),
            Conflict,
            "cannot reply",
        ),
        (
            lambda s, c, p, pid: app.rate(s, d(3), c, pid, {"satisfaction": "satisfied", "comment": ""}),
            Forbidden,
            "proposer or a co-signer",
        ),
        (
            lambda s, c, p, pid: app.rate(s, d(2), c, pid, {"satisfaction": "satisfied", "comment": ""}),
            Conflict,
            "no reply to rate",
        ),
        (
            lambda s, c, p, pid: app.assign(
                s, ADMIN, c, p, pid, {"department_ids": ["u01-d1"], "deadline_days": 5}
            ),
            Conflict,
            "cannot assign",
        ),
        (lambda s, c, p, pid: app.backdate(s, ADMIN, pid, 3), Forbidden, "system only"),
        (
            lambda s, c, p, pid: app.get_proposal(s, member("X0002", "u02"), pid),
            Forbidden,
            "only members of this union",
        ),
    ],
)
def test_refusals_write_nothing(world, call, error, match):
    store, clock, peers = world
    pid = submitted(world)["_id"]
    before, writes = store.get(pid), store.writes
    with pytest.raises(error, match=match):
        call(store, clock, peers, pid)
    assert store.get(pid) == before and store.writes == writes


def test_drafting_checks_the_drafter_the_invitees_and_the_cosigners(world):
    store, clock, peers = world
    with pytest.raises(Forbidden, match="only delegates"):
        app.create_proposal(store, member("M0005", "u01"), clock, peers, SID, DRAFT)
    with pytest.raises(BadInput) as bad:
        app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "invite": ["D0001", "X9"]})
    assert set(bad.value.fields["invite"]) == {"0", "1"}
    with pytest.raises(NotFound):
        app.create_proposal(store, d(1), clock, peers, "nope", DRAFT)
    p = app.create_proposal(store, d(1), clock, peers, SID, DRAFT)
    app.cosign(store, d(2), clock, p["_id"])
    with pytest.raises(Conflict, match="already co-signed"):
        app.cosign(store, d(2), clock, p["_id"])
    app.open_window(store, ADMIN, clock, peers, SID, {"min_cosigners": 3, "deadline_days": 20})
    with pytest.raises(Conflict) as short:
        app.submit(store, d(1), clock, p["_id"])
    assert short.value.details == {"cosigners": 1, "required": 3, "missing": 2, "reason": "cosigners_needed"}
    app.close_window(store, ADMIN, clock, SID)
    with pytest.raises(Conflict, match="only while the collection window is open"):
        app.submit(store, d(1), clock, p["_id"])
    with pytest.raises(Conflict, match="not open"):
        app.cosign(store, d(3), clock, p["_id"])


def test_review_rejects_and_assignment_checks_departments(world):
    store, clock, peers = world
    p = submitted(world)
    with pytest.raises(Forbidden):
        app.assign(
            store, OUTSIDER, clock, peers, p["_id"], {"department_ids": ["u01-d1"], "deadline_days": 5}
        )
    rejected = app.review(
        store, ADMIN, clock, p["_id"], {"decision": "reject", "reason": "已在集体合同中约定"}
    )
    assert rejected["state"] == "rejected" and rejected["review"]["reason"] == "已在集体合同中约定"
    assert store.committed("proposal_rejected")[0][1]["reason"] == "已在集体合同中约定"
    q = submitted(world, n=3, cosigner=4)
    app.review(store, ADMIN, clock, q["_id"], {"decision": "accept", "reason": ""})
    with pytest.raises(BadInput) as bad:
        app.assign(store, ADMIN, clock, peers, q["_id"], {"department_ids": ["u01-d9"], "deadline_days": 5})
    assert "department_ids" in bad.value.fields and peers.fresh_asks == 1


def test_replies_are_for_assigned_departments_once_a_round(world):
    store, clock, _ = world
    p = assigned(world)
    with pytest.raises(Forbidden, match="not assigned to your department"):
        app.reply(store, H2, clock, p["_id"], {"text": "不是本部门的提案。", "department_id": None})
    with pytest.raises(Forbidden, match="do not handle that department"):
        app.reply(store, H1, clock, p["_id"], {"text": "代别的部门答复。", "department_id": "u01-d2"})
    app.reply(store, H1, clock, p["_id"], {"text": "已安排整改。", "department_id": "u01-d1"})
    with pytest.raises(Conflict, match="cannot reply"):
        app.reply(store, H1, clock, p["_id"], {"text": "再答复一次。", "department_id": None})
    app.rate(store, d(1), clock, p["_id"], {"satisfaction": "partly", "comment": ""})
    with pytest.raises(Conflict, match="already rated"):
        app.rate(store, d(1), clock, p["_id"], {"satisfaction": "partly", "comment": ""})
    app.mark_excellent(store, ADMIN, clock, p["_id"])
    with pytest.raises(Conflict, match="already marked excellent"):
        app.mark_excellent(store, ADMIN, clock, p["_id"])


def test_reading_lists_filter_entries_of_writes_that_never_committed(world):
    store, clock, peers = world
    p = assigned(world)
    draft = app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "invite": ["D0003"]})
    # what a writer that died before its commit leaves: list entries naming proposals that are not theirs
    store.note_person("D0001", SID, "own", "ghost")
    store.note_person("D0004", SID, "invited", p["_id"])
    store.add_to_inboxes(["u01-d2"], p["_id"])
    window, own, invitations = app.my_proposals(store, d(1), peers, SID)
    assert window["_id"] == SID and [x["_id"] for x in own] == [p["_id"], draft["_id"]]
    assert app.my_proposals(store, d(4), peers, SID)[2] == []
    assert [x["_id"] for x in app.my_proposals(store, d(3), peers, SID)[2]] == [draft["_id"]]
    assert app.inbox(store, H2, "u01-d2") == []
    assert [x["_id"] for x in app.inbox(store, H1, "u01-d1")] == [p["_id"]]
    with pytest.raises(Forbidden):
        app.inbox(store, H2, "u01-d1")
    assert [x["_id"] for x in app.list_session(store, member("M0009", "u01"), SID, "public")] == [p["_id"]]
    assert [x["_id"] for x in app.list_session(store, ADMIN, SID, "desk")] == [p["_id"]]
    with pytest.raises(Forbidden):
        app.list_session(store, d(1), SID, "desk")
    with pytest.raises(BadInput):
        app.list_session(store, ADMIN, SID, "all")
    with pytest.raises(Forbidden, match="draft"):
        app.get_proposal(store, member("M0009", "u01"), draft["_id"])
    assert app.get_proposal(store, d(3), draft["_id"])["_id"] == draft["_id"]
    stats = app.statistics(store, member("M0009", "u01"), clock, SID)
    assert stats["submitted"] == 1 and stats["assigned_open"] == 1
    window, docs = app.register(store, ADMIN, SID)
    assert [x["_id"] for x in docs] == [p["_id"]]
    with pytest.raises(Forbidden):
        app.register(store, d(1), SID)


def test_reminders_once_per_proposal_per_day_however_often_the_round_runs(world):
    store, clock, _ = world
    late = assigned(world)
    store.watch("gone", T0)  # a watch entry whose proposal never committed: dropped once it is old
    now = T0 + timedelta(days=21)
    for minute in range(0, 600, 10):  # sixty ticks over ten hours of one day
        app.reminder_round(store, now + timedelta(minutes=minute))
    overdue = store.committed("proposal_overdue")
    assert (
        len(overdue) == 1 and overdue[0][1]["proposal_id"] == late["_id"] and overdue[0][1]["overdue"] is True
    )
    assert overdue[0][1]["pending_department_ids"] == ["u01-d1"] and store.watched() == [late["_id"]]
    assert app.send_reminders(store, SYSTEM, clock, (now + timedelta(days=1)).isoformat())["published"] == 1
    with pytest.raises(Forbidden):
        app.send_reminders(store, ADMIN, clock, None)
    with pytest.raises(BadInput):
        app.send_reminders(store, SYSTEM, clock, "2026-04-01T10:00:00")


def test_backdate_moves_every_time_and_rebuild_is_for_the_system(world):
    store, clock, _ = world
    p = assigned(world)
    moved = app.backdate(store, SYSTEM, p["_id"], 30)
    assert moved["created_at"] == T0 - timedelta(days=30) and moved["_v"] == p["_v"] + 1
    assert moved["rounds"][0]["deadline"] == p["rounds"][0]["deadline"] - timedelta(days=30)
    with pytest.raises(BadInput):
        app.backdate(store, SYSTEM, p["_id"], 0)
    with pytest.raises(Forbidden):
        app.rebuild_indexes(store, ADMIN)
    assert app.rebuild_indexes(store, SYSTEM)["proposals"] == 1
    assert store.watched() == [p["_id"]]


# --- the audit log ---------------------------------------------------------------------------------
def _new_audits(store, call):
    """Run ``call`` and return the audit entries it committed."""
    before = len(audits(store))
    call()
    return audits(store)[before:]


def test_every_change_by_a_person_leaves_one_audit_entry(world):
    store, clock, peers = world
    [opened] = audits(store)
    assert opened["action"] == "proposals.window_opened" and opened["object"] == {"type": "window", "id": SID}
    assert opened["role"] == "union_admin" and opened["union_path"] == ["ftu", "u01"]
    assert {c["field"]: c["after"] for c in opened["changes"]} == {
        "status": "open",
        "min_cosigners": 1,
        "deadline_days": 20,
    }
    p = app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "invite": ["D0002"]})
    app.cosign(store, d(2), clock, p["_id"])
    app.submit(store, d(1), clock, p["_id"])
    app.review(store, ADMIN, clock, p["_id"], {"decision": "accept", "reason": ""})
    app.assign(store, ADMIN, clock, peers, p["_id"], {"department_ids": ["u01-d1"], "deadline_days": 10})
    app.reply(store, H1, clock, p["_id"], {"text": "已整改。", "department_id": None})
    app.rate(store, d(1), clock, p["_id"], {"satisfaction": "satisfied", "comment": ""})
    app.rate(store, d(2), clock, p["_id"], {"satisfaction": "partly", "comment": ""})
    app.mark_excellent(store, ADMIN, clock, p["_id"])
    app.close_window(store, ADMIN, clock, SID)
    app.send_reminders(store, SYSTEM, clock, None)  # the system: never audited
    app.backdate(store, SYSTEM, p["_id"], 3)
    entries = audits(store)
    assert [(e["action"], e["actor"]["member_id"], e["role"]) for e in entries] == [
        ("proposals.window_opened", "A0000001", "union_admin"),
        ("proposals.proposal_drafted", "D0001", "delegate"),
        ("proposals.proposal_cosigned", "D0002", "delegate"),
        ("proposals.proposal_submitted", "D0001", "delegate"),
        ("proposals.proposal_accepted", "A0000001", "union_admin"),
        ("proposals.proposal_assigned", "A0000001", "union_admin"),
        ("proposals.proposal_replied", "H0001", "handler"),
        ("proposals.proposal_rated", "D0001", "delegate"),
        ("proposals.proposal_rated", "D0002", "delegate"),
        ("proposals.proposal_marked_excellent", "A0000001", "union_admin"),
        ("proposals.window_closed", "A0000001", "union_admin"),
    ]
    assert {e["union_id"] for e in entries} == {"u01"}
    changes = {e["action"]: {c["field"]: (c["before"], c["after"]) for c in e["changes"]} for e in entries}
    assert changes["proposals.proposal_drafted"] == {
        "subject": (None, DRAFT["subject"]),
        "category": (None, "welfare"),
        "state": (None, "draft"),
    }
    assert changes["proposals.proposal_cosigned"] == {"cosigner_ids": ([], ["D0002"])}
    assert changes["proposals.proposal_submitted"] == {"state": ("draft", "submitted")}
    assert changes["proposals.proposal_replied"]["state"] == ("assigned", "replied")
    assert changes["proposals.proposal_marked_excellent"] == {"excellent": (False, True)}
    assert entries[1]["note"] == {"invited": ["D0002"]} and entries[5]["note"] == {"deadline_days": 10}
    assert entries[7]["note"] == {"satisfaction": "satisfied", "round": 1}


@pytest.mark.parametrize(
    ("step", "refused", "allowed"),
    [
        ("close_window", lambda w, p: app.close_window(w[0], d(1), w[1], SID), ADMIN),
        ("cosign", lambda w, p: app.cosign(w[0], d(1), w[1], p["_id"]), d(2)),
        ("submit", lambda w, p: app.submit(w[0], d(2), w[1], p["_id"]), d(1)),
    ],
)
def test_a_refused_change_leaves_no_audit_entry_an_allowed_one_exactly_one(world, step, refused, allowed):
    store, clock, peers = world
    p = app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "invite": ["D0002"]})
    if step == "submit":
        app.cosign(store, d(2), clock, p["_id"])
    with pytest.raises((Forbidden, Conflict)):
        _new_audits(store, lambda: refused(world, p))
    assert _new_audits(store, lambda: None) == []
    call = {
        "close_window": lambda: app.close_window(store, allowed, clock, SID),
        "cosign": lambda: app.cosign(store, allowed, clock, p["_id"]),
        "submit": lambda: app.submit(store, allowed, clock, p["_id"]),
    }[step]
    [entry] = _new_audits(store, call)
    assert entry["actor"]["member_id"] == allowed.member_id
    with pytest.raises(Conflict):  # the same change again: refused, no second entry
        _new_audits(store, call)
    assert len([e for e in audits(store) if e["action"] == entry["action"]]) == 1


def test_review_assign_reply_and_rate_refused_leave_no_audit_entry(world):
    store, clock, peers = world
    p = assigned(world)
    count = len(audits(store))
    for call in (
        lambda: app.review(store, ADMIN, clock, p["_id"], {"decision": "reject", "reason": "再审"}),
        lambda: app.assign(
            store, OUTSIDER, clock, peers, p["_id"], {"department_ids": ["u01-d1"], "deadline_days": None}
        ),
        lambda: app.reply(store, H2, clock, p["_id"], {"text": "非本部门", "department_id": None}),
        lambda: app.rate(store, d(1), clock, p["_id"], {"satisfaction": "satisfied", "comment": ""}),
        lambda: app.mark_excellent(store, ADMIN, clock, p["_id"]),
    ):
        with pytest.raises((Forbidden, Conflict)):
            call()
    assert len(audits(store)) == count


def test_a_draft_retried_with_its_key_is_drafted_once(world):
    store, clock, peers = world
    first = app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "client_key": "p-1"})
    again = app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "client_key": "p-1"})
    assert again == first and len(store.col("proposals")) == 1
    other = app.create_proposal(store, d(2), clock, peers, SID, {**DRAFT, "client_key": "p-1"})
    assert other["_id"] != first["_id"]  # another delegate's key is another request


# --- what needs me (issue 16) ----------------------------------------------------------------------
def _needs(store, actor, clock):
    out = app.needs_of(store, actor, clock)
    return [(i["kind"], i["id"]) for i in out["items"]], {(q["kind"], q["scope"]): q for q in out["queues"]}


def test_needs_of_shows_a_delegate_their_draft_and_the_invitation_until_they_cosign(world):
    store, clock, peers = world
    p = app.create_proposal(store, d(1), clock, peers, SID, {**DRAFT, "invite": ["D0002"]})
    assert _needs(store, d(1), clock)[0] == [("proposal_draft", p["_id"])]
    items, queues = _needs(store, d(2), clock)
    assert items == [("proposal_cosign", p["_id"])] and queues == {}
    assert _needs(store, d(3), clock)[0] == []  # not invited
    app.cosign(store, d(2), clock, p["_id"])
    assert _needs(store, d(2), clock)[0] == []


def test_needs_of_gives_the_admin_the_review_desk_with_the_oldest_submission(world):
    store, clock, _ = world
    submitted(world)
    clock.at = T0 + timedelta(days=3)
    items, queues = _needs(store, ADMIN, clock)
    assert items == []
    review = queues[("proposals_to_review", "u01")]
    assert review["count"] == 1 and review["oldest_at"] == T0 and review["union_id"] == "u01"
    assert queues[("proposals_open", "u01")]["count"] == 1
    assert _needs(store, OUTSIDER, clock)[1] == {}  # another union's admin


def test_needs_of_gives_handlers_their_inbox_with_overdue_and_the_proposer_the_reply_to_rate(world):
    store, clock, _ = world
    p = assigned(world)
    clock.at = T0 + timedelta(days=25)  # past the 20-day deadline
    _, queues = _needs(store, H1, clock)
    inbox = queues[("proposals_to_reply", "u01-d1")]
    assert (inbox["count"], inbox["overdue"], inbox["oldest_at"], inbox["scope_name"]) == (1, 1, T0, "后勤部")
    assert queues.get(("proposals_to_reply", "u01-d2")) is None and _needs(store, H2, clock)[1] == {
        ("proposals_to_reply", "u01-d2"): {
            "kind": "proposals_to_reply",
            "scope": "u01-d2",
            "scope_name": "",
            "union_id": None,
            "count": 0,
            "oldest_at": None,
            "overdue": 0,
        }
    }
    assert _needs(store, ADMIN, clock)[1][("proposals_open", "u01")]["overdue"] == 1
    app.reply(store, H1, clock, p["_id"], {"text": "已安排后勤部整改食堂。", "department_id": None})
    assert _needs(store, H1, clock)[1][("proposals_to_reply", "u01-d1")]["count"] == 0
    assert _needs(store, d(1), clock)[0] == [("proposal_rate", p["_id"])]
    assert _needs(store, d(2), clock)[0] == [("proposal_rate", p["_id"])]  # the co-signer rates too
    app.rate(store, d(1), clock, p["_id"], {"satisfaction": "satisfied", "comment": ""})
    assert _needs(store, d(1), clock)[0] == []


# ----- queues (issue 16): the desk and the inbox page, filter, search and sort -------------------------
def test_the_review_desk_pages_filters_searches_and_sorts_in_a_stable_order(world):
    store, clock, peers = world
    ids = [submitted(world, n=1 + i % 3, cosigner=4)["_id"] for i in range(7)]
    app.create_proposal(store, d(1), clock, peers, SID, DRAFT)  # a draft: never on the desk
    app.review(store, ADMIN, clock, ids[2], {"decision": "reject", "reason": "不属于职代会职权"})
    app.review(store, ADMIN, clock, ids[4], {"decision": "accept", "reason": ""})

    def desk(**kw):
        out = app.queue(store, ADMIN, {"session_id": SID, "page": 1, "per_page": 3, **kw})
        return [p["_id"] for p in out["items"]], out

    first, out = desk()
    assert first == ids[:3] and out["total"] == 7 and out["pages"] == 3 and out["sort"] == "number"
    assert out["counts"] == {"submitted": 5, "rejected": 1, "accepted": 1}
    assert desk(page=3)[0] == ids[6:]
    assert desk(sort="-number")[0] == ids[::-1][:3]
    assert desk(state="submitted", per_page=10)[0] == [i for i in ids if i not in (ids[2], ids[4])]
    assert desk(sort="state", per_page=10)[0][:5] == [i for i in ids if i not in (ids[2], ids[4])]
    assert desk(q="7")[0] == [ids[6]]  # a number
    assert desk(q="代表2", per_page=10)[0] == [ids[1], ids[4]]  # the proposer's name
    assert desk(q="食堂")[1]["total"] == 7  # the subject
    assert desk(page=9)[0] == []
    with pytest.raises(Forbidden):
        app.queue(store, OUTSIDER, {"session_id": SID})
    with pytest.raises(Forbidden):
        app.queue(store, H1, {"session_id": SID})


def test_the_inbox_pages_with_the_department_name_and_awaiting_first(world):
    store, clock, peers = world
    first = assigned(world)
    second = assigned(world)
    app.reply(
        store, H1, clock, first["_id"], {"text": "已增加三个窗口，菜品每周更新。", "department_id": "u01-d1"}
    )
    out = app.queue(store, H1, {"department_id": "u01-d1", "page": 1, "per_page": 1})
    assert [p["_id"] for p in out["items"]] == [second["_id"]]  # awaiting the reply first
    assert out["department"] == {"id": "u01-d1", "name": "后勤部"}
    assert out["total"] == 2 and out["pages"] == 2 and out["awaiting"] == 1
    assert out["counts"] == {"assigned": 1, "replied": 1}
    done = app.queue(store, H1, {"department_id": "u01-d1", "awaiting": False})
    assert [p["_id"] for p in done["items"]] == [first["_id"]]
    with pytest.raises(Forbidden):
        app.queue(store, H2, {"department_id": "u01-d1"})


def test_a_reminder_round_during_an_assignment_keeps_its_watch_entry(world):
    """The watch entry is written just before the assignment commits; a round that reads the proposal
    still accepted in between must not drop it, or the proposal is never reminded (seen as a flaky
    integration test with a 0.05 s timer)."""
    store, clock, _ = world
    store.watch("p-being-assigned", T0)
    app.reminder_round(store, T0 + timedelta(seconds=1))  # its proposal is not (yet) assigned
    assert "p-being-assigned" in store.watched()
    app.reminder_round(store, T0 + app.WATCH_GRACE + timedelta(seconds=1))  # never committed: dropped
    assert "p-being-assigned" not in store.watched()
