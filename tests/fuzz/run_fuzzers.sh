#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory and
# runs each for a bounded time from the generated seed corpus. Fails on any
# crash, sanitizer report, leak, timeout or out-of-memory; prints the number
# of executions per target. Registered as the ctest `fuzz_short`.
#
#   run_fuzzers.sh <source_dir> <build_dir> [seconds_per_target]
#
# Environment: TELEMQ_FUZZ_JOBS (default 2), TELEMQ_FUZZ_SECONDS,
# TELEMQ_FUZZ_TARGETS (default "frame batch"; "raft" is the Raft core's Step,
# run by the ctest fuzz_raft_short in its own build directory).
set -euo pipefail

src=${1:?source dir}
build=${2:?build dir}
seconds=${3:-${TELEMQ_FUZZ_SECONDS:-20}}
jobs=${TELEMQ_FUZZ_JOBS:-2}
read -r -a targets <<<"${TELEMQ_FUZZ_TARGETS:-frame batch}"

cxx=$(command -v clang++ || command -v clang++-14 || true)
if [[ -z "$cxx" ]]; then
  echo "fuzz_short: clang++ not found (scripts/install-deps installs it); skipping"
  exit 77
fi

start=$(date +%s)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# An existing cache was configured with the same options; reconfiguring is
# cheap and picks up new sources.
cmake -S "$src" -B "$build" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTELEMQ_FUZZ=ON -DTELEMQ_FUZZ_ONLY=ON -DTELEMQ_BUILD_BENCH=OFF >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
if [[ " ${targets[*]} " =~ " frame " || " ${targets[*]} " =~ " batch " ]]; then build_targets+=(fuzz_gen_corpus); fi
cmake --build "$build" --target "${build_targets[@]}" -j "$jobs"
built=$(date +%s)
echo "fuzz_short: built in $((built - start)) s"

seeds="$build/fuzz-seeds"
rm -rf "$seeds"
mkdir -p "$build/fuzz-artifacts"
for t in "${targets[@]}"; do mkdir -p "$seeds/$t" "$build/fuzz-corpus/$t"; done
if [[ -d "$seeds/frame" || -d "$seeds/batch" ]]; then
  mkdir -p "$seeds/frame" "$seeds/batch"
  "$build/tests/fuzz/fuzz_gen_corpus" "$seeds/frame" "$seeds/batch"
fi

status=0
for target in "${targets[@]}"; do
  log="$build/fuzz-$target.log"
  # Checked-in inputs that once found a bug.
  regress=""
  [[ -d "$src/tests/fuzz/corpus/$target" ]] && regress="$src/tests/fuzz/corpus/$target"
  # The first corpus dir collects new inputs across runs; the seeds only feed it.
  if "$build/tests/fuzz/fuzz_$target" \
      -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" \
      "$build/fuzz-corpus/$target" "$seeds/$target" $regress >"$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "fuzz_$target: ok, $execs executions in ${seconds} s ($cov)"
  else
    status=1
    echo "fuzz_$target: FAILED; last lines of $log:"
    tail -n 60 "$log"
    ls -1 "$build/fuzz-artifacts" | sed 's/^/  artifact: /'
  fi
done
echo "fuzz_short: total $(( $(date +%s) - start )) s"
exit $status
