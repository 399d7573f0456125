import Foundation
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterTestSupport
import Testing
@testable import MeterAgent
@testable import MeterStore

/// A customer session at a supply point under local cost control: credit running out ends it
/// (the cut is cost control's, the session records the end), and a cut-off point refuses cards.
@Suite(.timeLimit(.minutes(1)))
struct CardCreditTests {
    static let bob = CardID(technology: .iso14443a, bytes: [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
    static let bay = ReaderID("bay-1-nfc")

    @Test func creditRunningOutEndsTheSessionAndRefusesTheNextCard() async throws {
        // 100.0 kWh (f32 0x42C80000); the relay open.
        let server = try TestModbusServer(input: [0x48: 0x42C8, 0x49: 0x0000], coils: [0: false])
        try server.start()
        defer { server.stop() }
        var site = try SiteConfigLoader.load(text: """
            gateway: gw-7
            buses:
              - {id: tcp-test, type: tcp, host: 127.0.0.1, port: \(server.port)}
            devices:
              - {id: bay-1, bus: tcp-test, unit: 1, profile: generic-modbus-relay-meter,
                 cost_control: {mode: local, tariff: {flat: 1}, low_credit: 0.2, initial_balance: 1}}
            readers:
              - {id: bay-1-nfc, type: pn532, port: /dev/ttyS9, supply_point: bay-1}
            """, file: "site.yaml", profiles: try ProfileLoader.loadDirectory(CardServiceTests.repo + "/Hardware/profiles"))
        site.cards = CardSettings(idPrivacy: .mask)
        let bus = tcpBus("tcp-test", port: server.port, timeoutMs: 1_000)
        defer { bus.close() }
        let meter = try ModbusMeterDriver(device: site.devices[0], bus: bus)
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let clock = CardServiceTests.Clock()
        let drivers: @Sendable (DeviceID) -> (any MeterDriver)? = { $0 == meter.device.id ? meter : nil }
        let prepaid = PrepaidService(site: site, store: store, drivers: drivers, log: .silent, localMs: { $0 }, now: clock.now)
        #expect(await prepaid.start())
        await prepaid.observe([Reading(device: DeviceID("bay-1"), point: PointName("energy.import.total"), value: .decimal(ExactDecimal("100")!),
                                       unit: "kWh", timestampMs: clock.now(), quality: .good, billing: true)])
        let list = AuthorizationList(version: 1, entries: [AuthorizedCard(card: Self.bob, role: .customer)])
        let cards = CardService(site: site, drivers: [], meters: drivers, store: store, authorizations: CardAuthorizations(list),
                                prepaid: prepaid, log: .silent, now: clock.now)
        let running = Task { await cards.run() }
        defer { running.cancel() }

        await cards.handle(.reader(Self.bay, .presented(Self.bob, atMs: 0)))
        #expect(server.coil(0) == true)
        // 1.5 kWh at 1 per kWh from a balance of 1: cost control cuts the supply.
        server.setInput([0x48: 0x42CB, 0x49: 0x0000])
        clock.advance(seconds: 60)
        await prepaid.observe([Reading(device: DeviceID("bay-1"), point: PointName("energy.import.total"), value: .decimal(ExactDecimal("101.5")!),
                                       unit: "kWh", timestampMs: clock.now(), quality: .good, billing: true)])
        #expect(server.coil(0) == false)
        #expect(await eventually(within: 5) { cards.openSessions.isEmpty }, "the cut ends the session")
        await cards.handle(.reader(Self.bay, .presented(Self.bob, atMs: 0)))
        #expect(server.coil(0) == false, "no card restores a supply cut for lack of credit")

        let events = try await store.everything().filter { $0.kind == .event }.compactMap { jsonObject($0.payload) }
        let session = try #require(events.first { $0["type"] as? String == "card.session" })
        #expect(session["reason"] as? String == "credit")
        #expect(session["relay"] as? String == "by_cost_control")
        #expect((session["energy"] as? NSNumber)?.stringValue == "1.5")
        #expect(session["card"] as? String == "iso14443a:**********5566")
        let last = try #require(events.last { $0["type"] as? String == "card.presented" })
        #expect(last["reason"] as? String == "no_credit")
        running.cancel()
        await running.value
        await store.shutdown()
    }
}
