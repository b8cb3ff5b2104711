/// Reads the changes feed (crdt-model.md, "The changes feed"): one row per clock, ordered by
/// `db_version, seq`, across every synchronized table, using each clock table's
/// `db_version` index for the filters.
///
/// Not `Sendable`: holds statements of one connection.
final class ChangesFeed {
    /// A filter the feed applies inside its per-table queries.
    enum Constraint: Equatable {
        case dbVersion(Comparison, Int64)
        case siteID(equal: Bool, [UInt8])
        case table(String)
        /// Changes of the row with this primary-key blob.
        case primaryKey([UInt8])
        /// Matches no change (a comparison with a value that can never match).
        case nothing
        /// `(db_version, seq) > (version, seq)`: everything after a cursor.
        case after(dbVersion: Int64, seq: Int64)
    }

    enum Comparison: String {
        case greater = ">", greaterOrEqual = ">=", equal = "=", less = "<", lessOrEqual = "<="
    }

    private struct Source {
        let table: SyncTable
        let statement: Statement
        var hasRow: Bool
    }

    private var sources: [Source] = []
    private var currentIndex: Int?

    /// Statement column layout: pk, col_name, col_value, col_version, db_version, site_id,
    /// cl, seq.
    static let columnCount: Int32 = 8

    init(context: SyncContext, constraints: [Constraint]) throws(CloudSyncError) {
        try context.refreshTablesIfSchemaChanged()
        try context.loadTablesIfNeeded()
        var tables = context.tablesByName.values.sorted { $0.name < $1.name }
        var conditions: [String] = []
        var arguments: [SQLValue] = []
        for constraint in constraints {
            switch constraint {
            case .dbVersion(let comparison, let value):
                arguments.append(.integer(value))
                conditions.append("c.db_version \(comparison.rawValue) ?\(arguments.count)")
            case .after(let version, let seq):
                arguments.append(.integer(version))
                arguments.append(.integer(seq))
                // Written so the db_version index bounds the scan.
                conditions.append("c.db_version >= ?\(arguments.count - 1) AND (c.db_version > ?\(arguments.count - 1) OR c.seq > ?\(arguments.count))")
            case .siteID(let equal, let site):
                let ordinal = try context.knownSiteOrdinal(site)
                if let ordinal {
                    arguments.append(.integer(ordinal))
                    conditions.append("c.site_id \(equal ? "=" : "!=") ?\(arguments.count)")
                } else if equal {
                    tables = []
                }
            case .table(let name):
                tables = tables.filter { $0.name.lowercased() == name.lowercased() }
            case .primaryKey(let pk):
                arguments.append(.blob(pk))
                conditions.append("c.pk = ?\(arguments.count)")
            case .nothing:
                tables = []
            }
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        for table in tables {
            let statement = try context.connection.prepare(Self.query(for: table, filter: filter))
            try statement.bind(arguments)
            sources.append(Source(table: table, statement: statement, hasRow: try statement.step()))
        }
        pickCurrent()
    }

    static func query(for table: SyncTable, filter: String) -> String {
        let rip = SQLText.literal(Change.sentinelColumn)
        return """
            SELECT c.pk, c.col_name, \(table.valueCase(table: "t", clock: "c")), c.col_version, c.db_version, s.site_id,
              COALESCE((SELECT r.col_version FROM \(table.clockTable) r WHERE r.pk = c.pk AND r.col_name = \(rip)), 1), c.seq
            FROM \(table.clockTable) c
            LEFT JOIN \(table.quotedName) t ON \(table.keyJoin(table: "t", clock: "c"))
            LEFT JOIN cloudsync_site_id s ON s.rowid = c.site_id
            \(filter)
            ORDER BY c.db_version, c.seq
            """
    }

    var isAtEnd: Bool { currentIndex == nil }

    /// The table of the current row.
    var table: SyncTable { sources[currentIndex!].table }

    /// The statement positioned on the current row (layout: see `columnCount`).
    var row: Statement { sources[currentIndex!].statement }

    func advance() throws(CloudSyncError) {
        guard let index = currentIndex else { return }
        sources[index].hasRow = try sources[index].statement.step()
        pickCurrent()
    }

    /// Chooses the source whose row comes next in `(db_version, seq)` order; ties go to the
    /// table whose name sorts first, so the order is deterministic.
    private func pickCurrent() {
        var best: Int?
        var bestKey: (Int64, Int64) = (0, 0)
        for (index, source) in sources.enumerated() where source.hasRow {
            let key = (source.statement.int64(at: 4), source.statement.int64(at: 7))
            if best == nil || key < bestKey {
                best = index
                bestKey = key
            }
        }
        currentIndex = best
    }

    /// The current row as a `Change`.
    func currentChange() -> Change {
        let row = self.row
        return Change(
            table: table.name,
            pk: row.blob(at: 0),
            column: row.string(at: 1) ?? "",
            value: row.value(at: 2),
            colVersion: row.int64(at: 3),
            dbVersion: row.int64(at: 4),
            siteID: row.blob(at: 5),
            causalLength: row.int64(at: 6),
            seq: row.int64(at: 7))
    }
}

extension SyncContext {
    /// The ordinal of a site already known here, or nil; never inserts.
    func knownSiteOrdinal(_ site: [UInt8]) throws(CloudSyncError) -> Int64? {
        guard try hasGlobalTables() else { return nil }
        if site == (try siteID()) { return 0 }
        guard case .integer(let ordinal)? = try connection.scalar("SELECT rowid FROM cloudsync_site_id WHERE site_id = ?1", [.blob(site)]) else {
            return nil
        }
        return ordinal
    }

