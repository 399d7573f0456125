// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MeterAgent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meteragent", targets: ["meteragent"]),
        .executable(name: "metersim", targets: ["metersim"]),
    ],
    targets: [
        // Pure codecs: no Foundation, no I/O, Embedded-Swift friendly.
        .target(name: "MeterProtocols", linkerSettings: [.linkedLibrary("m")]),
        .systemLibrary(name: "CModbus", pkgConfig: "libmodbus", providers: [.apt(["libmodbus-dev"])]),
        .systemLibrary(name: "CSerialPort", pkgConfig: "libserialport", providers: [.apt(["libserialport-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Opened with dlopen on first use (see its shim.h), so it is not linked.
        .systemLibrary(name: "CMosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // libcrypto (OpenSSL 3) for Ed25519, opened with dlopen on first use (see its shim.h), so it is not linked.
        .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
        // libnfc (PN532 and the USB NFC readers it supports), opened with dlopen on first use (see its
        // shim.h), so it is not linked: only sites with such readers load it.
        .systemLibrary(name: "CNFC", providers: [.apt(["libnfc-dev"])]),
        // mallopt for a single malloc arena (glibc); header only.
        .systemLibrary(name: "CMalloc"),
        .target(name: "MeterCore", dependencies: ["MeterProtocols", "CYAML"]),
        .target(name: "MeterIO", dependencies: ["MeterCore", "CModbus", "CSerialPort"]),
        .target(name: "MeterDrivers", dependencies: ["MeterCore", "MeterProtocols", "MeterIO", "CNFC"]),
        // The durable outbox; runs its sqlite3 calls on a thread of its own (MeterCore's DedicatedThread).
        .target(name: "MeterStore", dependencies: ["MeterCore", "MeterProtocols", "CSQLite"]),
        // The MQTT uplink on libmosquitto (its own network thread, callbacks into continuations).
        .target(name: "MeterUplink", dependencies: ["MeterCore", "CMosquitto"]),
        // Ed25519 keys and signatures of the signed commands, on COpenSSL.
        .target(name: "MeterCrypto", dependencies: ["MeterCore", "COpenSSL"]),
        .target(name: "MeterAgent", dependencies: ["MeterCore", "MeterDrivers", "MeterIO", "MeterStore", "MeterUplink", "MeterCrypto"]),
        // The command line's parser and help (in-house: swift-argument-parser brings Foundation's
        // essentials into the binary, some 3 MB stripped).
        .target(name: "CommandLineKit"),
        .executableTarget(
            name: "meteragent",
            dependencies: ["MeterAgent", "MeterStore", "MeterProtocols", "MeterCrypto", "CMalloc", "CommandLineKit"],
            // Inputs of the release link (Makefile, RELEASE_FLAGS), not sources.
            exclude: ["Link"]
        ),
        .target(name: "MeterSimulation", dependencies: ["MeterProtocols", "MeterCore", "MeterIO"], path: "Simulators/MeterSimulation"),
        .executableTarget(name: "metersim", dependencies: ["MeterSimulation"], path: "Simulators/metersim"),
        // The store-and-forward benchmark of Tests/Benchmarks/uplink-bench.sh (`make bench`): durable
        // ingest into the outbox, then replay to a broker (not shipped).
        .executableTarget(name: "uplink-bench", dependencies: ["MeterAgent", "MeterStore", "MeterUplink", "MeterCore", "MeterProtocols"],
                          path: "Tests/Benchmarks/UplinkBench"),
        // Test targets mirror the modules: `<Module>Tests` tests `<Module>`; IntegrationTests runs
        // the built executables, simulators and a broker as separate processes.
        // Helpers several test targets share (a libmodbus test server, bus helpers); not shipped.
        .target(name: "MeterTestSupport", dependencies: ["MeterCore", "MeterIO", "MeterStore", "CModbus"], path: "Tests/MeterTestSupport"),
        .testTarget(name: "MeterProtocolsTests", dependencies: ["MeterProtocols"]),
        .testTarget(name: "CommandLineKitTests", dependencies: ["CommandLineKit"]),
        .testTarget(name: "MeterCoreTests", dependencies: ["MeterCore", "MeterProtocols"], exclude: ["Fixtures"]),
        .testTarget(name: "MeterIOTests", dependencies: ["MeterIO", "MeterCore", "MeterProtocols", "MeterTestSupport"]),
        .testTarget(name: "MeterDriversTests", dependencies: ["MeterDrivers", "MeterIO", "MeterCore", "MeterProtocols", "MeterSimulation", "MeterTestSupport"]),
        .testTarget(name: "MeterStoreTests", dependencies: ["MeterStore", "MeterCore", "CSQLite", "MeterTestSupport"]),
        .testTarget(name: "MeterUplinkTests", dependencies: ["MeterUplink"]),
        .testTarget(name: "MeterCryptoTests", dependencies: ["MeterCrypto", "MeterProtocols"]),
        .testTarget(name: "MeterAgentTests", dependencies: ["MeterAgent", "MeterCore", "MeterProtocols", "MeterStore", "MeterUplink", "MeterCrypto", "MeterTestSupport"]),
        .testTarget(name: "MeterSimulationTests", dependencies: ["MeterSimulation", "MeterIO", "MeterCore", "MeterProtocols", "CModbus"]),
        .testTarget(name: "IntegrationTests", dependencies: ["MeterCore", "MeterProtocols", "MeterUplink", "MeterCrypto"]),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets of every decoder that reads outside bytes (Tests/Fuzz, `make fuzz`): declared
// only when METERAGENT_FUZZ is set, so that the normal and the release builds never compile them
// (they link libFuzzer and import modules @testable) and the shipped binary cannot contain them.
if Context.environment["METERAGENT_FUZZ"] != nil {
    package.targets += [
        // libFuzzer's driver function (header only; -sanitize=fuzzer links libFuzzer).
        .systemLibrary(name: "CLibFuzzer", path: "Tests/Fuzz/CLibFuzzer"),
        .executableTarget(
            name: "meterfuzz",
            dependencies: ["MeterProtocols", "MeterCore", "MeterStore", "MeterAgent", "MeterSimulation", "CLibFuzzer"],
            path: "Tests/Fuzz/Sources"
        ),
    ]
}
