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
    env = compose()["services"]["members"]["environment"]
    assert env["AUTH_SECRET"].startswith("${AUTH_SECRET:?")
    assert env["ID_HASH_KEY"].startswith("${ID_HASH_KEY:?")


def test_dockerfile_installs_the_project_and_drops_root():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read()
    assert text.startswith("# ") and "FROM python:3.11" in text
    assert "pip install --no-cache-dir ." in text and "USER app" in text
