import Testing
@testable import MeterCore

/// Broken site configs (Fixtures/broken) and profiles (Fixtures/broken-profiles): each must fail
/// with exactly these `file:line:column: message` lines, all of them, in document order.
@Suite struct BrokenConfigTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var fixture: String
        var expected: [String]
        var testDescription: String { fixture }
    }

    static let siteCases: [Case] = [
        Case(fixture: "unknown-bus-key.yaml", expected: [
            "unknown-bus-key.yaml:6:5: unknown key 'baudrate' in serial bus 'rs485-1' (expected one of: id, type, port, baud, parity, data_bits, stop_bits, rs485, protocol, timeout_ms, retries, queue_depth)",
        ]),
        Case(fixture: "unit-out-of-range.yaml", expected: [
            "unit-out-of-range.yaml:7:11: unit id 300 out of range 1–247 for serial bus 'rs485-1'",
        ]),
        Case(fixture: "tcp-unit-out-of-range.yaml", expected: [
            "tcp-unit-out-of-range.yaml:5:38: unit id 256 out of range 0–255 for tcp bus 'tcp-plant'",
        ]),
        Case(fixture: "unknown-profile.yaml", expected: [
            "unknown-profile.yaml:8:14: unknown profile 'sdm-120' (did you mean eastron-sdm120?)",
            "unknown-profile.yaml:12:14: unknown profile 'landis-e350' (known profiles: eastron-sdm120, eastron-sdm630, generic-modbus-gas, tuf2000m-water)",
        ]),
        Case(fixture: "unknown-bus.yaml", expected: [
            "unknown-bus.yaml:5:30: unknown bus 'rs485-2' (buses: rs485-1)",
        ]),
        Case(fixture: "duplicate-device.yaml", expected: [
            "duplicate-device.yaml:6:10: duplicate device id 'flat-301-elec' (first at line 5)",
        ]),
        Case(fixture: "duplicate-bus.yaml", expected: [
            "duplicate-bus.yaml:4:10: duplicate bus id 'rs485-1' (first at line 3)",
        ]),
        Case(fixture: "duplicate-unit.yaml", expected: [
            "duplicate-unit.yaml:6:45: unit 1 on bus 'rs485-1' is already used by device 'flat-301-elec'",
        ]),
        Case(fixture: "bad-poll-interval.yaml", expected: [
            "bad-poll-interval.yaml:9:20: bad poll interval '15 sec' (expected e.g. 500ms, 15s, 5m, 1h or a number of seconds)",
            "bad-poll-interval.yaml:14:20: poll interval '0s' out of range 100ms–24h",
        ]),
        Case(fixture: "bad-tcp-port.yaml", expected: [
            "bad-tcp-port.yaml:6:11: port 70000 out of range 1–65535",
            "bad-tcp-port.yaml:10:11: expected an integer for 'port', got '/dev/ttyUSB0'",
        ]),
        Case(fixture: "missing-keys.yaml", expected: [
            "missing-keys.yaml:1:1: missing key 'gateway' in site config",
            "missing-keys.yaml:4:5: missing key 'unit' in device 'flat-301-elec'",
        ]),
        Case(fixture: "wrong-types.yaml", expected: [
            "wrong-types.yaml:6:11: expected an integer for 'baud', got 'fast'",
            "wrong-types.yaml:7:12: expected true or false for 'rs485', got 'maybe'",
            "wrong-types.yaml:8:13: unknown parity 'mark' (expected one of: none, even, odd)",
            "wrong-types.yaml:10:3: expected a list for 'devices', got a mapping",
        ]),
        Case(fixture: "bad-usb-port.yaml", expected: [
            "bad-usb-port.yaml:3:39: bad USB port 'usb:0403' (expected usb:VID:PID or usb:VID:PID:SERIAL, e.g. usb:0403:6001)",
            "bad-usb-port.yaml:4:25: unknown bus type 'modbus-rtu' (expected one of: serial, tcp)",
        ]),
        Case(fixture: "serial-keys-on-tcp.yaml", expected: [
            "serial-keys-on-tcp.yaml:1:10: invalid gateway id 'gw test' (use letters, digits, '.', '_', '-')",
            "serial-keys-on-tcp.yaml:6:5: unknown key 'baud' in tcp bus 'tcp-plant' (expected one of: id, type, host, port, protocol, timeout_ms, retries, queue_depth)",
        ]),
        Case(fixture: "shared-port.yaml", expected: [
            "shared-port.yaml:4:39: port '/dev/ttyUSB0' is already used by bus 'rs485-1'",
        ]),
        Case(fixture: "invalid-yaml.yaml", expected: [
            "invalid-yaml.yaml:4:8: invalid YAML: did not find expected ',' or '}' while parsing a flow mapping",
        ]),
    ]

    static let profileCases: [Case] = [
        Case(fixture: "unknown-keys.yaml", expected: [
            // The key list grows with each protocol's profile settings (relay, meter_type, …).
            "unknown-keys.yaml:4:1: unknown key 'vendor_url' in profile (expected one of: \(ProfileLoader.topKeys.joined(separator: ", ")))",
            "unknown-keys.yaml:6:61: unknown key 'units' in point 'voltage.l1' (expected one of: name, table, address, type, word_order, unit, scale, offset, billing, state, bits)",
        ]),
        Case(fixture: "bad-enums.yaml", expected: [
            "bad-enums.yaml:3:9: unknown medium 'steam' (expected one of: electricity, water, gas, heat)",
            "bad-enums.yaml:4:11: unknown protocol 'mbus' (expected one of: \(WireProtocol.allCases.map(\.rawValue).joined(separator: ", ")))",
            "bad-enums.yaml:6:31: unknown table 'inputs' (expected one of: holding, input, coil, discrete)",
            "bad-enums.yaml:6:57: unknown type 'float' (expected one of: u16, i16, u32, i32, u64, i64, f32, f64, bcd16, bcd32, bool)",
            "bad-enums.yaml:6:76: unknown word order 'ABDC' (expected one of: ABCD, CDAB, BADC, DCBA)",
        ]),
        Case(fixture: "bad-addresses.yaml", expected: [
            "bad-addresses.yaml:6:24: address 70000 out of range 0–65535",
            "bad-addresses.yaml:7:24: address -1 out of range 0–65535",
            "bad-addresses.yaml:8:24: u32 at address 65535 runs past register 65535",
            "bad-addresses.yaml:9:24: expected an integer for 'address', got 'twelve'",
        ]),
        Case(fixture: "bad-points.yaml", expected: [
            "bad-points.yaml:8:12: duplicate point name 'volume.total' (first at line 7)",
            "bad-points.yaml:9:43: type bool needs table coil or discrete, not holding",
            "bad-points.yaml:10:55: type u16 not allowed in table coil (coils and discrete inputs hold only bool)",
            "bad-points.yaml:11:43: type f64 spans 4 registers, more than max_registers_per_read 2",
            "bad-points.yaml:12:5: missing key 'name' in point",
            "bad-points.yaml:12:5: missing key 'address' in point",
            "bad-points.yaml:13:45: scale must not be 0",
            "bad-points.yaml:14:12: invalid point name 'Pressure Bar' (expected dotted lower-case words, e.g. energy.import.total)",
            "bad-points.yaml:14:48: expected true or false for 'billing', got 'maybe'",
        ]),
        Case(fixture: "wrong-types.yaml", expected: [
            "wrong-types.yaml:1:15: expected a string for 'manufacturer', got a list",
            "wrong-types.yaml:4:9: expected a mapping for serial settings, got '9600'",
            "wrong-types.yaml:5:10: expected an integer for 'max_gap', got 'lots'",
            "wrong-types.yaml:6:9: expected a list for 'points', got a mapping",
        ]),
    ]

    /// The four shipped profiles only, so that adding a profile does not change these messages.
    static func shippedProfiles() throws -> [String: DeviceProfile] {
        try Repo.profiles().filter { ["eastron-sdm120", "eastron-sdm630", "tuf2000m-water", "generic-modbus-gas"].contains($0.key) }
    }

    @Test(arguments: siteCases)
    func brokenSiteConfig(_ c: Case) throws {
        let text = try Repo.fixture("broken/" + c.fixture)
        #expect(siteErrors(text, file: c.fixture, profiles: try Self.shippedProfiles()) == c.expected)
    }

    @Test(arguments: profileCases)
    func brokenProfile(_ c: Case) throws {
        let text = try Repo.fixture("broken-profiles/" + c.fixture)
        #expect(profileErrors(text, file: c.fixture) == c.expected)
    }

    @Test func everyFixtureHasACase() throws {
        #expect(try Repo.yamlFiles(in: "Tests/MeterCoreTests/Fixtures/broken") == Self.siteCases.map(\.fixture).sorted())
        #expect(try Repo.yamlFiles(in: "Tests/MeterCoreTests/Fixtures/broken-profiles") == Self.profileCases.map(\.fixture).sorted())
    }

    @Test func unknownProfileThroughLoadPathNamesTheDirectory() throws {
        let dir = Repo.path("Tests/MeterCoreTests/Fixtures/broken")
        do {
            _ = try SiteConfigLoader.load(path: dir + "/unknown-profile.yaml", profilesDirectory: Repo.profilesDirectory)
            Issue.record("loaded a broken config")
        } catch {
            #expect(error.errors.count == 2)
            #expect(error.errors[0].description == dir + "/unknown-profile.yaml:8:14: unknown profile 'sdm-120' (did you mean eastron-sdm120?)")
            #expect(error.errors[1].message.hasPrefix("unknown profile 'landis-e350' (profiles in \(Repo.profilesDirectory): "))
            #expect(error.errors[1].message.contains("eastron-sdm120, eastron-sdm630, "))
        }
    }

    @Test func brokenProfileFailsOnlyTheDevicesUsingIt() throws {
        var profiles = try Self.shippedProfiles()
        profiles.removeValue(forKey: "eastron-sdm630")
        let catalog = SiteConfigLoader.ProfileCatalog(
            profiles: profiles,
            broken: ["eastron-sdm630": [ConfigError(SourceLocation(file: "p.yaml", line: 3, column: 9), "unknown medium 'x'")]],
            directory: "profiles")
        let root = try YAMLParser.parse("""
            gateway: gw
            buses: [{id: t, type: tcp, host: h}]
            devices:
              - {id: a, bus: t, unit: 1, profile: eastron-sdm630}
              - {id: b, bus: t, unit: 2, profile: eastron-sdm630}
              - {id: c, bus: t, unit: 3, profile: eastron-sdm120}
            """, file: "s.yaml")
        do {
            _ = try SiteConfigLoader.decode(root, file: "s.yaml", catalog: catalog)
            Issue.record("loaded a config with a broken profile")
        } catch {
            #expect(error.errors.map(\.description) == [
                "s.yaml:4:39: profile 'eastron-sdm630' has errors",
                "s.yaml:5:39: profile 'eastron-sdm630' has errors",
                "p.yaml:3:9: unknown medium 'x'",
            ])
        }
    }

    @Test func loadDirectoryCollectsErrorsOfEveryFile() {
        do {
            _ = try ProfileLoader.loadDirectory(Repo.path("Tests/MeterCoreTests/Fixtures/broken-profiles"))
            Issue.record("loaded broken profiles")
        } catch {
            let files = Set(error.errors.map { $0.location.file.split(separator: "/").last.map(String.init) ?? "" })
            #expect(files == Set(Self.profileCases.map(\.fixture)))
        }
        #expect(throws: ConfigErrors.self) { try ProfileLoader.loadDirectory("/nonexistent-profiles") }
    }
}
