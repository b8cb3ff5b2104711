import CloudSyncCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The change subscription (`ChangeSubscription`): a Server-Sent Events stream that tells a
/// device when changes it may see wait for it. See docs/server.md, "Change subscriptions".
extension SyncRoutes {
    /// Seconds a client refused for lack of places should wait before trying again.
    static let subscriptionRetryAfter = "5"
    static let subscribedComment = ByteBuffer(string: ": subscribed\n\n")
    static let heartbeatComment = ByteBuffer(string: ": ping\n\n")

    /// `GET SUBSCRIBE`: authenticated and validated as a check, then a stream that stays open
    /// until the client goes, the credential is revoked or the server shuts down.
    func subscribe(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let target = try await authorizedTarget(request, context)
        let cursor = try pathCursor(context)
        await activity.checked(target, after: cursor.dbVersion)
        guard notifier.beginSubscription() else {
            logger.warning("subscription refused: \(notifier.maxSubscriptions) open", metadata: ["database": "\(target.database)"])
            var response = textResponse(.serviceUnavailable, "too many subscriptions on this server: retry later, and check for changes meanwhile")
            response.headers[.retryAfter] = Self.subscriptionRetryAfter
            return response
        }
        // Whatever becomes of the response (streamed, or dropped before its body runs), the
        // place is given back when the last reference to it goes.
        let place = SubscriptionPlace(notifier: notifier)
        let credential = Credential(
            database: target.database, siteText: target.site.hex, authorization: request.headers[.authorization])
        var headers = HTTPFields()
        headers[.contentType] = ChangeSubscription.contentType
        headers[.cacheControl] = "no-cache"
        headers[Self.capabilityHeader] = capabilities
        // Reverse proxies (nginx) buffer responses unless told not to.
        headers[Self.noBuffering] = "no"
        let routes = self
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await routes.streamChanges(target, after: cursor, credential: credential, place: place, to: &writer)
        })
    }

    static let noBuffering = HTTPField.Name("X-Accel-Buffering")!

    /// What a subscription needs to check its credential again.
    struct Credential: Sendable {
        var database: String
        var siteText: String
        var authorization: String?
    }

    /// The subscription's loop. Its watermark starts at the device's cursor; whenever the
    /// database holds changes after it that this principal may see, one event is written and
    /// the watermark moves past them, so an idle device is told once per batch of changes.
    /// Nothing is buffered: changes that land while an event is written only move the
    /// notifier's epoch, and the next look covers them all (one pending "look again").
    func streamChanges(
        _ target: Target, after cursor: SyncCursor, credential: Credential, place: SubscriptionPlace, to writer: inout any ResponseBodyWriter
    ) async throws {
        let notifier = notifier
        let metadata: Logger.Metadata = ["database": "\(target.database)", "site": "\(target.site)"]
        logger.info("subscription opened", metadata: metadata)
        var reason = "client gone"
        defer {
            withExtendedLifetime(place) {}
            logger.info("subscription closed: \(reason)", metadata: metadata)
        }
        do {
            try await withGracefulShutdownHandler {
                try await writer.write(Self.subscribedComment)
                var watermark = cursor
                while true {
                    let epoch = notifier.epoch(of: target.database)
                    if let last = try await lastChange(for: target, after: watermark) {
                        watermark = last
                        try await writer.write(ByteBuffer(string: Self.changesEvent(last)))
                    }
                    // Until the database changes, a heartbeat at every interval.
                    while true {
                        let result = await notifier.wait(
                            target.database, after: epoch, timeout: configuration.subscriptionHeartbeat, subscription: true)
                        if result == .refused {
                            reason = "server shutting down"
                            return
                        }
                        // A revoked key or token ends the stream: at the next change, or
                        // within a heartbeat interval when nothing changes.
                        do {
                            _ = try await authorizedTarget(
                                database: credential.database, siteText: credential.siteText, authorization: credential.authorization)
                        } catch let error as ServerError {
                            reason = error.message
                            return
                        }
                        if result == .changed { break }
                        try await writer.write(Self.heartbeatComment)
                    }
                }
            } onGracefulShutdown: {
                notifier.close()
            }
            try await writer.finish(nil)
        } catch {
            // The client went away (a write failed) or the storage failed: the stream ends,
            // and the client reconnects and looks again.
            if !(error is CancellationError) { reason = "\(error)" }
            throw error
        }
    }

    /// The cursor of the last change after `cursor` that `target` may receive, or nil when
    /// there is none: the same look as a check's, with Row-Level Security applied.
    func lastChange(for target: Target, after cursor: SyncCursor) async throws -> SyncCursor? {
        let limit = configuration.maxChangesPerPage
        var last: SyncCursor?
        while let page = try await storage.changes(
            database: target.database, excludingSite: target.site, after: last ?? cursor, limit: limit, as: target.principal)
        {
            last = page.last
            // An unfiltered page shorter than the limit is the end; a filtered one may be
            // short with more after it.
            if page.count < limit, target.principal.claims == nil { break }
        }
        return last
    }

    /// The event telling a device that changes up to `last` wait for it.
    static func changesEvent(_ last: SyncCursor) -> String {
        "event: \(ChangeSubscription.changesEvent)\ndata: {\"db_version\":\(last.dbVersion),\"seq\":\(last.seq)}\n\n"
    }
}
