"""The disclosure service (厂务公开): a grassroots union publishes items to its own members, records each
member's first read, and answers members' questions in public (DESIGN.md §4).

Entrypoints only: each loads its input with the contract schema (:mod:`dmlib.contracts.disclosure`),
calls its use case in :mod:`services.disclosure.app` and dumps the output. Who may do what is decided in
:mod:`services.disclosure.policy`, state changes commit with their events in the outbox
(:mod:`services.disclosure.store`, ``OutboxRelay`` publishes them), pure rules live in
:mod:`services.disclosure.rules`.
"""

from __future__ import annotations

import hashlib
import hmac

from nameko.extensions import DependencyProvider

from dmlib.auth import Identity, auth_secret
from dmlib.contracts import disclosure as c
from dmlib.contracts.needs import needs
from dmlib.errors import BadInput
from dmlib.events import Events
from dmlib.health import HealthRpc
from dmlib.rpc import Rpc, rpc
from dmlib.state import OutboxRelay, now
from dmlib.storage import Mongo

from . import app, policy
from .store import DisclosureStore

DEFAULT_MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
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


class MembersAdapter:
    """The members service as the use cases need it (:class:`services.disclosure.app.Members`). Roster
    and departments are asked as this service: only after the policy allowed the caller."""

    def __init__(self, members_rpc, identity):
        self.rpc, self.identity = members_rpc, identity

    def get_union(self, union_id: str) -> dict:
        """``{id, name, path, kind, member_count}`` (NotFound from members)."""
        return self.rpc.get_union(union_id)

    def unions_under(self, union_id: str) -> list[dict]:
        """The union and every union below it (``[{id, name, path, kind, …}]``), as the caller asks."""
        return self.rpc.list_unions(union_id)

    def roster(self, union_id: str) -> list[dict]:
        """Every member of the union, :data:`ROSTER_PAGE` per call."""
        self.identity.act_as_service()
        roster: list[dict] = []
        while True:
            part = self.rpc.union_roster(union_id, len(roster), ROSTER_PAGE)
            roster.extend(part["members"])
            if not part["members"] or len(roster) >= part["total"]:
                return roster

    def departments(self, union_id: str) -> list[dict]:
        self.identity.act_as_service()
        return self.rpc.list_departments(union_id)


