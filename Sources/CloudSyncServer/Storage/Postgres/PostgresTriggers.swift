import CloudSyncCore

/// The SQL that makes a managed database's PostgreSQL schema record writes made with plain SQL
/// by other programs, as the engine's triggers do in SQLite (docs/postgres.md; the `cls`
/// rules of spec/crdt-model.md, "Local writes"). A pure generator: it runs nothing.
///
/// Each function returns statements to run in order, one per query (PostgreSQL's extended
/// protocol takes one statement at a time), best in one transaction. They are idempotent:
/// tables and indexes are created if missing, functions and triggers replaced.
///
/// ## The clock (`clockSQL`, once per schema `S`)
///
/// `S.cloudsync_clock` holds one row: `db_version` (the database's last version, 0 at first),
/// `xact` (the `xid8` of the transaction that took it), `seq` (the last `seq` given in that
/// transaction) and `site_id` (the database's own 16-byte site id).
///
/// `S.cloudsync_stamp(changes)` takes `changes` consecutive stamps (1 or more) for the calling
/// transaction with one `UPDATE … RETURNING` of that row, and returns `(db_version, seq,
/// site_id)` where `seq` is the first of the `changes` seqs (`seq`, `seq + 1`, …). The first
/// call of a transaction moves `db_version` on by one and starts the seqs at 0; later calls in
/// the same transaction reuse the version and continue the seqs. The row lock it takes is held
/// until commit: the writers of one database commit one after the other, in version order.
/// Server merges take their stamps from the same function.
///
/// ## A table (`tableSQL`, per synchronized table `T`)
///
/// `S."T_cloudsync"`: `k1 … kn` (the key's values, with the key columns' types), `col_name`,
/// `col_version`, `db_version`, `site_id`, `seq`; primary key `(k1 … kn, col_name)`, an index on
/// `(db_version, seq)`. The sentinel row (`col_name = '__[RIP]__'`) carries the row's causal
/// length. Row triggers on `S."T"`, AFTER INSERT, UPDATE and DELETE, record local writes
/// exactly like the engine's `cls` triggers (`TriggerSet`, `SyncContext.triggerKeyChange`),
/// every clock they write stamped with its own `(db_version, seq)` and the clock's `site_id`:
///
/// - INSERT: a deleted key (even sentinel) comes back at the next odd causal length; then
///   every non-key column, in declaration order, gets `col_version` 1, or +1 where a clock
///   exists. A table with only key columns records the sentinel (1, or +1 from an even one).
/// - UPDATE keeping the key: every column whose value IS DISTINCT FROM the old one gets +1
///   (1 if it had no clock), in reverse declaration order (the order SQLite fires the
///   engine's per-column triggers, so that `seq` matches).
/// - UPDATE changing the key: the old key is deleted as by DELETE; the new key's sentinel
///   becomes 1, or `cl + 1 + cl % 2`; every column of the new key gets the old key's
///   `col_version` plus one where the value changed, at least 1 (or the existing clock's + 1
///   when larger), in declaration order.
/// - DELETE: the sentinel moves to the next even causal length (2 first); the key's other
///   clocks are dropped.
/// - A column in block mode gets no clock of its own: an INSERT, a key change, or an UPDATE
///   that changes it queues the row in `T_cloudsync_pending` for the server to diff
///   (`blockColumns` of `tableSQL`; docs/postgres.md, "Block columns").
///
/// Writes that record nothing (an UPDATE to the same values) take no version. The triggers do
/// nothing while the server merges: `current_setting('cloudsync.merging', true) = 'on'`
/// (`SET LOCAL cloudsync.merging = 'on'` in the merging transaction).
///
/// One deviation from SQLite, unreachable through SQL: inserting a key whose sentinel is odd
/// into a table with only key columns (a live row's key, so the row was missing) records
/// nothing here, where SQLite takes a `seq` for nothing.
///
/// Names: the clock table is `T` + `_cloudsync`; the trigger functions (`T_cloudsync_insert`,
/// `…_update`, `…_delete`) and the index (`T_cloudsync_db_version`) are shortened with a hash
/// when longer than PostgreSQL's 63 bytes. Every identifier is quoted, every name spliced as a
/// literal is escaped (valid whatever `standard_conforming_strings` is).
enum PostgresTriggers {
    /// The sentinel column name, as in the engine.
    static let sentinel = Change.sentinelColumn

