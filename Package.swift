// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "sqlite-sync-swift",
    products: [
        // The SQLite loadable extension: `.load ./cloudsync` (see scripts/build-extension).
        .library(name: "cloudsync", type: .dynamic, targets: ["CloudSyncExtension"]),
        .library(name: "CloudSyncCore", targets: ["CloudSyncCore"]),
        .executable(name: "cloudsync-bench", targets: ["CloudSyncBench"]),
    ],
    targets: [
        // C layer. CSQLiteExtension exposes SQLite's types and the routines table only; it links
        // nothing, so the engine never binds to a particular SQLite copy.
        .target(name: "CSQLiteExtension"),
        // Builds a routines table from the SQLite this process links (for Swift programs, tests).
        .target(name: "CSQLiteLinked", linkerSettings: [.linkedLibrary("sqlite3")]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),

        // Engine core: every SQLite call goes through the routines table it is given.
        .target(name: "CloudSyncCore", dependencies: ["CSQLiteExtension", "CLZ4"]),

        // Ways in.
        .target(name: "CloudSyncExtension", dependencies: ["CloudSyncCore", "CSQLiteExtension"]),
        .executableTarget(
            name: "CloudSyncBench",
            dependencies: ["CloudSyncCore", "CSQLiteLinked"],
            path: "Benchmarks/CloudSyncBench"
        ),

        .testTarget(
            name: "CloudSyncCoreTests",
            dependencies: ["CloudSyncCore", "CSQLiteLinked", "CSQLiteExtension"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
