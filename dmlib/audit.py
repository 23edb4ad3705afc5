"""The audit hook: every state change a person makes leaves an entry in the audit log (DESIGN.md §2,
``audit``; issue 18 item 3), written through the one way to change state (:mod:`dmlib.state`).

A use case passes ``audit=Audit(...)`` to ``Store.change`` / ``Store.create``; the store then adds ONE
more event, ``change_recorded``, to the same outbox write as the change itself. So the entry commits
with the change or not at all (a refused or failed change records nothing, a committed one is never
lost: the relay publishes it until RabbitMQ acknowledges), and the ``audit`` service appends it to the
hash-chained log of the union (de-duplicating by ``event_id``).

The payload of ``change_recorded`` (docs/events.md)::

    {"event_id", "occurred_at",                 # the envelope (dmlib.events), fixed at the commit
     "service": "congress",                     # the publisher (the audit service checks it)
     "action": "congress.session_convened",     # <service>.<domain verb, past tense>
     "actor": {"member_id", "name"}, "role": "union_admin",   # the role the change was allowed under
     "object": {"type": "session", "id": "cg-u01-t3-s2"},
     "union_id": "u01", "union_path": ["ftu", "d1", "u01"],   # the union it belongs to (and above)
     "changes": [{"field": "state", "before": "planned", "after": "convened"}, …],
     "note": {...} | null,                      # small extra facts (e.g. {"elected": 12})
     "request_id": "…"}                         # the gateway's request (context data ``request_id``)

Before → after: for a change, the fields it sets or increments, with their values in the document the
write replaced (read by ``_id`` just before the write, which is then guarded by that document's ``_v``
too, so the "before" is exact: a change slipped in between makes the write a Conflict, 409); for a new
document, its fields with ``before`` null. Values are summarised small (strings cut at
:data:`MAX_TEXT`, lists of more than :data:`MAX_LIST` scalars and objects shown as a count). Fields whose
name contains one of :data:`NEVER` are never recorded (secrets, resident ids, ballots and choices: a
ballot is secret and is never audited by voter); a use case may also name the only fields to record,
nested ones by a dotted name (``channels.congress``: a dict is otherwise shown only as its size).

An anonymous act (a question asked anonymously, DESIGN.md §4 disclosure) is recorded with
``anonymous=True``: the entry names no actor (:data:`ANONYMOUS`) and carries no request id (which the
gateway's logs could tie to a person); what changed is recorded as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # dmlib.auth imports dmlib.rpc → dmlib.storage → here: no import at run time
    from dmlib.auth import Actor
from dmlib.events import envelope

AUDIT_EVENT = "change_recorded"
#: A field whose name contains one of these is never recorded, whatever the use case asks.
NEVER = ("password", "secret", "token", "hash", "resident", "id_number", "ballot", "choice", "receipt", "key")
#: Document fields that are bookkeeping, not content.
INTERNAL = ("_id", "_v", "outbox", "union_path")
MAX_TEXT = 200
MAX_LIST = 10
#: The actor of an anonymous act's entry: nobody in particular.
ANONYMOUS = {"member_id": "anonymous", "name": "匿名"}


def role_over(actor: Actor, union_path: Iterable[str]) -> str:
    """The role under which ``actor`` administers the union of ``union_path`` (root … itself): the admin
    grant nearest the union (``union_admin`` / ``superior_admin``), ``system`` for a service, else
    ``member``. For the ``role`` of an admin's change."""
    from dmlib.auth import ADMIN_ROLES

    if actor.is_system:
        return "system"
    path = list(union_path)
    for union in reversed(path):
        for g in actor.grants:
            if g.role in ADMIN_ROLES and g.scope == union:
                return g.role
    return "member"


def recordable(name: str) -> bool:
    """False for a field that must never reach the audit log (:data:`NEVER`)."""
    lowered = name.lower()
    return not any(word in lowered for word in NEVER)


