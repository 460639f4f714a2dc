#!/usr/bin/env bash
# A Confluent-API schema registry for tests on 127.0.0.1, on a free port.
#
#   eval "$(scripts/engines/registry.sh start)"   # build (cached), start, print exports
#   scripts/engines/registry.sh env                # print the exports of the running registry
#   scripts/engines/registry.sh stop               # stop it (by pid)
#
# Exports:
#   SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL=http://127.0.0.1:<port>  (the base URL a
#     Confluent client uses: /subjects, /schemas/ids/{id}, /config, ...)
#   SLOTSTREAM_TEST_SCHEMA_REGISTRY_KIND=srfake  (what answers at that URL; see below)
#
# WHAT THIS IS. No production registry can be had from the registries these
# machines reach: Apicurio Registry 3's app module is on Maven Central but most
# of the modules it depends on are not served there (so Maven cannot assemble
# it); Confluent Schema Registry is not on Maven Central; Karapace is not on
# PyPI. What runs here is franz-go's srfake (github.com/twmb/franz-go/pkg/sr,
# from the Go module proxy): an in-memory, concurrency-safe implementation of
# the Confluent Schema Registry REST API, served on a real socket by a small
# Go program this script writes and builds once into ~/.cache/slotstream/bin.
# It registers, deduplicates (normalized schema text) and serves schemas by
# subject/version/id like Confluent's registry, but it does NOT enforce
# compatibility (the /compatibility endpoints always answer true), does not
# parse Avro beyond checking the text is JSON, and keeps nothing across a
# restart. A test that relies on compatibility enforcement must check
# SLOTSTREAM_TEST_SCHEMA_REGISTRY_KIND and fail loudly when it is "srfake".
# Only stdout carries the exports; progress goes to stderr.
# SLOTSTREAM_REGISTRY_STATE_DIR picks another state dir, for a second registry.
set -euo pipefail

SR_MODULE="github.com/twmb/franz-go/pkg/sr"
SR_VERSION="v1.8.0"
BIN_DIR="${HOME}/.cache/slotstream/bin"
SERVER="${BIN_DIR}/slotstream-srfake"
STATE_DIR="${SLOTSTREAM_REGISTRY_STATE_DIR:-${TMPDIR:-/tmp}/slotstream-registry-$(id -u)}"
ENV_FILE="${STATE_DIR}/env"
PID_FILE="${STATE_DIR}/registry.pid"
LOG_FILE="${STATE_DIR}/registry.log"
START_TIMEOUT_SECS=30
STOP_TIMEOUT_SECS=10

log() { echo "registry.sh: $*" >&2; }

# Writes the server's Go source: srfake's HTTP handler on a listener we pick,
# shut down cleanly on SIGTERM/SIGINT.
write_server_source() {
  local dir="$1"
  cat >"${dir}/main.go" <<'EOF'
// Command slotstream-srfake serves franz-go's in-memory Confluent Schema
// Registry API (srfake) on a TCP address, for Slotstream's test engines.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve the registry API on")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("cannot listen on %s: %v", *listen, err)
	}
	srv := &http.Server{Handler: srfake.NewRegistry().Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Printf("serving the Confluent Schema Registry API (srfake) on http://%s", ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-stop:
		log.Printf("%s: shutting down", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Fatalf("shutdown: %v", err)
		}
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("serve: %v", err)
		}
	}
}
EOF
}

