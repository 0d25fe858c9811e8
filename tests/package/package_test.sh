#!/usr/bin/env bash
# The client library as an installed package (docs/client.md), used the way
# another team's project uses it: with nothing from this source or build
# tree but what `cmake --install` put under a fresh prefix.
#   1. install the `client` and `client_dev` components into a temporary
#      prefix; the shared library carries its soname; only public headers
#      are there, and each compiles on its own against the prefix alone (an
#      installed header including an internal one fails here)
#   2. examples/ configured afresh with CMAKE_PREFIX_PATH=<prefix>
#      (find_package(telemq)), once shared and once static
#      (-Dtelemq_USE_STATIC_LIBS=ON), and built with -j2
#   3. examples/pkgconfig/cluster_info.cc compiled with
#      $(pkg-config --cflags --libs telemq), and statically with --static
#   4. a real telemq-broker on 127.0.0.1 (ephemeral port, --port-file): the
#      shared producer writes points, a group member reads exactly those and
#      commits; the static pair writes more and the same group resumes at the
#      committed offsets; the CLI decodes every value as a telemetry point;
#      cluster_info lists the topic
#
#   tests/package/package_test.sh BUILD_DIR BROKER_BIN CLI_BIN CXX GENERATOR [CXXFLAGS]
set -euo pipefail
build=$(realpath "$1")
broker_bin=$2
cli_bin=$3
cxx=$4
generator=$5
read -r -a cxxflags <<<"${6:-}"
src=$(cd "$(dirname "$0")/../.." && pwd)
topic=gpu.telemetry
group=example-readers
points=24

