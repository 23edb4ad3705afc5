"""The gateway: the only HTTP server (DESIGN.md §9: two ``@http`` services on one address split traffic).

Stateless. Each capability writes its API and pages as one router (``members.MembersRoutes``, …: its
handlers and helpers in its own namespace, the dependencies it uses named); :func:`routing.compose`
puts their entrypoints on this one service class, which lists the routers and the dependencies.
"""

from __future__ import annotations

from dmlib.auth import Identity, RevocationListener
from dmlib.rpc import Rpc

from .account import AccountRoutes
from .audit import AuditRoutes
from .ballots import BallotBatcher
from .cases import CasesRoutes
from .congress import CongressRoutes
from .disclosure import DisclosureRoutes
from .elections import ElectionsRoutes
from .evaluations import EvaluationsRoutes
from .home import HomeRoutes
from .members import MembersRoutes
from .notify import NotifyRoutes
from .projector import ProjectorRoutes
from .proposals import ProposalsRoutes
from .routing import compose
from .surveys import SurveysRoutes
from .web import Web

ROUTERS = (
    AccountRoutes,
    MembersRoutes,
    DisclosureRoutes,
    CongressRoutes,
    EvaluationsRoutes,
    ProposalsRoutes,
    NotifyRoutes,
    AuditRoutes,
    CasesRoutes,
    SurveysRoutes,
    ElectionsRoutes,
    ProjectorRoutes,
    HomeRoutes,
)

GatewayService = compose(
    "GatewayService",
    ROUTERS,
    bases=(RevocationListener,),  # the token_revoked broadcast handler (dmlib.auth)
    __module__=__name__,
    __doc__=__doc__,
    name="gateway",
    identity=Identity(),
    web=Web(),
    members_rpc=Rpc("members"),
    congress_rpc=Rpc("congress"),
    disclosure_rpc=Rpc("disclosure"),
    voting_rpc=Rpc("voting"),
    proposals_rpc=Rpc("proposals"),
    notify_rpc=Rpc("notify"),
    audit_rpc=Rpc("audit"),
    cases_rpc=Rpc("cases"),
    ballots=BallotBatcher(),
    surveys_rpc=Rpc("surveys"),
    elections_rpc=Rpc("elections"),
)
