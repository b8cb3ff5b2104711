import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Testing
@testable import CloudSyncNetwork

/// Protocol v2 end to end: a real `cloudsync-server` process (embedded storage, or PostgreSQL),
/// this project's extension devices (libcurl, the SQL functions) syncing over v2 once the
/// server offered it, or kept on protocol v1 (`allowsProtocolV2` off), and
/// protocol-v2 test clients of both generations (`V2TestClient` over libcurl: 1.0.12 by upload
/// URL and legacy checks, 1.1.x inline and chunked) in one database under Row-Level Security,
/// as token users and as the administrator. Random writes (some refused by the policy), random
/// sync order, cursor resets (everything sent and received again); at the end every device
/// holds exactly the rows its user may see.
@Suite("Protocol v2 through the server", .serialized, .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"))
struct ProtocolV2EndToEndTests {
    static let database = "shared.sqlite"
    static let schema = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, user_id TEXT, title TEXT NOT NULL DEFAULT '');"

    /// One device and the protocol it speaks.
    final class Peer {
        let device: Device
        let user: String?
        let v2: V2TestClient?
        /// An extension device kept on protocol v1.
        let pinnedToV1: Bool
        let transport: CurlV2Transport

        init(device: Device, user: String?, v2: V2TestClient?, pinnedToV1: Bool = false) throws {
            self.device = device
            self.user = user
            self.v2 = v2
            self.pinnedToV1 = pinnedToV1
            if pinnedToV1 { NetworkFunctions.session(of: device.context)?.allowsProtocolV2 = false }
            transport = try CurlV2Transport()
        }

        /// One sync; with `settle`, repeated until nothing more comes (the extension and
        /// 1.0.12 receive one page per call).
        func sync(settle: Bool = false) async throws {
            for _ in 0..<1000 {
                let received: Int
                if let v2 {
                    try await v2.send(transport)
                    received = try await v2.receive(transport)
                } else {
                    do {
                        received = Int(try device.sync())
                    } catch let error as CloudSyncError where error.message.contains("the server refused") {
                        // Refused rows are reported as an error after the whole sync ran;
                        // the rows the server sent back came with it: look again.
                        received = 1
                    }
                }
                guard settle, received > 0 else { return }
            }
            throw ServerFailure("still receiving after 1000 syncs")
        }

        func resetCursors() throws {
            if let v2 {
                v2.sendVersion = 0
                v2.checkVersion = 0
                v2.checkSeq = 0
            } else {
                _ = try device.connection.scalar("SELECT cloudsync_network_reset_sync_version()")
            }
        }

        func notes() throws -> [[SQLValue]] { try device.rows("notes") }
    }

    @Test("extension devices and v2 clients converge under Row-Level Security", arguments: [false, true], [1, 2] as [UInt64])
    func converges(postgres: Bool, seed: UInt64) async throws {
        if postgres, !PostgresTestDatabase.isAvailable { try Test.cancel("PostgreSQL is not installed") }
        let database = postgres ? try await PostgresTestDatabase.create() : nil
        do {
            try await run(postgres: database, seed: seed)
        } catch {
            await database?.drop()
            throw error
        }
        await database?.drop()
    }

    private func run(postgres: PostgresTestDatabase?, seed: UInt64) async throws {
        let server = try ServerProcess(postgres: postgres?.url)
        defer { _ = server.stop() }
        let key = try server.createDatabase(Self.database, schema: Self.schema)
        try server.setPolicy(
            database: Self.database, table: "notes", select: "user_id = auth_userid()", insert: "NEW.user_id = auth_userid()",
            update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id", delete: "OLD.user_id = auth_userid()")
        try server.start()

        var peers: [Peer] = []
        for user in ["u0", "u1", nil as String?] {
            let token = try user.map { try server.createToken(database: Self.database, user: $0) }
            func device() throws -> Device {
                let device = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: token == nil ? key : "")
                if let token { try device.connection.run("SELECT cloudsync_network_set_token(?1)", [.string(token)]) }
                return device
            }
            peers.append(try Peer(device: try device(), user: user, v2: nil))
            peers.append(try Peer(device: try device(), user: user, v2: nil, pinnedToV1: true))
            for generation in V2TestClient.Generation.allCases {
                let local = try device()
                peers.append(try Peer(device: local, user: user, v2: try V2TestClient(
                    local.context, generation, address: server.url, database: Self.database, credential: token ?? key)))
            }
        }

        var random = SeededGenerator(seed: seed)
        let users = ["u0", "u1"]
        for step in 0..<80 {
            let peer = peers.randomElement(using: &random)!
            let me = peer.user ?? users.randomElement(using: &random)!
            let other = users.first { $0 != me } ?? "u9"
            let key = "k\(Int.random(in: 0..<6, using: &random))"
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<25: try peer.device.execute("INSERT OR REPLACE INTO notes(id, user_id, title) VALUES ('\(key)', '\(me)', 's\(step)')")
            case 25..<42: try peer.device.execute("UPDATE notes SET title = 's\(step)' WHERE id = '\(key)'")
            case 42..<50: try peer.device.execute("DELETE FROM notes WHERE id = '\(key)'")
            // Refused for users: give a row away, or plant one for someone else.
            case 50..<55: try peer.device.execute("UPDATE notes SET user_id = '\(other)' WHERE id = '\(key)'")
            case 55..<60: try peer.device.execute("INSERT OR IGNORE INTO notes(id, user_id, title) VALUES ('\(key)', '\(other)', 's\(step)')")
            case 60..<65:
                try peer.resetCursors()
                try await peer.sync()
            default: try await peer.sync()
            }
        }
        for _ in 0..<3 {
            for peer in peers.shuffled(using: &random) { try await peer.sync(settle: true) }
        }

        let admin = try peers.first { $0.user == nil && $0.v2 == nil && !$0.pinnedToV1 }!.notes()
        #expect(!admin.isEmpty)
        if postgres == nil {
            let handle = try Device.api.openDatabase(path: server.databaseFile(Self.database).path)
            defer { Device.api.closeDatabase(handle) }
            #expect(try Connection(handle: handle, api: Device.api).rows("SELECT * FROM notes ORDER BY 1") == admin, "the administrator holds the server's rows")
        }
        for peer in peers {
            let expected = peer.user.map { user in admin.filter { $0[1] == .string(user) } } ?? admin
            let kind = peer.v2.map { "v2 \($0.generation.rawValue)" } ?? (peer.pinnedToV1 ? "extension (v1)" : "extension (v2)")
            #expect(try peer.notes() == expected, "\(postgres == nil ? "embedded" : "PostgreSQL"): \(kind) device of \(peer.user ?? "admin")")
            if peer.v2 == nil {
                let remembered = try peer.device.context.protocolVersion()
                #expect(remembered == (peer.pinnedToV1 ? .v1 : .v2), "\(kind) device of \(peer.user ?? "admin") speaks the protocol it should")
            }
        }
    }
}
