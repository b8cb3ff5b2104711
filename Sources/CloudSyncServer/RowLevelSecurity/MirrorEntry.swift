import CloudSyncCore

/// What one user's devices hold of one row of a policy-protected table, and the rules by
/// which that changes when the row is shown, hidden or corrected (docs/row-level-security.md).
///
/// Pure: the storages read and write entries (`cloudsync_rls_rows`) and their synthesized
/// events (`cloudsync_rls_outbox`); the arithmetic lives here so that both storages agree.
struct MirrorEntry: Equatable, Sendable {
    /// The devices follow the row's changes (it was visible when last evaluated).
    var mirrored: Bool
    /// Device causal length minus server causal length, while mirrored.
    var offset: Int64
    /// The causal length of the delete the devices hold, while hidden.
    var hiddenCL: Int64

    /// A synthesized change for the user's devices: the whole row (`show`) or a delete
    /// (`hide`), at causal length `cl` as the devices count it.
    struct Event: Equatable, Sendable {
        enum Kind: String, Sendable {
            case hide, show
        }

        var kind: Kind
        var cl: Int64
    }

    /// The new entry, and the event the devices must receive (if any).
    struct Transition: Equatable, Sendable {
        var entry: MirrorEntry
        var event: Event?
    }

    /// Starts mirroring a live row whose server causal length is `length`.
    /// - Parameter changesAreAllNew: every clock of the row is newer than what the user's
    ///   devices were last brought up to, so the feed delivers the row without an event.
    static func show(_ existing: MirrorEntry?, length: Int64, changesAreAllNew: Bool) -> Transition {
        guard let existing else {
            return Transition(entry: MirrorEntry(mirrored: true, offset: 0, hiddenCL: 0),
                              event: changesAreAllNew ? nil : Event(kind: .show, cl: length))
        }
        let offset = max(existing.offset, evenCeiling(existing.hiddenCL + 1 - length))
        return Transition(entry: MirrorEntry(mirrored: true, offset: offset, hiddenCL: 0), event: Event(kind: .show, cl: length + offset))
    }

    /// Stops mirroring a live row whose server causal length is `length`.
    static func hide(_ existing: MirrorEntry?, length: Int64) -> Transition {
        let existing = existing ?? MirrorEntry(mirrored: true, offset: 0, hiddenCL: 0)
        let hidden = evenCeiling(length + existing.offset + 1)
        return Transition(entry: MirrorEntry(mirrored: false, offset: existing.offset, hiddenCL: hidden), event: Event(kind: .hide, cl: hidden))
    }

    /// Returns the devices' copy of a row to the server's truth after its upload was denied.
    /// - Parameters:
    ///   - length: the server's causal length of the row now.
    ///   - visible: the row is live and passes the select policy.
    ///   - deviceCL: the highest causal length the upload carried for the row.
    static func correct(_ existing: MirrorEntry?, length: Int64, visible: Bool, deviceCL: Int64) -> Transition {
        if visible {
            // The devices must take the server's row whole: send it at a causal length
            // above the one they used, which makes it a new life there.
            let offset = max(existing?.offset ?? 0, evenCeiling(deviceCL + 1 - length))
            return Transition(entry: MirrorEntry(mirrored: true, offset: offset, hiddenCL: 0), event: Event(kind: .show, cl: length + offset))
        }
        let held = max(deviceCL, existing?.hiddenCL ?? 0, length + (existing?.offset ?? 0))
        let hidden = evenCeiling(held + 1)
        return Transition(entry: MirrorEntry(mirrored: false, offset: existing?.offset ?? 0, hiddenCL: hidden), event: Event(kind: .hide, cl: hidden))
    }

    /// Records, for one user only, a delete of a row the server does not have; nil when the
    /// devices already hold it (or a later one) or the user mirrors the row.
    static func recordDelete(_ existing: MirrorEntry?, deviceCL: Int64) -> Transition? {
        guard !(existing?.mirrored ?? false), deviceCL > existing?.hiddenCL ?? 0 else { return nil }
        return Transition(entry: MirrorEntry(mirrored: false, offset: existing?.offset ?? 0, hiddenCL: deviceCL), event: Event(kind: .hide, cl: deviceCL))
    }

    /// A user's uploaded changes of one row, mapped to the server's causal lengths.
    ///
    /// Changes below the life the devices were last given come from an earlier life there (an
    /// edit made before a show or hide arrived, or an old upload sent again): the devices' own
    /// merge rules discard them, so the server must too, rather than map them onto the
    /// server's current life.
    /// - Parameter serverLength: the server's causal length of the row.
    func adjustUpload(_ changes: [Change], serverLength: Int64) -> [Change] {
        let held = mirrored ? serverLength + offset : hiddenCL
        return changes.filter { $0.causalLength >= held }.map { Self.shifted($0, by: -offset) }
    }

    /// The smallest even number that is at least `value`.
    static func evenCeiling(_ value: Int64) -> Int64 {
        value % 2 == 0 ? value : value + 1
    }

    /// `change` with its causal length moved by `delta` (a sentinel carries it twice),
    /// keeping its parity and never below the first life.
    static func shifted(_ change: Change, by delta: Int64) -> Change {
        guard delta != 0 else { return change }
        var shifted = change
        var length = change.causalLength + delta
        if length < 1 { length = change.causalLength % 2 == 0 ? 2 : 1 }
        shifted.causalLength = length
        if change.column == Change.sentinelColumn { shifted.colVersion = length }
        return shifted
    }
}
