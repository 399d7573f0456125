import Foundation
import Testing

/// The `meteragent` command line as a technician uses it: exit codes, one-line errors, help.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CommandLineTests {
    @Test func helpListsEveryCommand() throws {
        let help = try runCommand(Paths.meteragent, ["--help"])
        #expect(help.status == 0)
        for verb in ["run", "read", "probe", "ports", "plan", "config", "scan"] {
            #expect(help.stdout.contains("  \(verb) "), "--help lacks \(verb): \(help.stdout)")
        }
        #expect(help.stdout.contains("Exit codes"))
        let validate = try runCommand(Paths.meteragent, ["config", "validate", "--help"])
        #expect(validate.stdout.contains("file:line:column"))
    }

    @Test func validateReportsEveryErrorWithItsLocationAndExits2() throws {
        let file = Paths.repoRoot.appendingPathComponent("Tests/MeterCoreTests/Fixtures/broken/bad-poll-interval.yaml").path
        let result = try runCommand(Paths.meteragent, ["config", "validate", file, "--profiles", Paths.profiles])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n") == [
            "\(file):9:20: bad poll interval '15 sec' (expected e.g. 500ms, 15s, 5m, 1h or a number of seconds)",
            "\(file):14:20: poll interval '0s' out of range 100ms–24h",
        ])
    }

    @Test func everyExampleSiteValidates() throws {
        let dir = Paths.repoRoot.appendingPathComponent("Hardware/examples")
        let sites = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix("site.yaml") || $0.contains("site-") }
        #expect(!sites.isEmpty)
        for site in sites {
            let result = try runCommand(Paths.meteragent, ["config", "validate", dir.appendingPathComponent(site).path])
            #expect(result.status == 0, "\(site): \(result.stderr)")
            #expect(result.stdout.contains(": ok"))
        }
    }

    @Test func planCoalescesAndPricesTheWire() throws {
        let site = Paths.repoRoot.appendingPathComponent("Hardware/examples/demo-site.yaml").path
        let result = try runCommand(Paths.meteragent, ["plan", site])
        #expect(result.status == 0, "\(result.stderr)")
        let cycle = try #require(result.stdout.firstMatch(of: /per cycle: (\d+) requests, (\d+) bytes on the wire, ([\d.]+) ms bus time/))
        let naive = try #require(result.stdout.firstMatch(of: /one request per point: (\d+) requests, (\d+) bytes, ([\d.]+) ms bus time/))
        #expect(Int(cycle.1)! < Int(naive.1)!)
        #expect(Double(cycle.3)! < Double(naive.3)!)
        // SDM120: voltage … power factor (0x0000–0x001F) in one read, as the planner coalesces them.
        #expect(result.stdout.contains("read input  0x0000  count 32"))
    }

    @Test func probeReadsAMeterWithoutAConfigAndExplainsFailures() throws {
        let sim = try Simulator(scenario: """
            lines:
              - {id: rs485, baud: 9600, devices: [{unit: 10, profile: tuf2000m-water, model: water}]}
            tcp:
              - {id: plant, port: 0, devices: [{unit: 1, profile: eastron-sdm630, model: electricity}]}

            """)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let port = try #require(sim.tcpPorts.first)
        #expect(try sim.control("set rs485 10 flow.rate 12.5").contains("ok"))

        let rtu = try runCommand(Paths.meteragent, ["probe", "--port", pty, "--baud", "9600", "--unit", "10",
                                                    "--profile", "tuf2000m-water", "--profiles", Paths.profiles])
        #expect(rtu.status == 0, "\(rtu.stderr)")
        #expect(rtu.stdout.contains("flow.rate"))
        #expect(rtu.stdout.split(separator: "\n").contains { $0.hasPrefix("flow.rate") && $0.contains("12.5") })

        let tcp = try runCommand(Paths.meteragent, ["probe", "--port", "tcp://127.0.0.1:\(port)", "--unit", "1",
                                                    "--profile", "eastron-sdm630", "--profiles", Paths.profiles, "--json"])
        #expect(tcp.status == 0, "\(tcp.stderr)")
        #expect(jsonLines(tcp.stdout).count == 15)

        let silent = try runCommand(Paths.meteragent, ["probe", "--port", pty, "--unit", "11", "--timeout-ms", "200",
                                                       "--profile", "tuf2000m-water", "--profiles", Paths.profiles])
        #expect(silent.status == 1)
        #expect(silent.stderr.contains("unit 11 on \(pty): timeout"), "\(silent.stderr)")

        let unknown = try runCommand(Paths.meteragent, ["probe", "--port", pty, "--unit", "10", "--profile", "no-such-meter",
                                                        "--profiles", Paths.profiles])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("no profile 'no-such-meter'"))

        // A bus that cannot be opened says why, not just bus_error.
        let dir = try Paths.temporaryDirectory()
        let missing = dir.appendingPathComponent("ttyNOPE").path
        let absent = try runCommand(Paths.meteragent, ["probe", "--port", missing, "--unit", "1",
                                                       "--profile", "eastron-sdm120", "--profiles", Paths.profiles])
        #expect(absent.status == 3)
        #expect(absent.stderr.contains("unit 1 on \(missing): bus_error") && absent.stderr.contains("cannot open \(missing): No such file or directory"),
                "\(absent.stderr)")
        let closed = try Broker.freePort()  // released: nothing listens there
        let site = try writeSite("""
            gateway: gw-cli
            buses: [{id: plant, type: tcp, host: 127.0.0.1, port: \(closed), timeout_ms: 500}]
            devices: [{id: main, bus: plant, unit: 1, profile: eastron-sdm630}]
            """, in: dir)
        let refused = try runCommand(Paths.meteragent, ["read", site, "main"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("main on bus plant:") && refused.stderr.contains("Connection refused"), "\(refused.stderr)")
    }

    @Test func readNamesWhatIsUnknown() throws {
        let site = Paths.repoRoot.appendingPathComponent("Hardware/examples/demo-site.yaml").path
        let device = try runCommand(Paths.meteragent, ["read", site, "flat-999"])
        #expect(device.status == 2)
        #expect(device.stderr.contains("no device or reader 'flat-999'") && device.stderr.contains("readers: ev-bay-1-reader"), "\(device.stderr)")
        let point = try runCommand(Paths.meteragent, ["read", site, "flat-101-elec", "voltage.l9"])
        #expect(point.status == 2)
        #expect(point.stderr.contains("no point 'voltage.l9'"))
    }

    @Test func portsListsWithoutFailing() throws {
        let result = try runCommand(Paths.meteragent, ["ports", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(jsonLines(result.stdout).count == result.stdout.split(separator: "\n").count)
    }
}
