#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL server, create the test role and
# database, and print the URL for ACTIONSD_TEST_PG_URL. Idempotent; needs root.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 50); do
  su postgres -c "pg_isready -q -h 127.0.0.1" && break
  sleep 0.2
done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='actionsd'\"" | grep -q 1 ||
  su postgres -c "psql -q -c \"CREATE ROLE actionsd LOGIN PASSWORD 'actionsd'\"" >&2
# The tests create one database per pytest-xdist worker.
su postgres -c "psql -q -c \"ALTER ROLE actionsd CREATEDB\"" >&2
# PostgreSQL's own integrity checks (amcheck), in a schema of their own so that the
# tests' resets of the public schema leave them, in every database made from template1
# from now on; the crash test runs them after each SIGKILL.
amcheck="CREATE SCHEMA IF NOT EXISTS amcheck;
CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA amcheck;
GRANT USAGE ON SCHEMA amcheck TO actionsd;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA amcheck TO actionsd;"
su postgres -c "psql -q -d template1" <<<"$amcheck" >&2
for db in actionsd_test; do
  su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 ||
    su postgres -c "psql -q -c \"CREATE DATABASE $db OWNER actionsd\"" >&2
  su postgres -c "psql -q -d $db" <<<"$amcheck" >&2
done
echo "postgresql://actionsd:actionsd@127.0.0.1:5432/actionsd_test"
