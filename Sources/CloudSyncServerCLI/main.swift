import ArgumentParser
import CloudSyncServer
import Foundation
import Logging
import Hummingbird

/// `cloudsync-server`: the sync server and its administration commands (docs/server.md).
struct CloudSyncServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudsync-server",
        abstract: "Sync server for cloudsync databases.",
        subcommands: [Serve.self, DatabaseCommand.self, ColumnCommand.self, APIKeyCommand.self, TokenCommand.self, PolicyCommand.self, AdminCommand.self])
}

/// Where the server keeps its data, an option of every subcommand: a data directory (the
/// default, embedded SQLite storage) or a PostgreSQL server.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory: catalog.sqlite and databases/ (embedded storage).")
    var data: String = "./cloudsync-data"

    @Option(name: .long, help: "PostgreSQL storage instead of the data directory: postgres://user:password@host:port/database (also CLOUDSYNC_POSTGRES_URL).")
    var postgres: String?

    var directory: URL { URL(fileURLWithPath: data, isDirectory: true) }

    var postgresURL: String? { postgres ?? ProcessInfo.processInfo.environment["CLOUDSYNC_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    func openStorage(_ configuration: ServerConfiguration = ServerConfiguration(), logger: Logger = Logger(label: "cloudsync.storage")) async throws -> any SyncStorage {
        if let url = postgresURL {
            do {
                return try await PostgresStorage(url: url, payloadLimits: configuration.payloadLimits, logger: logger)
            } catch {
                throw CLIError("cannot open PostgreSQL storage: \(error)")
            }
        }
        do {
            return try EmbeddedStorage(directory: directory, configuration: configuration, logger: logger)
        } catch {
            throw CLIError("cannot open data directory \(data): \(error)")
        }
    }
}

/// A failure reported as one line on stderr, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs an administrative storage call, closing the storage afterwards and turning storage
/// errors into one-line messages.
func withStorage<T>(_ data: DataOptions, _ body: (any SyncStorage) async throws -> T) async throws -> T {
    let storage = try await data.openStorage()
    do {
        let result = try await body(storage)
        await storage.close()
        return result
    } catch let error as SyncStorageError {
        await storage.close()
        throw CLIError(error.message)
    } catch {
        await storage.close()
        throw error
    }
}

// MARK: serve

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the sync server until SIGINT or SIGTERM.")

    @OptionGroup var data: DataOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8091

    @Option(name: .customLong("public-url"), help: "Base of the URLs given to clients, e.g. https://sync.example.com (default: http:// + the request's Host header).")
    var publicURL: String?

    @Option(name: .customLong("max-body-size"), help: "Largest upload accepted, in bytes.")
    var maxBodySize = 32 << 20

    @Option(name: .customLong("max-expanded-size"), help: "Largest decompressed payload accepted, in bytes.")
    var maxExpandedSize = 256 << 20

    @Option(name: .customLong("max-rows"), help: "Most change rows accepted in one upload.")
    var maxRows = 2_000_000

    @Option(name: .customLong("page-size"), help: "Most changes per download page.")
    var pageSize = 10_000

    @Option(name: .customLong("page-bytes"), help: "Bytes of changes after which a download page takes no more.")
    var pageBytes = 4 << 20

    @Option(name: .customLong("blob-lifetime"), help: "Seconds a blob URL stays valid.")
    var blobLifetime = 600

    @Option(name: .customLong("max-blob-bytes"), help: "Most bytes of pending uploads and downloads held in memory.")
    var maxBlobBytes = 1 << 30

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Flag(name: .customLong("no-dashboard"), help: "Do not serve the operators' console at /dashboard.")
    var noDashboard = false

    @Flag(name: .customLong("no-subscriptions"), help: "Do not serve change subscriptions: clients fall back to waiting checks.")
    var noSubscriptions = false

    @Flag(name: .customLong("no-protocol-v2"), help: "Do not serve protocol v2 (sqlite-sync 1.x clients); this project's clients then stay on v1.")
    var noProtocolV2 = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard maxBodySize > 0, maxExpandedSize > 0, maxRows > 0, pageSize > 0, blobLifetime >= 0, maxBlobBytes > 0 else {
            throw ValidationError("limits must be positive")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        var logger = Logger(label: "cloudsync-server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let configuration = ServerConfiguration(
            host: host, port: port, publicBaseURL: publicURL,
            maxBodySize: maxBodySize, maxExpandedSize: maxExpandedSize, maxRowsPerPayload: maxRows,
            maxChangesPerPage: pageSize, maxBytesPerPage: pageBytes, blobLifetime: .seconds(blobLifetime), maxBlobBytes: maxBlobBytes,
            dashboard: !noDashboard, subscriptions: !noSubscriptions, protocolV2: !noProtocolV2)
        let storage = try await data.openStorage(configuration, logger: logger)
        let host = self.host
        let app = buildApplication(configuration: configuration, storage: storage, logger: logger) { boundPort in
            // The one line scripts wait for.
            // Written unbuffered, so a script reading a pipe sees it at once.
            FileHandle.standardOutput.write(Data("cloudsync-server listening on http://\(host):\(boundPort ?? configuration.port)\n".utf8))
        }
        do {
            // Graceful shutdown on SIGINT/SIGTERM: stop accepting, let in-flight requests
            // (and the merges they wait for) finish, then close every database.
            try await app.runService()
        } catch {
            await storage.close()
            throw error
        }
        await storage.close()
        logger.info("stopped")
    }
}

