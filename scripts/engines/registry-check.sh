#!/usr/bin/env bash
# Checks that the registry at $SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL behaves like
# Confluent's on what Slotstream relies on: register an Avro schema under a
# subject, read it back by id, re-registering is idempotent, BACKWARD
# compatibility on the subject refuses an incompatible schema with 409 and
# accepts a compatible one, subjects are listed. Uses a fresh subject each run.
#
#   eval "$(scripts/engines/registry.sh start)" && scripts/engines/registry-check.sh
set -euo pipefail
base="${SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL:?start the registry first: eval \"\$(scripts/engines/registry.sh start)\"}"
subject="check-$$-${RANDOM}-value"
ct='Content-Type: application/vnd.schemaregistry.v1+json'
failures=0

# call METHOD PATH [BODY]: prints "<status> <body>".
call() {
  local args=(-sS --max-time 10 -X "$1" -H "${ct}" -w ' %{http_code}' "${base}$2")
  [[ $# -ge 3 ]] && args+=(-d "$3")
  local out
  out="$(curl "${args[@]}")"
  echo "${out##* } ${out% *}"
}

# expect WHAT STATUS BODY_SUBSTRING ACTUAL
expect() {
  local status="${4%% *}" body="${4#* }"
  if [[ "${status}" == "$2" && "${body}" == *"$3"* ]]; then
    echo "ok   $1"
  else
    echo "FAIL $1: wanted $2 with '$3', got ${status} ${body}"
    failures=$((failures + 1))
  fi
}

avro() { printf '{"schema":"{\\"type\\":\\"record\\",\\"name\\":\\"Booking\\",\\"fields\\":[{\\"name\\":\\"id\\",\\"type\\":\\"string\\"}%s]}"}' "$1"; }
v1="$(avro '')"
incompatible="$(avro ',{\"name\":\"slot\",\"type\":\"long\"}')"
compatible="$(avro ',{\"name\":\"slot\",\"type\":\"long\",\"default\":0}')"

reply="$(call POST "/subjects/${subject}/versions" "${v1}")"
expect "an Avro schema registers under a subject" 200 '"id":' "${reply}"
id=""
[[ "${reply}" =~ \"id\":([0-9]+) ]] && id="${BASH_REMATCH[1]}"
expect "the schema reads back by id" 200 'Booking' "$(call GET "/schemas/ids/${id}")"
expect "re-registering it returns the same id" 200 "\"id\":${id}" "$(call POST "/subjects/${subject}/versions" "${v1}")"
expect "BACKWARD compatibility can be set on the subject" 200 'BACKWARD' \
  "$(call PUT "/config/${subject}" '{"compatibility":"BACKWARD"}')"
expect "an incompatible schema is refused with 409" 409 '' "$(call POST "/subjects/${subject}/versions" "${incompatible}")"
expect "a compatible schema registers" 200 '"id":' "$(call POST "/subjects/${subject}/versions" "${compatible}")"
expect "the subject has two versions" 200 '[1,2]' "$(call GET "/subjects/${subject}/versions")"
expect "the subject is listed" 200 "\"${subject}\"" "$(call GET /subjects)"
((failures == 0)) || { echo "${failures} check(s) failed against ${base}"; exit 1; }
