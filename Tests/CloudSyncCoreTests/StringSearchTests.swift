import Testing
@testable import CloudSyncCore

/// The engine's own string search (the standard library's needs iOS 16 / macOS 13).
@Suite("String search without iOS 16")
struct StringSearchTests {
    @Test func findsContainsAndReplaces() {
        let text = "héllo://wörld://"
        let found = text.firstRange(ofText: "://")
        #expect(found.map { String(text[..<$0.lowerBound]) } == "héllo")
        #expect(text.firstRange(ofText: "xyz") == nil)
        #expect("DOUBLE PRECISION".containsText("DOUB") && !"INT".containsText("INTEGER"))
        #expect("it's 'quoted'".replacingText("'", with: "''") == "it''s ''quoted''")
        #expect("aaa".replacingText("aa", with: "b") == "ba")
        #expect("abc".replacingText("", with: "x") == "abc")
        #expect("".replacingText("a", with: "b") == "")
        #expect("odd \"Name\"".replacingText("\"", with: "\"\"") == "odd \"\"Name\"\"")
    }
}
