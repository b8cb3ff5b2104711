#!/usr/bin/env python3
"""Integration test of the cloudsync extension in a host that bundles its own, newer SQLite.

apsw (pip install apsw) statically links its own SQLite, so this checks that the extension
reaches SQLite only through the routines table the host hands it, and works on a recent
SQLite as well as on the system 3.40 shell (IntegrationTests/sqlite3-shell.sh).

    scripts/build-extension debug && python3 IntegrationTests/apsw_test.py
    CLOUDSYNC_EXT=/path/to/cloudsync.so python3 IntegrationTests/apsw_test.py
"""
import os
import re
import shutil
import struct
import sys
import tempfile
import traceback

import apsw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXT = os.environ.get("CLOUDSYNC_EXT", os.path.join(ROOT, "cloudsync.so"))

SCHEMA = ("CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', "
          "done INTEGER NOT NULL DEFAULT 0)")
ENCODE = ("SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, "
          "site_id, cl, seq) FROM cloudsync_changes")


OPEN = []  # devices still open, closed after a failed test so teardown does not add noise


class Device:
    """One database file with the extension loaded and `todo` synchronized."""

    def __init__(self, path, init=True):
        self.path = path
        self.open()
        if init:
            self.execute(SCHEMA)
            self.site = self.value("SELECT cloudsync_init('todo')")

    def open(self):
        OPEN.append(self)
        self.conn = apsw.Connection(self.path)
        self.conn.enable_load_extension(True)
        self.conn.load_extension(EXT)

    def close(self):
        # A connection that wrote to a synchronized table must release the extension's
        # statements first, or the close fails with SQLITE_BUSY.
        OPEN.remove(self)
        self.value("SELECT cloudsync_terminate()")
        self.conn.close()

    def execute(self, sql, bindings=()):
        return self.conn.execute(sql, bindings).fetchall()

    def value(self, sql, bindings=()):
        rows = self.execute(sql, bindings)
        assert len(rows) == 1 and len(rows[0]) == 1, f"{sql!r} returned {rows!r}"
        return rows[0][0]

    def rows(self):
        return self.execute("SELECT * FROM todo ORDER BY id")

    def payload(self, where=""):
        return self.value(ENCODE + (" WHERE " + where if where else ""))

    def change_count(self, where=""):
        return self.value("SELECT count(*) FROM cloudsync_changes" + (" WHERE " + where if where else ""))

    def apply(self, payload):
        return self.value("SELECT cloudsync_payload_decode(?)", (payload,))

    def state(self):
        """Everything a failed merge must leave untouched."""
        return (self.rows(), self.value("SELECT cloudsync_db_version()"),
                self.execute("SELECT tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq "
                             "FROM cloudsync_changes"))


def sync_both(a, b):
    """Exchange payloads both ways, both made before either is applied (a concurrent exchange).
    Each decode must report as many changes as the sender's feed had."""
    pa, na = a.payload(), a.change_count()
    pb, nb = b.payload(), b.change_count()
    # cloudsync_payload_encode returns NULL when there is nothing to send.
    assert (pa is None) == (na == 0) and (pb is None) == (nb == 0), "NULL payload iff no changes"
    if pa is not None:
        assert b.apply(pa) == na, "decode on B did not report A's change count"
    if pb is not None:
        assert a.apply(pb) == nb, "decode on A did not report B's change count"


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def load_twice_and_version(tmp):
    conn = apsw.Connection(":memory:")
    conn.enable_load_extension(True)
    conn.load_extension(EXT)
    conn.load_extension(EXT)  # loading twice on one connection is harmless
    version = conn.execute("SELECT cloudsync_version()").fetchall()[0][0]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    conn.close()


@test
def init_returns_site_id(tmp):
    a = Device(os.path.join(tmp, "a.db"))
    assert re.fullmatch(r"[0-9a-f]{32}", a.site), a.site
    assert a.site == a.value("SELECT cloudsync_siteid()").hex()
    assert a.value("SELECT cloudsync_init('todo')") == a.site, "init is not idempotent"
    a.close()


@test
def two_devices_converge(tmp):
    a, b = Device(os.path.join(tmp, "a.db")), Device(os.path.join(tmp, "b.db"))
    assert a.site != b.site
    a.execute("INSERT INTO todo(id, title) VALUES ('a1', 'Buy milk'), ('a2', 'Walk dog')")
    a.execute("UPDATE todo SET done = 1 WHERE id = 'a1'")
    b.execute("INSERT INTO todo(id, title) VALUES ('b1', 'Call mom')")
    sync_both(a, b)
    expected = [("a1", "Buy milk", 1), ("a2", "Walk dog", 0), ("b1", "Call mom", 0)]
    assert a.rows() == expected, a.rows()
    assert b.rows() == expected, b.rows()
    # Merged changes are forwarded: B's feed now also lists A's rows, under A's site id.
    assert b.change_count("site_id = x'%s'" % a.site) == a.change_count("site_id = x'%s'" % a.site)
    a.close(), b.close()


