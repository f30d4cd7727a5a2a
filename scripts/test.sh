#!/usr/bin/env bash
# Runs Berth's whole test suite: installs what the tests need (idempotently), starts a
# throw-away PostgreSQL and S3-compatible server on 127.0.0.1 (stopped again on exit),
# then vets and runs every package's tests with the race detector, end-to-end tests and
# the scaled mode included.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
services=$(mktemp -d "${TMPDIR:-/tmp}/berth-test-services.XXXXXX")
cleanup() {
  bash scripts/postgres.sh stop "$services/postgres" || true
  if [ -x scripts/s3.sh ]; then bash scripts/s3.sh stop "$services/s3" || true; fi
}
trap cleanup EXIT
eval "$(bash scripts/postgres.sh start "$services/postgres")"
if [ -x scripts/s3.sh ]; then eval "$(bash scripts/s3.sh start "$services/s3")"; fi

go vet ./...
go test -race -count=1 -timeout 30m ./...
