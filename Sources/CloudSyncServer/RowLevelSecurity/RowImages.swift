import CloudSyncCore

/// What a merge did to a protected row, as the write policy that must allow it sees it: the
/// row before and after (values in the table's column order) and the operation that names.
struct RowImages: Equatable {
    var operation: PolicyOperation
    /// The row a bare column name reads: NEW for insert and update, OLD for delete.
    var bare: [SQLValue]
    var new: [SQLValue]?
    var old: [SQLValue]?

    /// Insert (it did not exist), update (it existed and still does), delete (it existed and
    /// no longer does); nil for a row that exists neither before nor after, which changes no
    /// data and is refused without a check.
    init?(before: [SQLValue]?, after: [SQLValue]?) {
        switch (before, after) {
        case (nil, nil):
            return nil
        case (nil, let after?):
            operation = .insert
            bare = after
            new = after
        case (let before?, let after?):
            operation = .update
            bare = after
            new = after
            old = before
        case (let before?, nil):
            operation = .delete
            bare = before
            old = before
        }
    }
}
