import CloudSyncCore
import Testing

@testable import CloudSyncServer

/// Which write policy checks a merged protected row, from the row before and after the merge
/// (shared by both storages' mergers).
@Suite("Row images")
struct RowImagesTests {
    let old: [SQLValue] = [.string("t1"), .string("alice")]
    let new: [SQLValue] = [.string("t1"), .string("bob")]

    @Test("a row that did not exist and does is an insert: bare and NEW are the new row")
    func insert() throws {
        let images = try #require(RowImages(before: nil, after: new))
        #expect(images.operation == .insert)
        #expect(images.bare == new && images.new == new && images.old == nil)
    }

    @Test("a row that existed and still does is an update: bare is NEW, OLD is the old row")
    func update() throws {
        let images = try #require(RowImages(before: old, after: new))
        #expect(images.operation == .update)
        #expect(images.bare == new && images.new == new && images.old == old)
    }

    @Test("a row that existed and no longer does is a delete: bare and OLD are the old row")
    func delete() throws {
        let images = try #require(RowImages(before: old, after: nil))
        #expect(images.operation == .delete)
        #expect(images.bare == old && images.new == nil && images.old == old)
    }

    @Test("a row that exists neither before nor after has nothing to check")
    func neither() {
        #expect(RowImages(before: nil, after: nil) == nil)
    }
}
