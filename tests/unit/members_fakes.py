"""Hand-written fakes for the members use cases (services/members/app.py): an in-memory store with the
methods of :class:`services.members.store.MembersStore` on the shared
:class:`tests.unit.fake_store.FakeStore` (the ``Store.change``/``create`` contract, plus the unique
``id_hash`` index and a crash after N writes), and a registry (password hashing, resident-ID hash). No
RabbitMQ, no FerretDB, no mocks."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from pymongo.errors import DuplicateKeyError

from services.members.rules import entry_matches, member_search_keys, national_id_hash, query_keys
from services.members.store import KEY_GROUP, ROSTER_CHUNK
from tests.unit.fake_store import FakeStore


class FakeMembersStore(FakeStore):
    service = "members"
    count_writes = False  # writes counts every attempt, the fake crash's clock (fail_after_writes)

    def __init__(self):
        super().__init__()
        self.fail_after_writes: int | None = None  # simulate a crash: raise after this many writes

    def _write(self) -> None:
        self.writes += 1
        if self.fail_after_writes is not None and self.writes > self.fail_after_writes:
            raise Crash(f"crash after {self.fail_after_writes} writes")

    def _attempt(self, op: str, collection: str) -> None:
        self._write()

    def _unique(self, collection: str, doc) -> None:
        if collection == "members" and any(
            m["id_hash"] == doc["id_hash"] for m in self.col(collection).values()
        ):
            raise DuplicateKeyError("E11000 duplicate key id_hash")  # the unique index of MembersStore

    def events_of(self, event_type: str) -> list[dict]:
        """What relaying now would publish (and has published) of one type."""
        self.relay()
        return [b for t, b in self.published if t == event_type]

    # --- unions, homes, departments -----------------------------------------------------------------
    def get_union(self, union_id):
        return copy.deepcopy(self.col("unions").get(union_id))

    def all_unions(self):
        return [copy.deepcopy(u) for u in self.col("unions").values()]

    def add_worker_home(self, doc):
        try:
            self.create("worker_homes", doc)
        except DuplicateKeyError:
            pass

    def worker_homes(self, union_ids=None):
        homes = self.col("worker_homes")
        ids = homes.keys() if union_ids is None else [u for u in union_ids if u in homes]
        return {u: copy.deepcopy(homes[u]) for u in ids}

    def departments(self, union_id=None):
        return sorted(
            (copy.deepcopy(d) for d in self.col("departments").values() if union_id in (None, d["union_id"])),
            key=lambda d: d["_id"],
        )

    def get_department(self, department_id):
        return copy.deepcopy(self.col("departments").get(department_id))

    # --- rosters ----------------------------------------------------------------------------------------
    def add_to_roster(self, union_id, members):
        self._write()
        union = self.col("unions")[union_id]
        start = union.get("member_count", 0)
        union["member_count"] = start + len(members)
        self._push(union_id, start, members)

    def add_import_batch_to_roster(self, union_id, job_id, batch, members):
        if not members:
            return
        self._write()
        union = self.col("unions")[union_id]
        done = union.setdefault("roster_jobs", {}).get(job_id)
        if done and done["batch"] >= batch:
            start = done["start"]
        else:
            start = union.get("member_count", 0)
            union["member_count"] = start + len(members)
            union["roster_jobs"][job_id] = {"batch": batch, "start": start}
        self._push(union_id, start, members, key=f"{job_id}:{batch:06d}")

    def _push(self, union_id, start, members, key=None):
        for pos, m in enumerate(members, start=start):
            chunk = self.col("rosters").setdefault(
                f"{union_id}:{pos // ROSTER_CHUNK:06d}", {"entries": [], "pushed": []}
            )
            if key in chunk["pushed"]:
                continue
            chunk["entries"].append(
                {"i": m["_id"], "n": m["name"], "p": m.get("phone") or "", "d": m.get("department_id") or ""}
            )
        if key:
            for pos in range(start, start + len(members)):
                pushed = self.col("rosters")[f"{union_id}:{pos // ROSTER_CHUNK:06d}"]["pushed"]
                if key not in pushed:
                    pushed.append(key)

    def roster(self, union_id, member_count, first=0, stop=None):
        stop = member_count if stop is None else min(stop, member_count)
        entries = []
        for chunk in range(first // ROSTER_CHUNK, max(first, stop - 1) // ROSTER_CHUNK + 1):
            doc = self.col("rosters").get(f"{union_id}:{chunk:06d}")
            if doc:
                base = chunk * ROSTER_CHUNK
                entries.extend(doc["entries"][max(0, first - base) : max(0, stop - base)])
        return copy.deepcopy(entries)

    def roster_page(self, unions, q, skip, limit):
        everyone = [e for u in unions for e in self.roster(u["_id"], u.get("member_count", 0))]
        if q:
            everyone = [
                e for e in everyone if e["n"].startswith(q) or e["i"].startswith(q) or e["p"].startswith(q)
            ]
        return [self.get_member(e["i"]) for e in everyone[skip : skip + limit]], len(everyone)

    # --- search keys -------------------------------------------------------------------------------------
    def _key_entries(self, members):
        out = {}
        for m in members:
            for key in member_search_keys(m["name"], m.get("phone")):
                out.setdefault(key, []).append({"i": m["_id"], "n": m["name"], "u": m["union_id"]})
        return out

    def add_search_keys(self, members):
        for key, entries in self._key_entries(members).items():
            self._write()
            self.col("search_keys").setdefault(key, {"entries": [], "jobs": {}})["entries"].extend(entries)

    def queue_search_entries(self, job_id, batch, members):
        self._write()
        self.col("search_due").setdefault(f"{job_id}:{batch:06d}", {"members": copy.deepcopy(members)})

    def pending_search_groups(self, job_id):
        ids = [i for i in self.col("search_due") if i.startswith(f"{job_id}:")]
        return sorted({int(i.rsplit(":", 1)[1]) // KEY_GROUP for i in ids})

    def flush_search_keys(self, job_id, group):
        ids = [f"{job_id}:{b:06d}" for b in range(group * KEY_GROUP, (group + 1) * KEY_GROUP)]
        members = [
            m for i in ids if i in self.col("search_due") for m in self.col("search_due")[i]["members"]
        ]
        for key, entries in self._key_entries(members).items():
            self._write()
            head = self.col("search_keys").setdefault(key, {"entries": [], "jobs": {}})
            if head["jobs"].get(job_id, -1) < group:  # a group added before a crash is not added again
                head["entries"].extend(entries)
                head["jobs"][job_id] = group
        for i in ids:
            if i in self.col("search_due"):
                self._write()
                del self.col("search_due")[i]

    def search_page(self, q, scope, skip, limit):
        ids = [n for n in dict.fromkeys((q.strip(), q.strip().upper())) if n in self.col("members")]
        ids = [n for n in ids if scope is None or self.col("members")[n]["union_id"] in scope]
        for key in query_keys(q):
            for e in self.col("search_keys").get(key, {"entries": []})["entries"]:
                if entry_matches(key, e, q) and (scope is None or e["u"] in scope) and e["i"] not in ids:
                    ids.append(e["i"])
        return [self.get_member(m) for m in ids[skip : skip + limit]], len(ids)

    # --- members ------------------------------------------------------------------------------------------
    def insert_members(self, docs):
        self._write()
        errors, col = [], self.col("members")
        hashes = {m["id_hash"] for m in col.values()}
        for i, d in enumerate(docs):
            if d["_id"] in col or d["id_hash"] in hashes:
                errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key"})
                continue
            col[d["_id"]] = {**copy.deepcopy(d), "_v": 0}
            hashes.add(d["id_hash"])
        return errors

    def get_member(self, member_id):
        return copy.deepcopy(self.col("members").get(member_id))

    def member_union(self, member_id):
        m = self.col("members").get(member_id)
        return m["union_id"] if m else None

    # --- role holders, as MembersStore keeps them (a superset, versions never lowered) -----------------
    def hold_role(self, scope, member_id, version):
        held = self.col("role_holders").setdefault(scope, {"_id": scope, "h": {}})["h"]
        if held.get(member_id, -1) < version:
            held[member_id] = version

    def drop_role_holder(self, scope, member_id, version):
        held = self.col("role_holders").get(scope, {"h": {}})["h"]
        if member_id in held and held[member_id] <= version:
            del held[member_id]

    def role_holder_ids(self, scope):
        return sorted(self.col("role_holders").get(scope, {"h": {}})["h"])

    def get_members(self, member_ids):
        return [
            copy.deepcopy(self.col("members")[m])
            for m in dict.fromkeys(member_ids)
            if m in self.col("members")
        ]

    # --- credentials and tokens -------------------------------------------------------------------------
    def get_credential(self, login):
        return copy.deepcopy(self.col("credentials").get(login))

    def insert_credentials(self, docs):
        self._write()
        for d in docs:
            self.col("credentials").setdefault(d["_id"], copy.deepcopy(d))

    def revoked_tokens(self, after):
        return [copy.deepcopy(d) for d in self.col("revoked_tokens").values() if d["expires_at"] > after]

    # --- imports ----------------------------------------------------------------------------------------
    def get_job(self, job_id):
        return copy.deepcopy(self.col("import_jobs").get(job_id))

    def jobs_of(self, member_id):
        return [copy.deepcopy(j) for j in self.col("import_jobs").values() if j["actor"] == member_id]

    def save_import_file(self, job_id, content):
        self.col("import_files")[job_id] = content
        return 1

    def import_file(self, job_id, parts):
        return self.col("import_files").get(job_id, b"")

    def drop_import_file(self, job_id, parts):
        self.col("import_files").pop(job_id, None)

    def mark_import_due(self, job_id, at):
        self.col("import_due")[job_id] = {"_id": job_id, "at": at}

    def imports_due(self):
        return [copy.deepcopy(m) for m in self.col("import_due").values()]

    def drop_import_due(self, job_id):
        self.col("import_due").pop(job_id, None)

    def save_error_batch(self, job_id, batch, errors):
        self._write()
        self.col("import_errors")[f"{job_id}:{batch:06d}"] = copy.deepcopy(errors)

    def error_batch(self, job_id, batch):
        return copy.deepcopy(self.col("import_errors").get(f"{job_id}:{batch:06d}", []))


class Crash(Exception):
    """What a simulated crash raises (a process dying between two writes)."""


class FakeRegistry:
    id_key = b"k" * 32
    max_import_bytes = 1024 * 1024
    import_lease_s = 60.0
    dummy_hash = "hash:timing-equaliser"

    def hash_password(self, password: str) -> str:
        return f"hash:{password[::-1]}"

    def verify_password(self, password_hash: str, password: str) -> bool:
        return password_hash in (self.hash_password(password), f"old:{password[::-1]}")

    def needs_rehash(self, password_hash: str) -> bool:
        """``old:…`` stands for a hash with outdated parameters (still verifies, rewritten at login)."""
        return password_hash.startswith("old:")

    def id_hash(self, national_id: str) -> str:
        return national_id_hash(self.id_key, national_id)


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Attempt:
    """A login-limit charge (:mod:`services.members.logins`) that records its settlement."""

    def __init__(self):
        self.settled = False
        self.failures = 0

    def succeeded(self) -> None:
        self.settled = True

    def failed(self) -> None:
        self.failures += 1
