/// The `db_version` and `seq` of the write transaction in progress on one connection.
///
/// The engine must know when a transaction ends without owning the connection's commit and
/// rollback hooks (wrappers such as GRDB install their own). SQLite's pager data version
/// (SQLITE_FCNTL_DATA_VERSION) changes whenever a transaction commits, on this connection or
/// another; while it is unchanged, the writes belong to the same transaction, or follow a
/// rollback, after which reusing the never-committed version is correct.
struct TransactionClock {
    private var dataVersion: UInt32?
    private(set) var dbVersion: Int64 = 0
    private var nextSeq: Int64 = 0

    /// True when the cached version is still that of the current transaction.
    func isCurrent(dataVersion current: UInt32) -> Bool { dataVersion == current }

    /// Starts a new transaction's clock at `dbVersion`.
    mutating func start(dataVersion current: UInt32, dbVersion: Int64) {
        dataVersion = current
        self.dbVersion = dbVersion
        nextSeq = 0
    }

    /// Takes the next `seq` of the transaction.
    mutating func takeSeq() -> Int64 {
        defer { nextSeq += 1 }
        return nextSeq
    }

}
