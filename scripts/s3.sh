#!/usr/bin/env bash
# A throw-away S3-compatible server for the tests: versitygw (posix backend) on 127.0.0.1.
#   scripts/s3.sh start DIR   install versitygw if needed (pinned, cached in
#                             ${BERTH_TOOLS:-~/.cache/berth-tools}), start it with its data in
#                             DIR, print the `export` lines the tests read
#   scripts/s3.sh stop DIR    stop that instance by the PID recorded in DIR
set -euo pipefail

version=v1.8.0
cmd=${1:?usage: s3.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: s3.sh start|stop DIR}")
tools=${BERTH_TOOLS:-$HOME/.cache/berth-tools}
bin=$tools/bin/versitygw-$version
access=berth-test
secret=berth-test-secret

running() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

case $cmd in
start)
  if [ ! -x "$bin" ]; then
    mkdir -p "$tools/bin"
    GOBIN=$tools/bin go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
    mv "$tools/bin/versitygw" "$bin"
  fi
  if ! running; then
    # A directory under the root is a bucket: "berth" exists from the start.
    mkdir -p "$dir/data/berth"
    port=17070
    while (: </dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
    nohup "$bin" --access "$access" --secret "$secret" --port "127.0.0.1:$port" \
      posix "$dir/data" >"$dir/log" 2>&1 &
    echo $! > "$dir/pid"
    echo "$port" > "$dir/port"
    for _ in $(seq 100); do
      (: </dev/tcp/127.0.0.1/$port) 2>/dev/null && break
      sleep 0.1
    done
    (: </dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "s3.sh: versitygw did not start:" >&2; cat "$dir/log" >&2; exit 1; }
  fi
  port=$(cat "$dir/port")
  echo "export BERTH_TEST_S3='s3://berth/test?endpoint=http://127.0.0.1:$port&region=us-east-1&path_style=true'"
  echo "export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret"
  ;;
stop)
  if running; then
    pid=$(cat "$dir/pid")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/pid"
  ;;
*)
  echo "usage: s3.sh start|stop DIR" >&2; exit 2
  ;;
esac
