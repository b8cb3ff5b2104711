import CloudSyncCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing

@testable import CloudSyncServer

@Suite("Dashboard")
struct DashboardTests {
    @Test("without a session every dashboard path shows only the sign-in page", arguments: StorageBackend.allCases)
    func unauthenticated(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        try await fixture.application().test(.router) { client in
            let browser = Browser(client)
            for path in ["/dashboard", "/dashboard/databases/todo.sqlite", "/dashboard/databases/todo.sqlite/keys", "/dashboard/refused", "/dashboard/nothing/here"] {
                let response = try await browser.get(path)
                #expect(response.status == .unauthorized, "\(path)")
                #expect(response.text.contains("<h1>Sign in</h1>"), "\(path)")
                #expect(!response.text.contains("todo.sqlite"), "\(path)")
            }
            // A forged session cookie is no session.
            let forged = try await client.executeRequest(
                uri: "/dashboard/databases/todo.sqlite/keys", method: .post,
                headers: [.cookie: "cloudsync_session=" + String(repeating: "ab", count: 32), .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=x"))
            #expect(forged.status == .unauthorized)
            let created = try await browser.post("/dashboard/new", [("name", "other.sqlite"), ("schema", todoSchema), ("step", "create"), ("table", "todo")])
            #expect(created.status == .unauthorized)
        }
        #expect(try await fixture.storage.listDatabases() == [ServerFixture.database])
        #expect(try await fixture.storage.apiKeys(database: ServerFixture.database).count == 1)
    }

    @Test("sign-in: wrong password, unknown user and a missing form token are refused; the right password opens a session", arguments: StorageBackend.allCases)
    func signIn(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        try await fixture.application().test(.router) { client in
            let browser = Browser(client)
            let wrong = try await browser.signIn(password: "not the password")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("Wrong administrator or password."))
            let unknown = try await browser.signIn(user: "nobody")
            #expect(unknown.status == .unauthorized)
            #expect(unknown.text.contains("Wrong administrator or password."))
            #expect(browser.cookies[DashboardRoutes.sessionCookie] == nil)

            // The sign-in form's token must match its cookie.
            _ = try await browser.get("/dashboard/signin")
            let forged = try await browser.post("/dashboard/signin", [("csrf", String(repeating: "0", count: 64)), ("user", DashboardFixture.admin), ("password", DashboardFixture.password)])
            #expect(forged.status == .forbidden)
            #expect(browser.cookies[DashboardRoutes.sessionCookie] == nil)

            let signedIn = try await browser.signIn()
            #expect(signedIn.status == .seeOther)
            #expect(signedIn.headers[.location] == "/dashboard")
            let cookie = try #require(signedIn.headers[values: .setCookie].first { $0.hasPrefix(DashboardRoutes.sessionCookie + "=") })
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            #expect(cookie.contains("Path=/dashboard"))
            #expect(!cookie.contains("Secure"), "plain http: the cookie must still be sent")

            let home = try await browser.get("/dashboard")
            #expect(home.status == .ok)
            #expect(home.text.contains("todo.sqlite"))
            #expect(home.text.contains("db_version 0"))
            #expect(home.headers[.contentType] == "text/html; charset=utf-8")

            // Signing out ends the session on the server, not only in this browser.
            let session = try #require(browser.cookies[DashboardRoutes.sessionCookie])
            let out = try await browser.post("/dashboard/signout", [("csrf", try Browser.csrf(in: home))])
            #expect(out.status == .seeOther)
            #expect(out.headers[.location] == "/dashboard/signin")
            let replayed = try await client.executeRequest(uri: "/dashboard", method: .get, headers: [.cookie: "\(DashboardRoutes.sessionCookie)=\(session)"], body: nil)
            #expect(replayed.status == .unauthorized)
        }
        let audit = fixture.log.entries.filter { $0.contains("audit=dashboard") }
        #expect(audit.contains { $0.hasPrefix("dashboard: sign-in refused") && $0.contains("admin=nobody") })
        #expect(audit.contains { $0.hasPrefix("dashboard: signed in") && $0.contains("admin=operator") })
        #expect(audit.contains { $0.hasPrefix("dashboard: signed out") && $0.contains("admin=operator") })
    }

    @Test("a form without the session's CSRF token changes nothing", arguments: StorageBackend.allCases)
    func csrfRejected(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        try await fixture.application().test(.router) { client in
            let browser = Browser(client)
            try await browser.signIn()
            let keys = "/dashboard/databases/todo.sqlite/keys"
            for fields in [[(String, String)](), [("csrf", String(repeating: "a", count: 64))]] {
                let response = try await browser.post(keys, fields)
                #expect(response.status == .forbidden)
                #expect(response.text.contains("Request refused"))
            }
            let create = try await browser.post("/dashboard/new", [("csrf", "nope"), ("name", "x.sqlite"), ("schema", todoSchema), ("step", "create"), ("table", "todo")])
            #expect(create.status == .forbidden)
            // The right token works on the same session.
            let page = try await browser.get(keys)
            let created = try await browser.post(keys, [("csrf", try Browser.csrf(in: page))])
            #expect(created.status == .ok)
        }
        #expect(try await fixture.storage.apiKeys(database: ServerFixture.database).count == 2)
        #expect(try await fixture.storage.listDatabases() == [ServerFixture.database])
    }

    @Test("create a database from a schema, ticking the tables to synchronize", arguments: StorageBackend.allCases)
    func createDatabase(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        let schema = todoSchema + "; CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL DEFAULT '')"
        try await fixture.application().test(.router) { client in
            let browser = Browser(client)
            try await browser.signIn()
            let csrf = try Browser.csrf(in: try await browser.get("/dashboard/new"))

            let broken = try await browser.post("/dashboard/new", [("csrf", csrf), ("name", "notes.sqlite"), ("schema", "CREATE TABLE ("), ("step", "tables")])
            #expect(broken.status == .badRequest)
            #expect(broken.text.contains("id=\"schema-error\""))

            let badName = try await browser.post("/dashboard/new", [("csrf", csrf), ("name", "../x"), ("schema", schema), ("step", "tables")])
            #expect(badName.status == .badRequest)
            #expect(badName.text.contains("id=\"name-error\""))

            let tables = try await browser.post("/dashboard/new", [("csrf", csrf), ("name", "notes.sqlite"), ("schema", schema), ("step", "tables")])
            #expect(tables.status == .ok)
            #expect(tables.text.contains("value=\"notes\" checked"))
            #expect(tables.text.contains("value=\"todo\" checked"))

            let none = try await browser.post("/dashboard/new", [("csrf", csrf), ("name", "notes.sqlite"), ("schema", schema), ("step", "create")])
            #expect(none.status == .badRequest)
            #expect(none.text.contains("Tick at least one table"))

            let created = try await browser.post("/dashboard/new", [("csrf", csrf), ("name", "notes.sqlite"), ("schema", schema), ("step", "create"), ("table", "notes")])
            #expect(created.status == .seeOther)
            #expect(created.headers[.location] == "/dashboard/databases/notes.sqlite")

            let taken = try await browser.post("/dashboard/new", [("csrf", csrf), ("name", "notes.sqlite"), ("schema", schema), ("step", "create"), ("table", "notes")])
            #expect(taken.status == .badRequest)
            #expect(taken.text.contains("already exists"))

            let page = try await browser.get("/dashboard/databases/notes.sqlite")
            #expect(page.status == .ok)
            #expect(page.text.contains("<td>notes</td><td>yes</td>"))

            // "new" is a database name like any other: its page is not the form.
            let new = try await browser.post("/dashboard/new", [("csrf", csrf), ("name", "new"), ("schema", todoSchema), ("step", "create"), ("table", "todo")])
            #expect(new.headers[.location] == "/dashboard/databases/new")
            let newPage = try await browser.get("/dashboard/databases/new")
            #expect(newPage.text.contains("<h1>new</h1>"))
            #expect(newPage.text.contains("<td>todo</td><td>yes</td>"))
        }
        let summary = try await fixture.storage.databaseSummary("notes.sqlite")
        #expect(summary.tables.filter(\.synchronized).map(\.name) == ["notes"])
        #expect(try await fixture.storage.listDatabases() == ["new", "notes.sqlite", ServerFixture.database])
        #expect(fixture.log.entries.contains { $0.hasPrefix("dashboard: created database") && $0.contains("admin=operator") && $0.contains("database=notes.sqlite") })
    }

    @Test("API keys and access tokens: created and shown once, then revoked", arguments: StorageBackend.allCases)
    func keysAndTokens(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        let keys = "/dashboard/databases/todo.sqlite/keys"
        try await fixture.application().test(.router) { client in
            let browser = Browser(client)
            try await browser.signIn()
            let csrf = try Browser.csrf(in: try await browser.get(keys))

            let created = try await browser.post(keys, [("csrf", csrf)])
            let key = try #require(created.text.firstMatch(of: /id="new-key-value">([^<]+)</).map { String($0.1) })
            #expect(try await fixture.storage.verifyAPIKey(key) == APIKeyGrant(database: ServerFixture.database))
            let later = try await browser.get(keys)
            #expect(!later.text.contains(key), "a key is shown once")
            #expect(later.text.contains(String(APIKey.hash(key).prefix(12))))

            let revoked = try await browser.post(keys + "/revoke", [("csrf", csrf), ("hash", APIKey.hash(key))])
            #expect(revoked.status == .seeOther)
            #expect(try await fixture.storage.verifyAPIKey(key) == nil)
            #expect(try await fixture.storage.verifyAPIKey(fixture.server.key) != nil, "the other key stays valid")
            let unknown = try await browser.post(keys + "/revoke", [("csrf", csrf), ("hash", String(repeating: "f", count: 64))])
            #expect(unknown.status == .unauthorized)

            let badToken = try await browser.post("/dashboard/databases/todo.sqlite/tokens", [("csrf", csrf), ("user", "alice"), ("attributes", "[1]")])
            #expect(badToken.status == .badRequest)
            #expect(badToken.text.contains("id=\"token-error\""))
            let issued = try await browser.post("/dashboard/databases/todo.sqlite/tokens", [("csrf", csrf), ("user", "alice"), ("name", "Alice"), ("attributes", "{\"team\": \"blue\"}"), ("expires", "")])
            let token = try #require(issued.text.firstMatch(of: /id="new-token-value">([^<]+)</).map { String($0.1) })
            let claims = try await fixture.server.tokens.verify(token)
            #expect(claims.userID == "alice")
            #expect(try await fixture.storage.accessTokens(database: ServerFixture.database).map(\.userID) == ["alice"])

            let tokenRevoked = try await browser.post("/dashboard/databases/todo.sqlite/tokens/revoke", [("csrf", csrf), ("token_id", claims.tokenID)])
            #expect(tokenRevoked.status == .seeOther)
            #expect(try await fixture.storage.isTokenRevoked(id: claims.tokenID))
        }
        let audit = fixture.log.entries.filter { $0.contains("audit=dashboard") && $0.contains("admin=operator") }
        for action in ["created API key", "revoked API key", "issued access token", "revoked access token"] {
            #expect(audit.contains { $0.hasPrefix("dashboard: \(action)") }, "\(action)")
        }
    }

    @Test("a policy with a mistake shows the error next to its field and stores nothing; fixed, it is saved", arguments: StorageBackend.allCases)
    func policies(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        let path = "/dashboard/databases/todo.sqlite/policies"
        try await fixture.application().test(.router) { client in
            let browser = Browser(client)
            try await browser.signIn()
            let page = try await browser.get(path)
            #expect(page.text.contains("RLS off"))
            let csrf = try Browser.csrf(in: page)

            let typo = try await browser.post(path, [("csrf", csrf), ("table", "todo"), ("action", "save"), ("select", "titel = auth_userid()"), ("insert", "NEW.title = auth_userid()")])
            #expect(typo.status == .badRequest)
            #expect(typo.text.contains("id=\"error-todo-select\""))
            #expect(typo.text.contains("value=\"titel = auth_userid()\""), "the submitted text stays in the field")
            #expect(try await fixture.storage.policies(database: ServerFixture.database, table: nil).isEmpty)

            let wrongImage = try await browser.post(path, [("csrf", csrf), ("table", "todo"), ("action", "save"), ("select", "1"), ("insert", "OLD.title = ''")])
            #expect(wrongImage.status == .badRequest)
            #expect(wrongImage.text.contains("id=\"error-todo-insert\""))

            let fixed = try await browser.post(path, [("csrf", csrf), ("table", "todo"), ("action", "save"), ("select", "title = auth_userid()"), ("insert", "NEW.title = auth_userid()")])
            #expect(fixed.status == .ok)
            #expect(fixed.text.contains("Policies of todo saved."))
            #expect(fixed.text.contains("RLS on"))
            #expect(try await fixture.storage.policies(database: ServerFixture.database, table: nil)
                == [TablePolicy(table: "todo", select: "title = auth_userid()", insert: "NEW.title = auth_userid()")])

            let ghost = try await browser.post(path, [("csrf", csrf), ("table", "ghost"), ("action", "save"), ("select", "true")])
            #expect(ghost.status == .badRequest)
            #expect(ghost.text.contains("table ghost is not a synchronized table"))

            let disabled = try await browser.post(path, [("csrf", csrf), ("table", "todo"), ("action", "disable")])
            #expect(disabled.status == .ok)
            #expect(try await fixture.storage.policies(database: ServerFixture.database, table: nil).isEmpty)
        }
        #expect(fixture.log.entries.contains { $0.hasPrefix("dashboard: set row-level security policy") && $0.contains("admin=operator") })
        #expect(fixture.log.entries.contains { $0.hasPrefix("dashboard: disabled row-level security") && $0.contains("admin=operator") })
    }

