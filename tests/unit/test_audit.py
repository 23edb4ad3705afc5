"""The audit log without servers: the hash-chain rules (an edited, a deleted, a reordered and a relinked
entry are each reported at the right place), the audit hook's before → after summary and what it never
records, the hook committing its entry in the same outbox write as the change (over the fake database of
tests/unit/test_state.py), and the export's formula-safe cells."""

import pytest

from dmlib import state
from dmlib.audit import AUDIT_EVENT, Audit, role_over, summarise
from dmlib.errors import Conflict
from dmlib.exports import safe_cell
from dmlib.storage import Store
from services.audit import rules
from services.audit.service import content_of
from services.gateway.audit import entries_csv
from tests.helpers import SYSTEM, member, union_admin
from tests.unit.test_state import FakeDb

ADMIN = union_admin("u01", "A0001")


def chain(n: int, union: str = "u01") -> list[dict]:
    entries, prev = [], rules.GENESIS
    for seq in range(1, n + 1):
        content = {"union_id": union, "event_id": f"e{seq}", "action": "congress.x", "changes": [], "at": "t"}
        entry = rules.link(content, seq, prev, f"2026-01-01T00:00:{seq:02d}.000Z")
        entries.append(entry)
        prev = entry["hash"]
    return entries


def test_an_intact_chain_verifies():
    entries = chain(5)
    verdict = rules.verify("u01", entries, head_seq=5)
    assert verdict.ok and verdict.entries == 5
    assert entries[0]["_id"] == "u01:000000000001" and entries[0]["prev_hash"] == rules.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))


def test_an_edited_entry_is_reported_where_it_is():
    entries = chain(5)
    entries[2]["actor"] = {"member_id": "A9999", "name": "someone else"}
    brk = rules.verify("u01", entries, 5).first_break
    assert (brk.seq, brk.kind, brk.entry_id) == (3, "edited", "u01:000000000003")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link():
    entries = chain(5)
    entries[2]["changes"] = [{"field": "state", "before": "a", "after": "b"}]
    entries[2]["hash"] = rules.entry_hash(entries[2])
    brk = rules.verify("u01", entries, 5).first_break
    assert (brk.seq, brk.kind) == (4, "relinked")


def test_a_deleted_entry_leaves_a_gap():
    entries = chain(5)
    del entries[1]
    brk = rules.verify("u01", entries, 5).first_break
    assert (brk.seq, brk.kind) == (2, "deleted")


def test_a_deleted_tail_is_found_against_the_head():
    entries = chain(5)[:3]
    brk = rules.verify("u01", entries, head_seq=5).first_break
    assert (brk.seq, brk.kind) == (4, "deleted")
    assert rules.verify("u01", entries, head_seq=3).ok  # the head may lag, never lead


def test_a_deleted_entry_with_the_rest_renumbered_breaks_the_link():
    entries = chain(5)
    del entries[1]
    for e in entries[1:]:  # renumbered and re-hashed, but the prev_hash still names the deleted one
        e["seq"] -= 1
        e["_id"] = rules.entry_id("u01", e["seq"])
        e["hash"] = rules.entry_hash(e)
    brk = rules.verify("u01", entries, 0).first_break
    assert (brk.seq, brk.kind) == (2, "relinked")


def test_reordered_entries_are_reported():
    entries = chain(5)
    entries[1], entries[2] = entries[2], entries[1]  # read in this order: 1, 3, 2
    assert rules.verify("u01", entries, 5).first_break.kind == "deleted"  # 2 is missing where it belongs
    moved = chain(5)
    moved[1]["_id"] = rules.entry_id("u01", 9)  # stored under another place than its number
    brk = rules.verify("u01", moved, 5).first_break
    assert (brk.seq, brk.kind) == (2, "reordered")


def test_the_hash_is_canonical_and_covers_every_content_field():
    entry = chain(1)[0]
    assert rules.entry_hash(dict(reversed(list(entry.items())))) == entry["hash"]
    for key in rules.CONTENT:
        changed = {**entry, key: "changed"}
        assert rules.entry_hash(changed) != entry["hash"], key


