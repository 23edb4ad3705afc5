#!/usr/bin/env bash
# Starts (or stops) the local RabbitMQ and FerretDB, each only if it is not already listening.
#   scripts/servers.sh start | stop | status
# Both listen on 127.0.0.1 only. RabbitMQ: AMQP 5672, management API 15672. FerretDB: 27017, SQLite
# backend with its files in .local/ferretdb-data.
# Every `start` (re)provisions the broker accounts (dmtools/broker.py): the management admin
# (RABBITMQ_ADMIN_PASSWORD) by rabbitmqctl, then one user per service and one for the dm tools with the
# passwords of this checkout's .local/secrets.env (scripts/secrets.sh), every password reset to the current
# one (the users persist in /var/lib/rabbitmq across checkouts), and `guest` deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
mkdir -p .local/logs .local/ferretdb-data
log() { printf '\033[1;34m[servers]\033[0m %s\n' "$*"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # port, seconds, name
  for _ in $(seq 1 $(( $2 * 10 ))); do listening "$1" && return 0; sleep 0.1; done
  echo "$3 did not start listening on 127.0.0.1:$1 within $2 s" >&2; return 1
}

configure_rabbitmq() {
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  local conf=/etc/rabbitmq/rabbitmq.conf env=/etc/rabbitmq/rabbitmq-env.conf
  if ! grep -q 'democratic-management' "$conf" 2>/dev/null; then
    $SUDO tee "$conf" >/dev/null <<'CONF'
# democratic-management: loopback only
listeners.tcp.default = 127.0.0.1:5672
management.tcp.ip = 127.0.0.1
management.tcp.port = 15672
loopback_users.guest = true
CONF
    $SUDO tee "$env" >/dev/null <<'CONF'
# democratic-management: loopback only (AMQP, Erlang distribution and epmd)
NODE_IP_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=127.0.0.1
CONF
  fi
  if ! grep -q rabbitmq_management /etc/rabbitmq/enabled_plugins 2>/dev/null; then
    $SUDO rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
  fi
}

provision_rabbitmq() {
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  . scripts/secrets.sh
  log "RabbitMQ accounts: dm-admin (management), one per service, dm (tools); no guest"
  .venv/bin/python -m dmtools.broker provision --rabbitmqctl "$sudo rabbitmqctl" --api http://127.0.0.1:15672/api
}

start() {
  if listening 5672 && listening 15672; then
    log "RabbitMQ already listening on 127.0.0.1:5672"
  else
    configure_rabbitmq
    log "starting RabbitMQ"
    ERL_EPMD_ADDRESS=127.0.0.1 /etc/init.d/rabbitmq-server start >/dev/null 2>&1 || \
      (ERL_EPMD_ADDRESS=127.0.0.1 nohup rabbitmq-server > .local/logs/rabbitmq.log 2>&1 &)
    wait_port 5672 60 RabbitMQ
    wait_port 15672 30 "RabbitMQ management"
  fi
  provision_rabbitmq
  if listening 27017; then
    log "FerretDB already listening on 127.0.0.1:27017"
  else
    log "starting FerretDB"
    GOGC=400 nohup .local/bin/ferretdb --handler=sqlite --sqlite-url="file:$ROOT/.local/ferretdb-data/?_pragma=synchronous(normal)" \
      --listen-addr=127.0.0.1:27017 --debug-addr=127.0.0.1:8088 --telemetry=disable \
      --log-level=warn --state-dir="$ROOT/.local" > .local/logs/ferretdb.log 2>&1 &
    echo $! > .local/ferretdb.pid
    wait_port 27017 30 FerretDB
  fi
}

stop() {
  if [ -f .local/ferretdb.pid ]; then kill "$(cat .local/ferretdb.pid)" 2>/dev/null || true; rm -f .local/ferretdb.pid; fi
  /etc/init.d/rabbitmq-server stop >/dev/null 2>&1 || true
}

status() {
  for p in 5672:RabbitMQ 15672:RabbitMQ-management 27017:FerretDB; do
    if listening "${p%%:*}"; then echo "${p#*:} up (127.0.0.1:${p%%:*})"; else echo "${p#*:} down"; fi
  done
}

"${1:-start}"