    @Test("devices show who synced and how far behind; refused rows are listed; metrics count the sync", arguments: StorageBackend.allCases)
    func devicesRefusedRowsAndMetrics(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        try await fixture.storage.setPolicy(TablePolicy(table: "todo", select: "true", insert: "NEW.title = auth_userid()"), database: ServerFixture.database)
        let token = try await fixture.server.token(for: "alice")
        let alice = try Device()
        let admin = try Device()
        try await fixture.application().test(.router) { client in
            // alice uploads two rows, one of which the policy refuses; the administrator's
            // device uploads three more, so alice is behind until she downloads them.
            try alice.execute("INSERT INTO todo(id, title) VALUES ('a1', 'alice'), ('a2', 'mallory')")
            let aliceSync = SyncClient(client: client, key: token)
            #expect(try await aliceSync.send(alice) > 0)
            _ = try await aliceSync.receiveAll(alice)
            try admin.insertTodos(3, prefix: "k")
            #expect(try await SyncClient(client: client, key: fixture.server.key).send(admin) > 0)

            let browser = Browser(client)
            try await browser.signIn()
            let devices = try await browser.get("/dashboard/databases/todo.sqlite/devices")
            #expect(devices.status == .ok)
            #expect(devices.text.contains(alice.siteHex))
            #expect(devices.text.contains("<td>alice</td>"))
            #expect(devices.text.contains(admin.siteHex))
            #expect(devices.text.contains("(API key)"))
            #expect(devices.text.contains("never downloaded"))
            #expect(devices.text.firstMatch(of: /[1-9][0-9]* versions?<\/td>/) != nil, "alice is behind")

            _ = try await aliceSync.receiveAll(alice)
            #expect(try await browser.get("/dashboard/databases/todo.sqlite/devices").text.contains("up to date"))

            let refused = try await browser.get("/dashboard/refused")
            #expect(refused.text.contains(alice.siteHex))
            #expect(refused.text.contains("<td>alice</td>"))
            let events = try await fixture.storage.recentRefusedRows(limit: 10)
            #expect(events.map { [$0.database, $0.table, $0.userID, $0.site, String($0.rows)] } == [[ServerFixture.database, "todo", "alice", alice.siteHex, "1"]])

            let summary = try await fixture.storage.databaseSummary(ServerFixture.database)
            #expect(summary.tables == [DatabaseSummary.Table(name: "todo", synchronized: true, rows: 4)])
            #expect(summary.dbVersion >= 2)
            #expect(summary.sizeBytes > 0)
            let home = try await browser.get("/dashboard")
            #expect(home.text.contains("db_version \(summary.dbVersion)"))
            #expect(home.text.contains("<td>todo</td><td>yes</td><td class=\"num\">4</td>"))

            let metrics = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = metrics.text
            #expect(text.contains("# TYPE cloudsync_http_requests_total counter"))
            #expect(text.contains(#"cloudsync_http_requests_total{endpoint="/v1/cloudsync/{database}/{site}/upload",method="POST",status="200"} 2"#))
            #expect(text.contains(#"cloudsync_http_request_duration_seconds_count{endpoint="/v1/cloudsync/{database}/{site}/upload",method="POST",status="200"} 2"#))
            #expect(text.contains("cloudsync_refused_rows_total 1"))
            // alice's accepted row (its columns) and the administrator's three rows.
            let merged = try #require(text.firstMatch(of: /cloudsync_changes_merged_total ([0-9]+)/).flatMap { Int($0.1) })
            #expect(merged >= 4)
            #expect(text.firstMatch(of: /cloudsync_payload_bytes_total\{direction="in"\} [1-9]/) != nil)
            #expect(text.firstMatch(of: /cloudsync_payload_bytes_total\{direction="out"\} [1-9]/) != nil)
            if backend == .postgres {
                #expect(text.contains("cloudsync_postgres_connections_max 4"))
                #expect(text.contains("cloudsync_postgres_connections_in_use 0"))
            } else {
                #expect(!text.contains("cloudsync_postgres_connections"))
            }
        }
    }

