/// A position in a database's changes feed: everything after `(dbVersion, seq)`. Devices keep
/// two (what they sent, what they received); a server reads its feed in pages after one.
public struct SyncCursor: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var dbVersion: Int64
    public var seq: Int64

    public init(dbVersion: Int64, seq: Int64) {
        self.dbVersion = dbVersion
        self.seq = seq
    }

    public static let start = SyncCursor(dbVersion: 0, seq: 0)

    public static func < (lhs: SyncCursor, rhs: SyncCursor) -> Bool {
        (lhs.dbVersion, lhs.seq) < (rhs.dbVersion, rhs.seq)
    }

    public var description: String { "(\(dbVersion), \(seq))" }
}

extension SyncCursor {
    /// Where a device keeps its two protocol cursors in `cloudsync_settings` (the names the C
    /// extension uses, so a database moves between clients unchanged).
    public enum SettingKey {
        public static let sendVersion = "send_dbversion"
        public static let sendSeq = "send_seq"
        public static let checkVersion = "check_dbversion"
        public static let checkSeq = "check_seq"
        public static let all = [sendVersion, sendSeq, checkVersion, checkSeq]
    }
}
