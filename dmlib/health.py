"""The ``health`` RPC every service offers (docker healthchecks, ``make run`` readiness, /healthz?deep=1)."""

from __future__ import annotations

from dmlib.auth import RevocationListener
from dmlib.rpc import rpc


class HealthRpc(RevocationListener):
    """Mixin: ``health()`` → ``{"service": name, "status": "ok"}`` after pinging the service's database.
    Every service with it also hears ``token_revoked`` (:class:`dmlib.auth.RevocationListener`)."""

    @rpc
    def health(self) -> dict:
        store = getattr(self, "store", None)
        if store is not None:
            store.db.command("ping")
        return {"service": self.name, "status": "ok"}
