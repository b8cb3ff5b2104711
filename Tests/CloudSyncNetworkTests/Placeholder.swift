import Testing
@Test func placeholderNetwork() { #expect(Bool(true)) }
