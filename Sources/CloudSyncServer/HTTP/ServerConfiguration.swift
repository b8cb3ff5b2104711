import CloudSyncCore

/// Settings of the HTTP server. Every limit has a default suited to a small deployment.
public struct ServerConfiguration: Sendable {
    /// Address to listen on.
    public var host: String
    /// Port to listen on (0: any free port).
    public var port: Int
    /// Base of the absolute URLs handed to clients (blob URLs), e.g.
    /// `https://sync.example.com`; nil: `http://` + the request's Host header.
    public var publicBaseURL: String?
    /// Largest request body accepted (an uploaded payload), in bytes; larger gets 413.
    public var maxBodySize: Int
    /// Largest decompressed payload body accepted, in bytes; larger gets 413.
    public var maxExpandedSize: Int
    /// Most change rows accepted in one uploaded payload; more gets 413.
    public var maxRowsPerPayload: Int
    /// Most changes in one download page. The client keeps checking until it gets nothing,
    /// so a large backlog is fetched in bounded pages.
    public var maxChangesPerPage: Int
    /// Bytes of changes (uncompressed) after which a download page takes no more, so that a
    /// page of large values stays small in memory at both ends; a single larger change still
    /// makes a page.
    public var maxBytesPerPage: Int
    /// How long a blob URL (upload or download) stays valid.
    public var blobLifetime: Duration
    /// Total bytes of blobs held at once (uploaded, not yet merged; built, not yet expired);
    /// beyond it new uploads and downloads get 503 until some expire.
    public var maxBlobBytes: Int
    /// Serve the operators' console at `/dashboard` (docs/operations.md).
    public var dashboard: Bool
    /// Longest a waiting check (`Cloudsync-Wait-Ms`) is held before it answers "nothing new";
    /// longer requests are shortened to it. Zero turns waiting off: checks answer at once.
    public var maxCheckWait: Duration
    /// How often an idle change subscription sends a heartbeat (an SSE comment) and checks its
    /// credential again. Proxies and clients see the stream is alive; a dead client is noticed
    /// at the next heartbeat, and a revoked key or token closes its stream within this time.
    public var subscriptionHeartbeat: Duration
    /// Serve change subscriptions (`GET .../subscribe`). Off, the endpoint answers 404 as on an
    /// older server and checks do not advertise it: clients fall back to waiting checks.
    public var subscriptions: Bool
    /// Largest page a check answers inline, to a client that asks (`Cloudsync-Inline-Max`);
    /// larger pages, and every page for other clients, go through a download URL. Zero turns
    /// inline answers off.
    public var maxInlinePayload: Int
    /// Serve protocol v2 (`/v2/cloudsync/databases/...`, sqlite-sync 1.x) and advertise it to
    /// this project's clients (`ProtocolDiscovery`). Off, v2 answers 404 as on an older server
    /// and this project's clients fall back to v1.
    public var protocolV2: Bool

    public init(
        host: String = "127.0.0.1",
        port: Int = 8091,
        publicBaseURL: String? = nil,
        maxBodySize: Int = 32 << 20,
        maxExpandedSize: Int = 256 << 20,
        maxRowsPerPayload: Int = 2_000_000,
        maxChangesPerPage: Int = 10_000,
        maxBytesPerPage: Int = 4 << 20,
        blobLifetime: Duration = .seconds(600),
        maxBlobBytes: Int = 1 << 30,
        dashboard: Bool = true,
        maxCheckWait: Duration = .seconds(30),
        subscriptionHeartbeat: Duration = .seconds(15),
        subscriptions: Bool = true,
        maxInlinePayload: Int = 8 << 20,
        protocolV2: Bool = true
    ) {
        self.host = host
        self.port = port
        self.publicBaseURL = publicBaseURL
        self.maxBodySize = maxBodySize
        self.maxExpandedSize = maxExpandedSize
        self.maxRowsPerPayload = maxRowsPerPayload
        self.maxChangesPerPage = maxChangesPerPage
        self.maxBytesPerPage = maxBytesPerPage
        self.blobLifetime = blobLifetime
        self.maxBlobBytes = maxBlobBytes
        self.dashboard = dashboard
        self.maxCheckWait = maxCheckWait
        self.subscriptionHeartbeat = subscriptionHeartbeat
        self.subscriptions = subscriptions
        self.maxInlinePayload = maxInlinePayload
        self.protocolV2 = protocolV2
    }

    /// The limits the storage applies when it decodes an uploaded payload.
    public var payloadLimits: PayloadLimits {
        PayloadLimits(maxPayloadSize: maxBodySize, maxExpandedSize: maxExpandedSize, maxRows: maxRowsPerPayload)
    }
}
