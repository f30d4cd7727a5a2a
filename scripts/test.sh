#!/usr/bin/env bash
# Runs Berth's whole test suite: installs what the tests need (idempotently), then vets and
# runs every package's tests with the race detector, end-to-end tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
go vet ./...
go test -race -count=1 -timeout 30m ./...
