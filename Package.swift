// swift-tools-version:6.0
import PackageDescription

// Every Swift target: a file uses only members of the modules it imports itself.
let strictImports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]
// Targets nobody imports (tools, tests): also keep their imports internal.
let leafImports: [SwiftSetting] = strictImports + [.enableUpcomingFeature("InternalImportsByDefault")]

// Platforms without Apple's Compression framework, where liblz4 is the LZ4 codec.
let liblz4Platforms: [Platform] = [.linux, .android, .windows, .wasi, .openbsd]

let package = Package(
    name: "sqlite-sync-swift",
    // What the Swift API supports (GRDB 7 goes lower): its times are TimeIntervals, not
    // Durations (iOS 16). The server and its tools run on Linux (docs/swift-api.md, "Apple
    // platforms").
    platforms: [.iOS(.v15), .macOS(.v12), .tvOS(.v15), .watchOS(.v8)],
    products: [
        // The SQLite loadable extension: `.load ./cloudsync` (see scripts/build-extension).
        .library(name: "cloudsync", type: .dynamic, targets: ["CloudSyncExtension"]),
        .library(name: "CloudSyncCore", targets: ["CloudSyncCore"]),
        // The sync protocol client and its HTTPTransport protocol (custom transports).
        .library(name: "CloudSyncNetwork", targets: ["CloudSyncNetwork"]),
        // libcurl as an HTTPTransport: the extension's transport (Linux, macOS).
        .library(name: "CloudSyncCurl", targets: ["CloudSyncCurl"]),
        .executable(name: "cloudsync-server", targets: ["CloudSyncServerCLI"]),
        .executable(name: "cloudsync-bench", targets: ["CloudSyncBench"]),
        .executable(name: "cloudsync-loadtest", targets: ["CloudSyncLoadTest"]),
        .executable(name: "cloudsync-bigsync", targets: ["CloudSyncBigSync"]),
        // The Swift API: GRDB integration and an async sync client.
        .library(name: "CloudSync", targets: ["CloudSync"]),
        .executable(name: "cloudsync-example", targets: ["CloudSyncExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.1.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The operators' console: dashboard templates and Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The Swift API's HTTP client on Linux, where URLSession is not dependable.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // C layer. CSQLiteExtension exposes SQLite's types and the routines table only; it links
        // nothing, so the engine never binds to a particular SQLite copy.
        .target(name: "CSQLiteExtension"),
        // Builds a routines table from the SQLite this process links (server, tests, tools).
        .target(name: "CSQLiteLinked", linkerSettings: [.linkedLibrary("sqlite3")]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Engine core: every SQLite call goes through the routines table it is given.
        .target(
            name: "CloudSyncCore",
            dependencies: ["CSQLiteExtension", .target(name: "CLZ4", condition: .when(platforms: liblz4Platforms))],
            swiftSettings: strictImports
        ),
        // The client side of the sync protocol, over a swappable HTTP transport. No libcurl here:
        // CloudSync depends on this target and ships on iOS, which has no libcurl.
        .target(name: "CloudSyncNetwork", dependencies: ["CloudSyncCore", "CSQLiteExtension"], swiftSettings: strictImports),
        // The libcurl transport, for the loadable extension (SQL functions are synchronous) and
        // the tools; the Swift API uses URLSession (Apple) or AsyncHTTPClient (Linux) instead.
        .target(name: "CloudSyncCurl", dependencies: ["CloudSyncCore", "CloudSyncNetwork", "CCurl"], swiftSettings: strictImports),

        // Ways in.
        .target(name: "CloudSyncExtension", dependencies: ["CloudSyncCore", "CloudSyncNetwork", "CloudSyncCurl", "CSQLiteExtension"], swiftSettings: strictImports),
        .target(
            name: "CloudSyncServer",
            dependencies: [
                "CloudSyncCore", "CSQLiteLinked",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictImports
        ),
        .executableTarget(
            name: "CloudSyncServerCLI",
            dependencies: [
                "CloudSyncServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: leafImports
        ),
        .executableTarget(
            name: "CloudSyncBench",
            dependencies: ["CloudSyncCore", "CSQLiteLinked"],
            path: "Benchmarks/CloudSyncBench",
            swiftSettings: leafImports
        ),

        .executableTarget(
            name: "CloudSyncLoadTest",
            // CloudSyncTestSupport: its NIO event stream client opens thousands of subscriptions.
            dependencies: ["CloudSyncCore", "CloudSyncNetwork", "CloudSyncCurl", "CSQLiteLinked", "CloudSyncTestSupport"],
            path: "Benchmarks/CloudSyncLoadTest",
            swiftSettings: leafImports
        ),
        .executableTarget(
            name: "CloudSyncBigSync",
            // CloudSyncTestSupport: ServerProcess starts and administers the server.
            dependencies: ["CloudSyncCore", "CloudSyncNetwork", "CloudSyncCurl", "CSQLiteLinked", "CloudSyncTestSupport"],
            path: "Benchmarks/CloudSyncBigSync",
            swiftSettings: leafImports
        ),

        // The Swift API over GRDB, and its example app.
        .target(
            name: "CloudSync",
            dependencies: [
                "CloudSyncCore", "CloudSyncNetwork", "CSQLiteLinked",
                .product(name: "GRDB", package: "GRDB.swift"),
                // Linux's transport (HTTPClientTransport); Apple's platforms use URLSession.
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(platforms: [.linux])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(platforms: [.linux])),
                .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(platforms: [.linux])),
                .product(name: "NIOPosix", package: "swift-nio", condition: .when(platforms: [.linux])),
            ],
            swiftSettings: strictImports
        ),
        .executableTarget(
            name: "CloudSyncExample",
            dependencies: [
                "CloudSync",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: leafImports
        ),

        .testTarget(
            name: "CloudSyncCoreTests",
            dependencies: ["CloudSyncCore", "CSQLiteLinked", "CloudSyncTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: leafImports
        ),
        // A real cloudsync-server process for end-to-end tests, shared by the test targets.
        // Also a PostgreSQL cluster and a fresh database per test (PostgresTestDatabase).
        .target(
            name: "CloudSyncTestSupport",
            dependencies: [
                // The protocol-v2 test client (V2TestClient) runs over an engine database.
                "CloudSyncCore",
                "CloudSyncNetwork",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                // EventStreamConnection: change subscriptions, in tests and the load tool.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/CloudSyncTestSupport",
            swiftSettings: strictImports
        ),
        .testTarget(
            name: "CloudSyncNetworkTests",
            dependencies: [
                "CloudSyncNetwork", "CloudSyncCurl", "CloudSyncCore", "CSQLiteLinked", "CloudSyncTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: leafImports
        ),
        .testTarget(
            name: "CloudSyncServerTests",
            dependencies: [
                "CloudSyncServer", "CloudSyncCore", "CloudSyncNetwork", "CSQLiteLinked", "CloudSyncTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // Tokens made the way an attacker or another JWT library would make them.
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: leafImports
        ),
        .testTarget(
            name: "CloudSyncTests",
            dependencies: [
                "CloudSync", "CloudSyncCore", "CloudSyncTestSupport",
                // The end-to-end suite runs over libcurl too, next to URLSession.
                "CloudSyncCurl",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: leafImports
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The Apple workflow (.github/workflows/apple.yml) builds and tests the Swift API on its own,
// with CLOUDSYNC_SWIFT_API_ONLY=1: the server and its tools use Synchronization (macOS 15) and
// are built and tested on Linux.
if Context.environment["CLOUDSYNC_SWIFT_API_ONLY"] != nil {
    let swiftAPI: Set<String> = [
        "CSQLiteExtension", "CSQLiteLinked", "CLZ4", "CCurl", "CloudSyncCore", "CloudSyncNetwork", "CloudSyncCurl",
        "CloudSync", "CloudSyncExample", "CloudSyncTestSupport", "CloudSyncCoreTests", "CloudSyncTests",
    ]
    package.targets.removeAll { !swiftAPI.contains($0.name) }
    package.products.removeAll { !["CloudSyncCore", "CloudSyncNetwork", "CloudSyncCurl", "CloudSync", "cloudsync-example"].contains($0.name) }
    // Only what those targets use is fetched.
    let used = ["GRDB.swift", "swift-argument-parser", "postgres-nio", "swift-log", "swift-nio", "async-http-client"]
    package.dependencies.removeAll { dependency in
        guard case .sourceControl(_, let location, _) = dependency.kind else { return false }
        return !used.contains { location.hasSuffix("/\($0).git") }
    }
    // The tests use Duration and the clocks (macOS 13); the libraries are built for the declared
    // minimums in the workflow's steps before the tests, without this variable.
    if Context.environment["CLOUDSYNC_APPLE_TESTS"] != nil {
        package.platforms = [.iOS(.v16), .macOS(.v13), .tvOS(.v16), .watchOS(.v9)]
    }
}
