import CloudSyncCore
import Testing

@testable import CloudSyncServer

/// Protocol-v2 send windows in both storages: kept per database and site, and recorded
/// without lost updates when several server instances record windows of one site at once.
@Suite("Send windows in storage")
struct SendWindowStorageTests {
    @Test("windows of one site recorded concurrently by two instances all count", arguments: StorageBackend.allCases)
    func concurrentInstances(backend: StorageBackend) async throws {
        try await withStorage(backend) { data in
            try await data.storage.createDatabase(name: "a.sqlite", schema: todoSchema, tables: nil)
            try await data.storage.createDatabase(name: "b.sqlite", schema: todoSchema, tables: nil)
            let site = try #require(SiteID(hex: "0123456789abcdef0123456789abcdef"))
            let other = try #require(SiteID(hex: "fedcba9876543210fedcba9876543210"))
            try await data.withAnotherStorage { second in
                let instances = [data.storage, second]
                // Out of order and concurrent: the prefix is whole only once every window is in.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for version in Int64(1)...40 {
                        let storage = instances[Int(version % 2)]
                        group.addTask { _ = try await storage.recordSendWindow(database: "a.sqlite", site: site, window: version...version) }
                    }
                    try await group.waitForAll()
                }
                for storage in instances {
                    #expect(try await storage.sendCursor(database: "a.sqlite", site: site) == 40)
                    #expect(try await storage.sendCursor(database: "b.sqlite", site: site) == 0, "per database")
                    #expect(try await storage.sendCursor(database: "a.sqlite", site: other) == 0, "per site")
                }
                #expect(try await second.recordSendWindow(database: "a.sqlite", site: site, window: 42...50) == 40)
                #expect(try await data.storage.recordSendWindow(database: "a.sqlite", site: site, window: 41...41) == 50)
            }
        }
    }
}
