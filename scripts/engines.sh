#!/usr/bin/env bash
# Starts, health-checks and stops the real engines the test suite talks to,
# on 127.0.0.1 only: SMTP (Mailpit), Kafka, a CQL store (Cassandra) and a
# Confluent-API schema registry (scripts/engines/<engine>.sh each).
#
#   scripts/engines.sh start > env.sh && source env.sh
#   scripts/engines.sh env     # the exports of the running engines
#   scripts/engines.sh stop
#
# `start` starts the engines concurrently, waits until each is healthy (every
# engine script has its own bounded health check) and prints every
# `export VAR=...` line on stdout; progress goes to stderr. If any engine fails,
# it stops the ones that did start and exits non-zero naming the failures.
# `stop` stops every engine by the pid its script recorded, carrying on past
# one that fails to stop, and exits non-zero if any did.
#
# SLOTSTREAM_ENGINES picks a subset (default: "smtp kafka cql registry").
# SLOTSTREAM_ENGINES_STATE_DIR=<dir> gives every engine a state dir under
# <dir> (unless its own SLOTSTREAM_<ENGINE>_STATE_DIR is set), for a second,
# independent set of engines.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
engines="${SLOTSTREAM_ENGINES:-smtp kafka cql registry}"

if [[ -n "${SLOTSTREAM_ENGINES_STATE_DIR:-}" ]]; then
  for engine in ${engines}; do
    var="SLOTSTREAM_$(printf '%s' "${engine}" | tr '[:lower:]-' '[:upper:]_')_STATE_DIR"
    export "${var}=${!var:-${SLOTSTREAM_ENGINES_STATE_DIR}/${engine}}"
  done
fi

log() { echo "engines.sh: $*" >&2; }

# Stops every engine; returns non-zero if any stop failed.
stop_all() {
  local engine failed=""
  for engine in ${engines}; do
    "${here}/engines/${engine}.sh" stop || failed="${failed} ${engine}"
  done
  if [[ -n "${failed}" ]]; then
    log "could not stop:${failed}; see the messages above"
    return 1
  fi
}

declare -A pids=()

# Interrupted half-way through start: end the engine scripts still starting
# (by pid), then stop whatever they had started.
interrupted() {
  local pid
  log "interrupted; stopping the engines"
  for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
  stop_all || true
  exit 130
}

start_all() {
  local out engine failed="" started=$SECONDS
  out="$(mktemp -d "${TMPDIR:-/tmp}/slotstream-engines.XXXXXX")"
  trap 'rm -rf "${out}"; interrupted' INT TERM
  for engine in ${engines}; do
    "${here}/engines/${engine}.sh" start >"${out}/${engine}.env" &
    pids[${engine}]=$!
  done
  for engine in ${engines}; do
    wait "${pids[${engine}]}" || failed="${failed} ${engine}"
  done
  trap - INT TERM
  if [[ -n "${failed}" ]]; then
    log "failed to start:${failed} (the reasons are above); stopping the engines that did start"
    stop_all || true
    rm -rf "${out}"
    return 1
  fi
  for engine in ${engines}; do cat "${out}/${engine}.env"; done
  rm -rf "${out}"
  log "all engines healthy in $((SECONDS - started))s: ${engines}"
}

env_all() {
  local engine
  for engine in ${engines}; do "${here}/engines/${engine}.sh" env; done
}

case "${1:-}" in
  start) start_all ;;
  stop) stop_all ;;
  env) env_all ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