class DisclosureService(OutboxRelay, HealthRpc):
    name = "disclosure"

    store: DisclosureStore = Mongo(DisclosureStore)
    identity = Identity()
    events = Events()
    settings = Settings()
    members_rpc = Rpc("members")

    @property
    def members(self) -> MembersAdapter:
        return MembersAdapter(self.members_rpc, self.identity)

    # ----- publishing ----------------------------------------------------------------------------
    @rpc
    def publish(self, union_id: str, data: dict) -> dict:
        """Publish a disclosure item to the members of a grassroots union.

        In: :class:`DisclosureIn` (category, period, title, Markdown body, mandatory, up to 5 attachments of at
        most ``MAX_ATTACHMENT_BYTES`` each, base64). Out: :class:`DisclosureOut` (revision 1). Admins of the
        union or above (DESIGN.md §1). Everything is checked before the first write; the item commits with
        ``disclosure_published`` in its outbox. Errors: BadInput (field messages; not a grassroots union),
        NotFound (union), Forbidden, PayloadTooLarge (413, an attachment over the limit)."""
        data = c.DisclosureIn().load(data)
        out = app.publish(self.store, self.identity.actor, now, self.members, self.settings, union_id, data)
        self.relay_mine()
        return c.DisclosureOut().dump(out)

    @rpc
    def correct_item(self, item_id: str, data: dict) -> dict:
        """Correct an item: the new full content becomes the next revision, the previous revision is kept
        whole and stays readable (:meth:`get_revision`). Attachments carry over unless listed in
        ``drop_attachments``; new ones are added (at most 5 in all).

        In: :class:`CorrectionIn` (with ``reason``). Out: :class:`DisclosureOut`. Admins of the item's union or
        above; a withdrawn item cannot be corrected (Conflict), nor one corrected by someone else at the
        same moment (Conflict: reload and retry). Commits ``disclosure_corrected`` with the change."""
        data = c.CorrectionIn().load(data)
        out = app.correct_item(self.store, self.identity.actor, now, self.settings, item_id, data)
        self.relay_mine()
        return c.DisclosureOut().dump(out)

    @rpc
    def withdraw_item(self, item_id: str, data: dict) -> dict:
        """Withdraw an item: it stays on record and readable, marked withdrawn with the reason; no new
        questions. In: :class:`WithdrawIn`. Out: :class:`DisclosureOut`. Admins of the item's union or above.
        Errors: Conflict if already withdrawn. Commits ``disclosure_withdrawn`` with the change."""
        data = c.WithdrawIn().load(data)
        out = app.withdraw_item(self.store, self.identity.actor, now, item_id, data)
        self.relay_mine()
        return c.DisclosureOut().dump(out)

    # ----- reading -------------------------------------------------------------------------------
    @rpc
    def list_items(self, union_id: str, query: dict | None = None) -> dict:
        """The disclosure board of a union, newest first, each with the caller's ``read`` flag.

        In: ``union_id`` and :class:`DisclosureListIn` (``page``, ``per_page`` ≤ 200, ``category``, ``q``,
        ``sort`` newest | oldest, ``include_below``: the unions below too, admins only; issue 16). Out:
        :class:`DisclosurePageOut` with ``unread`` (the caller's unread items of the union). Members of the union
        and its admins. Cost: one ``_id`` lookup for the union index, one per item (for the unread count
        and the page) and one per listed item for the receipt: ~60 lookups for a year of items."""
        query = c.DisclosureListIn().load(query or {})
        out = app.list_items(self.store, self.identity.actor, self.members, union_id, query)
        return c.DisclosurePageOut().dump(out)

    @rpc
    def open_item(self, item_id: str) -> dict:
        """Open an item: its current revision with the body rendered safely, attachments (metadata),
        earlier revisions (refs) and counters. A member's first open records their read receipt, once
        (``first_read`` true only then); opening again records nothing. Admins of the union who are not
        its members may open without a receipt. Out: :class:`DisclosureOut`. Errors: NotFound, Forbidden."""
        return c.DisclosureOut().dump(app.open_item(self.store, self.identity.actor, now, item_id))

    @rpc
    def get_revision(self, item_id: str, revision: int) -> dict:
        """One revision of an item (the current one, or an earlier one kept by a correction), for whoever
        may open the item; records no read. Out: :class:`DisclosureOut` with that revision's content, plus
        ``superseded_by`` and ``superseded_reason`` for an earlier one. Errors: NotFound, Forbidden."""
        out = app.get_revision(self.store, self.identity.actor, item_id, revision)
        dumped = c.DisclosureOut().dump(out)
        if "superseded_by" in out:
            dumped.update(superseded_by=out["superseded_by"], superseded_reason=out["superseded_reason"])
        return dumped

    @rpc
    def get_attachment(self, item_id: str, attachment_id: str) -> dict:
        """A file of an item (any revision), for whoever may open the item.

        Out: ``{"id", "filename", "content_type", "size", "content_b64"}``. Errors: NotFound, Forbidden."""
        return app.get_attachment(self.store, self.identity.actor, item_id, attachment_id)

    # ----- read receipts -------------------------------------------------------------------------
    @rpc
    def item_reads(self, item_id: str) -> dict:
        """Read figures of one item for its union's admins: read count and rate against the union's
        members now, per department, and for a mandatory item who has not read it (first 10,000).

        Out: :class:`DisclosureReadsOut`. The roster and departments come from the members service, asked as
        this service after the caller's rights were checked here. Cost: ⌈reads/1000⌉ + 1 lookups and
        ⌈members/5000⌉ roster calls."""
        out = app.item_reads(self.store, self.identity.actor, self.members, item_id)
        return c.DisclosureReadsOut().dump(out)

    @rpc
    def union_reads(self, union_id: str) -> dict:
        """Read rates of every item of a union (newest first) for its admins: the read-rate dashboard and
        the disclosure register (export). Out: :class:`UnionReadsOut`. Rate = receipts ÷ the union's
        members now. Cost: one lookup per item."""
        out = app.union_reads(self.store, self.identity.actor, self.members, union_id)
        return c.UnionReadsOut().dump(out)

    @rpc
    def record_reads(self, item_id: str, reads: list[dict]) -> dict:
        """Record read receipts in bulk: ``[{"member_id", "read_at": ISO 8601}]`` (at most 20,000), e.g. taken
        over from the paper sign-off sheet of an earlier system, or the demo. System only. Receipts already
        present are kept (first read wins). Out: ``{"recorded": new receipts, "read_count"}``."""
        return app.record_reads(self.store, self.identity.actor, item_id, reads)

    @rpc
    def import_register(self, union_id: str, entries: list[dict]) -> dict:
        """Take over a union's earlier disclosure register (paper or another system): items with their
        original publication dates, read records and questions with their answers. System only (an
        operator's migration, also the demo). Publishes no events: these are history, not news.

        In: ``union_id`` and [:class:`HistoryEntryIn`] (at most 500, all validated before the first write).
        Out: ``{"items", "reads", "questions"}`` counts. Errors: BadInput, NotFound (union), Forbidden."""
        actor = self.identity.actor
        policy.require_system(actor)
        if not isinstance(entries, list) or len(entries) > app.MAX_REGISTER_ENTRIES:
            raise BadInput("entries: a list of at most 500 / 至多500项", fields={"entries": ["not a list"]})
        entries = c.HistoryEntryIn(many=True).load(entries)
        return app.import_register(self.store, actor, self.members, self.settings, union_id, entries)

    @rpc
    def recount_reads(self, item_id: str) -> dict:
        """Rebuild an item's read counter and readers list from its receipts (the source of truth) and
        say whether they had drifted. System or admins of the union. Out: ``{"item_id", "before",
        "receipts"}``. Cost: a scan of all receipts (~50 µs each on FerretDB)."""
        return app.recount_reads(self.store, self.identity.actor, item_id)

    # ----- questions and answers -----------------------------------------------------------------
    @rpc
    def ask_question(self, item_id: str, data: dict) -> dict:
        """A member asks about an item of their own union. In: :class:`QuestionIn` (``anonymous``: the
        union never sees who asked; the service keeps only a keyed hash so the asker can find their own).
        Out: :class:`QuestionOut`. Errors: Forbidden (not a member of the union), Conflict (withdrawn).
        Commits ``question_asked`` with the question."""
        data = c.QuestionIn().load(data)
        out = app.ask_question(self.store, self.identity.actor, now, self.settings, item_id, data)
        self.relay_mine()
        return c.QuestionOut().dump(out)

    @rpc
    def answer_question(self, question_id: str, data: dict) -> dict:
        """The union answers a question publicly (once). In: :class:`AnswerIn`. Out: :class:`QuestionOut`.
        Admins of the item's union or above. Errors: NotFound, Forbidden, Conflict (already answered).
        Commits ``question_answered`` (with ``asker_id`` null for an anonymous question) with the answer."""
        data = c.AnswerIn().load(data)
        out = app.answer_question(self.store, self.identity.actor, now, self.settings, question_id, data)
        self.relay_mine()
        return c.QuestionOut().dump(out)

    @rpc
    def list_questions(self, item_id: str) -> list[dict]:
        """Questions under an item, oldest first: the answered ones (public), plus the caller's own open
        ones; admins of the union see every open one too. Out: [:class:`QuestionOut`]."""
        out = app.list_questions(self.store, self.identity.actor, now, self.settings, item_id)
        return c.QuestionOut(many=True).dump(out)

    @rpc
    def open_questions(self, union_id: str) -> list[dict]:
        """The admin's desk: unanswered questions of a union, oldest first with their age in days.
        Admins of the union or above. Out: [:class:`QuestionOut`]."""
        out = app.open_questions(self.store, self.identity.actor, now, self.members, self.settings, union_id)
        return c.QuestionOut(many=True).dump(out)

    @rpc
    def needs_of(self) -> dict:
        """What needs the caller here, for their "what needs me" home (issue 16): unread mandatory items
        of their own union (``disclosure_unread``, at most 20, newest first), and per union they
        administer or below: ``questions_waiting`` (count, oldest asking time) and ``mandatory_reads``
        (receipts on published mandatory items, ``of`` = those items). Read-only; any logged-in caller
        (the policy shows each only its own union and the unions it manages). Out:
        :class:`dmlib.contracts.needs.NeedsOut`."""
        return needs("disclosure", **app.needs_of(self.store, self.identity.actor))

    @rpc
    def rebuild_union_index(self, union_id: str) -> dict:
        """Recompute a union's item list and open-question desk, and each item's question list and
        counters, from the records (system only). Out: ``{"items", "open_questions"}``."""
        return app.rebuild_union_index(self.store, self.identity.actor, union_id)
