"""A message pushed while another writer creates the member's box is not lost (services/notify/store.py,
``push_to_boxes``): found by the notify integration test under load, where three events for one member
left two messages in the box."""

from types import SimpleNamespace

from services.notify.store import NotifyStore


class RacingBoxes:
    """``boxes`` where a concurrent writer creates the box right after our first update missed it."""

    def __init__(self):
        self.docs: dict[str, dict] = {}
        self.updates = 0

    def update_one(self, flt, update):
        self.updates += 1
        doc = self.docs.get(flt["_id"])
        matched = doc is not None and flt["items"]["$ne"] not in doc["items"]
        if matched:
            for k, v in update["$push"].items():
                doc[k].append(v)
        elif self.updates == 1:  # the other writer's insert lands just after our update missed
            self.docs[flt["_id"]] = {"_id": flt["_id"], "items": ["other"], "unread": ["other"]}
        return SimpleNamespace(matched_count=int(matched))

    def find_one(self, flt, projection=None):
        return self.docs.get(flt["_id"])

    def insert_one(self, doc):  # pragma: no cover - the race makes the box exist first
        raise AssertionError("the box exists: no insert")


def test_a_push_racing_the_creation_of_the_box_is_kept():
    boxes = RacingBoxes()
    store = NotifyStore(SimpleNamespace(boxes=boxes))
    store.push_to_boxes({"M1": "m-mine"})
    assert boxes.docs["M1"]["items"] == ["other", "m-mine"]
    assert boxes.docs["M1"]["unread"] == ["other", "m-mine"]


def test_a_message_already_in_the_box_is_not_added_twice():
    boxes = RacingBoxes()
    boxes.updates = 1  # no race
    boxes.docs["M1"] = {"_id": "M1", "items": ["m-mine"], "unread": []}
    NotifyStore(SimpleNamespace(boxes=boxes)).push_to_boxes({"M1": "m-mine"})
    assert boxes.docs["M1"]["items"] == ["m-mine"]
