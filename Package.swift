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
        .executable(name: "cellbenchd", targets: ["cellbenchd"]),
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
        .testTarget(name: "FractionalTests", dependencies: ["Fractional", "BenchCore"], exclude: ["Fixtures"], swiftSettings: swiftSettings),

        // Virtual cells and simulated instruments.
        .target(
            name: "Simulator",
            dependencies: ["BenchCore", "TOMLConfig", "CModbus", .product(name: "Numerics", package: "swift-numerics")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator"], swiftSettings: swiftSettings),

        // Instrument transports (serial, Modbus RTU/TCP), driver files, drivers, fault policy.
        .target(
            name: "Instruments",
            dependencies: [
                "BenchCore", "TOMLConfig", "CSerialPort", "CModbus",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InstrumentsTests",
            dependencies: ["Instruments", "Simulator", "BenchCore"],
            exclude: ["Interop"],
            swiftSettings: swiftSettings
        ),

        // Test schedules: steps, loops and end conditions run per channel as a pure state machine.
        .target(name: "Schedules", dependencies: ["BenchCore", "Instruments", "TOMLConfig"], swiftSettings: swiftSettings),
        .testTarget(name: "SchedulesTests", dependencies: ["Schedules", "Instruments", "BenchCore", "TOMLConfig"], swiftSettings: swiftSettings),

        // Configuration, wiring, lifecycle, systemd notification.
        .target(
            name: "Daemon",
            dependencies: [
                "BenchCore", "TOMLConfig", "Simulator", "Storage", "StatusServer", "Electrochem", "Estimation", "Fractional", "Instruments", "Alarms",
                "Schedules",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "Storage", "StatusServer", "Simulator"], swiftSettings: swiftSettings),
        // Live status: NDJSON over a Unix socket, Prometheus /metrics over HTTP.
        .target(
            name: "StatusServer",
            dependencies: [
                "BenchCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StatusServerTests",
            dependencies: [
                "StatusServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Embedded SQLite store: schema and migrations, batch writer, queries, export.
        .target(name: "Storage", dependencies: ["BenchCore", "CSQLite"], swiftSettings: swiftSettings),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "BenchCore", "CSQLite"], swiftSettings: swiftSettings),

        // Alarm rules, cohort outlier detection, lifecycle and actions.
        .target(
            name: "Alarms",
            dependencies: ["BenchCore", "TOMLConfig", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AlarmsTests",
            dependencies: ["Alarms", "BenchCore", "TOMLConfig", "Simulator", "Storage", "StatusServer", "Daemon",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // The daemon executable: everything lives in Daemon.
        .executableTarget(
            name: "cellbenchd",
            dependencies: ["Daemon", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),

        // Impedance analysis: circuits, fitting, Kramers–Kronig, spectrum importers.
        .target(
            name: "Electrochem",
            dependencies: ["BenchCore", .product(name: "Numerics", package: "swift-numerics")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ElectrochemTests",
            dependencies: ["Electrochem", "BenchCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),

        // Per-channel online analysis: per-sweep check and fit, SOC observers, cell files, identification.
        .target(
            name: "Estimation",
            dependencies: ["BenchCore", "Electrochem", "Fractional", "TOMLConfig"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EstimationTests",
            dependencies: ["Estimation", "Electrochem", "Simulator"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),

        // Command-line companion: thin; each verb lives in its own file.
        .executableTarget(
            name: "cellbench",
            dependencies: [
                "BenchCore",
                "StatusServer",
                "Storage",
                "Electrochem",
                "Simulator",
                "TOMLConfig",
                "Estimation",
                "Schedules",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Numerics", package: "swift-numerics"),
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
                "Storage",
                "StatusServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "Instruments",
                .product(name: "Prometheus", package: "swift-prometheus"),
                "Electrochem",
                "Alarms", "Simulator", "TOMLConfig", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Numerics", package: "swift-numerics"),
            ],
            path: "Benchmarks/cellbench-bench",
            swiftSettings: swiftSettings
        ),
    ]
)
