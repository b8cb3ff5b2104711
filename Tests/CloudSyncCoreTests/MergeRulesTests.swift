import Testing
@testable import CloudSyncCore

/// The merge rules of crdt-model.md, decided without a database.
@Suite("Merge rules")
struct MergeRulesTests {
    typealias Decision = MergeRules.Decision

    func decide(
        _ algorithm: SyncAlgorithm = .causalLengthSet, sentinel: Bool = false, cl: Int64, cv: Int64 = 1,
        local: Int64, localCV: Int64? = nil, hasSentinel: Bool = true, incomingGreater: Bool = false
    ) throws -> Decision {
        try MergeRules.decide(
            algorithm: algorithm, isSentinel: sentinel, causalLength: cl, colVersion: cv,
            localCausalLength: local, hasLocalSentinel: hasSentinel, localColVersion: localCV,
            incomingValueIsGreater: { incomingGreater })
    }

    @Test func olderLivesAreIgnored() throws {
        #expect(try decide(cl: 1, local: 2) == .ignore)
        #expect(try decide(sentinel: true, cl: 3, local: 4) == .ignore)
    }

    @Test func deletes() throws {
        #expect(try decide(sentinel: true, cl: 2, local: 1) == .delete)
        #expect(try decide(sentinel: true, cl: 2, local: 2) == .ignore)
        #expect(try decide(sentinel: true, cl: 4, local: 0) == .delete)
        #expect(try decide(.growOnlySet, sentinel: true, cl: 2, local: 1) == .ignore)
    }

    @Test func sentinelsOfNewLives() throws {
        #expect(try decide(sentinel: true, cl: 3, local: 2) == .resurrect)
        #expect(try decide(sentinel: true, cl: 1, local: 0) == .resurrect)
        #expect(try decide(sentinel: true, cl: 3, local: 3) == .ignore)
        #expect(try decide(sentinel: true, cl: 1, local: 1, hasSentinel: false) == .recordSentinel)
    }

    @Test func columnChanges() throws {
        #expect(try decide(cl: 1, local: 0) == .write(resurrectFirst: false))
        #expect(try decide(cl: 3, local: 0) == .write(resurrectFirst: true))
        #expect(try decide(cl: 3, local: 2) == .write(resurrectFirst: true))
        #expect(try decide(cl: 1, local: 1, localCV: nil) == .write(resurrectFirst: false))
        #expect(try decide(cl: 1, cv: 3, local: 1, localCV: 2) == .write(resurrectFirst: false))
        #expect(try decide(cl: 1, cv: 2, local: 1, localCV: 3) == .ignore)
        #expect(try decide(cl: 1, cv: 2, local: 1, localCV: 2, incomingGreater: true) == .write(resurrectFirst: false))
        #expect(try decide(cl: 1, cv: 2, local: 1, localCV: 2, incomingGreater: false) == .ignore)
    }

    @Test func addWinsKeepsConcurrentUpdates() throws {
        // An update of the life a local delete ended, newer than what the delete had seen.
        #expect(try decide(.addWins, cl: 1, cv: 3, local: 2, localCV: 2) == .revive)
        #expect(try decide(.addWins, cl: 1, cv: 2, local: 2, localCV: 2) == .ignore)
        #expect(try decide(.addWins, cl: 2, cv: 4, local: 2, localCV: 2) == .retain(deleteFirst: false))
        #expect(try decide(.addWins, cl: 2, cv: 1, local: 1, localCV: 1) == .retain(deleteFirst: true))
        #expect(try decide(.causalLengthSet, cl: 1, cv: 3, local: 2, localCV: 2) == .ignore)
    }

    @Test func valueOrdering() {
        let ordered: [SQLValue] = [.null, .blob([0]), .blob([0, 0]), .blob([1]), .string(""), .string("A"), .string("a"), .string("é"),
                                   .real(-1.5), .real(0), .real(2.5), .integer(-7), .integer(0), .integer(3)]
        for (i, lower) in ordered.enumerated() {
            for higher in ordered[(i + 1)...] {
                #expect(ValueOrdering.isGreater(higher, than: lower), "\(higher) > \(lower)")
                #expect(!ValueOrdering.isGreater(lower, than: higher), "\(lower) < \(higher)")
            }
            #expect(!ValueOrdering.isGreater(lower, than: lower))
        }
    }
}
