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

ROSTER_CHUNK = 1000
#: Bytes of an uploaded import file per ``import_files`` document (under the 16 MiB document limit).
FILE_PART = 8 * 1024 * 1024
#: How often a roster position is re-read when a registration in the same union moved the count meanwhile.
ROSTER_TRIES = 20


def now() -> datetime:
    return datetime.now(UTC)


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
        if not members:
            return
        union = self.db.unions.find_one_and_update(
            {"_id": union_id}, {"$inc": {"member_count": len(members)}}, return_document=ReturnDocument.AFTER
        )
        start = union["member_count"] - len(members)
        for chunk, entries in self._chunks(start, members).items():
            self.db.rosters.update_one(
                {"_id": self._chunk_id(union_id, chunk)},
                {"$push": {"entries": {"$each": entries}}},
                upsert=True,
            )

    def add_import_batch_to_roster(self, union_id: str, job_id: str, batch: int, members: list[dict]) -> None:
        """Append the members of import batch ``batch`` of job ``job_id`` to their union's roster, once:
        a batch run again after a crash finds its positions recorded (``roster_jobs``) and its chunks
        marked (``pushed``), and adds nothing twice. The positions are taken by a write guarded by the
        count just read (a registration in the same union meanwhile: read again, at most
        :data:`ROSTER_TRIES` times, then 503 and the job's next run tries again)."""
        if not members:
            return
        slot = f"roster_jobs.{job_id}"
        for _ in range(ROSTER_TRIES):
            union = self.db.unions.find_one({"_id": union_id}, {"member_count": 1, "roster_jobs": 1})
            done = (union.get("roster_jobs") or {}).get(job_id)
            if done and done["batch"] >= batch:
                start = done["start"]  # positions taken before an interruption
                break
            count = union.get("member_count", 0)
            taken = self.db.unions.update_one(
                {"_id": union_id, "member_count": count, f"{slot}.batch": done["batch"] if done else None},
                {"$set": {"member_count": count + len(members), slot: {"batch": batch, "start": count}}},
            )
            if taken.modified_count:
                start = count
                break
        else:
            raise ServiceUnavailable("the roster is busy, the import goes on shortly / 名册繁忙，稍后继续")
        key = f"{job_id}:{batch:06d}"
        for chunk, entries in self._chunks(start, members).items():
            try:
                self.db.rosters.update_one(
                    {"_id": self._chunk_id(union_id, chunk), "pushed": {"$ne": key}},
                    {"$push": {"entries": {"$each": entries}, "pushed": key}},
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # the chunk holds this batch already (the upsert met the existing chunk)

    @staticmethod
    def _chunks(start: int, members: list[dict]) -> dict[int, list[dict]]:
        by_chunk: dict[int, list[dict]] = {}
        for pos, m in enumerate(members, start=start):
            by_chunk.setdefault(pos // ROSTER_CHUNK, []).append(
                {"i": m["_id"], "n": m["name"], "p": m.get("phone") or "", "d": m.get("department_id") or ""}
                | ({"l": m["locale"]} if m.get("locale") not in (None, "zh-CN") else {})
            )
        return by_chunk

    def roster(self, union_id: str, member_count: int, first: int = 0, stop: int | None = None) -> list[dict]:
        """Roster entries of a union from position ``first`` up to ``stop`` (by ``_id`` lookups only)."""
        stop = member_count if stop is None else min(stop, member_count)
        entries: list[dict] = []
        for chunk in range(first // ROSTER_CHUNK, max(first, stop - 1) // ROSTER_CHUNK + 1):
            doc = self.db.rosters.find_one({"_id": self._chunk_id(union_id, chunk)})
            if doc:
                base = chunk * ROSTER_CHUNK
                entries.extend(doc["entries"][max(0, first - base) : max(0, stop - base)])
        return entries

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
                if e["n"].startswith(q) or e["i"].startswith(q) or e["p"].startswith(q)
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
