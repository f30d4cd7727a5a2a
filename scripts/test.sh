#!/usr/bin/env bash
# Runs Berth's whole test suite: installs what the tests need (idempotently), starts a
# throw-away PostgreSQL and S3-compatible server on 127.0.0.1 (stopped again on exit),
# then vets and runs every package's tests with the race detector, end-to-end tests and
# the scaled mode included.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
services=$(mktemp -d "${TMPDIR:-/tmp}/berth-test-services.XXXXXX")
chmod 755 "$services" # PostgreSQL runs as its own user when we are root
cleanup() {
  bash scripts/postgres.sh stop "$services/postgres" || true
  bash scripts/s3.sh stop "$services/s3" || true
  rm -rf "$services"
}
trap cleanup EXIT
# Assignments, not bare substitutions, so that a service that fails to start stops the run.
pg_env=$(bash scripts/postgres.sh start "$services/postgres")
s3_env=$(bash scripts/s3.sh start "$services/s3")
eval "$pg_env"
eval "$s3_env"

go vet ./...
go test -race -count=1 -timeout 30m ./...
