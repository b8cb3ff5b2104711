import CloudSyncCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

/// The sync protocol's HTTP endpoints (sync-protocol.md).
///
///     GET  /healthz
///     GET  /v1/cloudsync/{database}/{site}/upload                  -> blob URL for the PUT
///     POST /v1/cloudsync/{database}/{site}/upload                  {"url": ...} -> merge
///     POST /v1/cloudsync/{database}/{site}/{dbversion}/{seq}/check -> "" or download URL
///          (with Cloudsync-Wait-Ms: held until a change arrives; see `WaitingCheck`)
///     GET  /v1/cloudsync/{database}/{site}/{dbversion}/{seq}/subscribe -> text/event-stream
///          (an event whenever changes wait for the device; see `ChangeSubscription`)
///     PUT  /v1/blobs/{token}                                       upload (no credential)
///     GET  /v1/blobs/{token}                                       download (no credential)
struct SyncRoutes: Sendable {
    static let blobPathPrefix = "/v1/blobs/"
    /// Largest notify body ({"url": ...}) accepted.
    static let maxNotifyBody = 64 << 10
    static let deniedHeader = HTTPField.Name(DeniedRowsHeader.name)!
    static let waitHeader = HTTPField.Name(WaitingCheck.requestHeader)!
    static let capabilityHeader = HTTPField.Name(WaitingCheck.capabilityHeader)!
    static let inlineHeader = HTTPField.Name(InlineCheck.requestHeader)!
    static let inlineAnswerHeader = HTTPField.Name(InlineCheck.responseHeader)!
    /// How often a waiting check with nothing happening checks its credential again.
    static let credentialRecheck = Duration.seconds(15)

