#!/usr/bin/env bash
# Produce and consume throughput of one broker (RF1), two builds back to back:
# the figures a change to the broker's data path must keep (docs/benchmarks.md).
# Each round runs, for each build in turn, on a fresh data directory:
#   produce 1 partition (fsync: interval), produce 8 partitions, consume the
#   8-partition topic, then produce 8 partitions on a broker with fsync: always.
# Rounds alternate the builds so drift on this shared machine hits both.
#
#   bench/broker_compare.sh BASE_BUILD_DIR NEW_BUILD_DIR [ROUNDS]
#   RECORDS=2000000 RECORD_SIZE=100 bench/broker_compare.sh ../base/build build 3
#   SCRAPE_MS=100 bench/broker_compare.sh ../base/build build 3   # GET /metrics every 100 ms meanwhile
set -euo pipefail
BASE=${1:?base build dir}
NEW=${2:?new build dir}
ROUNDS=${3:-3}
RECORDS=${RECORDS:-5000000}
RECORD_SIZE=${RECORD_SIZE:-100}
SCRAPE_MS=${SCRAPE_MS:-}
tmp=$(mktemp -d /tmp/telemq-compare.XXXXXX)
broker_pid=
scraper_pid=
stop_broker() {
  if [[ -n $scraper_pid ]]; then
    kill "$scraper_pid" 2>/dev/null || true
    wait "$scraper_pid" 2>/dev/null || true
    scraper_pid=
  fi
  if [[ -n $broker_pid ]]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=
  fi
}
trap 'stop_broker; rm -rf "$tmp"' EXIT

start_broker() {  # build fsync
  stop_broker
  rm -rf "$tmp/data" "$tmp/port" "$tmp/http_port"
  local http=()
  [[ -n $SCRAPE_MS ]] && http=(--http-port 0 --http-port-file "$tmp/http_port")
  "$1/broker/server/telemq-broker" --port 0 --listen-host 127.0.0.1 --port-file "$tmp/port" \
    --data-dir "$tmp/data" --fsync "$2" --log-level warn "${http[@]}" >"$tmp/broker.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 400); do
    if [[ -s $tmp/port ]]; then
      [[ -n $SCRAPE_MS ]] && start_scraper
      return 0
    fi
    sleep 0.05
  done
  echo "broker did not start" >&2
  cat "$tmp/broker.log" >&2
  exit 1
}

# Scrapes the broker's /metrics every SCRAPE_MS until the broker stops.
start_scraper() {
  local port
  port=$(cat "$tmp/http_port")
  local interval
  interval=$(awk -v ms="$SCRAPE_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
  (while kill -0 "$broker_pid" 2>/dev/null; do
    curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || true
    sleep "$interval"
  done) &
  scraper_pid=$!
}

# Prints the records/s figure of one telemq-bench run.
rate() {  # build args...
  local build=$1
  shift
  "$build/bench/telemq-bench" -b "127.0.0.1:$(cat "$tmp/port")" -s "$RECORD_SIZE" "$@" 2>&1 |
    grep -oE '[0-9.,]+ rec(ords)?/s' | head -1 | tr -d ',' | grep -oE '^[0-9.]+'
}

printf '%-5s %-4s %14s %14s %14s %16s\n' round side "p1 produce" "p8 produce" "p8 consume" "p8 fsync=always"
for round in $(seq "$ROUNDS"); do
  for side in base new; do
    build=$BASE
    [[ $side == new ]] && build=$NEW
    start_broker "$build" interval
    p1=$(rate "$build" produce --topic p1 --partitions 1 --records "$RECORDS")
    p8=$(rate "$build" produce --topic p8 --partitions 8 --records $((RECORDS * 2)))
    c8=$(rate "$build" consume --topic p8 --records $((RECORDS * 2)))
    start_broker "$build" always
    a8=$(rate "$build" produce --topic p8 --partitions 8 --records "$RECORDS")
    printf '%-5s %-4s %14s %14s %14s %16s\n' "$round" "$side" "$p1" "$p8" "$c8" "$a8"
  done
done
