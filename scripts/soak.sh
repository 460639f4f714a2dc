#!/usr/bin/env bash
# Runs the end-to-end suite on Kafka several times in a row, to catch rare
# hangs and flakes that one run of scripts/test.sh would miss.
#
#   scripts/soak.sh [RUNS]      # default 5; each run takes ~6 min on 2 cores
#
# It builds the e2e test binary, starts the four engines (scripts/engines.sh,
# stopped again on exit) and runs the binary RUNS times with the product's
# warnings shown (--nocapture, SLOTSTREAM_LOG=warn). Each run's output goes
# to $SOAK_DIR/run-N.log (default: a fresh temp dir). A run still going after
# 10 minutes is taken for a hang: if gdb is installed, every thread's stack
# goes to $SOAK_DIR/hang-N.txt; then the run is stopped and the soak ends.
# Exits non-zero if any run failed or hung.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
soak_dir="${SOAK_DIR:-$(mktemp -d /tmp/slotstream-soak.XXXXXX)}"
mkdir -p "${soak_dir}"
log() { echo "soak.sh: $*" >&2; }

bin=$(cargo test --locked -p slotstream --test api --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "api" and m.get("executable"):
        print(m["executable"])' | tail -1)
[[ -x "${bin}" ]] || { log "could not build the e2e test binary"; exit 1; }

scripts/engines.sh start > "${soak_dir}/engines.env"
trap 'scripts/engines.sh stop || true' EXIT
# shellcheck disable=SC1091
source "${soak_dir}/engines.env"

failed=0
for i in $(seq 1 "${runs}"); do
  out="${soak_dir}/run-${i}.log"
  SLOTSTREAM_LOG=warn SLOTSTREAM_TEST_BACKEND=kafka "${bin}" --skip distributed:: --nocapture > "${out}" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do kill -0 "${pid}" 2>/dev/null || break; sleep 1; done
  if kill -0 "${pid}" 2>/dev/null; then
    log "run ${i} hung; see ${out}"
    if command -v gdb > /dev/null; then
      gdb -p "${pid}" -batch -ex "thread apply all bt" > "${soak_dir}/hang-${i}.txt" 2>&1 || true
      log "thread stacks in ${soak_dir}/hang-${i}.txt"
    fi
    kill "${pid}"; wait "${pid}" || true
    failed=1
    break
  fi
  rc=0; wait "${pid}" || rc=$?
  log "run ${i}: exit ${rc}: $(grep '^test result' "${out}" || echo 'no result line')"
  [[ ${rc} -eq 0 ]] || failed=1
done
log "logs in ${soak_dir}"
exit "${failed}"
