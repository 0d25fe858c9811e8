#!/usr/bin/env bash
# The figures of a three-broker cluster on this machine (docs/benchmarks.md,
# issue "Replicated partitions, part 2"): three telemq-broker processes on
# 127.0.0.1, replication factor 3, acks=all.
#   1. produce throughput, 8 partitions, 100 B and 128 B values (ROUNDS each)
#   2. produce->ack latency at 50,000 records/s, 1 partition (ROUNDS)
#   3. failover: a producer at 10,000 records/s to a 1-partition topic, the
#      leader killed with SIGKILL; the longest produce->ack latency is the
#      time from the kill to the first acknowledgement by the new leader
#   4. idle cost: 1,000 more partitions (RF3), CPU of each broker over 30 s
# Every broker is stopped by the PID this script started.
#
#   bench/cluster.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-3}
RECORDS=${RECORDS:-10000000}
tmp=$(mktemp -d /tmp/telemq-cluster.XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$tmp"' EXIT

free_port() {  # a port nothing listens on now
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    if ! (: </dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
}
ports=("$(free_port)" "$(free_port)" "$(free_port)")
peers=127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}
start() {  # id
  "$BUILD/broker/server/telemq-broker" --node-id "$1" --peers "$peers" --port "${ports[$1]}" \
    --listen-host 127.0.0.1 --data-dir "$tmp/d$1" --port-file "$tmp/port$1" --log-level warn \
    ${BROKER_ARGS:-} >>"$tmp/broker$1.log" 2>&1 &
  pids[$1]=$!
}
for i in 0 1 2; do start "$i"; done
for i in 0 1 2; do
  for _ in $(seq 400); do [[ -s $tmp/port$i ]] && break; sleep 0.05; done
done
bench="$BUILD/bench/telemq-bench -b 127.0.0.1:${ports[0]}"
cli="$BUILD/client/telemq -b $peers"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); raw disk:"
"$BUILD/bench/telemq-bench" fsync-probe --dir "$tmp" 2>&1 | tail -1

$cli topic create p8 --partitions 8 --replication-factor 3 >/dev/null
$cli topic create p8b --partitions 8 --replication-factor 3 >/dev/null
for r in $(seq "$ROUNDS"); do
  $bench -t p8 -n "$RECORDS" --acks all produce 2>&1 | grep 'records/s' | sed "s/^/[100 B, round $r] /"
  $bench -t p8b -n "$RECORDS" -s 128 --acks all produce 2>&1 | grep 'records/s' | sed "s/^/[128 B, round $r] /"
done

$cli topic create lat --partitions 1 --replication-factor 3 >/dev/null
for r in $(seq "$ROUNDS"); do
  $bench -t lat --acks all --duration-s 10 --linger-ms 0 produce --rate 50000 2>&1 | tail -1 |
    sed "s/^/[50k rec\/s, round $r] /"
done

$cli topic create fo --partitions 1 --replication-factor 3 >/dev/null
leader=$($cli topic describe fo | awk 'NR==3 {print $2}')
other=$(((leader + 1) % 3))
"$BUILD/bench/telemq-bench" -b "127.0.0.1:${ports[$other]}" -t fo --acks all --duration-s 8 --linger-ms 0 \
  produce --rate 10000 >"$tmp/failover.out" 2>&1 &
load=$!
sleep 3
kill -9 "${pids[$leader]}"
wait "$load" || true
echo "[failover] killed leader $leader: $(tail -1 "$tmp/failover.out")"
start "$leader"
for _ in $(seq 300); do
  [[ $($cli cluster status 2>/dev/null | grep -c ' up ') == 3 ]] && break
  sleep 0.1
done

$cli topic create idle --partitions 1000 --replication-factor 3 >/dev/null
sleep 15
declare -A before
for i in 0 1 2; do before[$i]=$(awk '{print $14 + $15}' "/proc/${pids[$i]}/stat"); done
sleep 30
for i in 0 1 2; do
  after=$(awk '{print $14 + $15}' "/proc/${pids[$i]}/stat")
  echo "[idle] broker $i: $(awk -v a="$after" -v b="${before[$i]}" 'BEGIN {printf "%.1f", (a - b) / 30}')% of a core" \
    "with $(ls -d "$tmp/d$i"/*-* | wc -l) partition replicas"
done
