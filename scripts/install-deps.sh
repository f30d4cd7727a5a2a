#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine with Go, idempotently:
# packages already present are skipped and `apt-get update` runs at most once.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have skopeo || need+=(skopeo)
have flatpak || need+=(flatpak)
have docker-registry || need+=(docker-registry)
have dbus-run-session || need+=(dbus)
have ostree || need+=(ostree)
# The web UI's browser test drives Debian's Chromium headless (test/ui_test.go).
have chromium || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# docker-registry's package starts a system service on port 5000; tests start their own
# instances on free ports, so a packaged one would only be in the way.
# Likewise for the packaged PostgreSQL cluster: tests run their own (scripts/postgres.sh).
for svc in docker-registry postgresql; do
  if have systemctl && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

# crane (go-containerregistry's CLI), a second pulling client for the pull-through cache
# tests: the version go.mod requires, built once into the tools cache (as s3.sh does
# versitygw). Tests find it there.
crane_version=$(awk '$1 == "github.com/google/go-containerregistry" {print $2}' "$(dirname "$0")/../go.mod")
tools=${BERTH_TOOLS:-$HOME/.cache/berth-tools}
if [ ! -x "$tools/bin/crane-$crane_version" ]; then
  mkdir -p "$tools/bin"
  GOBIN=$tools/bin go install "github.com/google/go-containerregistry/cmd/crane@$crane_version" >&2
  mv "$tools/bin/crane" "$tools/bin/crane-$crane_version"
fi
