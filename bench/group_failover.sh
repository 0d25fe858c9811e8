#!/usr/bin/env bash
# Group failover time: from a member leaving (SIGTERM = graceful leave, or
# kill -9) to all of its partitions being owned again by the others, read
# from `telemq consume --group --log-assignments` lines (ASSIGNED <unix_ms>).
# One broker on 127.0.0.1, 3 consumers on a 12-partition topic, RUNS runs per
# case; prints each run and the median.
#
#   bench/group_failover.sh [BUILD_DIR]     (default build)
#   RUNS=5 CASES="fast-term fast-kill default-term default-kill" bench/group_failover.sh
#
# Cases: default-* = broker defaults (heartbeat 1000 ms) and the client's
# default 45 s session; fast-* = --group-heartbeat-interval-ms 200
# --group-min-session-timeout-ms 500 and --session-timeout-ms 2000.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
BROKER=$BUILD/broker/server/telemq-broker
CLI=$BUILD/client/telemq
RUNS=${RUNS:-3}
CASES=${CASES:-"fast-term fast-kill default-term default-kill"}
PARTS=12
MEMBERS=3

now_ms() { date +%s%3N; }

# Partitions a member owns now, from its assignment lines.
owned() {
  awk '{ n = split($3, a, ","); for (i = 1; i <= n; i++) { split(a[i], tp, ":"); p = tp[2];
         if ($1 == "ASSIGNED") o[p] = 1; else delete o[p] } }
       END { for (p in o) print p }' "$1" 2>/dev/null | sort -n
}
# For each partition in $1 (space list): the first ASSIGNED time >= $2 in
# files $3..; prints the latest of those, or nothing if one is missing.
reowned_at() {
  local parts=$1 since=$2; shift 2
  awk -v parts="$parts" -v since="$since" '
    BEGIN { n = split(parts, want, " "); for (i = 1; i <= n; i++) need[want[i]] = 1 }
    $1 == "ASSIGNED" && $2 >= since { k = split($3, a, ","); for (i = 1; i <= k; i++) { split(a[i], tp, ":");
      if ((tp[2] in need) && (!(tp[2] in first) || $2 < first[tp[2]])) first[tp[2]] = $2 } }
    END { latest = 0; for (p in need) { if (!(p in first)) exit 1; if (first[p] > latest) latest = first[p] } print latest }' "$@"
}

run_once() {  # case -> prints milliseconds
  local kase=$1 tmp broker_pid port i pids=() broker_args=() consume_args=()
  tmp=$(mktemp -d /tmp/telemq-failover.XXXXXX)
  case $kase in
    fast-*) broker_args=(--group-heartbeat-interval-ms 200 --group-min-session-timeout-ms 500)
            consume_args=(--session-timeout-ms 2000) ;;
  esac
  "$BROKER" --port 0 --listen-host 127.0.0.1 --port-file "$tmp/port" --data-dir "$tmp/data" \
    --log-level warn "${broker_args[@]}" >"$tmp/broker.log" 2>&1 &
  broker_pid=$!
  cleanup() { for p in "${pids[@]}" "$broker_pid"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
  trap cleanup RETURN
  for _ in $(seq 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
  port=$(cat "$tmp/port"); local addr=127.0.0.1:$port
  "$CLI" -b "$addr" topic create fo --partitions $PARTS >/dev/null
  for i in $(seq 0 $((MEMBERS - 1))); do
    "$CLI" -b "$addr" consume fo --group g --log-assignments "${consume_args[@]}" >/dev/null 2>"$tmp/m$i.err" &
    pids+=($!)
  done
  # Settled: each owns PARTS/MEMBERS.
  local deadline=$(( $(now_ms) + 60000 ))
  until [[ $(for i in $(seq 0 $((MEMBERS - 1))); do owned "$tmp/m$i.err" | wc -l; done | sort -u) == $((PARTS / MEMBERS)) ]]; do
    (( $(now_ms) < deadline )) || { echo "not settled" >&2; return 1; }
    sleep 0.05
  done
  local victim_parts; victim_parts=$(owned "$tmp/m1.err" | tr '\n' ' ')
  local t0; t0=$(now_ms)
  if [[ $kase == *-kill ]]; then kill -9 "${pids[1]}"; else kill -TERM "${pids[1]}"; fi
  deadline=$(( $(now_ms) + 120000 ))
  local at=""
  until at=$(reowned_at "$victim_parts" "$t0" "$tmp/m0.err" "$tmp/m2.err"); do
    (( $(now_ms) < deadline )) || { echo "not re-owned" >&2; return 1; }
    sleep 0.02
  done
  echo $(( at - t0 ))
}

for kase in $CASES; do
  results=()
  for r in $(seq "$RUNS"); do results+=("$(run_once "$kase")"); done
  median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  echo "$kase: runs ${results[*]} ms; median $median ms"
done
