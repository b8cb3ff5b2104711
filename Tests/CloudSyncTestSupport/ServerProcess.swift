import Foundation
import Testing

/// A real `cloudsync-server` process on loopback, with its own data directory, for end-to-end
/// tests, shared by the test targets.
///
/// The executable: `$CLOUDSYNC_SERVER_BIN`, else the `cloudsync-server` next to the running
/// test binary (the same build, whatever its scratch path), else `.build/debug/cloudsync-server`,
/// else `.build-api/debug/cloudsync-server`.
public final class ServerProcess: @unchecked Sendable {
    public static let executable: URL? = {
        if let path = ProcessInfo.processInfo.environment["CLOUDSYNC_SERVER_BIN"] {
            return URL(fileURLWithPath: path)
        }
        if let sibling = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("cloudsync-server"),
           FileManager.default.isExecutableFile(atPath: sibling.path) {
            return sibling
        }
        // Tests/CloudSyncTestSupport/ServerProcess.swift -> package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for scratch in [".build", ".build-api"] {
            let candidate = root.appendingPathComponent("\(scratch)/debug/cloudsync-server")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }()

    public static var isAvailable: Bool { executable.map { FileManager.default.isExecutableFile(atPath: $0.path) } ?? false }

    public let dataDirectory: URL
    public private(set) var port = 0
    private var process: Process?
    private var output = Pipe()

    /// Where the server keeps its data: `--data DIR`, or `--postgres URL`.
    public let storageArguments: [String]
    /// More arguments of `serve` (e.g. `--no-subscriptions`), at every start.
    public var serveArguments: [String] = []

    /// A server on a fresh data directory, or, with `postgres`, on that PostgreSQL (several
    /// `ServerProcess`es with the same URL are instances of one server).
    public init(postgres: String? = nil) throws {
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        storageArguments = postgres.map { ["--postgres", $0] } ?? ["--data", dataDirectory.path]
    }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    /// Runs an administrative subcommand and returns its standard output.
    @discardableResult
    public func admin(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments + storageArguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ServerFailure("cloudsync-server \(arguments.joined(separator: " ")) failed: \(String(decoding: stderr, as: UTF8.self))")
        }
        return String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates database `name` with `schema` and returns a new API key for it.
    public func createDatabase(_ name: String, schema: String) throws -> String {
        let file = dataDirectory.appendingPathComponent("\(name).schema.sql")
        try schema.write(to: file, atomically: true, encoding: .utf8)
        try admin(["database", "create", name, "--schema", file.path])
        return try admin(["apikey", "create", "--database", name])
    }

    /// `token create`: a new access token for `user` on `database`, as the CLI prints it.
    public func createToken(database: String, user: String, name: String? = nil, attributes: String? = nil, expires: Int? = nil) throws -> String {
        var arguments = ["token", "create", "--database", database, "--user", user]
        if let name { arguments += ["--name", name] }
        if let attributes { arguments += ["--attributes", attributes] }
        if let expires { arguments += ["--expires", String(expires)] }
        return try admin(arguments)
    }

    /// `token revoke TOKEN`.
    public func revokeToken(_ token: String) throws {
        try admin(["token", "revoke", token])
    }

    /// `policy set`: enables Row-Level Security on `table` with these expressions (nil: no
    /// option, i.e. that operation is denied to token users).
    public func setPolicy(database: String, table: String, select: String? = nil, insert: String? = nil, update: String? = nil, delete: String? = nil) throws {
        var arguments = ["policy", "set", "--database", database, "--table", table]
        for (option, expression) in [("--select", select), ("--insert", insert), ("--update", update), ("--delete", delete)] {
            if let expression { arguments += [option, expression] }
        }
        try admin(arguments)
    }

    /// The server's file of managed database `name`.
    public func databaseFile(_ name: String) -> URL {
        databasesDirectory.appendingPathComponent(name)
    }

    /// Starts serving (again, on the same port after a restart) and waits until it listens.
    public func start() throws {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["serve", "--port", String(port)] + serveArguments + storageArguments
        output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        let handle = output.fileHandleForReading
        var seen = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty { if !process.isRunning { break } else { continue } }
            seen += String(decoding: chunk, as: UTF8.self)
            if let range = seen.range(of: #"listening on http://[0-9.]+:(\d+)"#, options: .regularExpression) {
                let match = String(seen[range])
                port = Int(match.split(separator: ":").last!)!
                // Keep draining the log so the server never blocks on a full pipe.
                handle.readabilityHandler = { _ = $0.availableData }
                return
            }
        }
        throw ServerFailure("cloudsync-server did not start: \(seen)")
    }

    /// Stops the server: SIGTERM waits for a graceful shutdown, SIGKILL simulates a crash.
    /// Returns the process's exit status (nil if it was not running).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) -> Int32? {
        guard let process, process.isRunning else { return nil }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        self.process = nil
        return process.terminationStatus
    }

    /// The server's copy of its managed databases, readable with plain SQL.
    public var databasesDirectory: URL { dataDirectory.appendingPathComponent("databases") }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// The serving process's id while it runs (benchmarks read its memory in /proc).
    public var processIdentifier: Int32? { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }
}

public struct ServerFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
