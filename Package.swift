// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MeterAgent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "meteragent", targets: ["meteragent"]),
        .executable(name: "metersim", targets: ["metersim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Pure codecs: no Foundation, no I/O, Embedded-Swift friendly.
        .target(name: "MeterProtocols", linkerSettings: [.linkedLibrary("m")]),
        .systemLibrary(name: "CModbus", pkgConfig: "libmodbus", providers: [.apt(["libmodbus-dev"])]),
        .systemLibrary(name: "CSerialPort", pkgConfig: "libserialport", providers: [.apt(["libserialport-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "MeterCore", dependencies: ["MeterProtocols", "CYAML"]),
        .target(name: "MeterIO", dependencies: ["MeterCore", "CModbus", "CSerialPort"]),
        .target(name: "MeterDrivers", dependencies: ["MeterCore", "MeterProtocols", "MeterIO"]),
        .target(name: "MeterAgent", dependencies: ["MeterCore", "MeterDrivers", "MeterIO"]),
        .executableTarget(
            name: "meteragent",
            dependencies: ["MeterAgent", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "MeterSimulation", dependencies: ["MeterProtocols", "MeterCore", "MeterIO"], path: "Simulators/MeterSimulation"),
        .executableTarget(name: "metersim", dependencies: ["MeterSimulation"], path: "Simulators/metersim"),
        .testTarget(name: "MeterProtocolsTests", dependencies: ["MeterProtocols"]),
        .testTarget(name: "MeterCoreTests", dependencies: ["MeterCore"], exclude: ["Fixtures"]),
        .testTarget(name: "MeterIOTests", dependencies: ["MeterIO", "MeterDrivers"]),
        .testTarget(name: "MeterSimulationTests", dependencies: ["MeterSimulation", "MeterIO", "MeterCore", "MeterProtocols", "CModbus"]),
        .testTarget(name: "IntegrationTests", dependencies: ["MeterCore", "MeterIO", "MeterDrivers", "MeterSimulation"]),
    ],
    swiftLanguageModes: [.v6]
)
