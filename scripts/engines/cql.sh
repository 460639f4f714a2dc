#!/usr/bin/env bash
# A real CQL store for tests: one Apache Cassandra node on 127.0.0.1 (the
# stand-in for ScyllaDB, which no allowed registry carries; both speak the same
# CQL native protocol), on free ports, with its data in a temp dir.
#
#   eval "$(scripts/engines/cql.sh start)"   # fetch (cached), start, print exports
#   scripts/engines/cql.sh env                # print the exports of the running node
#   scripts/engines/cql.sh stop               # stop it (by pid) and delete its data
#
# Exports SLOTSTREAM_TEST_SCYLLA_NODES=127.0.0.1:<native transport port>
# (no authentication, datacenter "datacenter1", SimpleSnitch).
#
# Cassandra's jars come from Maven Central: Maven resolves
# scripts/engines/maven/cassandra/pom.xml (cached in ~/.m2) and copies the
# runtime classpath to ~/.cache/slotstream/cassandra-<version>/libs once. The
# health check is a real CQL query (SELECT release_version FROM system.local)
# through the Python cassandra-driver, installed from PyPI into a venv under
# ~/.cache/slotstream once. Needs JDK 17 (`java` or $JAVA_HOME), Maven, python3.
# Only stdout carries the exports; progress goes to stderr.
# SLOTSTREAM_CQL_STATE_DIR picks another state dir, for a second node;
# SLOTSTREAM_M2_REPO another Maven local repository (default ~/.m2/repository).
set -euo pipefail

CASSANDRA_VERSION="5.0.9"
DRIVER_VERSION="3.30.1"
HERE="$(cd "$(dirname "$0")" && pwd)"
POM="${HERE}/maven/cassandra/pom.xml"
CACHE_ROOT="${HOME}/.cache/slotstream"
LIBS="${CACHE_ROOT}/cassandra-${CASSANDRA_VERSION}/libs"
VENV="${CACHE_ROOT}/cql-venv-${DRIVER_VERSION}"
STATE_DIR="${SLOTSTREAM_CQL_STATE_DIR:-${TMPDIR:-/tmp}/slotstream-cql-$(id -u)}"
ENV_FILE="${STATE_DIR}/env"
PID_FILE="${STATE_DIR}/cassandra.pid"
DATA_FILE="${STATE_DIR}/cassandra.data_dir"
LOG_FILE="${STATE_DIR}/cassandra.log"
HEAP="${SLOTSTREAM_CQL_HEAP:-1g}"
START_TIMEOUT_SECS=150
STOP_TIMEOUT_SECS=30

log() { echo "cql.sh: $*" >&2; }

# Cassandra 5.0 runs on Java 11 or 17; the module flags below are Java 17's.
java_bin() {
  local candidate
  for candidate in "${JAVA_HOME:+${JAVA_HOME}/bin/java}" "$(command -v java 2>/dev/null || true)" \
    /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    [[ -n "${candidate}" && -x "${candidate}" ]] || continue
    if [[ "$("${candidate}" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)" == "17" ]]; then
      echo "${candidate}"
      return 0
    fi
  done
  log "Cassandra ${CASSANDRA_VERSION} needs Java 17; install it (Debian: apt-get install openjdk-17-jre-headless) or point JAVA_HOME at one"
  return 1
}

