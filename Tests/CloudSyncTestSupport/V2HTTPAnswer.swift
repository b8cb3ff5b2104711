/// An HTTP answer as `V2TestClient` reads it.
public struct V2HTTPAnswer: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var headers: [(String, String)]

    public init(status: Int, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    public func header(_ name: String) -> String? {
        headers.last { $0.0.lowercased() == name.lowercased() }?.1
    }
}
