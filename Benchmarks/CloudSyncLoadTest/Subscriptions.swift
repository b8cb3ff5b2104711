import CloudSyncCore
import CloudSyncNetwork
import CloudSyncTestSupport
import Foundation

/// `--subscriptions N`: N idle devices subscribed to one server (change subscriptions, one
/// connection each, all on NIO's event loops rather than a thread each). Reports the server's
/// resident memory per subscription, from /proc/PID/status before and after they open, then
/// `writes` times: one device writes one row and syncs, and the time from its commit until the
/// last subscriber received its `changes` event. Returns whether every subscriber was told of
/// every write.
func runSubscriptions(count: Int, writes: Int, server: String, serverPID: Int32?, database: String, apiKey: String, writer: SimulatedDevice) async -> Bool {
    guard let url = URLComponents(string: server), let port = url.port else {
        print("cannot read the port of \(server)")
        return false
    }
    let host = url.host ?? "127.0.0.1"
    // A first sync loads the database on the server, so that what follows measures subscriptions.
    do { _ = try writer.sync() } catch {
        print("first sync failed: \(error)")
        return false
    }
    let before = serverPID.flatMap(residentKilobytes)

    // Arrival times by write number (1...writes).
    let arrivals = Locked<[Int: [ContinuousClock.Instant]]>([:])
    var streams: [EventStreamConnection] = []
    streams.reserveCapacity(count)
    let opening = ContinuousClock.now
    let batch = 250
    do {
        for first in stride(from: 0, to: count, by: batch) {
            let opened = try await withThrowingTaskGroup(of: EventStreamConnection.self) { group in
                for _ in first..<min(count, first + batch) {
                    let site = Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
                    group.addTask {
                        try await EventStreamConnection.open(
                            host: host, port: port, path: "/v1/cloudsync/\(database)/\(site)/0/0/subscribe",
                            headers: [("Authorization", "Bearer \(apiKey)")])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            if let refused = opened.first(where: { $0.status != 200 }) {
                print("subscription refused: \(refused.status)")
                return false
            }
            streams += opened
        }
    } catch {
        print("opening subscriptions failed after \(streams.count): \(error)")
        return false
    }
    // Every stream has its first comment: the server holds them all.
    while streams.contains(where: { $0.comments == 0 }) { try? await Task.sleep(for: .milliseconds(50)) }
    let openedIn = opening.duration(to: .now)
    // Let the server's allocator settle before reading its memory.
    try? await Task.sleep(for: .seconds(2))
    let after = serverPID.flatMap(residentKilobytes)

    let open = streams
    let listeners = Task {
        await withTaskGroup(of: Void.self) { group in
            for stream in open {
                group.addTask {
                    var told = 0
                    for await event in stream.events where event.type == ChangeSubscription.changesEvent {
                        told += 1
                        let now = ContinuousClock.now
                        arrivals.withLock { $0[told, default: []].append(now) }
                        if told == writes { return }
                    }
                }
            }
        }
    }
    var samples: [(median: Double, last: Double, told: Int)] = []
    for write in 1...writes {
        do {
            try writer.context.connection.run("INSERT INTO items(id, owner, title) VALUES (?1, 0, 'pushed')", [.string("s-\(write)")])
            let committed = ContinuousClock.now
            _ = try writer.sync()
            let deadline = ContinuousClock.now + .seconds(60)
            while arrivals.withLock({ $0[write]?.count ?? 0 }) < count, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(5))
            }
            let times = arrivals.withLock { $0[write] ?? [] }.map { milliseconds(committed.duration(to: $0)) }.sorted()
            samples.append((times.isEmpty ? 0 : times[times.count / 2], times.last ?? 0, times.count))
        } catch {
            print("write \(write) failed: \(error)")
            return false
        }
    }
    listeners.cancel()
    for stream in streams { stream.close() }

    print(String(format: "%d subscriptions opened in %.2f s", count, milliseconds(openedIn) / 1000))
    if let before, let after {
        print(String(format: "server resident memory: %.1f MiB before, %.1f MiB with them open: %.1f KiB per subscription",
                     Double(before) / 1024, Double(after) / 1024, Double(after - before) / Double(count)))
    }
    if samples.count <= 10 {
        for (index, sample) in samples.enumerated() {
            print(String(format: "write %d: %d of %d subscribers told; commit to median %.1f ms, to last %.1f ms", index + 1, sample.told, count, sample.median, sample.last))
        }
    }
    let lasts = samples.map(\.last).sorted()
    func percentile(_ p: Double) -> Double { lasts[min(lasts.count - 1, Int(Double(lasts.count) * p))] }
    print(String(format: "commit to last subscriber told, %d writes: p50 %.1f ms, p99 %.1f ms, max %.1f ms; every subscriber told of every write: %@",
                 lasts.count, percentile(0.5), percentile(0.99), lasts.last ?? 0, samples.allSatisfy { $0.told == count } ? "yes" : "NO"))
    return samples.allSatisfy { $0.told == count }
}

/// VmRSS of process `pid` in KiB (Linux).
private func residentKilobytes(_ pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
}

private func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}