    /// The setting that silences the triggers while the server merges.
    static let mergingSetting = "cloudsync.merging"

    /// The channel every writing statement notifies, with its schema as the payload: how
    /// instances learn at once of changes made through other instances or by other programs.
    static let changesChannel = "cloudsync_changes"

    /// `S.cloudsync_lock()`, run before every writing statement of a synchronized table.
    ///
    /// A writer takes the clock row before any row of the tables. A merge takes the clock row
    /// first too, then the rows it writes back; with row locks taken first, a program's UPDATE
    /// and a merge of the same row could each hold what the other waits for. Every writer also
    /// notifies `changesChannel`; PostgreSQL delivers it at commit, once per transaction.
    static func lockFunctionSQL(schema: String) -> String {
        let clock = qualified(schema, "cloudsync_clock")
        return """
            CREATE OR REPLACE FUNCTION \(qualified(schema, "cloudsync_lock"))() RETURNS trigger LANGUAGE plpgsql AS \(dollarQuoted("""
                BEGIN
                    IF pg_catalog.current_setting(\(literal(mergingSetting)), true) IS DISTINCT FROM 'on' THEN
                        PERFORM 1 FROM \(clock) FOR UPDATE;
                    END IF;
                    PERFORM pg_catalog.pg_notify(\(literal(changesChannel)), TG_TABLE_SCHEMA);
                    RETURN NULL;
                END
                """))
            """
    }

    /// Creates `S.cloudsync_clock` (its row holding `siteID`, if new) and `S.cloudsync_stamp`.
    static func clockSQL(schema: String, siteID: [UInt8]) -> [String] {
        let clock = qualified(schema, "cloudsync_clock")
        let body = """
            UPDATE \(clock) AS c SET
                db_version = CASE WHEN c.xact = pg_catalog.pg_current_xact_id() THEN c.db_version ELSE c.db_version + 1 END,
                seq = CASE WHEN c.xact = pg_catalog.pg_current_xact_id() THEN c.seq + $1 ELSE $1 - 1 END,
                xact = pg_catalog.pg_current_xact_id()
            RETURNING c.db_version, c.seq - $1 + 1, c.site_id
            """
        return [
            """
            CREATE TABLE IF NOT EXISTS \(clock) (
                db_version BIGINT NOT NULL,
                xact xid8,
                seq BIGINT NOT NULL,
                site_id BYTEA NOT NULL CHECK (octet_length(site_id) = 16)
            )
            """,
            // At most one row.
            "CREATE UNIQUE INDEX IF NOT EXISTS cloudsync_clock_one_row ON \(clock) ((true))",
            """
            INSERT INTO \(clock) (db_version, xact, seq, site_id)
            SELECT 0, NULL, 0, pg_catalog.decode(\(literal(Hex.encode(siteID))), 'hex')
            WHERE NOT EXISTS (SELECT 1 FROM \(clock))
            """,
            """
            CREATE OR REPLACE FUNCTION \(qualified(schema, "cloudsync_stamp"))(changes BIGINT DEFAULT 1, OUT db_version BIGINT, OUT seq BIGINT, OUT site_id BYTEA)
            LANGUAGE sql VOLATILE AS \(dollarQuoted(body))
            """,
            lockFunctionSQL(schema: schema),
        ]
    }

