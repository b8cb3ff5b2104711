import CloudSyncCore
import Testing
@testable import CloudSyncNetwork

/// Upload pages end on whole db_versions (protocol v2 announces each page's versions as a
/// window): a page passes `maxChanges` to finish its last version, and never more, unless the
/// version does not fit in the page's byte bound.
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

    /// A transaction larger than the byte bound could never be sent whole (the server's body
    /// limit): its pages are cut inside it, each within the bound, and together carry all of it.
    @Test func aVersionOverTheByteBoundIsCutInsideIt() throws {
        let device = try device()
        let big = String(repeating: "x", count: 4_000)
        let values = (1...40).map { "('\($0)', '\(big)\($0)')" }.joined(separator: ", ")
        try device.execute("BEGIN; INSERT INTO todo(id, title) VALUES \(values); COMMIT")
        let all = try changes(device)
        #expect(Set(all.map(\.dbVersion)).count == 1, "one transaction: one version")

        var cursor = SyncCursor.start
        var pages = 0
        var sent = 0
        while let page = try device.context.uploadPage(after: cursor, maxChanges: 1_000, maxBytes: 32_000) {
            // The bound stops taking changes once reached: one change may pass it.
            #expect(page.payload.count < 32_000 + 8_000)
            #expect(page.count < all.count)
            sent += page.count
            cursor = page.last
            pages += 1
        }
        #expect(pages > 1)
        #expect(sent == all.count)
        #expect(cursor == all.last)
    }
}
