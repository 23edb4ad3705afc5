# Two commands set everything up: `make run` and `make test` (README).
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup servers run stop logs test test-unit test-integration test-adversarial test-e2e test-fuzz lint bench clean

setup:
	@scripts/setup.sh

servers: setup
	@scripts/servers.sh start

run:
	@scripts/run.sh

stop:
	@if [ -f .local/services.pid ]; then kill -INT $$(cat .local/services.pid) 2>/dev/null || true; rm -f .local/services.pid; echo "services stopped"; fi

logs:
	@tail -f .local/logs/services.log

# Every tier; the integration and end-to-end tiers talk to the real RabbitMQ and FerretDB.
test: servers
	@scripts/test.sh

test-unit: setup
	@$(VENV)/pytest tests/unit -q

test-integration: servers
	@$(VENV)/pytest tests/integration -q

# Attacks from inside the machine: forged broker traffic, other services' accounts (a private RabbitMQ node).
test-adversarial: servers
	@$(VENV)/pytest tests/adversarial -q

test-e2e: servers
	@DM_TEST_TIER=e2e $(VENV)/pytest tests/e2e -q

# Failure drills: their own RabbitMQ node and FerretDB on free ports (the shared ones are not touched).
test-drills: setup
	@DM_TEST_TIER=drills $(VENV)/pytest tests/drills -q -rxX

# schemathesis over every /api/v1 operation on its own stack with the demo (unpatched, like e2e)
test-fuzz: servers
	@DM_TEST_TIER=e2e $(VENV)/pytest tests/fuzz -q

lint: setup
	@$(VENV)/ruff check dmlib services dmtools tests
	@$(VENV)/lint-imports

bench: servers
	@$(VENV)/python -m bench

clean: stop
	rm -rf .venv .local
