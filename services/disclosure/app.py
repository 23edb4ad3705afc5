"""Use cases of factory-affairs disclosure (厂务公开, DESIGN.md §4): functions of (store, actor, clock,
input[, members, settings]) that ask the policy first, apply the rules and commit one guarded write with
its outbox events (docs/architecture.md, "Changing state").

- ``store``: :class:`services.disclosure.store.DisclosureStore` (or the in-memory fake of the unit tests);
- ``actor``: :class:`dmlib.auth.Actor` from the verified token;
- ``clock``: a function returning the aware UTC ``datetime`` now;
- ``members``: the members service as this service needs it (``get_union(union_id)`` →
  ``{id, name, path, kind, member_count}``; ``roster(union_id)`` → ``[{member_id, name, department_id}]``
  and ``departments(union_id)`` → ``[{id, name}]``, both asked as the service after the policy said yes);
- ``settings``: ``max_attachment_bytes`` and ``asker_hash(member_id)`` (the keyed hash hiding askers).

Inputs arrive loaded by the contract schemas (:mod:`dmlib.contracts.disclosure`); results are plain
dicts that the service dumps with the output schemas. Errors: :mod:`dmlib.errors` (BadInput, Forbidden,
NotFound, Conflict, PayloadTooLarge), each with its code; nothing here reads message text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from dmlib.attachments import attachment_out, decode_attachments
from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.contracts import disclosure as c
from dmlib.errors import BadInput, Conflict, NotFound
from dmlib.schemas import iso, page_out
from dmlib.state import event, request_key

from . import policy, rules
from .store import revision_id

Clock = Callable[[], datetime]
UNREAD_LIMIT = 10000
#: At most this many things of one kind on a person's "what needs me" home (the rest: the page's list).
NEEDS_LIMIT = 20
MAX_BULK_READS = 20000
MAX_REGISTER_ENTRIES = 500


class Members(Protocol):
    def get_union(self, union_id: str) -> dict: ...
    def unions_under(self, union_id: str) -> list[dict]: ...
    def roster(self, union_id: str) -> list[dict]: ...
    def departments(self, union_id: str) -> list[dict]: ...


class Settings(Protocol):
    max_attachment_bytes: int

    def asker_hash(self, member_id: str) -> str: ...


# ----- shared steps --------------------------------------------------------------------------------
def _audit(
    actor: Actor, action: str, object_type: str, object_id: str, union_id: str, path, **kw
) -> Audit | None:
    """:func:`dmlib.audit.by_person` for ``disclosure.<action>`` in the chain of the item's union
    (``role="member"`` for a question). Reads are not audited: a first read is a read receipt already."""
    return by_person(actor, f"disclosure.{action}", object_type, object_id, union_id, path, **kw)


#: What an item's entries record (the body and the files are shown by their revision, not copied here).
ITEM_FIELDS = ("category", "period", "title", "mandatory", "attachments")


def _item(store, item_id: Any) -> dict:
    item = store.get_item(item_id) if isinstance(item_id, str) else None
    if item is None:
        raise NotFound(f"no disclosure item {item_id} / 公开事项不存在", details={"item_id": item_id})
    return item


def _grassroots(union: dict) -> None:
    if union["kind"] != "grassroots":
        raise BadInput(
            "disclosures are published by a grassroots union / 厂务公开由基层工会发布",
            fields={"union_id": ["not a grassroots union"]},
        )


def _refs(files: list[dict]) -> list[dict]:
    return [{k: f[k] for k in ("filename", "content_type", "size")} | {"id": f["_id"]} for f in files]


def new_item(union: dict, data: dict, files: list[dict], by: str, by_name: str, stamp: datetime) -> dict:
    """The document of a new item (revision 1); ``files`` get their item id."""
    item_id = f"d{uuid.uuid4().hex[:12]}"
    for f in files:
        f.update(item_id=item_id, union_id=union["id"], uploaded_at=stamp)
    return {
        "_id": item_id,
        "union_id": union["id"],
        "union_name": union["name"],
        "union_path": union["path"],
        "category": data["category"],
        "period": data["period"],
        "title": data["title"].strip(),
        "body": data["body"],
        "mandatory": data["mandatory"],
        "attachments": _refs(files),
        "status": "published",
        "revision": 1,
        "correction_reason": None,
        "revisions": [],
        "published_at": stamp,
        "revised_at": stamp,
        "published_by": by,
        "published_by_name": by_name,
        "withdrawn_at": None,
        "withdraw_reason": None,
        "read_count": 0,
        "questions_total": 0,
        "questions_open": 0,
        "question_ids": [],
    }


def new_question(
    item: dict, asker_key: str, member_id: str, name: str, anonymous: bool, text: str, at
) -> dict:
    return {
        "_id": f"q{uuid.uuid4().hex[:12]}",
        "item_id": item["_id"],
        "union_id": item["union_id"],
        "text": text.strip(),
        "anonymous": anonymous,
        "asker_id": None if anonymous else member_id,
        "asker_name": None if anonymous else name,
        "asker_key": asker_key,
        "asked_at": at,
        "status": "open",
        "answer": None,
        "answered_at": None,
        "answered_by": None,
        "answered_by_name": None,
    }


# ----- what callers see ----------------------------------------------------------------------------
def item_view(item: dict, actor: Actor, read: bool, first_read: bool = False) -> dict:
    """An item for :class:`DisclosureOut`."""
    return {
        **item,
        "id": item["_id"],
        "category_label": c.CATEGORIES[item["category"]],
        "period_label": c.period_label(item["period"]),
        "body_html": rules.render_markdown(item["body"]),
        "published_at": iso(item["published_at"]),
        "revised_at": iso(item["revised_at"]),
        "withdrawn_at": iso(item.get("withdrawn_at")),
        "previous_revisions": [
            {**r, "published_at": iso(r["published_at"])} for r in reversed(item.get("revisions", []))
        ],
        "read": read,
        "first_read": first_read,
        "can_manage": policy.may_manage(actor, item["union_path"]),
    }


def summary_view(item: dict, read: bool) -> dict:
    """An item for :class:`DisclosureSummaryOut`."""
    return {
        **item,
        "id": item["_id"],
        "category_label": c.CATEGORIES[item["category"]],
        "period_label": c.period_label(item["period"]),
        "published_at": iso(item["published_at"]),
        "read": read,
        "questions_answered": item.get("questions_total", 0) - item.get("questions_open", 0),
    }


def question_view(q: dict, actor: Actor, settings: Settings, at: datetime, item_title: str = "") -> dict:
    """A question for :class:`QuestionOut`: ``mine`` by the keyed hash, the age in whole days."""
    return {
        **q,
        "id": q["_id"],
        "item_title": item_title,
        "asker_name": None if q["anonymous"] else q.get("asker_name"),
        "asked_at": iso(q["asked_at"]),
        "answered_at": iso(q.get("answered_at")),
        "mine": q["asker_key"] == settings.asker_hash(actor.member_id),
        "age_days": rules.age_days(q["asked_at"], q.get("answered_at") or at),
    }


def _newest_first(store, item_ids: list[str]) -> list[dict]:
    """Items by id (``_id`` lookups), newest publication first (an import may add older ones later)."""
    items = store.get_items(list(reversed(item_ids)))
    return sorted(items, key=lambda i: (i["published_at"], i["_id"]), reverse=True)


# ----- publishing ----------------------------------------------------------------------------------
def publish(
    store, actor: Actor, clock: Clock, members: Members, settings: Settings, union_id: str, data: dict
):
    """Publish an item to a grassroots union's members (revision 1): admins of the union or above.
    Every check before the first write; the files, then the item with ``disclosure_published``. Once per
    ``client_key`` (a retried publish returns the item published first: :meth:`Store.once`)."""
    union = members.get_union(union_id)
    policy.require_manager(actor, union["path"])
    _grassroots(union)
    files = decode_attachments(data["attachments"], settings.max_attachment_bytes)

    def create() -> dict:
        item = new_item(union, data, files, actor.member_id, actor.name, clock())
        store.add_files(files)
        store.publish_item(
            item,
            events=[
                event(
                    "disclosure_published",
                    item_id=item["_id"],
                    union_id=union_id,
                    category=item["category"],
                    title=item["title"],
                    mandatory=item["mandatory"],
                    revision=1,
                )
            ],
            audit=_audit(
                actor,
                "item_published",
                "disclosure",
                item["_id"],
                union_id,
                union["path"],
                fields=ITEM_FIELDS,
            ),
        )
        return item_view(item, actor, read=False)

    return store.once(
        request_key(actor.member_id, data.get("client_key")),
        "items",
        create,
        lambda first: item_view(first, actor, read=False),
    )


def correct_item(store, actor: Actor, clock: Clock, settings: Settings, item_id: str, data: dict):
    """A correction: the previous revision is kept whole (its snapshot written first), new files are
    stored, then the item moves to the next revision with ``disclosure_corrected``, guarded by the
    revision it was read at and its status (a withdrawal or another correction first: Conflict, and the
    new files are forgotten)."""
    item = _item(store, item_id)
    policy.require_manager(actor, item["union_path"])
    if item["status"] != "published":
        raise Conflict(
            "a withdrawn item cannot be corrected / 已撤回的事项不能更正",
            details={"status": item["status"]},
            reason="item_withdrawn",
        )
    known = {a["id"] for a in item["attachments"]}
    unknown = [a for a in data["drop_attachments"] if a not in known]
    if unknown:
        raise BadInput(
            "unknown attachment / 附件不存在",
            fields={"drop_attachments": [f"not attached: {', '.join(unknown)}"]},
        )
    kept = [a for a in item["attachments"] if a["id"] not in data["drop_attachments"]]
    if len(kept) + len(data["attachments"]) > c.MAX_ATTACHMENTS:
        raise BadInput(
            f"at most {c.MAX_ATTACHMENTS} attachments / 附件最多{c.MAX_ATTACHMENTS}个",
            fields={"attachments": [f"{len(kept)} kept + {len(data['attachments'])} new"]},
        )
    files = decode_attachments(data["attachments"], settings.max_attachment_bytes)
    stamp = clock()
    for f in files:
        f.update(item_id=item_id, union_id=item["union_id"], uploaded_at=stamp)
    old = item["revision"]
    snapshot = {
        k: item[k]
        for k in ("category", "period", "title", "body", "mandatory", "attachments", "correction_reason")
    }
    store.keep_revision(
        {
            "_id": revision_id(item_id, old),
            "item_id": item_id,
            "revision": old,
            "published_at": item["revised_at"],
            "published_by": item.get("revised_by", item["published_by"]),
            **snapshot,
        }
    )
    store.add_files(files)
    title = data["title"].strip()
    try:
        moved = store.change(
            "items",
            item_id,
            expect={"revision": old, "status": "published"},
            set={
                "category": data["category"],
                "period": data["period"],
                "title": title,
                "body": data["body"],
                "mandatory": data["mandatory"],
                "attachments": kept + _refs(files),
                "revision": old + 1,
                "correction_reason": data["reason"],
                "revised_at": stamp,
                "revised_by": actor.member_id,
                "revisions": [
                    *item.get("revisions", []),
                    {"revision": old, "published_at": item["revised_at"], "reason": data["reason"]},
                ],
            },
            events=[
                event(
                    "disclosure_corrected",
                    item_id=item_id,
                    union_id=item["union_id"],
                    revision=old + 1,
                    title=title,
                    mandatory=data["mandatory"],
                    reason=data["reason"],
                )
            ],
            conflict=lambda now: Conflict(
                "the item changed meanwhile; reload it / 该事项已被他人修改，请刷新后重试",
                details={"status": now.get("status"), "revision": now.get("revision")},
                reason="stale",
            ),
            audit=_audit(
                actor,
                "item_corrected",
                "disclosure",
                item_id,
                item["union_id"],
                item["union_path"],
                fields=(*ITEM_FIELDS, "revision", "correction_reason"),
            ),
        )
    except Conflict:
        store.forget_files([f["_id"] for f in files])  # referred to by nothing
        raise
    return item_view(moved, actor, read=store.has_read(item_id, actor.member_id))


def withdraw_item(store, actor: Actor, clock: Clock, item_id: str, data: dict):
    """Withdraw an item (kept on record, marked) with ``disclosure_withdrawn``, once: guarded by its
    status (already withdrawn: Conflict)."""
    item = _item(store, item_id)
    policy.require_manager(actor, item["union_path"])
    moved = store.change(
        "items",
        item_id,
        expect={"status": "published"},
        set={
            "status": "withdrawn",
            "withdrawn_at": clock(),
            "withdrawn_by": actor.member_id,
            "withdraw_reason": data["reason"],
        },
        events=[
            event("disclosure_withdrawn", item_id=item_id, union_id=item["union_id"], reason=data["reason"])
        ],
        conflict=lambda now: Conflict(
            "already withdrawn / 该事项已撤回", details={"status": now.get("status")}, reason="item_withdrawn"
        ),
        audit=_audit(
            actor,
            "item_withdrawn",
            "disclosure",
            item_id,
            item["union_id"],
            item["union_path"],
            fields=("status", "withdraw_reason"),
        ),
    )
    return item_view(moved, actor, read=store.has_read(item_id, actor.member_id))


# ----- reading -------------------------------------------------------------------------------------
def list_items(store, actor: Actor, members: Members, union_id: str, query: dict) -> dict:
    """A union's board with the caller's read flags and unread count (members and admins of the union).
    The union's scope comes from its index here, else from the members service. Filters ``category``
    and ``q`` (text in the title), ``sort`` newest (default) or oldest first (by publication time, then
    id: a stable order). ``include_below`` (issue 16, federation views): the items of the union and of
    every union below it (each item names its union), for the admins of the union or above only (the
    union list is asked of members, the tree's owner; then one ``_id`` lookup per union index and per
    item: fine for a federation's few thousand items a year)."""
    index = store.get_union(union_id) if isinstance(union_id, str) else None
    if index is None:
        union = members.get_union(union_id)
        index = {"_id": union_id, "name": union["name"], "path": union["path"], "item_ids": []}
    if query.get("include_below"):
        policy.require_manager(actor, index["path"])
        item_ids = list(index["item_ids"])
        for u in members.unions_under(union_id):
            if u["id"] != union_id:
                item_ids.extend((store.get_union(u["id"]) or {}).get("item_ids", []))
    else:
        policy.require_reader(actor, union_id, index["path"])
        item_ids = index["item_ids"]
    member = policy.is_member(actor, union_id)
    items = _newest_first(store, item_ids)
    if query.get("sort") == "oldest":
        items.reverse()
    if query["category"]:
        items = [i for i in items if i["category"] == query["category"]]
    if query.get("q"):
        needle = query["q"].strip().casefold()
        items = [i for i in items if needle in i["title"].casefold()]
    read = {i["_id"]: member and store.has_read(i["_id"], actor.member_id) for i in items}
    page, per_page = query["page"], query["per_page"]
    shown = items[(page - 1) * per_page : page * per_page]
    out = page_out([summary_view(i, read[i["_id"]]) for i in shown], len(items), page, per_page)
    out.update(
        union_id=union_id,
        union_name=index["name"],
        unread=sum(1 for i in items if member and not read[i["_id"]]),
        can_manage=policy.may_manage(actor, index["path"]),
    )
    return out


def open_item(store, actor: Actor, clock: Clock, item_id: str) -> dict:
    """Open an item; a member's first open records their receipt (once, ``first_read``)."""
    item = _item(store, item_id)
    policy.require_reader(actor, item["union_id"], item["union_path"])
    first = False
    if policy.is_member(actor, item["union_id"]):
        first = store.record_read(item_id, actor.member_id, item["revision"], clock())
        if first:
            item["read_count"] = item.get("read_count", 0) + 1
    read = first or store.has_read(item_id, actor.member_id)
    return item_view(item, actor, read=read, first_read=first)


def get_revision(store, actor: Actor, item_id: str, revision: Any) -> dict:
    """One revision (current or kept); records no read. NotFound outside 1..current; a kept snapshot
    that is missing is a data error (Conflict), not a 404."""
    item = _item(store, item_id)
    policy.require_reader(actor, item["union_id"], item["union_path"])
    if not isinstance(revision, int) or isinstance(revision, bool) or not 1 <= revision <= item["revision"]:
        raise NotFound(f"no revision {revision} / 版本不存在", details={"revision": revision})
    read = store.has_read(item_id, actor.member_id)
    if revision == item["revision"]:
        return item_view(item, actor, read=read)
    snap = store.get_revision(item_id, revision)
    if snap is None:
        raise Conflict(f"revision {revision} is missing / 历史版本缺失", details={"revision": revision})
    older = [r for r in item["revisions"] if r["revision"] < revision]
    reason_next = next((r["reason"] for r in item["revisions"] if r["revision"] == revision), None)
    out = item_view(
        {
            **item,
            **{k: snap[k] for k in ("category", "period", "title", "body", "mandatory", "attachments")},
            "correction_reason": snap.get("correction_reason"),
            "revision": revision,
            "revised_at": snap["published_at"],
            "revisions": older,
        },
        actor,
        read=read,
    )
    return {**out, "superseded_by": revision + 1, "superseded_reason": reason_next}


def get_attachment(store, actor: Actor, item_id: str, attachment_id: Any) -> dict:
    """A file of an item (any revision) for whoever may open the item."""
    item = _item(store, item_id)
    policy.require_reader(actor, item["union_id"], item["union_path"])
    doc = store.get_attachment(attachment_id) if isinstance(attachment_id, str) else None
    if doc is None or doc["item_id"] != item_id:
        raise NotFound("no such attachment / 附件不存在")
    return attachment_out(doc)


# ----- read receipts -------------------------------------------------------------------------------
def item_reads(store, actor: Actor, members: Members, item_id: str) -> dict:
    """Read figures of one item for its admins: rate against the union's members now, per department,
    and the unread members of a mandatory item (first 10,000)."""
    item = _item(store, item_id)
    policy.require_manager(actor, item["union_path"])
    union = members.get_union(item["union_id"])
    roster = members.roster(item["union_id"])
    names = {d["id"]: d["name"] for d in members.departments(item["union_id"])}
    read = item.get("read_count", 0)
    departments, unread = rules.department_reads(roster, store.readers(item_id, read), names, "未分部门")
    return {
        "item_id": item_id,
        "union_id": item["union_id"],
        "union_name": item["union_name"],
        "title": item["title"],
        "mandatory": item["mandatory"],
        "members": union["member_count"],
        "read": read,
        "rate": rules.rate(read, union["member_count"]),
        "departments": departments,
        "unread_total": len(unread) if item["mandatory"] else 0,
        "unread": unread[:UNREAD_LIMIT] if item["mandatory"] else [],
    }


def union_reads(store, actor: Actor, members: Members, union_id: str) -> dict:
    """Read rates of every item of a union, newest first (the dashboard and the register)."""
    union = members.get_union(union_id)
    policy.require_manager(actor, union["path"])
    index = store.get_union(union_id) or {"item_ids": []}
    count = union["member_count"]
    rows = [
        {
            **summary_view(item, False),
            "read": item.get("read_count", 0),
            "rate": rules.rate(item.get("read_count", 0), count),
            "correction_reasons": [r["reason"] for r in item.get("revisions", [])],
        }
        for item in _newest_first(store, index["item_ids"])
    ]
    return {"union_id": union_id, "union_name": union["name"], "members": count, "items": rows}


def record_reads(store, actor: Actor, item_id: str, reads: Any) -> dict:
    """Bulk receipts (system only); first read wins."""
    policy.require_system(actor)
    item = _item(store, item_id)
    if not isinstance(reads, list) or len(reads) > MAX_BULK_READS:
        raise BadInput("reads: a list of at most 20,000 / 至多20000条", fields={"reads": ["not a list"]})
    parsed = []
    for i, r in enumerate(reads):
        try:
            parsed.append({"member_id": str(r["member_id"]), "read_at": datetime.fromisoformat(r["read_at"])})
        except (KeyError, TypeError, ValueError):
            raise BadInput(
                "bad read record / 阅读记录有误", fields={"reads": {i: ["member_id, read_at"]}}
            ) from None
    recorded = store.record_reads(item_id, parsed, item["revision"])
    return {"recorded": recorded, "read_count": _item(store, item_id).get("read_count", 0)}


def import_register(store, actor: Actor, members: Members, settings: Settings, union_id: str, entries: list):
    """Take over an earlier register (system only): items with their dates, reads, questions and
    answers; no events (history, not news). ``entries`` arrive loaded (:class:`HistoryEntryIn`)."""
    policy.require_system(actor)
    union = members.get_union(union_id)
    _grassroots(union)
    decoded = [decode_attachments(e["attachments"], settings.max_attachment_bytes) for e in entries]
    counts = {"items": 0, "reads": 0, "questions": 0}
    for entry, files in sorted(zip(entries, decoded, strict=True), key=lambda p: p[0]["published_at"]):
        item = new_item(union, entry, files, "import", entry["published_by_name"], entry["published_at"])
        store.add_files(files)
        store.publish_item(item)
        counts["items"] += 1
        counts["reads"] += store.record_reads(item["_id"], entry["reads"], 1)
        for q in sorted(entry["questions"], key=lambda q: q["asked_at"]):
            key = settings.asker_hash(q["member_id"])
            doc = new_question(item, key, q["member_id"], q["name"], q["anonymous"], q["text"], q["asked_at"])
            store.add_question(doc)
            if q["answer"]:
                store.change(
                    "questions",
                    doc["_id"],
                    expect={"status": "open"},
                    set={
                        "status": "answered",
                        "answer": q["answer"],
                        "answered_at": q["answered_at"],
                        "answered_by": "import",
                        "answered_by_name": q["answered_by_name"] or entry["published_by_name"],
                    },
                )
                store.question_answered(doc)
            counts["questions"] += 1
    return counts


def recount_reads(store, actor: Actor, item_id: str) -> dict:
    """Rebuild an item's read counter and readers from its receipts (system or its admins; an admin's
    recount is audited, ``reads_recounted``)."""
    item = _item(store, item_id)
    policy.require_manager(actor, item["union_path"])
    record = _audit(actor, "reads_recounted", "disclosure", item_id, item["union_id"], item["union_path"])
    return {
        "item_id": item_id,
        "before": item.get("read_count", 0),
        "receipts": store.recount_reads(item_id, audit=record),
    }


# ----- questions and answers -----------------------------------------------------------------------
def ask_question(store, actor: Actor, clock: Clock, settings: Settings, item_id: str, data: dict) -> dict:
    """A member asks about an item of their own union (optionally anonymously) with ``question_asked``;
    a withdrawn item takes no questions (Conflict). Once per ``client_key`` (a retried question returns
    the one asked first: :meth:`Store.once`)."""
    item = _item(store, item_id)
    policy.require_asker(actor, item["union_id"])
    if item["status"] != "published":
        raise Conflict(
            "the item was withdrawn / 该事项已撤回，不能提问",
            details={"status": item["status"]},
            reason="item_withdrawn",
        )

    def create() -> dict:
        at = clock()
        key = settings.asker_hash(actor.member_id)
        doc = new_question(item, key, actor.member_id, actor.name, data["anonymous"], data["text"], at)
        store.add_question(
            doc,
            events=[
                event(
                    "question_asked",
                    question_id=doc["_id"],
                    item_id=item_id,
                    union_id=item["union_id"],
                    anonymous=doc["anonymous"],
                    asker_id=doc["asker_id"],
                )
            ],
            audit=_audit(
                actor,
                "question_asked",
                "question",
                doc["_id"],
                item["union_id"],
                item["union_path"],
                role="member",
                fields=("item_id", "anonymous", "text"),
                anonymous=doc["anonymous"],  # the entry of an anonymous question names nobody
            ),
        )
        return question_view(doc, actor, settings, at, item["title"])

    return store.once(
        request_key(actor.member_id, data.get("client_key")),
        "questions",
        create,
        lambda first: question_view(first, actor, settings, clock(), item["title"]),
    )


def answer_question(
    store, actor: Actor, clock: Clock, settings: Settings, question_id: Any, data: dict
) -> dict:
    """The union answers a question publicly, once (guarded by its status: Conflict the second time),
    with ``question_answered``; the counters and the desk follow."""
    q = store.get_question(question_id) if isinstance(question_id, str) else None
    if q is None:
        raise NotFound(f"no question {question_id} / 问题不存在")
    item = _item(store, q["item_id"])
    policy.require_manager(actor, item["union_path"])
    at = clock()
    done = store.change(
        "questions",
        question_id,
        expect={"status": "open"},
        set={
            "status": "answered",
            "answer": data["text"].strip(),
            "answered_at": at,
            "answered_by": actor.member_id,
            "answered_by_name": actor.name,
        },
        events=[
            event(
                "question_answered",
                question_id=question_id,
                item_id=item["_id"],
                union_id=item["union_id"],
                asker_id=q["asker_id"],
                anonymous=q["anonymous"],
            )
        ],
        conflict=lambda now: Conflict(
            "already answered / 该问题已答复",
            details={"status": now.get("status")},
            reason="already_answered",
        ),
        audit=_audit(
            actor,
            "question_answered",
            "question",
            question_id,
            item["union_id"],
            item["union_path"],
            fields=("status", "answer"),
            note={"item_id": item["_id"]},
        ),
    )
    store.question_answered(done)
    return question_view(done, actor, settings, at, item["title"])


def list_questions(store, actor: Actor, clock: Clock, settings: Settings, item_id: str) -> list[dict]:
    """Questions under an item, oldest first, as far as the policy shows them to the caller."""
    item = _item(store, item_id)
    policy.require_reader(actor, item["union_id"], item["union_path"])
    at = clock()
    out = []
    for q in store.get_questions(item.get("question_ids", [])):
        shown = question_view(q, actor, settings, at, item["title"])
        if policy.may_see_question(actor, item["union_path"], q["status"] == "answered", shown["mine"]):
            out.append(shown)
    return out


def open_questions(store, actor: Actor, clock: Clock, members: Members, settings: Settings, union_id: str):
    """The admin's desk: a union's unanswered questions, oldest first (admins of the union or above)."""
    index = store.get_union(union_id) if isinstance(union_id, str) else None
    path = index["path"] if index else members.get_union(union_id)["path"]
    policy.require_manager(actor, path)
    questions = [
        q for q in store.get_questions((index or {}).get("open_question_ids", [])) if q["status"] == "open"
    ]
    titles = {i["_id"]: i["title"] for i in store.get_items(sorted({q["item_id"] for q in questions}))}
    at = clock()
    questions.sort(key=lambda q: (q["asked_at"], q["_id"]))
    return [question_view(q, actor, settings, at, titles.get(q["item_id"], "")) for q in questions]


def needs_of(store, actor: Actor, limit: int = NEEDS_LIMIT) -> dict:
    """What needs the caller on the disclosure boards (issue 16, :mod:`dmlib.contracts.needs`):

    - items ``disclosure_unread``: published mandatory items of their own union they have not opened,
      newest first (at most ``limit``; ``at`` the publication);
    - queues, per union at or below one they administer (:func:`policy.needs_scopes`):
      ``questions_waiting`` (open questions, ``oldest_at`` the oldest's asking time) and
      ``mandatory_reads`` (``count`` receipts on the published mandatory items, ``of`` those items: the
      gateway divides by ``of`` × the union's members for the read rate, as :func:`rules.rate`).
    Cost: one ``_id`` lookup per item of the member's board and one receipt lookup per mandatory one;
    one scan of the board indexes and one lookup per item and open question of each administered board."""
    own, managed = policy.needs_scopes(actor)
    items: list[dict] = []
    index = store.get_union(own) if own else None
    if index is not None and policy.is_member(actor, own):
        for item in _newest_first(store, index.get("item_ids", [])):
            if (
                item["mandatory"]
                and item["status"] == "published"
                and not store.has_read(item["_id"], actor.member_id)
            ):
                items.append(
                    {
                        "kind": "disclosure_unread",
                        "id": item["_id"],
                        "title": item["title"],
                        "union_id": own,
                        "at": item["published_at"],
                    }
                )
                if len(items) >= limit:
                    break
    queues: list[dict] = []
    for board in store.unions_under(managed):
        if not policy.may_manage(actor, board["path"]):
            continue
        uid, name = board["_id"], board.get("name", "")
        questions = [
            q for q in store.get_questions(board.get("open_question_ids", [])) if q["status"] == "open"
        ]
        queues.append(
            {
                "kind": "questions_waiting",
                "scope": uid,
                "scope_name": name,
                "union_id": uid,
                "count": len(questions),
                "oldest_at": min((q["asked_at"] for q in questions), default=None),
            }
        )
        mandatory = [
            i
            for i in store.get_items(board.get("item_ids", []))
            if i["mandatory"] and i["status"] == "published"
        ]
        queues.append(
            {
                "kind": "mandatory_reads",
                "scope": uid,
                "scope_name": name,
                "union_id": uid,
                "count": sum(i.get("read_count", 0) for i in mandatory),
                "of": len(mandatory),
            }
        )
    return {"items": items, "queues": queues}


def rebuild_union_index(store, actor: Actor, union_id: str) -> dict:
    """Recompute a union's derived lists and counters from the records (system only)."""
    policy.require_system(actor)
    return store.rebuild_union_index(union_id)
