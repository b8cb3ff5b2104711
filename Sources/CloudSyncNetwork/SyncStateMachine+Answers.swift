import CloudSyncCore

/// How the client reads the server's answers: one place for status checks, error codes and
/// URL answers, used by both clients through ``SyncStateMachine``.
extension SyncStateMachine {
    /// The response if its status is a success; otherwise the error: the server's message (its
    /// body) or, without one, which step got which status. HTTP 401 and 403 are
    /// `.unauthorized` (the credential was refused), every other failure `.network`.
    package static func validated(_ response: HTTPResponse, while step: String) throws(CloudSyncError) -> HTTPResponse {
        guard response.status >= 400 || response.status < 100 else { return response }
        let text = response.text.trimmed
        let message = text.isEmpty ? "server answered HTTP \(response.status) while \(step)" : text
        let code: CloudSyncError.Code = response.status == 401 || response.status == 403 ? .unauthorized : .network
        throw CloudSyncError(code, message, httpStatus: response.status)
    }

    /// The absolute URL a response's body holds, or a `.network` error starting with `missing`.
    static func url(in response: HTTPResponse, otherwise missing: String) throws(CloudSyncError) -> String {
        let answer = response.text.trimmed
        guard isURL(answer) else { throw CloudSyncError(.network, "\(missing) (answered \"\(answer.prefix(80))\")") }
        return answer
    }

    static func isURL(_ text: String) -> Bool {
        text.hasPrefix("http://") || text.hasPrefix("https://")
    }
}

extension SyncStateMachine.Summary {
    /// The `.denied` error the extension's functions raise for rows the server refused, nil
    /// when it refused none.
    package var refusedError: CloudSyncError? {
        guard !refusedRows.isEmpty else { return nil }
        let parts = refusedRows.sorted { $0.key < $1.key }.map { "\($0.value) row\($0.value == 1 ? "" : "s") of table \($0.key)" }
        return CloudSyncError(.denied, "the server refused \(parts.joined(separator: ", ")) (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
    }
}
