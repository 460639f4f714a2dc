#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test in the
# workspace, with the real engines the tests need started first (Kafka, the
# schema registry, Cassandra, Mailpit; stopped again by pid, whatever happens).
# The end-to-end suite (tests/api) then runs a second time, unchanged, on the
# distributed backend (SLOTSTREAM_TEST_BACKEND=kafka).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

engines_env=$(mktemp)
trap 'scripts/engines.sh stop || true; rm -f "$engines_env"' EXIT
scripts/engines.sh start > "$engines_env"
# shellcheck disable=SC1090
source "$engines_env"

status=0
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
# The same end-to-end suite on Kafka + registry + Cassandra + SMTP. The
# distributed-only tests already ran above (they always use the engines).
SLOTSTREAM_TEST_BACKEND=kafka cargo test --locked -p slotstream --test api "$@" \
  -- --skip distributed:: || status=$?
exit "$status"