install_server() {
  local marker="${SERVER}.version"
  if [[ -x "${SERVER}" && -f "${marker}" && "$(cat "${marker}")" == "${SR_MODULE}@${SR_VERSION}" ]]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed; install Go 1.24+ (Debian: apt-get install golang) so the registry can be built"
    return 1
  fi
  mkdir -p "${BIN_DIR}"
  local build
  build="$(mktemp -d "${TMPDIR:-/tmp}/slotstream-srfake-build.XXXXXX")"
  log "building the schema registry emulator from ${SR_MODULE}@${SR_VERSION} (first run only)"
  write_server_source "${build}"
  if ! (
    cd "${build}" &&
      go mod init slotstream.dev/srfake-server >/dev/null 2>&1 &&
      go get "${SR_MODULE}@${SR_VERSION}" >&2 &&
      go build -trimpath -o "${SERVER}.partial" . >&2
  ); then
    rm -rf "${build}" "${SERVER}.partial"
    log "building the registry emulator failed; is the Go module proxy reachable?"
    return 1
  fi
  rm -rf "${build}"
  mv "${SERVER}.partial" "${SERVER}"
  echo "${SR_MODULE}@${SR_VERSION}" >"${marker}"
}

# alive PID: the process exists and has not exited (a zombie waiting for its
# parent, here often init, to reap it has exited).
alive() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "${state}" && "${state}" != "Z" ]]
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      echo "${port}"
      return 0
    fi
  done
  log "no free port found"
  return 1
}

# The server's pid, if it is alive and still the program this script started
# (a recycled pid is never signalled).
running_pid() {
  local pid
  [[ -f "${PID_FILE}" ]] || return 1
  pid="$(cat "${PID_FILE}")"
  alive "${pid}" || return 1
  [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == "${SERVER}" ]] || return 1
  echo "${pid}"
}

# Healthy means the Confluent API answers: GET /subjects is 200 with a JSON array.
healthy() {
  local url="$1" body
  body="$(curl -fsS --max-time 2 -H 'Accept: application/vnd.schemaregistry.v1+json' "${url}/subjects" 2>/dev/null)" || return 1
  [[ "${body}" == \[* ]]
}

start_once() {
  local port url pid
  port="$(free_port)"
  url="http://127.0.0.1:${port}"
  : >"${LOG_FILE}"
  setsid "${SERVER}" -listen "127.0.0.1:${port}" </dev/null >>"${LOG_FILE}" 2>&1 &
  pid=$!
  echo "${pid}" >"${PID_FILE}"
  local deadline=$((SECONDS + START_TIMEOUT_SECS))
  until healthy "${url}"; do
    if ! alive "${pid}" || ((SECONDS >= deadline)); then
      log "the registry did not become healthy within ${START_TIMEOUT_SECS}s; its log:"
      tail -n 20 "${LOG_FILE}" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  {
    echo "export SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL=${url}"
    echo "export SLOTSTREAM_TEST_SCHEMA_REGISTRY_KIND=srfake"
  } >"${ENV_FILE}"
  log "schema registry emulator (srfake ${SR_VERSION}) up (pid ${pid}): ${url}"
}

start_server() {
  mkdir -p "${STATE_DIR}"
  if running_pid >/dev/null && [[ -f "${ENV_FILE}" ]]; then
    log "already running"
    cat "${ENV_FILE}"
    return 0
  fi
  stop_server
  install_server
  # A port picked as free can be taken before the server binds it: try again.
  for attempt in 1 2 3; do
    if start_once; then
      cat "${ENV_FILE}"
      return 0
    fi
    log "start attempt ${attempt} failed"
    stop_server
  done
  return 1
}

stop_server() {
  local pid
  if pid="$(running_pid)"; then
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 1 $((STOP_TIMEOUT_SECS * 10))); do
      alive "${pid}" || break
      sleep 0.1
    done
    if alive "${pid}"; then
      log "registry pid ${pid} ignored SIGTERM for ${STOP_TIMEOUT_SECS}s; killing it"
      kill -9 "${pid}" 2>/dev/null || true
      while alive "${pid}"; do sleep 0.1; done
    fi
  fi
  rm -f "${PID_FILE}" "${ENV_FILE}"
}

case "${1:-}" in
  start) start_server ;;
  stop) stop_server && log "stopped" ;;
  env)
    if running_pid >/dev/null && [[ -f "${ENV_FILE}" ]]; then
      cat "${ENV_FILE}"
    else
      log "not running; run: eval \"\$(scripts/engines/registry.sh start)\""
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
