/// Which generation of peers a payload is written for (wire-format §7, §9).
public enum PayloadFormat: Int64, Sendable, Equatable {
    /// Version 1 stamped with the 0.8 text schema hash, no checksum: what sqlite-sync 0.8
    /// clients read (they check the text hash and never look at the version or checksum).
    case v1 = 1
    /// Version 2 stamped with the 1.x structural schema hash, with a checksum of the body:
    /// what sqlite-sync 1.x clients and this project read. The default.
    case v2 = 2

    /// The header's version byte.
    var version: UInt8 { UInt8(rawValue) }
}