// MARK: database

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "database",
        abstract: "Manage databases.",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a managed database from a schema file and enable sync on its tables.")

        @OptionGroup var data: DataOptions

        @Argument(help: "Database name: \(DatabaseName.pattern), e.g. todo.sqlite.")
        var name: String

        @Option(help: "File of CREATE TABLE statements.")
        var schema: String

        @Option(help: "Comma-separated tables to synchronize (default: every table of the schema).")
        var tables: String?

        func validate() throws {
            guard DatabaseName.isValid(name) else {
                throw ValidationError("invalid database name '\(name)': it must match \(DatabaseName.pattern)")
            }
        }

        func run() async throws {
            let text: String
            do {
                text = try String(contentsOfFile: schema, encoding: .utf8)
            } catch {
                throw CLIError("cannot read schema file \(schema): \(error.localizedDescription)")
            }
            let list = tables.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            let synchronized = try await withStorage(data) { storage in
                try await storage.createDatabase(name: name, schema: text, tables: list)
            }
            print("created database \(name) (synchronized tables: \(synchronized.joined(separator: ", ")))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every managed database, one per line.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            let names = try await withStorage(data) { try await $0.listDatabases() }
            for name in names { print(name) }
        }
    }
}

// MARK: column

struct ColumnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "column",
        abstract: "Configure how columns merge.",
        subcommands: [SetAlgorithm.self, Show.self])

    struct SetAlgorithm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Switch a TEXT column to block-level merge (edits of different lines both survive); devices must do the same.")

        @OptionGroup var data: DataOptions

        @Option(help: "The managed database.")
        var database: String

        @Option(help: "The synchronized table.")
        var table: String

        @Option(help: "The TEXT column.")
        var column: String

        @Option(help: "The merge algorithm of the column: block.")
        var algo: String

        @Option(help: "What separates two blocks (default: a line feed). Escapes \\n and \\t are understood.")
        var delimiter: String = "\n"

        func validate() throws {
            guard algo == "block" else { throw ValidationError("unknown --algo \(algo): the only column algorithm is block") }
            guard !delimiter.isEmpty else { throw ValidationError("--delimiter must not be empty") }
        }

        func run() async throws {
            let unescaped = delimiter.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
            try await withStorage(data) {
                try await $0.setBlockColumn(database: database, table: table, column: column, delimiter: unescaped)
            }
            print("column \(table).\(column) of \(database) merges by blocks")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the block columns of a database: table, column, delimiter (escaped), one per line.")

        @OptionGroup var data: DataOptions

        @Option(help: "The managed database.")
        var database: String

        func run() async throws {
            let columns = try await withStorage(data) { try await $0.blockColumns(database: database) }
            for setting in columns {
                let escaped = setting.delimiter.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
                print("\(setting.table)\t\(setting.column)\tblock\t\(escaped)")
            }
        }
    }
}

// MARK: apikey

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey",
        abstract: "Manage API keys.",
        subcommands: [Create.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key for a database and print it (its only output line).")

        @OptionGroup var data: DataOptions

        @Option(help: "The database the key gives access to.")
        var database: String

        func run() async throws {
            let key = try await withStorage(data) { try await $0.createAPIKey(database: database) }
            print(key)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key; takes effect on a running server at once.")

        @OptionGroup var data: DataOptions

        @Argument(help: "The API key.")
        var key: String

        func run() async throws {
            try await withStorage(data) { try await $0.revokeAPIKey(key) }
            print("revoked")
        }
    }
}

LoggingSystem.bootstrap(StreamLogHandler.standardError)
/// Inside an async function `main()` resolves to the async overload (top-level code picks the
/// synchronous one, which would not run async subcommands).
func runCommand() async {
    await CloudSyncServerCommand.main()
}

await runCommand()
