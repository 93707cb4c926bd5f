#!/usr/bin/env bash
# Installs the Debian packages the tests run for real, when missing: Redis,
# PostgreSQL, MariaDB (mariadbd, mariadb-install-db), Chromium (browser test), iproute2 (the non-loopback admin
# test), netcat, openssl and curl (TLS tests), haproxy (a real PROXY-protocol sender) and prometheus
# (a real scraper, and promtool). Needs root (apt-get). Does nothing when all are present.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
{ [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1; } || need+=(mariadb-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The docs' examples use `nc -N` (OpenBSD netcat, Debian's default nc).
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || need+=(haproxy)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The Debian package starts a cluster of its own; the tests make their own throwaway clusters.
service postgresql stop >/dev/null 2>&1 || true
service mariadb stop >/dev/null 2>&1 || true
# The tests start their own haproxy and prometheus on free ports.
service haproxy stop >/dev/null 2>&1 || true
service prometheus stop >/dev/null 2>&1 || true
