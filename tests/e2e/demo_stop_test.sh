#!/usr/bin/env bash
# scripts/demo stops every process it started, in order, within a bound,
# whatever signal ends it and however often (issue #15, defect 1):
#   make-group-term-twice  `make demo` in its own process group, then
#                          `kill -TERM -- -PGID` twice (a supervisor, a
#                          terminal closing; make forwards the signal again)
#   group-int-twice        the script's group gets SIGINT twice (double Ctrl-C)
#   background-int         started as a background job of a script (SIGINT
#                          ignored on entry), then `kill -INT` to the script
#   script-kill-9          the script itself is killed with SIGKILL
# Each case starts the real pipeline (3 brokers, 2 collectors, 2 streamers,
# gateway on an ephemeral port) and checks: every recorded process gone
# within 90 s, and the stop order gateway < streamers < collectors < brokers.
#
#   tests/e2e/demo_stop_test.sh BUILD_DIR [CASE...]
set -uo pipefail
build=$(realpath "$1")
shift
repo=$(cd "$(dirname "$0")/../.." && pwd)
cases=("$@")
[[ ${#cases[@]} -eq 0 ]] && cases=(make-group-term-twice group-int-twice background-int script-kill-9)
work=$(mktemp -d /tmp/telemq-demo-test.XXXXXX)
failures=0
started_pgids=()
# Pids of the processes started for a case: their command lines name its
# run directory (a fresh mktemp path), whether or not the script listed them.
run_pids() { pgrep -f -- "$1/" || true; }
cleanup_all() {
  # Whatever a failed case left behind: only processes this test started.
  local f line name pid start
  for pid in $(run_pids "$work"); do kill -KILL "$pid" 2>/dev/null; done
  for f in "$work"/*/pids; do
    [[ -f $f ]] || continue
    while read -r name pid start; do kill -KILL "$pid" 2>/dev/null; done <"$f"
  done
  for pid in "${started_pgids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup_all EXIT

fail() { echo "FAIL [$case]: $*" >&2; failures=$((failures + 1)); }

# Waits until the demo printed its banner (it is serving) or gave up.
wait_banner() {
  local out=$1
  for _ in $(seq 1 900); do
    grep -q "Press Ctrl-C to stop" "$out" 2>/dev/null && return 0
    grep -q "demo: .*\(failed\|missing\|not ready\|did not start\)" "$out" 2>/dev/null && return 1
    sleep 0.2
  done
  return 1
}

# Every process started for the case (found by its run directory, not by
# what the script recorded) must be gone within 90 s.
check_stopped() {
  local run=$1 pid left
  for _ in $(seq 1 450); do
    left=0
    for pid in $(run_pids "$run"); do
      [[ -r /proc/$pid/stat ]] && [[ $(cut -d' ' -f3 "/proc/$pid/stat") != Z ]] && left=1
    done
    ((left)) || return 0
    sleep 0.2
  done
  for pid in $(run_pids "$run"); do
    fail "$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-120) (pid $pid) still runs 90 s after the stop"
  done
  return 1
}

# "demo: stopped NAME" lines (the script's output, or the watchdog's log)
# must come tier by tier: gateway, streamers, collectors, brokers.
check_order() {
  local log=$1 expected=(gateway streamer streamer collector collector broker broker broker) got
  mapfile -t got < <(grep -o '^demo: stopped [a-z]*' "$log" | awk '{print $3}')
  if [[ ${#got[@]} -ne 8 || "${got[*]}" != "${expected[*]}" ]]; then
    fail "stop order was '${got[*]}', expected '${expected[*]}' (log $log)"
  fi
}

for case in "${cases[@]}"; do
  run=$work/$case
  out=$work/$case.out
  mkdir -p "$run"
  export BUILD_DIR=$build GATEWAY_PORT=0 HOSTS=4 INTERVAL=1s RUN_DIR=$run
  echo "== $case"
  case $case in
    make-group-term-twice)
      printf 'demo:\n\t%s/scripts/demo\n' "$repo" >"$work/Makefile"
      setsid make -s -f "$work/Makefile" demo >"$out" 2>&1 </dev/null &
      leader=$!
      ;;
    group-int-twice | script-kill-9)
      setsid "$repo/scripts/demo" >"$out" 2>&1 </dev/null &
      leader=$!
      ;;
    background-int)
      # A non-interactive shell starts its background jobs with SIGINT ignored.
      setsid bash -c "'$repo/scripts/demo' >'$out' 2>&1 </dev/null & wait" &
      leader=$!
      ;;
  esac
  started_pgids+=("$leader")
  if ! wait_banner "$out"; then
    fail "the demo did not come up: $(tail -5 "$out"; for f in "$run"/*.log; do echo "--- $f"; tail -5 "$f"; done)"
    continue
  fi
  # The script's pid (written by it; for an older script, found by name).
  demo=$(cat "$run/demo.pid" 2>/dev/null || pgrep -f -- "$repo/scripts/demo" | head -1)
  case $case in
    make-group-term-twice)
      kill -TERM -- "-$leader"
      sleep 0.05
      kill -TERM -- "-$leader" 2>/dev/null
      ;;
    group-int-twice)
      kill -INT -- "-$leader"
      sleep 0.3
      kill -INT -- "-$leader" 2>/dev/null
      ;;
    background-int)
      kill -INT "$demo"
      ;;
    script-kill-9)
      kill -KILL "$demo"
      ;;
  esac
  if check_stopped "$run"; then
    # The script's output, or the watchdog's log when the script was killed.
    sleep 0.5
    if [[ $case == script-kill-9 ]]; then check_order "$run/watchdog.log"; else check_order "$out"; fi
    echo "   every process stopped, in order"
  fi
done
if ((failures)); then
  echo "demo_stop_test: $failures failure(s)" >&2
  exit 1
fi
echo "demo_stop_test: all ${#cases[@]} case(s) passed"
