import CloudSyncCore
import Synchronization

/// Signed-in dashboard sessions, kept in this server process: a restart signs everyone out,
/// and behind a load balancer with several instances the dashboard needs sticky sessions.
///
/// A session id is 256 random bits, sent only in an HttpOnly, SameSite=Strict cookie; each
/// session has its own CSRF token, which every form carries back.
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        var id: String
        var user: String
        var csrf: String
        var expires: ContinuousClock.Instant
    }

    /// Idle time after which a session ends.
    static let idleLifetime = Duration.seconds(8 * 3600)
    /// Most sessions held at once; the oldest go first.
    static let maxSessions = 1000

    private let sessions = Mutex<[String: Session]>([:])

    func create(user: String) -> Session {
        let now = ContinuousClock.now
        let session = Session(id: RandomToken.make(), user: user, csrf: RandomToken.make(), expires: now + Self.idleLifetime)
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            while sessions.count >= Self.maxSessions, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires }) {
                sessions[oldest.key] = nil
            }
            sessions[session.id] = session
        }
        return session
    }

    /// The live session with this id, its idle time restarted; nil if unknown or expired.
    func session(id: String) -> Session? {
        let now = ContinuousClock.now
        return sessions.withLock { sessions in
            guard var session = sessions[id] else { return nil }
            guard session.expires > now else {
                sessions[id] = nil
                return nil
            }
            session.expires = now + Self.idleLifetime
            sessions[id] = session
            return session
        }
    }

    func end(id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }
}
