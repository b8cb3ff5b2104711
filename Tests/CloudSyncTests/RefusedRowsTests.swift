import CloudSyncTestSupport
import CloudSync
import Foundation
import GRDB
import Testing

/// Rows the server's Row-Level Security refuses, end to end: a token user whose policy refuses
/// one of two new todos, against a real `cloudsync-server`.
@Suite(.serialized, .enabled(if: ServerProcess.isAvailable, "cloudsync-server is not built"), .timeLimit(.minutes(2)))
struct RefusedRowsTests {
    /// A server whose todo policy refuses inserting a todo titled "not allowed", and a token.
    /// `example`: the example app's todo table, notes in block mode (`createExampleDatabase`).
    func startPolicyServer(example: Bool = false) throws -> (server: ServerProcess, endpoint: String, token: String) {
        let server = try ServerProcess()
        if example {
            _ = try createExampleDatabase(server)
        } else {
            _ = try server.createDatabase("todo.sqlite", schema: todoSchema)
        }
        try server.setPolicy(database: "todo.sqlite", table: "todo", select: "1 = 1", insert: "NEW.title <> 'not allowed'", update: "1 = 1", delete: "1 = 1")
        let token = try server.createToken(database: "todo.sqlite", user: "alice")
        try server.start()
        return (server, "\(server.url)/todo.sqlite", token)
    }

    @Test(arguments: Transport.allCases) func swiftAPIReportsRefusedRowsPerTableInTheResultAndAsAnEvent(over transport: Transport) async throws {
        let (server, endpoint, token) = try startPolicyServer()
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let queue = try makeQueue(directory)
        let client = try SyncClient(database: queue, endpoint: endpoint, credential: .token(token), over: transport)
        let log = EventLog(client)

        try await insert(queue, id: "1", title: "allowed")
        try await insert(queue, id: "2", title: "not allowed")
        let result = try await client.sync()
        #expect(result.sent > 0)
        #expect(result.refusedRows == ["todo": 1])
        #expect(result.deniedRows.isEmpty, "nothing was refused locally")
        // The server's version of the refused row (none) came back: the device agrees with it.
        #expect(try await todos(queue) == [Todo(id: "1", title: "allowed", done: false)])
        #expect(try await queue.read { db in try db.hasUnsentChanges } == false)

        #expect(await log.wait { $0.contains(.refused(rows: ["todo": 1])) })
        let events = log.all
        let sent = try #require(events.firstIndex { if case .sent = $0 { true } else { false } })
        let refused = try #require(events.firstIndex(of: .refused(rows: ["todo": 1])))
        #expect(sent < refused)
        #expect(events.contains { $0.completedResult?.refusedRows == ["todo": 1] })

        // Another device with the same token sees only the accepted row.
        let other = try makePool(directory)
        let received = try await SyncClient(database: other, endpoint: endpoint, credential: .token(token), over: transport).sync()
        #expect(received.refusedRows.isEmpty)
        #expect(try await todos(other) == [Todo(id: "1", title: "allowed", done: false)])

        // Nothing refused later: the next result says so.
        try await insert(queue, id: "3", title: "also allowed")
        #expect(try await client.sync().refusedRows.isEmpty)
    }

    @Test func exampleSyncPrintsHowManyRowsTheServerRefusedAndInWhichTable() async throws {
        let executable = try #require(exampleExecutable, "cloudsync-example is not built")
        let (server, _, token) = try startPolicyServer(example: true)
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let db = directory.path("cli.sqlite")
        for title in ["allowed", "not allowed"] {
            #expect(try runExample(executable, ["add", title, "--db", db]).status == 0)
        }
        let sync = try runExample(executable, ["sync", "--db", db, "--server", server.url, "--token", token])
        #expect(sync.status == 0, "\(sync.output)")
        #expect(sync.output.contains("refused by the server: 1 row of table todo"), "\(sync.output)")
        let list = try runExample(executable, ["list", "--db", db]).output
        #expect(list.contains("allowed") && !list.contains("not allowed"), "\(list)")
    }
}

/// Runs the example executable; (exit status, stdout and stderr).
func runExample(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
