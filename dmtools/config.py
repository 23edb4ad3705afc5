"""Loading ``config.yaml`` exactly as ``nameko run`` does (``${VAR:default}`` from the environment)."""

from __future__ import annotations

import os
from contextlib import contextmanager

import yaml
from nameko.cli.main import setup_yaml_parser
from nameko.standalone.rpc import ClusterRpcProxy

from dmlib.auth import auth_secret, issue_token, service_actor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(path: str | None = None) -> dict:
    setup_yaml_parser()
    with open(path or os.path.join(ROOT, "config.yaml")) as f:
        return yaml.safe_load(f)


@contextmanager
def system_rpc(config: dict | None = None, timeout: float = 120):
    """A cluster RPC proxy acting as the operator (role ``system``), for the demo loader and tools."""
    config = config or load_config()
    token = issue_token(auth_secret(config), service_actor("dmtools"), 3600)
    with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=timeout) as rpc:
        yield rpc
