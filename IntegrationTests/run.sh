#!/usr/bin/env bash
# Run every integration suite against ./cloudsync.so (build it first: scripts/build-extension)
# and the cloudsync-server of SwiftPM's debug build (swift build),
# keep going after a failing suite so one run shows everything, and summarize at the end.
set -uo pipefail  # no -e: a failing suite must not stop the others

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

results=()
status=0
run_suite() {
  local name="$1"; shift
  echo "=== $name"
  if "$@"; then results+=("PASS  $name"); else results+=("FAIL  $name (exit $?)"); status=1; fi
  echo
}

run_suite "sqlite3 shell (system SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1))" "$here/sqlite3-shell.sh"
run_suite "apsw (bundled SQLite)" "$python" "$here/apsw_test.py"
# The README's main command: a real server and two sqlite3 shells syncing through it.
run_suite "server + two sqlite3 devices (scripts/demo)" "$here/../scripts/demo"
# The operators' console in headless Chromium (selenium), with a device in apsw.
run_suite "dashboard in a browser (headless Chromium)" "$python" "$here/dashboard_browser_test.py"

echo "=== integration summary"
printf '%s\n' "${results[@]}"
exit $status
