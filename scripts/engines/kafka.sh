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
# SLOTSTREAM_KAFKA_HEAP the broker's max heap (default 512m);
# SLOTSTREAM_M2_REPO another Maven local repository (default ~/.m2/repository).
set -euo pipefail
ENGINE=kafka
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/engines/lib.sh
source "${HERE}/lib.sh"

KAFKA_VERSION="4.3.1"
POM="${HERE}/maven/kafka/pom.xml"
LIBS="${CACHE_ROOT}/kafka-${KAFKA_VERSION}/libs"
LOG_FILE="${STATE_DIR}/kafka.log"
HEAP="${SLOTSTREAM_KAFKA_HEAP:-512m}"
START_TIMEOUT_SECS=120
STOP_TIMEOUT_SECS=30
JAVA=""

engine_prepare() {
  JAVA="$(java_bin 17)"
  maven_copy_deps "${POM}" "${LIBS}" "Apache Kafka ${KAFKA_VERSION}" -Dkafka.version="${KAFKA_VERSION}"
}

# The broker's command line names its data dir, so a recycled pid is never signalled.
mark() { echo "$(data_dir kafka)/server.properties"; }

engine_running() { instance_pid kafka "$(mark)" >/dev/null; }

engine_stop() { stop_instance kafka "${STOP_TIMEOUT_SECS}" "$(mark)"; }

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
# The end-to-end tests move a manual clock hours ahead and records carry the
# platform's clock as CreateTime; the default refuses timestamps more than an
# hour in the future.
log.message.timestamp.after.max.ms=9223372036854775807
# The KIP-848 consumer protocol our processors use: heartbeats every second and
# a dead member's partitions move after 6 s (defaults 5 s / 45 s, floors too),
# so failover tests finish in seconds. Production brokers keep their own.
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=1000
group.consumer.session.timeout.ms=6000
group.consumer.min.session.timeout.ms=6000
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
  local data_dir="$1"
  shift
  timeout 60 "${JAVA}" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="${data_dir}/log4j2.properties" \
    -cp "${LIBS}/*" "$@"
}

# Healthy means a real client round trip: list the topics through the broker.
healthy() {
  local data_dir="$1" broker_port="$2"
  port_open "${broker_port}" || return 1
  kafka_tool "${data_dir}" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:${broker_port}" --list >/dev/null 2>&1
}

engine_start_once() {
  local broker_port controller_port dir pid
  broker_port="$(free_port)"
  controller_port="$(free_port "${broker_port}")"
  dir="$(new_data_dir kafka)"
  write_config "${dir}" "${broker_port}" "${controller_port}"
  : >"${LOG_FILE}"
  if ! kafka_tool "${dir}" kafka.tools.StorageTool format \
    --cluster-id "$(cluster_id)" --config "${dir}/server.properties" \
    >>"${LOG_FILE}" 2>&1; then
    log "formatting the KRaft storage failed; its output:"
    tail -n 20 "${LOG_FILE}" >&2 || true
    return 1
  fi
  spawn kafka "${LOG_FILE}" "${JAVA}" -Xms256m -Xmx"${HEAP}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="${dir}/log4j2.properties" \
    -cp "${LIBS}/*" kafka.Kafka "${dir}/server.properties"
  pid="$(cat "${STATE_DIR}/kafka.pid")"
  if ! wait_healthy "the broker" "${pid}" "${START_TIMEOUT_SECS}" 0.5 healthy "${dir}" "${broker_port}"; then
    tail -n 30 "${LOG_FILE}" >&2 || true
    return 1
  fi
  emit_env SLOTSTREAM_TEST_KAFKA_BROKERS "127.0.0.1:${broker_port}"
  log "kafka ${KAFKA_VERSION} up (pid ${pid}): broker 127.0.0.1:${broker_port}, controller 127.0.0.1:${controller_port}, data ${dir}"
}

engine_main "$@"
