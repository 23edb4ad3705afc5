"""Storage of the members service (database ``members``).

Collections (``_id`` chosen so that hot paths are ``_id`` lookups, see docs/storage.md):

- ``unions``: ``_id`` union id; ``name``, ``kind``, ``parent_id``, ``path`` (ids root … self),
  ``member_count`` (kept by $inc on every insert).
- ``worker_homes``: ``_id`` = the union id (one home per grassroots union); ``name``, ``star_level``.
- ``departments``: ``_id``; ``union_id``, ``name``.
- ``members``: ``_id`` = member number; ``name``, ``union_id``, ``department_id``, ``phone``, ``email``,
  ``id_hash`` (keyed HMAC-SHA256 of the resident ID, unique), ``id_last4``, ``gender``, ``locale``,
  ``roles`` (list of ``{role, scope}``), ``login``, ``import_job``.
- ``rosters``: the member roster (会员名册) of each union, a derived index for paging and searching
  a union's members without scanning the registry: ``_id`` = union id + chunk number, ``entries`` =
  ``[{i: member number, n: name, p: phone, d: department id, l: locale (only when not zh-CN)}]``, at most :data:`ROSTER_CHUNK` per document, positions
  allocated by ``$inc`` on the union's ``member_count``. :meth:`MembersStore.rebuild_rosters`
  recomputes it from ``members`` (the source of truth).
- ``search_keys`` / ``search_chunks``: the search keys (issue 17; docs/storage.md, "Member search"), a
  derived index for searching members across many unions: a head per key (``_id`` = ``n:<first 2
  characters of the folded name>`` or ``p:<phone>``; ``count``, ``jobs.<import job>`` = ``{batch,
  start}``) and its entries ``[{i: member number, n: name, u: union id}]`` in chunks of :data:`KEY_CHUNK`
  (``_id`` = key + chunk number, ``pushed``: the import batches a chunk holds).
  :meth:`MembersStore.rebuild_search_keys` recomputes them from ``members``. ``search_due``: the entries
  of an import's batches until their group is added (``_id`` = job id + batch number; small).
- ``credentials``: ``_id`` = login name, normalised (``dmlib.schemas.normalise_identifier``: NFKC,
  trimmed, upper case; :meth:`MembersStore.ensure_indexes` renames keys written before that rule);
  ``member_id``, ``password_hash`` (argon2id); both null for a retired login name (the member moved to
  another one: kept, not deleted, so that the audit entry in its outbox is still relayed).
- ``revoked_tokens``: ``_id`` = a logged-out token's ``jti``; ``expires_at`` (the token's own expiry,
  after which the hourly purge deletes it).
- ``import_jobs`` (``_id`` = job id; changed only through ``Store.change``: ``next_batch`` is the number of
  batches committed, ``lease_until`` the end of the current runner's lease, ``password_hash`` the
  initial password's argon2id hash while the job runs), ``import_files`` (the uploaded file, ``_id`` =
  job id + part number, :data:`FILE_PART` bytes a part, deleted when the job ends), ``import_due`` (one
  marker per unfinished job, ``_id`` = job id: what the resume timer reads; a small collection) and
  ``import_errors`` (``_id`` = job id + batch number: one document per 1,000 rows).
- On ``unions``, ``roster_jobs.<job id>`` = ``{batch, start}``: the last import batch added to that
  union's roster and the roster position it started at, so a resumed batch is not added twice; on
  ``rosters``, ``pushed``: the import batches whose entries a chunk holds.
- ``role_holders``: who holds a role in a scope (issue 13: the staff a case notification goes to), a
  derived index so that finding them is one ``_id`` lookup, not a scan of ``members``: ``_id`` = the
  scope (a union, department or congress id), ``h.<member number>`` = the member's version (``_v``)
  as of the latest grant in that scope. It is a superset of the holders: a grant adds the entry *before*
  its guarded change commits, a revoke removes it *after*, and only if the member holds no role there
  any more and the entry is not newer than the revoke (so reordered writes never drop a holder);
  readers check each entry against the member's ``roles`` (:func:`.app.role_holders`). Built from
  ``members`` once (:meth:`MembersStore.ensure_indexes`, marker ``_id`` ``~built``).
- ``login_attempts``: failed-login counters, ``_id`` = ``acct:<login>:<window>`` or
  ``addr:<address>:<window>``; ``count``, ``expires_at`` (see :mod:`services.members.logins`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import IndexModel

from dmlib.errors import ServiceUnavailable
from dmlib.schemas import normalise_identifier
from dmlib.storage import Store

from . import rules

ROSTER_CHUNK = 1000
#: Entries per ``search_chunks`` document (small: a write's cost grows with the document, docs/storage.md).
KEY_CHUNK = 500
#: A filtered search (a scope below the whole federation, or ``q`` longer than the key) reads at most
#: this many entries of a key: 40 chunk lookups.
KEY_SCAN = 20_000
#: Import batches whose search-key entries are added together (:meth:`MembersStore.flush_search_keys`).
KEY_GROUP = 20
#: Bytes of an uploaded import file per ``import_files`` document (under the 16 MiB document limit).
FILE_PART = 8 * 1024 * 1024
#: How often a roster position is re-read when a registration in the same union moved the count meanwhile.
ROSTER_TRIES = 20


def now() -> datetime:
    return datetime.now(UTC)


def _entries_by_key(members: list[dict]) -> dict[str, list[dict]]:
    """Search-key entries ``{i, n, u}`` of ``members`` grouped by key, in the members' order."""
    out: dict[str, list[dict]] = {}
    for m in members:
        for key in rules.member_search_keys(m["name"], m.get("phone")):
            out.setdefault(key, []).append({"i": m["_id"], "n": m["name"], "u": m["union_id"]})
    return out


