# shellcheck shell=bash
# The shared half of every scripts/engines/*.sh: sourced, never run.
#
# It owns the process discipline the engine scripts keep: every engine runs on
# 127.0.0.1 on ports picked free at start, in its own session (setsid), with its
# pid recorded in a state dir; a recorded pid is only ever signalled while the
# process behind it still names what we started (a recycled pid is left alone);
# every wait is bounded; stop is SIGTERM, a bounded wait, then SIGKILL.
#
# An engine script sets ENGINE (its name) and sources this file, which sets
#   STATE_DIR  ${SLOTSTREAM_<ENGINE>_STATE_DIR:-${TMPDIR:-/tmp}/slotstream-<engine>-<uid>}
#   ENV_FILE   ${STATE_DIR}/env, the `export VAR=value` lines of the running engine
#   CACHE_ROOT ${HOME}/.cache/slotstream, downloads and builds kept across runs
# then defines the hooks
#   engine_prepare      fetch/build what the engine needs (once; cached)
#   engine_start_once   start, wait until healthy, `emit_env` the exports;
#                       return non-zero on failure (the caller cleans up)
#   engine_running      succeed when every process of the engine is alive
#   engine_stop         stop every process (stop_instance) and clean up
# and ends with `engine_main "$@"`, the start|stop|env dispatch.
# Only stdout carries exports; progress and errors go to stderr.

: "${ENGINE:?set ENGINE before sourcing lib.sh}"
_engine_upper="$(printf '%s' "${ENGINE}" | tr '[:lower:]-' '[:upper:]_')"
_state_var="SLOTSTREAM_${_engine_upper}_STATE_DIR"
STATE_DIR="${!_state_var:-${TMPDIR:-/tmp}/slotstream-${ENGINE}-$(id -u)}"
ENV_FILE="${STATE_DIR}/env"
# shellcheck disable=SC2034 # used by the engine scripts that source this file
CACHE_ROOT="${HOME}/.cache/slotstream"
START_ATTEMPTS="${START_ATTEMPTS:-3}"
unset _engine_upper _state_var

log() { echo "${ENGINE}.sh: $*" >&2; }

# alive PID: the process exists and has not exited (a zombie waiting for its
# parent, often init, to reap it has exited).
alive() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "${state}" && "${state}" != "Z" ]]
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port [EXCEPT...]: a TCP port on 127.0.0.1 nothing listens on right now
# and not among EXCEPT, picked below the kernel's ephemeral range (so outgoing
# connections, which take ephemeral ports, cannot grab it first). Another
# process may still take it before we bind it, which is why engine_main
# retries a failed start on fresh ports.
free_port() {
  local port taken low=32768 base=15000
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((low - base >= 2000)) || { base=20000; low=60000; }
  for _ in $(seq 1 100); do
    port=$((base + RANDOM % (low - base)))
    taken=0
    for other in "$@"; do [[ "${other}" == "${port}" ]] && taken=1; done
    if ((taken == 0)) && ! port_open "${port}"; then
      echo "${port}"
      return 0
    fi
  done
  log "no free TCP port found on 127.0.0.1 after 100 tries; is the machine out of ports?"
  return 1
}

# new_data_dir NAME: a fresh temp dir for instance NAME, recorded in the state
# dir so stop_instance deletes it.
new_data_dir() {
  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/slotstream-${ENGINE}-$1.XXXXXX")"
  echo "${dir}" >"${STATE_DIR}/$1.data_dir"
  echo "${dir}"
}

# data_dir NAME: the recorded data dir of instance NAME; when none is recorded,
# a path no process of ours names, so a mark built from it matches nothing.
data_dir() {
  if [[ -f "${STATE_DIR}/$1.data_dir" ]]; then
    cat "${STATE_DIR}/$1.data_dir"
  else
    echo "${STATE_DIR}/$1.no-data-dir"
  fi
}

# spawn NAME LOG_FILE COMMAND...: runs COMMAND in its own session with stdin
# closed and output appended to LOG_FILE, records its pid for NAME.
spawn() {
  local name="$1" log_file="$2" pid
  shift 2
  setsid "$@" </dev/null >>"${log_file}" 2>&1 &
  pid=$!
  echo "${pid}" >"${STATE_DIR}/${name}.pid"
}

# instance_pid NAME [MARK]: the recorded pid of NAME if it is alive and, when
# MARK is given, its command line contains MARK (a path only our start used,
# so a pid the kernel recycled for something else is never signalled).
instance_pid() {
  local name="$1" mark="${2:-}" pid
  [[ -f "${STATE_DIR}/${name}.pid" ]] || return 1
  pid="$(cat "${STATE_DIR}/${name}.pid")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  alive "${pid}" || return 1
  if [[ -n "${mark}" ]]; then
    tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "${mark}" || return 1
  fi
  echo "${pid}"
}

# wait_healthy NAME PID TIMEOUT_SECS INTERVAL_SECS CHECK...: polls CHECK until it
# succeeds; fails (and says why) when PID exits or TIMEOUT_SECS pass.
wait_healthy() {
  local name="$1" pid="$2" timeout="$3" interval="$4"
  shift 4
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! alive "${pid}"; then
      log "${name} (pid ${pid}) exited before it became healthy"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "${name} (pid ${pid}) did not become healthy within ${timeout}s"
      return 1
    fi
    sleep "${interval}"
  done
}

