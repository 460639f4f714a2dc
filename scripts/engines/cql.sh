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
# SLOTSTREAM_CQL_HEAP the node's max heap (default 1g);
# SLOTSTREAM_M2_REPO another Maven local repository (default ~/.m2/repository).
set -euo pipefail
ENGINE=cql
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/engines/lib.sh
source "${HERE}/lib.sh"

CASSANDRA_VERSION="5.0.9"
DRIVER_VERSION="3.30.1"
POM="${HERE}/maven/cassandra/pom.xml"
LIBS="${CACHE_ROOT}/cassandra-${CASSANDRA_VERSION}/libs"
VENV="${CACHE_ROOT}/cql-venv-${DRIVER_VERSION}"
LOG_FILE="${STATE_DIR}/cassandra.log"
HEAP="${SLOTSTREAM_CQL_HEAP:-1g}"
START_TIMEOUT_SECS=150
STOP_TIMEOUT_SECS=30
JAVA=""

install_driver() {
  [[ -x "${VENV}/bin/python" && -f "${VENV}/.complete" ]] && return 0
  log "installing cassandra-driver ${DRIVER_VERSION} from PyPI into ${VENV} (first run only)"
  rm -rf "${VENV}"
  if ! python3 -m venv "${VENV}" >&2; then
    log "python3 cannot create a venv; install it (Debian: apt-get install python3-venv)"
    return 1
  fi
  "${VENV}/bin/pip" install -q --disable-pip-version-check "cassandra-driver==${DRIVER_VERSION}" >&2
  touch "${VENV}/.complete"
}

# Cassandra 5.0 runs on Java 11 or 17; the module flags below are Java 17's.
engine_prepare() {
  JAVA="$(java_bin 17 17)"
  maven_copy_deps "${POM}" "${LIBS}" "Apache Cassandra ${CASSANDRA_VERSION}" -Dcassandra.version="${CASSANDRA_VERSION}"
  install_driver
}

# The node's command line names its data dir, so a recycled pid is never signalled.
mark() { echo "$(data_dir cassandra)/cassandra.yaml"; }

engine_running() { instance_pid cassandra "$(mark)" >/dev/null; }

engine_stop() { stop_instance cassandra "${STOP_TIMEOUT_SECS}" "$(mark)"; }

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
  port_open "${native_port}" || return 1
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

engine_start_once() {
  local native_port storage_port data_dir pid jamm
  native_port="$(free_port)"
  storage_port="$(free_port "${native_port}")"
  data_dir="$(new_data_dir cassandra)"
  write_config "${data_dir}" "${native_port}" "${storage_port}"
  mkdir -p "${data_dir}/triggers"
  : >"${LOG_FILE}"
  jamm="$(find "${LIBS}" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)"
  # The flags below mirror Cassandra's conf/jvm-server.options and
  # conf/jvm17-server.options (module access for Java 17), with a small heap,
  # no JMX port, and the start-up waits a single node does not need removed.
  spawn cassandra "${LOG_FILE}" "${JAVA}" -Xms256m -Xmx"${HEAP}" -Xss256k \
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
    -cp "${LIBS}/*" org.apache.cassandra.service.CassandraDaemon
  pid="$(cat "${STATE_DIR}/cassandra.pid")"
  if ! wait_healthy cassandra "${pid}" "${START_TIMEOUT_SECS}" 1 healthy "${native_port}"; then
    grep -E 'ERROR|Exception|WARN' "${LOG_FILE}" | tail -n 20 >&2 || true
    tail -n 10 "${LOG_FILE}" >&2 || true
    return 1
  fi
  emit_env SLOTSTREAM_TEST_SCYLLA_NODES "127.0.0.1:${native_port}"
  log "cassandra ${CASSANDRA_VERSION} up (pid ${pid}): CQL 127.0.0.1:${native_port}, storage port ${storage_port}, data ${data_dir}"
}

engine_main "$@"