def _duplicates(collection, docs: list[dict]) -> list[int]:
    """Insert ``docs`` (unordered); return the indexes of those whose ``_id`` existed already. Any other
    write error is raised."""
    if not docs:
        return []
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        return [e["index"] for e in errors]
    return []


def _by_chunk(start: int, entries: list[dict], size: int) -> dict[int, list[dict]]:
    """``entries`` placed from position ``start`` on, grouped by chunk number (``size`` a chunk)."""
    out: dict[int, list[dict]] = {}
    for pos, entry in enumerate(entries, start=start):
        out.setdefault(pos // size, []).append(entry)
    return out


#: The marker of a built ``role_holders`` collection (not an id: ids never start with ``~``).
ROLE_HOLDERS_BUILT = "~built"


def _hold(db, scope: str, member_id: str, version: int) -> None:
    """Record ``member_id`` in ``scope``'s role holders as of their version ``version`` (never lowered)."""
    try:
        db.role_holders.insert_one({"_id": scope, "h": {}})
    except DuplicateKeyError:
        pass
    key = f"h.{member_id}"
    db.role_holders.update_one(
        {"_id": scope, "$or": [{key: {"$exists": False}}, {key: {"$lt": version}}]},
        {"$set": {key: version}},
    )


class MembersStore(Store):
    indexes = {
        "members": [IndexModel("id_hash", unique=True, name="id_hash_unique"), IndexModel("union_id")],
        "departments": [IndexModel("union_id")],
        "unions": [IndexModel("parent_id")],
    }

    @classmethod
    def ensure_indexes(cls, db) -> None:
        """The declared indexes, then the login-name migration: credentials whose ``_id`` is not yet
        normalised (written before logins were case-insensitive, e.g. ``admin01``) move to the normalised
        key (``ADMIN01``), and the member's ``login`` with them. Idempotent; touches only such keys."""
        super().ensure_indexes(db)

        for cred in list(db.credentials.find({"_id": {"$regex": "[a-z]"}})):
            key = normalise_identifier(cred["_id"])
            try:
                db.credentials.insert_one({**cred, "_id": key})
            except DuplicateKeyError:
                pass  # moved by another instance, or a clash: the normalised key wins
            db.credentials.delete_one({"_id": cred["_id"]})
            db.members.update_one({"_id": cred["member_id"], "login": cred["_id"]}, {"$set": {"login": key}})
        if db.role_holders.find_one({"_id": ROLE_HOLDERS_BUILT}) is None:
            for m in db.members.find({}, projection={"roles": 1, "_v": 1}):
                for scope in {g["scope"] for g in m.get("roles") or []}:
                    _hold(db, scope, m["_id"], m.get("_v") or 0)
            db.role_holders.update_one({"_id": ROLE_HOLDERS_BUILT}, {"$set": {"h": {}}}, upsert=True)

    # --- unions --------------------------------------------------------------------------------
    def get_union(self, union_id: str) -> dict | None:
        return self.db.unions.find_one({"_id": union_id})

    def all_unions(self) -> list[dict]:
        """Every union (a federation has hundreds at most; the tree is built in memory)."""
        return list(self.db.unions.find({}))

    # --- rosters ---------------------------------------------------------------------------------
    @staticmethod
    def _chunk_id(union_id: str, chunk: int) -> str:
        return f"{union_id}:{chunk:06d}"

    def add_to_roster(self, union_id: str, members: list[dict]) -> None:
        """Append members to their union's roster: positions are taken atomically from ``member_count``."""
        entries = [self._roster_entry(m) for m in members]
        self._append("unions", union_id, "member_count", "rosters", ROSTER_CHUNK, entries, upsert=False)

    def add_import_batch_to_roster(self, union_id: str, job_id: str, batch: int, members: list[dict]) -> None:
        """Append the members of import batch ``batch`` of job ``job_id`` to their union's roster, once
        (:meth:`_append_once`)."""
        entries = [self._roster_entry(m) for m in members]
        self._append_once(
            "unions", union_id, "member_count", "roster_jobs", "rosters", ROSTER_CHUNK, job_id, batch, entries
        )

    def _append(
        self, heads: str, head_id: str, count: str, chunks: str, size: int, entries: list[dict], upsert: bool
    ) -> None:
        """Append ``entries`` to the chunked list ``head_id`` (its length in ``heads``' field ``count``, its
        entries in ``chunks`` documents ``<head_id>:<chunk, 6 digits>`` of ``size`` entries): positions
        are taken atomically by one ``$inc`` (with ``upsert`` a missing head starts at 0, else nothing is
        added). Not resumable: a crash between the two writes leaves a gap that the view's rebuild closes."""
        if not entries:
            return
        head = self.db[heads].find_one_and_update(
            {"_id": head_id},
            {"$inc": {count: len(entries)}},
            upsert=upsert,
            return_document=ReturnDocument.AFTER,
        )
        if head is None:
            return
        start = head[count] - len(entries)
        for chunk, part in _by_chunk(start, entries, size).items():
            self.db[chunks].update_one(
                {"_id": self._chunk_id(head_id, chunk)}, {"$push": {"entries": {"$each": part}}}, upsert=True
            )

    def _append_once(
        self,
        heads: str,
        head_id: str,
        count: str,
        jobs: str,
        chunks: str,
        size: int,
        job_id: str,
        batch: int,
        entries: list[dict],
    ) -> None:
        """:meth:`_append` for import batch ``batch`` of job ``job_id``, once: a batch run again after a
        crash finds its positions recorded (``<jobs>.<job id>`` on the head) and its chunks marked
        (``pushed``), and adds nothing twice. The positions are taken by a write guarded by the count just
        read (another append meanwhile: read again, at most :data:`ROSTER_TRIES` times, then 503 and the
        job's next run tries again). A missing head is created with ``count`` 0 (a plain insert: FerretDB
        ignores an upsert with ``$setOnInsert`` alone, docs/storage.md)."""
        if not entries:
            return
        slot = f"{jobs}.{job_id}"
        for _ in range(ROSTER_TRIES):
            head = self.db[heads].find_one({"_id": head_id}, {count: 1, jobs: 1})
            if head is None:
                try:
                    self.db[heads].insert_one({"_id": head_id, count: 0})
                except DuplicateKeyError:
                    pass  # created meanwhile
                head = {"_id": head_id, count: 0}
            done = (head.get(jobs) or {}).get(job_id)
            if done and done["batch"] >= batch:
                start = done["start"]  # positions taken before an interruption
                break
            current = head.get(count, 0)
            taken = self.db[heads].update_one(
                {"_id": head_id, count: current, f"{slot}.batch": done["batch"] if done else None},
                {"$set": {count: current + len(entries), slot: {"batch": batch, "start": current}}},
            )
            if taken.modified_count:
                start = current
                break
        else:
            raise ServiceUnavailable("the roster is busy, the import goes on shortly / 名册繁忙，稍后继续")
        key = f"{job_id}:{batch:06d}"
        for chunk, part in _by_chunk(start, entries, size).items():
            try:
                self.db[chunks].update_one(
                    {"_id": self._chunk_id(head_id, chunk), "pushed": {"$ne": key}},
                    {"$push": {"entries": {"$each": part}, "pushed": key}},
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # the chunk holds this batch already (the upsert met the existing chunk)

    def _read_chunks(
        self, chunks: str, head_id: str, size: int, count: int, first: int = 0, stop: int | None = None
    ) -> list[dict]:
        """Entries ``first`` … ``stop`` of a chunked list of ``count`` entries (one ``_id`` lookup per
        chunk)."""
        stop = count if stop is None else min(stop, count)
        entries: list[dict] = []
        if stop <= first:
            return entries
        for chunk in range(first // size, (stop - 1) // size + 1):
            doc = self.db[chunks].find_one({"_id": self._chunk_id(head_id, chunk)})
            if doc:
                base = chunk * size
                entries.extend(doc["entries"][max(0, first - base) : max(0, stop - base)])
        return entries

    @staticmethod
    def _roster_entry(m: dict) -> dict:
        return {
            "i": m["_id"],
            "n": m["name"],
            "p": m.get("phone") or "",
            "d": m.get("department_id") or "",
        } | ({"l": m["locale"]} if m.get("locale") not in (None, "zh-CN") else {})

    def roster(self, union_id: str, member_count: int, first: int = 0, stop: int | None = None) -> list[dict]:
        """Roster entries of a union from position ``first`` up to ``stop`` (by ``_id`` lookups only)."""
        return self._read_chunks("rosters", union_id, ROSTER_CHUNK, member_count, first, stop)

    def rebuild_rosters(self) -> dict[str, int]:
        """Recompute every roster and member count from ``members``; returns the counts per union."""
        per_union: dict[str, list[dict]] = {}
        for m in self.db.members.find(
            {}, projection={"name": 1, "phone": 1, "union_id": 1, "department_id": 1, "locale": 1}
        ):
            per_union.setdefault(m["union_id"], []).append(m)
        self.db.rosters.delete_many({})
        self.db.unions.update_many({}, {"$set": {"member_count": 0}})
        for union_id, members in per_union.items():
            for i in range(0, len(members), ROSTER_CHUNK):
                self.add_to_roster(union_id, members[i : i + ROSTER_CHUNK])
        return {u: len(ms) for u, ms in per_union.items()}

    # --- search keys (issue 17; docs/storage.md, "Member search") ---------------------------------
    def add_search_keys(self, members: list[dict]) -> None:
        """Add members (just registered) under their search keys (:func:`.rules.member_search_keys`)."""
        for key, entries in _entries_by_key(members).items():
            self._append("search_keys", key, "count", "search_chunks", KEY_CHUNK, entries, upsert=True)

    def queue_search_entries(self, job_id: str, batch: int, members: list[dict]) -> None:
        """Keep the search-key entries of import batch ``batch`` (the members it inserted) in
        ``search_due`` (one insert, ``_id`` = job id + batch: a batch run again writes nothing twice)
        until :meth:`flush_search_keys` adds its group of :data:`KEY_GROUP` batches to the keys."""
        entries = [{"k": key, **e} for key, part in _entries_by_key(members).items() for e in part]
        try:
            self.db.search_due.insert_one({"_id": f"{job_id}:{batch:06d}", "entries": entries})
        except DuplicateKeyError:
            pass  # kept before an interruption: the same members

    def pending_search_groups(self, job_id: str) -> list[int]:
        """The groups of ``job_id`` with batches still in ``search_due`` (a scan of that small
        collection: it holds only the batches of running imports not yet flushed)."""
        ids = (d["_id"] for d in self.db.search_due.find({}, {"_id": 1}))
        return sorted({int(i.rsplit(":", 1)[1]) // KEY_GROUP for i in ids if i.startswith(f"{job_id}:")})

    def flush_search_keys(self, job_id: str, group: int) -> None:
        """Add the kept entries of batches ``group × KEY_GROUP`` … of ``job_id`` to the search keys, once
        per key (:meth:`add_import_group_to_search_keys` with ``group`` as the batch number), then drop
        them. Grouping makes the cost per key (a read and two guarded writes) be paid once per
        :data:`KEY_GROUP` × 1,000 members instead of once per 1,000."""
        ids = [f"{job_id}:{b:06d}" for b in range(group * KEY_GROUP, (group + 1) * KEY_GROUP)]
        docs = [d for d in (self.db.search_due.find_one({"_id": i}) for i in ids) if d]
        by_key: dict[str, list[dict]] = {}
        for doc in docs:
            for e in doc["entries"]:
                by_key.setdefault(e["k"], []).append({"i": e["i"], "n": e["n"], "u": e["u"]})
        self.add_import_group_to_search_keys(job_id, group, by_key)
        for doc in docs:
            self.db.search_due.delete_one({"_id": doc["_id"]})

    def add_import_group_to_search_keys(self, job_id: str, group: int, by_key: dict[str, list[dict]]) -> None:
        """Add the entries ``by_key`` of batch group ``group`` of job ``job_id`` to the search keys, once (a
        group flushed again after a crash adds nothing twice). Keys new to the registry (most phones, and
        names early in an import) are written with two ``insert_many`` (heads recording this group, then
        chunks marked ``pushed``); the others through :meth:`_append_once`, one guarded ``update_one`` per
        key and chunk. Never a multi-statement update (docs/storage.md)."""
        batch = group
        if not by_key:
            return
        tag = f"{job_id}:{batch:06d}"
        heads = [
            {"_id": key, "count": len(entries), "jobs": {job_id: {"batch": batch, "start": 0}}}
            for key, entries in by_key.items()
        ]
        existing = {heads[i]["_id"] for i in _duplicates(self.db.search_keys, heads)}
        chunks = [
            {"_id": self._chunk_id(key, chunk), "entries": part, "pushed": [tag]}
            for key, entries in by_key.items()
            if key not in existing
            for chunk, part in _by_chunk(0, entries, KEY_CHUNK).items()
        ]
        for i in _duplicates(self.db.search_chunks, chunks):
            # the chunk exists: written by this batch before an interruption (then ``pushed`` holds it and
            # nothing changes), or started by a registration between the two inserts (then append to it)
            self.db.search_chunks.update_one(
                {"_id": chunks[i]["_id"], "pushed": {"$ne": tag}},
                {"$push": {"entries": {"$each": chunks[i]["entries"]}, "pushed": tag}},
            )
        for key in existing:  # an existing key, or one this batch created before an interruption
            self._append_once(
                "search_keys", key, "count", "jobs", "search_chunks", KEY_CHUNK, job_id, batch, by_key[key]
            )

    def search_key_count(self, key: str) -> int:
        head = self.db.search_keys.find_one({"_id": key}, {"count": 1})
        return head.get("count", 0) if head else 0

    def search_key_entries(self, key: str, count: int, first: int = 0, stop: int | None = None) -> list[dict]:
        """Entries ``{i: member number, n: name, u: union id}`` ``first`` … ``stop`` of a search key."""
        return self._read_chunks("search_chunks", key, KEY_CHUNK, count, first, stop)

    def rebuild_search_keys(self) -> int:
        """Recompute every search key from ``members`` (the source of truth): the old keys are dropped and
        the new ones written with ``insert_many`` (new documents only, docs/storage.md). Returns the
        number of keys."""
        by_key: dict[str, list[dict]] = {}
        for m in self.db.members.find({}, projection={"name": 1, "phone": 1, "union_id": 1}):
            for key, entries in _entries_by_key([m]).items():
                by_key.setdefault(key, []).extend(entries)
        # dropped, not ``delete_many({})``: FerretDB 1.24 deletes the matched rows with one SQL statement
        # naming each of them and fails beyond SQLite's 32,766 variables (docs/storage.md); neither
        # collection has a secondary index to recreate.
        self.db.search_keys.drop()
        self.db.search_chunks.drop()
        heads = [{"_id": key, "count": len(entries)} for key, entries in by_key.items()]
        chunks = [
            {"_id": self._chunk_id(key, chunk), "entries": part}
            for key, entries in by_key.items()
            for chunk, part in _by_chunk(0, entries, KEY_CHUNK).items()
        ]
        for docs, col in ((chunks, self.db.search_chunks), (heads, self.db.search_keys)):
            for i in range(0, len(docs), 1000):
                col.insert_many(docs[i : i + 1000], ordered=False)
        return len(heads)

    # --- Worker Homes and departments (created and changed through Store.create/change: app.py) ---
    def add_worker_home(self, doc: dict) -> None:
        """Written just before its union (the commit point): one left by an interrupted creation is kept."""
        try:
            self.create("worker_homes", doc)
        except DuplicateKeyError:
            pass

    def worker_homes(self, union_ids: Iterable[str] | None = None) -> dict[str, dict]:
        query = {} if union_ids is None else {"_id": {"$in": list(union_ids)}}
        return {d["_id"]: d for d in self.db.worker_homes.find(query)}

    def departments(self, union_id: str | None = None) -> list[dict]:
        query = {} if union_id is None else {"union_id": union_id}
        return sorted(self.db.departments.find(query), key=lambda d: d["_id"])

    def get_department(self, department_id: str) -> dict | None:
        return self.db.departments.find_one({"_id": department_id})

    # --- members (one registration and role changes through Store.create/change: app.py) ----------
    def insert_members(self, docs: list[dict]) -> list[dict]:
        """Insert all ``docs`` (one import batch, ``_v`` 0) that clash with nothing; returns the write
        errors (index, code, errmsg). The member number (``_id``) and the resident-ID hash are the keys
        that make a batch run twice insert each member once."""
        docs = [{**d, "_v": 0} for d in docs]
        if not docs:
            return []
        try:
            self.db.members.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            return exc.details.get("writeErrors", [])
        return []

    def get_member(self, member_id: str) -> dict | None:
        return self.db.members.find_one({"_id": member_id})

    # --- role holders (see the module docstring) ----------------------------------------------------
    def hold_role(self, scope: str, member_id: str, version: int) -> None:
        """Before a grant commits: list ``member_id`` under ``scope`` as of the version the grant writes."""
        _hold(self.db, scope, member_id, version)

    def drop_role_holder(self, scope: str, member_id: str, version: int) -> None:
        """After a revoke committed (the member's version ``version``, no role left in ``scope``): drop the
        entry unless a later grant wrote a newer one."""
        key = f"h.{member_id}"
        self.db.role_holders.update_one({"_id": scope, key: {"$lte": version}}, {"$unset": {key: ""}})

    def role_holder_ids(self, scope: str) -> list[str]:
        """The member numbers listed under ``scope`` (a superset of its holders; one ``_id`` lookup)."""
        doc = self.db.role_holders.find_one({"_id": scope}) or {}
        return sorted(doc.get("h") or {})

    def member_union(self, member_id: str) -> str | None:
        """The union id of a member (only that field is read: authorisation decides on it before the
        record is read), or None if there is no such member."""
        doc = self.db.members.find_one({"_id": member_id}, projection={"union_id": 1})
        return doc["union_id"] if doc else None

    def get_members(self, member_ids: list[str]) -> list[dict]:
        """Members by number, one ``_id`` lookup each: FerretDB answers ``$in`` by decoding the whole
        collection (0.6 s at 12,000 members), a lookup by ``_id`` from its index (0.5 ms)."""
        found = (self.db.members.find_one({"_id": m}) for m in dict.fromkeys(member_ids))
        return [m for m in found if m is not None]

    def roster_page(self, unions: list[dict], q: str | None, skip: int, limit: int) -> tuple[list[dict], int]:
        """A page of the members of ``unions`` (in roster order, union after union) and the total; with
        ``q``, only those whose name, member number or phone starts with ``q``."""
        if q:
            matches = [
                e
                for u in unions
                for e in self.roster(u["_id"], u.get("member_count", 0))
                if rules.member_matches_prefix(q, e["i"], e["n"], e["p"])
            ]
            total, wanted = len(matches), matches[skip : skip + limit]
        else:
            total, wanted, offset = sum(u.get("member_count", 0) for u in unions), [], skip
            for u in unions:
                count = u.get("member_count", 0)
                if offset >= count:
                    offset -= count
                    continue
                wanted.extend(self.roster(u["_id"], count, offset, offset + limit - len(wanted)))
                offset = 0
                if len(wanted) >= limit:
                    break
        members = [self.get_member(e["i"]) for e in wanted]
        return [m for m in members if m], total

    def search_page(self, q: str, scope: set[str] | None, skip: int, limit: int) -> tuple[list[dict], int]:
        """A page of the members matching ``q`` (at least :data:`.rules.NAME_KEY_CHARS` characters) in the
        grassroots unions ``scope`` (None: every union) and the total, from the search keys: first the
        member whose number is ``q``, then those whose phone is ``q``, then those whose name starts with
        ``q`` (each key in the order the members were added).

        Cost: a key every entry of which matches (the whole federation searched by exactly
        :data:`.rules.NAME_KEY_CHARS` characters, or by a phone) is counted from its head and only the
        chunks the page needs are read: O(page). A filtered key (a smaller scope, a longer ``q``) is read
        up to :data:`KEY_SCAN` entries (40 ``_id`` lookups): bounded, and the total counts what was read.
        Then one ``_id`` lookup per member of the page."""
        segments: list[tuple[str, list[str] | int]] = []  # (key, matching ids) or (key, count: all match)
        seen: set[str] = set()
        for number in dict.fromkeys((q.strip(), q.strip().upper())):
            union_id = self.member_union(number)
            if union_id is not None and (scope is None or union_id in scope):
                segments.append(("", [number]))
                seen.add(number)
        whole_key = len(rules.fold(q)) == rules.NAME_KEY_CHARS
        for key in rules.query_keys(q):
            count = self.search_key_count(key)
            if not count:
                continue
            if scope is None and (whole_key or key.startswith("p:")):
                segments.append((key, count))
                continue
            ids = [
                e["i"]
                for e in self.search_key_entries(key, count, 0, KEY_SCAN)
                if rules.entry_matches(key, e, q)
                and (scope is None or e["u"] in scope)
                and e["i"] not in seen
            ]
            seen.update(ids)
            segments.append((key, ids))
        wanted: list[str] = []
        total, stop = 0, skip + limit
        for key, part in segments:
            size = part if isinstance(part, int) else len(part)
            lo, hi = max(skip - total, 0), min(stop - total, size)
            if lo < hi:
                if isinstance(part, int):
                    wanted.extend(e["i"] for e in self.search_key_entries(key, part, lo, hi))
                else:
                    wanted.extend(part[lo:hi])
            total += size
        found = (self.get_member(m) for m in dict.fromkeys(wanted))
        return [m for m in found if m is not None], total

    # --- credentials -----------------------------------------------------------------------------
    def get_credential(self, login: str) -> dict | None:
        return self.db.credentials.find_one({"_id": login})

    def insert_credentials(self, docs: list[dict]) -> None:
        if docs:
            try:
                self.db.credentials.insert_many(docs, ordered=False)
            except BulkWriteError:
                pass  # a login that exists already keeps its password

    # --- revoked tokens (logout; created through Store.create with ``token_revoked``: app.py) ----
    def revoked_tokens(self, after: datetime) -> list[dict]:
        return list(self.db.revoked_tokens.find({"expires_at": {"$gt": after}}))

    def purge_revoked_tokens(self, before: datetime) -> int:
        return self.db.revoked_tokens.delete_many({"expires_at": {"$lt": before}}).deleted_count

    # --- login attempts (services/members/logins.py) ---------------------------------------------
    def attempt_count(self, key: str) -> int:
        """The failures recorded on the counter ``key`` (0 when it does not exist): one ``_id`` lookup."""
        doc = self.db.login_attempts.find_one({"_id": key}, {"count": 1})
        return int(doc["count"]) if doc else 0

    def count_attempt(self, key: str, expires_at: datetime) -> int:
        """Add one to the counter ``key`` (created at 0) and return the new count: one atomic ``$inc``."""
        doc = self.db.login_attempts.find_one_and_update(
            {"_id": key},
            {"$inc": {"count": 1}, "$set": {"expires_at": expires_at}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["count"])

    def uncount_attempt(self, key: str) -> None:
        self.db.login_attempts.update_one({"_id": key}, {"$inc": {"count": -1}})

    def clear_attempts(self, key: str) -> None:
        self.db.login_attempts.delete_one({"_id": key})

    def purge_attempts(self, before: datetime) -> int:
        """Delete the counters of windows that ended before ``before`` (a scan of a small collection)."""
        return self.db.login_attempts.delete_many({"expires_at": {"$lt": before}}).deleted_count

    # --- imports (jobs created and changed through Store.create/change: app.py) -------------------
    def get_job(self, job_id: str) -> dict | None:
        return self.db.import_jobs.find_one({"_id": job_id})

    def jobs_of(self, member_id: str) -> list[dict]:
        """The import jobs a member started, without their samples (the "what needs me" home: a scan of
        ``import_jobs``, a few per admin)."""
        return list(
            self.db.import_jobs.find(
                {"actor": member_id}, projection={"errors_sample": 0, "password_hash": 0}
            )
        )

    def save_import_file(self, job_id: str, content: bytes) -> int:
        """Keep the uploaded file until its job ends (written before the job: an interrupted start leaves
        parts that no job names, deleted with :meth:`drop_import_file` by no one; they hold no more than
        the request did). Returns the number of parts."""
        parts = max(1, -(-len(content) // FILE_PART))
        for i in range(parts):
            self.db.import_files.replace_one(
                {"_id": f"{job_id}:{i:04d}"},
                {"job_id": job_id, "data": content[i * FILE_PART : (i + 1) * FILE_PART]},
                upsert=True,
            )
        return parts

    def import_file(self, job_id: str, parts: int) -> bytes:
        return b"".join(
            bytes((self.db.import_files.find_one({"_id": f"{job_id}:{i:04d}"}) or {}).get("data", b""))
            for i in range(parts)
        )

    def drop_import_file(self, job_id: str, parts: int) -> None:
        for i in range(parts):
            self.db.import_files.delete_one({"_id": f"{job_id}:{i:04d}"})

    def mark_import_due(self, job_id: str, at: datetime) -> None:
        """The marker of an unfinished job, written just before the job (its commit point)."""
        self.db.import_due.replace_one({"_id": job_id}, {"at": at}, upsert=True)

    def imports_due(self) -> list[dict]:
        """Every marker (a small collection: only jobs in flight)."""
        return list(self.db.import_due.find({}))

    def drop_import_due(self, job_id: str) -> None:
        self.db.import_due.delete_one({"_id": job_id})

    def save_error_batch(self, job_id: str, batch: int, errors: list[dict]) -> None:
        """The bad rows of one batch (the same again when a batch runs twice)."""
        self.db.import_errors.replace_one(
            {"_id": f"{job_id}:{batch:06d}"}, {"job_id": job_id, "errors": errors}, upsert=True
        )

    def error_batch(self, job_id: str, batch: int) -> list[dict]:
        doc = self.db.import_errors.find_one({"_id": f"{job_id}:{batch:06d}"})
        return doc["errors"] if doc else []
