import CloudSyncCore

/// Where a device syncs: parsed from `scheme://host[:port]/database[?apikey=...|token=...]`
/// (sync-protocol.md, "Connection string").
public struct ConnectionString: Equatable, Sendable {
    /// `http` or `https` (`sqlitecloud://` means https).
    public var scheme: String
    public var host: String
    public var port: Int
    public var database: String
    /// A credential given in the query, if any.
    public var credential: Credential?

    /// How a device authenticates.
    public enum Credential: Equatable, Sendable {
        /// Full access (administrators, tools).
        case apiKey(String)
        /// A user's access token (Row-Level Security).
        case token(String)

        public var bearer: String {
            switch self {
            case .apiKey(let key): key
            case .token(let token): token
            }
        }
    }

    public init(parsing text: String) throws(CloudSyncError) {
        func invalid(_ why: String) -> CloudSyncError {
            CloudSyncError(.misuse, "cloudsync_network_init: invalid connection string (\(why)); expected scheme://host[:port]/database[?apikey=KEY]")
        }
        guard let schemeEnd = text.firstRange(ofText: "://") else { throw invalid("no scheme") }
        let rawScheme = text[..<schemeEnd.lowerBound].lowercased()
        switch rawScheme {
        case "sqlitecloud", "https": scheme = "https"
        case "http": scheme = "http"
        default: throw invalid("unsupported scheme \(rawScheme)")
        }
        var rest = text[schemeEnd.upperBound...]
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw invalid("no database") }
        let authority = rest[..<slash]
        database = String(rest[rest.index(after: slash)...])
        guard !database.isEmpty, !database.contains("/") else { throw invalid("no database name") }
        var hostPart = authority
        var explicitPort: Int?
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            hostPart = authority[..<colon]
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else {
                throw invalid("bad port")
            }
            explicitPort = value
        }
        guard !hostPart.isEmpty else { throw invalid("no host") }
        host = String(hostPart)
        // Existing clients turn SQLite Cloud's port 8860 into 443; no port means 443.
        port = explicitPort.map { $0 == 8860 ? 443 : $0 } ?? 443
        credential = nil
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = Self.percentDecoded(parts[1])
            switch parts[0].lowercased() {
            case "apikey": credential = .apiKey(value)
            case "token": credential = .token(value)
            default: break
            }
        }
    }

    /// The managed database `database` on the server at `address` (`scheme://host[:port]`):
    /// the two arguments of 1.x's `cloudsync_network_init_custom` (sql-api-v2.md §5).
    public init(address: String, database: String) throws(CloudSyncError) {
        var base = address.trimmed
        while base.hasSuffix("/") { base.removeLast() }
        guard let schemeEnd = base.firstRange(ofText: "://"), !base[schemeEnd.upperBound...].contains("/"), !base.contains("?") else {
            throw CloudSyncError(.misuse, "invalid server address '\(address)'; expected scheme://host[:port], without a path")
        }
        guard !database.isEmpty, !database.contains("/"), !database.contains("?") else {
            throw CloudSyncError(.misuse, "invalid database id '\(database)'; expected the name of a database on the server")
        }
        try self.init(parsing: base + "/" + database)
    }

    /// `scheme://host:port/v1/cloudsync/DATABASE/SITE`.
    public func baseURL(site: [UInt8]) -> String {
        "\(scheme)://\(host):\(port)/v1/cloudsync/\(Self.percentEncoded(database))/\(Hex.encode(site))"
    }

    /// `scheme://host:port/v2/cloudsync/databases/DATABASE/SITE`, protocol v2's base
    /// (sync-protocol-v2.md §2): the database id is the managed database's name, the site 32
    /// lowercase hex digits.
    public func v2BaseURL(site: [UInt8]) -> String {
        "\(scheme)://\(host):\(port)/v2/cloudsync/databases/\(Self.percentEncoded(database))/\(Hex.encode(site))"
    }

    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
               let decoded = Hex.decode(String(decoding: [high, low], as: UTF8.self)) {
                bytes += decoded
            } else if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return out
    }
}
