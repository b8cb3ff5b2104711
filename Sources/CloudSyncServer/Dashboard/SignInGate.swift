import Synchronization

/// Bounds the password checks running at once. Each costs a few hundred milliseconds of CPU on
/// purpose (`AdminPassword`), so a flood of sign-in attempts must not take every core: past
/// the bound an attempt is answered "try again" at once, without checking anything.
final class SignInGate: Sendable {
    let limit: Int
    private let running = Mutex(0)

    init(limit: Int = 2) {
        self.limit = limit
    }

    /// Runs `check` off the cooperative pool if fewer than `limit` checks are running; nil
    /// (nothing checked) otherwise.
    func check(_ body: @escaping @Sendable () -> Bool) async throws -> Bool? {
        let admitted = running.withLock { running in
            guard running < limit else { return false }
            running += 1
            return true
        }
        guard admitted else { return nil }
        defer { running.withLock { $0 -= 1 } }
        return try await Blocking.run(body)
    }
}
