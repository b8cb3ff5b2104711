#!/usr/bin/env bash
# Integration test of the cloudsync extension as an end user meets it: the system `sqlite3`
# shell (Debian 12 ships 3.40, the oldest SQLite we claim to support) loading ./cloudsync.so.
# Every sqlite3 invocation is a separate process, i.e. a fresh connection on the database file,
# so the whole run also exercises "configuration is picked up again on a new connection".
#
#   scripts/build-extension debug && IntegrationTests/sqlite3-shell.sh
#   CLOUDSYNC_EXT=/path/to/cloudsync IntegrationTests/sqlite3-shell.sh   (path without .so)
set -Eeuo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ext="${CLOUDSYNC_EXT:-$root/cloudsync}"
if [[ ! -f "$ext.so" ]]; then
  echo "FAIL: $ext.so not found; run scripts/build-extension first" >&2
  exit 2
fi
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 shell not installed" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# A setup step that fails unexpectedly should say where, not just stop.
trap 'echo "FAIL: unexpected error at line $LINENO (see stderr above)"; exit 1' ERR

echo "sqlite3 shell $(sqlite3 --version | cut -d' ' -f1), extension $ext.so"

passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
  echo "FAIL: $1"; shift
  local line; for line in "$@"; do printf '      %s\n' "$line"; done
  failed=$((failed + 1))
}
# check NAME EXPECTED ACTUAL
check() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected: ${2//$'\n'/ / }" "actual:   ${3//$'\n'/ / }"; fi
}

# sql DB SQL...: run statements in a new sqlite3 process with the extension loaded. Stops at the
# first error (-bail). Ends with cloudsync_terminate(), which a connection that wrote to a
# synchronized table must call before closing. Anything on stderr (including a failed close)
# counts as an error: it is echoed and the function returns 1.
sql() {
  local db="$1"; shift
  local err="$work/stderr.$$" rc=0
  sqlite3 -bail -batch "$db" ".load '$ext'" "$@" ".output /dev/null" "SELECT cloudsync_terminate();" 2>"$err" || rc=$?
  if [[ $rc -ne 0 || -s "$err" ]]; then
    echo "sqlite3 $db failed (rc=$rc): $(cat "$err")" >&2
    return 1
  fi
}
# sql_err DB SQL: run SQL that is expected to fail; prints "rc=N" and the shell's stderr.
sql_err() {
  local db="$1" rc=0 out
  out="$(sqlite3 -bail -batch "$db" ".load '$ext'" "$2" 2>&1)" || rc=$?
  echo "rc=$rc $out"
}

schema="CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0);"
encode="cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq)"
dump="SELECT * FROM todo ORDER BY id;"

# export DB FILE: write DB's whole changes feed as one payload file; prints the number of
# changes in the feed, which the receiver's cloudsync_payload_decode must report back.
export_changes() { sql "$1" "SELECT count(*) FROM cloudsync_changes;" "SELECT writefile('$2', $encode) >= 0 FROM cloudsync_changes;" | sed -n 1p; }
# import DB FILE: apply a payload file; prints the number of changes it contained.
import_changes() { sql "$1" "SELECT cloudsync_payload_decode(readfile('$2'));"; }
# sync A B: exchange payloads both ways, both exported before either imports (so neither side
# has seen the other's latest edits when it makes its payload: a truly concurrent exchange).
sync_both() {
  local na nb ga gb
  na="$(export_changes "$1" "$1.payload")"
  nb="$(export_changes "$2" "$2.payload")"
  ga="$(import_changes "$2" "$1.payload")"
  gb="$(import_changes "$1" "$2.payload")"
  [[ "$na" == "$ga" && "$nb" == "$gb" ]] || {
    echo "decode counts differ from the senders' feeds: sent $na/$nb, decoded $ga/$gb" >&2; return 1; }
}

# ---------------------------------------------------------------------------------------------
# Loading and helpers

