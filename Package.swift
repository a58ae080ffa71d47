// swift-tools-version:6.1
// cellbench: battery test bench daemon (cellbenchd) and its command-line companion (cellbench).
// Module map and allowed imports: docs/architecture.md.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "cellbench",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cellbench", targets: ["cellbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics.git", from: "1.1.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        // System-library shims (Debian packages installed by scripts/setup).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3"),
        .systemLibrary(name: "CSerialPort", pkgConfig: "libserialport"),
        .systemLibrary(name: "CModbus", pkgConfig: "libmodbus"),

        // Domain types, clocks, ring buffers.
        .target(name: "BenchCore", swiftSettings: swiftSettings),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"], swiftSettings: swiftSettings),

        // Located TOML reading shared by the configuration, driver, schedule and cell files.
        .target(
            name: "TOMLConfig",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TOMLConfigTests", dependencies: ["TOMLConfig"], swiftSettings: swiftSettings),

        // Fractional calculus and the fractional cell model (pure Swift numerics).
        .target(
            name: "Fractional",
            dependencies: ["BenchCore", .product(name: "Numerics", package: "swift-numerics")],
            // Numerical kernels are optimised in debug builds too: unoptimised they make the tests 10x slower.
            swiftSettings: swiftSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        .testTarget(name: "FractionalTests", dependencies: ["Fractional"], exclude: ["Fixtures"], swiftSettings: swiftSettings),

        // Per-channel online estimation: SOC observers, cell files, identification.
        .target(
            name: "Estimation",
            dependencies: ["BenchCore", "Fractional", "TOMLConfig"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "EstimationTests", dependencies: ["Estimation"], exclude: ["Fixtures"], swiftSettings: swiftSettings),

        // Command-line companion: thin; each verb lives in its own file.
        .executableTarget(
            name: "cellbench",
            dependencies: [
                "BenchCore",
                "Estimation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // In-process benchmarks quoted in BENCHMARKS.md.
        .executableTarget(
            name: "cellbench-bench",
            dependencies: [
                "BenchCore",
                "Estimation",
                "Fractional",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/cellbench-bench",
            swiftSettings: swiftSettings
        ),
    ]
)
