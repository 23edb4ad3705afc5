#!/bin/sh
# docker-compose entrypoint of the rabbitmq service: fills the passwords of every broker account
# (definitions.template.json, made by `python -m dmtools.broker definitions`: one user per service with
# least privilege, dm for the tools, dm-admin for the management UI) from the environment, makes the node
# load them at every boot (passwords follow the environment; no guest is created), then starts RabbitMQ.
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
exec docker-entrypoint.sh rabbitmq-server
