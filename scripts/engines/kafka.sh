#!/usr/bin/env bash
# A real Apache Kafka broker for tests: one KRaft node (broker + controller in
# one JVM) on 127.0.0.1, on free ports, with its log dirs in a temp dir.
#
#   eval "$(scripts/engines/kafka.sh start)"   # fetch (cached), start, print exports
#   scripts/engines/kafka.sh env                # print the exports of the running broker
#   scripts/engines/kafka.sh stop               # stop it (by pid) and delete its data
#
# Exports SLOTSTREAM_TEST_KAFKA_BROKERS=127.0.0.1:<port> (PLAINTEXT, no auth).
# Auto topic creation is off: tests create their topics. The internal topics
# have replication factor 1, so transactions (exactly-once) work on one node.
#
# The broker's jars come from Maven Central: Maven resolves
# scripts/engines/maven/kafka/pom.xml (cached in ~/.m2) and copies the runtime
# classpath to ~/.cache/slotstream/kafka-<version>/libs once per version.
# Needs a JDK 17+ (`java` on PATH or $JAVA_HOME) and Maven (`mvn`).
# Only stdout carries the exports; progress goes to stderr.
# SLOTSTREAM_KAFKA_STATE_DIR picks another state dir, for a second broker;
# SLOTSTREAM_M2_REPO another Maven local repository (default ~/.m2/repository).
set -euo pipefail

KAFKA_VERSION="4.3.1"
HERE="$(cd "$(dirname "$0")" && pwd)"
POM="${HERE}/maven/kafka/pom.xml"
CACHE_ROOT="${HOME}/.cache/slotstream"
LIBS="${CACHE_ROOT}/kafka-${KAFKA_VERSION}/libs"
STATE_DIR="${SLOTSTREAM_KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/slotstream-kafka-$(id -u)}"
ENV_FILE="${STATE_DIR}/env"
PID_FILE="${STATE_DIR}/kafka.pid"
DATA_FILE="${STATE_DIR}/kafka.data_dir"
LOG_FILE="${STATE_DIR}/kafka.log"
HEAP="${SLOTSTREAM_KAFKA_HEAP:-512m}"
START_TIMEOUT_SECS=120
STOP_TIMEOUT_SECS=30

log() { echo "kafka.sh: $*" >&2; }

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    echo "${JAVA_HOME}/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    log "no Java found; install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    return 1
  fi
}

