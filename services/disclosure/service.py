"""The disclosure service (厂务公开): a grassroots union publishes items to its own members, records each
member's first read, and answers members' questions in public (DESIGN.md §4).

Rights (DESIGN.md §1, checked on the verified token of every call):

- members of the item's union (``actor.union_id``) list, open and question its items;
- admins of the union or a union above it (``actor.administers(union_path)``) publish, correct,
  withdraw, answer, and see read rates and the unread list; they may also list and open items;
- anyone else: 403. Items are never deleted: a correction keeps every earlier revision readable, a
  withdrawal keeps the record (marked withdrawn).

Contracts in :mod:`dmlib.contracts.disclosure`; storage in :mod:`services.disclosure.store`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import datetime

from nameko.extensions import DependencyProvider

from dmlib.auth import Actor, Identity, auth_secret
from dmlib.contracts import disclosure as c
from dmlib.errors import BadInput, Conflict, NotFound, PayloadTooLarge
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.schemas import iso, page_out
from dmlib.storage import Mongo

from . import rules
from .store import DisclosureStore, now

DEFAULT_MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
UNREAD_LIMIT = 10000
ROSTER_PAGE = 5000


class Settings(DependencyProvider):
    """``MAX_ATTACHMENT_BYTES`` (default 5 MiB per file) and the key that hides anonymous askers
    (derived from ``AUTH_SECRET``: HMAC-SHA256 over a fixed label)."""

    def setup(self):
        config = self.container.config
        self.max_attachment_bytes = int(config.get("MAX_ATTACHMENT_BYTES") or DEFAULT_MAX_ATTACHMENT_BYTES)
        self.asker_key = hmac.new(auth_secret(config).encode(), b"disclosure:asker", hashlib.sha256).digest()

    def get_dependency(self, worker_ctx):
        return self

    def asker_hash(self, member_id: str) -> str:
        return hmac.new(self.asker_key, member_id.encode(), hashlib.sha256).hexdigest()


def _size(n: int) -> str:
    """A byte count for people: 5 MiB, 4 KiB, 300 B."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