@test
def concurrent_edits_converge(tmp):
    a, b = Device(os.path.join(tmp, "a.db")), Device(os.path.join(tmp, "b.db"))
    a.execute("INSERT INTO todo(id, title) VALUES ('t1', 'Buy milk'), ('t2', 'Walk dog')")
    sync_both(a, b)
    # t1.title: one edit each side, equal col_version -> greater TEXT wins ('w' > 'o').
    a.execute("UPDATE todo SET title = 'Buy oat milk' WHERE id = 't1'")
    b.execute("UPDATE todo SET title = 'Buy whole milk' WHERE id = 't1'")
    # t2.done: TEXT on A, INTEGER on B, equal col_version -> INTEGER sorts above TEXT and wins.
    a.execute("UPDATE todo SET done = 'later' WHERE id = 't2'")
    b.execute("UPDATE todo SET done = 2 WHERE id = 't2'")
    # t2.title: two edits on A beat one (greater-valued) edit on B.
    a.execute("UPDATE todo SET title = 'Walk the dog' WHERE id = 't2'")
    a.execute("UPDATE todo SET title = 'Walk dog at 6' WHERE id = 't2'")
    b.execute("UPDATE todo SET title = 'Zzz' WHERE id = 't2'")
    sync_both(a, b)
    expected = [("t1", "Buy whole milk", 0), ("t2", "Walk dog at 6", 2)]
    assert a.rows() == expected, a.rows()
    assert b.rows() == expected, b.rows()
    a.close(), b.close()


@test
def delete_propagates(tmp):
    a, b = Device(os.path.join(tmp, "a.db")), Device(os.path.join(tmp, "b.db"))
    a.execute("INSERT INTO todo(id, title) VALUES ('t1', 'keep'), ('t2', 'drop'), ('t3', 'contested')")
    sync_both(a, b)
    a.execute("DELETE FROM todo WHERE id = 't2'")
    b.execute("DELETE FROM todo WHERE id = 't3'")
    a.execute("UPDATE todo SET title = 'edited' WHERE id = 't3'")  # cl 1 edit loses to cl 2 delete
    sync_both(a, b)
    assert a.rows() == b.rows() == [("t1", "keep", 0)], (a.rows(), b.rows())
    a.close(), b.close()


@test
def configuration_survives_reopen(tmp):
    a = Device(os.path.join(tmp, "a.db"))
    a.execute("INSERT INTO todo(id, title) VALUES ('t1', 'before')")
    a.close()
    a.open()  # new connection: load only, no cloudsync_init
    assert a.value("SELECT cloudsync_is_enabled('todo')") == 1
    a.execute("INSERT INTO todo(id, title) VALUES ('t2', 'after reopen')")
    assert a.execute("SELECT col_value FROM cloudsync_changes WHERE pk = cloudsync_pk_encode('t2') "
                     "AND col_name = 'title'") == [("after reopen",)]
    b = Device(os.path.join(tmp, "b.db"))
    sync_both(a, b)
    assert b.rows() == [("t1", "before", 0), ("t2", "after reopen", 0)], b.rows()
    a.close(), b.close()


