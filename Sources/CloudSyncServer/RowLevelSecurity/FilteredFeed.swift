import CloudSyncCore

/// A token user's filtered download page on the embedded storage: `FilteredPageBuilder` fed
/// from the database's feed and the user's outbox, inside the writer's transaction.
struct FilteredFeed: FilteredPageSource {
    let visibility: RowVisibility
    private var context: SyncContext { visibility.context }

    init(visibility: RowVisibility) {
        self.visibility = visibility
    }

    func isProtected(_ table: String) -> Bool {
        visibility.policy(for: table) != nil
    }

    func entry(table: String, pk: [UInt8]) throws(CloudSyncError) -> MirrorEntry? {
        try visibility.entry(table: table, pk: pk)
    }

    func rowChanges(table: String, pk: [UInt8]) throws(CloudSyncError) -> [Change] {
        try context.rowChanges(table: table, pk: pk)
    }

    /// The next page for a device at `site` whose cursor is `cursor`, or nil when it has
    /// received everything.
    func page(excludingSite site: SiteID, after cursor: SyncCursor, limit: Int) throws -> ChangesPage? {
        let events = try context.connection.rows("""
            SELECT db_version, seq, tbl, pk, kind, cl FROM cloudsync_rls_outbox
            WHERE user_id = ?1 AND (db_version > ?2 OR (db_version = ?2 AND seq > ?3))
            ORDER BY db_version, seq
            """, [.string(visibility.claims.userID), .integer(cursor.dbVersion), .integer(cursor.seq)]
        ).compactMap { row -> FilteredPageBuilder.OutboxEvent? in
            guard case .blob(let pk) = row[3], let kind = MirrorEntry.Event.Kind(rawValue: row[4].stringValue ?? "") else { return nil }
            return FilteredPageBuilder.OutboxEvent(
                version: row[0].integerValue ?? 0, seq: row[1].integerValue ?? 0, table: row[2].stringValue ?? "",
                pk: pk, event: MirrorEntry.Event(kind: kind, cl: row[5].integerValue ?? 0))
        }
        let serverSite = try context.siteID()
        var builder = FilteredPageBuilder(events: events, complete: true, site: site, serverSite: serverSite, limit: limit)
        var feedEnded = true
        try context.forEachChange(where: [.after(dbVersion: cursor.dbVersion, seq: cursor.seq), .site(site.bytes, equal: false)]) { change throws(CloudSyncError) in
            guard try builder.offer(change, self) else {
                feedEnded = false
                return false
            }
            return true
        }
        if feedEnded, let position = try builder.endOfFeed(self), let carrier = try cursorCarrier(serverSite: serverSite) {
            builder.addCarrier(carrier, at: position)
        }
        return builder.finish(schemaHash: try context.currentSchemaHash())
    }

    private func cursorCarrier(serverSite: [UInt8]) throws -> Change? {
        let rows = try context.connection.rows(
            "SELECT tbl, pk, mirrored, cl_offset, hidden_cl FROM cloudsync_rls_rows WHERE user_id = ?1 ORDER BY mirrored DESC LIMIT 8",
            [.string(visibility.claims.userID)])
        for row in rows {
            guard let table = row[0].stringValue, case .blob(let pk) = row[1] else { continue }
            let entry = MirrorEntry(mirrored: row[2].integerValue == 1, offset: row[3].integerValue ?? 0, hiddenCL: row[4].integerValue ?? 0)
            let changes = entry.mirrored ? try context.rowChanges(table: table, pk: pk) : []
            if let carrier = FilteredPageBuilder.carrier(table: table, pk: pk, entry: entry, rowChanges: changes, serverSite: serverSite) {
                return carrier
            }
        }
        return nil
    }
}
