/// A position in a database's changes feed: everything after `(dbVersion, seq)`. Devices keep
/// two (what they sent, what they received); a server reads its feed in pages after one.
public struct SyncCursor: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The `db_version` of the last change covered.
    public var dbVersion: Int64
    /// The `seq` of the last change covered, within its `db_version`.
    public var seq: Int64

    /// The position after the change `(dbVersion, seq)`.
    public init(dbVersion: Int64, seq: Int64) {
        self.dbVersion = dbVersion
        self.seq = seq
    }

    /// Before every change.
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
        /// The send cursor: what the device has uploaded.
        public static let sendVersion = "send_dbversion"
        public static let sendSeq = "send_seq"
        /// The check cursor: what the device has received.
        public static let checkVersion = "check_dbversion"
        public static let checkSeq = "check_seq"
        /// Every key, for resetting both cursors.
        public static let all = [sendVersion, sendSeq, checkVersion, checkSeq]
    }
}
