#!/usr/bin/env bash
# Ingest throughput of the whole write path on this machine: a fresh broker,
# one telemq-collector and STREAMERS telemq-streamer processes on the
# synthetic fleet at full speed (--rate 0), all on 127.0.0.1. After WARMUP_S
# it samples the collector's applied-points counter and the streamers' acked
# counter every 10 s for MEASURE_S seconds and prints points/s, then stops
# the streamers, lets the collector catch up, compacts its stores and prints
# bytes on disk per point, and the processes' CPU seconds.
#
#   bench/pipeline.sh [BUILD_DIR]                     (default build)
#   HOSTS=64 STREAMERS=1 MEASURE_S=60 bench/pipeline.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
HOSTS=${HOSTS:-64}
STREAMERS=${STREAMERS:-1}
PARTITIONS=${PARTITIONS:-16}
WARMUP_S=${WARMUP_S:-10}
MEASURE_S=${MEASURE_S:-60}
tmp=$(mktemp -d /tmp/telemq-pipeline.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_port() {  # $1 = port file, $2 = pid
  for _ in $(seq 400); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 died:"; tail "$tmp"/*.log; exit 1; }
    sleep 0.05
  done
  echo "no port in $1"; exit 1
}
metric() {  # $1 = port, $2 = metric name (sums every series)
  curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f\n", s }'
}
cpu_s() {  # utime+stime of a pid, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

"$BUILD/broker/server/telemq-broker" --port 0 --listen-host 127.0.0.1 --port-file "$tmp/broker.port" \
  --data-dir "$tmp/broker" --log-level warn >"$tmp/broker.log" 2>&1 &
broker=$!; pids+=($broker)
wait_port "$tmp/broker.port" $broker
bootstrap=127.0.0.1:$(cat "$tmp/broker.port")
"$BUILD/client/telemq" -b "$bootstrap" topic create gpu.telemetry --partitions "$PARTITIONS" >/dev/null

"$BUILD/collector/telemq-collector" --bootstrap "$bootstrap" --http-port 0 --port-file "$tmp/collector.port" \
  --data-dir "$tmp/collector" --compact-on-exit --log-level warn >"$tmp/collector.log" 2>&1 &
collector=$!; pids+=($collector)
wait_port "$tmp/collector.port" $collector
cport=$(cat "$tmp/collector.port")

streamers=()
sports=()
for i in $(seq 1 "$STREAMERS"); do
  "$BUILD/streamer/telemq-streamer" --bootstrap "$bootstrap" --http-port 0 --port-file "$tmp/streamer-$i.port" \
    --source "synthetic:hosts=$HOSTS,gpus=8" --rate 0 --loop --log-level warn >"$tmp/streamer-$i.log" 2>&1 &
  streamers+=($!); pids+=($!)
  wait_port "$tmp/streamer-$i.port" $!
  sports+=("$(cat "$tmp/streamer-$i.port")")
done
acked() { local s=0; for p in "${sports[@]}"; do s=$((s + $(metric "$p" telemq_streamer_points_acked_total))); done; echo $s; }

echo "pipeline: $STREAMERS streamer(s) x synthetic:hosts=$HOSTS,gpus=8 --rate 0 -> broker ($PARTITIONS partitions) -> 1 collector"
sleep "$WARMUP_S"
a0=$(metric "$cport" telemq_collector_points_applied_total); s0=$(acked); t0=$(date +%s.%N)
cb0=$(cpu_s $broker); cc0=$(cpu_s $collector); cs0=0; for p in "${streamers[@]}"; do cs0=$(echo "$cs0 + $(cpu_s "$p")" | bc); done
elapsed=0
while (( elapsed < MEASURE_S )); do
  sleep 10; elapsed=$((elapsed + 10))
  a=$(metric "$cport" telemq_collector_points_applied_total); t=$(date +%s.%N)
  printf '  t=%3ds  applied %12d  (%.0f points/s so far)\n' "$elapsed" "$a" "$(echo "($a - $a0) / ($t - $t0)" | bc -l)"
done
a1=$(metric "$cport" telemq_collector_points_applied_total); s1=$(acked); t1=$(date +%s.%N)
cb1=$(cpu_s $broker); cc1=$(cpu_s $collector); cs1=0; for p in "${streamers[@]}"; do cs1=$(echo "$cs1 + $(cpu_s "$p")" | bc); done
dt=$(echo "$t1 - $t0" | bc -l)
printf 'RESULT applied %.0f points/s, acked by broker %.0f points/s over %.0f s\n' \
  "$(echo "($a1 - $a0) / $dt" | bc -l)" "$(echo "($s1 - $s0) / $dt" | bc -l)" "$dt"
printf 'CPU cores used: broker %.2f  collector %.2f  streamers %.2f\n' "$(echo "($cb1 - $cb0) / $dt" | bc -l)" \
  "$(echo "($cc1 - $cc0) / $dt" | bc -l)" "$(echo "($cs1 - $cs0) / $dt" | bc -l)"

for p in "${streamers[@]}"; do kill -TERM "$p"; wait "$p" || true; done
stored() { curl -fsS "http://127.0.0.1:$cport/internal/v1/status" | grep -o '"points":[0-9]*' | cut -d: -f2 | paste -sd+ | bc; }
total=$(stored)
for _ in $(seq 60); do  # caught up: the count stops moving
  sleep 1; now=$(stored); [[ $now == "$total" ]] && break; total=$now
done
echo "collector holds $total points; stopping it with a full compaction (--compact-on-exit)"
kill -TERM "$collector"; wait "$collector" || true
bytes=$(du -sb "$tmp/collector" | cut -f1)
printf 'RESULT collector store %d bytes on disk for %d points: %.2f bytes/point\n' "$bytes" "$total" \
  "$(echo "$bytes / $total" | bc -l)"
