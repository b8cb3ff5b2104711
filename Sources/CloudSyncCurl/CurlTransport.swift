import CCurl
import CloudSyncCore
import CloudSyncNetwork

/// An `HTTPTransport` over libcurl. Keeps one handle, so connections are reused between the
/// requests of a sync.
///
/// Not `Sendable`: used by one connection at a time. The loadable extension's transport (SQL
/// functions are synchronous); the Swift API uses `URLSession`, since iOS has no libcurl.
public final class CurlTransport: HTTPTransport {
    /// Seconds allowed to connect, and for a whole request unless the request sets its own
    /// `timeout` (millisecond precision).
    public var connectTimeout: Double
    public var requestTimeout: Double
    private let handle: UnsafeMutableRawPointer

    // `Locked`, not `Synchronization.Mutex`: this target builds for macOS 13 too.
    private static let globalInit = Locked(false)

    public init(connectTimeout: Double = 10, requestTimeout: Double = 120) throws(CloudSyncError) {
        Self.globalInit.withLock { done in
            if !done {
                curl_global_init(Int(CURL_GLOBAL_DEFAULT))
                done = true
            }
        }
        guard let handle = curl_easy_init() else {
            throw CloudSyncError(.network, "cannot create an HTTP client (libcurl)")
        }
        self.handle = handle
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
    }

    deinit { curl_easy_cleanup(handle) }

    /// Collects the response body and header fields.
    private final class Sink {
        var bytes: [UInt8] = []
        var headers: [(String, String)] = []
    }

    public func send(_ request: HTTPRequest) throws(CloudSyncError) -> HTTPResponse {
        curl_easy_reset(handle)
        let sink = Sink()
        var headers: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers {
            headers = curl_slist_append(headers, "\(name): \(value)")
        }
        // An empty Expect header keeps curl from waiting for "100 Continue" before large bodies.
        headers = curl_slist_append(headers, "Expect:")
        defer { curl_slist_free_all(headers) }

        let code: CURLcode = request.url.withCString { url in
            request.body.withUnsafeBytes { body in
                withExtendedLifetime(sink) {
                    _ = cloudsync_curl_set_pointer(handle, CURLOPT_URL, url)
                    _ = cloudsync_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
                    _ = cloudsync_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(connectTimeout))
                    _ = cloudsync_curl_set_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout ?? requestTimeout))
                    _ = cloudsync_curl_set_pointer(handle, CURLOPT_HTTPHEADER, headers)
                    switch request.method {
                    case "GET":
                        _ = cloudsync_curl_set_long(handle, CURLOPT_HTTPGET, 1)
                    default:
                        _ = cloudsync_curl_set_long(handle, CURLOPT_POST, 1)
                        _ = cloudsync_curl_set_pointer(handle, CURLOPT_POSTFIELDS, body.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
                        _ = cloudsync_curl_set_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                        if request.method != "POST" {
                            _ = request.method.withCString { cloudsync_curl_set_pointer(handle, CURLOPT_CUSTOMREQUEST, $0) }
                        }
                    }
                    let write: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, target in
                        guard let data, let target else { return 0 }
                        let sink = Unmanaged<Sink>.fromOpaque(target).takeUnretainedValue()
                        sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
                        return size * count
                    }
                    _ = cloudsync_curl_set_pointer(handle, CURLOPT_WRITEFUNCTION, unsafeBitCast(write, to: UnsafeRawPointer.self))
                    _ = cloudsync_curl_set_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(sink).toOpaque())
                    let header: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, target in
                        guard let data, let target else { return 0 }
                        let sink = Unmanaged<Sink>.fromOpaque(target).takeUnretainedValue()
                        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
                        if let colon = line.firstIndex(of: ":") {
                            sink.headers.append((String(line[..<colon]).trimmed, String(line[line.index(after: colon)...]).trimmed))
                        }
                        return size * count
                    }
                    _ = cloudsync_curl_set_pointer(handle, CURLOPT_HEADERFUNCTION, unsafeBitCast(header, to: UnsafeRawPointer.self))
                    _ = cloudsync_curl_set_pointer(handle, CURLOPT_HEADERDATA, Unmanaged.passUnretained(sink).toOpaque())
                    return curl_easy_perform(handle)
                }
            }
        }
        guard code == CURLE_OK else {
            let reason = String(cString: curl_easy_strerror(code))
            throw CloudSyncError(.network, "\(request.method) \(request.url) failed: \(reason)")
        }
        var status = 0
        _ = cloudsync_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: sink.bytes, headers: sink.headers)
    }

    /// A timeout for libcurl, in whole milliseconds; at least 1, since 0 means none there.
    static func milliseconds(_ seconds: Double) -> Int {
        let milliseconds = (seconds * 1000).rounded(.up)
        guard milliseconds.isFinite, milliseconds < Double(Int.max) else { return milliseconds > 0 ? Int.max : 1 }
        return max(1, Int(milliseconds))
    }
}
