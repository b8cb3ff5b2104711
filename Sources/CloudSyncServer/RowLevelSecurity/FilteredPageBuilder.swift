import CloudSyncCore

/// What a filtered page reads about rows, answered by a storage (synchronously: an async
/// storage fetches what the page will ask for first).
protocol FilteredPageSource {
    /// Whether `table` is policy-protected (its changes are filtered).
    func isProtected(_ table: String) -> Bool
    /// What the user's devices hold of a row.
    func entry(table: String, pk: [UInt8]) throws(CloudSyncError) -> MirrorEntry?
    /// The row's current changes (sentinel and cells), in feed order.
    func rowChanges(table: String, pk: [UInt8]) throws(CloudSyncError) -> [Change]
}

/// Builds a token user's download page: the database's changes after the device's cursor,
/// with the changes of rows the user does not see left out, the user's causal-length offsets
/// applied, and the user's synthesized hides and shows merged in, all in `(db_version, seq)`
/// order so that the device's ordinary cursor acknowledges them.
///
/// Fed by the storage: `offer` each change of the feed in order until it returns false, then
/// `endOfFeed` if the feed ran out, then `finish`. A page may pass the limit to keep one row's
/// show whole.
struct FilteredPageBuilder {
    /// A synthesized hide or show from the user's outbox.
    struct OutboxEvent: Equatable, Sendable {
        var version: Int64
        var seq: Int64
        var table: String
        var pk: [UInt8]
        var event: MirrorEntry.Event
    }

    struct Position: Comparable {
        var version: Int64
        var seq: Int64
        static func < (a: Position, b: Position) -> Bool { (a.version, a.seq) < (b.version, b.seq) }
    }

    private var events: ArraySlice<OutboxEvent>
    /// When only some of the outbox was loaded: the last loaded event's position, past which
    /// the page must not go.
    private let horizon: Position?
    private let site: SiteID
    private let serverSite: [UInt8]
    private let limit: Int
    /// `ChangesPageOptions.maxBytes`.
    private let maxBytes: Int
    /// The page must end on a whole db_version (`ChangesPageOptions.wholeVersions`).
    private let wholeVersions: Bool
    private var builder: PayloadBuilder
    private var last: Position?
    private var lastExamined: Position?
    private var entries: [String: [[UInt8]: MirrorEntry?]] = [:]
    private(set) var reachedEnd = false

    /// - Parameters:
    ///   - events: the user's outbox after the cursor, in order.
    ///   - complete: `events` is the whole outbox after the cursor, not its first part.
    ///   - site: the asking device, whose own changes the feed already left out.
    ///   - serverSite: the server database's site id.
    ///   - options: the payload format, and whether the page ends on a whole db_version.
    init(events: [OutboxEvent], complete: Bool, site: SiteID, serverSite: [UInt8], limit: Int, options: ChangesPageOptions = .v1Clients) {
        self.events = events[...]
        horizon = complete ? nil : events.last.map { Position(version: $0.version, seq: $0.seq) }
        self.site = site
        self.serverSite = serverSite
        self.limit = max(1, limit)
        maxBytes = options.maxBytes
        wholeVersions = options.wholeVersions
        builder = PayloadBuilder(format: options.format)
    }

    /// Whether the page takes nothing more at `position`: it holds `limit` rows or
    /// `maxBytes` bytes, and (for whole versions) `position` starts another version than its
    /// last row's.
    private func isFull(before position: Position) -> Bool {
        guard builder.rowCount >= limit || builder.body.count >= maxBytes else { return false }
        guard wholeVersions, let last else { return true }
        return position.version != last.version
    }

    private mutating func entry(_ table: String, _ pk: [UInt8], _ source: some FilteredPageSource) throws(CloudSyncError) -> MirrorEntry? {
        if let cached = entries[table]?[pk] { return cached }
        let found = try source.entry(table: table, pk: pk)
        entries[table, default: [:]][pk] = .some(found)
        return found
    }

    private mutating func emit(_ change: Change) {
        builder.append(change)
        last = Position(version: change.dbVersion, seq: change.seq)
    }

