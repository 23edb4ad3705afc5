"""The broker accounts table (dmtools/broker.py) says what the services' code does: every
``@event_handler`` is in ``consumes``, every ``Rpc(...)`` dependency in ``calls``, and the permission
expressions admit exactly nameko's names for them."""

import re

import pytest
from nameko.events import BROADCAST, EventDispatcher, EventHandler
from nameko.rpc import Rpc, RpcProxy

from dmtools.broker import ACCOUNTS, REVOCATION, SERVICES, permissions
from services.audit.service import AuditService
from services.congress.service import CongressService
from services.disclosure.service import DisclosureService
from services.gateway.service import GatewayService
from services.members.service import MembersService
from services.notify.service import NotifyService
from services.proposals.service import ProposalsService
from services.surveys.service import SurveysService
from services.voting.service import VotingService

CLASSES = {
    c.name: c
    for c in (
        MembersService,
        GatewayService,
        DisclosureService,
        VotingService,
        CongressService,
        ProposalsService,
        NotifyService,
        AuditService,
        SurveysService,
    )
}
UUID = "0b6d2a1e-5f0c-4c4e-9f51-1c2d3e4f5a6b"


def entrypoints(cls, kind) -> list[tuple[str, object]]:
    """(method name, entrypoint) of every entrypoint of ``kind`` declared on ``cls``."""
    return [
        (n, e)
        for n in dir(cls)
        if not n.startswith("__")
        for e in getattr(getattr(cls, n), "nameko_entrypoints", ())
        if isinstance(e, kind)
    ]


def vars_all(cls):
    return [getattr(cls, n) for n in dir(cls) if not n.startswith("__")]


def test_the_table_covers_every_service():
    assert set(SERVICES) == set(CLASSES)


@pytest.mark.parametrize("service", sorted(CLASSES))
def test_the_table_matches_the_code(service):
    cls, account = CLASSES[service], ACCOUNTS[service]
    handlers = {
        (e.source_service, e.event_type, n)
        for n, e in entrypoints(cls, EventHandler)
        if e.handler_type != BROADCAST
    }
    assert set(account.consumes) == handlers, service
    broadcasts = {
        (e.source_service, e.event_type, n)
        for n, e in entrypoints(cls, EventHandler)
        if e.handler_type == BROADCAST
    }
    assert broadcasts == {REVOCATION}, service  # every process hears token_revoked
    called = {v.target_service for v in vars_all(cls) if isinstance(v, RpcProxy)}
    assert called == set(account.calls), service
    publishes = any(isinstance(v, EventDispatcher) for v in vars_all(cls))
    assert publishes == account.publishes, service
    serves = bool(entrypoints(cls, Rpc))
    assert serves == account.serves, service


@pytest.mark.parametrize("service", SERVICES)
def test_expressions_admit_nameko_names_and_nothing_of_others(service):
    p, a = permissions(service), ACCOUNTS[service]
    own = [f"rpc.reply-{service}-{UUID}"] * bool(a.calls) + [f"rpc-{service}"] * a.serves
    own += [f"evt-{s}-{e}--{service}.{m}" for s, e, m in a.consumes]
    own += [f"evt-members-token_revoked--{service}.handle_token_revoked-{'ab' * 16}"]
    own += [f"rpc.reply-standalone_rpc_proxy-{UUID}"]  # the revoked tokens, loaded at start
    for name in own:
        assert re.match(p.configure, name) and re.match(p.read, name), name
    assert bool(re.match(p.write, f"{service}.events")) == a.publishes
    for other in SERVICES:
        if other != service:
            assert not re.match(p.write, f"{other}.events"), other
            assert not re.match(p.read, f"rpc-{other}") and not re.match(p.configure, f"rpc-{other}")
            assert not re.match(p.read, f"rpc.reply-{other}-{UUID}")
            assert bool(re.match(p.topic_write, f"{other}.get_member")) == (other in a.calls)
    assert re.match(p.topic_write, UUID) and re.match(p.topic_read, UUID)
    assert not re.match(p.topic_read, "#") and not re.match(p.topic_read, "members.get_member")
