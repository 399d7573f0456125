import Foundation
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterSimulation
import Synchronization
import Testing

/// The DL/T 645 driver in-process on a `SerialLineBus` (termios on the pty's slave end, the
/// production path) against a simulated line: values, relay control with read-back, passwords,
/// keep-power, time sync, silence for other addresses, faults.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DLT645DriverTests {
    final class Line {
        let server: DLT645LineServer
        let bus: SerialLineBus
        let clock = SystemClock()
        var meters: [DLT645SimulatedMeter] { server.meters }

        init(_ specs: [(address: String, profile: String, password: String)], timeoutMs: Int = 800, retries: Int = 0) throws {
            var simulated: [DLT645SimulatedMeter] = []
            for (index, m) in specs.enumerated() {
                let profile = try ProfileLoader.load(path: Paths.profiles + "/\(m.profile).yaml")
                let device = SimulatedDevice(unit: UnitID(UInt8(index + 1)), profile: profile, seed: UInt64(index + 11), clock: clock)
                simulated.append(DLT645SimulatedMeter(address: try DLT645Address(m.address), device: device, password: m.password))
            }
            server = try DLT645LineServer(id: "line", settings: SerialSettings(baud: 9600), meters: simulated, clock: clock)
            try server.start()
            var config = BusConfig(id: BusID("line"), transport: .serial(port: server.slavePath, settings: SerialSettings(baud: 9600), rs485: false),
                                   protocolName: .dlt645, timeoutMs: timeoutMs, retries: retries)
            config.backoffInitialMs = 1_000
            bus = SerialLineBus(config: config)
        }

        func driver(_ address: String, profile: String, password: String? = nil, operatorCode: String = "00000001") throws -> DLT645MeterDriver {
            let loaded = try ProfileLoader.load(path: Paths.profiles + "/\(profile).yaml")
            let credentials = password.map { MeterCredentials(password: $0, operatorCode: operatorCode) }
            return try DLT645MeterDriver(device: DeviceConfig(id: DeviceID("m-\(address)"), bus: BusID("line"), address: address,
                                                              profile: loaded, credentials: credentials), bus: bus)
        }

        deinit {
            bus.close()
            server.stop()
        }
    }

    static func value(_ readings: [Reading], _ name: String) -> Double? {
        readings.first { $0.point.rawValue == name }?.value?.doubleValue
    }

    @Test func readsEveryPointWithTheSimulatorsValues() async throws {
        let line = try Line([("202611250301", "dlt645-2007-generic", "000000")])
        let meter = line.meters[0]
        meter.device.set("power.active.total", to: 1234.5)
        for (point, value) in [("voltage.l1", 231.4), ("current.l1", -5.125), ("frequency", 49.98), ("power_factor.total", 0.953)] {
            meter.device.set(point, to: value)
        }
        let driver = try line.driver("202611250301", profile: "dlt645-2007-generic")
        let energyBefore = meter.device.value(of: "energy.import.total")!
        let readings = await driver.read(now: WallClock.nowMs)
        let energyAfter = meter.device.value(of: "energy.import.total")!
        #expect(readings.map(\.point.rawValue) == driver.device.profile.dataPoints.map(\.name.rawValue))
        #expect(readings.allSatisfy { $0.quality == .good }, "\(readings.filter { $0.quality != .good })")
        // Energy registers are cut to 0.01 kWh and stay exact decimals.
        let energy = try #require(readings.first { $0.point.rawValue == "energy.import.total" })
        guard case let .decimal(exact) = energy.value else { Issue.record("energy is not an exact decimal"); return }
        #expect(exact.exponent == -2 && energy.billing && energy.unit == "kWh")
        // The register shows the energy at the moment of the read, cut to 0.01 kWh.
        #expect(exact.doubleValue >= (energyBefore * 100).rounded(.down) / 100 - 1e-9 && exact.doubleValue <= energyAfter + 1e-9,
                "\(exact) not within \(energyBefore)…\(energyAfter)")
        #expect(readings.first { $0.point.rawValue == "voltage.l1" }?.value?.description == "231.4")
        #expect(readings.first { $0.point.rawValue == "current.l1" }?.value?.description == "-5.125")
        #expect(readings.first { $0.point.rawValue == "power.active.total" }?.value?.description == "1234.5")
        #expect(readings.first { $0.point.rawValue == "frequency" }?.value?.description == "49.98")
        #expect(readings.first { $0.point.rawValue == "power_factor.total" }?.value?.description == "0.953")
        // The meter clock: today's date and the time within a few seconds.
        let now = MeterDateTime(secondsSince1970: LocalClock.localSeconds(utcMs: WallClock.nowMs()))
        #expect(Self.value(readings, "clock.date") == Double(now.year * 10000 + now.month * 100 + now.day))
        #expect(Self.value(readings, "relay.status_word") == 0)
    }

    @Test func negativePowerKeepsItsSign() async throws {
        let line = try Line([("202611250301", "dlt645-2007-generic", "000000")])
        line.meters[0].device.set("power.active.total", to: -2500)
        let driver = try line.driver("202611250301", profile: "dlt645-2007-generic")
        let readings = await driver.read(points: [PointName("power.active.total")], now: WallClock.nowMs)
        #expect(Self.value(readings, "power.active.total") == -2500)
    }

    @Test func tripCutsTheLoadAndDirectCloseRestoresIt() async throws {
        let line = try Line([("202611250301", "dlt645-2007-generic", "000000")])
        let meter = line.meters[0]
        meter.device.set("power.active.total", to: 36_000) // 0.01 kWh per second
        let driver = try line.driver("202611250301", profile: "dlt645-2007-generic", password: "000000")
        let energy = [PointName("energy.import.total")]

        let trip = await driver.execute(.relayOpen, now: WallClock.nowMs)
        #expect(trip.status == .confirmed, "\(trip)")
        #expect(trip.observed.first { $0.point.rawValue == "relay.open" }?.value == .bool(true))
        #expect(meter.statusWord3().relayOpen && meter.statusWord3().relayCommandOff)
        // With the relay open the energy register stands still.
        let before = Self.value(await driver.read(points: energy, now: WallClock.nowMs), "energy.import.total")
        try await Task.sleep(for: .milliseconds(1200))
        let after = Self.value(await driver.read(points: energy, now: WallClock.nowMs), "energy.import.total")
        #expect(before != nil && before == after)
        #expect(Self.value(await driver.read(points: [PointName("power.active.total")], now: WallClock.nowMs), "power.active.total") == 0)

        let close = await driver.execute(.relayClose, now: WallClock.nowMs)
        #expect(close.status == .confirmed, "\(close)")
        try await Task.sleep(for: .milliseconds(1200))
        let resumed = Self.value(await driver.read(points: energy, now: WallClock.nowMs), "energy.import.total")
        #expect((resumed ?? 0) > (after ?? 0))
    }

    @Test func closeAllowedLeavesTheLoadOffUntilTheCustomerRecloses() async throws {
        let line = try Line([("202611250301", "dlt645-2007-generic", "000000")])
        let driver = try line.driver("202611250301", profile: "dlt645-2007-generic", password: "000000")
        #expect(await driver.execute(.relayOpen, now: WallClock.nowMs).status == .confirmed)
        let arm = await driver.execute(.relayArm, now: WallClock.nowMs)
        #expect(arm.status == .confirmed, "\(arm)")
        #expect(arm.observed.first { $0.point.rawValue == "relay.open" }?.value == .bool(true))
        #expect(arm.observed.first { $0.point.rawValue == "relay.command_off" }?.value == .bool(false))
        line.meters[0].device.set("relay.state", to: 1) // the customer presses the button
        #expect(try await driver.readStatusWord3().relayOpen == false)
    }

    @Test func wrongPasswordIsAClearUnauthorisedError() async throws {
        let line = try Line([("202611250301", "dlt645-2007-generic", "123456")])
        let wrong = try line.driver("202611250301", profile: "dlt645-2007-generic", password: "000000")
        let outcome = await wrong.execute(.relayOpen, now: WallClock.nowMs)
        #expect(outcome.status == .rejected)
        #expect(outcome.quality == .meterError(0x04))
        #expect(outcome.message.contains("unauthorised"), "\(outcome.message)")
        #expect(!outcome.message.contains("000000") && !outcome.message.contains("123456"))
        #expect(!line.meters[0].statusWord3().relayOpen, "a refused trip must not cut the load")
        let right = try line.driver("202611250301", profile: "dlt645-2007-generic", password: "123456")
        #expect(await right.execute(.relayOpen, now: WallClock.nowMs).status == .confirmed)
    }

    @Test func keepPowerRefusesATripUntilReleased() async throws {
        let line = try Line([("202611250301", "dlt645-2007-generic", "000000")])
        let driver = try line.driver("202611250301", profile: "dlt645-2007-generic", password: "000000")
        let keep = await driver.execute(.keepPower, now: WallClock.nowMs)
        #expect(keep.status == .confirmed && keep.observed.contains { $0.point.rawValue == "relay.keep_power" && $0.value == .bool(true) })
        let refused = await driver.execute(.relayOpen, now: WallClock.nowMs)
        #expect(refused.status == .rejected && refused.quality == .meterError(0x04))
        #expect(await driver.execute(.releaseKeepPower, now: WallClock.nowMs).status == .confirmed)
        #expect(await driver.execute(.relayOpen, now: WallClock.nowMs).status == .confirmed)
        #expect(await driver.execute(.alarmOn, now: WallClock.nowMs).status == .confirmed)
        #expect(try await driver.readStatusWord3().preTripAlarm)
        #expect(await driver.execute(.alarmOff, now: WallClock.nowMs).status == .confirmed)
    }

    @Test func profileWithoutPlaintextTripRefusesBeforeSending() async throws {
        let line = try Line([("202611250302", "dlt645-2007-csg", "000000")])
        let driver = try line.driver("202611250302", profile: "dlt645-2007-csg", password: "000000")
        let frames = line.server.statistics.frames
        let outcome = await driver.execute(.relayOpen, now: WallClock.nowMs)
        #expect(outcome.status == .rejected && outcome.message.contains("does not accept trip"))
        #expect(line.server.statistics.frames == frames, "nothing was sent")
        // The meter (password level 03) takes a direct close.
        #expect(await driver.execute(.relayClose, now: WallClock.nowMs).status == .confirmed)
    }

    @Test func broadcastTimeMovesTheClocksOfEveryMeter() async throws {
        let line = try Line([("000000000001", "dlt645-2007-generic", "000000"), ("000000000002", "dlt645-2007-generic", "000000")])
        let frames = line.server.statistics
        let ahead = LocalClock.localSeconds(utcMs: WallClock.nowMs()) + 120
        let driver = try line.driver("000000000001", profile: "dlt645-2007-generic")
        let outcome = await driver.execute(.timeSync(localSeconds: ahead), now: WallClock.nowMs)
        // The meter moved two minutes ahead, as asked, and the read-back shows it.
        #expect(outcome.status == .confirmed, "\(outcome)")
        let offset = try #require(outcome.observed.first { $0.point.rawValue == "clock.offset" }?.value?.doubleValue)
        #expect(abs(offset - 120) <= 3)
        let other = try await line.driver("000000000002", profile: "dlt645-2007-generic").readClock()
        #expect(abs(other.secondsSince1970 - ahead) <= 3)
        // No meter answered the broadcast.
        #expect(line.server.statistics.replies == frames.replies + 4) // the two clock reads of each read-back
        // Back to now: confirmed within 5 s.
        let back = await driver.execute(.timeSync(localSeconds: LocalClock.localSeconds(utcMs: WallClock.nowMs())), now: WallClock.nowMs)
        #expect(back.status == .confirmed, "\(back)")
        // A jump of more than 5 minutes is ignored, as by real meters.
        let far = await driver.execute(.timeSync(localSeconds: LocalClock.localSeconds(utcMs: WallClock.nowMs()) + 3600), now: WallClock.nowMs)
        let farOffset = try #require(far.observed.first?.value?.doubleValue)
        #expect(far.status == .accepted && abs(farOffset) <= 5)
    }

    @Test func otherAddressesGetSilenceAndEachMeterItsOwnValues() async throws {
        let line = try Line([("000000000001", "dlt645-2007-generic", "000000"), ("000000000002", "dlt645-2007-three-phase", "000000")])
        let missing = try line.driver("000000000009", profile: "dlt645-2007-generic")
        let ignored = line.server.statistics.ignored
        let readings = await missing.read(points: [PointName("energy.total")], now: WallClock.nowMs)
        #expect(readings.first?.quality == .timeout)
        #expect(line.server.statistics.ignored == ignored + 1)
        line.meters[0].device.set("energy.import.total", to: 111.11)
        line.meters[1].device.set("energy.import.total", to: 22222.22)
        let one = await (try line.driver("000000000001", profile: "dlt645-2007-generic")).read(points: [PointName("energy.import.total")], now: WallClock.nowMs)
        let two = await (try line.driver("000000000002", profile: "dlt645-2007-three-phase")).read(points: [PointName("energy.import.total"), PointName("voltage.l3")], now: WallClock.nowMs)
        #expect(one.first?.value?.description == "111.11")
        #expect(two.first?.value?.description == "22222.22" && two.last?.quality == .good)
        // Two meters answering the wildcard collide: a garbled frame, no address.
        await #expect(throws: SerialBusError.self) { _ = try await DLT645MeterDriver.readAddress(on: line.bus) }
    }

    @Test func readsTheAddressOfTheOnlyMeterOnALine() async throws {
        let line = try Line([("121078563412", "dlt645-2007-generic", "000000")])
        #expect(try await DLT645MeterDriver.readAddress(on: line.bus).written == "121078563412")
    }

    @Test func unknownDataIdentifierAndFaultsBecomeQualities() async throws {
        let line = try Line([("000000000001", "dlt645-2007-generic", "000000")])
        let device = line.meters[0].device
        var profile = try ProfileLoader.load(path: Paths.profiles + "/dlt645-2007-generic.yaml")
        profile.dataPoints.append(DataPointDefinition(name: PointName("demand.max"), di: 0x0101_0000, format: DataFormat(.bcd(digits: 6, decimals: 4, signed: false))))
        let driver = try DLT645MeterDriver(device: DeviceConfig(id: DeviceID("x"), bus: BusID("line"), address: "000000000001", profile: profile), bus: line.bus)
        #expect(await driver.read(points: [PointName("demand.max")], now: WallClock.nowMs).first?.quality == .meterError(0x02))
        let energy = [PointName("energy.total")]
        try device.updateFaults { (f: inout DeviceFaults) throws(DeviceFaults.SetError) in try f.set("bad_crc", to: "on") }
        #expect(await driver.read(points: energy, now: WallClock.nowMs).first?.quality == .crcError)
        device.setFaults(DeviceFaults())
        try device.updateFaults { (f: inout DeviceFaults) throws(DeviceFaults.SetError) in try f.set("garbage", to: "on") }
        #expect(await driver.read(points: energy, now: WallClock.nowMs).first?.quality == .good, "garbage before a reply is skipped")
        device.setFaults(DeviceFaults())
        try device.updateFaults { (f: inout DeviceFaults) throws(DeviceFaults.SetError) in try f.set("exception", to: "4") }
        #expect(await driver.read(points: energy, now: WallClock.nowMs).first?.quality == .meterError(0x04))
        device.setFaults(DeviceFaults())
        try device.updateFaults { (f: inout DeviceFaults) throws(DeviceFaults.SetError) in try f.set("wrong_unit", to: "on") }
        #expect(await driver.read(points: energy, now: WallClock.nowMs).first?.quality == .timeout, "a reply from another address is not ours")
        device.setFaults(DeviceFaults())
        #expect(await driver.read(points: energy, now: WallClock.nowMs).first?.quality == .good)
    }

    /// A meter that splits one item over three frames (0xB1, then 0xB2 and 0x92 to follow-up reads).
    @Test func followsUpMultiFrameReplies() async throws {
        let pty = try PseudoTerminal()
        let meter = try DLT645Address("000000000042")
        let di = DLT645DataID(0x0601_0001)
        let parts: [[UInt8]] = [[0x11, 0x22], [0x33, 0x44], [0x55]]
        let running = Mutex(true)
        let requests = Mutex<[DLT645Frame]>([])
        try DedicatedThread {
            var decoder = DLT645StreamDecoder()
            while running.withLock({ $0 }) {
                var pfd = pollfd(fd: pty.masterFD, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 20) > 0, let bytes = try? pty.readAvailable() else { continue }
                decoder.append(bytes)
                while let request = decoder.nextFrame() {
                    requests.withLock { $0.append(request) }
                    let sequence = request.control.function == 0x12 ? Int(request.data.last ?? 0) : 0
                    let reply = DLT645Reply.readReply(to: request, from: meter, payload: parts[sequence], followUp: sequence < parts.count - 1,
                                                      sequence: request.control.function == 0x12 ? UInt8(sequence) : nil)
                    try? pty.write(try! reply.encoded())
                }
            }
        }
        defer { running.withLock { $0 = false } }
        let bus = SerialLineBus(config: BusConfig(id: BusID("mf"), transport: .serial(port: pty.slavePath, settings: SerialSettings(baud: 9600), rs485: false),
                                                  protocolName: .dlt645, timeoutMs: 500, retries: 0))
        defer { bus.close() }
        let profile = DeviceProfile(name: "mf", manufacturer: "t", model: "t", medium: .electricity, protocolName: .dlt645, points: [])
        let driver = try DLT645MeterDriver(device: DeviceConfig(id: DeviceID("mf"), bus: BusID("mf"), address: "000000000042", profile: profile), bus: bus)
        #expect(try await driver.readItem(di) == [0x11, 0x22, 0x33, 0x44, 0x55])
        let seen = requests.withLock { $0 }
        #expect(seen.map(\.control.rawValue) == [0x11, 0x12, 0x12])
        #expect(seen.dropFirst().map { $0.data.last } == [1, 2])
    }

    @Test func reads1997MetersWithTwoByteIdentifiers() async throws {
        let clock = SystemClock()
        let profile = try ProfileLoader.load(path: Paths.profiles + "/dlt645-1997-generic.yaml")
        let device = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 5, clock: clock)
        device.set("energy.import.total", to: 4321.09)
        // Pinned: the model's voltage moves on between the read and any later look at it.
        device.set("voltage.l1", to: 231)
        let meter = DLT645SimulatedMeter(address: try DLT645Address("000000001997"), device: device)
        let server = try DLT645LineServer(id: "old", settings: SerialSettings(baud: 9600), meters: [meter], clock: clock)
        try server.start()
        let bus = SerialLineBus(config: BusConfig(id: BusID("old"), transport: .serial(port: server.slavePath, settings: SerialSettings(baud: 9600), rs485: false),
                                                  protocolName: .dlt645_1997, timeoutMs: 300, retries: 0))
        defer { bus.close(); server.stop() }
        let driver = try DLT645MeterDriver(device: DeviceConfig(id: DeviceID("old"), bus: BusID("old"), address: "000000001997", profile: profile), bus: bus)
        let readings = await driver.read(now: WallClock.nowMs)
        #expect(readings.allSatisfy { $0.quality == .good }, "\(readings)")
        #expect(readings.first?.value?.description == "4321.09")
        #expect(Self.value(readings, "voltage.l1") == 231, "format XXX: whole volts")
        #expect(await driver.execute(.relayOpen, now: WallClock.nowMs).status == .unsupported)
    }
}