fetch_cassandra() {
  [[ -f "${LIBS}/.complete" ]] && return 0
  if ! command -v mvn >/dev/null 2>&1; then
    log "Maven is not installed; install it (Debian: apt-get install maven) so the Cassandra jars can be fetched"
    return 1
  fi
  mkdir -p "${CACHE_ROOT}"
  local staging repo_args=()
  [[ -n "${SLOTSTREAM_M2_REPO:-}" ]] && repo_args=(-Dmaven.repo.local="${SLOTSTREAM_M2_REPO}")
  staging="$(mktemp -d "${CACHE_ROOT}/cassandra-${CASSANDRA_VERSION}.staging.XXXXXX")"
  log "fetching Apache Cassandra ${CASSANDRA_VERSION} and its runtime dependencies from Maven Central (first run only)"
  if ! mvn -B -q -f "${POM}" "${repo_args[@]}" -Dcassandra.version="${CASSANDRA_VERSION}" \
    dependency:copy-dependencies -DoutputDirectory="${staging}" >"${staging}.mvn.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "${staging}.mvn.log" | grep -v '^$' | tail -n 20 >&2 || true
    rm -rf "${staging}" "${staging}.mvn.log"
    log "Maven could not resolve org.apache.cassandra:cassandra-all:${CASSANDRA_VERSION}; is Maven Central reachable?"
    return 1
  fi
  rm -f "${staging}.mvn.log"
  touch "${staging}/.complete"
  mkdir -p "$(dirname "${LIBS}")"
  mv -T "${staging}" "${LIBS}" 2>/dev/null || rm -rf "${staging}"
}

