#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test in the
# workspace, with the real engines the tests need started first (and stopped
# again, by pid, whatever happens).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

engines_env=$(mktemp)
trap 'scripts/engines.sh stop || true; rm -f "$engines_env"' EXIT
scripts/engines.sh start > "$engines_env"
# shellcheck disable=SC1090
source "$engines_env"

cargo test --workspace --locked --no-fail-fast "$@"
