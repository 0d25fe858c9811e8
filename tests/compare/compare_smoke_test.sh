#!/usr/bin/env bash
# compare_smoke_test: make compare's harness (scripts/compare) in its QUICK
# mode, one repetition: every workload row has a number for every system it
# applies to, results.json parses and holds every run, no server the
# harness started outlives it, and every socket they listened on was on
# loopback. Skips (77) only where nats-server or the Redis server binary is
# not installed; a peer that is installed but fails fails the test.
#   compare_smoke_test.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v nats-server >/dev/null; then
  echo "SKIP: nats-server not installed (scripts/install-deps)"
  exit 77
fi
if ! command -v redis-server >/dev/null && ! command -v redis-check-rdb >/dev/null; then
  echo "SKIP: no Redis server binary (scripts/install-deps installs redis-tools)"
  exit 77
fi
out=$(mktemp -d /tmp/telemq-compare-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cd "$ROOT"
QUICK=1 REPS=1 OUT=$out timeout 100 scripts/compare "$BUILD" >"$out/stdout" 2>&1 ||
  { cat "$out/stdout" >&2; fail "scripts/compare exited non-zero"; }
tail -20 "$out/stdout"

# The table: every workload row, a number in each system's column (the
# replicated row has none for Redis).
table=$out/table.md
[[ -s $table ]] || fail "no table.md"
for row in "publish 100 B, 1 partition" "publish 100 B, 8 partitions" "publish 1 KiB, 1 partition" \
  "consume stored 100 B records" "end-to-end p99 at 20,000" "end-to-end p99 at 50,000" \
  "durable publish 100 B, 8 partitions" "3 nodes, R3/RF3"; do
  line=$(grep -F "| $row" "$table") || fail "no row '$row' in table.md"
  # columns: | label | telemq | NATS | Redis | ...
  for col in 3 4 5; do
    [[ $col == 5 && $row == "3 nodes"* ]] && continue
    cell=$(awk -F'|' -v c="$col" '{print $c}' <<<"$line")
    [[ $cell =~ \*\*[0-9] ]] || fail "row '$row' column $col has no figure: '$cell'"
  done
done

# results.json parses and holds the runs: 8 workloads × 3 systems - 1.
cat >"$out/check.cmake" <<'CMAKE'
file(READ "${JSON}" doc)
string(JSON runs ERROR_VARIABLE err LENGTH "${doc}" runs)
if(err)
  message(FATAL_ERROR "results.json: ${err}")
endif()
if(NOT runs EQUAL 23)
  message(FATAL_ERROR "results.json holds ${runs} runs, expected 23")
endif()
math(EXPR last "${runs} - 1")
foreach(i RANGE ${last})
  string(JSON rps GET "${doc}" runs ${i} result records_per_s)
  string(JSON n GET "${doc}" runs ${i} result records)
  if(n LESS_EQUAL 0)
    message(FATAL_ERROR "run ${i} has no records")
  endif()
endforeach()
CMAKE
cmake -DJSON="$out/results.json" -P "$out/check.cmake" || fail "results.json does not check out"

# Every server started is gone; every listening socket was on loopback.
[[ $(wc -l <"$out/pids") -eq 12 ]] || fail "expected 12 server PIDs (telemq 1+1+3, NATS 1+1+3, Redis 1+1), got $(wc -l <"$out/pids")"
while read -r pid; do
  if kill -0 "$pid" 2>/dev/null && grep -qE 'telemq-broker|nats-server|redis' "/proc/$pid/cmdline" 2>/dev/null; then
    fail "server PID $pid is still running"
  fi
done <"$out/pids"
[[ -s $out/listen ]] || fail "the harness recorded no listening socket (ss missing?)"
if grep -vE ' (127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):[0-9]+ ' "$out/listen"; then
  fail "a server listened beyond loopback (above)"
fi
echo "compare_smoke_test: ok"
