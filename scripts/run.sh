#!/usr/bin/env bash
# make run: install what is missing, start RabbitMQ and FerretDB, start every service (in the
# background, logs in .local/logs/services.log), load the demo data if the databases are empty, and
# print the web address and the demo logins. `make stop` stops the services.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/servers.sh start
mkdir -p .local/logs

# Secrets (and the broker accounts' passwords): generated once per checkout into .local/secrets.env,
# never committed (scripts/secrets.sh); scripts/servers.sh has set the broker users to them.
. scripts/secrets.sh
export AMQP_URI="$AMQP_URI_DM"   # the dm tools below; each service gets its own from the Procfile

if [ -f .local/services.pid ] && kill -0 "$(cat .local/services.pid)" 2>/dev/null; then
  echo "[run] services already running (pid $(cat .local/services.pid)); 'make stop' to stop them"
else
  echo "[run] starting the services"
  nohup .venv/bin/honcho start -f Procfile > .local/logs/services.log 2>&1 &
  echo $! > .local/services.pid
fi

.venv/bin/dm wait --timeout 90 --pid-file .local/services.pid || { tail -n 40 .local/logs/services.log; exit 1; }
.venv/bin/dm demo --if-empty
cat <<MSG

  Democratic management is running:  http://${WEB_SERVER_ADDRESS:-127.0.0.1:8000}/
  API documentation (OpenAPI):        http://${WEB_SERVER_ADDRESS:-127.0.0.1:8000}/api/v1/openapi.json
  Logs: .local/logs/services.log      Stop: make stop

$(.venv/bin/dm demo --logins)
MSG
