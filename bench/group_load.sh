#!/usr/bin/env bash
# Heartbeat cost on one coordinator: a fresh broker on 127.0.0.1 (default
# group settings unless BROKER_ARGS says otherwise), then
# `telemq-bench group-load`: MEMBERS GroupMember instances on a PARTITIONS-
# partition topic; once settled, MEASURE_S seconds of broker CPU s/s and
# /proc/<pid>/io deltas (rchar/wchar: all read/write syscalls, sockets and
# files; read_bytes/write_bytes: disk only), with an idle baseline first.
#
#   bench/group_load.sh [BUILD_DIR]          (default build)
#   MEMBERS=100 PARTITIONS=1000 MEASURE_S=20 BROKER_ARGS="--group-heartbeat-interval-ms 200" bench/group_load.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
MEMBERS=${MEMBERS:-100}
PARTITIONS=${PARTITIONS:-1000}
MEASURE_S=${MEASURE_S:-20}
tmp=$(mktemp -d /tmp/telemq-group-load.XXXXXX)
# shellcheck disable=SC2086
"$BUILD/broker/server/telemq-broker" --port 0 --listen-host 127.0.0.1 --port-file "$tmp/port" \
  --data-dir "$tmp/data" --log-level warn ${BROKER_ARGS:-} >"$tmp/broker.log" 2>&1 &
broker_pid=$!
trap 'kill -9 $broker_pid 2>/dev/null || true; wait $broker_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
"$BUILD/bench/telemq-bench" group-load -b "127.0.0.1:$(cat "$tmp/port")" --broker-pid "$broker_pid" \
  --members "$MEMBERS" --group-partitions "$PARTITIONS" --measure-s "$MEASURE_S"
