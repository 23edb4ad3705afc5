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
    """``config.yaml`` with the environment substituted. Without ``AMQP_URI`` in the environment the
    tools connect as the operator tools' broker user (``dm``) of ``.local/secrets.env``, which
    ``make run`` writes (dmtools/broker.py)."""
    setup_yaml_parser()
    with open(path or os.path.join(ROOT, "config.yaml")) as f:
        config = yaml.safe_load(f)
    if not os.environ.get("AMQP_URI"):
        from .broker import amqp_uri, read_env_file, secret_key

        password = read_env_file().get(secret_key("dm"))
        if password:
            config["AMQP_URI"] = amqp_uri("127.0.0.1", 5672, "dm", password)
    return config


@contextmanager
def system_rpc(config: dict | None = None, timeout: float = 120):
    """A cluster RPC proxy acting as the operator (role ``system``), for the demo loader and tools."""
    config = config or load_config()
    token = issue_token(auth_secret(config), service_actor("dmtools"), 3600)
    with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=timeout) as rpc:
        yield rpc
