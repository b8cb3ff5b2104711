/// A protocol-v2 request body that cannot be used; answered with 400 and `message`.
struct V2RequestError: Error, Equatable, Sendable, CustomStringConvertible {
    enum Code: Sendable, Equatable {
        /// Not a JSON object.
        case malformedJSON
        /// A required member is missing.
        case missingMember
        /// A member has the wrong type or an out-of-range value.
        case invalidMember
        /// `blob` is not standard base64.
        case invalidBase64
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}