    /// A change the asking device made itself would be stored there as a local change again,
    /// and sent back on its next sync (refused again, if the policy forbids the edit: a loop).
    /// It comes from the server instead.
    private func fromServer(_ change: Change) -> Change {
        var change = change
        if change.siteID == site.bytes { change.siteID = serverSite }
        return change
    }

    private mutating func emitEvents(before position: Position?, _ source: some FilteredPageSource) throws(CloudSyncError) {
        while let event = events.first, position.map({ Position(version: event.version, seq: event.seq) < $0 }) ?? true {
            guard !isFull(before: Position(version: event.version, seq: event.seq)) else { return }
            events.removeFirst()
            switch event.event.kind {
            case .hide:
                emit(Change(table: event.table, pk: event.pk, column: Change.sentinelColumn, value: .null, colVersion: event.event.cl,
                            dbVersion: event.version, siteID: serverSite, causalLength: event.event.cl, seq: event.seq))
            case .show:
                let offset = try entry(event.table, event.pk, source)?.offset ?? 0
                for change in try source.rowChanges(table: event.table, pk: event.pk) {
                    var shown = fromServer(MirrorEntry.shifted(change, by: offset))
                    shown.dbVersion = event.version
                    shown.seq = event.seq
                    emit(shown)
                }
            }
        }
    }

    /// Takes the next change of the feed (not made by the asking device). Returns false, not
    /// taking it, when the page is full.
    mutating func offer(_ change: Change, _ source: some FilteredPageSource) throws(CloudSyncError) -> Bool {
        let position = Position(version: change.dbVersion, seq: change.seq)
        if let horizon, horizon < position { return false }
        try emitEvents(before: position, source)
        guard !isFull(before: position) else { return false }
        lastExamined = position
        guard source.isProtected(change.table) else {
            emit(change)
            return true
        }
        if let found = try entry(change.table, change.pk, source), found.mirrored {
            emit(MirrorEntry.shifted(change, by: found.offset))
        }
        return true
    }

    /// The feed has no more changes: the remaining events follow. Returns the position a
    /// cursor carrier must be stamped with (see `addCarrier`), if one is needed.
    mutating func endOfFeed(_ source: some FilteredPageSource) throws(CloudSyncError) -> Position? {
        try emitEvents(before: nil, source)
        reachedEnd = events.isEmpty && horizon == nil
        // Changes the user may not see were passed over after the last one sent: the device's
        // cursor must move past them, or the next check reads them again.
        guard reachedEnd, let examined = lastExamined, last.map({ $0 < examined }) ?? true else { return nil }
        return examined
    }

    /// Moves the device's cursor to `position` with `carrier`, a change every device of the
    /// user holds exactly or has seen superseded (merging it again changes nothing).
    mutating func addCarrier(_ carrier: Change, at position: Position) {
        var stamped = fromServer(carrier)
        stamped.dbVersion = position.version
        stamped.seq = position.seq
        emit(stamped)
    }

    /// A carrier for a row the user's devices hold as `entry` with `rowChanges`: the current
    /// sentinel or first cell of a mirrored row, else the delete that hid it.
    static func carrier(table: String, pk: [UInt8], entry: MirrorEntry, rowChanges: [Change], serverSite: [UInt8]) -> Change? {
        if entry.mirrored {
            return rowChanges.first.map { MirrorEntry.shifted($0, by: entry.offset) }
        }
        guard entry.hiddenCL > 0 else { return nil }
        return Change(table: table, pk: pk, column: Change.sentinelColumn, value: .null, colVersion: entry.hiddenCL,
                      dbVersion: 0, siteID: serverSite, causalLength: entry.hiddenCL, seq: 0)
    }

    /// The page, or nil when the device has received everything.
    func finish(schemaHash: UInt64) -> ChangesPage? {
        guard builder.rowCount > 0, let last else { return nil }
        let payload = builder.finish(schemaHash: schemaHash, libraryVersion: SyncContext.version)
        return ChangesPage(payload: payload, count: builder.rowCount, last: SyncCursor(dbVersion: last.version, seq: last.seq))
    }
}
