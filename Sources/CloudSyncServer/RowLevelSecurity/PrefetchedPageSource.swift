import CloudSyncCore

/// What a filtered page reads, fetched before `FilteredPageBuilder` asks.
struct PrefetchedPageSource: FilteredPageSource {
    /// Lowercased names of the protected tables.
    var protected: Set<String>
    private var entries: [String: [[UInt8]: MirrorEntry]] = [:]
    private var rows: [String: [[UInt8]: [Change]]] = [:]

    init(protected: Set<String>) {
        self.protected = protected
    }

    mutating func add(entries found: [[UInt8]: MirrorEntry], table: String) {
        entries[table, default: [:]].merge(found) { $1 }
    }

    mutating func add(rows found: [[UInt8]: [Change]], table: String) {
        rows[table, default: [:]].merge(found) { $1 }
    }

    func isProtected(_ table: String) -> Bool {
        protected.contains(table.lowercased())
    }

    func entry(table: String, pk: [UInt8]) throws(CloudSyncError) -> MirrorEntry? {
        entries[table]?[pk]
    }

    func rowChanges(table: String, pk: [UInt8]) throws(CloudSyncError) -> [Change] {
        rows[table]?[pk] ?? []
    }
}
