import CloudSyncTestSupport
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
}
