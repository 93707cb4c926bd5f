#!/usr/bin/env bash
# Installs the Debian packages the tests run for real, when missing: Redis,
# PostgreSQL, Chromium (browser test), iproute2 (the non-loopback admin
# test) and netcat. Needs root (apt-get). Does nothing when all are present.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The docs' examples use `nc -N` (OpenBSD netcat, Debian's default nc).
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The Debian package starts a cluster of its own; the tests make their own throwaway clusters.
service postgresql stop >/dev/null 2>&1 || true
