/// Checks of `cloudsync_init` a caller may skip: the third argument of `cloudsync_init`, a
/// bitmask since sqlite-sync 1.0.9, where `0` and `1` keep the 0.8 meaning of `force`
/// (sql-api-v2.md §1).
public struct InitFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int64

    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// Accept a single INTEGER primary key (the caller makes keys globally unique).
    public static let allowIntegerPrimaryKey = InitFlags(rawValue: 1)
    /// Accept NOT NULL columns without a DEFAULT (the caller's changes always carry them).
    public static let allowNotNullWithoutDefault = InitFlags(rawValue: 2)
    /// Accepted and ignored, as in sqlite-sync 1.0.12, where the check it skips is compiled
    /// out: a nullable primary key stays refused here, because a NULL key cannot be merged.
    public static let allowNullablePrimaryKey = InitFlags(rawValue: 4)

    /// Every flag this engine knows; other bits are refused so a typo is not silently ignored.
    static let known: InitFlags = [.allowIntegerPrimaryKey, .allowNotNullWithoutDefault, .allowNullablePrimaryKey]
}
