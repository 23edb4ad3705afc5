"""Shared library of the democratic-management services.

Everything that exists once for all services lives here: typed errors that cross RabbitMQ
(:mod:`dmlib.errors`), the MongoDB storage provider (:mod:`dmlib.storage`), the auth provider and
tokens (:mod:`dmlib.auth`), RPC with a timeout (:mod:`dmlib.rpc`), event envelopes
(:mod:`dmlib.events`), schema helpers (:mod:`dmlib.schemas`) and the contracts (marshmallow
schemas) of each service's RPC interface (:mod:`dmlib.contracts`).
"""
