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
# SLOTSTREAM_SMTP_STATE_DIR picks another state dir, for a second pair.
set -euo pipefail
ENGINE=smtp
# shellcheck source=scripts/engines/lib.sh
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

MAILPIT_VERSION="v1.27.11"
BIN_DIR="${CACHE_ROOT}/bin"
MAILPIT="${BIN_DIR}/mailpit"
AUTH_USER="slotstream"
AUTH_PASSWORD="test-password"
START_TIMEOUT_SECS=30
STOP_TIMEOUT_SECS=5

engine_prepare() {
  local marker="${BIN_DIR}/mailpit.version"
  if [[ -x "${MAILPIT}" && -f "${marker}" && "$(cat "${marker}")" == "${MAILPIT_VERSION}" ]]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed; install Go 1.24+ (Debian: apt-get install golang-go) so 'go install' can build Mailpit"
    return 1
  fi
  mkdir -p "${BIN_DIR}"
  log "building mailpit ${MAILPIT_VERSION} with go install (first run only, about a minute)"
  GOBIN="${BIN_DIR}" go install "github.com/axllent/mailpit@${MAILPIT_VERSION}" >&2
  echo "${MAILPIT_VERSION}" >"${marker}"
}

healthy() {
  local api="$1" smtp_port="$2"
  curl -fsS --max-time 2 "${api}/readyz" >/dev/null 2>&1 && port_open "${smtp_port}"
}

# start_instance NAME SMTP_VAR API_VAR USERINFO [MAILPIT FLAGS...]: one Mailpit
# on fresh free ports, healthy, its exports emitted.
start_instance() {
  local name="$1" smtp_var="$2" api_var="$3" userinfo="$4"
  shift 4
  local smtp_port http_port dir api pid
  smtp_port="$(free_port)"
  http_port="$(free_port "${smtp_port}")"
  dir="$(new_data_dir "${name}")"
  api="http://127.0.0.1:${http_port}"
  : >"${STATE_DIR}/${name}.log"
  spawn "${name}" "${STATE_DIR}/${name}.log" "${MAILPIT}" \
    --smtp "127.0.0.1:${smtp_port}" \
    --listen "127.0.0.1:${http_port}" \
    --database "${dir}/mailpit.db" \
    --max 100000 \
    --disable-version-check \
    "$@"
  pid="$(cat "${STATE_DIR}/${name}.pid")"
  if ! wait_healthy "mailpit '${name}'" "${pid}" "${START_TIMEOUT_SECS}" 0.2 healthy "${api}" "${smtp_port}"; then
    tail -n 20 "${STATE_DIR}/${name}.log" >&2 || true
    return 1
  fi
  emit_env "${smtp_var}" "smtp://${userinfo}127.0.0.1:${smtp_port}"
  emit_env "${api_var}" "${api}"
  log "mailpit ${MAILPIT_VERSION} '${name}' up (pid ${pid}): SMTP 127.0.0.1:${smtp_port}, API ${api}"
}

engine_start_once() {
  echo "${AUTH_USER}:${AUTH_PASSWORD}" >"${STATE_DIR}/smtp-auth"
  start_instance open SLOTSTREAM_TEST_SMTP_URL SLOTSTREAM_TEST_MAILPIT_API "" \
    --smtp-auth-accept-any --smtp-auth-allow-insecure \
    --smtp-allowed-recipients '^[^!]*$' &&
    start_instance auth SLOTSTREAM_TEST_SMTP_AUTH_URL SLOTSTREAM_TEST_MAILPIT_AUTH_API \
      "${AUTH_USER}:${AUTH_PASSWORD}@" \
      --smtp-auth-file "${STATE_DIR}/smtp-auth" --smtp-auth-allow-insecure
}

engine_running() {
  instance_pid open "$(data_dir open)" >/dev/null && instance_pid auth "$(data_dir auth)" >/dev/null
}

engine_stop() {
  stop_instance open "${STOP_TIMEOUT_SECS}" "$(data_dir open)"
  stop_instance auth "${STOP_TIMEOUT_SECS}" "$(data_dir auth)"
  rm -f "${STATE_DIR}/smtp-auth"
}

engine_main "$@"
