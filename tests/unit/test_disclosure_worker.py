"""The disclosure service's checks with nameko's worker_factory: dependencies are mocks, no servers.
Every refusal happens before anything is written."""

import base64

import pytest
from nameko.testing.services import worker_factory

from dmlib.errors import BadInput, Conflict, Forbidden, PayloadTooLarge
from services.disclosure.service import DisclosureService
from tests.helpers import member, union_admin

ITEM = {"category": "safety", "period": "2026-03", "title": "三月安全检查", "body": "隐患12项"}
U01 = {"id": "u01", "name": "u01工会", "kind": "grassroots", "path": ["ftu", "u01"], "member_count": 10}


def service(actor, limit=100):
    svc = worker_factory(DisclosureService)
    svc.identity.actor = actor
    svc.settings.max_attachment_bytes = limit
    svc.settings.asker_hash.side_effect = lambda m: f"h-{m}"
    svc.members_rpc.get_union.return_value = U01
    return svc


@pytest.mark.parametrize("actor", [member("M1", "u01"), union_admin("u02"), member("M9", None)])
def test_only_admins_of_the_union_publish(actor):
    svc = service(actor)
    with pytest.raises(Forbidden):
        svc.publish("u01", ITEM)
    svc.store.insert_item.assert_not_called()
    svc.events.publish.assert_not_called()


def test_bad_input_is_refused_before_asking_anyone():
    svc = service(union_admin("u01"))
    with pytest.raises(BadInput) as info:
        svc.publish("u01", {**ITEM, "period": "soon"})
    assert list(info.value.fields) == ["period"]
    svc.members_rpc.get_union.assert_not_called()
    svc.store.insert_item.assert_not_called()


def test_an_oversize_attachment_stores_nothing():
    svc = service(union_admin("u01"), limit=100)
    files = [
        {"filename": "a.pdf", "content_b64": base64.b64encode(b"x" * 50).decode()},
        {"filename": "b.pdf", "content_b64": base64.b64encode(b"x" * 101).decode()},
    ]
    with pytest.raises(PayloadTooLarge):
        svc.publish("u01", {**ITEM, "attachments": files})
    svc.store.insert_attachments.assert_not_called()
    svc.store.insert_item.assert_not_called()


def test_publishing_for_a_union_that_is_not_grassroots():
    svc = service(union_admin("ftu"))
    svc.members_rpc.get_union.return_value = {**U01, "id": "ftu", "kind": "federation", "path": ["ftu"]}
    with pytest.raises(BadInput) as info:
        svc.publish("ftu", ITEM)
    assert "union_id" in info.value.fields


def test_publish_writes_then_announces():
    svc = service(union_admin("u01"))
    out = svc.publish("u01", {**ITEM, "mandatory": True})
    doc = svc.store.insert_item.call_args.args[0]
    assert doc["union_path"] == ["ftu", "u01"] and doc["revision"] == 1 and doc["status"] == "published"
    kind, payload = svc.events.publish.call_args.args[0], svc.events.publish.call_args.kwargs
    assert kind == "disclosure_published" and payload["item_id"] == out["id"] == doc["_id"]
    assert payload["union_id"] == "u01" and payload["mandatory"] is True


def test_a_correction_that_loses_the_race_keeps_the_snapshot_and_drops_its_new_files():
    svc = service(union_admin("u01"))
    svc.store.get_item.return_value = {
        "_id": "d1",
        "union_id": "u01",
        "union_path": ["ftu", "u01"],
        "status": "published",
        "revision": 1,
        "attachments": [],
        "correction_reason": None,
        "published_by": "A1",
        "revised_at": "2026-03-01T00:00:00+00:00",
        **ITEM,
        "mandatory": False,
    }
    svc.store.move_item.return_value = None  # someone else corrected it first
    new_file = {"filename": "c.pdf", "content_b64": base64.b64encode(b"%PDF").decode()}
    with pytest.raises(Conflict):
        svc.correct_item("d1", {**ITEM, "reason": "更正金额", "attachments": [new_file]})
    snapshot = svc.store.save_revision.call_args.args[0]
    assert snapshot["_id"] == "d1:0001" and snapshot["body"] == ITEM["body"]
    assert svc.store.move_item.call_args.args[1] == {"revision": 1, "status": "published"}
    stored = [f["_id"] for f in svc.store.insert_attachments.call_args.args[0]]
    svc.store.forget_attachments.assert_called_once_with(stored)
    svc.events.publish.assert_not_called()
