import ArgumentParser
import CloudSync
import Dispatch
import Foundation
import GRDB

@main
struct CloudSyncExample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudsync-example",
        abstract: "A small todo app that syncs its GRDB database through a cloudsync-server.",
        discussion: """
            Create the server database first (notes merge line by line: block mode):
              cloudsync-example schema > schema.sql
              cloudsync-server database create todo.sqlite --schema schema.sql
              cloudsync-server column set --database todo.sqlite --table todo --column notes --algo block
              cloudsync-server apikey create --database todo.sqlite
            """,
        subcommands: [Add.self, Done.self, Notes.self, List.self, Sync.self, Watch.self, Schema.self, Demo.self, NotesDemo.self])
}

/// Options shared by the subcommands that open a database or talk to a server.
struct ServerOptions: ParsableArguments {
    @Option(help: "The local database file.")
    var db: String = "todo.sqlite"

    @Option(help: "The server: http(s)://host:port, or a full endpoint http(s)://host:port/DATABASE.")
    var server: String?

    @Option(help: "The server database name, when --server has none.")
    var database: String = "todo.sqlite"

    @Option(help: "An API key.")
    var apikey: String?

    @Option(help: "An access token (instead of --apikey).")
    var token: String?

    var endpoint: String? {
        guard let server else { return nil }
        // A path after the authority names the database already.
        let afterScheme = server.range(of: "://").map { server[$0.upperBound...] } ?? Substring(server)
        if let slash = afterScheme.firstIndex(of: "/"), afterScheme.index(after: slash) < afterScheme.endIndex {
            return server
        }
        return server.hasSuffix("/") ? server + database : server + "/" + database
    }

    var credential: SyncCredential? {
        if let apikey { return .apiKey(apikey) }
        if let token { return .token(token) }
        return nil
    }

    func client(for store: TodoStore) throws -> SyncClient {
        guard let endpoint else { throw ValidationError("this command needs --server URL") }
        guard credential != nil || endpoint.contains("apikey=") || endpoint.contains("token=") else {
            throw ValidationError("this command needs --apikey KEY or --token TOKEN")
        }
        return try SyncClient(database: store.writer, endpoint: endpoint, credential: credential)
    }
}

/// Prints a sync error and exits 1 (no stack traces for expected failures).
@discardableResult
func failing<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as SyncError {
        FileHandle.standardError.write(Data("error: \(error.message) [\(error.code)]\n".utf8))
        throw ExitCode(1)
    }
}

struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Add a todo (then sync, if --server is given).")
    @OptionGroup var connection: ServerOptions
    @Argument(help: "The title.") var title: String
    @Option(help: "Notes, one or more lines (edit a line later with `notes ID --line N --set TEXT`).") var notes: String = ""

    func run() async throws {
        let store = try TodoStore(path: connection.db)
        let todo = try await store.add(title, notes: notes)
        print("added \(todo.id)")
        if connection.server != nil {
            let result = try await failing { try await connection.client(for: store).sync() }
            print("synced: sent \(result.sent), received \(result.received)")
            printRefused(result)
        }
    }
}

struct Done: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mark a todo done (by id or unique id prefix).")
    @OptionGroup var connection: ServerOptions
    @Argument(help: "The todo's id, or a prefix of it.") var id: String

    func run() async throws {
        let store = try TodoStore(path: connection.db)
        guard let todo = try await store.markDone(id) else {
            FileHandle.standardError.write(Data("error: no single todo with id \(id)\n".utf8))
            throw ExitCode(1)
        }
        print("done: \(todo.title)")
        if connection.server != nil {
            try await failing { try await connection.client(for: store).sync() }
        }
    }
}

