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

/// The example's todo table (`cloudsync-example schema`): its notes merge line by line.
let exampleTodoSchema = "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, notes TEXT NOT NULL DEFAULT '');"

/// Creates the example's server database as its help says (the table, `notes` in block mode)
/// and returns an API key for it.
func createExampleDatabase(_ server: ServerProcess, schema: String = exampleTodoSchema) throws -> String {
    let key = try server.createDatabase("todo.sqlite", schema: schema)
    _ = try server.admin(["column", "set", "--database", "todo.sqlite", "--table", "todo", "--column", "notes", "--algo", "block"])
    return key
}

/// The example executable, run as a user would: `cloudsync-example demo` against a real server.
@Suite(.serialized, .enabled(if: ServerProcess.isAvailable && exampleExecutable != nil, "cloudsync-server or cloudsync-example is not built"))
struct ExampleTests {

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runExample(try #require(exampleExecutable), arguments)
    }

    @Test func schemaCreatesTheServerDatabaseAndTheDemoConverges() throws {
        let schema = try run(["schema"])
        #expect(schema.status == 0)
        #expect(schema.output.trimmingCharacters(in: .whitespacesAndNewlines) == exampleTodoSchema)

        let server = try ServerProcess()
        let key = try createExampleDatabase(server, schema: schema.output)
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

    /// Two example devices edit different lines of one todo's notes offline (`notes ID --line N
    /// --set TEXT`), sync through the server, and both keep both lines; `list` shows them.
    @Test func notesOfATodoMergeLineByLine() throws {
        let server = try ServerProcess()
        let key = try createExampleDatabase(server)
        try server.start()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let phone = ["--db", directory.path("phone.sqlite")], laptop = ["--db", directory.path("laptop.sqlite")]
        let remote = ["--server", server.url, "--apikey", key]
        let added = try run(["add", "plan the trip", "--notes", "flights\nhotel\ncar"] + phone + remote)
        #expect(added.status == 0, "\(added.output)")
        let id = try #require(added.output.split(separator: "\n").first?.split(separator: " ").last.map(String.init))
        #expect(try run(["sync"] + laptop + remote).status == 0)
        #expect(try run(["notes", id] + laptop).output == "flights\nhotel\ncar\n")

        // Offline: each device changes another line; a line past the end is refused.
        #expect(try run(["notes", id, "--line", "1", "--set", "flights booked"] + phone).status == 0)
        #expect(try run(["notes", id, "--line", "3", "--set", "car: none, train"] + laptop).status == 0)
        #expect(try run(["notes", id, "--line", "9", "--set", "x"] + laptop).status != 0)
        for arguments in [phone, laptop, phone] {
            let sync = try run(["sync"] + arguments + remote)
            #expect(sync.status == 0, "\(sync.output)")
        }
        let merged = "flights booked\nhotel\ncar: none, train\n"
        #expect(try run(["notes", id] + phone).output == merged)
        #expect(try run(["notes", id] + laptop).output == merged)
        #expect(try run(["list"] + laptop).output.contains("      | flights booked\n      | hotel\n      | car: none, train"))
    }

    /// `watch` on one device shows a todo another device adds, through the live channel.
    @Test func watchShowsAnotherDevicesTodoWithinASecond() async throws {
        let server = try ServerProcess()
        let key = try createExampleDatabase(server)
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
