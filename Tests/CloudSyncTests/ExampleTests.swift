import CloudSyncTestSupport
import CloudSyncCore
import Foundation
import Testing

/// `$CLOUDSYNC_EXAMPLE_BIN`, else `cloudsync-example` next to the server binary.
let exampleExecutable: URL? = {
    if let path = ProcessInfo.processInfo.environment["CLOUDSYNC_EXAMPLE_BIN"] { return URL(fileURLWithPath: path) }
    guard let server = ServerProcess.executable else { return nil }
    let candidate = server.deletingLastPathComponent().appendingPathComponent("cloudsync-example")
    return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
}()

/// The example executable, run as a user would: `cloudsync-example demo` against a real server.
@Suite(.serialized, .enabled(if: ServerProcess.isAvailable && exampleExecutable != nil, "cloudsync-server or cloudsync-example is not built"))
struct ExampleTests {

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runExample(try #require(exampleExecutable), arguments)
    }

    @Test func schemaCreatesTheServerDatabaseAndTheDemoConverges() throws {
        let schema = try run(["schema"])
        #expect(schema.status == 0)
        #expect(schema.output.trimmingCharacters(in: .whitespacesAndNewlines) == todoSchema)

        let server = try ServerProcess()
        let key = try server.createDatabase("todo.sqlite", schema: schema.output)
        try server.start()
        defer { server.stop() }
        let demo = try run(["demo", "--server", server.url, "--apikey", key])
        #expect(demo.status == 0, "\(demo.output)")
        #expect(demo.output.contains("converged: both devices have the same 3 todos"))
        #expect(demo.output.contains("[x] buy oat milk"))

        // Subcommands on a database file: add, list, done, sync.
        let directory = try TemporaryDirectory()
        let db = directory.path("cli.sqlite")
        let added = try run(["add", "from the CLI", "--db", db])
        #expect(added.status == 0)
        let id = try #require(added.output.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(try run(["done", String(id.prefix(20)), "--db", db]).status == 0)
        #expect(try run(["list", "--db", db]).output.contains("[x] from the CLI"))
        let sync = try run(["sync", "--db", db, "--server", server.url, "--apikey", key])
        #expect(sync.status == 0, "\(sync.output)")
        #expect(sync.output.contains("received"))
        let refused = try run(["sync", "--db", db, "--server", server.url, "--apikey", "csk_wrong"])
        #expect(refused.status == 1)
        #expect(refused.output.contains("[unauthorized]"))
    }

    /// `watch` on one device shows a todo another device adds, through the live channel.
    @Test func watchShowsAnotherDevicesTodoWithinASecond() async throws {
        let server = try ServerProcess()
        let key = try server.createDatabase("todo.sqlite", schema: todoSchema)
        try server.start()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        guard let executable = exampleExecutable else { return }

        let watch = Process()
        watch.executableURL = executable
        watch.arguments = ["watch", "--db", directory.path("laptop.sqlite"), "--server", server.url, "--apikey", key, "--seconds", "60"]
        let pipe = Pipe()
        watch.standardOutput = pipe
        watch.standardError = pipe
        let output = Locked("")
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = String(decoding: handle.availableData, as: UTF8.self)
            output.withLock { $0 += chunk }
        }
        try watch.run()
        defer {
            watch.interrupt()
            watch.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
        }
        let live = await eventually { output.withLock { $0.contains("channel: live") } }
        #expect(live, "\(output.withLock { $0 })")

        let added = try run(["add", "written on the phone", "--db", directory.path("phone.sqlite"), "--server", server.url, "--apikey", key])
        #expect(added.status == 0, "\(added.output)")
        let start = ContinuousClock.now
        let shown = await eventually { output.withLock { $0.contains("written on the phone") } }
        let elapsed = ContinuousClock.now - start
        #expect(shown, "\(output.withLock { $0 })")
        // "Within a second" when the machine is quiet; loose here because the suite runs in
        // parallel on two cores. Without the live channel it would take the 30 s interval.
        #expect(elapsed < .seconds(10))
    }
}
