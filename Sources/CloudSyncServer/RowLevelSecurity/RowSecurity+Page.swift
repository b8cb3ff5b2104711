import CloudSyncCore

extension RowSecurity {
    /// Changes read per step while building a filtered page of `limit` changes: the page,
    /// unless it is very large (most changes may be filtered out).
    static func feedChunk(limit: Int) -> Int {
        max(200, min(limit, 5000))
    }

    /// The user's filtered download page for a device at `site` whose cursor is `cursor`
    /// (`FilteredPageBuilder`), or nil when it has received everything. Call after `refresh()`.
    ///
    /// Both the outbox and the feed are read in bounded steps: at most `limit + 1` events (one
    /// more tells whether there are others; for whole versions, more until a version ends),
    /// and the feed a chunk at a time until the page is full.
    func page(excluding site: SiteID, after cursor: SyncCursor, limit: Int, options: ChangesPageOptions = .v1Clients) async throws -> ChangesPage? {
        let limit = max(1, limit)
        var loaded = limit
        var outbox = try await store.outbox(user: claims.userID, after: cursor, limit: loaded + 1)
        // A page for whole versions must not stop inside a version of events: load on until
        // the loaded part ends on a version boundary (or the outbox ends).
        while options.wholeVersions, outbox.count > loaded, outbox[loaded].version == outbox[loaded - 1].version {
            loaded *= 2
            outbox = try await store.outbox(user: claims.userID, after: cursor, limit: loaded + 1)
        }
        let events = Array(outbox.prefix(loaded))
        var source = PrefetchedPageSource(protected: Set(policies.keys))
        for (table, tableEvents) in Dictionary(grouping: events, by: \.table) {
            try await source.add(entries: entries(table: table, pks: tableEvents.map(\.pk)), table: table)
            let shown = tableEvents.filter { $0.event.kind == .show }.map(\.pk)
            source.add(rows: try await store.rowChanges(table: table, pks: shown), table: table)
        }

        var builder = FilteredPageBuilder(events: events, complete: outbox.count <= loaded, site: site, serverSite: store.serverSite, limit: limit, options: options)
        var position = cursor
        var feedEnded = false
        let chunk = Self.feedChunk(limit: limit)
        reading: while true {
            let changes = try await store.feed(excluding: site, after: position, limit: chunk)
            for (table, rows) in Dictionary(grouping: changes.filter { source.isProtected($0.table) }, by: \.table) {
                try await source.add(entries: entries(table: table, pks: rows.map(\.pk)), table: table)
            }
            for change in changes {
                guard try builder.offer(change, source) else { break reading }
            }
            guard changes.count == chunk, let last = changes.last else {
                feedEnded = true
                break
            }
            position = SyncCursor(dbVersion: last.dbVersion, seq: last.seq)
        }
        if feedEnded, let at = try builder.endOfFeed(source) {
            for candidate in try await store.carrierCandidates(user: claims.userID) {
                let changes = candidate.entry.mirrored
                    ? try await store.rowChanges(table: candidate.table, pks: [candidate.pk])[candidate.pk] ?? []
                    : []
                if let carrier = FilteredPageBuilder.carrier(
                    table: candidate.table, pk: candidate.pk, entry: candidate.entry, rowChanges: changes, serverSite: store.serverSite) {
                    builder.addCarrier(carrier, at: at)
                    break
                }
            }
        }
        return builder.finish(schemaHash: try await store.schemaHash(for: options.format))
    }
}
