#!/usr/bin/env bash
# Install and start what the tests talk to: Mosquitto (tests start their own on free
# ports), PostgreSQL at 127.0.0.1:5432 (database `test`), Chromium for the browser test,
# Node.js + npm and Ruby (gem, minitest) for the JavaScript and Ruby API clients' suites.
set -euo pipefail

need=()
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
command -v chromium >/dev/null || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v ruby >/dev/null || need+=(ruby)  # Debian's ruby brings gem and minitest
# Debian's nodejs (with its npm) only where there is no Node at all: a Node 20 from
# elsewhere ships its own npm, which Debian's npm package would conflict with.
command -v node >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null 2>&1 || true
fi
echo "services ready: mosquitto $(mosquitto -h 2>/dev/null | head -n1 | awk '{print $3}'), postgres $(pg_isready -h 127.0.0.1 -p 5432 | awk '{print $NF}'), node $(node --version), npm $(npm --version), ruby $(ruby -e 'print RUBY_VERSION')"
