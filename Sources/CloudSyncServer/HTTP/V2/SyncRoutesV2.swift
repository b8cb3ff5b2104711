import CloudSyncCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Protocol v2 (sync-protocol-v2.md, the sqlite-sync 1.x clients), next to v1 on the same
/// router, storage and blob store:
///
///     GET  /v2/cloudsync/databases/{database}/{site}/upload   -> {"url": blob URL for the PUT}
///     POST /v2/cloudsync/databases/{database}/{site}/apply    {"url" | "blob", "dbVersionMin", "dbVersionMax"} -> status
///     POST /v2/cloudsync/databases/{database}/{site}/check    {"dbVersion", "seq"[, "cursor", "maxChunks"]} -> "" | {"url"} | chunks | 202 status
///     GET  /v2/cloudsync/databases/{database}/{site}/status   -> status
///
/// Credentials, site binding and blob URLs are v1's (`SyncRoutes`); errors are v1's
/// plain-text bodies, which clients show verbatim. Downloads are version-2 payloads with the
/// structural hash, ending on whole server versions.
struct SyncRoutesV2: Sendable {
    static let capabilityHeader = HTTPField.Name(V2Capabilities.headerName)!
    /// Largest `/apply` or `/check` JSON body: an inline payload of up to the configured body
    /// size, in base64, plus the other members.
    static func maxJSONBody(_ configuration: ServerConfiguration) -> Int {
        configuration.maxBodySize / 3 * 4 + (64 << 10)
    }

    let v1: SyncRoutes

    func register(on router: Router<BasicRequestContext>) {
        let base = "/v2/cloudsync/databases/:database/:site"
        router.get("\(base)/upload") { request, context in try await uploadURL(request, context) }
        router.post("\(base)/apply") { request, context in try await apply(request, context) }
        router.post("\(base)/check") { request, context in try await check(request, context) }
        router.get("\(base)/status") { request, context in try await status(request, context) }
    }

    /// `GET upload`: a one-time URL to PUT a payload to, as JSON.
    func uploadURL(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let target = try await v1.authorizedTarget(request, context)
        let base = try v1.baseURL(request)
        let token: String
        do {
            token = try await v1.blobs.issueUpload(database: target.database, site: target.site)
        } catch {
            throw ServerError(blobError: error)
        }
        return jsonResponse(.ok, V2Answer.url(try usable(base + SyncRoutes.blobPathPrefix + token)))
    }

    /// `POST apply`: merges the payload (PUT at a blob URL, or inline) and records the window
    /// it covers; answers the site's status once the merge is committed.
    func apply(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        let target = try await v1.authorizedTarget(request, context)
        let body = try await request.body.collect(upTo: Self.maxJSONBody(v1.configuration))
        let applied: V2ApplyRequest
        do throws(V2RequestError) {
            applied = try V2ApplyRequest(json: body.readableBytesView)
        } catch {
            throw ServerError(.badRequest, error.message)
        }
        let payload: [UInt8]
        switch applied.source {
        case .blob(let bytes):
            guard bytes.count <= v1.configuration.maxBodySize else {
                throw ServerError(.contentTooLarge, "payload of \(bytes.count) bytes is over the limit of \(v1.configuration.maxBodySize) bytes")
            }
            payload = bytes
        case .url(let url):
            guard let token = SyncRoutes.token(fromURL: url) else {
                throw ServerError(.badRequest, "not a blob URL of this server: \(url.prefix(200))")
            }
            do {
                payload = try await v1.blobs.takeUpload(token: token, database: target.database, site: target.site)
            } catch {
                throw ServerError(blobError: error)
            }
        }
        let result = try await v1.storage.merge(database: target.database, site: target.site, payload: payload, as: target.principal)
        await v1.activity.merged(target, bytes: payload.count, result: result)
        if result.changes > 0 { v1.notifier.changed(target.database) }
        // After the commit: a crash in between makes the client send the window again, which
        // merges as a no-op.
        let version = try await v1.storage.recordSendWindow(database: target.database, site: target.site, window: applied.window)
        let failure = V2Answer.Failure.apply(result, failedAt: ISO8601DateFormatter().string(from: Date()))
        var headers = HTTPFields()
        if !result.denied.isEmpty {
            headers[SyncRoutes.deniedHeader] = DeniedRowsHeader.encode(result.denied.map { ($0.table, $0.rows) })
        }
        v1.logger.info("v2 apply", metadata: [
            "database": "\(target.database)", "site": "\(target.site)", "bytes": "\(payload.count)", "changes": "\(result.changes)",
            "window": "\(applied.window)", "cursor": "\(version)", "failure": "\(failure?.message ?? "none")",
            "ms": "\(ErrorAndLogMiddleware<BasicRequestContext>.milliseconds(ContinuousClock.now - start))",
        ])
        return jsonResponse(.ok, V2Answer.status(version: version, applyFailure: failure), headers: headers)
    }

