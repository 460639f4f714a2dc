#!/usr/bin/env bash
# A real SMTP server for tests: Mailpit on 127.0.0.1, SMTP and HTTP API on free ports.
#
#   eval "$(scripts/engines/smtp.sh start)"   # install (cached), start, print exports
#   scripts/engines/smtp.sh env                # print the exports of the running server
#   scripts/engines/smtp.sh stop               # stop it and delete its data
#
# Two Mailpit instances, each with its own SMTP port, HTTP API port and data:
#   SLOTSTREAM_TEST_SMTP_URL / SLOTSTREAM_TEST_MAILPIT_API: open; accepts any
#     (or no) user and password. Recipients containing "!" are refused with
#     "550 mailbox unavailable", so tests can exercise a permanent failure.
#   SLOTSTREAM_TEST_SMTP_AUTH_URL / SLOTSTREAM_TEST_MAILPIT_AUTH_API: requires
#     SMTP AUTH as slotstream / test-password (the URL carries them).
# Mailpit is built from source with `go install` into $HOME/.cache/slotstream/bin
# (once per version). Only stdout carries the exports; progress goes to stderr.
set -euo pipefail

MAILPIT_VERSION="v1.27.11"
BIN_DIR="${HOME}/.cache/slotstream/bin"
MAILPIT="${BIN_DIR}/mailpit"
STATE_DIR="${SLOTSTREAM_SMTP_STATE_DIR:-${TMPDIR:-/tmp}/slotstream-smtp-$(id -u)}"
ENV_FILE="${STATE_DIR}/env"
AUTH_USER="slotstream"
AUTH_PASSWORD="test-password"
START_TIMEOUT_SECS=30

log() { echo "smtp.sh: $*" >&2; }

install_mailpit() {
  local marker="${BIN_DIR}/mailpit.version"
  if [[ -x "${MAILPIT}" && -f "${marker}" && "$(cat "${marker}")" == "${MAILPIT_VERSION}" ]]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed; install Go 1.24+ (https://go.dev/dl) so 'go install' can build Mailpit"
    return 1
  fi
  mkdir -p "${BIN_DIR}"
  log "building mailpit ${MAILPIT_VERSION} with go install (first run only, about a minute)"
  GOBIN="${BIN_DIR}" go install "github.com/axllent/mailpit@${MAILPIT_VERSION}" >&2
  echo "${MAILPIT_VERSION}" >"${marker}"
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

# running_pid NAME: the pid of instance NAME if it is alive.
running_pid() {
  local pid_file="${STATE_DIR}/$1.pid" pid
  [[ -f "${pid_file}" ]] || return 1
  pid="$(cat "${pid_file}")"
  kill -0 "${pid}" 2>/dev/null || return 1
  echo "${pid}"
}

healthy() {
  local api="$1" smtp_port="$2"
  curl -fsS --max-time 2 "${api}/readyz" >/dev/null 2>&1 &&
    (exec 3<>"/dev/tcp/127.0.0.1/${smtp_port}") 2>/dev/null
}

# start_instance NAME SMTP_VAR API_VAR USERINFO [MAILPIT FLAGS...]: starts one
# Mailpit on fresh free ports, waits until it is healthy, appends its exports.
start_instance() {
  local name="$1" smtp_var="$2" api_var="$3" userinfo="$4"
  shift 4
  local smtp_port http_port data_dir api pid
  smtp_port="$(free_port)"
  http_port="$(free_port)"
  while [[ "${http_port}" == "${smtp_port}" ]]; do http_port="$(free_port)"; done
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/slotstream-mailpit-${name}.XXXXXX")"
  echo "${data_dir}" >"${STATE_DIR}/${name}.data_dir"
  api="http://127.0.0.1:${http_port}"
  setsid "${MAILPIT}" \
    --smtp "127.0.0.1:${smtp_port}" \
    --listen "127.0.0.1:${http_port}" \
    --database "${data_dir}/mailpit.db" \
    --max 100000 \
    --disable-version-check \
    "$@" \
    </dev/null >"${STATE_DIR}/${name}.log" 2>&1 &
  pid=$!
  echo "${pid}" >"${STATE_DIR}/${name}.pid"
  local deadline=$((SECONDS + START_TIMEOUT_SECS))
  until healthy "${api}" "${smtp_port}"; do
    if ! kill -0 "${pid}" 2>/dev/null || ((SECONDS >= deadline)); then
      log "mailpit '${name}' did not become healthy; its log:"
      tail -n 20 "${STATE_DIR}/${name}.log" >&2 || true
      stop_instance "${name}"
      return 1
    fi
    sleep 0.2
  done
  {
    echo "export ${smtp_var}=smtp://${userinfo}127.0.0.1:${smtp_port}"
    echo "export ${api_var}=${api}"
  } >>"${ENV_FILE}.partial"
  log "mailpit ${MAILPIT_VERSION} '${name}' up (pid ${pid}): SMTP 127.0.0.1:${smtp_port}, API ${api}"
}

# A port picked as free can be taken before Mailpit binds it: try again.
start_instance_retrying() {
  for attempt in 1 2 3; do
    start_instance "$@" && return 0
    log "start attempt ${attempt} of '$1' failed"
  done
  return 1
}

start_server() {
  mkdir -p "${STATE_DIR}"
  if running_pid open >/dev/null && running_pid auth >/dev/null && [[ -f "${ENV_FILE}" ]]; then
    log "already running"
    cat "${ENV_FILE}"
    return 0
  fi
  stop_server
  install_mailpit
  rm -f "${ENV_FILE}.partial"
  echo "${AUTH_USER}:${AUTH_PASSWORD}" >"${STATE_DIR}/smtp-auth"
  start_instance_retrying open SLOTSTREAM_TEST_SMTP_URL SLOTSTREAM_TEST_MAILPIT_API "" \
    --smtp-auth-accept-any --smtp-auth-allow-insecure \
    --smtp-allowed-recipients '^[^!]*$' || { stop_server; return 1; }
  start_instance_retrying auth SLOTSTREAM_TEST_SMTP_AUTH_URL SLOTSTREAM_TEST_MAILPIT_AUTH_API \
    "${AUTH_USER}:${AUTH_PASSWORD}@" \
    --smtp-auth-file "${STATE_DIR}/smtp-auth" --smtp-auth-allow-insecure || { stop_server; return 1; }
  mv "${ENV_FILE}.partial" "${ENV_FILE}"
  cat "${ENV_FILE}"
}

stop_instance() {
  local name="$1" pid
  if pid="$(running_pid "${name}")"; then
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "${pid}" 2>/dev/null || true
  fi
  if [[ -f "${STATE_DIR}/${name}.data_dir" ]]; then
    rm -rf "$(cat "${STATE_DIR}/${name}.data_dir")"
  fi
  rm -f "${STATE_DIR}/${name}.pid" "${STATE_DIR}/${name}.data_dir"
}

stop_server() {
  stop_instance open
  stop_instance auth
  rm -f "${ENV_FILE}" "${ENV_FILE}.partial" "${STATE_DIR}/smtp-auth"
}

case "${1:-}" in
  start) start_server ;;
  stop) stop_server && log "stopped" ;;
  env)
    if running_pid open >/dev/null && running_pid auth >/dev/null && [[ -f "${ENV_FILE}" ]]; then
      cat "${ENV_FILE}"
    else
      log "not running; run: eval \"\$(scripts/engines/smtp.sh start)\""
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
