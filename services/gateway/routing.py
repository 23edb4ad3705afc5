"""One router per capability, composed into the one nameko service class.

nameko finds entrypoints only on the service class and calls them on its instance, so the routes of
every capability must end up as methods of ``GatewayService``. Rather than mixins sharing one namespace
(and each other's helpers and attributes), each capability writes a :class:`Router`: its handlers and
helpers live in the router's own namespace, it names the service dependencies it uses (``uses``), and
:func:`compose` copies only its entrypoints onto the service class as thin methods that make a router
for the worker and call the handler on it. Two routers declaring the same handler name, or a router
using a dependency the service lacks, fail at import, not at the first request.
"""

from __future__ import annotations

import functools
import inspect

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR


class Router:
    """Base of a capability's routes. A handler is ``def name(self, request, **path_values)`` decorated
    with ``@api`` or ``@page``; ``self.web`` is the page toolkit (:class:`services.gateway.pages.Pages`),
    ``self.identity`` the caller, and each name in ``uses`` (e.g. ``"members_rpc"``) the service's
    dependency of that name."""

    uses: tuple[str, ...] = ()
    BASE = ("web", "identity")

    def __init__(self, service):
        for name in (*self.BASE, *self.uses):
            setattr(self, name, getattr(service, name))


def _route(router: type[Router], handler):
    @functools.wraps(handler)  # keeps the entrypoints, the docstring and the OpenAPI marks
    def entrypoint(service, *args, **kwargs):
        return handler(router(service), *args, **kwargs)

    entrypoint.__signature__ = inspect.signature(handler)  # nameko checks calls against it
    return entrypoint


def compose(class_name: str, routers, bases: tuple = (), **attrs) -> type:
    """The service class: ``attrs`` (``name``, dependencies) plus every entrypoint of ``routers``."""
    owner: dict[str, type] = {}
    body = dict(attrs)
    for router in routers:
        missing = [u for u in (*Router.BASE, *router.uses) if u not in attrs]
        if missing:
            raise TypeError(f"{router.__name__} uses {missing}, which the service does not provide")
        for name, fn in vars(router).items():
            if not hasattr(fn, ENTRYPOINT_EXTENSIONS_ATTR):
                continue
            if name in body:
                raise TypeError(
                    f"{name} is declared by {owner.get(name, 'the service')} and {router.__name__}"
                )
            body[name] = _route(router, fn)
            owner[name] = router
    return type(class_name, bases, body)