    /// Creates the clock table of `table` in `schema`, its trigger functions and its triggers.
    /// - Parameters:
    ///   - key: the key columns in key order (the order of the engine's key encoding), with
    ///     their PostgreSQL types, which `k1 … kn` take.
    ///   - columns: the other columns, in declaration order.
    ///   - blockColumns: those of `columns` in block mode (block-text.md): a write of one
    ///     records no clock of the column but the row's key in `S."T_cloudsync_pending"`
    ///     (`is_insert` for a new row), which the server turns into block changes with the
    ///     engine's line diff before its next merge or download (docs/postgres.md). A table
    ///     whose other columns are all block columns records its sentinel on insert.
    static func tableSQL(schema: String, table: String, key: [(name: String, type: String)], columns allColumns: [String], blockColumns: Set<String> = []) -> [String] {
        precondition(!key.isEmpty, "a synchronized table has a key")
        let columns = allColumns.filter { !blockColumns.contains($0) }
        let blocks = allColumns.filter { blockColumns.contains($0) }
        let pending = qualified(schema, pendingTable(table))
        let clocks = qualified(schema, table + "_cloudsync")
        let stamp = qualified(schema, "cloudsync_stamp")
        let ks = key.indices.map { "k\($0 + 1)" }
        let kList = ks.joined(separator: ", ")
        let rip = literal(sentinel)

        func values(_ row: String) -> String { key.map { "\(row).\(SQLText.identifier($0.name))" }.joined(separator: ", ") }
        func matches(_ row: String) -> String {
            zip(ks, key).map { "c.\($0) = \(row).\(SQLText.identifier($1.name))" }.joined(separator: " AND ")
        }
        let insertInto = "INSERT INTO \(clocks) AS c (\(kList), col_name, col_version, db_version, site_id, seq)"
        func restamp(_ version: String) -> String {
            "ON CONFLICT (\(kList), col_name) DO UPDATE SET col_version = \(version), db_version = excluded.db_version, site_id = excluded.site_id, seq = excluded.seq"
        }
        // The sentinel of a deleted key (`OLD`), stamped with seq `_s`.
        let deleteSentinel = """
            \(insertInto) VALUES (\(values("OLD")), \(rip), 2, _v, _site, _s)
                    \(restamp("c.col_version + 2 - c.col_version % 2"));
            """
        let dropOthers = "DELETE FROM \(clocks) AS c WHERE \(matches("OLD")) AND c.col_name <> \(rip);"
        let variables = "DECLARE\n    _v BIGINT;\n    _s BIGINT;\n    _site BYTEA;\n"
        func changed(_ column: String) -> String { "OLD.\(SQLText.identifier(column)) IS DISTINCT FROM NEW.\(SQLText.identifier(column))" }
        // Direct writes of block columns, for the server to diff (`is_insert` sticks until then).
        func recordBlockWrites(_ row: String, isInsert: Bool) -> String {
            blocks.map { column in
                let insert = """
                    INSERT INTO \(pending) (\(kList), col_name, is_insert) VALUES (\(values(row)), \(literal(column)), \(isInsert))
                        ON CONFLICT (\(kList), col_name) DO \(isInsert ? "UPDATE SET is_insert = true" : "NOTHING");
                    """
                return isInsert ? insert : "IF \(changed(column)) THEN\n    \(insert)\nEND IF;"
            }.joined(separator: "\n")
        }

        // INSERT
        let insertBody: String
        if columns.isEmpty {
            insertBody = variables + """
                BEGIN
                    IF NOT EXISTS (SELECT 1 FROM \(clocks) AS c WHERE \(matches("NEW")) AND c.col_name = \(rip) AND c.col_version % 2 = 1) THEN
                        SELECT * INTO _v, _s, _site FROM \(stamp)(1);
                        \(insertInto) VALUES (\(values("NEW")), \(rip), 1, _v, _site, _s)
                            \(restamp("c.col_version + 1"));
                    END IF;
                    \(recordBlockWrites("NEW", isInsert: true))
                    RETURN NULL;
                END
                """
        } else {
            let names = columns.enumerated().map { "(\(literal($1)), \($0))" }.joined(separator: ", ")
            insertBody = variables + """
                    _revive BOOLEAN;
                BEGIN
                    _revive := EXISTS (SELECT 1 FROM \(clocks) AS c WHERE \(matches("NEW")) AND c.col_name = \(rip) AND c.col_version % 2 = 0);
                    SELECT * INTO _v, _s, _site FROM \(stamp)(\(columns.count) + _revive::int);
                    IF _revive THEN
                        UPDATE \(clocks) AS c SET col_version = c.col_version + 1, db_version = _v, site_id = _site, seq = _s
                            WHERE \(matches("NEW")) AND c.col_name = \(rip);
                        _s := _s + 1;
                    END IF;
                    \(insertInto)
                        SELECT \(values("NEW")), n.name, 1, _v, _site, _s + n.position
                        FROM (VALUES \(names)) AS n(name, position)
                        \(restamp("c.col_version + 1"));
                    \(recordBlockWrites("NEW", isInsert: true))
                    RETURN NULL;
                END
                """
        }

        // UPDATE
        let keyChanged = key.count == 1
            ? changed(key[0].name)
            : "(\(values("OLD"))) IS DISTINCT FROM (\(values("NEW")))"
        var keyChange = """
                    SELECT * INTO _v, _s, _site FROM \(stamp)(\(2 + columns.count));
                    \(deleteSentinel)
                    \(insertInto) VALUES (\(values("NEW")), \(rip), 1, _v, _site, _s + 1)
                        \(restamp("c.col_version + 1 + c.col_version % 2"));
            """
        var columnChange = "        NULL;"
        if columns.isEmpty {
            keyChange += "\n        " + dropOthers
        } else {
            // The old key's other clocks are dropped, their versions carried to the new key.
            let carried = columns.enumerated()
                .map { "(\(literal($1)), \($0), \(changed($1)))" }.joined(separator: ", ")
            keyChange += """

                        WITH o AS (
                            DELETE FROM \(clocks) AS c WHERE \(matches("OLD")) AND c.col_name <> \(rip)
                            RETURNING c.col_name, c.col_version
                        )
                        \(insertInto)
                            SELECT \(values("NEW")), n.name, GREATEST(1, COALESCE(o.col_version, 0) + n.changed::int), _v, _site, _s + 2 + n.position
                            FROM (VALUES \(carried)) AS n(name, position, changed)
                            LEFT JOIN o ON o.col_name = n.name
                            \(restamp("GREATEST(c.col_version + 1, excluded.col_version)"));
                """
            let reversed = columns.reversed().enumerated()
                .map { "(\(literal($1)), \($0), \(changed($1)))" }.joined(separator: ", ")
            columnChange = """
                        _n := \(columns.map { "(\(changed($0)))::int" }.joined(separator: " + "));
                        IF _n > 0 THEN
                            SELECT * INTO _v, _s, _site FROM \(stamp)(_n);
                            \(insertInto)
                                SELECT \(values("NEW")), n.name, 1, _v, _site, _s + row_number() OVER (ORDER BY n.position) - 1
                                FROM (VALUES \(reversed)) AS n(name, position, changed)
                                WHERE n.changed
                                \(restamp("c.col_version + 1"));
                        END IF;
                """
        }
        let updateBody = variables + """
                _n INT;
            BEGIN
                IF \(keyChanged) THEN
            \(keyChange)
                \(recordBlockWrites("NEW", isInsert: true))
                ELSE
            \(columnChange)
                \(recordBlockWrites("NEW", isInsert: false))
                END IF;
                RETURN NULL;
            END
            """

        // DELETE
        let deleteBody = variables + """
            BEGIN
                SELECT * INTO _v, _s, _site FROM \(stamp)(1);
                \(deleteSentinel)
                \(dropOthers)
                RETURN NULL;
            END
            """

        let quiet = "pg_catalog.current_setting(\(literal(mergingSetting)), true) IS DISTINCT FROM 'on'"
        let target = qualified(schema, table)
        var statements = [
            """
            CREATE TABLE IF NOT EXISTS \(clocks) (
                \(zip(ks, key).map { "\($0) \($1.type) NOT NULL" }.joined(separator: ",\n    ")),
                col_name TEXT NOT NULL,
                col_version BIGINT NOT NULL,
                db_version BIGINT NOT NULL,
                site_id BYTEA NOT NULL,
                seq BIGINT NOT NULL,
                PRIMARY KEY (\(kList), col_name)
            )
            """,
            "CREATE INDEX IF NOT EXISTS \(SQLText.identifier(objectName(table, "_cloudsync_db_version"))) ON \(clocks) (db_version, seq)",
        ]
        for (kind, event, body, condition) in [
            ("insert", "INSERT", insertBody, quiet),
            ("update", "UPDATE", updateBody, "\(quiet) AND OLD.* IS DISTINCT FROM NEW.*"),
            ("delete", "DELETE", deleteBody, quiet),
        ] {
            let function = qualified(schema, objectName(table, "_cloudsync_\(kind)"))
            statements.append("CREATE OR REPLACE FUNCTION \(function)() RETURNS trigger LANGUAGE plpgsql AS \(dollarQuoted(body))")
            statements.append("""
                CREATE OR REPLACE TRIGGER cloudsync_\(kind) AFTER \(event) ON \(target)
                FOR EACH ROW WHEN (\(condition)) EXECUTE FUNCTION \(function)()
                """)
        }
        statements.append("""
            CREATE OR REPLACE TRIGGER cloudsync_lock BEFORE INSERT OR UPDATE OR DELETE ON \(target)
            FOR EACH STATEMENT EXECUTE FUNCTION \(qualified(schema, "cloudsync_lock"))()
            """)
        return statements
    }