    /// Changes of the feed matching `constraints`, in feed order.
    package func changes(where constraints: [ChangesFeedConstraint] = []) throws(CloudSyncError) -> [Change] {
        var result: [Change] = []
        try forEachChange(where: constraints) { change in
            result.append(change)
            return true
        }
        return result
    }

    /// Calls `body` with the feed's changes matching `constraints`, in feed order, until it
    /// returns false; reads them one at a time, so a large feed is never held in memory.
    package func forEachChange(where constraints: [ChangesFeedConstraint], _ body: (Change) throws(CloudSyncError) -> Bool) throws(CloudSyncError) {
        let feed = try ChangesFeed(context: self, constraints: constraints.map(\.feedConstraint))
        while !feed.isAtEnd {
            guard try body(feed.currentChange()) else { return }
            try feed.advance()
        }
    }

    /// Whether the feed has any change matching `constraints`.
    public func hasChanges(where constraints: [ChangesFeedConstraint]) throws(CloudSyncError) -> Bool {
        !(try ChangesFeed(context: self, constraints: constraints.map(\.feedConstraint)).isAtEnd)
    }

    /// A payload of the feed's changes matching `constraints`, or nil if there are none.
    /// Also returns the `(db_version, seq)` of the last change included.
    /// - Parameters:
    ///   - maxChanges: the most changes taken.
    ///   - maxBytes: no change is added once the uncompressed body holds this many bytes, so
    ///     a body passes it by at most one change (a single larger change still makes a page):
    ///     what a page costs in memory, at both ends, follows from its bytes, not its count.
    ///   - format: nil writes this database's ``payloadFormat()``; a server names the format
    ///     of the client it answers.
    public func encodePayload(where constraints: [ChangesFeedConstraint] = [], maxChanges: Int = .max, maxBytes: Int = .max, format requested: PayloadFormat? = nil) throws(CloudSyncError) -> (payload: [UInt8], lastDbVersion: Int64, lastSeq: Int64, count: Int)? {
        let format: PayloadFormat
        if let requested { format = requested } else { format = try payloadFormat() }
        let feed = try ChangesFeed(context: self, constraints: constraints.map(\.feedConstraint))
        var builder = PayloadBuilder(format: format)
        var last: (Int64, Int64) = (0, 0)
        while !feed.isAtEnd && builder.rowCount < maxChanges && builder.body.count < maxBytes {
            let row = feed.row
            builder.body.appendText(Array(feed.table.name.utf8))
            for column in Int32(0)..<ChangesFeed.columnCount {
                row.encodeColumn(column, into: &builder.body)
            }
            builder.endRow()
            last = (row.int64(at: 4), row.int64(at: 7))
            try feed.advance()
        }
        guard builder.rowCount > 0 else { return nil }
        let payload = builder.finish(schemaHash: try schemaHash(for: format), libraryVersion: Self.version)
        return (payload, last.0, last.1, builder.rowCount)
    }
}

extension SyncContext {
    /// ``encodePayload(where:maxChanges:maxBytes:format:)`` for a page that ends on a whole
    /// `db_version`: a page cut by `maxChanges` or `maxBytes` goes on to the last change of its
    /// last version, unless the page would then be over `maxWholeBytes` (sent or expanded), in
    /// which case it stays cut. Protocol v2 resumes (and announces windows) on whole versions: the server's pages
    /// for 1.x clients always finish their version (the default `maxWholeBytes`), and this
    /// project's upload pages finish it when it fits under the upload bound (a transaction
    /// larger than the server's body limit could never be sent whole).
    public func encodeWholeVersions(where constraints: [ChangesFeedConstraint] = [], maxChanges: Int, maxBytes: Int = .max, maxWholeBytes: Int = .max, format: PayloadFormat? = nil) throws(CloudSyncError) -> (payload: [UInt8], lastDbVersion: Int64, lastSeq: Int64, count: Int)? {
        guard let page = try encodePayload(where: constraints, maxChanges: maxChanges, maxBytes: maxBytes, format: format) else { return nil }
        // Whether the page was cut (by count or by bytes) or the feed ended, a change of its
        // last version that follows says which.
        var rest = 0
        try forEachChange(where: constraints + [.after(dbVersion: page.lastDbVersion, seq: page.lastSeq)]) { change in
            guard change.dbVersion == page.lastDbVersion else { return false }
            rest += 1
            return true
        }
        guard rest > 0 else { return page }
        // A version plainly too big to finish is not encoded whole only to be dropped: a
        // backlog of large transactions would pay for each one twice.
        if maxWholeBytes < .max, page.payload.count / max(1, page.count) * (page.count + rest) > maxWholeBytes { return page }
        guard let whole = try encodePayload(where: constraints, maxChanges: page.count + rest, format: format) else { return page }
        // The body's size, as the server's body and expansion limits see it.
        let expanded = (try? PayloadHeader(parsing: whole.payload)).map { Int($0.expandedSize) } ?? 0
        return max(whole.payload.count, expanded) <= maxWholeBytes ? whole : page
    }
}

/// A filter on the changes feed, for Swift callers.
public enum ChangesFeedConstraint: Sendable, Equatable {
    /// Changes with `db_version` greater than the value.
    case dbVersionAfter(Int64)
    /// Changes after a `(db_version, seq)` cursor.
    case after(dbVersion: Int64, seq: Int64)
    /// Changes made at the given site (true) or anywhere else (false).
    case site([UInt8], equal: Bool)
    /// Changes of one table.
    case table(String)
    /// Changes of the row with this primary-key blob (combine with `.table`).
    case primaryKey([UInt8])

    var feedConstraint: ChangesFeed.Constraint {
        switch self {
        case .dbVersionAfter(let version): .dbVersion(.greater, version)
        case .after(let version, let seq): .after(dbVersion: version, seq: seq)
        case .site(let site, let equal): .siteID(equal: equal, site)
        case .table(let name): .table(name)
        case .primaryKey(let pk): .primaryKey(pk)
        }
    }
}
