import CSQLiteLinked
import CloudSyncCore
import Dispatch
import Synchronization

/// One SQLite connection of the process's linked SQLite, optionally with the sync engine
/// registered on it.
///
/// Not `Sendable`: it lives inside a `SerialWorker` or a `ReaderPool`, which only touch it
/// from one thread at a time.
final class SQLiteConnection {
    static let api = SQLiteAPI(routines: cloudsync_linked_routines())

    let handle: OpaquePointer
    let connection: Connection
    /// The engine context, for connections opened with `engine: true`.
    let context: SyncContext?
    /// `auth_userid()` and `auth_json()`, on connections opened with `engine: true`.
    let auth: AuthFunctions?
    private var isClosed = false

    /// Opens `path` and runs `setup` (PRAGMAs) on it.
    init(path: String, engine: Bool, setup: String) throws(CloudSyncError) {
        let handle = try Self.api.openDatabase(path: path)
        self.handle = handle
        do throws(CloudSyncError) {
            let connection = Connection(handle: handle, api: Self.api)
            try connection.execute(setup)
            if engine {
                let context = try CloudSyncEngine.register(database: handle, api: Self.api)
                self.context = context
                self.connection = context.connection
                self.auth = try AuthFunctions(registeringOn: context)
            } else {
                self.context = nil
                self.auth = nil
                self.connection = connection
            }
        } catch {
            Self.api.closeDatabase(handle)
            throw error
        }
    }

    /// The engine context; only valid on connections opened with `engine: true`.
    var engine: SyncContext {
        get throws(CloudSyncError) {
            guard let context else { throw CloudSyncError(.misuse, "connection opened without the engine") }
            return context
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        context?.releaseResources()
        Self.api.closeDatabase(handle)
    }

    deinit { close() }
}

/// Runs blocking work off the Swift cooperative pool.
enum Blocking {
    static let queue = DispatchQueue(label: "cloudsync.server.blocking", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// A value that is not `Sendable` (a connection), confined to one serial dispatch queue:
/// every use runs on that queue, one after the other, on a thread outside the Swift
/// cooperative pool. Work that was queued always runs to completion, even if the task that
/// queued it is cancelled, so a write is never left half done.
final class SerialWorker<State: AnyObject>: @unchecked Sendable {
    private let queue: DispatchQueue
    private let factory: @Sendable () throws -> State
    private let closer: @Sendable (State) -> Void
    // Touched only on `queue`.
    private var state: State?
    private var isClosed = false

    init(label: String, open factory: @escaping @Sendable () throws -> State, close closer: @escaping @Sendable (State) -> Void) {
        self.queue = DispatchQueue(label: label)
        self.factory = factory
        self.closer = closer
    }

    /// Runs `body` on the worker's queue with its state, opening it first if needed.
    func run<T: Sendable>(_ body: @escaping @Sendable (State) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self.currentState()) })
            }
        }
    }

    /// Runs async `body` on the worker's queue with its state, to completion, as one job
    /// (`InlineExecutor`): for code that awaits only work that never leaves the queue.
    func runAsync<T: Sendable>(_ body: @escaping @Sendable (State) async throws -> T) async throws -> T {
        try await run { state in
            try InlineExecutor.run { try await body(state) }
        }
    }

    private func currentState() throws -> State {
        if isClosed { throw SyncStorageError(.failure, "the storage is shutting down") }
        if let state { return state }
        let fresh = try factory()
        state = fresh
        return fresh
    }

    /// Waits for queued work, then closes the state; later `run` calls fail.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.isClosed = true
                if let state = self.state { self.closer(state) }
                self.state = nil
                continuation.resume()
            }
        }
    }
}

/// Read-only work on a database: a pool of connections, each used by one job at a time,
/// jobs running concurrently on a dispatch queue. In WAL mode each read sees the last
/// committed state and never waits for the writer.
final class ReaderPool: Sendable {
    private final class Box: @unchecked Sendable {
        let value: SQLiteConnection
        init(_ value: SQLiteConnection) { self.value = value }
    }

    private struct State {
        var idle: [Box] = []
        var isClosed = false
    }

    private let state = Mutex(State())
    private let factory: @Sendable () throws -> SQLiteConnection
    private let maxIdle: Int
    private let queue: DispatchQueue

    init(label: String, maxIdle: Int, open factory: @escaping @Sendable () throws -> SQLiteConnection) {
        self.factory = factory
        self.maxIdle = maxIdle
        self.queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    let box = try self.take()
                    defer { self.giveBack(box) }
                    return try body(box.value)
                })
            }
        }
    }

    private func take() throws -> Box {
        let reused = try state.withLock { state throws -> Box? in
            if state.isClosed { throw SyncStorageError(.failure, "the storage is shutting down") }
            return state.idle.popLast()
        }
        if let reused { return reused }
        return Box(try factory())
    }

    private func giveBack(_ box: Box) {
        let keep = state.withLock { state -> Bool in
            guard !state.isClosed, state.idle.count < maxIdle else { return false }
            state.idle.append(box)
            return true
        }
        if !keep { box.value.close() }
    }

    /// Closes the idle connections; busy ones close when their job ends.
    func close() {
        let idle = state.withLock { state -> [Box] in
            state.isClosed = true
            defer { state.idle = [] }
            return state.idle
        }
        for box in idle { box.value.close() }
    }
}