    @Test("the refused rows list keeps only the most recent events", arguments: StorageBackend.allCases)
    func refusedRowsBounded(backend: StorageBackend) async throws {
        let fixture = try await DashboardFixture.make(backend)
        defer { Task { await fixture.shutdown() } }
        let extra = 5
        for index in 0..<(RefusedRowsEvent.retained + extra) {
            try await fixture.storage.recordRefusedRows(RefusedRowsEvent(database: ServerFixture.database, site: "s", userID: "u\(index)", table: "todo", rows: 1))
        }
        let kept = try await fixture.storage.recentRefusedRows(limit: 10_000)
        #expect(kept.count == RefusedRowsEvent.retained)
        #expect(kept.first?.userID == "u\(RefusedRowsEvent.retained + extra - 1)", "newest first")
        #expect(kept.last?.userID == "u\(extra)", "the oldest were dropped")
    }

    @Test("each application counts only its own requests")
    func metricsPerApplication() async throws {
        let first = try await DashboardFixture.make(.embedded)
        defer { Task { await first.shutdown() } }
        let second = try await DashboardFixture.make(.embedded)
        defer { Task { await second.shutdown() } }
        try await first.application().test(.router) { client in
            for _ in 0..<3 { _ = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil) }
        }
        try await second.application().test(.router) { client in
            _ = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
        }
        #expect(first.metrics.registry.emitToString().contains(#"cloudsync_http_requests_total{endpoint="/healthz",method="GET",status="200"} 3"#))
        #expect(second.metrics.registry.emitToString().contains(#"cloudsync_http_requests_total{endpoint="/healthz",method="GET",status="200"} 1"#))
    }

    @Test("the dashboard can be turned off")
    func turnedOff() async throws {
        let fixture = try await DashboardFixture.make(.embedded)
        defer { Task { await fixture.shutdown() } }
        try await fixture.application(dashboard: false).test(.router) { client in
            let page = try await Browser(client).get("/dashboard/signin")
            #expect(page.status == .notFound)
            let health = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .ok)
        }
    }
}

