#!/usr/bin/env bash
# Property-based tests of the running product against its own OpenAPI
# description: starts `slotstream up` (embedded backend) on 127.0.0.1 with a
# fresh temp data dir, signs up a vendor and a customer the way the README
# walkthrough does (codes read from the outbox .eml files), then runs
# Schemathesis with every check, once as each, and stops the product by pid.
# Any failed check fails the script, so a description that drifts from what
# the server does fails CI.
#
# Schemathesis is pinned and installed from PyPI into a cached venv under
# ~/.cache/slotstream. Usage: scripts/schemathesis.sh [extra `st run` flags]
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
# Examples per operation and phase: the run stays within ~3 minutes on 2 cores.
# One worker: CPython 3.11's ast.parse is not thread-safe (hypothesis parses
# lambdas while generating; two workers hit "SystemError: AST constructor
# recursion depth mismatch" in Schemathesis itself, not in the API).
MAX_EXAMPLES=${SLOTSTREAM_ST_EXAMPLES:-100}

venv="${HOME}/.cache/slotstream/schemathesis-${ST_VERSION}"
if ! "${venv}/bin/st" --version 2>/dev/null | grep -q "${ST_VERSION}"; then
  echo "== installing schemathesis ${ST_VERSION} into ${venv}"
  rm -rf "${venv}"
  python3 -m venv "${venv}"
  "${venv}/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${ST_VERSION}"
fi

target="${CARGO_TARGET_DIR:-target}"
cargo build --locked -p slotstream --bin slotstream
bin="${target}/debug/slotstream"

data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
api="http://127.0.0.1:${port}"
SLOTSTREAM_DATA_DIR="${data}" SLOTSTREAM_LISTEN="127.0.0.1:${port}" SLOTSTREAM_LOG=warn \
  "${bin}" up >"${data}.log" 2>&1 &
pid=$!
stop() {
  kill "${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
  rm -rf "${data}" "${data}.log"
}
trap stop EXIT

for _ in $(seq 1 120); do
  curl -fs "${api}/healthz" >/dev/null 2>&1 && break
  kill -0 "${pid}" 2>/dev/null || { cat "${data}.log" >&2; echo "slotstream up exited" >&2; exit 1; }
  sleep 0.5
done
curl -fs "${api}/healthz" >/dev/null || { cat "${data}.log" >&2; echo "not healthy within 60 s" >&2; exit 1; }

json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }

# The code of the newest verification email to $1 (bounded poll of the outbox).
code_for() {
  local code=""
  for _ in $(seq 1 100); do
    code=$(grep -l "To: $1" "${data}"/outbox/*.eml 2>/dev/null | xargs -r grep -ho 'code is [0-9]\{6\}' | tail -1 | awk '{print $3}')
    [ -n "${code}" ] && break
    sleep 0.1
  done
  [ -n "${code}" ] || { echo "no verification email to $1" >&2; return 1; }
  echo "${code}"
}

# Signs up, verifies and logs in a $2 as $1; prints the access token.
token_for() {
  local email=$1 role=$2 password="schemathesis password"
  curl -fs -X POST "${api}/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"${email}\",\"password\":\"${password}\",\"name\":\"Fuzz\",\"role\":\"${role}\"}" >/dev/null
  curl -fs -X POST "${api}/v1/auth/verify" -H 'content-type: application/json' \
    -d "{\"email\":\"${email}\",\"code\":\"$(code_for "${email}")\"}" >/dev/null
  curl -fs -X POST "${api}/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"${email}\",\"password\":\"${password}\"}" | json '["access_token"]'
}

vendor=$(token_for vendor@schemathesis.test vendor)
customer=$(token_for customer@schemathesis.test customer)
# Something to find: a resource of the vendor's.
curl -fs -X POST "${api}/v1/resources" -H "authorization: Bearer ${vendor}" -H 'content-type: application/json' \
  -d '{"name":"Court 1","kind":"court","price":{"amount":2000,"currency":"EUR","unit_minutes":60}}' >/dev/null

status=0
for who in vendor customer; do
  token=${!who}
  echo "== schemathesis ${ST_VERSION} as the ${who}"
  started=$(date +%s)
  "${venv}/bin/st" --config-file scripts/schemathesis.toml run "${api}/openapi.json" \
    --checks all \
    --max-examples "${MAX_EXAMPLES}" \
    --seed 13 \
    --workers 1 \
    --request-timeout 30 \
    --header "Authorization: Bearer ${token}" \
    "$@" || status=$?
  echo "== as the ${who}: $(($(date +%s) - started)) s, exit ${status}"
done
if [ "${status}" -ne 0 ]; then
  echo "== the product's log:" >&2
  tail -n 50 "${data}.log" >&2
fi
exit "${status}"
