import Foundation
import MeterCore
import MeterCrypto
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterTestSupport
import MeterUplink
import Synchronization
import Testing
@testable import MeterAgent
@testable import MeterStore

/// The card service with scripted readers, a real store on disk and a real Modbus meter driver
/// (libmodbus's own server side holds the relay coil and the energy register): decisions,
/// maintenance windows, customer sessions, restarts, and list changes without a restart.
@Suite(.timeLimit(.minutes(1)), .serialized)
struct CardServiceTests {
    /// A reader that reports what it is given, then waits to be cancelled, as drivers do.
    final class ScriptedReader: CardReaderDriver {
        let reader: CardReaderConfig
        let script: [CardReaderEvent]

        init(_ reader: CardReaderConfig, _ script: [CardReaderEvent]) {
            self.reader = reader
            self.script = script
        }

        func run(_ report: @escaping @Sendable (CardReaderEvent) -> Void) async {
            for event in script { report(event) }
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    final class Clock: Sendable {
        let ms = Mutex<Int64>(1_800_000_000_000)
        var now: @Sendable () -> Int64 { { [self] in ms.withLock { $0 } } }
        func advance(seconds: Int64) { ms.withLock { $0 += seconds * 1000 } }
    }

    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let badge = CardID(technology: .em4100, bytes: [0x0F, 0x00, 0x27, 0x1D, 0xA5])
    static let alice = CardID(technology: .iso14443a, bytes: [0x04, 0xA1, 0xB2, 0xC3])
    static let bob = CardID(technology: .iso14443a, bytes: [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
    static let expired = CardID(technology: .iso14443a, bytes: [0xDE, 0xAD, 0xBE, 0xEF])
    static let elsewhere = CardID(technology: .em4100, bytes: [0x01, 0x02, 0x03, 0x04, 0x05])
    static let stranger = CardID(technology: .em4100, bytes: [0x99, 0x02, 0x03, 0x04, 0x05])
    static let door = ReaderID("door")
    static let bay = ReaderID("bay-1-nfc")

    let server: TestModbusServer
    let bus: ModbusBus
    let meter: ModbusMeterDriver
    var site: SiteConfig
    let clock = Clock()
    let list: AuthorizationList

    init() throws {
        // 100.0 kWh (f32 0x42C80000) in the profile's energy register; the relay (coil 0) open.
        server = try TestModbusServer(input: [0x48: 0x42C8, 0x49: 0x0000], coils: [0: false])
        try server.start()
        let profiles = try ProfileLoader.loadDirectory(Self.repo + "/Hardware/profiles")
        site = try SiteConfigLoader.load(text: """
            gateway: gw-7
            buses:
              - {id: tcp-test, type: tcp, host: 127.0.0.1, port: \(server.port)}
            devices:
              - {id: bay-1, bus: tcp-test, unit: 1, profile: generic-modbus-relay-meter}
              - {id: bay-2, bus: tcp-test, unit: 2, profile: generic-modbus-relay-meter}
            readers:
              - {id: door, type: rdm6300, port: /dev/ttyS8}
              - {id: bay-1-nfc, type: pn532, port: /dev/ttyS9, supply_point: bay-1}
            """, file: "site.yaml", profiles: profiles)
        site.cards = CardSettings(idPrivacy: .clear, maintenanceWindowSeconds: 60, sessionMaxSeconds: 600)
        bus = tcpBus("tcp-test", port: server.port, timeoutMs: 1_000)
        meter = try ModbusMeterDriver(device: site.devices[0], bus: bus)
        let now = 1_800_000_000 as Int64
        list = AuthorizationList(version: 1, entries: [
            AuthorizedCard(card: Self.badge, role: .technician),
            AuthorizedCard(card: Self.alice, role: .customer, expiresAt: now + 3600),
            AuthorizedCard(card: Self.bob, role: .customer, supplyPoints: [DeviceID("bay-1")]),
            AuthorizedCard(card: Self.expired, role: .customer, expiresAt: now - 1),
            AuthorizedCard(card: Self.elsewhere, role: .customer, supplyPoints: [DeviceID("bay-2")]),
        ])
    }

    func stop() {
        bus.close()
        server.stop()
    }

    func service(_ store: OutboxStore, _ authorizations: CardAuthorizations, drivers: [any CardReaderDriver] = []) -> CardService {
        let meter = self.meter
        return CardService(site: site, drivers: drivers, meters: { $0 == meter.device.id ? meter : nil }, store: store,
                           authorizations: authorizations, log: .silent, now: clock.now)
    }

    static func events(_ store: OutboxStore) async throws -> [[String: Any]] {
        try await store.everything().filter { $0.kind == .event }.compactMap { jsonObject($0.payload) }
    }

    static func summary(_ event: [String: Any]) -> String {
        let type = event["type"] as? String ?? "?"
        if type == "card.presented" {
            return "\(type) \(event["card"] as? String ?? "?") " + (event["decision"] as? String == "denied"
                ? "denied \(event["reason"] as? String ?? "?")" : "\(event["action"] as? String ?? "?")")
        }
        return type + ((event["reason"] as? String).map { " \($0)" } ?? "")
    }

    @Test func deniedCardsAreReportedAndNothingIsSwitched() async throws {
        defer { stop() }
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let cards = service(store, CardAuthorizations(list))
        for (card, reader) in [(Self.stranger, Self.bay), (Self.expired, Self.bay), (Self.elsewhere, Self.bay), (Self.alice, Self.door)] {
            await cards.handle(.reader(reader, .presented(card, atMs: 0)))
        }
        #expect(try await Self.events(store).map(Self.summary) == [
            "card.presented em4100:9902030405 denied unknown",
            "card.presented iso14443a:DEADBEEF denied expired",
            "card.presented em4100:0102030405 denied not_here",
            "card.presented iso14443a:04A1B2C3 denied no_supply_point",
        ])
        let first = try #require(try await Self.events(store).first)
        #expect(first["reader"] as? String == "bay-1-nfc")
        #expect(first["device"] as? String == "bay-1")
        #expect((first["ts"] as? NSNumber)?.int64Value == clock.now())
        #expect(first["role"] == nil, "an unknown card has no role")
        #expect(server.coil(0) == false)
        #expect(cards.openSessions.isEmpty && cards.openWindows.isEmpty)
        await store.shutdown()
    }

    @Test func aTechnicianBadgeOpensAWindowThatClosesByBadgeOrTime() async throws {
        defer { stop() }
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let cards = service(store, CardAuthorizations(list))
        await cards.handle(.reader(Self.door, .presented(Self.badge, atMs: 0)))
        #expect(cards.openWindows == [Self.door])
        await cards.handle(.reader(Self.door, .presented(Self.badge, atMs: 0)))
        #expect(cards.openWindows.isEmpty)
        await cards.handle(.reader(Self.door, .presented(Self.badge, atMs: 0)))
        clock.advance(seconds: 59)
        await cards.handle(.tick)
        #expect(cards.openWindows == [Self.door])
        clock.advance(seconds: 1)
        await cards.handle(.tick)
        #expect(cards.openWindows.isEmpty)
        let events = try await Self.events(store)
        #expect(events.map(Self.summary) == [
            "card.presented em4100:0F00271DA5 window.open", "card.window.opened",
            "card.presented em4100:0F00271DA5 window.close", "card.window.closed badge",
            "card.presented em4100:0F00271DA5 window.open", "card.window.opened",
            "card.window.closed timeout",
        ])
        #expect((events[1]["until_ms"] as? NSNumber)?.int64Value == Int64(1_800_000_060_000))
        #expect(server.coil(0) == false, "a badge never switches a relay")
        await store.shutdown()
    }