class DisclosureService(HealthRpc):
    name = "disclosure"

    store: DisclosureStore = Mongo(DisclosureStore)
    identity = Identity()
    events = Events()
    settings = Settings()
    members_rpc = Rpc("members")

    # ----- helpers -------------------------------------------------------------------------------
    def _item(self, item_id: str) -> dict:
        item = self.store.get_item(item_id) if isinstance(item_id, str) else None
        if item is None:
            raise NotFound(f"no disclosure item {item_id} / 公开事项不存在", details={"item_id": item_id})
        return item

    @staticmethod
    def _may_manage(actor: Actor, path: list[str]) -> bool:
        return actor.administers(path)

    def _require_reader(self, actor: Actor, item: dict) -> None:
        actor.require(
            actor.union_id == item["union_id"] or self._may_manage(actor, item["union_path"]),
            "only members of this union may see its disclosures / 仅本单位会员可查看厂务公开",
            union_id=item["union_id"],
        )

    def _require_manager(self, actor: Actor, path: list[str], union_id: str) -> None:
        actor.require(
            self._may_manage(actor, path),
            "only admins of this union may do this / 仅本单位工会管理员可操作",
            union_id=union_id,
        )

    def _union_info(self, union_id: str) -> dict:
        """``{id, name, path, kind, member_count}`` of a union, asked of the members service."""
        return self.members_rpc.get_union(union_id)

    def _newest_first(self, item_ids: list[str]) -> list[dict]:
        """Items by id (``_id`` lookups), newest publication first (an import may add older ones later)."""
        items = self.store.get_items(list(reversed(item_ids)))
        return sorted(items, key=lambda i: (i["published_at"], i["_id"]), reverse=True)

    def _decode_attachments(self, files: list[dict]) -> list[dict]:
        """Check and decode every file before anything is written: 400 for bad base64, 413 if too big."""
        limit = self.settings.max_attachment_bytes
        out = []
        for i, f in enumerate(files):
            try:
                content = base64.b64decode(f["content_b64"], validate=True)
            except (binascii.Error, ValueError):
                raise BadInput(
                    "attachment is not base64 / 附件编码有误", fields={"attachments": {i: ["not base64"]}}
                ) from None
            if not content:
                raise BadInput("attachment is empty / 附件为空", fields={"attachments": {i: ["empty file"]}})
            if len(content) > limit:
                raise PayloadTooLarge(
                    f"attachment {f['filename']} is over {_size(limit)} / 附件超过{_size(limit)}",
                    fields={"attachments": {i: [f"over {limit} bytes"]}},
                    details={"limit_bytes": limit, "size_bytes": len(content), "filename": f["filename"]},
                )
            name = rules.safe_filename(f["filename"])
            ext = name.rsplit(".", 1)[-1].lower()
            out.append(
                {
                    "_id": f"f{uuid.uuid4().hex[:12]}",
                    "filename": name,
                    "content_type": c.ATTACHMENT_TYPES[ext],
                    "size": len(content),
                    "data": content,
                }
            )
        return out

    def _item_out(self, item: dict, actor: Actor, read: bool, first_read: bool = False) -> dict:
        return c.DisclosureOut().dump(
            {
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
                "can_manage": self._may_manage(actor, item["union_path"]),
            }
        )

    def _summary(self, item: dict, read: bool) -> dict:
        return c.DisclosureSummaryOut().dump(
            {
                **item,
                "id": item["_id"],
                "category_label": c.CATEGORIES[item["category"]],
                "period_label": c.period_label(item["period"]),
                "published_at": iso(item["published_at"]),
                "read": read,
                "questions_answered": item.get("questions_total", 0) - item.get("questions_open", 0),
            }
        )

    def _new_item(self, union: dict, data: dict, files: list[dict], by: str, by_name: str, stamp) -> dict:
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
            "attachments": [
                {k: f[k] for k in ("filename", "content_type", "size")} | {"id": f["_id"]} for f in files
            ],
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

    def _new_question(self, item: dict, member_id: str, name: str, anonymous: bool, text: str, at) -> dict:
        return {
            "_id": f"q{uuid.uuid4().hex[:12]}",
            "item_id": item["_id"],
            "union_id": item["union_id"],
            "text": text.strip(),
            "anonymous": anonymous,
            "asker_id": None if anonymous else member_id,
            "asker_name": None if anonymous else name,
            "asker_key": self.settings.asker_hash(member_id),
            "asked_at": at,
            "status": "open",
            "answer": None,
            "answered_at": None,
            "answered_by": None,
            "answered_by_name": None,
        }

    # ----- publishing ----------------------------------------------------------------------------
    @rpc
    def publish(self, union_id: str, data: dict) -> dict:
        """Publish a disclosure item to the members of a grassroots union.

        In: :class:`DisclosureIn` (category, period, title, Markdown body, mandatory, up to 5 attachments of at
        most ``MAX_ATTACHMENT_BYTES`` each, base64). Out: :class:`DisclosureOut` (revision 1). Admins of the
        union or above (DESIGN.md §1). Everything is checked before the first write. Publishes
        ``disclosure_published``. Errors: BadInput (field messages; not a grassroots union), NotFound
        (union), Forbidden, PayloadTooLarge (413, an attachment over the limit)."""
        data = c.DisclosureIn().load(data)
        actor = self.identity.actor
        union = self._union_info(union_id)
        self._require_manager(actor, union["path"], union_id)
        if union["kind"] != "grassroots":
            raise BadInput(
                "disclosures are published by a grassroots union / 厂务公开由基层工会发布",
                fields={"union_id": ["not a grassroots union"]},
            )
        files = self._decode_attachments(data["attachments"])
        item = self._new_item(union, data, files, actor.member_id, actor.name, now())
        self.store.insert_attachments(files)
        self.store.insert_item(item)
        self.events.publish(
            "disclosure_published",
            item_id=item["_id"],
            union_id=union_id,
            category=item["category"],
            title=item["title"],
            mandatory=item["mandatory"],
            revision=1,
        )
        return self._item_out(item, actor, read=False)

    @rpc
    def correct_item(self, item_id: str, data: dict) -> dict:
        """Correct an item: the new full content becomes the next revision, the previous revision is kept
        whole and stays readable (:meth:`get_revision`). Attachments carry over unless listed in
        ``drop_attachments``; new ones are added (at most 5 in all).

        In: :class:`CorrectionIn` (with ``reason``). Out: :class:`DisclosureOut`. Admins of the item's union or
        above; a withdrawn item cannot be corrected (Conflict), nor one corrected by someone else at the
        same moment (Conflict: reload and retry). Publishes ``disclosure_corrected``."""
        data = c.CorrectionIn().load(data)
        actor = self.identity.actor
        item = self._item(item_id)
        self._require_manager(actor, item["union_path"], item["union_id"])
        if item["status"] != "published":
            raise Conflict("a withdrawn item cannot be corrected / 已撤回的事项不能更正")
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
        files = self._decode_attachments(data["attachments"])
        stamp = now()
        for f in files:
            f.update(item_id=item_id, union_id=item["union_id"], uploaded_at=stamp)
        old = item["revision"]
        snapshot = {
            k: item[k]
            for k in ("category", "period", "title", "body", "mandatory", "attachments", "correction_reason")
        }
        self.store.save_revision(
            {
                "_id": f"{item_id}:{old:04d}",
                "item_id": item_id,
                "revision": old,
                "published_at": item["revised_at"],
                "published_by": item.get("revised_by", item["published_by"]),
                **snapshot,
            }
        )
        self.store.insert_attachments(files)
        new_attachments = kept + [
            {k: f[k] for k in ("filename", "content_type", "size")} | {"id": f["_id"]} for f in files
        ]
        moved = self.store.move_item(
            item_id,
            {"revision": old, "status": "published"},
            {
                "$set": {
                    "category": data["category"],
                    "period": data["period"],
                    "title": data["title"].strip(),
                    "body": data["body"],
                    "mandatory": data["mandatory"],
                    "attachments": new_attachments,
                    "revision": old + 1,
                    "correction_reason": data["reason"],
                    "revised_at": stamp,
                    "revised_by": actor.member_id,
                },
                "$push": {
                    "revisions": {
                        "revision": old,
                        "published_at": item["revised_at"],
                        "reason": data["reason"],
                    }
                },
            },
        )
        if moved is None:
            self.store.forget_attachments([f["_id"] for f in files])  # referred to by nothing
            raise Conflict("the item changed meanwhile; reload it / 该事项已被他人修改，请刷新后重试")
        self.events.publish(
            "disclosure_corrected",
            item_id=item_id,
            union_id=item["union_id"],
            revision=old + 1,
            title=moved["title"],
            mandatory=moved["mandatory"],
            reason=data["reason"],
        )
        return self._item_out(moved, actor, read=self.store.has_read(item_id, actor.member_id))

    @rpc
    def withdraw_item(self, item_id: str, data: dict) -> dict:
        """Withdraw an item: it stays on record and readable, marked withdrawn with the reason; no new
        questions. In: :class:`WithdrawIn`. Out: :class:`DisclosureOut`. Admins of the item's union or above.
        Errors: Conflict if already withdrawn. Publishes ``disclosure_withdrawn``."""
        data = c.WithdrawIn().load(data)
        actor = self.identity.actor
        item = self._item(item_id)
        self._require_manager(actor, item["union_path"], item["union_id"])
        moved = self.store.move_item(
            item_id,
            {"status": "published"},
            {
                "$set": {
                    "status": "withdrawn",
                    "withdrawn_at": now(),
                    "withdrawn_by": actor.member_id,
                    "withdraw_reason": data["reason"],
                }
            },
        )
        if moved is None:
            raise Conflict("already withdrawn / 该事项已撤回")
        self.events.publish(
            "disclosure_withdrawn", item_id=item_id, union_id=item["union_id"], reason=data["reason"]
        )
        return self._item_out(moved, actor, read=self.store.has_read(item_id, actor.member_id))

    # ----- reading -------------------------------------------------------------------------------
    @rpc
    def list_items(self, union_id: str, query: dict | None = None) -> dict:
        """The disclosure board of a union, newest first, each with the caller's ``read`` flag.

        In: ``union_id`` and :class:`DisclosureListIn` (``page``, ``per_page`` ≤ 200, ``category``). Out:
        :class:`DisclosurePageOut` with ``unread`` (the caller's unread items of the union). Members of the union
        and its admins. Cost: one ``_id`` lookup for the union index, one per item (for the unread count
        and the page) and one per listed item for the receipt: ~60 lookups for a year of items."""
        query = c.DisclosureListIn().load(query or {})
        actor = self.identity.actor
        index = self.store.get_union(union_id) if isinstance(union_id, str) else None
        if index is None:
            union = self._union_info(union_id)
            index = {"_id": union_id, "name": union["name"], "path": union["path"], "item_ids": []}
        member = actor.union_id == union_id
        actor.require(
            member or self._may_manage(actor, index["path"]),
            "only members of this union may see its disclosures / 仅本单位会员可查看厂务公开",
            union_id=union_id,
        )
        items = self._newest_first(index["item_ids"])
        if query["category"]:
            items = [i for i in items if i["category"] == query["category"]]
        read = {i["_id"]: member and self.store.has_read(i["_id"], actor.member_id) for i in items}
        page, per_page = query["page"], query["per_page"]
        shown = items[(page - 1) * per_page : page * per_page]
        out = page_out([self._summary(i, read[i["_id"]]) for i in shown], len(items), page, per_page)
        out.update(
            union_id=union_id,
            union_name=index["name"],
            unread=sum(1 for i in items if member and not read[i["_id"]]),
            can_manage=self._may_manage(actor, index["path"]),
        )
        return c.DisclosurePageOut().dump(out)

    @rpc
    def open_item(self, item_id: str) -> dict:
        """Open an item: its current revision with the body rendered safely, attachments (metadata),
        earlier revisions (refs) and counters. A member's first open records their read receipt, once
        (``first_read`` true only then); opening again records nothing. Admins of the union who are not
        its members may open without a receipt. Out: :class:`DisclosureOut`. Errors: NotFound, Forbidden."""
        actor = self.identity.actor
        item = self._item(item_id)
        self._require_reader(actor, item)
        first = False
        if actor.union_id == item["union_id"]:
            first = self.store.record_read(item_id, actor.member_id, item["revision"])
            if first:
                item["read_count"] = item.get("read_count", 0) + 1
        read = first or self.store.has_read(item_id, actor.member_id)
        return self._item_out(item, actor, read=read, first_read=first)

    @rpc
    def get_revision(self, item_id: str, revision: int) -> dict:
        """One revision of an item (the current one, or an earlier one kept by a correction), for whoever
        may open the item; records no read. Out: :class:`DisclosureOut` with that revision's content."""
        actor = self.identity.actor
        item = self._item(item_id)
        self._require_reader(actor, item)
        if not isinstance(revision, int) or not 1 <= revision <= item["revision"]:
            raise NotFound(f"no revision {revision} / 版本不存在", details={"revision": revision})
        if revision == item["revision"]:
            return self._item_out(item, actor, read=self.store.has_read(item_id, actor.member_id))
        snap = self.store.get_revision(item_id, revision)
        if snap is None:  # the kept snapshot is the record: its absence is a data error, not a 404
            raise Conflict(f"revision {revision} is missing / 历史版本缺失")
        older = [r for r in item["revisions"] if r["revision"] < revision]
        reason_next = next((r["reason"] for r in item["revisions"] if r["revision"] == revision), None)
        out = self._item_out(
            {
                **item,
                **{k: snap[k] for k in ("category", "period", "title", "body", "mandatory", "attachments")},
                "correction_reason": snap.get("correction_reason"),
                "revision": revision,
                "revised_at": snap["published_at"],
                "revisions": older,
            },
            actor,
            read=self.store.has_read(item_id, actor.member_id),
        )
        out["superseded_by"] = revision + 1
        out["superseded_reason"] = reason_next
        return out

    @rpc
    def get_attachment(self, item_id: str, attachment_id: str) -> dict:
        """A file of an item (any revision), for whoever may open the item.

        Out: ``{"id", "filename", "content_type", "size", "content_b64"}``. Errors: NotFound, Forbidden."""
        actor = self.identity.actor
        item = self._item(item_id)
        self._require_reader(actor, item)
        doc = self.store.get_attachment(attachment_id) if isinstance(attachment_id, str) else None
        if doc is None or doc["item_id"] != item_id:
            raise NotFound("no such attachment / 附件不存在")
        return {
            "id": doc["_id"],
            "filename": doc["filename"],
            "content_type": doc["content_type"],
            "size": doc["size"],
            "content_b64": base64.b64encode(doc["data"]).decode(),
        }

    # ----- read receipts -------------------------------------------------------------------------
    @rpc
    def item_reads(self, item_id: str) -> dict:
        """Read figures of one item for its union's admins: read count and rate against the union's
        members now, per department, and for a mandatory item who has not read it (first 10,000).

        Out: :class:`DisclosureReadsOut`. The roster and departments come from the members service, asked as
        this service after the caller's rights were checked here. Cost: ⌈reads/1000⌉ + 1 lookups and
        ⌈members/5000⌉ roster calls."""
        actor = self.identity.actor
        item = self._item(item_id)
        self._require_manager(actor, item["union_path"], item["union_id"])
        self.identity.act_as_service()
        union = self._union_info(item["union_id"])
        roster = []
        while True:
            part = self.members_rpc.union_roster(item["union_id"], len(roster), ROSTER_PAGE)
            roster.extend(part["members"])
            if not part["members"] or len(roster) >= part["total"]:
                break
        names = {d["id"]: d["name"] for d in self.members_rpc.list_departments(item["union_id"])}
        readers = self.store.readers(item_id, item.get("read_count", 0))
        departments, unread = rules.department_reads(roster, readers, names, "未分部门")
        read = item.get("read_count", 0)
        return c.DisclosureReadsOut().dump(
            {
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
        )

    @rpc
    def union_reads(self, union_id: str) -> dict:
        """Read rates of every item of a union (newest first) for its admins: the read-rate dashboard and
        the disclosure register (export). Out: :class:`UnionReadsOut`. Rate = receipts ÷ the union's
        members now. Cost: one lookup per item."""
        actor = self.identity.actor
        union = self._union_info(union_id)
        self._require_manager(actor, union["path"], union_id)
        index = self.store.get_union(union_id) or {"item_ids": []}
        members = union["member_count"]
        rows = []
        for item in self._newest_first(index["item_ids"]):
            rows.append(
                {
                    **item,
                    "id": item["_id"],
                    "category_label": c.CATEGORIES[item["category"]],
                    "period_label": c.period_label(item["period"]),
                    "published_at": iso(item["published_at"]),
                    "read": item.get("read_count", 0),
                    "rate": rules.rate(item.get("read_count", 0), members),
                    "correction_reasons": [r["reason"] for r in item.get("revisions", [])],
                }
            )
        return c.UnionReadsOut().dump(
            {"union_id": union_id, "union_name": union["name"], "members": members, "items": rows}
        )

    @rpc
    def record_reads(self, item_id: str, reads: list[dict]) -> dict:
        """Record read receipts in bulk: ``[{"member_id", "read_at": ISO 8601}]``, e.g. taken over from the
        paper sign-off sheet of an earlier system, or the demo. System only. Receipts already present are
        kept (first read wins). Out: ``{"recorded": new receipts, "read_count"}``."""
        actor = self.identity.actor
        actor.require(actor.is_system, "system only / 仅限系统")
        item = self._item(item_id)
        if not isinstance(reads, list) or len(reads) > 20000:
            raise BadInput("reads: a list of at most 20,000 / 至多20000条", fields={"reads": ["not a list"]})
        parsed = []
        for i, r in enumerate(reads):
            try:
                parsed.append(
                    {"member_id": str(r["member_id"]), "read_at": datetime.fromisoformat(r["read_at"])}
                )
            except (KeyError, TypeError, ValueError):
                raise BadInput(
                    "bad read record / 阅读记录有误", fields={"reads": {i: ["member_id, read_at"]}}
                ) from None
        recorded = self.store.record_reads(item_id, parsed, item["revision"])
        return {"recorded": recorded, "read_count": self._item(item_id).get("read_count", 0)}

    @rpc
    def import_register(self, union_id: str, entries: list[dict]) -> dict:
        """Take over a union's earlier disclosure register (paper or another system): items with their
        original publication dates, read records and questions with their answers. System only (an
        operator's migration, also the demo). Publishes no events: these are history, not news.

        In: ``union_id`` and [:class:`HistoryEntryIn`] (all validated before the first write). Out:
        ``{"items", "reads", "questions"}`` counts. Errors: BadInput, NotFound (union), Forbidden."""
        actor = self.identity.actor
        actor.require(actor.is_system, "system only / 仅限系统")
        if not isinstance(entries, list) or len(entries) > 500:
            raise BadInput("entries: a list of at most 500 / 至多500项", fields={"entries": ["not a list"]})
        entries = c.HistoryEntryIn(many=True).load(entries)
        union = self._union_info(union_id)
        if union["kind"] != "grassroots":
            raise BadInput(
                "not a grassroots union / 非基层工会", fields={"union_id": ["not a grassroots union"]}
            )
        decoded = [self._decode_attachments(e["attachments"]) for e in entries]
        counts = {"items": 0, "reads": 0, "questions": 0}
        for entry, files in sorted(zip(entries, decoded, strict=True), key=lambda p: p[0]["published_at"]):
            item = self._new_item(
                union, entry, files, "import", entry["published_by_name"], entry["published_at"]
            )
            self.store.insert_attachments(files)
            self.store.insert_item(item)
            counts["items"] += 1
            counts["reads"] += self.store.record_reads(item["_id"], entry["reads"], 1)
            for q in sorted(entry["questions"], key=lambda q: q["asked_at"]):
                doc = self._new_question(
                    item, q["member_id"], q["name"], q["anonymous"], q["text"], q["asked_at"]
                )
                self.store.insert_question(doc)
                if q["answer"]:
                    self.store.answer_question(
                        doc["_id"],
                        {
                            "answer": q["answer"],
                            "answered_at": q["answered_at"],
                            "answered_by": "import",
                            "answered_by_name": q["answered_by_name"] or entry["published_by_name"],
                        },
                    )
                counts["questions"] += 1
        return counts

    @rpc
    def recount_reads(self, item_id: str) -> dict:
        """Rebuild an item's read counter and readers list from its receipts (the source of truth) and
        say whether they had drifted. System or admins of the union. Out: ``{"item_id", "before",
        "receipts"}``. Cost: a scan of all receipts (~50 µs each on FerretDB)."""
        actor = self.identity.actor
        item = self._item(item_id)
        actor.require(
            actor.is_system or self._may_manage(actor, item["union_path"]), "admins only / 仅限管理员"
        )
        return {
            "item_id": item_id,
            "before": item.get("read_count", 0),
            "receipts": self.store.recount_reads(item_id),
        }

    # ----- questions and answers -----------------------------------------------------------------
    def _question_out(self, q: dict, actor: Actor, item_title: str = "") -> dict:
        at = now()
        end = q.get("answered_at") or at
        return c.QuestionOut().dump(
            {
                **q,
                "id": q["_id"],
                "item_title": item_title,
                "asker_name": None if q["anonymous"] else q.get("asker_name"),
                "asked_at": iso(q["asked_at"]),
                "answered_at": iso(q.get("answered_at")),
                "mine": q["asker_key"] == self.settings.asker_hash(actor.member_id),
                "age_days": rules.age_days(q["asked_at"], end),
            }
        )

    @rpc
    def ask_question(self, item_id: str, data: dict) -> dict:
        """A member asks about an item of their own union. In: :class:`QuestionIn` (``anonymous``: the
        union never sees who asked; the service keeps only a keyed hash so the asker can find their own).
        Out: :class:`QuestionOut`. Errors: Forbidden (not a member of the union), Conflict (withdrawn).
        Publishes ``question_asked``."""
        data = c.QuestionIn().load(data)
        actor = self.identity.actor
        item = self._item(item_id)
        actor.require(
            actor.union_id == item["union_id"],
            "only members of this union may ask about its disclosures / 仅本单位会员可提问",
            union_id=item["union_id"],
        )
        if item["status"] != "published":
            raise Conflict("the item was withdrawn / 该事项已撤回，不能提问")
        anonymous = data["anonymous"]
        doc = self._new_question(item, actor.member_id, actor.name, anonymous, data["text"], now())
        self.store.insert_question(doc)
        self.events.publish(
            "question_asked",
            question_id=doc["_id"],
            item_id=item_id,
            union_id=item["union_id"],
            anonymous=anonymous,
            asker_id=doc["asker_id"],
        )
        return self._question_out(doc, actor, item["title"])

    @rpc
    def answer_question(self, question_id: str, data: dict) -> dict:
        """The union answers a question publicly (once). In: :class:`AnswerIn`. Out: :class:`QuestionOut`.
        Admins of the item's union or above. Errors: NotFound, Forbidden, Conflict (already answered).
        Publishes ``question_answered`` (with ``asker_id`` null for an anonymous question)."""
        data = c.AnswerIn().load(data)
        actor = self.identity.actor
        q = self.store.get_question(question_id) if isinstance(question_id, str) else None
        if q is None:
            raise NotFound(f"no question {question_id} / 问题不存在")
        item = self._item(q["item_id"])
        self._require_manager(actor, item["union_path"], item["union_id"])
        done = self.store.answer_question(
            question_id,
            {
                "answer": data["text"].strip(),
                "answered_at": now(),
                "answered_by": actor.member_id,
                "answered_by_name": actor.name,
            },
        )
        if done is None:
            raise Conflict("already answered / 该问题已答复")
        self.events.publish(
            "question_answered",
            question_id=question_id,
            item_id=item["_id"],
            union_id=item["union_id"],
            asker_id=done["asker_id"],
            anonymous=done["anonymous"],
        )
        return self._question_out(done, actor, item["title"])

    @rpc
    def list_questions(self, item_id: str) -> list[dict]:
        """Questions under an item, oldest first: the answered ones (public), plus the caller's own open
        ones; admins of the union see every open one too. Out: [:class:`QuestionOut`]."""
        actor = self.identity.actor
        item = self._item(item_id)
        self._require_reader(actor, item)
        manage = self._may_manage(actor, item["union_path"])
        out = []
        for q in self.store.get_questions(item.get("question_ids", [])):
            shown = self._question_out(q, actor, item["title"])
            if q["status"] == "answered" or manage or shown["mine"]:
                out.append(shown)
        return out

    @rpc
    def open_questions(self, union_id: str) -> list[dict]:
        """The admin's desk: unanswered questions of a union, oldest first with their age in days.
        Admins of the union or above. Out: [:class:`QuestionOut`]."""
        actor = self.identity.actor
        index = self.store.get_union(union_id) if isinstance(union_id, str) else None
        path = index["path"] if index else self._union_info(union_id)["path"]
        self._require_manager(actor, path, union_id)
        questions = self.store.get_questions(index["open_question_ids"] if index else [])
        titles = {
            i["_id"]: i["title"] for i in self.store.get_items(sorted({q["item_id"] for q in questions}))
        }
        out = [self._question_out(q, actor, titles.get(q["item_id"], "")) for q in questions]
        return sorted(out, key=lambda q: q["asked_at"])

    @rpc
    def rebuild_union_index(self, union_id: str) -> dict:
        """Recompute a union's item list and open-question desk from the records (system only)."""
        actor = self.identity.actor
        actor.require(actor.is_system, "system only / 仅限系统")
        return self.store.rebuild_union_index(union_id)
