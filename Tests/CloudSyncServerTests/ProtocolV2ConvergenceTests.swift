import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import HummingbirdTesting
import Testing

@testable import CloudSyncServer

/// Randomized convergence across protocols: devices speaking protocol v1 (this project's
/// engine, `SyncClient`) and protocol-v2 test clients of both generations (`V2TestClient`:
/// 1.0.12 by URL, 1.1.x inline and chunked) share one database through one server under
/// Row-Level Security, as token users and as the administrator. They write at random
/// (including writes the policy refuses), sync in random order, reset their cursors (every
/// change then arrives again, and uploads are merged again); afterwards every device holds
/// exactly the server's rows its user may see.
///
/// Serialized: each case holds PostgreSQL connections of its own, and a test cluster serves every
/// suite at once.
@Suite("Protocol v2 convergence", .serialized)
struct ProtocolV2ConvergenceTests {
    /// One device and the protocol it speaks.
    final class Peer: @unchecked Sendable {
        let device: RLSDevice
        let user: String?
        let http: HummingbirdV2Transport
        let v1: SyncClient?
        let v2: V2TestClient?

        init(device: RLSDevice, user: String?, http: HummingbirdV2Transport, v1: SyncClient? = nil, v2: V2TestClient? = nil) {
            self.device = device
            self.user = user
            self.http = http
            self.v1 = v1
            self.v2 = v2
        }

        /// One sync call; at the end (`settle`), a 1.0.12 client, which makes one check per
        /// call, is called until nothing more comes, as an app polling it would.
        func sync(settle: Bool = false) async throws {
            if let v2 {
                try await v2.send(http)
                var rows = try await v2.receive(http)
                var calls = 1
                while settle, rows > 0 {
                    guard calls < 1000 else { throw TestFailure("still receiving after 1000 calls") }
                    rows = try await v2.receive(http)
                    calls += 1
                }
            } else if let v1 {
                try await v1.send(device.device)
                _ = try await v1.receiveAll(device.device)
            }
        }

        /// `cloudsync_network_reset_sync_version()`, or a v1 device starting over.
        func resetCursors() {
            if let v2 {
                v2.sendVersion = 0
                v2.checkVersion = 0
                v2.checkSeq = 0
            } else {
                device.device.sendCursor = .start
                device.device.checkCursor = .start
            }
        }
    }

    @Test("v1 devices and v2 clients converge under Row-Level Security", arguments: StorageBackend.allCases, [1, 2, 3] as [UInt64])
    func converges(backend: StorageBackend, seed: UInt64) async throws {
        try await run(backend, seed: seed, pageSize: nil)
    }

    /// Pages of a few changes: v2 pages then pass the limit to end on whole versions, and
    /// streams take many checks.
    @Test("the same with small pages", arguments: StorageBackend.allCases, [4, 5] as [UInt64])
    func smallPages(backend: StorageBackend, seed: UInt64) async throws {
        try await run(backend, seed: seed, pageSize: 4)
    }

    private func run(_ backend: StorageBackend, seed: UInt64, pageSize: Int?) async throws {
        try await ServerFixture.with(backend, { if let pageSize { $0.maxChangesPerPage = pageSize } }) { fixture in
            try await fixture.storage.createDatabase(name: "shared", schema: rlsSchema, tables: nil)
            try await fixture.storage.setPolicy(RowLevelSecurityTests.personal, database: "shared")
            let adminKey = try await fixture.storage.createAPIKey(database: "shared")
            try await fixture.application().test(.router) { client in
                let http = HummingbirdV2Transport(client)
                var random = SeededGenerator(seed: seed)
                var peers: [Peer] = []
                for user in ["u0", "u1", nil as String?] {
                    let credential = if let user { try await fixture.token(for: user, database: "shared") } else { adminKey }
                    let principal: Principal = user.map { claims($0) } ?? .administrator
                    peers.append(Peer(device: try RLSDevice(principal), user: user, http: http, v1: SyncClient(client: client, database: "shared", key: credential)))
                    for generation in V2TestClient.Generation.allCases {
                        let device = try RLSDevice(principal)
                        peers.append(Peer(device: device, user: user, http: http, v2: try V2TestClient(device.device.context, generation, database: "shared", credential: credential)))
                    }
                }
                try await play(peers, seed: seed, random: &random)
                for _ in 0..<3 {
                    for peer in peers.shuffled(using: &random) { try await peer.sync(settle: true) }
                }
                let server = try await serverTasks(fixture.data)
                #expect(!server.isEmpty)
                for peer in peers {
                    let expected = peer.user.map { user in server.filter { $0[1] == .string(user) } } ?? server
                    let kind = peer.v2.map { "v2 \($0.generation.rawValue)" } ?? "v1"
                    #expect(try peer.device.tasks() == expected, "\(backend), seed \(seed): \(kind) device of \(peer.user ?? "admin")")
                }
            }
        }
    }

    private func play(_ peers: [Peer], seed: UInt64, steps: Int = 120, random: inout SeededGenerator) async throws {
        let users = ["u0", "u1"]
        let keys = (0..<8).map { "k\($0)" }
        for step in 0..<steps {
            let peer = peers.randomElement(using: &random)!
            let me = peer.user ?? users.randomElement(using: &random)!
            let other = users.filter { $0 != me }.randomElement(using: &random) ?? "u9"
            let key = keys.randomElement(using: &random)!
            let title = "s\(seed)-\(step)"
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<25:
                try peer.device.execute("INSERT OR REPLACE INTO tasks(id, user_id, title) VALUES ('\(key)', '\(me)', '\(title)')")
            case 25..<45:
                try peer.device.execute("UPDATE tasks SET title = '\(title)' WHERE id = '\(key)'")
            case 45..<53:
                try peer.device.execute("DELETE FROM tasks WHERE id = '\(key)'")
            case 53..<58:
                // Refused for users: give a row away, or plant one for someone else.
                try peer.device.execute("UPDATE tasks SET user_id = '\(other)' WHERE id = '\(key)'")
            case 58..<62:
                try peer.device.execute("INSERT OR IGNORE INTO tasks(id, user_id, title) VALUES ('\(key)', '\(other)', '\(title)')")
            case 62..<68:
                // Everything is sent and received again.
                peer.resetCursors()
                try await peer.sync()
            default:
                try await peer.sync()
            }
        }
    }
}