install_driver() {
  [[ -x "${VENV}/bin/python" && -f "${VENV}/.complete" ]] && return 0
  log "installing cassandra-driver ${DRIVER_VERSION} from PyPI into ${VENV} (first run only)"
  rm -rf "${VENV}"
  python3 -m venv "${VENV}" >&2
  "${VENV}/bin/pip" install -q --disable-pip-version-check "cassandra-driver==${DRIVER_VERSION}" >&2
  touch "${VENV}/.complete"
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

# The node's pid, if it is alive and still the process this script started
# (its command line names our data dir, so a recycled pid is never signalled).
running_pid() {
  local pid data_dir
  [[ -f "${PID_FILE}" && -f "${DATA_FILE}" ]] || return 1
  pid="$(cat "${PID_FILE}")"
  data_dir="$(cat "${DATA_FILE}")"
  alive "${pid}" || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF "${data_dir}/cassandra.yaml" || return 1
  echo "${pid}"
}

# A one-node cluster sized for a laptop: one token, few threads, small caches,
# periodic commit log, no snapshots on drop, no hints, loopback only.
write_config() {
  local data_dir="$1" native_port="$2" storage_port="$3"
  cat >"${data_dir}/cassandra.yaml" <<EOF
cluster_name: slotstream-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:${storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: ${storage_port}
start_native_transport: true
native_transport_port: ${native_port}
data_file_directories:
  - ${data_dir}/data
commitlog_directory: ${data_dir}/commitlog
saved_caches_directory: ${data_dir}/saved_caches
hints_directory: ${data_dir}/hints
cdc_raw_directory: ${data_dir}/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 4
concurrent_materialized_view_writes: 2
concurrent_compactors: 1
native_transport_max_threads: 32
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 16MiB
file_cache_size: 64MiB
networking_cache_size: 32MiB
auto_snapshot: false
hinted_handoff_enabled: false
read_request_timeout: 10000ms
range_request_timeout: 10000ms
write_request_timeout: 10000ms
counter_write_request_timeout: 10000ms
EOF
  cat >"${data_dir}/logback.xml" <<EOF
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${LOG_FILE}</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
  <logger name="org.apache.cassandra" level="INFO"/>
</configuration>
EOF
}

# Healthy means a real CQL round trip on the native transport.
healthy() {
  local native_port="$1"
  (exec 3<>"/dev/tcp/127.0.0.1/${native_port}") 2>/dev/null || return 1
  timeout 30 "${VENV}/bin/python" - "${native_port}" >>"${LOG_FILE}" 2>&1 <<'EOF'
import sys
from cassandra.cluster import Cluster
cluster = Cluster(["127.0.0.1"], port=int(sys.argv[1]), connect_timeout=5)
try:
    row = cluster.connect().execute("SELECT release_version FROM system.local").one()
    print("cql.sh health check: release_version", row.release_version)
finally:
    cluster.shutdown()
EOF
}

start_once() {
  local java="$1" native_port storage_port data_dir pid jamm
  native_port="$(free_port)"
  storage_port="$(free_port)"
  while [[ "${storage_port}" == "${native_port}" ]]; do storage_port="$(free_port)"; done
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/slotstream-cql-data.XXXXXX")"
  echo "${data_dir}" >"${DATA_FILE}"
  write_config "${data_dir}" "${native_port}" "${storage_port}"
  mkdir -p "${data_dir}/triggers"
  : >"${LOG_FILE}"
  jamm="$(find "${LIBS}" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)"
  # The flags below mirror Cassandra's conf/jvm-server.options and
  # conf/jvm17-server.options (module access for Java 17), with a small heap,
  # no JMX port, and the start-up waits a single node does not need removed.
  setsid "${java}" -Xms256m -Xmx"${HEAP}" -Xss256k \
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
    -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300 \
    -XX:+UseTLAB -XX:+ResizeTLAB -XX:+PerfDisableSharedMem -XX:+CrashOnOutOfMemoryError \
    -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true \
    -Djdk.attach.allowAttachSelf=true \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED \
    --add-exports java.sql/java.sql=ALL-UNNAMED \
    --add-exports java.base/java.lang.ref=ALL-UNNAMED \
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED \
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED \
    --add-opens java.base/java.lang.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    -Dio.netty.tryReflectionSetAccessible=true \
    -Dio.netty.allocator.useCacheForAllThreads=true \
    -Dio.netty.allocator.maxOrder=11 \
    -javaagent:"${jamm}" \
    -Dcassandra.config="file://${data_dir}/cassandra.yaml" \
    -Dcassandra.storagedir="${data_dir}" \
    -Dcassandra.triggers_dir="${data_dir}/triggers" \
    -Dcassandra.logdir="${STATE_DIR}" \
    -Dlogback.configurationFile="${data_dir}/logback.xml" \
    -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -Dcassandra.unsafesystem=true \
    -cp "${LIBS}/*" org.apache.cassandra.service.CassandraDaemon \
    </dev/null >>"${LOG_FILE}" 2>&1 &
  pid=$!
  echo "${pid}" >"${PID_FILE}"
  local deadline=$((SECONDS + START_TIMEOUT_SECS))
  until healthy "${native_port}"; do
    if ! alive "${pid}" || ((SECONDS >= deadline)); then
      log "cassandra did not become healthy within ${START_TIMEOUT_SECS}s; its log:"
      grep -E 'ERROR|Exception|WARN' "${LOG_FILE}" | tail -n 20 >&2 || true
      tail -n 10 "${LOG_FILE}" >&2 || true
      return 1
    fi
    sleep 1
  done
  echo "export SLOTSTREAM_TEST_SCYLLA_NODES=127.0.0.1:${native_port}" >"${ENV_FILE}"
  log "cassandra ${CASSANDRA_VERSION} up (pid ${pid}): CQL 127.0.0.1:${native_port}, storage port ${storage_port}, data ${data_dir}"
}

start_server() {
  mkdir -p "${STATE_DIR}"
  if running_pid >/dev/null && [[ -f "${ENV_FILE}" ]]; then
    log "already running"
    cat "${ENV_FILE}"
    return 0
  fi
  stop_server
  local java
  java="$(java_bin)"
  fetch_cassandra
  install_driver
  # A port picked as free can be taken before Cassandra binds it: try again.
  for attempt in 1 2 3; do
    if start_once "${java}"; then
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
      log "cassandra pid ${pid} ignored SIGTERM for ${STOP_TIMEOUT_SECS}s; killing it"
      kill -9 "${pid}" 2>/dev/null || true
      while alive "${pid}"; do sleep 0.1; done
    fi
  fi
  if [[ -f "${DATA_FILE}" ]]; then
    rm -rf "$(cat "${DATA_FILE}")"
  fi
  rm -f "${PID_FILE}" "${DATA_FILE}" "${ENV_FILE}"
}

case "${1:-}" in
  start) start_server ;;
  stop) stop_server && log "stopped" ;;
  env)
    if running_pid >/dev/null && [[ -f "${ENV_FILE}" ]]; then
      cat "${ENV_FILE}"
    else
      log "not running; run: eval \"\$(scripts/engines/cql.sh start)\""
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
