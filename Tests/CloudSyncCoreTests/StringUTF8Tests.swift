@testable import CloudSyncCore
import Testing

/// Validating UTF-8 decoding that also exists before iOS 18, and trimming on bytes.
struct StringUTF8Tests {
    @Test func trimmedDropsOuterSpacesTabsAndLineBreaksOnly() {
        #expect(" \t\r\nhttp://h/x ✓\r\n".trimmed == "http://h/x ✓")
        #expect("é  b".trimmed == "é  b")
        #expect(" \r\n\t ".trimmed == "")
        #expect("".trimmed == "")
    }

    @Test func validBytesGiveTheirText() {
        #expect(String(validUTF8: Array("todo é ✓ 🙂".utf8)) == "todo é ✓ 🙂")
        #expect(String(validUTF8: [UInt8]()) == "")
    }

    @Test(arguments: [[0xFF], [0x61, 0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82]] as [[UInt8]])
    func invalidBytesGiveNil(_ bytes: [UInt8]) {
        #expect(String(validUTF8: bytes) == nil)
    }
}