def corruptions(p):
    """Ways to break a valid payload `p` (wire-format.md §4), each of which a reader must reject."""
    nrows = struct.unpack(">I", p[14:18])[0]
    expanded = struct.unpack(">I", p[8:12])[0]
    out = {
        "empty": b"",
        "garbage": b"not a payload at all, just bytes" * 3,
        "header only": p[:32],
        "wrong signature": b"XLSY" + p[4:],
        "format version 4": p[:4] + b"\x04" + p[5:],
        "checksum bit flipped": p[:26] + bytes([p[26] ^ 0x01]) + p[27:],
        "body bit flipped": p[:-1] + bytes([p[-1] ^ 0x40]),
        "ncols 0": p[:12] + b"\x00\x00" + p[14:],
        "nrows + 1": p[:14] + struct.pack(">I", nrows + 1) + p[18:],
        "unknown schema hash": p[:18] + bytes([p[18] ^ 0xFF]) + p[19:],
        "last byte cut": p[:-1],
        "cut in half": p[:32 + (len(p) - 32) // 2],
    }
    if nrows > 1:
        out["nrows - 1"] = p[:14] + struct.pack(">I", nrows - 1) + p[18:]
    if expanded:
        out["expanded_size + 1"] = p[:8] + struct.pack(">I", expanded + 1) + p[12:]
    else:
        out["trailing byte"] = p + b"\x00"
    return out


@test
def malformed_payload_raises_and_changes_nothing(tmp):
    a, b = Device(os.path.join(tmp, "a.db")), Device(os.path.join(tmp, "b.db"))
    b.execute("INSERT INTO todo(id, title) VALUES ('b1', 'mine')")
    a.execute("INSERT INTO todo(id, title) VALUES " +
              ", ".join("('a%d', 'item number %d')" % (i, i) for i in range(20)))
    big = a.payload()  # many similar rows: compressed body
    a.execute("INSERT INTO todo(id, title, done) VALUES ('z', 'q', 7)")
    small = a.payload("pk = cloudsync_pk_encode('z') AND col_name = 'done'")  # one change: raw body
    assert struct.unpack(">I", small[8:12])[0] == 0, "expected an uncompressed one-change payload"
    before = b.state()
    for label, p in [("compressed", big), ("raw", small)]:
        for name, bad in corruptions(p).items():
            try:
                b.apply(bad)
            except apsw.Error:
                pass
            else:
                raise AssertionError(f"{label} payload, {name}: decode did not raise")
            assert b.state() == before, f"{label} payload, {name}: a rejected payload changed the database"
    # The connection is still fine and the intact payloads apply.
    assert b.apply(big) == 40 and b.apply(small) == 1
    assert len(b.rows()) == 22 and ("z", "", 7) in b.rows(), b.rows()
    a.close(), b.close()


BAD_CALLS = [
    "SELECT cloudsync_init(NULL)",
    "SELECT cloudsync_init(42)",
    "SELECT cloudsync_init(x'746f646f')",
    "SELECT cloudsync_init('todo', 'no-such-algo')",
    "SELECT cloudsync_init('no_such_table')",
    "SELECT cloudsync_enable(NULL)",
    "SELECT cloudsync_disable(1.5)",
    "SELECT cloudsync_is_enabled(NULL)",
    "SELECT cloudsync_cleanup(NULL)",
    "SELECT cloudsync_set(NULL, 'v')",
    "SELECT cloudsync_set_table(NULL, 'k', 'v')",
    "SELECT cloudsync_set_column('todo', NULL, 'k', 'v')",
    "SELECT cloudsync_begin_alter(7)",
    "SELECT cloudsync_commit_alter(NULL)",
    "SELECT cloudsync_payload_decode(NULL)",
    "SELECT cloudsync_payload_decode(42)",
    "SELECT cloudsync_payload_decode('CLSY text, not a blob')",
    "SELECT cloudsync_payload_encode(1, 2, 3, 4, 5, 6, 7, 8, 9)",
    "SELECT cloudsync_payload_encode('todo', 'not a pk blob', 'title', 'x', 1, 1, x'00', 1, 0)",
    "SELECT cloudsync_pk_encode()",
    "SELECT cloudsync_pk_decode('text', 1)",
    "SELECT cloudsync_pk_decode(x'010b0161', 'one')",
    "SELECT cloudsync_pk_decode(x'010b0161', 2)",
    "SELECT cloudsync_pk_decode(x'ff', 1)",
    "SELECT cloudsync_pk_decode(NULL, NULL)",
    "INSERT INTO cloudsync_changes VALUES ('todo', 'not a pk blob', 'title', 'x', 1, 1, x'00', 1, 0)",
    "INSERT INTO cloudsync_changes VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "INSERT INTO cloudsync_changes VALUES ('todo', x'010b0161', 'title', 'x', 'one', 'two', 3, 'x', 0)",
]


@test
def bad_arguments_raise_errors(tmp):
    a = Device(os.path.join(tmp, "a.db"))
    before = a.state()
    for sql in BAD_CALLS:
        try:
            a.execute(sql)
        except apsw.Error as e:
            assert str(e).strip(), f"{sql}: error without a message"
        else:
            raise AssertionError(f"{sql}: no error raised")
    assert a.state() == before, "a failed call changed the database"
    assert a.value("SELECT 1") == 1  # connection still usable
    a.close()


def main():
    if not os.path.exists(EXT):
        print(f"FAIL: {EXT} not found; run scripts/build-extension first")
        return 2
    print(f"apsw {apsw.apsw_version()}, SQLite {apsw.sqlite_lib_version()}, extension {EXT}")
    passed = failed = 0
    for fn in TESTS:
        tmp = tempfile.mkdtemp(prefix="cloudsync-apsw-")
        try:
            fn(tmp)
        except Exception as e:
            failed += 1
            print(f"FAIL: {fn.__name__}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=-2, file=sys.stdout)
        else:
            passed += 1
            print(f"PASS: {fn.__name__}")
        finally:
            for d in list(OPEN):
                try:
                    d.close()
                except apsw.Error:
                    pass
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
