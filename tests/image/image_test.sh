#!/usr/bin/env bash
# Image test (ctest image_test): builds the container image with
# scripts/build-image, then runs from it, with host networking on
# 127.0.0.1 only, three brokers (one cluster, RF 3), a streamer (synthetic
# fleet), a collector and the gateway, and checks that:
#   * /api/v1/gpus answers with the streamed GPUs (the whole pipeline works
#     from the image: programs, runtime libraries, Swagger UI at /docs);
#   * every container runs as the non-root user 10001;
#   * the image's HEALTHCHECK is kept (--format docker), and its command
#     passes against a broker and (TELEMQ_HEALTH_PORT) the gateway, and fails
#     where nothing listens;
#   * the installed client package is in the image (headers, telemq.pc).
# Only containers this test started are removed (names carry its pid).
# Exit 77 (skipped) when not root or podman cannot run containers here.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# In a chroot, podman needs a mount namespace of its own (scripts/image/container-root).
[[ ${TELEMQ_CONTAINER_ROOT:-} == 1 ]] || exec "$repo/scripts/image/container-root" "$(readlink -f "$0")" "$@"
export CONTAINERS_CONF=$repo/scripts/image/containers.conf
source "$repo/scripts/image/ulimits"
tag=telemq:image-test
prefix=telemq-it-$$
started=()

skip() { echo "image_test: SKIPPED: $*"; exit 77; }
fail() {
  echo "image_test: FAILED: $*" >&2
  for c in "${started[@]}"; do
    echo "--- logs of $c (tail)" >&2
    podman logs --tail 25 "$c" >&2 2>&1
  done
  exit 1
}
cleanup() {
  for c in "${started[@]}"; do podman rm -f -t 2 "$c" >/dev/null 2>&1; done
}
trap cleanup EXIT

[[ $(id -u) -eq 0 ]] || skip "needs root (podman builds and runs as root here)"
command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps installs it)"

echo "image_test: building $tag"
start_build=$SECONDS
"$repo/scripts/build-image" "$tag" || fail "scripts/build-image failed"
echo "image_test: image built in $((SECONDS - start_build)) s"

# The image's metadata: HEALTHCHECK kept, non-root user.
health=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$tag")
[[ $health == *telemq-healthcheck* ]] || fail "image has no HEALTHCHECK (got: $health)"
user=$(podman image inspect --format '{{.Config.User}}' "$tag")
[[ $user == 10001* ]] || fail "image user is '$user', expected 10001"

# A port nothing listens on now, below the ephemeral range.
taken=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    [[ $taken == *" $p "* ]] && continue
    if ! (: </dev/tcp/127.0.0.1/$p) 2>/dev/null; then
      taken+="$p "
      echo "$p"
      return 0
    fi
  done
  fail "no free port"
}

run() {  # run NAME [podman run options...] -- COMMAND...
  local name=$prefix-$1
  shift
  local opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  started+=("$name")
  # --health-interval=disable: no systemd timer for the HEALTHCHECK (there
  # may be no systemd); its command is run by hand below.
  podman run -d --name "$name" --network=host --health-interval=disable "${telemq_ulimits[@]}" "${opts[@]}" "$tag" "$@" >/dev/null ||
    fail "podman run $name failed"
}

b=() h=()
for i in 0 1 2; do b+=("$(free_port)"); h+=("$(free_port)"); done
peers=127.0.0.1:${b[0]},127.0.0.1:${b[1]},127.0.0.1:${b[2]}
for i in 0 1 2; do
  run "broker-$i" -e "TELEMQ_HEALTH_PORT=${h[$i]}" -- telemq-broker --node-id "$i" --peers "$peers" \
    --listen-host 127.0.0.1 --port "${b[$i]}" --http-port "${h[$i]}" --data-dir /var/lib/telemq/data \
    --offsets-partitions 4
done

await() {  # await WHAT SECONDS COMMAND...: polls COMMAND until it succeeds
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what not within $limit s"
    sleep 0.5
  done
}
http_ok() { curl -fsS --max-time 3 "$@"; }
for i in 0 1 2; do await "broker $i ready (/readyz)" 90 http_ok "http://127.0.0.1:${h[$i]}/readyz"; done
echo "image_test: three brokers ready"

cport=$(free_port) sport=$(free_port) gport=$(free_port)
run collector -- telemq-collector --bootstrap "$peers" --http-host 127.0.0.1 --http-port "$cport" \
  --advertise-host 127.0.0.1 --data-dir /var/lib/telemq/collector
run streamer -- telemq-streamer --bootstrap "$peers" --http-host 127.0.0.1 --http-port "$sport" \
  --source synthetic:hosts=4,gpus=2 --loop --interval 1s
run gateway -e "TELEMQ_HEALTH_PORT=$gport" -- telemq-gateway --bootstrap "$peers" --http-host 127.0.0.1 \
  --http-port "$gport"

gpu_count() { http_ok "http://127.0.0.1:$gport/api/v1/gpus" | grep -o '"uuid"' | wc -l; }
all_gpus_listed() { (($(gpu_count) == 8)); }
# The synthetic fleet: 4 hosts x 2 GPUs, each listed once its first point is stored.
await "GET /api/v1/gpus listing the 8 streamed GPUs" 120 all_gpus_listed
echo "image_test: /api/v1/gpus lists $(gpu_count) GPUs"
http_ok "http://127.0.0.1:$gport/docs/swagger-ui-bundle.js" -o /dev/null || fail "/docs assets not served"

# Every program runs as uid 10001 (the processes themselves, seen from here).
for c in "${started[@]}"; do
  pid=$(podman inspect --format '{{.State.Pid}}' "$c") || fail "podman inspect $c failed"
  uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  [[ $uid == 10001 ]] || fail "$c runs as uid $uid"
done
# The HEALTHCHECK's command, run from the image: passes against a live
# broker and gateway, fails where nothing listens.
check() { podman run --rm --network=host --health-interval=disable -e "TELEMQ_HEALTH_PORT=$1" "$tag" telemq-healthcheck; }
check "${h[0]}" || fail "telemq-healthcheck against broker-0 failed"
check "$gport" || fail "telemq-healthcheck against the gateway failed"
dead=$(free_port)
if check "$dead" 2>/dev/null; then fail "telemq-healthcheck passed with nothing listening on $dead"; fi

# The client package, installed by the same `cmake --install`.
podman run --rm --network=none "$tag" sh -c \
  'test -f /usr/include/telemq/producer.h && test -f /usr/lib/*/pkgconfig/telemq.pc && ls /usr/lib/*/libtelemq_client.so.*' \
  >/dev/null || fail "client package files missing from the image"

echo "image_test: PASSED"
