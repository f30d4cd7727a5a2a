#!/usr/bin/env bash
# A throw-away PostgreSQL (Debian's package) for the tests, on 127.0.0.1 only.
#   scripts/postgres.sh start DIR   start it (or find it running) with its data in DIR and
#                                   print `export BERTH_TEST_POSTGRES=postgres://...`
#   scripts/postgres.sh stop DIR    stop that instance (pg_ctl signals the PID in DIR)
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: postgres.sh start|stop DIR}")
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "postgres.sh: PostgreSQL is not installed (scripts/install-deps.sh)" >&2; exit 1; }

# initdb refuses to run as root: then the cluster belongs to the package's postgres user.
as=()
if [ "$(id -u)" -eq 0 ]; then as=(runuser -u postgres --); fi

running() { [ -f "$dir/port" ] && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

case $cmd in
start)
  if ! running; then
    mkdir -p "$dir"
    [ ${#as[@]} -eq 0 ] || chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      "${as[@]}" "$bin/initdb" -D "$dir/data" -U berth --auth=trust -E UTF8 >/dev/null
    fi
    port=15432
    while (: </dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
    # fsync off: test data need not survive a power cut, and tests run faster.
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" start >/dev/null
    echo "$port" > "$dir/port"
    "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U berth berth 2>/dev/null || true
  fi
  echo "export BERTH_TEST_POSTGRES=postgres://berth@127.0.0.1:$(cat "$dir/port")/berth?sslmode=disable"
  ;;
stop)
  if running; then "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; fi
  ;;
*)
  echo "usage: postgres.sh start|stop DIR" >&2; exit 2
  ;;
esac
