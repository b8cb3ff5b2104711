import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Testing

@testable import CloudSyncServer

/// Randomized convergence under Row-Level Security: several users with two devices each and
/// an administrator write at random (including writes the policy refuses and key collisions
/// between users), sync in random order, re-send uploads and re-apply downloads; afterwards
/// every device holds exactly the server's rows its user may see, and a user's devices agree.
///
/// `scripts/soak N` runs N more seeds on each backend.
@Suite("Row-Level Security convergence")
struct RowLevelSecurityConvergenceTests {
    static var soakSeeds: [UInt64] { Soak.seeds(startingAt: 5000) }

    @Test("users converge to their visible rows", arguments: StorageBackend.allCases, [1, 2, 3, 4, 5, 6] as [UInt64])
    func converges(backend: StorageBackend, seed: UInt64) async throws {
        try await run(backend, seed: seed)
    }

    @Test("soak (scripts/soak)", .enabled(if: !soakSeeds.isEmpty), arguments: StorageBackend.allCases)
    func soak(backend: StorageBackend) async throws {
        for seed in Self.soakSeeds { try await run(backend, seed: seed) }
        try Soak.record("rls-\(backend.rawValue)", seeds: Self.soakSeeds.count)
    }

    func run(_ backend: StorageBackend, seed: UInt64, steps: Int = 160) async throws {
        var random = SeededGenerator(seed: seed)
        try await withRLSStorage(backend) { data in
            // On PostgreSQL, two storage instances (as two servers would be), picked at random.
            let second = backend == .postgres ? try await data.openAnother() : nil
            let instances = [data.storage] + (second.map { [$0] } ?? [])
            do {
                try await play(instances, data: data, backend: backend, seed: seed, steps: steps, random: &random)
            } catch {
                await second?.close()
                throw error
            }
            await second?.close()
        }
    }

    private func play(_ instances: [any SyncStorage], data: TestStorage, backend: StorageBackend, seed: UInt64, steps: Int, random: inout SeededGenerator) async throws {
        try await instances[0].setPolicy(RowLevelSecurityTests.personal, database: "shared")
        let users = ["u0", "u1", "u2"]
        var devices: [RLSDevice] = []
        for user in users {
            devices.append(try RLSDevice(claims(user)))
            devices.append(try RLSDevice(claims(user)))
        }
        let admin = try RLSDevice(.administrator)
        devices.append(admin)
        let keys = (0..<8).map { "k\($0)" }
        var uploads: [(RLSDevice, [UInt8])] = []

        for step in 0..<steps {
            let storage = instances.randomElement(using: &random)!
            let device = devices.randomElement(using: &random)!
            let me = device.principal.claims?.userID ?? users.randomElement(using: &random)!
            let other = users.filter { $0 != me }.randomElement(using: &random)!
            let key = keys.randomElement(using: &random)!
            let title = "s\(seed)-\(step)"
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<25:
                // Insert, or revive, one of the user's rows (other users may hold the key).
                try device.execute("INSERT OR REPLACE INTO tasks(id, user_id, title) VALUES ('\(key)', '\(me)', '\(title)')")
            case 25..<45:
                try device.execute("UPDATE tasks SET title = '\(title)' WHERE id = '\(key)'")
            case 45..<55:
                try device.execute("DELETE FROM tasks WHERE id = '\(key)'")
            case 55..<62:
                // Refused for users: give a row away, or plant one for someone else.
                try device.execute("UPDATE tasks SET user_id = '\(other)' WHERE id = '\(key)'")
            case 62..<67:
                try device.execute("INSERT OR IGNORE INTO tasks(id, user_id, title) VALUES ('\(key)', '\(other)', '\(title)')")
            case 67..<72:
                // Re-send an upload already merged (a retry after a lost answer).
                if let (sender, payload) = uploads.randomElement(using: &random) {
                    _ = try await storage.merge(database: "shared", site: sender.site, payload: payload, as: sender.principal)
                }
            case 72..<77:
                // Download again from the start: every change arrives a second time.
                device.device.checkCursor = .start
                try await device.receive(storage)
            default:
                if let upload = try device.device.pendingUpload() { uploads.append((device, upload.payload)) }
                try await device.sync(storage)
            }
        }

        for _ in 0..<3 {
            for device in devices.shuffled(using: &random) { try await device.sync(instances.randomElement(using: &random)!) }
        }
        let server = try await serverTasks(data)
        #expect(try admin.tasks() == server, "\(backend), seed \(seed): administrator")
        for device in devices where device !== admin {
            let user = device.principal.claims!.userID
            #expect(try device.tasks() == server.filter { $0[1] == .string(user) }, "\(backend), seed \(seed): device of \(user)")
        }
    }
}
