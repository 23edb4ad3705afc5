#!/bin/sh
# docker-compose entrypoint of the rabbitmq service: fills the passwords of every broker account
# (definitions.template.json, made by `python -m dmtools.broker definitions`: one user per service with
# least privilege, dm for the tools, dm-admin for the management UI) from the environment, makes the node
# load them at every boot (passwords follow the environment; no guest is created), then starts RabbitMQ.
# Cluster (docker compose --profile cluster, docs/scaling.md): with RABBITMQ_CLUSTER_COOKIE set, the node
# takes that Erlang cookie (the same on the three nodes) and finds its peers rabbit@rabbitmq,
# rabbit@rabbitmq-2 and rabbit@rabbitmq-3 (deploy/rabbitmq/cluster.conf) at its first start; a node of the
# cluster profile (RABBITMQ_CLUSTER_NODE=1) refuses to start without the cookie.
set -eu
umask 077
defs=/etc/rabbitmq/definitions.json
cp /dm/definitions.template.json "$defs"
for key in $(grep -o '@[A-Z_]*@' "$defs" | tr -d @ | sort -u); do
  value=$(printenv "$key" || true)
  case "$value" in
    "" ) echo "init.sh: $key is not set" >&2; exit 1 ;;
    *[!A-Za-z0-9_-]* ) echo "init.sh: $key must be letters, digits, _ or - (it goes into URIs)" >&2; exit 1 ;;
  esac
  sed -i "s/@$key@/$value/g" "$defs"
done
chown rabbitmq:rabbitmq "$defs"
printf 'load_definitions = %s\nloopback_users.guest = true\n' "$defs" > /etc/rabbitmq/conf.d/90-dm.conf
cookie=${RABBITMQ_CLUSTER_COOKIE:-}
if [ -n "$cookie" ]; then
  case "$cookie" in *[!A-Za-z0-9_-]* ) echo "init.sh: RABBITMQ_CLUSTER_COOKIE must be letters, digits, _ or -" >&2; exit 1 ;; esac
  printf '%s' "$cookie" > /var/lib/rabbitmq/.erlang.cookie
  chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie
  chmod 600 /var/lib/rabbitmq/.erlang.cookie
  cp /dm/cluster.conf /etc/rabbitmq/conf.d/91-dm-cluster.conf
elif [ -n "${RABBITMQ_CLUSTER_NODE:-}" ]; then
  echo "init.sh: set RABBITMQ_CLUSTER_COOKIE (the same on every node) for the cluster profile" >&2; exit 1
fi
exec docker-entrypoint.sh rabbitmq-server
