// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "kiln",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .library(name: "KilnSystem", targets: ["KilnSystem"]),
        .library(name: "KilnOCI", targets: ["KilnOCI"]),
        .library(name: "KilnProgress", targets: ["KilnProgress"]),
        .library(name: "KilnRegistry", targets: ["KilnRegistry"]),
        .library(name: "KilnArchive", targets: ["KilnArchive"]),
        .library(name: "KilnStore", targets: ["KilnStore"]),
        .library(name: "KilnDockerfile", targets: ["KilnDockerfile"]),
        .library(name: "KilnSolver", targets: ["KilnSolver"]),
        .library(name: "KilnWorker", targets: ["KilnWorker"]),
        .library(name: "KilnExport", targets: ["KilnExport"]),
        .library(name: "KilnCache", targets: ["KilnCache"]),
        .library(name: "KilnBuild", targets: ["KilnBuild"]),
        .library(name: "KilnConfig", targets: ["KilnConfig"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .target(
            name: "KilnOCI",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "KilnRegistry",
            dependencies: [
                "KilnOCI",
                "KilnSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .target(name: "CKilnSys"),
        .target(
            name: "KilnSystem",
            dependencies: ["CKilnSys"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnArchive",
            dependencies: ["KilnOCI", "KilnSystem", "CZlib", "CZstd", "CKilnSys"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnProgress",
            dependencies: ["KilnOCI", "KilnSystem"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnDockerfile",
            dependencies: ["KilnOCI", "KilnSystem"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnSolver",
            dependencies: ["KilnOCI", "KilnSystem", "KilnProgress", "KilnArchive", "KilnDockerfile", "KilnStore"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnWorker",
            dependencies: ["KilnOCI", "KilnSystem", "KilnArchive", "KilnDockerfile", "KilnStore", "KilnSolver", "KilnProgress", "CKilnSys"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnExport",
            dependencies: ["KilnOCI", "KilnSystem", "KilnArchive", "KilnDockerfile", "KilnStore", "KilnSolver", "KilnProgress", "KilnRegistry"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnCache",
            dependencies: ["KilnOCI", "KilnSystem", "KilnArchive", "KilnExport", "KilnStore", "KilnSolver", "KilnProgress", "KilnRegistry"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnBuild",
            dependencies: ["KilnOCI", "KilnSystem", "KilnProgress", "KilnRegistry", "KilnArchive", "KilnStore", "KilnDockerfile",
                           "KilnSolver", "KilnWorker", "KilnExport", "KilnCache"],
            swiftSettings: strict
        ),
        .target(
            name: "KilnStore",
            dependencies: ["KilnOCI", "KilnSystem", "KilnArchive", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(
            name: "KilnConfig",
            dependencies: ["KilnRegistry", "KilnOCI", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnBuild",
                "KilnConfig",
                "KilnOCI",
                "KilnSystem",
                "KilnProgress",
                "KilnRegistry",
                "KilnStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "KilnTestSupport",
            dependencies: [
                "KilnOCI", "KilnSystem", "KilnArchive", "KilnRegistry", "KilnStore", "KilnProgress", "KilnBuild",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/KilnTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnArchiveTests",
            dependencies: ["KilnArchive", "KilnOCI", "KilnTestSupport", "CKilnSys",
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnDockerfileTests",
            dependencies: ["KilnDockerfile", "KilnOCI", "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnSolverTests",
            dependencies: ["KilnSolver", "KilnProgress", "KilnDockerfile", "KilnArchive", "KilnOCI", "KilnStore", "KilnSystem",
                           "KilnTestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnWorkerTests",
            dependencies: ["KilnWorker", "KilnBuild", "KilnSolver", "KilnProgress", "KilnDockerfile", "KilnArchive", "KilnOCI", "KilnStore",
                           "KilnRegistry", "KilnSystem", "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnExportTests",
            dependencies: ["KilnExport", "KilnBuild", "KilnSolver", "KilnArchive", "KilnOCI", "KilnStore", "KilnRegistry", "KilnSystem",
                           "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnBuildTests",
            dependencies: ["KilnBuild", "KilnCache", "KilnSolver", "KilnProgress", "KilnDockerfile", "KilnArchive", "KilnOCI", "KilnStore",
                           "KilnRegistry", "KilnSystem", "KilnTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnProgressTests",
            dependencies: ["KilnProgress", "KilnOCI", "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnCacheTests",
            dependencies: ["KilnCache", "KilnBuild", "KilnExport", "KilnArchive", "KilnOCI", "KilnSolver", "KilnStore", "KilnRegistry",
                           "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnStoreTests",
            dependencies: ["KilnStore", "KilnArchive", "KilnOCI", "KilnTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnCLITests",
            dependencies: ["KilnSystem", "KilnOCI", "KilnRegistry", "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnSystemTests",
            dependencies: ["KilnSystem", "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnConfigTests",
            dependencies: ["KilnConfig", "KilnRegistry", "KilnOCI", "KilnTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnOCITests",
            dependencies: ["KilnOCI"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KilnRegistryTests",
            dependencies: ["KilnRegistry", "KilnOCI", "KilnTestSupport",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: strict
        ),
    ]
)
