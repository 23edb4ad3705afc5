"""docker-compose.yml, the Procfile and the Dockerfile describe the same set of services, and the
compose file gates start-up on healthchecks (no links, no wait loops)."""

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
