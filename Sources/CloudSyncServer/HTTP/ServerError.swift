import Hummingbird
import Logging

/// An HTTP error whose body is a short plain-text message: clients show it verbatim as the
/// SQL error text (sync-protocol.md).
public struct ServerError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        textResponse(status, message)
    }

    public var description: String { "\(status.code) \(message)" }
}

/// A plain-text response.
func textResponse(_ status: HTTPResponse.Status, _ text: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/plain; charset=utf-8"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}

extension ServerError {
    /// The HTTP form of a storage error; `.failure` details are logged, not shown.
    init(_ error: SyncStorageError) {
        switch error.kind {
        case .unknownDatabase: self.init(.notFound, error.message)
        case .badPayload, .invalidName, .invalidSchema, .databaseExists: self.init(.badRequest, error.message)
        case .payloadTooLarge: self.init(.contentTooLarge, error.message)
        case .unknownKey, .unknownToken: self.init(.unauthorized, error.message)
        case .invalidPolicy: self.init(.badRequest, error.message)
        case .failure: self.init(.internalServerError, "internal server error")
        }
    }

    /// The HTTP form of an error from a `BlobStorage`.
    init(blobError error: any Error) {
        switch error {
        case let failure as BlobFailure: self.init(failure)
        case let storage as SyncStorageError: self.init(storage)
        case let server as ServerError: self = server
        default: self.init(.internalServerError, "internal server error")
        }
    }

    /// The HTTP form of a blob URL failure.
    init(_ failure: BlobFailure) {
        switch failure {
        case .unknown: self.init(.notFound, "unknown blob URL")
        case .expired: self.init(.gone, "blob URL expired: request a new one")
        case .alreadyUsed: self.init(.conflict, "blob URL already used: request a new one")
        case .notUploaded: self.init(.conflict, "nothing was uploaded to this blob URL")
        case .wrongKind(.download): self.init(.methodNotAllowed, "this blob URL is for downloading")
        case .wrongKind(.upload): self.init(.methodNotAllowed, "this blob URL is for uploading")
        case .wrongScope: self.init(.forbidden, "this blob URL belongs to another database or device")
        case .full: self.init(.serviceUnavailable, "server busy: too many pending transfers, retry later")
        }
    }
}

/// Turns every error into a short plain-text response and logs each request with its
/// status and duration.
struct ErrorAndLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let maxBodySize: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        var failure: String?
        do {
            response = try await next(request, context)
        } catch let error as ServerError {
            response = textResponse(error.status, error.message)
            failure = error.message
        } catch let error as SyncStorageError {
            let mapped = ServerError(error)
            response = textResponse(mapped.status, mapped.message)
            failure = error.message
        } catch let error as any HTTPResponseError {
            // Router (404/405) and body collection (413) errors.
            let message = switch error.status {
            case .contentTooLarge: "request body too large: the limit is \(maxBodySize) bytes"
            case .notFound: "not found"
            default: error.status.reasonPhrase
            }
            response = textResponse(error.status, message)
            failure = "\(error)"
        } catch {
            response = textResponse(.internalServerError, "internal server error")
            failure = "\(error)"
        }
        let elapsed = ContinuousClock.now - start
        var metadata: Logger.Metadata = [
            "status": "\(response.status.code)",
            "ms": "\(Self.milliseconds(elapsed))",
        ]
        if let failure { metadata["error"] = "\(failure)" }
        let line = "\(request.method) \(Self.redacted(request.uri.path))"
        if response.status.code >= 500 {
            logger.error("\(line)", metadata: metadata)
        } else {
            logger.info("\(line)", metadata: metadata)
        }
        return response
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let ms = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return "\((ms * 10).rounded() / 10)"
    }

    /// Blob URLs are capabilities: only a prefix of their token goes to the log.
    static func redacted(_ path: String) -> String {
        guard path.hasPrefix(SyncRoutes.blobPathPrefix) else { return path }
        return SyncRoutes.blobPathPrefix + path.dropFirst(SyncRoutes.blobPathPrefix.count).prefix(8) + "..."
    }
}
