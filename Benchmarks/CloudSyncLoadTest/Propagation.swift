import CloudSyncCore
import CloudSyncNetwork
import Foundation
import Synchronization

/// `--propagation WRITES`: how long a change takes to reach every online device.
///
/// Every device but the first keeps a waiting check open (`cloudsync_network_sync(5000, 1)` in
/// a loop, each on its own thread, as an app would); the first writes one row at a time, syncs,
/// and the time from its commit until the last other device has merged the row is one sample.
/// Returns whether every write reached every device.
func runPropagation(devices: [SimulatedDevice], writes: Int) -> Bool {
    let writer = devices[0]
    let listeners = Array(devices.dropFirst())
    // Arrival times by write number.
    let arrivals = Mutex<[Int: [ContinuousClock.Instant]]>([:])
    let stopping = Mutex(false)
    let failures = Mutex<[String]>([])
    let finished = DispatchGroup()
    for (index, device) in listeners.enumerated() {
        finished.enter()
        let thread = Thread {
            defer { finished.leave() }
            var seen = Set<Int>()
            while !stopping.withLock({ $0 }) {
                do {
                    _ = try device.session.sync(waitMilliseconds: 5000, maxRetries: 1)
                    let now = ContinuousClock.now
                    let ids = try device.context.connection.rows("SELECT substr(id, 3) FROM items WHERE id LIKE 'w-%'")
                        .compactMap { $0[0].stringValue.flatMap { Int($0) } }
                    for id in ids where seen.insert(id).inserted {
                        arrivals.withLock { $0[id, default: []].append(now) }
                    }
                } catch {
                    failures.withLock { $0.append("listener \(index + 1): \(error)") }
                }
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    var samples: [Double] = []
    var lost = 0
    for write in 0..<writes {
        do {
            try writer.context.connection.run("INSERT INTO items(id, owner, title) VALUES (?1, 0, 'propagation')", [.string("w-\(write)")])
            let committed = ContinuousClock.now
            _ = try writer.session.sync()
            let deadline = committed + .seconds(30)
            var last: ContinuousClock.Instant?
            while ContinuousClock.now < deadline {
                if let times = arrivals.withLock({ $0[write] }), times.count == listeners.count {
                    last = times.max()
                    break
                }
                usleep(200)
            }
            if let last { samples.append(milliseconds(last - committed)) } else { lost += 1 }
        } catch {
            failures.withLock { $0.append("writer: \(error)") }
            lost += 1
        }
    }
    stopping.withLock { $0 = true }
    finished.wait()

    samples.sort()
    func percentile(_ p: Double) -> Double { samples.isEmpty ? 0 : samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
    print(String(format: "propagation to %d waiting devices, %d writes: p50 %.1f ms, p99 %.1f ms, max %.1f ms; reached every device: %@",
                 listeners.count, writes, percentile(0.5), percentile(0.99), samples.last ?? 0, lost == 0 ? "yes" : "NO (\(lost) writes)")
    )
    let failed = failures.withLock { $0 }
    if !failed.isEmpty { print("\(failed.count) failed syncs, first: \(failed[0])") }
    return lost == 0 && failed.isEmpty
}

private func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}
