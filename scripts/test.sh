#!/usr/bin/env bash
# make test: the import contract, then every test tier in one pytest run (unit, integration, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/lint-imports --no-cache
.venv/bin/pytest tests "$@"
