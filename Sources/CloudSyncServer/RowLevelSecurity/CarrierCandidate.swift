/// A row a user's devices hold, offered to carry a device's cursor past changes it may not
/// see (`FilteredPageBuilder.addCarrier`).
struct CarrierCandidate {
    var table: String
    var pk: [UInt8]
    var entry: MirrorEntry
}
