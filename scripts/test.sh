#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test in the
# workspace, with the real engines the tests need started first (Kafka, the
# schema registry, Cassandra, Mailpit; stopped again by pid, whatever happens).
# The end-to-end suite (tests/api) then runs a second time, unchanged, on the
# distributed backend (SLOTSTREAM_TEST_BACKEND=kafka), and Schemathesis checks
# the running product against its OpenAPI description (scripts/schemathesis.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

engines_env=$(mktemp)
trap 'scripts/engines.sh stop || true; rm -f "$engines_env"' EXIT
scripts/engines.sh start > "$engines_env"
# shellcheck disable=SC1090
source "$engines_env"

# A hung test (a stuck consumer, say) must fail the run with a clear message
# instead of stalling it until CI's own limit. `timeout` signals its whole
# process group, so the test binaries go too. Limits are about twice what a
# run takes on a loaded 2-core machine (the workspace ~10 min, the Kafka
# end-to-end run ~6 min).
bounded() {
  local limit=$1
  shift
  local rc=0
  timeout --kill-after=30s "$limit" "$@" || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "scripts/test.sh: '$*' did not finish within $limit; a test hangs" >&2
  fi
  return "$rc"
}

# The crash-chaos test (tests/api/chaos.rs) appends one summary line per
# backend here; they are printed at the end.
chaos_summary=target/tmp/chaos-summary.txt
rm -f "$chaos_summary"

status=0
bounded 25m cargo test --workspace --locked --no-fail-fast "$@" || status=$?
# The same end-to-end suite on Kafka + registry + Cassandra + SMTP. The
# distributed-only tests already ran above (they always use the engines).
SLOTSTREAM_TEST_BACKEND=kafka bounded 15m cargo test --locked -p slotstream --test api "$@" \
  -- --skip distributed:: || status=$?
# The running product against its own OpenAPI description (Schemathesis, every
# check, as a vendor and as a customer); ~3 minutes.
bounded 10m scripts/schemathesis.sh || status=$?
if [ -s "$chaos_summary" ]; then
  echo "== crash chaos (SIGKILLs under load, then the auditor over the whole log):"
  cat "$chaos_summary"
fi
exit "$status"
