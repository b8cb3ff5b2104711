import CloudSyncCore
/// The DDL of one managed database's schema (docs/postgres.md, "Layout").
enum PostgresLayout {
    /// Creates schema `schema` with the tables of `translated`, their clock tables and
    /// triggers, and the database's clock row.
    static func createStatements(schema: String, _ translated: PostgresSchema, siteID: [UInt8]) -> [String] {
        var statements = ["CREATE SCHEMA \(SQLText.identifier(schema))"] + PostgresTriggers.clockSQL(schema: schema, siteID: siteID)
            + rowLevelSecurityStatements(schema: schema)
        for table in translated.tables {
            statements.append(createTable(schema: schema, table))
            statements += PostgresTriggers.tableSQL(
                schema: schema, table: table.name,
                key: table.key.map { ($0.name, $0.type.rawValue) }, columns: table.columns.map(\.name))
        }
        return statements
    }

    /// Puts `blockColumns` of `table` in block mode: its blocks and pending tables, and its
    /// triggers replaced by ones that record direct writes of those columns as pending.
    static func blockStatements(schema: String, _ table: PostgresTable, blockColumns: Set<String>) -> [String] {
        let key = table.key.map { ($0.name, $0.type.rawValue) }
        return PostgresTriggers.blockTablesSQL(schema: schema, table: table.name, key: key)
            + PostgresTriggers.tableSQL(schema: schema, table: table.name, key: key, columns: table.columns.map(\.name), blockColumns: blockColumns)
    }

    static func createTable(schema: String, _ table: PostgresTable) -> String {
        let columns = table.allColumns.map { column in
            var definition = "\(SQLText.identifier(column.name)) \(column.type.rawValue)"
            if column.notNull { definition += " NOT NULL" }
            if let value = column.defaultSQL { definition += " DEFAULT \(value)" }
            return definition
        }
        let key = "PRIMARY KEY (" + table.key.map { SQLText.identifier($0.name) }.joined(separator: ", ") + ")"
        return "CREATE TABLE \(SQLText.identifier(schema)).\(SQLText.identifier(table.name)) (" + (columns + [key]).joined(separator: ", ") + ")"
    }

    /// The per-user Row-Level Security state of schema `schema` (the tables of `PolicyStore`,
    /// with native keys and types) and the functions policies call. Idempotent: databases
    /// created before policies existed get them when their first policy is set.
    ///
    /// `auth_userid()` and `auth_json()` read the transaction settings `cloudsync.user_id` and
    /// `cloudsync.claims` that the server sets for a token user's request; they return NULL
    /// otherwise (the administrator, or another program that does not set them).
    static func rowLevelSecurityStatements(schema: String) -> [String] {
        let s = SQLText.identifier(schema)
        return [
            """
            CREATE TABLE IF NOT EXISTS \(s).cloudsync_rls_users(
              user_id TEXT PRIMARY KEY, evaluated_version BIGINT NOT NULL, epoch BIGINT NOT NULL, claims TEXT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(s).cloudsync_rls_rows(
              user_id TEXT NOT NULL, tbl TEXT NOT NULL, pk BYTEA NOT NULL,
              mirrored BOOLEAN NOT NULL, cl_offset BIGINT NOT NULL, hidden_cl BIGINT NOT NULL,
              PRIMARY KEY(user_id, tbl, pk))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(s).cloudsync_rls_outbox(
              user_id TEXT NOT NULL, db_version BIGINT NOT NULL, seq BIGINT NOT NULL,
              tbl TEXT NOT NULL, pk BYTEA NOT NULL, kind TEXT NOT NULL, cl BIGINT NOT NULL,
              PRIMARY KEY(user_id, db_version, seq))
            """,
            """
            CREATE OR REPLACE FUNCTION \(s).auth_userid() RETURNS TEXT LANGUAGE sql STABLE
            AS $$ SELECT NULLIF(pg_catalog.current_setting('cloudsync.user_id', true), '') $$
            """,
            """
            CREATE OR REPLACE FUNCTION \(s).auth_json() RETURNS JSONB LANGUAGE sql STABLE
            AS $$ SELECT NULLIF(pg_catalog.current_setting('cloudsync.claims', true), '')::jsonb $$
            """,
        ]
    }
}
