import CloudSyncCore
import GRDB

/// An error raised by the CloudSync Swift API: the engine's ``CloudSyncError``, a
/// machine-readable `code` and a `message` meant for people.
///
/// Every failure of the API, whether from bad input, the engine, the database or the network,
/// arrives as a `SyncError`; nothing traps on bad input.
///
/// ```swift
/// do {
///     try await client.sync()
/// } catch where error.code == .unauthorized {
///     // ask the user to sign in again
/// } catch {
///     print(error.message)
/// }
/// ```
public typealias SyncError = CloudSyncError

// `.unauthorized` (HTTP 401/403) and `.cancelled` come from CloudSyncNetwork, which the
// extension's network functions use too: one code for one failure in both clients.
extension CloudSyncError.Code {
    /// An error reported by SQLite through GRDB; `resultCode` carries its result code.
    public static let database = Self(rawValue: "database")
}

extension CloudSyncError {
    /// Whether retrying later may succeed (the server was unreachable or failed): what the
    /// background mode backs off on.
    public var isTransient: Bool {
        switch code {
        case .network: httpStatus.map { $0 >= 500 || $0 == 408 || $0 == 429 } ?? true
        default: false
        }
    }

    /// Maps any error thrown inside the API (engine, GRDB, cancellation). HTTP failures are
    /// already coded by the protocol state machine (`SyncStateMachine.validated`).
    static func wrapping(_ error: any Error) -> SyncError {
        switch error {
        case let error as CloudSyncError:
            return error
        case let error as DatabaseError:
            return SyncError(.database, error.message ?? "\(error)", resultCode: error.extendedResultCode.rawValue)
        case is CancellationError:
            return SyncError(.cancelled, "the sync was cancelled")
        default:
            return SyncError(.misuse, "\(error)")
        }
    }
}

/// Runs `body`, turning whatever it throws into a ``SyncError``.
@inline(__always)
func mappingErrors<T>(_ body: () throws -> T) throws(SyncError) -> T {
    do { return try body() } catch { throw SyncError.wrapping(error) }
}

@inline(__always)
func mappingErrors<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws(SyncError) -> T {
    do { return try await body() } catch { throw SyncError.wrapping(error) }
}

/// A position in a changes feed (`CloudSyncCore.SyncCursor`), named here so that apps only
/// import `CloudSync`.
public typealias SyncCursor = CloudSyncCore.SyncCursor
