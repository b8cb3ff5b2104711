/// Size limits a reader enforces before it allocates anything for a payload.
///
/// The defaults, ``default``, are 256 MiB for a whole payload, 512 MiB for its decompressed
/// body and 10,000,000 change rows. Going over a limit throws `.tooLarge`.
public struct PayloadLimits: Sendable {
    /// The largest payload accepted, header included, in bytes.
    public var maxPayloadSize: Int
    /// The largest body accepted once decompressed (the header's expanded_size), in bytes.
    public var maxExpandedSize: Int
    /// The largest number of change rows accepted (the header's nrows).
    public var maxRows: Int

    /// Limits in bytes (compressed and expanded) and change rows.
    public init(maxPayloadSize: Int, maxExpandedSize: Int, maxRows: Int) {
        self.maxPayloadSize = maxPayloadSize
        self.maxExpandedSize = maxExpandedSize
        self.maxRows = maxRows
    }

    /// 256 MiB payload, 512 MiB expanded body, 10,000,000 rows.
    public static let `default` = PayloadLimits(
        maxPayloadSize: 256 << 20, maxExpandedSize: 512 << 20, maxRows: 10_000_000)
}