    /// The table of the direct writes of `table`'s block columns not yet turned into block
    /// changes: `k1 … kn`, `col_name`, `is_insert`.
    static func pendingTable(_ table: String) -> String { table + "_cloudsync_pending" }

    /// The table of the texts of `table`'s blocks: `k1 … kn`, `col_name` (the block's name),
    /// `col_value`.
    static func blocksTable(_ table: String) -> String { table + "_cloudsync_blocks" }

    /// Creates the blocks and pending tables of `table` (idempotent).
    static func blockTablesSQL(schema: String, table: String, key: [(name: String, type: String)]) -> [String] {
        let ks = key.indices.map { "k\($0 + 1)" }
        let keyColumns = zip(ks, key).map { "\($0) \($1.type) NOT NULL" }.joined(separator: ", ")
        let primary = "PRIMARY KEY (\(ks.joined(separator: ", ")), col_name)"
        return [
            "CREATE TABLE IF NOT EXISTS \(qualified(schema, blocksTable(table))) (\(keyColumns), col_name TEXT NOT NULL, col_value TEXT, \(primary))",
            "CREATE TABLE IF NOT EXISTS \(qualified(schema, pendingTable(table))) (\(keyColumns), col_name TEXT NOT NULL, is_insert BOOLEAN NOT NULL, \(primary))",
        ]
    }

