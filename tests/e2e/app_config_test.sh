#!/usr/bin/env bash
# --config FILE of telemq-streamer, telemq-collector and telemq-gateway
# (common/include/telemq/common/cli_config.h): a TOML file keyed by the long
# flag names is read, and is as strict as the flags: an unknown key, a
# [section], a value of the wrong type or out of range, and a missing file
# are each refused with exit code 2 and a message naming the key (or file).
# A valid file is accepted (checked with --help, which exits 0 only after
# the file has been parsed), and a flag on the command line wins over it.
#
#   tests/e2e/app_config_test.sh STREAMER COLLECTOR GATEWAY
set -euo pipefail
streamer=$1
collector=$2
gateway=$3
work=$(mktemp -d /tmp/telemq-app-config.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect RC PATTERN PROGRAM ARGS...: exit code RC and PATTERN in stderr+stdout.
expect() {
  local want_rc=$1 pattern=$2
  shift 2
  local rc=0
  timeout 10 "$@" >"$work/out" 2>&1 || rc=$?
  if [[ $rc -ne $want_rc ]]; then
    fail "$(basename "$1") ${*:2}: exit $rc, want $want_rc; output:"
    sed 's/^/    /' "$work/out" >&2
  elif ! grep -qE -- "$pattern" "$work/out"; then
    fail "$(basename "$1") ${*:2}: output lacks /$pattern/:"
    sed 's/^/    /' "$work/out" >&2
  else
    echo "ok: $(basename "$1") ${*:2} -> $rc: $(head -1 "$work/out")"
  fi
}

cfg() {  # cfg NAME CONTENT: writes $work/NAME.toml
  printf '%s\n' "$2" >"$work/$1.toml"
}
cfg unknown $'http-port = 0\nhttp-prot = 8081'
cfg section $'[http]\nport = 8081'
cfg wrong_type 'http-port = "eighty"'
cfg out_of_range 'http-port = 70000'
cfg bad_enum 'log-level = "loud"'
cfg bad_log_format 'log-format = "xml"'

for bin in "$streamer" "$collector" "$gateway"; do
  name=$(basename "$bin")
  # The streamer refuses to parse without --source; give it on the command line.
  extra=()
  [[ $name == telemq-streamer ]] && extra=(--source synthetic:hosts=1,gpus=1)
  expect 2 "$name: config file '.*unknown.toml': unknown key 'http-prot'" "$bin" "${extra[@]}" --config "$work/unknown.toml"
  expect 2 "unknown section \[http\]" "$bin" "${extra[@]}" --config "$work/section.toml"
  expect 2 "http-port.*eighty" "$bin" "${extra[@]}" --config "$work/wrong_type.toml"
  expect 2 "http-port.*70000" "$bin" "${extra[@]}" --config "$work/out_of_range.toml"
  expect 2 "log-level.*loud" "$bin" "${extra[@]}" --config "$work/bad_enum.toml"
  expect 2 "log-format.*xml" "$bin" "${extra[@]}" --config "$work/bad_log_format.toml"
  expect 2 "log-format.*logfmt" "$bin" "${extra[@]}" --log-format logfmt
  expect 2 "not readable" "$bin" "${extra[@]}" --config "$work/missing.toml"
  # An unknown flag stays an error too (the chart conformance test relies on it).
  expect 2 "not expected" "$bin" "${extra[@]}" --no-such-flag 1
done

# Valid files, one per program, with the keys the Helm chart renders.
cfg streamer $'source = "synthetic:hosts=2,gpus=2"\nloop = true\ninterval = "1s"\nbootstrap = "b-0:9092,b-1:9092"\nhttp-host = "0.0.0.0"\nhttp-port = 8082\nlog-level = "info"\nlog-format = "json"'
cfg collector $'bootstrap = "b-0:9092"\ndata-dir = "/var/lib/telemq/collector"\nhttp-host = "0.0.0.0"\nhttp-port = 8081\nsession-timeout-ms = 10000\ncompact-on-exit = false\nlog-format = "text"'
cfg gateway $'bootstrap = "b-0:9092"\nhttp-host = "0.0.0.0"\nhttp-port = 8080\ndocs-dir = "/usr/share/telemq/swagger-ui"\nlog-format = "json"\nroutes = 1'
expect 0 "Usage" "$streamer" --config "$work/streamer.toml" --help
expect 0 "Usage" "$collector" --config "$work/collector.toml" --help
# `routes` is not a key of the gateway: refused even with --help.
expect 2 "unknown key 'routes'" "$gateway" --config "$work/gateway.toml" --help
sed -i '/^routes/d' "$work/gateway.toml"
expect 0 "Usage" "$gateway" --config "$work/gateway.toml" --help

# The file's values are used, and a flag given on the command line wins: the
# gateway binds the file's port 0 (ephemeral) and writes it to the file's
# port-file unless --port-file names another.
cfg gateway_run "http-port = 0
port-file = \"$work/from-file.port\"
http-host = \"127.0.0.1\"
bootstrap = \"127.0.0.1:1\""
"$gateway" --config "$work/gateway_run.toml" --port-file "$work/from-flag.port" >"$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [[ -s $work/from-flag.port ]] && break; sleep 0.05; done
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" || true
if [[ -s $work/from-flag.port && ! -e $work/from-file.port ]]; then
  echo "ok: gateway bound port $(cat "$work/from-flag.port") from the file's http-port = 0; --port-file won over the file"
else
  fail "gateway with --config: port files from-flag=$(cat "$work/from-flag.port" 2>/dev/null) from-file=$(cat "$work/from-file.port" 2>/dev/null)"
  cat "$work/gateway.log" >&2
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
