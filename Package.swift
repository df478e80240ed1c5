// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "instagram-auth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "instagram-auth", targets: ["instagram-auth"]),
        .executable(name: "instagram-emulator", targets: ["instagram-emulator"]),
        .executable(name: "instagram-auth-fuzz", targets: ["instagram-auth-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CFastCGI",
            providers: [.apt(["libfcgi-dev"])]
        ),
        .target(
            name: "FastCGI",
            dependencies: ["CFastCGI", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "InstagramAPI",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The account model, the store protocol and what both stores share.
        .target(name: "Accounts", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "SQLiteStore", dependencies: ["Accounts", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(
            name: "PostgresStore",
            dependencies: [
                "Accounts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(
            name: "InstagramAuth",
            dependencies: [
                "Accounts",
                "ChildProcess",
                "FastCGI",
                "InstagramAPI",
                "LogHandlers",
                "PostgresStore",
                "SQLiteStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "instagram-auth",
            dependencies: [
                "Accounts",
                "InstagramAuth",
                "SQLiteStore",
                "FastCGI",
                "InstagramAPI",
                "LogHandlers",
                "ProcessMemory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "InstagramEmulator",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "instagram-emulator",
            dependencies: [
                "InstagramEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fuzz targets for every parser; scripts/fuzz builds the runner with libFuzzer, a plain build replays files.
        .systemLibrary(name: "CLibFuzzer"),
        .target(
            name: "FuzzTargets",
            dependencies: [
                "FastCGI",
                "InstagramAPI",
                "InstagramAuth",
                "LogHandlers",
                "SQLiteStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "instagram-auth-fuzz", dependencies: ["FuzzTargets", "CLibFuzzer"]),
        // Log handlers: the command line's (control characters escaped), and lines kept in memory for the
        // fuzz targets and tests that check what was logged.
        .target(name: "LogHandlers", dependencies: [.product(name: "Logging", package: "swift-log")]),
        // Starts a program with its three standard descriptors and no other: every child the tests start.
        .target(name: "ChildProcess", dependencies: ["CSpawn"]),
        // The serving process's own pages: what starting alone touched is let go of once it serves.
        .target(name: "ProcessMemory"),
        .target(name: "CSpawn"),
        // For the tests only, never a dependency of a shipped product: a raw FastCGI client, a PostgreSQL
        // server of Debian's in a temporary folder, and off-pool waiting with its watch.
        .target(name: "TestSupport", dependencies: ["ChildProcess", "FastCGI"]),
        .testTarget(name: "ChildProcessTests", dependencies: ["ChildProcess", "TestSupport"]),
        .testTarget(name: "ProcessMemoryTests", dependencies: ["ProcessMemory"]),
        .testTarget(
            name: "FastCGITests",
            dependencies: ["FastCGI", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "InstagramAPITests", dependencies: ["InstagramAPI", "InstagramEmulator"]),
        .testTarget(
            name: "InstagramAuthTests",
            dependencies: [
                "Accounts", "ChildProcess", "FastCGI", "InstagramAPI", "InstagramAuth", "InstagramEmulator", "LogHandlers",
                "PostgresStore", "SQLiteStore", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]),
        .testTarget(name: "InstagramEmulatorTests", dependencies: ["InstagramEmulator"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"]),
        .testTarget(name: "LogHandlersTests", dependencies: ["LogHandlers", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Accounts",
                "ChildProcess",
                "FastCGI",
                "InstagramAPI",
                "InstagramAuth",
                "PostgresStore",
                "SQLiteStore",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ]
)
