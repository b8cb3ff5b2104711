import Foundation
import Testing

/// The engine builds for iOS 15 and macOS 12 (Package.swift's platforms), which this Linux
/// machine cannot compile for: this test keeps the sources off what those systems lack.
@Suite("Portability of the engine's sources")
struct PortabilityTests {
    /// Modules and types that need iOS 18 / macOS 15 or later, or that Apple platforms lack.
    static let unavailable: [(pattern: String, why: String)] = [
        ("import Synchronization", "Synchronization needs iOS 18 / macOS 15: use Locked"),
        ("Mutex<", "Synchronization.Mutex needs iOS 18 / macOS 15: use Locked"),
        ("Atomic<", "Synchronization.Atomic needs iOS 18 / macOS 15: use Locked"),
        ("UInt128", "UInt128 needs iOS 18 / macOS 15"),
        ("Int128", "Int128 needs iOS 18 / macOS 15"),
        ("import CCurl", "there is no libcurl on iOS"),
    ]

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func sources(of target: String) throws -> [URL] {
        let directory = packageRoot.appendingPathComponent("Sources/\(target)")
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "swift" }
    }

    @Test("the engine and the Swift API use nothing newer than the declared platforms", arguments: ["CloudSyncCore", "CloudSync"])
    func portable(target: String) throws {
        let files = try Self.sources(of: target)
        #expect(files.count > 5, "found only \(files.count) sources of \(target) under \(Self.packageRoot.path)")
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            for (pattern, why) in Self.unavailable where text.contains(pattern) {
                Issue.record("\(file.lastPathComponent) contains \(pattern): \(why)")
            }
        }
    }

    /// liblz4 only where the Compression framework is missing: one codec per platform.
    @Test func liblz4IsLinkedOnlyWithoutCompression() throws {
        let codec = try String(contentsOf: Self.packageRoot.appendingPathComponent("Sources/CloudSyncCore/Wire/LZ4Codec.swift"), encoding: .utf8)
        let apple = try String(contentsOf: Self.packageRoot.appendingPathComponent("Sources/CloudSyncCore/Wire/LZ4Codec+Compression.swift"), encoding: .utf8)
        #expect(codec.hasPrefix("#if !canImport(Compression)"))
        #expect(apple.hasPrefix("#if canImport(Compression)"))
    }
}
