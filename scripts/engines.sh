#!/usr/bin/env bash
# Starts, health-checks and stops the real engines the test suite talks to,
# on 127.0.0.1 only. `start` prints `export VAR=...` lines for the tests;
# `stop` stops exactly the processes `start` started (by pid).
#
#   scripts/engines.sh start > env.sh && source env.sh
#   scripts/engines.sh stop
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:-}"
case "$cmd" in
  start)
    "$here/engines/smtp.sh" start
    ;;
  stop)
    "$here/engines/smtp.sh" stop
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