# The major version of a java binary ("17", "21", ...).
java_major() {
  "$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

fetch_kafka() {
  [[ -f "${LIBS}/.complete" ]] && return 0
  if ! command -v mvn >/dev/null 2>&1; then
    log "Maven is not installed; install it (Debian: apt-get install maven) so the broker jars can be fetched"
    return 1
  fi
  mkdir -p "${CACHE_ROOT}"
  local staging
  staging="$(mktemp -d "${CACHE_ROOT}/kafka-${KAFKA_VERSION}.staging.XXXXXX")"
  log "fetching Apache Kafka ${KAFKA_VERSION} and its runtime dependencies from Maven Central (first run only)"
  local repo_args=()
  [[ -n "${SLOTSTREAM_M2_REPO:-}" ]] && repo_args=(-Dmaven.repo.local="${SLOTSTREAM_M2_REPO}")
  if ! mvn -B -q -f "${POM}" "${repo_args[@]}" -Dkafka.version="${KAFKA_VERSION}" \
    dependency:copy-dependencies -DoutputDirectory="${staging}" >"${staging}.mvn.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "${staging}.mvn.log" | grep -v '^$' | tail -n 20 >&2 || true
    rm -rf "${staging}" "${staging}.mvn.log"
    log "Maven could not resolve org.apache.kafka:kafka_2.13:${KAFKA_VERSION}; is Maven Central reachable?"
    return 1
  fi
  rm -f "${staging}.mvn.log"
  touch "${staging}/.complete"
  mkdir -p "$(dirname "${LIBS}")"
  # Another run may have finished first; either copy is complete.
  mv -T "${staging}" "${LIBS}" 2>/dev/null || rm -rf "${staging}"
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

# The broker's pid, if it is alive and still the process this script started
# (its command line names our data dir, so a recycled pid is never signalled).
running_pid() {
  local pid data_dir
  [[ -f "${PID_FILE}" && -f "${DATA_FILE}" ]] || return 1
  pid="$(cat "${PID_FILE}")"
  data_dir="$(cat "${DATA_FILE}")"
  alive "${pid}" || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF "${data_dir}/server.properties" || return 1
  echo "${pid}"
}

# A fresh KRaft cluster id: 16 random bytes, URL-safe base64 without padding.
cluster_id() {
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

write_config() {
  local data_dir="$1" broker_port="$2" controller_port="$3"
  cat >"${data_dir}/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${broker_port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${broker_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${data_dir}/kraft-logs
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=60000
EOF
  cat >"${data_dir}/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${LOG_FILE}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.clients.name = org.apache.kafka
logger.clients.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
EOF
}

# A short-lived JVM running one of Kafka's own tools on the broker's classpath.
kafka_tool() {
  local java="$1" data_dir="$2"
  shift 2
  timeout 60 "${java}" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="${data_dir}/log4j2.properties" \
    -cp "${LIBS}/*" "$@"
}

# Healthy means a real client round trip: list the topics through the broker.
healthy() {
  local java="$1" data_dir="$2" broker_port="$3"
  (exec 3<>"/dev/tcp/127.0.0.1/${broker_port}") 2>/dev/null || return 1
  kafka_tool "${java}" "${data_dir}" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:${broker_port}" --list >/dev/null 2>&1
}

start_once() {
  local java="$1" broker_port controller_port data_dir pid
  broker_port="$(free_port)"
  controller_port="$(free_port)"
  while [[ "${controller_port}" == "${broker_port}" ]]; do controller_port="$(free_port)"; done
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/slotstream-kafka-data.XXXXXX")"
  echo "${data_dir}" >"${DATA_FILE}"
  write_config "${data_dir}" "${broker_port}" "${controller_port}"
  : >"${LOG_FILE}"
  if ! kafka_tool "${java}" "${data_dir}" kafka.tools.StorageTool format \
    --cluster-id "$(cluster_id)" --config "${data_dir}/server.properties" \
    >>"${LOG_FILE}" 2>&1; then
    log "formatting the KRaft storage failed; its output:"
    tail -n 20 "${LOG_FILE}" >&2 || true
    return 1
  fi
  setsid "${java}" -Xms256m -Xmx"${HEAP}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="${data_dir}/log4j2.properties" \
    -cp "${LIBS}/*" kafka.Kafka "${data_dir}/server.properties" \
    </dev/null >>"${LOG_FILE}" 2>&1 &
  pid=$!
  echo "${pid}" >"${PID_FILE}"
  local deadline=$((SECONDS + START_TIMEOUT_SECS))
  until healthy "${java}" "${data_dir}" "${broker_port}"; do
    if ! alive "${pid}" || ((SECONDS >= deadline)); then
      log "the broker did not become healthy within ${START_TIMEOUT_SECS}s; its log:"
      tail -n 30 "${LOG_FILE}" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  echo "export SLOTSTREAM_TEST_KAFKA_BROKERS=127.0.0.1:${broker_port}" >"${ENV_FILE}"
  log "kafka ${KAFKA_VERSION} up (pid ${pid}): broker 127.0.0.1:${broker_port}, controller 127.0.0.1:${controller_port}, data ${data_dir}"
}

start_server() {
  mkdir -p "${STATE_DIR}"
  if running_pid >/dev/null && [[ -f "${ENV_FILE}" ]]; then
    log "already running"
    cat "${ENV_FILE}"
    return 0
  fi
  stop_server
  local java major
  java="$(java_bin)"
  major="$(java_major "${java}")"
  if [[ -z "${major}" ]] || ((major < 17)); then
    log "${java} is Java ${major:-unknown}; Kafka ${KAFKA_VERSION} needs 17+ (set JAVA_HOME)"
    return 1
  fi
  fetch_kafka
  # A port picked as free can be taken before the broker binds it: try again.
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
      log "broker pid ${pid} ignored SIGTERM for ${STOP_TIMEOUT_SECS}s; killing it"
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
      log "not running; run: eval \"\$(scripts/engines/kafka.sh start)\""
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
