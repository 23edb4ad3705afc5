"""The gateway: the only HTTP server (DESIGN.md §9: two ``@http`` services on one address split traffic).

Stateless. Each capability adds its API and pages as a mixin (``members.MembersHttp``, …) so that the
routes of one domain live together; the service class only lists its mixins and dependencies.
"""

from __future__ import annotations

from dmlib.auth import Identity, RevocationListener
from dmlib.rpc import Rpc

from .account import AccountHttp
from .audit import AuditHttp
from .congress import CongressHttp
from .disclosure import DisclosureHttp
from .evaluations import EvaluationsHttp
from .members import MembersHttp
from .notify import NotifyHttp
from .proposals import ProposalsHttp
from .web import Web


class GatewayService(
    AccountHttp,
    MembersHttp,
    DisclosureHttp,
    CongressHttp,
    EvaluationsHttp,
    ProposalsHttp,
    NotifyHttp,
    AuditHttp,
    RevocationListener,
):
    name = "gateway"

    identity = Identity()
    web = Web()
    members_rpc = Rpc("members")
    congress_rpc = Rpc("congress")
    disclosure_rpc = Rpc("disclosure")
    voting_rpc = Rpc("voting")
    proposals_rpc = Rpc("proposals")
    notify_rpc = Rpc("notify")
    audit_rpc = Rpc("audit")
