#!/usr/bin/env bash
# make test: lint and the import contract, then every test tier: unit + integration + adversarial in one
# pytest run (eventlet-patched, nameko in-process), end-to-end in another (unpatched: Playwright drives
# Chromium). The broker tiers use the admin account of .local/secrets.env (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check dmlib services dmtools tests bench
.venv/bin/lint-imports --no-cache
.venv/bin/pytest tests/unit tests/integration tests/adversarial "$@"
DM_TEST_TIER=e2e .venv/bin/pytest tests/e2e "$@"
DM_TEST_TIER=drills .venv/bin/pytest tests/drills -rxX "$@"
DM_TEST_TIER=e2e .venv/bin/pytest tests/fuzz "$@"  # schemathesis: every API operation as documented
