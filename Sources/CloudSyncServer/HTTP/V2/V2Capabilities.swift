import CloudSyncCore
import Foundation

/// The `/check` answers a client announced it reads (`X-CloudSync-Capabilities`,
/// sync-protocol-v2.md §3).
struct V2Capabilities: Equatable, Sendable {
    static let headerName = "X-CloudSync-Capabilities"

    /// `check-status-response`: a 202 with a status object when nothing is ready.
    var statusResponse = false
    /// `check-chunks`: chunk batches and inline payloads.
    var chunks = false
    /// `check-exact-cursor` (this project's clients, `ProtocolDiscovery.exactCursor`): resume
    /// after `(dbVersion, seq)` even with `chunks`.
    var exactCursor = false

    init(statusResponse: Bool = false, chunks: Bool = false, exactCursor: Bool = false) {
        self.statusResponse = statusResponse
        self.chunks = chunks
        self.exactCursor = exactCursor
    }

    /// Comma-separated tokens, surrounding spaces ignored, unknown ones skipped.
    init(header: String?) {
        for token in (header ?? "").split(separator: ",") {
            switch token.trimmingCharacters(in: .whitespaces).lowercased() {
            case "check-status-response": statusResponse = true
            case "check-chunks": chunks = true
            case ProtocolDiscovery.exactCursor: exactCursor = true
            default: continue
            }
        }
    }
}