@Suite("Administrator passwords")
struct AdminPasswordTests {
    @Test("a hash verifies its password only, and each has its own salt")
    func verify() throws {
        let first = try AdminPassword.hash("correct horse battery staple", rounds: 1000)
        let second = try AdminPassword.hash("correct horse battery staple", rounds: 1000)
        #expect(first != second)
        #expect(first.hasPrefix("pbkdf2-sha256$1000$"))
        #expect(AdminPassword.verify("correct horse battery staple", against: first))
        #expect(AdminPassword.verify("correct horse battery staple", against: second))
        #expect(!AdminPassword.verify("correct horse battery stapl", against: first))
        #expect(!AdminPassword.verify("", against: first))
        for malformed in ["", "plain", "pbkdf2-sha256$x$00$00", "md5$1000$00$00", "pbkdf2-sha256$1000$zz$00", first + "$"] {
            #expect(!AdminPassword.verify("correct horse battery staple", against: malformed), "\(malformed)")
        }
    }

    @Test("past the bound a password check is refused at once, not queued")
    func gate() async throws {
        let gate = SignInGate(limit: 1)
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        async let first = gate.check {
            started.signal()
            release.wait()
            return true
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                started.wait()
                continuation.resume()
            }
        }
        #expect(try await gate.check { true } == nil)
        release.signal()
        #expect(try await first == true)
        #expect(try await gate.check { false } == false)
    }

    @Test("the default is slow on purpose")
    func defaultRounds() throws {
        #expect(try AdminPassword.hash("x").hasPrefix("pbkdf2-sha256$600000$"))
        #expect(AdminPassword.generate().count == 24)
        #expect(AdminPassword.generate() != AdminPassword.generate())
    }
}
