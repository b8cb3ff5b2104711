/// An operation a table policy governs.
enum PolicyOperation: String, CaseIterable, Sendable {
    case select, insert, update, delete

    /// The operations an upload is checked against.
    static let writes: [PolicyOperation] = [.insert, .update, .delete]
}

extension TablePolicy {
    func expression(for operation: PolicyOperation) -> String? {
        switch operation {
        case .select: select
        case .insert: insert
        case .update: update
        case .delete: delete
        }
    }
}
