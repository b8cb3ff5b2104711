import CloudSyncCore
import Testing
@testable import CloudSyncNetwork

@Suite("Connection strings")
struct ConnectionStringTests {
    @Test func sqliteCloudSchemeMeansHTTPSOnPort443() throws {
        let parsed = try ConnectionString(parsing: "sqlitecloud://project.sqlite.cloud/todo.sqlite")
        #expect(parsed.scheme == "https" && parsed.host == "project.sqlite.cloud" && parsed.port == 443)
        #expect(parsed.database == "todo.sqlite" && parsed.credential == nil)
        #expect(try ConnectionString(parsing: "sqlitecloud://h:8860/db").port == 443)
    }

    @Test func explicitPortsSchemesAndCredentials() throws {
        let local = try ConnectionString(parsing: "http://127.0.0.1:8091/todo.sqlite?apikey=abc%2B1")
        #expect(local.scheme == "http" && local.host == "127.0.0.1" && local.port == 8091)
        #expect(local.credential == .apiKey("abc+1"))
        #expect(try ConnectionString(parsing: "HTTPS://h/db?x=1&token=t.k.n").credential == .token("t.k.n"))
        let site: [UInt8] = Array(0..<16)
        #expect(local.baseURL(site: site) == "http://127.0.0.1:8091/v1/cloudsync/todo.sqlite/000102030405060708090a0b0c0d0e0f")
    }

    @Test func addressAndDatabaseAsInitCustomTakesThem() throws {
        let parsed = try ConnectionString(address: "http://127.0.0.1:8091/", database: "todo.sqlite")
        #expect(parsed == (try ConnectionString(parsing: "http://127.0.0.1:8091/todo.sqlite")))
        #expect(try ConnectionString(address: " https://sync.example.com ", database: "db").port == 443)
    }

    @Test("bad addresses and database ids are refused", arguments: [
        ("sync.example.com", "db"), ("https://h/path", "db"), ("https://h?apikey=x", "db"), ("ftp://h", "db"),
        ("https://h", ""), ("https://h", "a/b"), ("https://h", "db?apikey=x"),
    ])
    func refusedAddress(address: String, database: String) {
        #expect(throws: CloudSyncError.self) { try ConnectionString(address: address, database: database) }
    }

    @Test("bad connection strings are refused", arguments: [
        "todo.sqlite", "ftp://h/db", "http://h", "http://h/", "http://:80/db", "http://h:0/db", "http://h:99999/db", "http://h:x/db", "http://h/a/b",
    ])
    func refused(text: String) {
        #expect(throws: CloudSyncError.self) { try ConnectionString(parsing: text) }
    }
}
