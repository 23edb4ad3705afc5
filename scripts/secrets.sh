# Sourced by scripts/run.sh and scripts/servers.sh (from the repository root): makes sure
# .local/secrets.env holds every generated secret of this checkout (never committed; docker-compose and
# production pass their own), exports them, and exports AMQP_URI_<ACCOUNT> for each broker account of
# dmtools/broker.py (AMQP_URI_MEMBERS … AMQP_URI_DM), which the Procfile hands to each service.
mkdir -p .local
(umask 077; touch .local/secrets.env)
for key in AUTH_SECRET ID_HASH_KEY VOTING_KEY $(.venv/bin/python -m dmtools.broker keys); do
  grep -q "^$key=" .local/secrets.env ||
    (umask 077; printf '%s=%s\n' "$key" "$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" >> .local/secrets.env)
done
set -a; . .local/secrets.env; set +a
while IFS= read -r line; do export "$line"; done < <(.venv/bin/python -m dmtools.broker uris)