# stop_instance NAME TIMEOUT_SECS [MARK]: SIGTERM to the recorded pid (see
# instance_pid), up to TIMEOUT_SECS for it to exit, then SIGKILL; deletes the
# instance's data dir and state files either way.
stop_instance() {
  local name="$1" timeout="$2" mark="${3:-}" pid
  if pid="$(instance_pid "${name}" "${mark}")"; then
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 1 $((timeout * 10))); do
      alive "${pid}" || break
      sleep 0.1
    done
    if alive "${pid}"; then
      log "${name} (pid ${pid}) ignored SIGTERM for ${timeout}s; sending SIGKILL"
      kill -9 "${pid}" 2>/dev/null || true
      for _ in $(seq 1 100); do
        alive "${pid}" || break
        sleep 0.1
      done
    fi
  fi
  if [[ -f "${STATE_DIR}/${name}.data_dir" ]]; then
    rm -rf "$(cat "${STATE_DIR}/${name}.data_dir")"
  fi
  rm -f "${STATE_DIR}/${name}.pid" "${STATE_DIR}/${name}.data_dir"
}

# emit_env VAR VALUE: one export of the engine being started.
emit_env() {
  echo "export $1=$2" >>"${ENV_FILE}.partial"
}

# java_bin MIN [MAX]: a java binary whose major version is in MIN..MAX, from
# $JAVA_HOME, PATH, or /usr/lib/jvm.
java_bin() {
  local min="$1" max="${2:-999}" candidate major
  for candidate in "${JAVA_HOME:+${JAVA_HOME}/bin/java}" "$(command -v java 2>/dev/null || true)" \
    /usr/lib/jvm/*/bin/java; do
    [[ -n "${candidate}" && -x "${candidate}" ]] || continue
    major="$("${candidate}" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)"
    if [[ -n "${major}" ]] && ((major >= min && major <= max)); then
      echo "${candidate}"
      return 0
    fi
  done
  log "no Java ${min}$([[ "${max}" == 999 ]] && echo + || echo "..${max}") found; install one (Debian: apt-get install openjdk-17-jre-headless) or point JAVA_HOME at it"
  return 1
}

# run_maven WHAT POM ARGS...: `mvn -q ARGS` on POM (local repository ~/.m2, or
# $SLOTSTREAM_M2_REPO), its output kept back unless it fails.
run_maven() {
  local what="$1" pom="$2" out
  shift 2
  if ! command -v mvn >/dev/null 2>&1; then
    log "Maven is not installed; install it (Debian: apt-get install maven) so ${what} can be fetched"
    return 1
  fi
  local repo_args=()
  [[ -n "${SLOTSTREAM_M2_REPO:-}" ]] && repo_args=(-Dmaven.repo.local="${SLOTSTREAM_M2_REPO}")
  out="$(mktemp "${TMPDIR:-/tmp}/slotstream-mvn.XXXXXX")"
  if ! mvn -B -q -f "${pom}" "${repo_args[@]}" "$@" >"${out}" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "${out}" | grep -v '^$' | tail -n 20 >&2 || true
    rm -f "${out}"
    log "Maven could not build ${what} from ${pom}; is Maven Central reachable? (its last lines are above)"
    return 1
  fi
  rm -f "${out}"
}

# maven_copy_deps POM LIBS WHAT [MVN ARGS...]: resolves POM's runtime classpath
# (through ~/.m2, or $SLOTSTREAM_M2_REPO) into LIBS once; LIBS/.complete marks
# a finished copy, so an interrupted fetch is redone, never half-used.
maven_copy_deps() {
  local pom="$1" libs="$2" what="$3"
  shift 3
  [[ -f "${libs}/.complete" ]] && return 0
  mkdir -p "$(dirname "${libs}")"
  local staging
  staging="$(mktemp -d "${libs}.staging.XXXXXX")"
  log "fetching ${what} and its runtime dependencies from Maven Central (first run only)"
  if ! run_maven "${what}" "${pom}" "$@" dependency:copy-dependencies -DoutputDirectory="${staging}"; then
    rm -rf "${staging}"
    return 1
  fi
  touch "${staging}/.complete"
  # Another run may have finished first; either copy is complete.
  mv -T "${staging}" "${libs}" 2>/dev/null || rm -rf "${staging}"
}

# engine_main start|stop|env: the command-line interface of every engine script.
engine_main() {
  case "${1:-}" in
    start) _engine_start ;;
    stop) engine_stop && rm -f "${ENV_FILE}" "${ENV_FILE}.partial" && log "stopped" ;;
    env)
      if engine_running && [[ -f "${ENV_FILE}" ]]; then
        cat "${ENV_FILE}"
      else
        log "not running; run: eval \"\$($0 start)\""
        return 1
      fi
      ;;
    *)
      echo "usage: $0 start|stop|env" >&2
      return 2
      ;;
  esac
}

_engine_start() {
  mkdir -p "${STATE_DIR}"
  if engine_running && [[ -f "${ENV_FILE}" ]]; then
    log "already running"
    cat "${ENV_FILE}"
    return 0
  fi
  engine_stop
  rm -f "${ENV_FILE}" "${ENV_FILE}.partial"
  engine_prepare
  local attempt
  for attempt in $(seq 1 "${START_ATTEMPTS}"); do
    if engine_start_once; then
      mv "${ENV_FILE}.partial" "${ENV_FILE}"
      cat "${ENV_FILE}"
      return 0
    fi
    log "start attempt ${attempt} of ${START_ATTEMPTS} failed"
    engine_stop
    rm -f "${ENV_FILE}.partial"
  done
  return 1
}
