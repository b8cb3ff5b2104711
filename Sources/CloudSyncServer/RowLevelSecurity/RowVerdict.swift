/// The outcome of one protected row of a token user's upload (`ProtectedRowMerger`).
enum RowVerdict: Equatable {
    /// Merged; `failedRows` as the engine reported them.
    case allowed(failedRows: [String])
    /// Put back as it was. `checked`: a write policy said no (reported to the device);
    /// otherwise the row exists neither before nor after.
    case refused(checked: Bool)
}