work=$(mktemp -d /tmp/telemq-package-test.XXXXXX)
prefix=$work/prefix
broker_pid=""
cleanup() {
  if [[ -n $broker_pid ]]; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
start=$SECONDS
step() { echo "== [$((SECONDS - start))s] $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

step "install the client components into $prefix"
for component in client client_dev; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >"$work/install-$component.log" ||
    { cat "$work/install-$component.log"; fail "cmake --install --component $component"; }
done
pc=$(find "$prefix" -name telemq.pc)
[[ -n $pc ]] || fail "no telemq.pc installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
for f in "$libdir/libtelemq_client.so" "$libdir/libtelemq_client.a" "$libdir/cmake/telemq/telemqConfig.cmake" \
  "$libdir/cmake/telemq/telemqConfigVersion.cmake" "$prefix/include/telemq/producer.h" "$prefix/share/telemq/point.fbs"; do
  [[ -e $f ]] || fail "not installed: ${f#"$prefix"/}"
done
soname=$(readelf -d "$libdir/libtelemq_client.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == libtelemq_client.so.* && -e $libdir/$soname ]] || fail "shared library soname '$soname' not installed"
echo "soname $soname"
# Only the client's public headers: not the wire format (telemq/wire/) nor
# the common headers the client API does not use.
if find "$prefix/include" -path '*/telemq/wire/*' | grep -q .; then fail "telemq/wire/ headers installed"; fi
mapfile -t headers < <(cd "$prefix/include" && find . -name '*.h' | sed 's|^\./||' | sort)
printf '  %s\n' "${headers[@]}"
for h in "${headers[@]}"; do
  echo "#include <$h>" | "$cxx" -std=c++20 "${cxxflags[@]}" -fsyntax-only -I"$prefix/include" -x c++ - ||
    fail "installed header $h does not compile against the installed prefix alone"
done

step "examples/ with find_package(telemq): shared and static"
for variant in shared static; do
  static=OFF
  [[ $variant == static ]] && static=ON
  dir=$work/examples-$variant
  cmake -S "$src/examples" -B "$dir" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CXX_FLAGS="${cxxflags[*]}" -DCMAKE_PREFIX_PATH="$prefix" -Dtelemq_USE_STATIC_LIBS=$static \
    >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; fail "configure examples ($variant)"; }
  found=$(sed -n 's/^telemq_DIR:PATH=//p' "$dir/CMakeCache.txt")
  [[ $found == "$libdir/cmake/telemq" ]] || fail "examples found telemq in '$found', not in the prefix"
  timeout 180 cmake --build "$dir" -j 2 >"$dir.build.log" 2>&1 || { cat "$dir.build.log"; fail "build examples ($variant)"; }
done
# The shared build runs the installed library; the static one contains it.
ldd "$work/examples-shared/telemetry_consumer" | grep -q "$libdir/libtelemq_client.so" ||
  fail "shared example does not load the installed libtelemq_client.so"
if ldd "$work/examples-static/telemetry_consumer" | grep -q libtelemq_client; then fail "static example loads a shared libtelemq_client"; fi

step "examples/pkgconfig/cluster_info.cc with pkg-config"
export PKG_CONFIG_PATH=$pcdir
# shellcheck disable=SC2046
"$cxx" -std=c++20 "${cxxflags[@]}" "$src/examples/pkgconfig/cluster_info.cc" $(pkg-config --cflags --libs telemq) \
  -Wl,-rpath,"$libdir" -o "$work/cluster_info" || fail "pkg-config --cflags --libs telemq"
# Static: the archive, then what pkg-config --static lists for it.
# shellcheck disable=SC2046
"$cxx" -std=c++20 "${cxxflags[@]}" "$src/examples/pkgconfig/cluster_info.cc" $(pkg-config --cflags telemq) \
  "$libdir/libtelemq_client.a" $(pkg-config --static --libs telemq | sed 's/-ltelemq_client//') \
  -o "$work/cluster_info_static" || fail "pkg-config --static --libs telemq"

step "against a real broker"
# Bounded even if this script is killed before its trap runs.
timeout -s KILL 240 "$broker_bin" --port 0 --listen-host 127.0.0.1 --port-file "$work/broker.port" \
  --data-dir "$work/data" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 300); do
  [[ -s $work/broker.port ]] && break
  kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log"; fail "broker exited"; }
  sleep 0.1
done
[[ -s $work/broker.port ]] || { cat "$work/broker.log"; fail "broker wrote no port file within 30 s"; }
bootstrap=127.0.0.1:$(cat "$work/broker.port")
echo "broker at $bootstrap"

run() {  # NAME COMMAND...: bounded, output kept and shown
  local name=$1
  shift
  timeout 60 "$@" >"$work/$name.out" 2>&1 || { cat "$work/$name.out"; fail "$name"; }
  tail -n 3 "$work/$name.out" | sed "s/^/  $name: /"
}
ex=$work/examples-shared
run producer "$ex/telemetry_producer" --bootstrap "$bootstrap" --topic $topic --points $points
grep -q "$points acknowledged" "$work/producer.out" || fail "producer: not every point acknowledged"
run consumer "$ex/telemetry_consumer" --bootstrap "$bootstrap" --topic $topic --group $group --expect $points
grep -q "^assigned $topic:" "$work/consumer.out" || fail "consumer: no partition assigned by the group"
# The group resumes at its committed offsets: only the new points are read.
ex=$work/examples-static
run producer_static "$ex/telemetry_producer" --bootstrap "$bootstrap" --topic $topic --points $points \
  --hostname example-host-2
run consumer_static "$ex/telemetry_consumer" --bootstrap "$bootstrap" --topic $topic --group $group --expect $points
grep -q "example-host-2" "$work/consumer_static.out" || fail "consumer_static: did not read the new points"
if grep -q " example-host " "$work/consumer_static.out"; then fail "consumer_static: read points already committed"; fi
# What the examples wrote are telemetry points to the rest of telemq too.
run cli "$cli_bin" -b "$bootstrap" consume $topic --from earliest --max $((2 * points)) --idle-exit-ms 10000 \
  --format telemetry
decoded=$(grep -c "DCGM_FI_DEV_" "$work/cli.out" || true)
[[ $decoded -eq $((2 * points)) ]] || { cat "$work/cli.out"; fail "telemq consume decoded $decoded points, not $((2 * points))"; }
run cluster_info "$work/cluster_info" "$bootstrap"
run cluster_info_static "$work/cluster_info_static" "$bootstrap"
grep -q "^topic $topic\$" "$work/cluster_info.out" || fail "cluster_info: topic $topic not listed"

step "ok"