def summarise(value: Any) -> Any:
    """A small, JSON-able, FerretDB-safe (no nested arrays) picture of a value."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, list | tuple):
        if len(value) <= MAX_LIST and all(
            v is None or isinstance(v, str | int | float | bool) for v in value
        ):
            return [summarise(v) for v in value]
        return f"[{len(value)} items]"
    if isinstance(value, Mapping):
        return f"{{{len(value)} fields}}"
    return summarise(str(value))


def _get(doc: Mapping[str, Any] | None, dotted: str) -> Any:
    return _find(doc, dotted)[1]


def _find(doc: Mapping[str, Any] | None, dotted: str) -> tuple[bool, Any]:
    """(whether ``doc`` holds the dotted field, its value)."""
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


@dataclass(frozen=True)
class Audit:
    """What a use case says about a change it makes on behalf of a person.

    ``action``: ``<service>.<verb>`` (e.g. ``congress.session_convened``); ``object_type``/``object_id``:
    what was changed; ``union_id``/``union_path``: the union it belongs to (the hash chain it joins and
    who may read it); ``role``: the role the change was allowed under (:func:`role_over` for admins);
    ``fields``: the only fields to record (default: every field the change sets or increments, or every
    field of a new document; dotted names reach into a dict); ``note``: small extra facts;
    ``anonymous``: the act is anonymous, its entry names no actor and no request (:data:`ANONYMOUS`)."""

    actor: Actor
    role: str
    action: str
    object_type: str
    object_id: str
    union_id: str
    union_path: tuple[str, ...] = ()
    fields: tuple[str, ...] | None = None
    note: Mapping[str, Any] | None = field(default=None)
    anonymous: bool = False

    def changes(
        self,
        before: Mapping[str, Any] | None,
        set: Mapping[str, Any] | None = None,  # noqa: A002 (the MongoDB operator's name)
        inc: Mapping[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        """``[{"field", "before", "after"}]`` of a change (``before`` the replaced document) or, with
        ``before`` None and ``set`` the new document, of a creation."""
        afters: dict[str, Any] = {}
        for name, value in (set or {}).items():
            afters[name] = value
        for name, step in (inc or {}).items():
            afters[name] = (_get(before, name) or 0) + step
        names = self.fields if self.fields is not None else [n for n in afters if n not in INTERNAL]
        return [
            {"field": name, "before": summarise(_get(before, name)), "after": summarise(after)}
            for name in names
            if recordable(name) and not name.startswith("outbox")
            for after in [self._after(name, afters, before)]
        ]

    @staticmethod
    def _after(name: str, afters: Mapping[str, Any], before: Mapping[str, Any] | None) -> Any:
        """The value of (dotted) field ``name`` after the change: set by it (whole, or as part of a dict
        it sets), else as it was."""
        if name in afters:
            return afters[name]
        found, value = _find(afters, name)
        return value if found else _get(before, name)

    def event(
        self,
        before: Mapping[str, Any] | None,
        set: Mapping[str, Any] | None = None,  # noqa: A002
        inc: Mapping[str, int] | None = None,
        *,
        service: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The ``change_recorded`` event to commit with the change (:func:`dmlib.state.event` shape)."""
        body = envelope(
            service=service or self.action.split(".", 1)[0],
            action=self.action,
            actor=dict(ANONYMOUS)
            if self.anonymous
            else {"member_id": self.actor.member_id, "name": self.actor.name},
            role=self.role,
            object={"type": self.object_type, "id": str(self.object_id)},
            union_id=self.union_id,
            union_path=list(self.union_path or (self.union_id,)),
            changes=self.changes(before, set, inc),
            note={k: summarise(v) for k, v in self.note.items() if recordable(k)} if self.note else None,
            request_id=None if self.anonymous else request_id,
        )
        return {"type": AUDIT_EVENT, "body": body}


def by_person(
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: str,
    union_id: str,
    union_path: Iterable[str],
    role: str | None = None,
    **kwargs: Any,
) -> Audit | None:
    """The :class:`Audit` of a change a person makes (``action`` is ``<service>.<verb>``), in the chain
    of ``union_id`` (``union_path``: root … the union); ``role`` the role it was allowed under, else the
    admin grant :func:`role_over` finds. None for the system (timers, event handlers, other services,
    the demo loader): only changes by people are audited (issue 18)."""
    if actor is None or actor.is_system:
        return None
    path = tuple(union_path)
    return Audit(
        actor=actor,
        role=role or role_over(actor, path),
        action=action,
        object_type=object_type,
        object_id=object_id,
        union_id=union_id,
        union_path=path,
        **kwargs,
    )


def by_system(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    union_id: str,
    union_path: Iterable[str],
    **kwargs: Any,
) -> Audit:
    """The :class:`Audit` of a change the system makes in place of a person's act, which must be in the
    log whoever makes it: e.g. congress recording a vote's outcome from voting's ``poll_closed`` event
    (the admin's own close lost the race to the event, or the poll closed on its own). Attributed to the
    service ``actor`` (:func:`dmlib.auth.service_actor`) with the role ``system``. Other system changes
    (timers, repairs, the demo loader) stay unaudited (:func:`by_person`)."""
    return Audit(
        actor=actor,
        role="system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        union_id=union_id,
        union_path=tuple(union_path),
        **kwargs,
    )