out="$(sqlite3 -bail -batch ":memory:" ".load '$ext'" ".load '$ext'" "SELECT cloudsync_version();" 2>&1)" && rc=0 || rc=$?
if [[ $rc -eq 0 && "$out" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  pass "loading twice on one connection is harmless"
  pass "cloudsync_version() is major.minor.patch ($out)"
else
  fail "loading twice / cloudsync_version()" "rc=$rc output: $out"
fi
version="$out"

# ---------------------------------------------------------------------------------------------
# cloudsync_init

sql a.db "$schema"
site_a="$(sql a.db "SELECT cloudsync_init('todo');")"
if [[ "$site_a" =~ ^[0-9a-f]{32}$ ]]; then pass "cloudsync_init('todo') returns 32 hex digits"; else fail "cloudsync_init returns 32 hex digits" "got: $site_a"; fi
check "cloudsync_init's result is this database's site id" \
  "$(sql a.db "SELECT lower(hex(cloudsync_siteid()));")" "$site_a"
check "cloudsync_init is idempotent (same site id on a second call, in a new process)" \
  "$site_a" "$(sql a.db "SELECT cloudsync_init('todo');")"

# Each bad table: init must fail (non-zero exit), say something naming the table, and leave
# no metadata table or triggers behind.
sql bad.db \
  "CREATE TABLE norowid(a TEXT, b TEXT);" \
  "CREATE TABLE intpk(id INTEGER PRIMARY KEY, b TEXT);" \
  "CREATE TABLE nodefault(id TEXT PRIMARY KEY NOT NULL, b TEXT NOT NULL);" \
  "CREATE TABLE nullpk(id TEXT PRIMARY KEY, b TEXT);"
for case in "missing:no such table" "norowid:no primary key" "intpk:INTEGER PRIMARY KEY without force" \
            "nodefault:NOT NULL column without DEFAULT" "nullpk:nullable primary key"; do
  tbl="${case%%:*}" why="${case#*:}"
  res="$(sql_err bad.db "SELECT cloudsync_init('$tbl');")"
  left="$(sqlite3 bad.db "SELECT count(*) FROM sqlite_master WHERE name = '${tbl}_cloudsync' OR (type = 'trigger' AND tbl_name = '$tbl');")"
  if [[ "$res" != rc=0* && "$res" == *"$tbl"* && "$left" == 0 ]]; then
    pass "cloudsync_init refuses $why: ${res#rc=* }"
  else
    fail "cloudsync_init must refuse $why with a message naming '$tbl'" "$res" "leftover metadata objects: $left"
  fi
done
# The INTEGER PRIMARY KEY refusal is a policy, not an inability: force = 1 must work.
res="$(sql bad.db "SELECT length(cloudsync_init('intpk', 'cls', 1));" 2>&1)" || true
check "cloudsync_init(table, 'cls', 1) accepts an INTEGER PRIMARY KEY" "32" "$res"

# ---------------------------------------------------------------------------------------------
# Two devices, offline edits, exchange of payload files

# Same CREATE TABLE text on both sides: the schema hash in each payload must be known to the receiver.
sql b.db "$schema" "SELECT cloudsync_init('todo');" >/dev/null
sql a.db "INSERT INTO todo(id, title) VALUES ('a1', 'Buy milk'), ('a2', 'Walk dog');" \
         "UPDATE todo SET done = 1 WHERE id = 'a1';"
sql b.db "INSERT INTO todo(id, title) VALUES ('b1', 'Call mom');" \
         "UPDATE todo SET title = 'Call mom and dad' WHERE id = 'b1';"

# The payload header: format 2 (checksummed, the default) and the writer's version
# (wire-format.md §4 and §7, bytes 4..7).
export_changes a.db hdr.payload >/dev/null
IFS=. read -r major minor patch <<<"$version"
check "payload header: CLSY, format 2, writer version = cloudsync_version()" \
  "$(printf '434C5359 02 %02X%02X%02X' "$major" "$minor" "$patch")" \
  "$(sqlite3 -batch :memory: "SELECT hex(substr(p, 1, 4)) || ' ' || hex(substr(p, 5, 1)) || ' ' || hex(substr(p, 6, 3))
     FROM (SELECT readfile('hdr.payload') AS p);")"

if sync_both a.db b.db; then pass "payloads exchanged both ways; each decode reports the sender's change count"
else fail "payload exchange A<->B"; fi
dump_a="$(sql a.db "$dump")"; dump_b="$(sql b.db "$dump")"
check "after the exchange A and B hold identical rows" "$dump_a" "$dump_b"
check "after the exchange the rows are both devices' edits" \
  $'a1|Buy milk|1\na2|Walk dog|0\nb1|Call mom and dad|0' "$dump_b"

# Concurrent edits. Each side edits the same cells without seeing the other:
#  - a1.title once on each side: equal col_version (2), so the greater value wins:
#    'Buy whole milk' > 'Buy oat milk' byte-wise ('w' > 'o'), whichever side it came from;
#  - a2.title twice on A, once on B: A's higher col_version wins although B's value is greater;
#  - b1: A changes done, B changes title: different cells, both survive.
sql a.db "UPDATE todo SET title = 'Buy oat milk' WHERE id = 'a1';" \
         "UPDATE todo SET title = 'Walk the dog' WHERE id = 'a2';" \
         "UPDATE todo SET title = 'Walk dog at 6' WHERE id = 'a2';" \
         "UPDATE todo SET done = 1 WHERE id = 'b1';"
sql b.db "UPDATE todo SET title = 'Buy whole milk' WHERE id = 'a1';" \
         "UPDATE todo SET title = 'Zzz walk dog' WHERE id = 'a2';" \
         "UPDATE todo SET title = 'Call mom tonight' WHERE id = 'b1';"
sync_both a.db b.db
dump_a="$(sql a.db "$dump")"; dump_b="$(sql b.db "$dump")"
check "concurrent edits: A and B converge to identical rows" "$dump_a" "$dump_b"
check "same cell, same col_version: the greater value wins on both" "a1|Buy whole milk|1" "$(grep '^a1|' <<<"$dump_a")"
check "same cell, different col_version: the higher version wins on both" "a2|Walk dog at 6|0" "$(grep '^a2|' <<<"$dump_b")"
check "different cells of one row: both edits kept" "b1|Call mom tonight|1" "$(grep '^b1|' <<<"$dump_a")"

# Deletes: A deletes a2 (B did not touch it); B deletes b1 while A edits it concurrently.
# Under cls the delete has the higher causal length (2 > 1), so it wins over the edit.
sql a.db "DELETE FROM todo WHERE id = 'a2';" "UPDATE todo SET done = 0 WHERE id = 'b1';"
sql b.db "DELETE FROM todo WHERE id = 'b1';"
sync_both a.db b.db
dump_a="$(sql a.db "$dump")"; dump_b="$(sql b.db "$dump")"
check "deletes: A and B converge to identical rows" "$dump_a" "$dump_b"
check "a delete on one side removes the row on the other; delete beats a concurrent edit" \
  "a1|Buy whole milk|1" "$dump_b"

# A re-insert of a deleted key (causal length 3) comes back on the other side.
sql b.db "INSERT INTO todo(id, title) VALUES ('a2', 'Walk dog again');"
sync_both a.db b.db
check "a re-inserted row reappears on the other side" \
  $'a1|Buy whole milk|1\na2|Walk dog again|0' "$(sql a.db "$dump")"

# ---------------------------------------------------------------------------------------------
# Configuration survives reopen: a new process only loads the extension (no cloudsync_init)
# and its writes are still tracked.

before="$(sql a.db "SELECT max(db_version) FROM cloudsync_changes;")"
out="$(sql a.db "SELECT cloudsync_is_enabled('todo');" \
               "INSERT INTO todo(id, title) VALUES ('c1', 'Written after reopen');" \
               "SELECT col_value, db_version > $before FROM cloudsync_changes WHERE pk = cloudsync_pk_encode('c1') AND col_name = 'title';")"
check "after reopen the table is still synchronized and new writes appear in cloudsync_changes" \
  $'1\nWritten after reopen|1' "$out"
sync_both a.db b.db
check "a change made after reopen reaches the other device" "c1|Written after reopen|0" \
  "$(sql b.db "SELECT * FROM todo WHERE id = 'c1';")"

# ---------------------------------------------------------------------------------------------
# Block-level text: two devices edit different lines of one note offline (block-text.md)

notes="CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, title TEXT, body TEXT);"
for db in na.db nb.db; do
  sql "$db" "$notes" "SELECT cloudsync_init('notes');" "SELECT cloudsync_set_column('notes', 'body', 'algo', 'block');" >/dev/null
done
sql na.db "INSERT INTO notes VALUES ('n1', 'Minutes', 'Welcome' || char(10) || 'Agenda' || char(10) || 'Actions');"
check "block mode: an insert is recorded as one block per line (a0, a1, a2)" $'body\x1fa0|Welcome\nbody\x1fa1|Agenda\nbody\x1fa2|Actions' \
  "$(sql na.db "SELECT col_name, col_value FROM cloudsync_changes WHERE col_name LIKE 'body%' ORDER BY col_name;")"
export_changes na.db na.first >/dev/null
import_changes nb.db na.first >/dev/null
sql na.db "UPDATE notes SET body = 'Welcome everyone' || char(10) || 'Agenda' || char(10) || 'Actions';"
sql nb.db "UPDATE notes SET body = 'Welcome' || char(10) || 'Agenda' || char(10) || 'Actions - DONE';"
if sync_both na.db nb.db; then pass "block mode: edited notes exchanged"; else fail "block mode: edited notes exchanged"; fi
check "block mode: both devices keep both line edits" $'Welcome everyone\nAgenda\nActions - DONE\n---\nWelcome everyone\nAgenda\nActions - DONE' \
  "$(sql na.db "SELECT body FROM notes;")"$'\n---\n'"$(sql nb.db "SELECT body FROM notes;")"
sql na.db "SELECT cloudsync_disable('notes');" "UPDATE notes SET body = 'scribbled';" "SELECT cloudsync_enable('notes');"
check "cloudsync_text_materialize restores the text from the blocks and returns 1" $'1\nWelcome everyone\nAgenda\nActions - DONE' \
  "$(sql na.db "SELECT cloudsync_text_materialize('notes', 'body', 'n1');" "SELECT body FROM notes;")"
res="$(sql_err na.db "SELECT cloudsync_text_materialize('notes', 'title', 'n1');")"
if [[ "$res" != rc=0* && "$res" == *"not configured as block-level"* ]]; then pass "cloudsync_text_materialize refuses a column not in block mode"
else fail "cloudsync_text_materialize refuses a column not in block mode" "$res"; fi
res="$(sql_err na.db "SELECT cloudsync_set_column('notes', 'id', 'algo', 'block');")"
if [[ "$res" != rc=0* && "$res" == *"primary key"* ]]; then pass "cloudsync_set_column refuses a key column"
else fail "cloudsync_set_column refuses a key column" "$res"; fi
sql na.db "SELECT cloudsync_set_column('notes', 'body', 'delimiter', char(10, 10));"
sql na.db "INSERT INTO notes VALUES ('n2', 'P', 'p1' || char(10, 10) || 'p2');"
check "block mode and delimiter survive reopening (new process): paragraphs are blocks" $'p1\np2' \
  "$(sql na.db "SELECT col_value FROM cloudsync_changes WHERE pk = cloudsync_pk_encode('n2') AND col_name LIKE 'body%' ORDER BY col_name;")"

# ---------------------------------------------------------------------------------------------
# Row-Level Security through a real server: two users with access tokens (made with the
# server's CLI), each shell device syncs only its own rows, and a write the policy refuses is
# an SQL error naming the table. The server: $CLOUDSYNC_SERVER_BIN, else the debug build in
# $SCRATCH (as scripts/test builds it) or .build.

server_bin="${CLOUDSYNC_SERVER_BIN:-}"
if [[ -z "$server_bin" ]]; then
  for candidate in "$root/${SCRATCH:-.build}/debug/cloudsync-server" "$root/.build/debug/cloudsync-server"; do
    if [[ -x "$candidate" ]]; then server_bin="$candidate"; break; fi
  done
fi
if [[ -z "$server_bin" ]]; then
  echo "SKIP: Row-Level Security: no cloudsync-server (swift build --product cloudsync-server, or set CLOUDSYNC_SERVER_BIN)"
else
  trap '[[ -n "${server_pid:-}" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
  # server_cli ARGS...: an administrative command on the server's data directory; its log
  # lines (stderr) are shown only if it fails.
  server_cli() { "$server_bin" "$@" --data server-data 2>server-cli.log || { cat server-cli.log >&2; return 1; }; }
  rls_schema="CREATE TABLE IF NOT EXISTS tasks(id TEXT PRIMARY KEY NOT NULL, user_id TEXT, title TEXT NOT NULL DEFAULT '');"
  echo "$rls_schema" > rls-schema.sql
  server_cli database create shared.sqlite --schema rls-schema.sql >/dev/null
  server_cli policy set --database shared.sqlite --table tasks \
    --select "user_id = auth_userid()" --insert "NEW.user_id = auth_userid()" \
    --update "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id" --delete "OLD.user_id = auth_userid()" >/dev/null
  alice_token="$(server_cli token create --database shared.sqlite --user alice)"
  bob_token="$(server_cli token create --database shared.sqlite --user bob)"
  "$server_bin" serve --port 0 --data server-data > server.log 2>&1 &
  server_pid=$!
  url=""
  for _ in $(seq 1 100); do
    url="$(grep -o 'listening on http://[0-9.]*:[0-9]*' server.log | sed 's/listening on //' || true)"
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { cat server.log; echo "FAIL: cloudsync-server did not start"; exit 1; }

  # rls_setup TOKEN: the statements that sign a shell device in with TOKEN.
  rls_setup() {
    printf '%s\n' ".output /dev/null" "$rls_schema" "SELECT cloudsync_init('tasks');" \
      "SELECT cloudsync_network_init('$url/shared.sqlite');" "SELECT cloudsync_network_set_token('$1');" ".output stdout"
  }
  # on DB TOKEN SQL...: run SQL on a shell device signed in with TOKEN (as sql does).
  on() {
    local db="$1" token="$2"; shift 2
    local setup; mapfile -t setup < <(rls_setup "$token")
    sql "$db" "${setup[@]}" "$@"
  }
  # on_err DB TOKEN SQL: like sql_err, on a device signed in with TOKEN.
  on_err() {
    local db="$1" token="$2" rc=0 out setup
    mapfile -t setup < <(rls_setup "$token")
    out="$(sqlite3 -bail -batch "$db" ".load '$ext'" "${setup[@]}" "$3" 2>&1)" || rc=$?
    echo "rc=$rc $out"
  }
  tasks="SELECT id, user_id, title FROM tasks ORDER BY id;"

  on alice.db "$alice_token" "INSERT INTO tasks VALUES ('a1', 'alice', 'milk'), ('a2', 'alice', 'eggs');" \
    "SELECT cloudsync_network_sync();" >/dev/null
  on bob.db "$bob_token" "INSERT INTO tasks VALUES ('b1', 'bob', 'bread');" "SELECT cloudsync_network_sync();" >/dev/null
  on alice.db "$alice_token" "SELECT cloudsync_network_sync();" >/dev/null
  on alice2.db "$alice_token" "SELECT cloudsync_network_sync();" >/dev/null
  server_rows="$(sqlite3 "file:server-data/databases/shared.sqlite?mode=ro" "$tasks")"
  check "RLS: the server holds both users' rows" $'a1|alice|milk\na2|alice|eggs\nb1|bob|bread' "$server_rows"
  check "RLS: Alice's devices sync only her rows" $'a1|alice|milk\na2|alice|eggs\n---\na1|alice|milk\na2|alice|eggs' \
    "$(on alice.db "$alice_token" "$tasks")"$'\n---\n'"$(on alice2.db "$alice_token" "$tasks")"
  check "RLS: Bob's device syncs only his rows" "b1|bob|bread" "$(on bob.db "$bob_token" "$tasks")"

  # Bob writes a row for Alice and gives her his own: the sync is refused with the table named.
  on bob.db "$bob_token" "INSERT INTO tasks VALUES ('x1', 'alice', 'planted');" \
    "UPDATE tasks SET user_id = 'alice' WHERE id = 'b1';"
  res="$(on_err bob.db "$bob_token" "SELECT cloudsync_network_sync();")"
  if [[ "$res" != rc=0* && "$res" == *"cloudsync_network_sync: the server refused 2 rows of table tasks (row-level security)"* ]]; then
    pass "RLS: a refused write is an error naming the table: ${res#rc=* }"
  else
    fail "RLS: a refused write must fail with 'the server refused 2 rows of table tasks'" "$res"
  fi
  check "RLS: the refused rows did not reach the server" "$server_rows" \
    "$(sqlite3 "file:server-data/databases/shared.sqlite?mode=ro" "$tasks")"
  check "RLS: Bob's device is back to his own row, and syncs again" $'0\nb1|bob|bread' \
    "$(on bob.db "$bob_token" "SELECT cloudsync_network_sync();" "$tasks")"
  on alice.db "$alice_token" "SELECT cloudsync_network_sync();" >/dev/null
  check "RLS: Alice's device is unaffected" $'a1|alice|milk\na2|alice|eggs' "$(on alice.db "$alice_token" "$tasks")"

  kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  server_pid=""
fi

echo "sqlite3-shell: $passed passed, $failed failed"
if ((failed)); then exit 1; fi
