"""The bare nameko pipeline the voting benchmark compares against: HTTP → RPC → one MongoDB insert, with
nothing of ours (no token, no validation, no secrecy, no tally). Started by bench/bench_voting.py as
``nameko run bench.bare_voting:BareGateway bench.bare_voting:BareStore``."""

from __future__ import annotations

import json

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http
from pymongo import MongoClient


class Collection(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.client = MongoClient(config["MONGO_URI"])
        self.coll = self.client[f"{config.get('MONGO_DB_PREFIX') or ''}bare"]["ballots"]

    def stop(self):
        self.client.close()

    def get_dependency(self, worker_ctx):
        return self.coll


class BareStore:
    name = "bare_store"
    coll = Collection()

    @rpc
    def write(self, doc: dict) -> dict:
        self.coll.insert_one(doc)
        return {"ok": True}


class BareGateway:
    name = "bare_gateway"
    store = RpcProxy("bare_store")

    @http("POST", "/ballot")
    def ballot(self, request):
        doc = json.loads(request.get_data())
        return 201, json.dumps(self.store.write(doc))

    @http("GET", "/ping")
    def ping(self, request):
        return "ok"