    /// `POST check`: the next page after the client's cursor, in the form the client reads
    /// (`V2CheckAnswer`).
    func check(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let target = try await v1.authorizedTarget(request, context)
        let body = try await request.body.collect(upTo: 64 << 10)
        let checked: V2CheckRequest
        do throws(V2RequestError) {
            checked = try V2CheckRequest(json: body.readableBytesView)
        } catch {
            throw ServerError(.badRequest, error.message)
        }
        let plan = V2CheckAnswer(
            request: checked, capabilities: V2Capabilities(header: request.headers[Self.capabilityHeader]),
            requestedInline: request.headers[SyncRoutes.inlineHeader].flatMap(Int.init), serverInlineMaximum: v1.configuration.maxInlinePayload)
        if let refusal = plan.refusal { throw ServerError(.badRequest, refusal) }
        // Pages fetched by URL before this cursor are merged: their bytes may go (as on v1).
        await v1.blobs.releaseDownloads(database: target.database, site: target.site, through: plan.cursor)
        await v1.activity.checked(target, after: checked.dbVersion)
        var options = ChangesPageOptions.v2Clients.bounded(to: v1.configuration.maxBytesPerPage)
        // A client that resumes at its exact cursor (this project's) needs no whole versions,
        // and finishing a version costs a second encoding of the page.
        if plan.capabilities.exactCursor { options.wholeVersions = false }
        let page = try await v1.nextPage(target, after: plan.cursor, options: options)
        let answer: V2CheckAnswer.Answer
        if let page {
            await v1.buildNextPageAhead(target, after: page, next: plan.cursor(after: page), options: options)
            let inline = plan.inlines(page.payload)
            var url: String?
            if !inline {
                let token: String
                do {
                    token = try await v1.blobs.storeDownload(database: target.database, site: target.site, payload: page.payload, last: page.last)
                } catch {
                    throw ServerError(blobError: error)
                }
                url = try usable(try v1.baseURL(request) + SyncRoutes.blobPathPrefix + token)
            }
            // A URL is counted when it is fetched (v1's blob GET); an inline page now.
            if url == nil { v1.activity.downloaded(bytes: page.payload.count) }
            answer = plan.answer(page: page.payload, url: url, watermark: page.last.dbVersion)
        } else {
            answer = plan.nothing(status: V2Answer.status(version: try await v1.storage.sendCursor(database: target.database, site: target.site)))
        }
        v1.logger.info("v2 check", metadata: [
            "database": "\(target.database)", "site": "\(target.site)", "after": "\(plan.cursor)",
            "changes": "\(page?.count ?? 0)", "answer": "\(answer.status.code)",
        ])
        guard let json = answer.body else { return Response(status: answer.status) }
        return jsonResponse(answer.status, json)
    }

    /// `GET status`: the site's send cursor.
    func status(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let target = try await v1.authorizedTarget(request, context)
        let version = try await v1.storage.sendCursor(database: target.database, site: target.site)
        return jsonResponse(.ok, V2Answer.status(version: version))
    }

    /// `url` when clients can use it (`V2Answer.isUsableURL`); a misconfigured public URL is
    /// the server's fault.
    private func usable(_ url: String) throws -> String {
        guard V2Answer.isUsableURL(url) else {
            v1.logger.error("blob URL unusable by sqlite-sync 1.x clients (check the public URL setting)", metadata: ["url": "\(url.prefix(200))"])
            throw ServerError(.internalServerError, "the server's public URL cannot be used by this client")
        }
        return url
    }

    private func jsonResponse(_ status: HTTPResponse.Status, _ json: String, headers: HTTPFields = HTTPFields()) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }
}