    let storage: any SyncStorage
    let tokens: TokenAuthority
    let blobs: any BlobStorage
    let configuration: ServerConfiguration
    let logger: Logger
    let activity: SyncActivity
    let notifier: ChangeNotifier
    let prefetch: PagePrefetch

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in try await health() }
        router.get("/v1/cloudsync/:database/:site/upload") { request, context in
            try await uploadURL(request, context)
        }
        router.post("/v1/cloudsync/:database/:site/upload") { request, context in
            try await notify(request, context)
        }
        router.post("/v1/cloudsync/:database/:site/:dbversion/:seq/check") { request, context in
            try await check(request, context)
        }
        if configuration.subscriptions {
            router.get("/v1/cloudsync/:database/:site/:dbversion/:seq/subscribe") { request, context in
                try await subscribe(request, context)
            }
        }
        router.put("/v1/blobs/:token") { request, context in
            try await putBlob(request, context)
        }
        router.get("/v1/blobs/:token") { request, context in
            try await getBlob(request, context)
        }
    }

    // MARK: Endpoints

    func health() async throws -> Response {
        guard await storage.isHealthy() else {
            throw ServerError(.serviceUnavailable, "storage unavailable")
        }
        return textResponse(.ok, "ok")
    }

    /// `GET UPLOAD`: a one-time URL to PUT a payload to.
    func uploadURL(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let target = try await authorizedTarget(request, context)
        let base = try baseURL(request)
        let token = try await blobs.issueUpload(database: target.database, site: target.site)
        logger.debug("issued upload URL", metadata: ["database": "\(target.database)", "site": "\(target.site)"])
        var response = textResponse(.ok, base + Self.blobPathPrefix + token)
        response.headers[Self.capabilityHeader] = capabilities
        return response
    }

    /// `PUT <blob URL>`: stores an upload's payload until its notify.
    func putBlob(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let token = try blobToken(context)
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > configuration.maxBodySize {
            throw ServerError(.contentTooLarge, "payload of \(declared) bytes is over the limit of \(configuration.maxBodySize) bytes")
        }
        do {
            try await blobs.beginUpload(token: token)
        } catch {
            throw ServerError(blobError: error)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maxBodySize)
        } catch {
            await blobs.abortUpload(token: token)
            throw error
        }
        let payload = Array(body.readableBytesView)
        do {
            try await blobs.finishUpload(token: token, payload: payload)
        } catch {
            throw ServerError(blobError: error)
        }
        return Response(status: .ok)
    }

    /// `POST UPLOAD`: merges the payload PUT at the given URL; answers only once the merge
    /// is committed.
    func notify(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        let target = try await authorizedTarget(request, context)
        let body = try await request.body.collect(upTo: Self.maxNotifyBody)
        struct Notify: Decodable { var url: String }
        guard let notice = try? JSONDecoder().decode(Notify.self, from: Data(body.readableBytesView)) else {
            throw ServerError(.badRequest, "expected a JSON body {\"url\": \"<blob URL>\"}")
        }
        guard let token = Self.token(fromURL: notice.url) else {
            throw ServerError(.badRequest, "not a blob URL of this server: \(notice.url.prefix(200))")
        }
        let payload: [UInt8]
        do {
            payload = try await blobs.takeUpload(token: token, database: target.database, site: target.site)
        } catch {
            throw ServerError(blobError: error)
        }
        let result = try await storage.merge(database: target.database, site: target.site, payload: payload, as: target.principal)
        await activity.merged(target, bytes: payload.count, result: result)
        if result.changes > 0 { notifier.changed(target.database) }
        var metadata: Logger.Metadata = [
            "database": "\(target.database)", "site": "\(target.site)",
            "bytes": "\(payload.count)", "changes": "\(result.changes)",
            "ms": "\(ErrorAndLogMiddleware<BasicRequestContext>.milliseconds(ContinuousClock.now - start))",
        ]
        var headers = HTTPFields()
        headers[Self.capabilityHeader] = capabilities
        if !result.denied.isEmpty {
            metadata["denied_rows"] = "\(result.denied.map(\.rows).reduce(0, +))"
            headers[Self.deniedHeader] = DeniedRowsHeader.encode(result.denied.map { ($0.table, $0.rows) })
        }
        if !result.failedRows.isEmpty {
            metadata["failed_rows"] = "\(result.failedRows.count)"
            logger.warning("merged upload with rows that failed a constraint: \(result.failedRows.prefix(5).joined(separator: "; "))", metadata: metadata)
        } else {
            logger.info("merged upload", metadata: metadata)
        }
        return Response(status: .ok, headers: headers)
    }

    /// `POST CHECK`: the next page of changes after the client's cursor, as a download URL,
    /// or an empty body when there is nothing new.
    func check(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        let target = try await authorizedTarget(request, context)
        let cursor = try pathCursor(context)
        let base = try baseURL(request)
        await blobs.releaseDownloads(database: target.database, site: target.site, through: cursor)
        await activity.checked(target, after: cursor.dbVersion)
        var headers = HTTPFields()
        headers[Self.capabilityHeader] = capabilities
        let page = try await waitForChanges(target, after: cursor, waiting: requestedWait(request), request, context)
        var metadata: Logger.Metadata = [
            "database": "\(target.database)", "site": "\(target.site)", "after": "\(cursor)",
            "changes": "\(page?.count ?? 0)",
        ]
        guard let page else {
            metadata["ms"] = "\(ErrorAndLogMiddleware<BasicRequestContext>.milliseconds(ContinuousClock.now - start))"
            logger.info("check: nothing new", metadata: metadata)
            return Response(status: .ok, headers: headers)
        }
        metadata["bytes"] = "\(page.payload.count)"
        metadata["last"] = "\(page.last)"
        await buildNextPageAhead(target, after: page, next: page.last, options: pageOptions)
        if let accepted = request.headers[Self.inlineHeader].flatMap(Int.init), page.payload.count <= min(accepted, configuration.maxInlinePayload) {
            // The page itself, for a client that asked (`InlineCheck`): no blob, no second request.
            activity.downloaded(bytes: page.payload.count)
            metadata["ms"] = "\(ErrorAndLogMiddleware<BasicRequestContext>.milliseconds(ContinuousClock.now - start))"
            logger.info("check: inline page", metadata: metadata)
            headers[.contentType] = "application/octet-stream"
            headers[Self.inlineAnswerHeader] = InlineCheck.responseValue
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: page.payload)))
        }
        let token: String
        do {
            token = try await blobs.storeDownload(database: target.database, site: target.site, payload: page.payload, last: page.last)
        } catch {
            throw ServerError(blobError: error)
        }
        metadata["ms"] = "\(ErrorAndLogMiddleware<BasicRequestContext>.milliseconds(ContinuousClock.now - start))"
        logger.info("check: built download", metadata: metadata)
        var response = textResponse(.ok, base + Self.blobPathPrefix + token)
        response.headers[Self.capabilityHeader] = capabilities
        return response
    }

    /// What every check and upload answer advertises in `Cloudsync-Capabilities`: a client
    /// of this project switches to protocol v2 when it is named (`ProtocolDiscovery`).
    var capabilities: String {
        var names = [WaitingCheck.capability]
        if configuration.subscriptions { names.append(ChangeSubscription.capability) }
        if configuration.protocolV2 { names.append(ProtocolDiscovery.capability) }
        return names.joined(separator: ", ")
    }

    /// The cursor in a check or subscribe path.
    func pathCursor(_ context: BasicRequestContext) throws -> SyncCursor {
        guard let dbVersion = context.parameters.get("dbversion", as: Int64.self), dbVersion >= 0,
              let seq = context.parameters.get("seq", as: Int64.self), seq >= 0
        else {
            throw ServerError(.badRequest, "db_version and seq in the path must be integers >= 0")
        }
        return SyncCursor(dbVersion: dbVersion, seq: seq)
    }

    /// How long the client asks the check to wait, within `maxCheckWait`.
    func requestedWait(_ request: Request) -> Duration {
        guard let text = request.headers[Self.waitHeader], let milliseconds = Int(text), milliseconds > 0 else { return .zero }
        return min(.milliseconds(milliseconds), configuration.maxCheckWait)
    }

    /// The next page after `cursor`; when there is none, waits up to `wait` for a change of the
    /// database and looks again. A change the device may not see (Row-Level Security) wakes
    /// the wait but yields no page, so the wait goes on: the device is answered only for what
    /// it will receive.
    func waitForChanges(
        _ target: Target, after cursor: SyncCursor, waiting wait: Duration, _ request: Request, _ context: BasicRequestContext
    ) async throws -> ChangesPage? {
        let deadline = ContinuousClock.now + wait
        var epoch = notifier.epoch(of: target.database)
        var page = try await nextPage(target, after: cursor, options: pageOptions)
        guard page == nil, wait > .zero else { return page }
        // A graceful shutdown waits for the requests in flight: it must not wait for checks
        // held open (the server's shutdown comes before its other services').
        let notifier = notifier
        return try await withGracefulShutdownHandler {
            while page == nil {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { return nil }
                let result = await notifier.wait(target.database, after: epoch, timeout: min(left, Self.credentialRecheck))
                // Too many waiting, shutting down, or cancelled: answer as an old server would.
                if result == .refused { return nil }
                // A credential revoked while the check waits ends it: at the next change, or
                // within `credentialRecheck` when nothing changes.
                _ = try await authorizedTarget(request, context)
                guard result == .changed else { continue }
                epoch = notifier.epoch(of: target.database)
                page = try await storage.changes(
                    database: target.database, excludingSite: target.site, after: cursor, limit: configuration.maxChangesPerPage,
                    options: pageOptions, as: target.principal)
            }
            return page
        } onGracefulShutdown: {
            notifier.close()
        }
    }

    /// The pages of protocol-v1 clients.
    var pageOptions: ChangesPageOptions { ChangesPageOptions.v1Clients.bounded(to: configuration.maxBytesPerPage) }

    func pageKey(_ target: Target, after cursor: SyncCursor, options: ChangesPageOptions) -> PagePrefetch.Key {
        PagePrefetch.Key(database: target.database, site: target.site, cursor: cursor, options: options, limit: configuration.maxChangesPerPage)
    }

    /// The page after `cursor` in the client's `options`: the one built ahead for it if there
    /// is one (`PagePrefetch`), else from storage.
    func nextPage(_ target: Target, after cursor: SyncCursor, options: ChangesPageOptions) async throws -> ChangesPage? {
        if target.principal == .administrator, let page = await prefetch.take(pageKey(target, after: cursor, options: options)) {
            return page
        }
        return try await storage.changes(
            database: target.database, excludingSite: target.site, after: cursor, limit: configuration.maxChangesPerPage,
            options: options, as: target.principal)
    }

    /// After a full page for an administrator's device (a backlog, most likely more to come),
    /// starts building the next one, after `next` (the cursor the device will send), while the
    /// device merges this one (`PagePrefetch`).
    func buildNextPageAhead(_ target: Target, after page: ChangesPage, next: SyncCursor, options: ChangesPageOptions) async {
        guard target.principal == .administrator,
              page.count >= configuration.maxChangesPerPage || page.payload.count >= configuration.maxBytesPerPage / 2
        else { return }
        let (storage, limit) = (storage, configuration.maxChangesPerPage)
        await prefetch.start(pageKey(target, after: next, options: options)) {
            try await storage.changes(
                database: target.database, excludingSite: target.site, after: next, limit: limit, options: options, as: .administrator)
        }
    }

    /// `GET <download URL>`: a page built by a check.
    func getBlob(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let token = try blobToken(context)
        let payload: [UInt8]
        do {
            payload = try await blobs.download(token: token)
        } catch {
            throw ServerError(blobError: error)
        }
        activity.downloaded(bytes: payload.count)
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: payload)))
    }

    // MARK: Request parts

    struct Target {
        var database: String
        var site: SiteID
        var principal: Principal
    }

    /// The database and site of a sync path, after checking the site id and the credential.
    ///
    /// `Authorization: Bearer X`: an X shaped like a JWT is an access token (a user, subject
    /// to Row-Level Security), anything else an API key (the administrator).
    ///
    /// Order of checks: site id (400), credential present and valid at all (401), database
    /// exists (404), credential valid for that database (401); then, for a token user, the
    /// site must be theirs (403). A caller without a valid credential therefore cannot learn
    /// which databases exist.
    func authorizedTarget(_ request: Request, _ context: BasicRequestContext) async throws -> Target {
        try await authorizedTarget(
            database: context.parameters.get("database") ?? "", siteText: context.parameters.get("site") ?? "",
            authorization: request.headers[.authorization])
    }

    /// `authorizedTarget(_:_:)` from the request's parts: a subscription checks its credential
    /// again long after its request was handled.
    func authorizedTarget(database: String, siteText: String, authorization: String?) async throws -> Target {
        guard let site = SiteID(hex: siteText) else {
            throw ServerError(.badRequest, "invalid site id '\(siteText.prefix(64))': expected 32 hex digits")
        }
        guard let authorization else {
            throw ServerError(.unauthorized, "missing credential: send Authorization: Bearer <API key or access token>")
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw ServerError(.unauthorized, "unsupported Authorization header: send Authorization: Bearer <API key or access token>")
        }
        let credential = parts[1].trimmingCharacters(in: .whitespaces)
        guard TokenAuthority.looksLikeToken(credential) else {
            return try await apiKeyTarget(key: credential, database: database, site: site)
        }

        let claims: AccessClaims
        do {
            claims = try await tokens.verify(credential)
        } catch let error as TokenError {
            throw ServerError(.unauthorized, error.message)
        }
        guard try await storage.databaseExists(database) else {
            throw ServerError(.notFound, "database \(database.prefix(80)) does not exist")
        }
        do {
            try TokenAuthority.checkScope(claims, database: database)
        } catch let error as TokenError {
            throw ServerError(.unauthorized, error.message)
        }
        // A site id stands for one device: uploads are stamped with it and the feed leaves
        // its changes out. Bound to the first user who syncs with it, no other user can
        // pass for that device.
        guard try await storage.bindSite(database: database, site: site, userID: claims.userID) else {
            logger.warning("site bound to another user", metadata: ["database": "\(database)", "site": "\(site)", "user": "\(claims.userID)"])
            throw ServerError(.forbidden, "site id \(site) belongs to another user of this database: each user needs their own site id; on a device that changes user, call cloudsync_network_logout() to get a new site id")
        }
        return Target(database: database, site: site, principal: .user(claims))
    }

    /// The API key part of `authorizedTarget`.
    private func apiKeyTarget(key: String, database: String, site: SiteID) async throws -> Target {
        guard let grant = try await storage.verifyAPIKey(key) else {
            throw ServerError(.unauthorized, "invalid or revoked API key")
        }
        guard try await storage.databaseExists(database) else {
            throw ServerError(.notFound, "database \(database.prefix(80)) does not exist")
        }
        guard grant.database == database else {
            throw ServerError(.unauthorized, "this API key is not valid for database \(database)")
        }
        return Target(database: database, site: site, principal: .administrator)
    }

    func blobToken(_ context: BasicRequestContext) throws -> String {
        guard let token = context.parameters.get("token"), Self.isToken(token) else {
            throw ServerError(.notFound, "unknown blob URL")
        }
        return token
    }

    static func isToken(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// The token of a blob URL this server handed out (its path ends in /v1/blobs/TOKEN).
    static func token(fromURL text: String) -> String? {
        guard let components = URLComponents(string: text) else { return nil }
        let path = components.path
        guard let range = path.range(of: blobPathPrefix, options: .backwards) else { return nil }
        let token = path[range.upperBound...]
        return isToken(token) ? String(token) : nil
    }

    /// Base of absolute URLs: the configured public URL, or http:// and the Host header.
    func baseURL(_ request: Request) throws -> String {
        if let configured = configuration.publicBaseURL {
            return configured.hasSuffix("/") ? String(configured.dropLast()) : configured
        }
        let host = request.head.authority
        guard let host, !host.isEmpty, host.utf8.count <= 255,
              host.utf8.allSatisfy({ Self.hostCharacters.contains($0) })
        else {
            throw ServerError(.badRequest, "missing or invalid Host header")
        }
        return "http://" + host
    }

    private static let hostCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]_".utf8)
}

