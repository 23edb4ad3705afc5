#!/usr/bin/env bash
# Installs what the project needs and is missing; safe to run again (each step is skipped when done).
#   - Debian packages: rabbitmq-server (broker), haproxy (the load balancer of the cluster topology and its
#     drill, docs/scaling.md), chromium + chromium-driver (browser tests)
#   - FerretDB v1.24.2 built from its Go module into .local/bin (MongoDB wire protocol, SQLite backend)
#   - the Python virtualenv .venv with the pinned packages of pyproject.toml, and compiled translations
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FERRETDB_VERSION=v1.24.2
PY=${PYTHON:-python3}
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
need_pkgs=()
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need_pkgs+=(rabbitmq-server)
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || need_pkgs+=(haproxy)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)  # the ballot benchmark's load generator (bench/bench_voting.py)
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_pkgs+=(fonts-wqy-zenhei)  # CJK glyphs in headless screenshots
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- FerretDB ----------------------------------------------------------------------------------
# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` cannot be used as it is: the module
# proxy refuses the version list that `go install` asks for (deprecation check), and the module zip has
# no build/version/version.txt, so such a binary panics at start ("Please run bin/task gen-version").
# We therefore download exactly that module version, write the version file as upstream's task does,
# apply our patches (scripts/ferretdb/*.patch, explained in docs/storage.md), and build its cmd/ferretdb:
#   01  the SQLite backend never used its _id index (query and index expressions differ in text), so
#       every _id lookup was a table scan (20-200 ms at 100k documents; 0.5 ms patched);
#   02  update, findAndModify and delete are read-modify-write in FerretDB 1.24 with nothing serialising
#       them: concurrent $inc lost updates (200 increments → 47) and a guarded findAndModify had up to
#       5 winners. One mutex makes single-document writes atomic, as they are on MongoDB;
#   03  _id equality was pushed down only when it was the filter's only key, so every guarded transition
#       ({_id, state}) scanned its collection (1.6 s at 100k documents; 2.3 ms patched);
#   04  decoding a stored document made a json.Decoder per value, re-parsed the same schema for every
#       document and recorded a stack trace per object for leak tracking: a scan cost 91 µs per ballot
#       (26 µs patched, 21 µs with GOGC=400 as scripts/servers.sh runs it).
FERRETDB_BUILD="$FERRETDB_VERSION+dm-$(cat scripts/ferretdb/*.patch | sha1sum | cut -c1-10)-r2"  # r2: patches really applied
if [ ! -x .local/bin/ferretdb ] || [ "$(cat .local/bin/ferretdb.build 2>/dev/null)" != "$FERRETDB_BUILD" ]; then
  command -v go >/dev/null 2>&1 || { echo "Go is needed to build FerretDB (https://go.dev)"; exit 1; }
  log "building FerretDB $FERRETDB_BUILD (once, ~1-2 min)"
  mkdir -p .local/bin .local/build
  src=$(cd .local/build && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
        | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf .local/build/ferretdb && cp -r "$src" .local/build/ferretdb && chmod -R u+w .local/build/ferretdb
  echo "$FERRETDB_VERSION" > .local/build/ferretdb/build/version/version.txt
  # GIT_CEILING_DIRECTORIES: inside our own repository `git apply` would read git-style patch paths as
  # relative to its top and silently skip every file (exit 0); outside any repository it patches here.
  for p in scripts/ferretdb/*.patch; do
    (cd .local/build/ferretdb && export GIT_CEILING_DIRECTORIES="$ROOT/.local/build" \
      && git apply -p1 "$ROOT/$p" && git apply -p1 -R --check "$ROOT/$p") \
      || { echo "FerretDB patch $p did not apply"; exit 1; }
  done
  (cd .local/build/ferretdb && go build -o "$ROOT/.local/bin/ferretdb.new" ./cmd/ferretdb)
  mv .local/bin/ferretdb.new .local/bin/ferretdb
  echo "$FERRETDB_BUILD" > .local/bin/ferretdb.build
  rm -rf .local/build/ferretdb
fi

# --- Python ------------------------------------------------------------------------------------
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  log "creating the Python environment (.venv)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  mkdir -p .local/logs
  { .venv/bin/pip install -q --disable-pip-version-check --upgrade pip 'setuptools<81' wheel &&
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'; } > .local/logs/pip.log 2>&1 ||
    { tail -n 30 .local/logs/pip.log; exit 1; }
  rm -f .venv/.installed-* && touch "$stamp"
fi

# --- translations --------------------------------------------------------------------------------
for po in services/gateway/translations/*/LC_MESSAGES/*.po; do
  [ -f "$po" ] || continue
  mo=${po%.po}.mo
  if [ ! -f "$mo" ] || [ "$po" -nt "$mo" ]; then .venv/bin/pybabel compile -f -i "$po" -o "$mo" >/dev/null; fi
done
log "set-up complete"
