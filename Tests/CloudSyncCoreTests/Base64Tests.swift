@testable import CloudSyncCore
import Foundation
import Testing

/// The Foundation-free base64 of protocol v2's inline payloads, checked against Foundation's.
struct Base64Tests {
    @Test func encodesAndDecodesAsFoundationDoes() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Base64.encode(bytes)
            #expect(text == Data(bytes).base64EncodedString())
            #expect(Base64.decode(text) == bytes)
        }
        #expect(Base64.decode("AQID\n BA==") == [1, 2, 3, 4])
    }

    @Test(arguments: ["AQI", "AQ!D", "AQ-_", "A===", "AQ==AQ==", "=AQI"])
    func refusesWhatIsNotStandardPaddedBase64(_ text: String) {
        #expect(Base64.decode(text) == nil)
        #expect(Data(base64Encoded: text) == nil)
    }
}
