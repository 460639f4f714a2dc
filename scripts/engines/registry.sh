#!/usr/bin/env bash
# A Confluent-compatible schema registry for tests on 127.0.0.1, on a free port.
#
#   eval "$(scripts/engines/registry.sh start)"   # build (cached), start, print exports
#   scripts/engines/registry.sh env                # print the exports of the running registry
#   scripts/engines/registry.sh stop               # stop it (by pid)
#
# Exports:
#   SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL  the base URL a Confluent client uses
#     (/subjects, /schemas/ids/{id}, /config/{subject}, /compatibility/...)
#   SLOTSTREAM_TEST_SCHEMA_REGISTRY_KIND what answers there: apicurio or srfake
#
# DEFAULT: Apicurio Registry 2.4.2.Final, in-memory (H2) storage, serving the
# Confluent API at http://127.0.0.1:<port>/apis/ccompat/v7. It is a real
# registry: it parses Avro, enforces compatibility rules (PUT /config/{subject}
# {"compatibility":"BACKWARD"}, then an incompatible schema is refused with
# 409) and keeps nothing across a restart. Maven Central only carries its app
# module as a plain jar, so scripts/engines/maven/registry/pom.xml runs the
# Quarkus build over it once into ~/.cache/slotstream/apicurio-registry-*
# (about a minute and ~200 MB of ~/.m2 on the first run); that pom says why
# 2.4.2.Final and not a newer release. Needs JDK 17 and Maven. Heap 384m.
#
# FALLBACK, not used unless asked for with SLOTSTREAM_REGISTRY_KIND=srfake:
# franz-go's srfake (github.com/twmb/franz-go/pkg/sr, Go module proxy), an
# in-memory emulation of the same REST API served by scripts/engines/srfake/
# main.go, built once into ~/.cache/slotstream/bin. It does NOT enforce
# compatibility (the /compatibility endpoints always answer true) nor parse
# Avro; tests that rely on either must check the KIND export.
#
# Only stdout carries the exports; progress goes to stderr.
# SLOTSTREAM_REGISTRY_STATE_DIR picks another state dir, for a second registry.
set -euo pipefail
ENGINE=registry
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/engines/lib.sh
source "${HERE}/lib.sh"

KIND="${SLOTSTREAM_REGISTRY_KIND:-apicurio}"
APICURIO_VERSION="2.4.2.Final"
APICURIO_POM="${HERE}/maven/registry/pom.xml"
APICURIO_HEAP="${SLOTSTREAM_REGISTRY_HEAP:-384m}"
SR_MODULE="github.com/twmb/franz-go/pkg/sr"
SR_VERSION="v1.8.0"
SERVER="${CACHE_ROOT}/bin/slotstream-srfake"
LOG_FILE="${STATE_DIR}/registry.log"
START_TIMEOUT_SECS=90
STOP_TIMEOUT_SECS=15
JAVA=""

# The Apicurio build is keyed by the files that define it, so editing the pom
# rebuilds it instead of reusing a stale one.
apicurio_home() {
  local key
  key="$(cat "${APICURIO_POM}" "${HERE}/maven/registry/src/main/resources/application.properties" |
    sha256sum | cut -c1-12)"
  echo "${CACHE_ROOT}/apicurio-registry-${APICURIO_VERSION}-${key}"
}

build_apicurio() {
  local home="$1" staging
  [[ -f "${home}/.complete" ]] && return 0
  mkdir -p "${CACHE_ROOT}"
  staging="$(mktemp -d "${home}.staging.XXXXXX")"
  log "building Apicurio Registry ${APICURIO_VERSION} from Maven Central with the Quarkus build (first run only, about a minute)"
  if ! run_maven "Apicurio Registry ${APICURIO_VERSION}" "${APICURIO_POM}" package \
    -Dapicurio.version="${APICURIO_VERSION}" -Dslotstream.build.dir="${staging}/build"; then
    rm -rf "${staging}"
    return 1
  fi
  mv "${staging}/build/quarkus-app" "${staging}/quarkus-app"
  rm -rf "${staging}/build"
  touch "${staging}/.complete"
  # Another run may have finished first; either build is complete.
  mv -T "${staging}" "${home}" 2>/dev/null || rm -rf "${staging}"
}

build_srfake() {
  local marker="${SERVER}.version" build
  if [[ -x "${SERVER}" && -f "${marker}" && "$(cat "${marker}")" == "${SR_MODULE}@${SR_VERSION}" ]]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed; install Go 1.24+ (Debian: apt-get install golang-go) so the srfake registry can be built"
    return 1
  fi
  mkdir -p "$(dirname "${SERVER}")"
  build="$(mktemp -d "${TMPDIR:-/tmp}/slotstream-srfake-build.XXXXXX")"
  log "building the srfake registry emulator from ${SR_MODULE}@${SR_VERSION} (first run only)"
  cp "${HERE}/srfake/main.go" "${build}/main.go"
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

engine_prepare() {
  case "${KIND}" in
    apicurio)
      JAVA="$(java_bin 17)"
      build_apicurio "$(apicurio_home)"
      ;;
    srfake) build_srfake ;;
    *)
      log "SLOTSTREAM_REGISTRY_KIND=${KIND} is not a registry this script runs; use apicurio (default) or srfake"
      return 1
      ;;
  esac
}

# The process's command line names its data dir (Apicurio) or the srfake
# binary, so a recycled pid is never signalled.
mark() {
  if [[ -f "${STATE_DIR}/registry.data_dir" ]]; then data_dir registry; else echo "${SERVER}"; fi
}

engine_running() { instance_pid registry "$(mark)" >/dev/null; }

engine_stop() { stop_instance registry "${STOP_TIMEOUT_SECS}" "$(mark)"; }

# Healthy means the Confluent API answers: GET /subjects is 200 with a JSON array.
healthy() {
  local body
  body="$(curl -fsS --max-time 2 -H 'Accept: application/vnd.schemaregistry.v1+json' "$1/subjects" 2>/dev/null)" || return 1
  [[ "${body}" == \[* ]]
}

engine_start_once() {
  local port url pid dir what
  # shellcheck disable=SC2119 # no ports to avoid yet
  port="$(free_port)"
  : >"${LOG_FILE}"
  if [[ "${KIND}" == apicurio ]]; then
    dir="$(new_data_dir registry)"
    url="http://127.0.0.1:${port}/apis/ccompat/v7"
    what="Apicurio Registry ${APICURIO_VERSION}"
    spawn registry "${LOG_FILE}" "${JAVA}" -Xms64m -Xmx"${APICURIO_HEAP}" \
      -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
      -Djava.io.tmpdir="${dir}" \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="${port}" \
      -jar "$(apicurio_home)/quarkus-app/quarkus-run.jar"
  else
    url="http://127.0.0.1:${port}"
    what="srfake ${SR_VERSION} (no compatibility enforcement)"
    spawn registry "${LOG_FILE}" "${SERVER}" -listen "127.0.0.1:${port}"
  fi
  pid="$(cat "${STATE_DIR}/registry.pid")"
  if ! wait_healthy "the registry" "${pid}" "${START_TIMEOUT_SECS}" 0.2 healthy "${url}"; then
    tail -n 20 "${LOG_FILE}" >&2 || true
    return 1
  fi
  emit_env SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL "${url}"
  emit_env SLOTSTREAM_TEST_SCHEMA_REGISTRY_KIND "${KIND}"
  log "${what} up (pid ${pid}): ${url}"
}

engine_main "$@"
