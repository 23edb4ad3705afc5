"""docker-compose.yml, the Procfile and the Dockerfile describe the same set of services, and the
compose file gates start-up on healthchecks (no links, no wait loops)."""

import json
import os
import re

import yaml

from tests.helpers import ROOT

INFRA = {"rabbitmq", "mongo"}


def compose():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


def procfile():
    with open(os.path.join(ROOT, "Procfile")) as f:
        return dict(
            line.split(":", 1) for line in f.read().splitlines() if line.strip() and not line.startswith("#")
        )


def test_compose_runs_exactly_the_procfile_services():
    services = compose()["services"]
    app = {n for n, s in services.items() if n not in INFRA and "demo" not in s.get("profiles", [])}
    assert app == set(procfile())
    for name in app:
        target = re.search(r"services\.\w+\.service:\w+", procfile()[name]).group(0)
        assert target in services[name]["command"], name


def test_images_and_healthchecks():
    services = compose()["services"]
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    assert services["mongo"]["image"] == "mongo:7"
    for name, svc in services.items():
        assert "links" not in svc, name
        if "demo" in svc.get("profiles", []):
            continue
        assert svc["healthcheck"]["test"], name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond == {"condition": "service_healthy"}, (name, dep)
            assert dep in services
    for name in set(services) - INFRA - {"demo"}:
        assert {"rabbitmq", "mongo"} <= set(services[name]["depends_on"]), name


def test_secrets_are_required_not_defaulted():
    for name in ("members", "voting", "gateway", "notify"):
        env = compose()["services"][name]["environment"]
        for key in ("AUTH_SECRET", "ID_HASH_KEY", "VOTING_KEY"):
            assert env[key].startswith(f"${{{key}:?"), (name, key)


def test_config_has_no_secret_defaults_and_reads_the_hardening_keys():
    with open(os.path.join(ROOT, "config.yaml")) as f:
        text = f.read()
    for key in ("AUTH_SECRET", "ID_HASH_KEY", "VOTING_KEY"):
        assert f"{key}: ${{{key}:}}" in text, key  # empty default: the service refuses to start
    assert "ALLOW_TEST_SECRETS: ${ALLOW_TEST_SECRETS:false}" in text
    for key in ("LOGIN_WINDOW_SECONDS", "LOGIN_ACCOUNT_LIMIT", "LOGIN_ADDRESS_LIMIT", "TRUSTED_PROXIES"):
        assert f"{key}: ${{{key}:" in text, key


def test_dockerfile_installs_the_project_and_drops_root():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read()
    assert text.startswith("# ") and "FROM python:3.11" in text
    assert "pip install --no-cache-dir ." in text and "USER app" in text


APP = ("members", "gateway", "disclosure", "voting", "congress", "proposals", "notify", "surveys")
WITH_DB = ("members", "disclosure", "voting", "congress", "proposals", "notify", "surveys")


def required(value: str, key: str) -> bool:
    return f"${{{key}:?" in value


def test_no_default_credentials_anywhere_in_compose():
    """issue 12: no guest, no default password; every credential is ``${VAR:?…}`` (compose refuses to
    start without it)."""
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        text = f.read()
    assert "guest" not in text
    assert not re.search(r"\$\{[A-Z_]*(PASSWORD|SECRET|KEY)[A-Z_]*:-", text)  # no ${…:-default} secret


def test_each_service_has_its_own_broker_and_database_user():
    services = compose()["services"]
    for name in APP:
        env = services[name]["environment"]
        uri = env["AMQP_URI"]
        assert uri.startswith(f"pyamqp://{name}:") and required(uri, f"AMQP_PASSWORD_{name.upper()}"), name
        if name in WITH_DB:
            mongo = env["MONGO_URI"]
            assert mongo.startswith(f"mongodb://{name}:"), name
            assert required(mongo, f"MONGO_PASSWORD_{name.upper()}"), name
            assert mongo.endswith(f"@mongo:27017/{name}?authSource={name}"), name
        else:
            assert "MONGO_URI" not in env, name
    demo = services["demo"]["environment"]["AMQP_URI"]
    assert demo.startswith("pyamqp://dm:") and required(demo, "AMQP_PASSWORD_DM")


def test_rabbitmq_gets_the_accounts_and_no_published_management_port():
    from dmtools.broker import ACCOUNTS, DEFINITIONS_TEMPLATE, definitions, secret_key

    rabbit = compose()["services"]["rabbitmq"]
    assert "ports" not in rabbit  # management UI only through docker-compose.management.yml
    assert rabbit["entrypoint"] == ["/bin/sh", "/dm/init.sh"]
    assert "./deploy/rabbitmq:/dm:ro" in rabbit["volumes"]
    env = rabbit["environment"]
    for key in ["RABBITMQ_ADMIN_PASSWORD", *(secret_key(a) for a in ACCOUNTS)]:
        assert required(env[key], key), key
    with open(DEFINITIONS_TEMPLATE) as f:
        assert json.load(f) == definitions(), "regenerate: python -m dmtools.broker definitions"
    with open(os.path.join(ROOT, "docker-compose.management.yml")) as f:
        override = yaml.safe_load(f)
    assert override["services"]["rabbitmq"]["ports"] == ["127.0.0.1:15672:15672"]


def test_mongo_requires_authentication_with_one_user_per_database():
    mongo = compose()["services"]["mongo"]
    env = mongo["environment"]
    assert required(env["MONGO_INITDB_ROOT_PASSWORD"], "MONGO_ROOT_PASSWORD")
    for name in WITH_DB:
        key = f"MONGO_PASSWORD_{name.upper()}"
        assert required(env[key], key), name
    assert "./deploy/mongo/init-users.js:/docker-entrypoint-initdb.d/init-users.js:ro" in mongo["volumes"]
    with open(os.path.join(ROOT, "deploy", "mongo", "init-users.js")) as f:
        script = f.read()
    for name in WITH_DB:
        assert f'"{name}"' in script, name
    assert 'role: "readWrite", db: name' in script and "process.env[key]" in script


def test_config_has_no_default_broker_account():
    with open(os.path.join(ROOT, "config.yaml")) as f:
        text = f.read()
    assert "AMQP_URI: ${AMQP_URI:}" in text and "guest" not in text
    for name, cmd in procfile().items():
        assert cmd.strip().startswith(f"AMQP_URI=${{AMQP_URI_{name.upper()}:?"), name
