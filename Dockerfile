# telemq container image: every telemq program on debian:12-slim.
#
#   make image                      (scripts/build-image: podman, no registry needed)
#   podman run --rm --network=host telemq:0.1.0 telemq-broker --help
#
# Build stage: Debian 12 with the build dependencies; the programs are built
# from this source tree and installed with `cmake --install` (the same
# install rules a user's `cmake --install` runs, cmake/Programs.cmake) into
# /stage. Runtime stage: debian:12-slim with only the shared libraries the
# programs link, a non-root user and /var/lib/telemq for data.
#
# The build context must hold tools/node_modules/swagger-ui-dist (installed
# by scripts/install-deps), which the gateway serves at /docs.

FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build ccache pkg-config \
      libasio-dev libflatbuffers-dev flatbuffers-compiler librocksdb-dev \
      libspdlog-dev libfmt-dev libyaml-cpp-dev libxxhash-dev liblz4-dev libzstd-dev \
      libcli11-dev nlohmann-json3-dev libexpected-dev libcpp-httplib-dev \
      libgtest-dev libgmock-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . /src
# Only the programs and the client libraries are built (no tests, no
# benchmarks); a ccache cache mount makes rebuilds cheap.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
          -DTELEMQ_BUILD_BENCH=OFF \
 && cmake --build /build --target telemq-broker telemq telemq-streamer telemq-collector telemq-gateway \
          telemq_client_shared telemq_client_static \
 && DESTDIR=/stage cmake --install /build --component runtime \
 && DESTDIR=/stage cmake --install /build --component client \
 && DESTDIR=/stage cmake --install /build --component client_dev \
 && /stage/usr/bin/telemq-broker --help >/dev/null

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
# The shared libraries the programs link (ldd of /usr/bin/telemq*), nothing else.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      librocksdb7.8 libspdlog1.10 libfmt9 libyaml-cpp0.7 libxxhash0 liblz4-1 libzstd1 libcpp-httplib0.11 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 telemq \
 && useradd --system --uid 10001 --gid telemq --home-dir /var/lib/telemq --shell /usr/sbin/nologin telemq \
 && install -d -o telemq -g telemq -m 0750 /var/lib/telemq
COPY --from=build /stage/usr/ /usr/
LABEL org.opencontainers.image.title="telemq" \
      org.opencontainers.image.description="GPU telemetry pipeline on a replicated message queue: broker, CLI, streamer, collector, gateway" \
      org.opencontainers.image.version="0.1.0"
USER 10001:10001
WORKDIR /var/lib/telemq
# Broker: 9092 (clients and peers), 9644 (HTTP admin: /healthz, /readyz).
# Gateway 8080, collector 8081, streamer 8082 (HTTP: API, /healthz, /metrics).
EXPOSE 9092 9644 8080 8081 8082
# The default command is a broker; other programs set TELEMQ_HEALTH_PORT to
# their HTTP port (the Helm chart uses Kubernetes probes instead).
ENV TELEMQ_HEALTH_PORT=9644
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["telemq-healthcheck"]
CMD ["telemq-broker", "--listen-host", "0.0.0.0", "--http-port", "9644", "--http-host", "0.0.0.0", \
     "--data-dir", "/var/lib/telemq/data"]
