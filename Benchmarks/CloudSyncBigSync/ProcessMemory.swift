import Foundation

/// Peak resident memory of a process (Linux: `VmHWM` in /proc/PID/status), and its reset.
enum ProcessMemory {
    /// The peak resident set of `pid` ("self" for this process), in bytes; 0 when unknown.
    static func peak(_ pid: String = "self") -> Int { field("VmHWM", pid) }

    /// Starts a new peak at the current resident set (`clear_refs` 5), so that one phase of a
    /// long-lived process (the server) is measured on its own.
    static func resetPeak(_ pid: String) {
        try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
    }

    private static func field(_ name: String, _ pid: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return 0
    }

    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