    /// `schema.name`, both quoted.
    static func qualified(_ schema: String, _ name: String) -> String {
        SQLText.identifier(schema) + "." + SQLText.identifier(name)
    }

    /// `text` as an escape-string literal, read the same whatever `standard_conforming_strings` is.
    static func literal(_ text: String) -> String {
        "E'" + text.replacing("\\", with: "\\\\").replacing("'", with: "''") + "'"
    }

    /// `body` between dollar quotes whose tag it does not contain.
    static func dollarQuoted(_ body: String) -> String {
        var tag = "$cloudsync$"
        var attempt = 0
        while body.contains(tag) {
            attempt += 1
            tag = "$cloudsync\(attempt)$"
        }
        return tag + "\n" + body + "\n" + tag
    }

    /// `table + suffix`, or, when that is longer than PostgreSQL's 63-byte names, a prefix of
    /// `table`, a hash of the whole name and `suffix`.
    static func objectName(_ table: String, _ suffix: String) -> String {
        let full = table + suffix
        guard full.utf8.count > 63 else { return full }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 // FNV-1a
        for byte in full.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let tail = "_" + String(hash, radix: 16) + suffix
        var prefix = ""
        for character in table {
            guard prefix.utf8.count + String(character).utf8.count + tail.utf8.count <= 63 else { break }
            prefix.append(character)
        }
        return prefix + tail
    }
}
