import Foundation
import Testing

/// The engine and the Swift API build for iOS 15 and macOS 12 (Package.swift's platforms),
/// which this Linux machine cannot compile for: these tests keep their sources off what those
/// systems lack, and their targets off libcurl, which iOS does not have. The Apple workflow
/// (.github/workflows/apple.yml) compiles them for real.
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
        ("import CloudSyncCurl", "there is no libcurl on iOS: the Swift API sends with URLSession"),
        ("import Observation", "Observation needs iOS 17 / macOS 14"),
        ("Duration", "Duration needs iOS 16 / macOS 13: use TimeInterval seconds"),
        ("ContinuousClock", "ContinuousClock needs iOS 16 / macOS 13: use DispatchTime"),
        ("SuspendingClock", "SuspendingClock needs iOS 16 / macOS 13: use DispatchTime"),
        ("sleep(for:", "Task.sleep(for:) needs iOS 16 / macOS 13: use Task.sleep(nanoseconds:)"),
        ("sleep(until:", "Task.sleep(until:) needs iOS 16 / macOS 13: use Task.sleep(nanoseconds:)"),
        ("firstRange(of:", "Collection.firstRange(of:) needs iOS 16 / macOS 13: use firstRange(ofText:)"),
        (".ranges(of:", "Collection.ranges(of:) needs iOS 16 / macOS 13"),
        (".replacing(", "replacing(_:with:) needs iOS 16 / macOS 13: use replacingText"),
        ("trimmingPrefix", "trimmingPrefix needs iOS 16 / macOS 13"),
        ("Regex", "Regex needs iOS 16 / macOS 13"),
        ("String(validating", "String(validating:as:) needs iOS 18 / macOS 15: use String(validUTF8:)"),
    ]

    /// `contains` with a string of two or more characters is the standard library's string
    /// search (iOS 16 / macOS 13) unless Foundation is imported; a one-character literal is a
    /// Character and fine.
    static let stringSearch = try! NSRegularExpression(pattern: #"\.contains\("(?:[^"\\]|\\.){2,}"\)"#)

    /// What the Swift API is made of: its own target and every target it depends on.
    static let swiftAPITargets = ["CloudSyncCore", "CloudSyncNetwork", "CloudSync"]

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func sources(of target: String) throws -> [URL] {
        let directory = packageRoot.appendingPathComponent("Sources/\(target)")
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "swift" }
    }

    @Test("the engine and the Swift API use nothing newer than the declared platforms", arguments: swiftAPITargets)
    func portable(target: String) throws {
        let files = try Self.sources(of: target)
        #expect(files.count > 5, "found only \(files.count) sources of \(target) under \(Self.packageRoot.path)")
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            for (pattern, why) in Self.unavailable where text.contains(pattern) {
                Issue.record("\(file.lastPathComponent) contains \(pattern): \(why)")
            }
            let whole = NSRange(text.startIndex..., in: text)
            if !text.contains("import Foundation"), let match = Self.stringSearch.firstMatch(in: text, range: whole) {
                Issue.record("\(file.lastPathComponent) searches a string with \(text[Range(match.range, in: text)!]), which needs iOS 16 / macOS 13: use containsText")
            }
        }
    }

    /// A target that listed libcurl would link it on iOS even with no source importing it.
    @Test("the Swift API's targets do not depend on libcurl", arguments: swiftAPITargets)
    func noCurlDependency(target: String) throws {
        let manifest = try String(contentsOf: Self.packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declaration = try #require(Self.declaration(of: target, in: manifest), "no target \(target) in Package.swift")
        let code = declaration.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
        #expect(code.contains("dependencies:"), "no dependencies found in \(code)")
        #expect(!code.contains("Curl"), "\(target) depends on libcurl: \(code)")
    }

    /// The text of `.target(name: "NAME", ...)` in `manifest`, up to the next target.
    static func declaration(of target: String, in manifest: String) -> Substring? {
        guard let start = manifest.range(of: ".target(\n            name: \"\(target)\"") ?? manifest.range(of: ".target(name: \"\(target)\"") else {
            return nil
        }
        let rest = manifest[start.upperBound...]
        let next = ["\n        .target(", "\n        .systemLibrary(", "\n        .executableTarget(", "\n        .testTarget("]
            .compactMap { rest.range(of: $0)?.lowerBound }.min() ?? rest.endIndex
        return rest[..<next]
    }

    /// liblz4 only where the Compression framework is missing: one codec per platform.
    @Test func liblz4IsLinkedOnlyWithoutCompression() throws {
        let codec = try String(contentsOf: Self.packageRoot.appendingPathComponent("Sources/CloudSyncCore/Wire/LZ4Codec.swift"), encoding: .utf8)
        let apple = try String(contentsOf: Self.packageRoot.appendingPathComponent("Sources/CloudSyncCore/Wire/LZ4Codec+Compression.swift"), encoding: .utf8)
        #expect(codec.hasPrefix("#if !canImport(Compression)"))
        #expect(apple.hasPrefix("#if canImport(Compression)"))
    }
}
