import CloudSyncCore
import Testing
@testable import CloudSyncNetwork

/// Upload pages end on whole db_versions (protocol v2 announces each page's versions as a
/// window): a page passes `maxChanges` to finish its last version, and never more.
@Suite("Upload pages")
struct UploadPageTests {
    static let schema = EndToEndSyncTests.schema

    func device() throws -> Device {
        try Device(schema: Self.schema, server: "http://127.0.0.1:1", database: "todo.sqlite", apiKey: "k")
    }

    /// The local changes after `cursor`, as (db_version, seq).
    func changes(_ device: Device, after cursor: SyncCursor = .start) throws -> [SyncCursor] {
        try device.context.changes(where: [.site(try device.context.siteID(), equal: true), .after(dbVersion: cursor.dbVersion, seq: cursor.seq)])
            .map { SyncCursor(dbVersion: $0.dbVersion, seq: $0.seq) }
    }

    @Test func aPageFinishesItsLastVersion() throws {
        let device = try device()
        try device.execute("BEGIN; INSERT INTO todo(id, title) VALUES ('1', 'a'), ('2', 'b'), ('3', 'c'); COMMIT")
        try device.execute("INSERT INTO todo(id, title) VALUES ('4', 'd')")
        let all = try changes(device)
        let first = try #require(all.first).dbVersion
        let firstVersion = all.filter { $0.dbVersion == first }
        #expect(firstVersion.count > 2, "one transaction: one version of several changes")

        let page = try #require(try device.context.uploadPage(after: .start, maxChanges: 2))
        #expect(page.count == firstVersion.count && page.last == firstVersion.last, "the whole first version, not 2 changes")
        let rest = try #require(try device.context.uploadPage(after: page.last, maxChanges: 2))
        #expect(rest.count == all.count - firstVersion.count && rest.last == all.last)
        #expect(try device.context.uploadPage(after: rest.last, maxChanges: 2) == nil)

        // Under the bound a page is cut between versions as before.
        let both = try #require(try device.context.uploadPage(after: .start, maxChanges: 100))
        #expect(both.count == all.count)

        // A cursor inside a version (left by an older client's page) resumes there.
        let inside = firstVersion[0]
        let resumed = try #require(try device.context.uploadPage(after: inside, maxChanges: 1))
        #expect(resumed.count == firstVersion.count - 1 && resumed.last == firstVersion.last)
    }
}