    @Test func aCustomerSessionSwitchesTheRelayAndRecordsTheEnergy() async throws {
        defer { stop() }
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let cards = service(store, CardAuthorizations(list))
        await cards.handle(.reader(Self.bay, .presented(Self.bob, atMs: 0)))
        #expect(server.coil(0) == true, "the relay closed")
        #expect(cards.openSessions == [Self.bay: DeviceID("bay-1")])
        #expect(try await store.cardSessions().map(\.card) == ["iso14443a:04112233445566"])

        // 101.5 kWh later; another customer meanwhile is refused.
        server.setInput([0x48: 0x42CB, 0x49: 0x0000])
        clock.advance(seconds: 30)
        await cards.handle(.reader(Self.bay, .presented(Self.alice, atMs: 0)))
        await cards.handle(.reader(Self.bay, .presented(Self.bob, atMs: 0)))
        #expect(server.coil(0) == false, "the relay opened")
        #expect(cards.openSessions.isEmpty)
        #expect(try await store.cardSessions().isEmpty)

        let events = try await Self.events(store)
        #expect(events.map(Self.summary) == [
            "card.presented iso14443a:04112233445566 session.start", "card.session.started",
            "card.presented iso14443a:04A1B2C3 denied busy",
            "card.presented iso14443a:04112233445566 session.end", "card.session card",
        ])
        let started = events[1], session = events[4]
        #expect((started["start"] as? NSNumber)?.doubleValue == 100)
        #expect(session["device"] as? String == "bay-1")
        #expect(session["point"] as? String == "energy.import.total")
        #expect((session["start"] as? NSNumber)?.doubleValue == 100)
        #expect((session["end"] as? NSNumber)?.doubleValue == 101.5)
        #expect((session["energy"] as? NSNumber)?.stringValue == "1.5")
        #expect(session["unit"] as? String == "kWh")
        #expect(session["relay"] as? String == "done")
        #expect((session["started_ms"] as? NSNumber)?.int64Value == 1_800_000_000_000)
        #expect((session["ended_ms"] as? NSNumber)?.int64Value == 1_800_000_030_000)
        // Class 0: never evicted for readings.
        #expect(try await store.everything().filter { $0.kind == .event }.allSatisfy { $0.priority == 0 })
        await store.shutdown()
    }

    @Test func aSessionOutlivesARestartAndEndsAtItsMaximum() async throws {
        defer { stop() }
        let dir = try TemporaryDirectory()
        var store = try OutboxStore(path: dir.path("outbox.db"))
        await service(store, CardAuthorizations(list)).handle(.reader(Self.bay, .presented(Self.alice, atMs: 0)))
        #expect(server.coil(0) == true)
        await store.shutdown()

        store = try OutboxStore(path: dir.path("outbox.db"))
        let again = service(store, CardAuthorizations(list))
        await again.start()
        #expect(again.openSessions == [Self.bay: DeviceID("bay-1")])
        // The same card after the restart is still the one that ends it; first the maximum runs out.
        clock.advance(seconds: 599)
        await again.handle(.tick)
        #expect(again.openSessions.count == 1)
        clock.advance(seconds: 1)
        await again.handle(.tick)
        #expect(again.openSessions.isEmpty)
        #expect(server.coil(0) == false)
        let last = try #require(try await Self.events(store).last)
        #expect(Self.summary(last) == "card.session timeout")
        #expect((last["energy"] as? NSNumber)?.doubleValue == 0)
        #expect(try await store.cardSessions().isEmpty)
        await store.shutdown()
    }

    @Test func theSameCardAfterARestartEndsItsSession() async throws {
        defer { stop() }
        let dir = try TemporaryDirectory()
        var store = try OutboxStore(path: dir.path("outbox.db"))
        await service(store, CardAuthorizations(list)).handle(.reader(Self.bay, .presented(Self.bob, atMs: 0)))
        await store.shutdown()
        store = try OutboxStore(path: dir.path("outbox.db"))
        let again = service(store, CardAuthorizations(list))
        await again.start()
        await again.handle(.reader(Self.bay, .presented(Self.bob, atMs: 0)))
        #expect(again.openSessions.isEmpty)
        #expect(server.coil(0) == false)
        #expect(Self.summary(try #require(try await Self.events(store).last)) == "card.session card")
        await store.shutdown()
    }

    @Test func anAuthlistUpdateTakesEffectAtOnce() async throws {
        defer { stop() }
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let authorizations = CardAuthorizations()
        let cards = service(store, authorizations)
        let commands = CommandService(gate: CommandGate(site: site, signatures: AuthListGateTests.AcceptAll()), drivers: { _ in nil },
                                      store: store, topics: UplinkTopics(prefix: "meteragent/gw-7"), log: .silent,
                                      prepaid: PrepaidService(site: site, store: store, drivers: { _ in nil }, log: .silent),
                                      authorizations: authorizations)
        func update(_ id: String, _ params: String) async throws {
            let command = try SignedCommand(payload: Array("{\"id\":\"\(id)\",\"gateway\":\"gw-7\",\"device\":\"gw-7\",\"action\":\"authlist.update\",\"params\":\(params),\"issued_at\":1,\"expires_at\":2000000000}".utf8))
            guard case let .success(plan) = CommandGate(site: site, signatures: AuthListGateTests.AcceptAll()).plan(command) else {
                Issue.record("not planned")
                return
            }
            #expect(try await store.claimCommand(id: id, expiresAt: 2_000_000_000, receivedMs: 1) == .fresh)
            await commands.carryOut(CommandService.Admitted(command: command, plan: plan, receivedMs: 1))
        }
        await cards.handle(.reader(Self.door, .presented(Self.badge, atMs: 0)))
        try await update("a-1", "{\"version\": 5, \"cards\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"technician\"}]}")
        await cards.handle(.reader(Self.door, .presented(Self.badge, atMs: 0)))
        try await update("a-2", "{\"version\": 5, \"cards\": []}")
        try await update("a-3", "{\"version\": 7, \"base\": 4, \"remove\": [\"em4100:0F00271DA5\"]}")
        try await update("a-4", "{\"version\": 6, \"base\": 5, \"remove\": [\"em4100:0F00271DA5\"]}")
        await cards.handle(.reader(Self.door, .presented(Self.badge, atMs: 0)))

        let records = try await store.everything()
        let results = records.filter { $0.kind == .commandResult }.compactMap { jsonObject($0.payload) }
        #expect(results.map { "\($0["status"] as? String ?? "?") \($0["reason"] as? String ?? "-")" }
                == ["done -", "rejected stale_version", "rejected wrong_base", "done -"])
        #expect(results.first?["device"] as? String == "gw-7")
        #expect(results[1]["message"] as? String == "version 5 is not newer than the gateway's list (version 5)")
        let presented = records.filter { $0.kind == .event }.compactMap { jsonObject($0.payload) }.filter { $0["type"] as? String == "card.presented" }
        #expect(presented.map { $0["decision"] as? String ?? "?" } == ["denied", "allowed", "denied"])
        #expect(authorizations.current.version == 6)
        #expect(try await store.authorizationList() == authorizations.current)
        await store.shutdown()
    }

    @Test func runReportsReadersAndDecidesWhatTheyRead() async throws {
        defer { stop() }
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let reader = ScriptedReader(site.readers[0], [.ready(detail: "RDM6300"), .presented(Self.badge, atMs: 1), .lost(reason: "port closed")])
        let cards = service(store, CardAuthorizations(list), drivers: [reader])
        let running = Task { await cards.run() }
        var types: [String] = []
        for _ in 0..<300 {
            types = try await Self.events(store).map(Self.summary)
            if types.count >= 4 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        running.cancel()
        await running.value
        #expect(types == ["reader.ready", "card.presented em4100:0F00271DA5 window.open", "card.window.opened", "reader.lost port closed"])
        await store.shutdown()
    }

    @Test func idsAreHashedWithTheKeyOrMasked() throws {
        defer { stop() }
        let key = [UInt8](repeating: 0x42, count: 32)
        let hashed = CardIDFormatter(CardSettings(idPrivacy: .hash, hashKey: key))(Self.badge)
        let mac = try HMACSHA256.mac(key: key, message: Array("em4100:0F00271DA5".utf8))
        #expect(hashed == "hmac:" + Hex.compact(mac.prefix(16)).lowercased())
        #expect(CardIDFormatter(CardSettings(idPrivacy: .mask))(Self.badge) == "em4100:******1DA5")
        #expect(CardIDFormatter(CardSettings(idPrivacy: .mask))(Self.bob) == "iso14443a:**********5566")
        #expect(CardIDFormatter(CardSettings(idPrivacy: .clear))(Self.bob) == "iso14443a:04112233445566")
    }
}