struct Notes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a todo's notes, or change one line of them (then sync, if --server is given). Edits of different lines on two devices are both kept.")
    @OptionGroup var connection: ServerOptions
    @Argument(help: "The todo's id, or a prefix of it.") var id: String
    @Option(help: "The line to change (1 = first; one past the last appends).") var line: Int?
    @Option(help: "The line's new text (with --line).") var set: String?

    func run() async throws {
        let store = try TodoStore(path: connection.db)
        guard (line == nil) == (set == nil) else { throw ValidationError("--line and --set go together") }
        if let line, let set {
            let text = set
            let changed = try await store.update(id) { todo in
                guard let notes = replacingLine(line, of: todo.notes, with: text) else {
                    let count = todo.notes.isEmpty ? 0 : todo.notes.split(separator: "\n", omittingEmptySubsequences: false).count
                    throw ValidationError("no line \(line): the notes have \(count) line\(count == 1 ? "" : "s") (\(count + 1) appends one)")
                }
                todo.notes = notes
            }
            guard let changed else {
                FileHandle.standardError.write(Data("error: no single todo with id \(id)\n".utf8))
                throw ExitCode(1)
            }
            print(changed.notes)
            if connection.server != nil {
                let result = try await failing { try await connection.client(for: store).sync() }
                print("synced: sent \(result.sent), received \(result.received)")
                printRefused(result)
            }
            return
        }
        let matches = try await store.all().filter { $0.id == id || $0.id.hasPrefix(id) }
        guard matches.count == 1 else {
            FileHandle.standardError.write(Data("error: no single todo with id \(id)\n".utf8))
            throw ExitCode(1)
        }
        print(matches[0].notes)
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the todos.")
    @OptionGroup var connection: ServerOptions

    func run() async throws {
        let store = try TodoStore(path: connection.db)
        print(format(try await store.all()))
        let state = try await store.writer.read { db in try db.syncState }
        if state.hasUnsentChanges { print("(changes not synced yet)") }
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send local changes and receive the server's.")
    @OptionGroup var connection: ServerOptions

    func run() async throws {
        let store = try TodoStore(path: connection.db)
        let result = try await failing { try await connection.client(for: store).sync() }
        print("sent \(result.sent), received \(result.received)")
        printRefused(result)
        for row in result.deniedRows { print("not merged locally: \(row)") }
    }
}

/// Rows the server's policies refused: say so, or the refused edit seems to vanish when the
/// server's version of the row comes back.
func printRefused(_ result: SyncResult) {
    for (table, rows) in result.refusedRows.sorted(by: { $0.key < $1.key }) {
        print("refused by the server: \(rows) row\(rows == 1 ? "" : "s") of table \(table) (row-level security); the server's version was kept")
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sync in the background and print the list whenever it changes: live (within a second) on a server that takes subscriptions or holds checks.")
    @OptionGroup var connection: ServerOptions
    @Option(help: "Seconds between syncs when the live channel is not available.") var interval: Double = 30
    @Option(help: "Stop after this many seconds (default: until interrupted).") var seconds: Double?

    func run() async throws {
        let store = try TodoStore(path: connection.db, pool: true)
        let client = try connection.client(for: store)
        let observation = ValueObservation.tracking { db in try Todo.order(Column("title"), Column("id")).fetchAll(db) }
            .removeDuplicates()
        let cancellable = observation.start(
            in: store.writer, scheduling: .async(onQueue: DispatchQueue(label: "watch")),
            onError: { printNow("observation failed: \($0)") },
            onChange: { todos in printNow("\(timestamp()) todos:\n\(format(todos))") })
        defer { cancellable.cancel() }

        let events = Task {
            for await event in client.events() {
                switch event {
                case .completed(_, let result) where result.sent > 0 || result.received > 0:
                    printNow("\(timestamp()) synced: sent \(result.sent), received \(result.received)")
                case .failed(let error, let retryIn):
                    printNow("\(timestamp()) sync failed: \(error.message)" + (retryIn.map { ", retrying in \(String(format: "%.1f", $0)) s" } ?? ""))
                case .channel(let state):
                    printNow("\(timestamp()) channel: \(state.rawValue)")
                default: break
                }
            }
        }
        defer { events.cancel() }
        let background = Task { await client.runBackgroundSync(BackgroundSyncOptions(interval: TimeInterval(interval))) }
        if let seconds {
            try? await Task.sleep(nanoseconds: UInt64(seconds) * 1_000_000_000)
        } else {
            await waitForInterrupt()
        }
        background.cancel()
        await background.value
    }
}

/// Prints at once, unbuffered, so that `watch` shows each line as it happens even into a pipe
/// (`watch | tee`): it runs until interrupted, and buffered lines would appear only at the end.
func printNow(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the CREATE TABLE statements for `cloudsync-server database create ... --schema`.")
    func run() { print(todoSchema) }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Two devices in one process: offline edits on both, sync, compare. Exits 0 only if they converge.")
    @OptionGroup var connection: ServerOptions

    func run() async throws {
        guard connection.server != nil else { throw ValidationError("demo needs --server URL") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // One device on a DatabaseQueue, one on a DatabasePool.
        let phone = try TodoStore(path: directory.appendingPathComponent("phone.sqlite").path)
        let laptop = try TodoStore(path: directory.appendingPathComponent("laptop.sqlite").path, pool: true)
        let phoneClient = try connection.client(for: phone)
        let laptopClient = try connection.client(for: laptop)

        try await failing {
            print("phone: adds two todos and syncs")
            let milk = try await phone.add("buy milk")
            let dog = try await phone.add("walk the dog")
            try await phoneClient.sync()
            let received = try await laptopClient.sync()
            print("laptop: synced, received \(received.received) changes")

            print("offline: phone renames \"buy milk\" and adds a todo; laptop marks it done, deletes \"walk the dog\", adds a todo")
            try await phone.rename(milk.id, to: "buy oat milk")
            try await phone.add("call mom")
            _ = try await laptop.markDone(milk.id)
            try await laptop.delete(dog.id)
            try await laptop.add("pay rent")

            print("online again: phone, laptop, phone sync")
            try await phoneClient.sync()
            try await laptopClient.sync()
            try await phoneClient.sync()
        }
        let phoneList = try await phone.all()
        let laptopList = try await laptop.all()
        print("phone:\n\(format(phoneList))")
        print("laptop:\n\(format(laptopList))")
        if phoneList == laptopList {
            print("converged: both devices have the same \(phoneList.count) todos")
        } else {
            print("DIVERGED")
            throw ExitCode(1)
        }
    }
}

func timestamp() -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "HH:mm:ss"
    return formatter.string(from: Date())
}

/// Returns on SIGINT or SIGTERM.
func waitForInterrupt() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let queue = DispatchQueue(label: "signals")
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
        let resumed = ResumeOnce(continuation)
        for source in sources {
            source.setEventHandler { resumed.resume() }
            source.resume()
        }
        // Keep the sources alive until a signal arrives.
        resumed.keepAlive = sources
    }
}

final class ResumeOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, Never>?
    var keepAlive: [any DispatchSourceSignal] = []
    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = continuation }
    func resume() {
        lock.lock()
        let continuation = self.continuation
        self.continuation = nil
        lock.unlock()
        continuation?.resume()
    }
}
