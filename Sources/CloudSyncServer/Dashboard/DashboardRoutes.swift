import CloudSyncCore
import Foundation
import Hummingbird
import Logging

/// The operators' console: server-rendered pages under `/dashboard` (docs/operations.md).
///
/// Every page but the sign-in page needs a session; without one, any `/dashboard` path answers
/// with the sign-in page (401). Every POST carries the session's CSRF token (the sign-in form a
/// token of its own, paired with a cookie), and every action an administrator takes is written
/// to the server log with `audit=dashboard` and their name.
struct DashboardRoutes: Sendable {
    static let sessionCookie = "cloudsync_session"
    static let signInCookie = "cloudsync_signin"
    /// Largest form accepted (a schema is the largest field).
    static let maxFormSize = 1 << 20

    let storage: any ConsoleStorage
    let configuration: ServerConfiguration
    let logger: Logger
    let sessions = DashboardSessions()
    let gate = SignInGate()
    let pages = DashboardPages()

    /// An authenticated request: its session and, for a POST, its form (CSRF already checked).
    struct Signed {
        var session: DashboardSessions.Session
        var form: DashboardForm
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/dashboard/signin") { request, _ in signInPage(request, status: .ok) }
        router.post("/dashboard/signin") { request, _ in try await signIn(request) }
        router.post("/dashboard/signout") { request, _ in try await signedIn(request) { try signOut($0) } }
        router.get("/dashboard") { request, _ in try await signedIn(request) { try await databasesPage($0) } }
        router.get("/dashboard/refused") { request, _ in try await signedIn(request) { try await refusedPage($0) } }
        // Not under /dashboard/databases/: "new" is a valid database name.
        router.get("/dashboard/new") { request, _ in
            try await signedIn(request) { pages.render("new-database", ["title": "New database"], $0) }
        }
        router.post("/dashboard/new") { request, _ in try await signedIn(request) { try await createDatabase($0) } }
        router.get("/dashboard/databases/:name") { request, context in
            try await signedIn(request) { try await databasePage($0, try name(context)) }
        }
        router.get("/dashboard/databases/:name/devices") { request, context in
            try await signedIn(request) { try await devicesPage($0, try name(context)) }
        }
        router.get("/dashboard/databases/:name/keys") { request, context in
            try await signedIn(request) { try await keysPage($0, try name(context)) }
        }
        router.post("/dashboard/databases/:name/keys") { request, context in
            try await signedIn(request) { try await createKey($0, try name(context)) }
        }
        router.post("/dashboard/databases/:name/keys/revoke") { request, context in
            try await signedIn(request) { try await revokeKey($0, try name(context)) }
        }
        router.post("/dashboard/databases/:name/tokens") { request, context in
            try await signedIn(request) { try await issueToken($0, try name(context)) }
        }
        router.post("/dashboard/databases/:name/tokens/revoke") { request, context in
            try await signedIn(request) { try await revokeToken($0, try name(context)) }
        }
        router.get("/dashboard/databases/:name/policies") { request, context in
            try await signedIn(request) { try await policiesPage($0, try name(context)) }
        }
        router.post("/dashboard/databases/:name/policies") { request, context in
            try await signedIn(request) { try await savePolicy($0, try name(context)) }
        }
        // Anything else under /dashboard: the sign-in page, or "not found" once signed in.
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/dashboard/**", method: method) { request, _ in
                try await signedIn(request) { pages.message(.notFound, "Not found", "There is no such page.", $0) }
            }
        }
    }

    // MARK: Sign-in

    /// The sign-in page, with a fresh CSRF pair: the token in the form, the same in a cookie.
    func signInPage(_ request: Request, status: HTTPResponse.Status, user: String = "", error: String? = nil) -> Response {
        let token = RandomToken.make()
        var values: [String: Any] = ["title": "Sign in", "signinCSRF": token, "user": user]
        if let error { values["error"] = error }
        var response = pages.render("signin", values, nil, status: status)
        response.setCookie(cookie(Self.signInCookie, token, maxAge: 3600))
        return response
    }

    func signIn(_ request: Request) async throws -> Response {
        let form = try await self.form(request)
        guard let expected = request.cookies[Self.signInCookie]?.value, let sent = form["csrf"], Self.same(sent, expected) else {
            return signInPage(request, status: .forbidden, error: "The sign-in form expired. Please sign in again.")
        }
        let user = form.trimmed("user") ?? ""
        let password = form["password"] ?? ""
        let stored = user.isEmpty ? nil : try await storage.administratorPasswordHash(user: user)
        // A missing user costs as much as a wrong password, so timing does not tell which.
        let against = stored ?? Self.decoyHash
        guard let valid = try await gate.check({ AdminPassword.verify(password, against: against) }) else {
            return signInPage(request, status: .tooManyRequests, user: user, error: "Too many sign-in attempts at once. Try again in a moment.")
        }
        guard valid, stored != nil else {
            logger.notice("dashboard: sign-in refused", metadata: ["audit": "dashboard", "admin": "\(user.prefix(64))"])
            return signInPage(request, status: .unauthorized, user: user, error: "Wrong administrator or password.")
        }
        let session = sessions.create(user: user)
        audit(session, "signed in")
        var response = Self.redirect("/dashboard")
        // No Max-Age: the browser drops it when it closes; the server ends it when idle.
        response.setCookie(cookie(Self.sessionCookie, session.id, maxAge: nil))
        response.setCookie(cookie(Self.signInCookie, "", maxAge: 0))
        return response
    }

    /// A hash checked when the user does not exist (its password is random and thrown away).
    static let decoyHash = (try? AdminPassword.hash(RandomToken.make())) ?? ""

    func signOut(_ signed: Signed) throws -> Response {
        sessions.end(id: signed.session.id)
        audit(signed.session, "signed out")
        var response = Self.redirect("/dashboard/signin")
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
        return response
    }

    /// Runs `body` for a signed-in administrator; the sign-in page otherwise. A POST must carry
    /// the session's CSRF token.
    func signedIn(_ request: Request, _ body: (Signed) async throws -> Response) async throws -> Response {
        guard let id = request.cookies[Self.sessionCookie]?.value, let session = sessions.session(id: id) else {
            return signInPage(request, status: .unauthorized)
        }
        var form = DashboardForm(urlEncoded: "")
        if request.method == .post {
            form = try await self.form(request)
            guard let sent = form["csrf"], Self.same(sent, session.csrf) else {
                logger.notice("dashboard: request without a valid CSRF token refused", metadata: ["audit": "dashboard", "admin": "\(session.user)", "path": "\(request.uri.path)"])
                return pages.message(.forbidden, "Request refused", "This form is out of date or did not come from the dashboard. Reload the page and try again.", Signed(session: session, form: form))
            }
        }
        let signed = Signed(session: session, form: form)
        do {
            return try await body(signed)
        } catch let error as SyncStorageError {
            if error.kind == .failure {
                logger.error("dashboard: \(request.method) \(request.uri.path) failed: \(error.message)")
            }
            let mapped = ServerError(error)
            return pages.message(mapped.status, "Error", mapped.message, signed)
        }
    }

    // MARK: Databases

    func databasesPage(_ signed: Signed) async throws -> Response {
        var databases: [[String: Any]] = []
        for name in try await storage.listDatabases() {
            let summary = try await storage.databaseSummary(name)
            databases.append([
                "name": name, "dbVersion": summary.dbVersion, "size": Self.size(summary.sizeBytes),
                "tableCount": summary.tables.count, "synchronizedCount": summary.tables.filter(\.synchronized).count,
                "tables": summary.tables.map { ["name": $0.name, "synchronized": $0.synchronized, "rows": $0.rows] as [String: Any] },
            ])
        }
        return pages.render("databases", ["title": "Databases", "databases": databases], signed)
    }

    func databasePage(_ signed: Signed, _ name: String) async throws -> Response {
        let summary = try await storage.databaseSummary(name)
        let protected = Set(try await storage.policies(database: name, table: nil).map { $0.table.lowercased() })
        let devices = try await storage.devices(database: name)
        return pages.render("database", [
            "title": name, "database": name, "onOverview": true, "dbVersion": summary.dbVersion, "size": Self.size(summary.sizeBytes),
            "deviceCount": devices.count,
            "tables": summary.tables.map { ["name": $0.name, "synchronized": $0.synchronized, "rows": $0.rows, "rls": protected.contains($0.name.lowercased())] as [String: Any] },
        ], signed)
    }

    /// `POST /dashboard/new`: step `tables` reads the schema and lists its tables to
    /// tick; step `create` creates the database with the ticked ones.
    func createDatabase(_ signed: Signed) async throws -> Response {
        let form = signed.form
        let name = form.trimmed("name") ?? ""
        let schema = form["schema"] ?? ""
        var values: [String: Any] = ["title": "New database", "name": name, "schema": schema]
        func again(_ key: String, _ error: String, tables: [String] = [], ticked: Set<String> = []) -> Response {
            values[key] = error
            if !tables.isEmpty {
                values["hasTables"] = true
                values["tables"] = tables.map { ["name": $0, "checked": ticked.contains($0)] as [String: Any] }
            }
            return pages.render("new-database", values, signed, status: .badRequest)
        }
        let nameError = DatabaseName.isValid(name) ? nil : "Use 1 to 64 characters from A-Z a-z 0-9 _ . - (not starting with . or -), e.g. todo.sqlite."
        if let nameError { values["nameError"] = nameError }
        let tables: [String]
        do {
            tables = try SchemaTables.names(in: schema)
        } catch let error as SyncStorageError {
            return again("schemaError", error.message)
        }
        if let nameError { return again("nameError", nameError, tables: tables, ticked: Set(tables)) }
        guard form["step"] == "create" else {
            values["hasTables"] = true
            values["tables"] = tables.map { ["name": $0, "checked": true] as [String: Any] }
            return pages.render("new-database", values, signed)
        }
        let ticked = form.all("table")
        guard !ticked.isEmpty else {
            return again("tablesError", "Tick at least one table to synchronize.", tables: tables)
        }
        do {
            let synchronized = try await storage.createDatabase(name: name, schema: schema, tables: ticked)
            audit(signed.session, "created database", ["database": "\(name)", "tables": "\(synchronized.joined(separator: ","))"])
        } catch let error as SyncStorageError where error.kind != .failure {
            let key = [.invalidName, .databaseExists].contains(error.kind) ? "nameError" : "schemaError"
            return again(key, error.message, tables: tables, ticked: Set(ticked))
        }
        return Self.redirect("/dashboard/databases/\(name)")
    }

    func devicesPage(_ signed: Signed, _ name: String) async throws -> Response {
        let summary = try await storage.databaseSummary(name)
        let devices = try await storage.devices(database: name).map { device -> [String: Any] in
            let behind: String
            if let checked = device.checkedVersion {
                let versions = max(0, summary.dbVersion - checked)
                behind = versions == 0 ? "up to date" : "\(versions) version\(versions == 1 ? "" : "s")"
            } else {
                behind = "never downloaded"
            }
            return [
                "site": device.site, "user": device.userID ?? "(API key)", "lastSeen": device.lastSeen,
                // A token user's cursor also numbers the corrections queued for them, which can run
                // ahead of the database's own version: they have all of it then.
                "checked": device.checkedVersion.map { String(min($0, summary.dbVersion)) } ?? "–", "behind": behind,
            ]
        }
        return pages.render("devices", [
            "title": "Devices of \(name)", "database": name, "onDevices": true, "dbVersion": summary.dbVersion,
            "devices": devices, "hasDevices": !devices.isEmpty,
        ], signed)
    }

    // MARK: Keys and tokens

    func keysPage(_ signed: Signed, _ name: String, extra: [String: Any] = [:], status: HTTPResponse.Status = .ok) async throws -> Response {
        guard try await storage.databaseExists(name) else { throw SyncStorageError(.unknownDatabase, "database \(name) does not exist") }
        let keys = try await storage.apiKeys(database: name).map { key -> [String: Any] in
            ["hash": key.hash, "short": String(key.hash.prefix(12)), "createdAt": key.createdAt, "revoked": key.revokedAt != nil,
             "status": key.revokedAt.map { "revoked \($0)" } ?? "active"]
        }
        let now = Int64(Date().timeIntervalSince1970)
        let tokens = try await storage.accessTokens(database: name).map { token -> [String: Any] in
            let expired = token.expiresAt.map { $0 <= now } ?? false
            return [
                "tokenID": token.tokenID, "shortID": String(token.tokenID.prefix(12)), "user": token.userID, "name": token.name ?? "",
                "expires": token.expiresAt.map { Self.iso(Date(timeIntervalSince1970: TimeInterval($0))) } ?? "never",
                "createdAt": token.createdAt, "revoked": token.revokedAt != nil || expired,
                "status": token.revokedAt.map { "revoked \($0)" } ?? (expired ? "expired" : "active"),
            ]
        }
        var values: [String: Any] = [
            "title": "Keys of \(name)", "database": name, "onKeys": true, "keys": keys, "hasKeys": !keys.isEmpty,
            "tokens": tokens, "hasTokens": !tokens.isEmpty, "tokenAttributes": "{}",
        ]
        values.merge(extra) { $1 }
        return pages.render("keys", values, signed, status: status)
    }

    func createKey(_ signed: Signed, _ name: String) async throws -> Response {
        let key = try await storage.createAPIKey(database: name)
        audit(signed.session, "created API key", ["database": "\(name)", "key_hash": "\(APIKey.hash(key).prefix(12))"])
        // Shown in this response only: never stored, never in a URL.
        return try await keysPage(signed, name, extra: ["newKey": key])
    }

    func revokeKey(_ signed: Signed, _ name: String) async throws -> Response {
        let hash = signed.form["hash"] ?? ""
        guard try await storage.apiKeys(database: name).contains(where: { $0.hash == hash }) else {
            throw SyncStorageError(.unknownKey, "no such API key of \(name)")
        }
        try await storage.revokeAPIKey(hash: hash)
        audit(signed.session, "revoked API key", ["database": "\(name)", "key_hash": "\(hash.prefix(12))"])
        return Self.redirect("/dashboard/databases/\(name)/keys")
    }

    func issueToken(_ signed: Signed, _ name: String) async throws -> Response {
        let form = signed.form
        let user = form.trimmed("user") ?? ""
        let displayName = form.trimmed("name")
        let attributes = form.trimmed("attributes") ?? "{}"
        let entered: [String: Any] = ["tokenUser": user, "tokenName": displayName ?? "", "tokenAttributes": attributes, "tokenExpires": form["expires"] ?? ""]
        var expiry: Duration?
        if let text = form.trimmed("expires") {
            guard let seconds = Int64(text), seconds > 0 else {
                return try await keysPage(signed, name, extra: entered.merging(["tokenError": "The expiry must be a whole number of seconds greater than 0, or empty."]) { $1 }, status: .badRequest)
            }
            expiry = .seconds(seconds)
        }
        let token: String
        do {
            token = try await TokenAuthority(storage: storage).issue(database: name, userID: user, name: displayName, attributesJSON: attributes, expiresIn: expiry)
        } catch let error as TokenError {
            return try await keysPage(signed, name, extra: entered.merging(["tokenError": error.message]) { $1 }, status: .badRequest)
        }
        audit(signed.session, "issued access token", ["database": "\(name)", "user": "\(user)"])
        return try await keysPage(signed, name, extra: ["newToken": token, "newTokenUser": user])
    }

    func revokeToken(_ signed: Signed, _ name: String) async throws -> Response {
        let tokenID = signed.form["token_id"] ?? ""
        guard try await storage.accessTokens(database: name).contains(where: { $0.tokenID == tokenID }) else {
            throw SyncStorageError(.unknownToken, "no such access token of \(name)")
        }
        try await storage.revokeToken(id: tokenID)
        audit(signed.session, "revoked access token", ["database": "\(name)", "token_id": "\(tokenID)"])
        return Self.redirect("/dashboard/databases/\(name)/keys")
    }

    // MARK: Row-Level Security

    /// The policies page; `edited` replaces one table's stored policy by what was submitted,
    /// with `errors` by field (`select`...`delete`, or `table`).
    func policiesPage(
        _ signed: Signed, _ name: String, edited: TablePolicy? = nil, errors: [String: String] = [:], notice: String? = nil,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let summary = try await storage.databaseSummary(name)
        let stored = Dictionary(try await storage.policies(database: name, table: nil).map { ($0.table.lowercased(), $0) }) { first, _ in first }
        let tables = summary.tables.filter(\.synchronized).map { table -> [String: Any] in
            let key = table.name.lowercased()
            let isEdited = edited?.table.lowercased() == key
            let policy = isEdited ? edited : stored[key]
            let fields: [[String: Any]] = [
                ("select", policy?.select, "which rows users download"), ("insert", policy?.insert, "which new rows users may upload"),
                ("update", policy?.update, "which changes users may upload"), ("delete", policy?.delete, "which rows users may delete"),
            ].map { operation, value, purpose in
                var field: [String: Any] = ["operation": operation, "value": value ?? "", "purpose": purpose]
                if isEdited, let error = errors[operation] { field["error"] = error }
                return field
            }
            var values: [String: Any] = ["table": table.name, "enabled": stored[key] != nil, "fields": fields]
            if isEdited, let error = errors["table"] { values["tableError"] = error }
            return values
        }
        var values: [String: Any] = ["title": "Row-Level Security of \(name)", "database": name, "onPolicies": true, "tables": tables]
        if let notice { values["notice"] = notice }
        return pages.render("policies", values, signed, status: status)
    }

    func savePolicy(_ signed: Signed, _ name: String) async throws -> Response {
        let form = signed.form
        let table = form["table"] ?? ""
        if form["action"] == "disable" {
            try await storage.disablePolicy(database: name, table: table)
            audit(signed.session, "disabled row-level security", ["database": "\(name)", "table": "\(table)"])
            return try await policiesPage(signed, name, notice: "Row-Level Security is off for \(table).")
        }
        // An empty field denies the operation, as an option left out of `policy set` does.
        let policy = TablePolicy(table: table, select: form.trimmed("select"), insert: form.trimmed("insert"), update: form.trimmed("update"), delete: form.trimmed("delete"))
        do {
            try await storage.setPolicy(policy, database: name)
        } catch let error as SyncStorageError where error.kind == .invalidPolicy {
            guard try await storage.databaseSummary(name).tables.contains(where: { $0.synchronized && $0.name.lowercased() == table.lowercased() }) else {
                throw error  // not a table of the page: no field to show it next to
            }
            return try await policiesPage(signed, name, edited: policy, errors: [Self.field(of: error.message): error.message], status: .badRequest)
        }
        audit(signed.session, "set row-level security policy", ["database": "\(name)", "table": "\(table)"])
        return try await policiesPage(signed, name, notice: "Policies of \(table) saved.")
    }

    /// The form field a policy error belongs to: its message starts with the operation's name.
    static func field(of message: String) -> String {
        ["select", "insert", "update", "delete"].first { message.hasPrefix($0 + " ") } ?? "table"
    }

    // MARK: Refused rows

    func refusedPage(_ signed: Signed) async throws -> Response {
        let events = try await storage.recentRefusedRows(limit: RefusedRowsEvent.retained).map { event -> [String: Any] in
            ["at": event.at, "database": event.database, "table": event.table, "userID": event.userID, "site": event.site, "rows": event.rows]
        }
        return pages.render("refused", ["title": "Refused rows", "events": events, "hasEvents": !events.isEmpty, "retained": RefusedRowsEvent.retained], signed)
    }

    // MARK: Helpers

    func name(_ context: BasicRequestContext) throws -> String {
        guard let name = context.parameters.get("name"), DatabaseName.isValid(name) else {
            throw SyncStorageError(.unknownDatabase, "no such database")
        }
        return name
    }

    func form(_ request: Request) async throws -> DashboardForm {
        let body = try await request.body.collect(upTo: Self.maxFormSize)
        return DashboardForm(urlEncoded: String(buffer: body))
    }

    /// Writes an administrator's action to the server log, which is the audit log.
    func audit(_ session: DashboardSessions.Session, _ action: String, _ metadata: Logger.Metadata = [:]) {
        var metadata = metadata
        metadata["audit"] = "dashboard"
        metadata["admin"] = "\(session.user)"
        logger.notice("dashboard: \(action)", metadata: metadata)
    }

    /// A session or sign-in cookie: HttpOnly, SameSite=Strict, only for the dashboard's paths,
    /// and Secure when the server is reached over https.
    func cookie(_ name: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookie(
            name: name, value: value, maxAge: maxAge, path: "/dashboard",
            secure: configuration.publicBaseURL?.lowercased().hasPrefix("https://") ?? false, httpOnly: true, sameSite: .strict)
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func same(_ a: String, _ b: String) -> Bool {
        AdminPassword.constantTimeEqual(Array(a.utf8), Array(b.utf8))
    }

    static func size(_ bytes: Int64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", value, units[unit])
    }

    static func iso(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
