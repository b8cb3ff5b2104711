# Sourced by the scripts in scripts/: headings, long steps that report progress, and the
# throwaway PostgreSQL cluster of a test run.

if [[ -t 1 ]]; then say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }; else say() { printf '\n== %s\n' "$*"; }; fi

# run_step WHAT COMMAND...: runs a long, chatty command (a build) with its output in a log,
# printing a line every 20 s with SwiftPM's [done/total] so a first build of several minutes
# is not silence; on failure prints the end of the log (the compiler's error) and exits.
run_step() {
  local what="$1"; shift
  local log; log="$(mktemp "${TMPDIR:-/tmp}/cloudsync-step.XXXXXX")"
  say "$what"
  "$@" >"$log" 2>&1 &
  local pid=$! started=$SECONDS last=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS - last >= 20 )); then
      last=$SECONDS
      echo "   ... still at it ($(( SECONDS - started )) s$(grep -o '^\[[0-9]*/[0-9]*\]' "$log" | tail -n 1 | sed 's/^/, /'))"
    fi
  done
  if ! wait "$pid"; then
    tail -n 60 "$log" >&2
    echo "failed: $what (whole log: $log)" >&2
    exit 1
  fi
  rm -f "$log"
}

# start_test_postgres: unless CLOUDSYNC_TEST_POSTGRES_URL is set, starts a throwaway cluster
# (removed when the calling script exits) and exports its URL for the tests; without
# PostgreSQL installed, says that the PostgreSQL cases will be skipped. Sets POSTGRES_TESTED.
start_test_postgres() {
  POSTGRES_TESTED=true
  [[ -n "${CLOUDSYNC_TEST_POSTGRES_URL:-}" ]] && return 0
  if ! "$root/scripts/postgres" bin >/dev/null 2>&1; then
    say "PostgreSQL not installed: the PostgreSQL cases are skipped"
    POSTGRES_TESTED=false
    return 0
  fi
  pg_tmp="$(mktemp -d "${TMPDIR:-/tmp}/cloudsync-pg.XXXXXX")"
  chmod 755 "$pg_tmp" # as root, the cluster's owner (postgres) must reach it
  trap '"$root/scripts/postgres" stop "$pg_tmp/cluster" || true; rm -rf "$pg_tmp"' EXIT
  say "scripts/postgres start"
  CLOUDSYNC_TEST_POSTGRES_URL="$("$root/scripts/postgres" start "$pg_tmp/cluster")"
  export CLOUDSYNC_TEST_POSTGRES_URL
  echo "PostgreSQL at $CLOUDSYNC_TEST_POSTGRES_URL"
}
