import Foundation

/// The extra seeds of a convergence soak (`scripts/soak N`), and the report that lets the script
/// check that every soak really ran them: a filter that matched nothing, or a test skipped by a
/// renamed condition, must fail the soak rather than pass it with no seed.
public enum Soak {
    /// How many extra seeds to run; unset or 0 outside a soak.
    public static let seedsKey = "CLOUDSYNC_SOAK_SEEDS"
    /// A file each soak appends `NAME SEEDS` to once all its seeds converged.
    public static let reportKey = "CLOUDSYNC_SOAK_REPORT"

    /// The soak's seeds, starting at `first` (each suite its own range, so suites never replay
    /// the fixed seeds of the normal run).
    public static func seeds(startingAt first: UInt64) -> [UInt64] {
        let count = UInt64(ProcessInfo.processInfo.environment[seedsKey] ?? "0") ?? 0
        return count == 0 ? [] : Array(first..<(first + count))
    }

    /// Records that soak `name` ran `seeds` seeds to convergence.
    public static func record(_ name: String, seeds: Int) throws {
        guard let path = ProcessInfo.processInfo.environment[reportKey], !path.isEmpty else { return }
        // O_APPEND: suites run in parallel, and one short write per suite stays whole.
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(descriptor) }
        let line = Array("\(name) \(seeds)\n".utf8)
        guard write(descriptor, line, line.count) == line.count else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
