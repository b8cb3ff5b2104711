import CloudSyncCore

/// The network functions of sql-api.md, registered on a connection next to the engine's.
package enum NetworkFunctions {
    static let sessionKey = "cloudsync.network"
    static let registeredKey = "cloudsync.network.registered"

    /// The connection's network session, if `cloudsync_network_init` was called.
    package static func session(of context: SyncContext) -> NetworkSession? {
        context.attachments[sessionKey] as? NetworkSession
    }

    /// Installs `session` as the connection's network session (e.g. with a custom transport).
    package static func install(_ session: NetworkSession?, on context: SyncContext) {
        context.attachments[sessionKey] = session
    }

    private static func requireSession(_ context: SyncContext, _ function: String) throws(CloudSyncError) -> NetworkSession {
        guard let session = session(of: context) else {
            throw CloudSyncError(.misuse, "\(function): call cloudsync_network_init('scheme://host:port/database') first")
        }
        return session
    }

    /// Registers the functions; registering again on the same connection does nothing.
    /// `cloudsync_network_init` makes its session's transport with `makeTransport` (libcurl in
    /// the extension: this module has no HTTP client of its own, so that it builds for iOS).
    package static func register(on context: SyncContext, makeTransport: @escaping () throws(CloudSyncError) -> any HTTPTransport) throws(CloudSyncError) {
        guard context.attachments[registeredKey] == nil else { return }
        context.attachments[registeredKey] = context.connection // any marker object

        func add(_ name: String, _ count: Int32, _ body: @escaping (SyncContext, SQLArguments) throws -> SQLValue) throws(CloudSyncError) {
            try CloudSyncEngine.registerFunction(name, arguments: count, on: context) { context, arguments in
                do {
                    return try body(context, arguments)
                } catch let error as CloudSyncError {
                    // Say which call failed; the cause (server message, connection error) follows.
                    throw CloudSyncError(error.code, "\(name): \(error.message)", resultCode: error.resultCode, httpStatus: error.httpStatus)
                }
            }
        }

        func connect(_ context: SyncContext, to endpoint: ConnectionString) throws {
            install(NetworkSession(context: context, endpoint: endpoint, transport: try makeTransport()), on: context)
        }
        try add("cloudsync_network_init", 1) { context, arguments in
            let text = try arguments.requireString(0, "connection_string", of: "cloudsync_network_init")
            try connect(context, to: try ConnectionString(parsing: text))
            return .integer(0)
        }
        // 1.x: the server's address and the database's name as two arguments.
        try add("cloudsync_network_init_custom", 2) { context, arguments in
            let address = try arguments.requireString(0, "address", of: "cloudsync_network_init_custom")
            let database = try arguments.requireString(1, "database_id", of: "cloudsync_network_init_custom")
            try connect(context, to: try ConnectionString(address: address, database: database))
            return .integer(0)
        }
        try add("cloudsync_network_cleanup", 0) { context, _ in
            install(nil, on: context)
            return .integer(0)
        }
        try add("cloudsync_network_set_apikey", 1) { context, arguments in
            let key = try arguments.requireString(0, "key", of: "cloudsync_network_set_apikey")
            try requireSession(context, "cloudsync_network_set_apikey").credential = key.isEmpty ? nil : .apiKey(key)
            return .integer(0)
        }
        try add("cloudsync_network_set_token", 1) { context, arguments in
            let token = try arguments.requireString(0, "token", of: "cloudsync_network_set_token")
            try requireSession(context, "cloudsync_network_set_token").credential = token.isEmpty ? nil : .token(token)
            return .integer(0)
        }
        try add("cloudsync_network_has_unsent_changes", 0) { context, _ in
            .integer(try context.hasUnsentChanges() ? 1 : 0)
        }
        try add("cloudsync_network_send_changes", 0) { context, _ in
            try requireSession(context, "cloudsync_network_send_changes").sendChanges()
            return .integer(0)
        }
        try add("cloudsync_network_check_changes", 0) { context, _ in
            .integer(Int64(try requireSession(context, "cloudsync_network_check_changes").checkChanges()))
        }
        // 1.x (sql-api-v2.md §5): drains every page, or at most `max_chunks`, and answers as
        // 1.x does, with JSON text.
        for count: Int32 in 0...1 {
            try add("cloudsync_network_receive_changes", count) { context, arguments in
                var maxPages: Int?
                if count == 1 {
                    guard case .integer(let limit) = arguments.value(0), limit > 0 else {
                        throw CloudSyncError(.misuse, "cloudsync_network_receive_changes(max_chunks) takes a positive integer")
                    }
                    maxPages = Int(clamping: limit)
                }
                let summary = try requireSession(context, "cloudsync_network_receive_changes").receiveChanges(maxPages: maxPages)
                let tables = summary.receivedTables.map(JSONText.string).joined(separator: ",")
                return .string("{\"receive\":{\"rows\":\(summary.received),\"tables\":[\(tables)]}}")
            }
        }
        try add("cloudsync_network_sync", 0) { context, _ in
            .integer(Int64(try requireSession(context, "cloudsync_network_sync").sync()))
        }
        try add("cloudsync_network_sync", 2) { context, arguments in
            guard case .integer(let wait) = arguments.value(0), case .integer(let retries) = arguments.value(1), wait >= 0, retries >= 0 else {
                throw CloudSyncError(.misuse, "cloudsync_network_sync(wait_ms, max_retries) takes two non-negative integers")
            }
            let session = try requireSession(context, "cloudsync_network_sync")
            return .integer(Int64(try session.sync(waitMilliseconds: Int(clamping: wait), maxRetries: Int(clamping: retries))))
        }
        try add("cloudsync_network_reset_sync_version", 0) { context, _ in
            try context.resetCursors()
            return .integer(0)
        }
        try add("cloudsync_network_logout", 0) { context, _ in
            session(of: context)?.credential = nil
            try context.resetLocalData()
            try context.resetCursors()
            return .integer(0)
        }
    }
}
