import CloudSyncCore

/// Builds a token user's download page: the database's changes after the device's cursor,
/// with the changes of rows the user does not see left out, the user's causal-length offsets
/// applied, and the user's synthesized hides and shows merged in, all in `(db_version, seq)`
/// order so that the device's ordinary cursor acknowledges them.
struct FilteredFeed {
    let visibility: RowVisibility
    private var context: SyncContext { visibility.context }

    init(visibility: RowVisibility) {
        self.visibility = visibility
    }

    private struct Event {
        var version: Int64
        var seq: Int64
        var table: String
        var pk: [UInt8]
        var kind: RowVisibility.EventKind
        var cl: Int64
    }

    private struct Position: Comparable {
        var version: Int64
        var seq: Int64
        static func < (a: Position, b: Position) -> Bool { (a.version, a.seq) < (b.version, b.seq) }
    }

    /// The next page for a device at `site` whose cursor is `cursor`, or nil when it has
    /// received everything. A page may pass `limit` to keep one row's show whole.
    func page(excludingSite site: SiteID, after cursor: SyncCursor, limit: Int) throws -> ChangesPage? {
        let userID = visibility.claims.userID
        var events = try context.connection.rows("""
            SELECT db_version, seq, tbl, pk, kind, cl FROM cloudsync_rls_outbox
            WHERE user_id = ?1 AND (db_version > ?2 OR (db_version = ?2 AND seq > ?3))
            ORDER BY db_version, seq
            """, [.string(userID), .integer(cursor.dbVersion), .integer(cursor.seq)]
        ).compactMap { row -> Event? in
            guard case .blob(let pk) = row[3], let kind = RowVisibility.EventKind(rawValue: row[4].stringValue ?? "") else { return nil }
            return Event(version: row[0].integerValue ?? 0, seq: row[1].integerValue ?? 0, table: row[2].stringValue ?? "",
                         pk: pk, kind: kind, cl: row[5].integerValue ?? 0)
        }[...]

        var builder = PayloadBuilder()
        var last: Position?
        var lastExamined: Position?
        var entries: [String: [[UInt8]: RowVisibility.Entry?]] = [:]
        func entry(_ table: String, _ pk: [UInt8]) throws(CloudSyncError) -> RowVisibility.Entry? {
            if let cached = entries[table]?[pk] { return cached }
            let found = try visibility.entry(table: table, pk: pk)
            entries[table, default: [:]][pk] = .some(found)
            return found
        }
        func emit(_ change: Change) {
            builder.append(change)
            last = Position(version: change.dbVersion, seq: change.seq)
        }
        let serverSite = try context.siteID()
        func emitEvents(before position: Position?) throws(CloudSyncError) {
            while let event = events.first, position.map({ Position(version: event.version, seq: event.seq) < $0 }) ?? true {
                guard builder.rowCount < limit else { return }
                events.removeFirst()
                switch event.kind {
                case .hide:
                    emit(Change(table: event.table, pk: event.pk, column: Change.sentinelColumn, value: .null, colVersion: event.cl,
                                dbVersion: event.version, siteID: serverSite, causalLength: event.cl, seq: event.seq))
                case .show:
                    let offset = try entry(event.table, event.pk)?.offset ?? 0
                    for change in try context.rowChanges(table: event.table, pk: event.pk) {
                        var shown = GuardedMerge.shifted(change, by: offset)
                        shown.dbVersion = event.version
                        shown.seq = event.seq
                        // A change the asking device made itself would be stored there as a
                        // local change again, and sent back on its next sync (refused again, if
                        // the policy forbids the edit: a loop). It comes from the server instead.
                        if shown.siteID == site.bytes { shown.siteID = serverSite }
                        emit(shown)
                    }
                }
            }
        }

        var reachedEnd = true
        try context.forEachChange(where: [.after(dbVersion: cursor.dbVersion, seq: cursor.seq), .site(site.bytes, equal: false)]) { change throws(CloudSyncError) in
            let position = Position(version: change.dbVersion, seq: change.seq)
            try emitEvents(before: position)
            guard builder.rowCount < limit else {
                reachedEnd = false
                return false
            }
            lastExamined = position
            guard visibility.policy(for: change.table) != nil else {
                emit(change)
                return true
            }
            if let found = try entry(change.table, change.pk), found.mirrored {
                emit(GuardedMerge.shifted(change, by: found.offset))
            }
            return true
        }
        if reachedEnd {
            try emitEvents(before: nil)
            reachedEnd = events.isEmpty
        }
        // Changes the user may not see were passed over after the last one sent: move the
        // device's cursor past them with a change it already holds, so that the next check
        // does not read them again.
        if reachedEnd, let examined = lastExamined, last.map({ $0 < examined }) ?? true, let carrier = try cursorCarrier() {
            var stamped = carrier
            stamped.dbVersion = examined.version
            stamped.seq = examined.seq
            if stamped.siteID == site.bytes { stamped.siteID = serverSite }
            emit(stamped)
        }
        guard builder.rowCount > 0, let last else { return nil }
        let payload = builder.finish(schemaHash: try context.currentSchemaHash(), libraryVersion: SyncContext.version)
        return ChangesPage(payload: payload, count: builder.rowCount, last: SyncCursor(dbVersion: last.version, seq: last.seq))
    }

    /// A change every device of the user holds exactly, or has seen superseded (so merging
    /// it again changes nothing): the current sentinel or first cell of a row the user
    /// mirrors, else the delete that hid a row.
    private func cursorCarrier() throws(CloudSyncError) -> Change? {
        let rows = try context.connection.rows(
            "SELECT tbl, pk, mirrored, cl_offset, hidden_cl FROM cloudsync_rls_rows WHERE user_id = ?1 ORDER BY mirrored DESC LIMIT 8",
            [.string(visibility.claims.userID)])
        for row in rows {
            guard let table = row[0].stringValue, case .blob(let pk) = row[1] else { continue }
            if row[2].integerValue == 1 {
                if let change = try context.rowChanges(table: table, pk: pk).first {
                    return GuardedMerge.shifted(change, by: row[3].integerValue ?? 0)
                }
            } else if let hidden = row[4].integerValue {
                return Change(table: table, pk: pk, column: Change.sentinelColumn, value: .null, colVersion: hidden,
                              dbVersion: 0, siteID: try context.siteID(), causalLength: hidden, seq: 0)
            }
        }
        return nil
    }
}
