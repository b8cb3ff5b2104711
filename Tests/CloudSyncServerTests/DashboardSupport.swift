import CloudSyncCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import CloudSyncServer

/// A server fixture with a dashboard administrator, its metrics and a log that records what
/// the server wrote (the audit log).
struct DashboardFixture: Sendable {
    static let admin = "operator"
    static let password = "correct horse battery staple"

    let server: ServerFixture
    let metrics = ServerMetrics()
    let log = RecordedLog()

    var storage: any ConsoleStorage { server.storage as! any ConsoleStorage }

    static func make(_ backend: StorageBackend) async throws -> DashboardFixture {
        let server = try await ServerFixture.make(backend)
        // Few rounds: the stored form carries them, and verifying is the code under test.
        try await (server.storage as! any ConsoleStorage).setAdministrator(user: admin, passwordHash: try AdminPassword.hash(password, rounds: 1000))
        return DashboardFixture(server: server)
    }

    func application(dashboard: Bool = true) -> some ApplicationProtocol {
        var configuration = server.configuration
        configuration.dashboard = dashboard
        var logger = Logger(label: "dashboard-tests") { _ in log }
        logger.logLevel = .notice
        return buildApplication(configuration: configuration, storage: server.storage, logger: logger, metrics: metrics)
    }

    func shutdown() async { await server.shutdown() }
}

/// A browser, as far as the dashboard cares: it keeps cookies and sends forms.
final class Browser: @unchecked Sendable {
    let client: any TestClientProtocol
    private(set) var cookies: [String: String] = [:]

    init(_ client: any TestClientProtocol) {
        self.client = client
    }

    func get(_ path: String) async throws -> TestResponse {
        try await send(path, method: .get, body: nil)
    }

    /// POSTs `fields` form-encoded.
    func post(_ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await send(path, method: .post, body: body)
    }

    /// Signs in through the sign-in page; the response to the POST.
    @discardableResult
    func signIn(user: String = DashboardFixture.admin, password: String = DashboardFixture.password) async throws -> TestResponse {
        let page = try await get("/dashboard/signin")
        return try await post("/dashboard/signin", [("csrf", try Self.csrf(in: page)), ("user", user), ("password", password)])
    }

    private func send(_ path: String, method: HTTPRequest.Method, body: String?) async throws -> TestResponse {
        var headers = HTTPFields()
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        if body != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        for header in response.headers[values: .setCookie] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]).trimmingCharacters(in: .whitespaces)
            let value = pair.count > 1 ? String(pair[1]) : ""
            if value.isEmpty || header.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
        return response
    }

    /// The CSRF token of the first form of a page.
    static func csrf(in page: TestResponse) throws -> String {
        guard let match = page.text.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/) else {
            throw TestFailure("no CSRF token in the page: \(page.text.prefix(300))")
        }
        return String(match.1)
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// A log handler that keeps every message with its metadata, for the audit log assertions.
final class RecordedLog: LogHandler, Sendable {
    private let lines = Mutex<[String]>([])

    var entries: [String] { lines.withLock { $0 } }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.withLock { $0.append("\(event.message) \(fields)") }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    var logLevel: Logger.Level {
        get { .notice }
        set {}
    }
}