/// Builds the sync server application.
///
/// - Parameters:
///   - configuration: address, public URL and limits.
///   - storage: where databases and keys live (`EmbeddedStorage` by default).
///   - logger: request and sync logging.
///   - metrics: where `GET /metrics` counts; one per application.
///   - notifier: wakes waiting checks when a database changes.
///   - onServerRunning: called with the bound port once the server listens.
public func buildApplication(
    configuration: ServerConfiguration,
    storage: any SyncStorage,
    logger: Logger = Logger(label: "cloudsync-server"),
    metrics: ServerMetrics = ServerMetrics(),
    notifier: ChangeNotifier = ChangeNotifier(),
    onServerRunning: @escaping @Sendable (_ port: Int?) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router(context: BasicRequestContext.self)
    router.middlewares.add(RequestMetricsMiddleware(metrics: metrics))
    router.middlewares.add(ErrorAndLogMiddleware(logger: logger, maxBodySize: configuration.maxBodySize))
    let blobs = storage.makeBlobStorage(lifetime: configuration.blobLifetime, maxBytes: configuration.maxBlobBytes)
    let activity = SyncActivity(metrics: metrics, storage: storage, logger: logger)
    let routes = SyncRoutes(
        storage: storage, tokens: TokenAuthority(storage: storage), blobs: blobs, configuration: configuration, logger: logger,
        activity: activity, notifier: notifier, prefetch: PagePrefetch(metrics: metrics))
    routes.register(on: router)
    if configuration.protocolV2 { SyncRoutesV2(v1: routes).register(on: router) }
    metrics.register(on: router, storage: storage, notifier: notifier)
    if configuration.dashboard, let console = storage as? any ConsoleStorage {
        DashboardRoutes(storage: console, configuration: configuration, logger: logger).register(on: router)
    }
    let services: [any Service] = (storage as? any ExternalChangeSource).map {
        [ChangeWatcher(source: $0, notifier: notifier, logger: logger)]
    } ?? []
    return Application(
        router: router,
        // The handlers autoclosure runs once per connection: each gets its own handler.
        server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler()])),
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "cloudsync-server"),
        services: services,
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port) },
        logger: logger)
}
