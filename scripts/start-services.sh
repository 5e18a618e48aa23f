#!/usr/bin/env bash
# Installs (if missing) and starts PostgreSQL and Redis from Debian's packages, and creates
# the test role and database. Needs root. Idempotent: safe to run again.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^${version} main"; then
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h localhost && break
  sleep 1
done
pg_isready -h localhost

su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='musktracker'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE musktracker LOGIN SUPERUSER PASSWORD 'musktracker'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='musktracker_test'\"" | grep -q 1 ||
  su postgres -c "createdb -O musktracker musktracker_test"

if ! redis-cli -p 6379 ping >/dev/null 2>&1; then
  redis-server --port 6379 --daemonize yes --save '' --appendonly no >/dev/null
fi
for _ in $(seq 1 30); do
  redis-cli -p 6379 ping >/dev/null 2>&1 && break
  sleep 0.5
done
redis-cli -p 6379 ping
