import Foundation

#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// `scripts/postgres`, run with `posix_spawn` and `waitpid` rather than Foundation's
/// `Process`, whose exit detection can stall when the concurrency pool is busy, and which is
/// not safe to use from an exit handler.
enum PostgresScript {
    /// `scripts/postgres`, from this file's place in the package.
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres").path

    /// Runs `bash scripts/postgres arguments`, standard output and error appended to `log`;
    /// returns its exit status (-1 if it could not be started or was killed). Blocks the
    /// calling thread until it exits.
    static func run(_ arguments: [String], log: String) -> Int32 {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        let environment = _NSGetEnviron().pointee
        #else
        var actions = posix_spawn_file_actions_t()
        let environment = environ
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = (["/bin/bash", path] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        guard posix_spawn(&pid, "/bin/bash", &actions, nil, argv + [nil], environment) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return -1 }
        }
        // WIFEXITED / WEXITSTATUS
        return status & 0x7f == 0 ? (status >> 8) & 0xff : -1
    }

    /// Whether PostgreSQL's `initdb` is where `scripts/postgres` looks for it: `$PG_BIN`, the
    /// `PATH`, `/usr/lib/postgresql/*/bin`.
    static var isInstalled: Bool {
        let environment = ProcessInfo.processInfo.environment
        var directories = [environment["PG_BIN"]].compactMap { $0 }
        directories += (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        directories += versions.map { "/usr/lib/postgresql/\($0)/bin" }
        return directories.contains { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }
}
