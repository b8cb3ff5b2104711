/// The catalog schema `cloudsync` (docs/postgres.md, "Layout"), created idempotently by every
/// instance at start.
enum PostgresCatalog {
    static let statements = [
        "CREATE SCHEMA IF NOT EXISTS cloudsync",
        """
        CREATE TABLE IF NOT EXISTS cloudsync.databases(
          name TEXT PRIMARY KEY, schema_name TEXT UNIQUE NOT NULL, sqlite_schema TEXT NOT NULL,
          tables TEXT[] NOT NULL, schema_hashes BIGINT[] NOT NULL, site_id BYTEA NOT NULL,
          created_at TIMESTAMPTZ NOT NULL DEFAULT now())
        """,
        """
        CREATE TABLE IF NOT EXISTS cloudsync.api_keys(
          key_hash TEXT PRIMARY KEY, database TEXT NOT NULL,
          created_at TIMESTAMPTZ NOT NULL DEFAULT now(), revoked_at TIMESTAMPTZ)
        """,
        """
        CREATE TABLE IF NOT EXISTS cloudsync.access_tokens(
          token_id TEXT PRIMARY KEY, database TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT,
          expires_at BIGINT, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), revoked_at TIMESTAMPTZ)
        """,
        """
        CREATE TABLE IF NOT EXISTS cloudsync.site_bindings(
          database TEXT NOT NULL, site BYTEA NOT NULL, user_id TEXT NOT NULL,
          bound_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY(database, site))
        """,
        "CREATE TABLE IF NOT EXISTS cloudsync.settings(key TEXT PRIMARY KEY, value BYTEA NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS cloudsync.blobs(
          token TEXT PRIMARY KEY, kind TEXT NOT NULL, database TEXT NOT NULL, site BYTEA NOT NULL,
          state TEXT NOT NULL, payload BYTEA, expires_at TIMESTAMPTZ NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS blobs_expiry ON cloudsync.blobs(expires_at)",
        """
        CREATE TABLE IF NOT EXISTS cloudsync.policies(
          database TEXT NOT NULL, tbl TEXT NOT NULL,
          select_expr TEXT, insert_expr TEXT, update_expr TEXT, delete_expr TEXT,
          enabled BOOLEAN NOT NULL, epoch BIGINT NOT NULL, PRIMARY KEY(database, tbl))
        """,
        """
        CREATE TABLE IF NOT EXISTS cloudsync.block_columns(
          database TEXT NOT NULL, tbl TEXT NOT NULL, col TEXT NOT NULL, delimiter TEXT NOT NULL,
          PRIMARY KEY(database, tbl, col))
        """,
    ] + PostgresStorage.consoleCatalogStatements
}
