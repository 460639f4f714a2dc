# syntax=docker/dockerfile:1
# The `slotstream` binary in a small runtime image. One image serves every role:
#   docker run slotstream:local up                     (embedded, one process)
#   docker run slotstream:local gateway                (distributed: the REST edge)
#   docker run slotstream:local processor booking      (distributed: one processor)
# docker-compose.kafka.yml builds it and runs the distributed mode.

# ---- build -----------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
# cmake/g++ build librdkafka (rdkafka's cmake-build) and the bundled libcurl
# (rdkafka's curl-static, for librdkafka's OIDC code); the -dev packages are
# the headers of the system libraries they link: OpenSSL and zlib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config perl \
      libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts keep crates and incremental artefacts across image builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin slotstream \
 && install -D -m 0755 target/release/slotstream /out/slotstream

# ---- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# curl is for the compose health checks (the binary carries its own libcurl);
# the libraries match the build stage's -dev packages.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/slotstream --create-home slotstream
COPY --from=build /out/slotstream /usr/local/bin/slotstream
USER slotstream
WORKDIR /var/lib/slotstream
ENV SLOTSTREAM_DATA_DIR=/var/lib/slotstream \
    SLOTSTREAM_LISTEN=0.0.0.0:8080 \
    SLOTSTREAM_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=6 \
  CMD curl -fsS "http://127.0.0.1:${SLOTSTREAM_LISTEN##*:}/healthz" || exit 1
ENTRYPOINT ["slotstream"]
CMD ["up"]