def test_the_hook_summarises_before_and_after_and_never_records_secrets():
    audit = Audit(ADMIN, "union_admin", "congress.session_convened", "session", "s1", "u01", ("ftu", "u01"))
    before = {"_id": "s1", "state": "planned", "count": 2, "title": "x" * 500, "voter_hash": "h"}
    changes = audit.changes(
        before, {"state": "convened", "title": "t", "voter_hash": "h2", "password": "p"}, {"count": 3}
    )
    assert changes == [
        {"field": "state", "before": "planned", "after": "convened"},
        {"field": "title", "before": "x" * 200 + "…", "after": "t"},
        {"field": "count", "before": 2, "after": 5},
    ]
    created = Audit(ADMIN, "union_admin", "congress.term_created", "term", "t1", "u01", fields=("number",))
    assert created.changes(None, {"number": 3, "name": "n"}) == [
        {"field": "number", "before": None, "after": 3}
    ]
    assert summarise(list(range(20))) == "[20 items]" and summarise([[1]]) == "[1 items]"
    assert summarise({"a": 1}) == "{1 fields}"


def test_the_role_used_is_the_nearest_admin_grant():
    both = member("A1", "u01", ("superior_admin", "ftu"), ("union_admin", "u01"))
    assert role_over(both, ["ftu", "u01"]) == "union_admin"
    assert role_over(union_admin("ftu"), ["ftu", "u01"]) == "union_admin"
    assert role_over(member("A2", "u01", ("superior_admin", "ftu")), ["ftu", "u01"]) == "superior_admin"
    assert role_over(member("M1"), ["ftu", "u01"]) == "member"
    assert role_over(SYSTEM, ["u01"]) == "system"


def test_the_entry_commits_in_the_same_write_as_the_change_or_not_at_all():
    db = FakeDb()
    db["sessions"].insert_one({"_id": "s1", "state": "planned", "_v": 4})
    store = Store(db, service="congress", request_id="req-1")
    audit = Audit(ADMIN, "union_admin", "congress.session_convened", "session", "s1", "u01")
    after = store.change(
        "sessions", "s1", expect={"state": "planned"}, set={"state": "convened"}, audit=audit,
        events=[state.event("session_convened", session_id="s1")],
    )  # fmt: skip
    [ours, entry] = sorted(after["outbox"].values(), key=lambda e: e["seq"])
    assert ours["type"] == "session_convened" and entry["type"] == AUDIT_EVENT
    body = entry["body"]
    assert body["changes"] == [{"field": "state", "before": "planned", "after": "convened"}]
    assert (body["service"], body["request_id"], body["role"]) == ("congress", "req-1", "union_admin")
    assert body["actor"] == {"member_id": "A0001", "name": ADMIN.name}
    with pytest.raises(Conflict):  # refused: nothing written, no entry anywhere
        store.change("sessions", "s1", expect={"state": "planned"}, set={"state": "x"}, audit=audit)
    assert len(db["sessions"].find_one({"_id": "s1"})["outbox"]) == 2
    created = store.create("things", {"_id": "t1", "name": "n"}, audit=audit)
    assert [e["type"] for e in created["outbox"].values()] == [AUDIT_EVENT]


def test_the_audit_service_takes_only_a_publishers_own_entries():
    payload = {
        "event_id": "e1", "occurred_at": "2026-01-01T00:00:00.000Z", "service": "congress",
        "action": "congress.session_convened", "actor": {"member_id": "A1", "name": "n"}, "role": "union_admin",
        "object": {"type": "session", "id": "s1"}, "union_id": "u01", "changes": [], "request_id": "r",
    }  # fmt: skip
    content = content_of("congress", payload)
    assert content["at"] == payload["occurred_at"] and content["union_path"] == ["u01"]
    assert content_of("members", payload) is None  # members cannot record a congress change
    assert content_of("congress", {**payload, "action": "voting.ballot_cast"}) is None
    assert content_of("congress", {k: v for k, v in payload.items() if k != "actor"}) is None


def test_exports_never_hold_a_formula():
    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")' and safe_cell("-1") == "'-1"
    assert safe_cell("普通文本") == "普通文本" and safe_cell(3) == 3
    entry = {
        "at": "t", "union_id": "u01", "seq": 1, "actor": {"member_id": "A1", "name": "=cmd|'/C calc'!A0"},
        "role": "union_admin", "action": "congress.x", "object": {"type": "session", "id": "s1"},
        "changes": [], "note": None, "request_id": None, "hash": "h",
    }  # fmt: skip
    text = entries_csv([entry], ["h"] * 12).decode("utf-8-sig")
    assert "'=cmd" in text and ",=cmd" not in text
