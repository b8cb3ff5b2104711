import Foundation
import PostgresNIO

/// A PostgreSQL cluster of the tests: its address, from its URL, and its maintenance database.
struct PostgresTestServer: Sendable {
    let configuration: PostgresConnection.Configuration
    private let host: String
    private let port: Int
    private let user: String

    init(url: String) throws(PostgresTestError) {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty else {
            throw PostgresTestError("\(PostgresTestDatabase.environmentKey) is not a postgres:// URL: \(url)")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.user ?? "postgres"
        let database = components.path.split(separator: "/").first.map(String.init) ?? "postgres"
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user,
            password: components.password, database: database, tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        self.configuration = configuration
    }

    /// The URL of database `name` on this cluster.
    func url(database name: String) -> String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        components.password = configuration.password
        components.host = host
        components.port = port
        components.path = "/" + name
        return components.string ?? "postgres://\(user)@\(host):\(port)/\(name)"
    }

    /// Runs `body` on a new connection to the maintenance database.
    func withConnection(_ body: (PostgresConnection) async throws -> Void) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: PostgresTestDatabase.nextConnectionID(), logger: PostgresTestDatabase.logger)
        do {
            try await body(connection)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
