import MeterCore
import MeterProtocols
import Testing
@testable import MeterAgent

/// The rules and the arithmetic of local cost control, without I/O: time is an argument, local
/// time is UTC here (`localMs` is the identity) so that tariff boundaries are where they look.
@Suite struct PrepaidLedgerTests {
    static func d(_ text: String) -> ExactDecimal { ExactDecimal(text)! }
    static let relay = SupplyActions(disconnect: .relayOpen, reconnect: .relayClose)
    static let day: Int64 = 86_400_000
    static let hour: Int64 = 3_600_000
    static let minute: Int64 = 60_000
    /// A Tuesday, 00:00 (UTC = local here).
    static let t0: Int64 = 20_000 * day
    static let dayAndNight = Tariff.timeOfUse([TariffPeriod(fromMinute: 480, toMinute: 1320, price: d("0.79")),
                                                TariffPeriod(fromMinute: 1320, toMinute: 480, price: d("0.39"))])

    static func ledger(tariff: Tariff = .flat(d("0.59")), low: String = "10", initial: String = "50", protected: Bool = false,
                       supply: SupplyActions? = relay, intervalMs: Int64 = 15 * 60_000) -> PrepaidLedger {
        let settings = LocalCostControl(tariff: tariff, lowCredit: d(low), initialBalance: d(initial), point: PointName("energy.import.total"),
                                        eventIntervalMs: intervalMs)
        return PrepaidLedger.opening(device: DeviceID("flat-1"), settings: settings, protected: protected, supplyActions: supply, nowMs: t0).0
    }

    @discardableResult
    static func observe(_ ledger: inout PrepaidLedger, _ reading: String, at: Int64) -> PrepaidLedger.Step {
        ledger.observe(d(reading), unit: "kWh", atMs: at, localMs: { $0 })
    }

    static func types(_ step: PrepaidLedger.Step) -> [String] {
        step.events.map { event in
            if case let .alarm(_, alarm, _, _) = event.kind { return event.type + " " + alarm }
            return event.type
        }
    }

    @Test func aNewAccountStartsAtItsInitialBalanceAndSaysSo() {
        let settings = LocalCostControl(tariff: .flat(Self.d("0.59")), lowCredit: Self.d("10"), initialBalance: Self.d("50"),
                                        point: PointName("energy.import.total"))
        let (ledger, step) = PrepaidLedger.opening(device: DeviceID("flat-1"), settings: settings, protected: false,
                                                   supplyActions: Self.relay, nowMs: Self.t0)
        #expect(ledger.account.balance.hasSameValue(as: Self.d("50")))
        #expect(step.persist)
        #expect(step.events.map(\.json) == ["{\"type\":\"credit.balance\",\"ts\":\(Self.t0),\"device\":\"flat-1\",\"balance\":50,\"reason\":\"initial\"}"])
    }

    @Test func theAdvanceIsChargedExactly() {
        var ledger = Self.ledger()
        let first = Self.observe(&ledger, "1000.000", at: Self.t0 + 1000)
        #expect(first.events.isEmpty && first.persist, "the first reading is the baseline, saved at once, charged nothing")
        #expect(ledger.account.balance.hasSameValue(as: Self.d("50")))
        Self.observe(&ledger, "1001.250", at: Self.t0 + 61_000)
        #expect(ledger.account.balance.description == "49.2625", "1.25 kWh × 0.59 = 0.7375, no float in between")
        // A float32 register: rounded to Wh, so the advances add up to the difference of the readings.
        let float = PrepaidCharge.decimal(.real(Double(Float(1001.3))))
        #expect(float?.description == "1001.300")
        Self.observe(&ledger, float!.description, at: Self.t0 + 121_000)
        #expect(ledger.account.balance.description == "49.233")
        // No advance, no charge; a repeated reading is not an event.
        let same = Self.observe(&ledger, "1001.3", at: Self.t0 + 181_000)
        #expect(same.events.isEmpty)
        #expect(ledger.account.balance.description == "49.233")
    }

    @Test func timeOfUseSplitsAnAdvanceAtThePeriodBoundary() {
        // 21:59:00 → 22:00:30: 60 s of day (0.79) and 30 s of night (0.39); 0.9 kWh shared 2:1.
        let cost = PrepaidCharge.cost(of: Self.d("0.900"), fromMs: Self.t0 + 22 * Self.hour - Self.minute,
                                      toMs: Self.t0 + 22 * Self.hour + 30_000, tariff: Self.dayAndNight, localMs: { $0 })
        #expect(cost?.description == "0.591", "0.6 × 0.79 + 0.3 × 0.39")
        // Within one period: the period's price alone.
        let night = PrepaidCharge.cost(of: Self.d("2"), fromMs: Self.t0 + 23 * Self.hour, toMs: Self.t0 + 30 * Self.hour,
                                       tariff: Self.dayAndNight, localMs: { $0 })
        #expect(night?.description == "0.78", "23:00 → 06:00 next day is all night")
        // Shares that do not divide evenly: rounded to a thousandth of the meter's resolution, the
        // last share takes the remainder, so the energy charged is the advance exactly.
        let three = Tariff.timeOfUse([TariffPeriod(fromMinute: 0, toMinute: 480, price: Self.d("0.3")),
                                      TariffPeriod(fromMinute: 480, toMinute: 960, price: Self.d("0.6")),
                                      TariffPeriod(fromMinute: 960, toMinute: 1440, price: Self.d("0.9"))])
        let uneven = PrepaidCharge.cost(of: Self.d("1.000"), fromMs: Self.t0 + 7 * Self.hour, toMs: Self.t0 + 16 * Self.hour + 30 * Self.minute,
                                        tariff: three, localMs: { $0 })
        #expect(uneven?.description == "0.5842107", "0.105263 × 0.3 + 0.842105 × 0.6 + 0.052632 × 0.9")
        // The gateway's time zone moves the boundary: at UTC+8, 14:00 UTC is 22:00 local.
        let utcPlus8 = PrepaidCharge.cost(of: Self.d("0.900"), fromMs: Self.t0 + 14 * Self.hour - Self.minute,
                                          toMs: Self.t0 + 14 * Self.hour + 30_000, tariff: Self.dayAndNight,
                                          localMs: { $0 + 8 * Self.hour })
        #expect(utcPlus8?.description == "0.591")
        // A clock that went backwards: the advance is priced at the later reading's period.
        let backwards = PrepaidCharge.cost(of: Self.d("1"), fromMs: Self.t0 + 23 * Self.hour, toMs: Self.t0 + 12 * Self.hour,
                                           tariff: Self.dayAndNight, localMs: { $0 })
        #expect(backwards?.description == "0.79")
    }

    @Test func aMeterThatGoesBackwardsIsANewBaselineNeverACredit() throws {
        var ledger = Self.ledger()
        Self.observe(&ledger, "1000", at: Self.t0 + 1000)
        let replaced = Self.observe(&ledger, "5.5", at: Self.t0 + 2000)
        #expect(ledger.account.balance.hasSameValue(as: Self.d("50")))
        #expect(replaced.persist)
        let event = try #require(replaced.events.first)
        #expect(event.json == "{\"type\":\"credit.rebaseline\",\"ts\":\(Self.t0 + 2000),\"device\":\"flat-1\",\"point\":\"energy.import.total\",\"previous\":1000,\"reading\":5.5,\"unit\":\"kWh\",\"reason\":\"backwards\"}")
        Self.observe(&ledger, "6.5", at: Self.t0 + 3000)
        #expect(ledger.account.balance.description == "49.41", "charged from the new baseline")
    }

    @Test func lowCreditOnceThenTheCutAtZeroThenTheRestoreAfterACredit() throws {
        var ledger = Self.ledger(tariff: .flat(Self.d("1")), low: "1", initial: "2")
        Self.observe(&ledger, "0", at: Self.t0)
        var step = Self.observe(&ledger, "1.2", at: Self.t0 + 1000)
        #expect(Self.types(step) == ["alarm.raised credit.low"])
        #expect(step.events[0].json == "{\"type\":\"alarm.raised\",\"ts\":\(Self.t0 + 1000),\"device\":\"flat-1\",\"point\":\"credit.balance\",\"alarm\":\"credit.low\",\"value\":0.8,\"threshold\":1}")
        #expect(step.supply == nil)
        step = Self.observe(&ledger, "1.5", at: Self.t0 + 2000)
        #expect(step.events.isEmpty, "raised once")
        step = Self.observe(&ledger, "2.0", at: Self.t0 + 3000)
        #expect(ledger.account.balance.signum == 0)
        #expect(step.supply == .disconnect, "at zero")
        let outcome = CommandOutcome(device: DeviceID("flat-1"), command: .relayOpen, status: .confirmed, message: "relay open",
                                     observed: [Reading(device: DeviceID("flat-1"), point: PointName("relay.state"), value: .bool(false),
                                                        unit: "", timestampMs: 0, quality: .good, billing: false)])
        step = ledger.supplyChanged(.disconnect, action: "relay.open", outcome: outcome, atMs: Self.t0 + 3100)
        #expect(ledger.account.disconnected)
        #expect(step.persist)
        #expect(step.events.map(\.json) == ["{\"type\":\"credit.disconnect\",\"ts\":\(Self.t0 + 3100),\"device\":\"flat-1\",\"action\":\"relay.open\",\"status\":\"done\",\"balance\":0,\"message\":\"relay open\",\"observed\":{\"relay.state\":false}}"])
        // The cut meter still advances a little (what it counted before the relay opened): charged,
        // no second cut.
        step = Self.observe(&ledger, "2.05", at: Self.t0 + 4000)
        #expect(step.supply == nil && step.events.isEmpty)
        #expect(ledger.account.balance.description == "-0.05")

        // Not enough to get above zero: no restore.
        guard case let .success(small) = ledger.credit(Self.d("0.05"), atMs: Self.t0 + 5000, command: "c-1") else {
            Issue.record("credit refused")
            return
        }
        #expect(small.supply == nil)
        #expect(Self.types(small) == ["credit.balance"])
        #expect(small.events[0].json == "{\"type\":\"credit.balance\",\"ts\":\(Self.t0 + 5000),\"device\":\"flat-1\",\"balance\":0,\"previous\":-0.05,\"reason\":\"credit\",\"amount\":0.05,\"command\":\"c-1\"}")
        guard case let .success(enough) = ledger.credit(Self.d("10"), atMs: Self.t0 + 6000, command: "c-2") else {
            Issue.record("credit refused")
            return
        }
        #expect(enough.supply == .reconnect)
        #expect(Self.types(enough) == ["credit.balance", "alarm.cleared credit.low"])
        #expect(ledger.account.balance.hasSameValue(as: Self.d("10")))
        _ = ledger.supplyChanged(.reconnect, action: "relay.close", outcome: CommandOutcome(device: DeviceID("flat-1"), command: .relayClose, status: .confirmed),
                                 atMs: Self.t0 + 6100)
        #expect(!ledger.account.disconnected)
        #expect(!ledger.account.lowCredit)
    }

    @Test func aFailedCutIsTriedAgainWithBackOff() {
        var ledger = Self.ledger(tariff: .flat(Self.d("1")), low: "0", initial: "1")
        Self.observe(&ledger, "0", at: Self.t0)
        #expect(Self.observe(&ledger, "1", at: Self.t0 + 1000).supply == .disconnect)
        let failed = CommandOutcome(device: DeviceID("flat-1"), command: .relayOpen, status: .failed, message: "timeout")
        let step = ledger.supplyChanged(.disconnect, action: "relay.open", outcome: failed, atMs: Self.t0 + 2000)
        #expect(step.events.first?.json.contains("\"status\":\"failed\"") == true)
        #expect(!ledger.account.disconnected)
        #expect(Self.observe(&ledger, "1", at: Self.t0 + 30_000).supply == nil, "not before a minute")
        #expect(Self.observe(&ledger, "1", at: Self.t0 + 62_000).supply == .disconnect)
        _ = ledger.supplyChanged(.disconnect, action: "relay.open", outcome: failed, atMs: Self.t0 + 63_000)
        #expect(Self.observe(&ledger, "1", at: Self.t0 + 63_000 + 119_000).supply == nil, "then two minutes")
        #expect(Self.observe(&ledger, "1", at: Self.t0 + 63_000 + 120_000).supply == .disconnect)
    }

    @Test func aProtectedDeviceGetsAnAlarmAndIsNeverCut() {
        var ledger = Self.ledger(tariff: .flat(Self.d("1")), low: "0.5", initial: "1", protected: true)
        Self.observe(&ledger, "0", at: Self.t0)
        let empty = Self.observe(&ledger, "1.5", at: Self.t0 + 1000)
        #expect(empty.supply == nil)
        #expect(Self.types(empty) == ["alarm.raised credit.low", "alarm.raised credit.exhausted"])
        #expect(empty.events[1].json.contains("\"alarm\":\"credit.exhausted\",\"value\":-0.5,\"threshold\":0"))
        #expect(Self.observe(&ledger, "3", at: Self.t0 + 2000).events.isEmpty, "raised once")
        #expect(ledger.account.balance.description == "-2")
        guard case let .success(credit) = ledger.credit(Self.d("2.5"), atMs: Self.t0 + 3000, command: "c-1") else {
            Issue.record("credit refused")
            return
        }
        #expect(Self.types(credit) == ["credit.balance", "alarm.cleared credit.exhausted"])
        #expect(credit.supply == nil)
        // A profile that cannot cut at all behaves the same way.
        var noRelay = Self.ledger(tariff: .flat(Self.d("1")), low: "0", initial: "0", supply: nil)
        #expect(Self.types(Self.observe(&noRelay, "0", at: Self.t0)) == ["alarm.raised credit.low", "alarm.raised credit.exhausted"])
    }

    @Test func consumptionEventsAreBoundedByTimeAndWholeUnits() {
        var ledger = Self.ledger(tariff: .flat(Self.d("1")), low: "0", initial: "100")
        var events: [PrepaidEvent] = []
        // An hour of polls every 10 s, 0.05 kWh each: 18 units consumed.
        for i in 0...360 {
            let step = Self.observe(&ledger, ExactDecimal(significand: Int64(i) * 5, exponent: -2).description, at: Self.t0 + Int64(i) * 10_000)
            events += step.events
        }
        #expect(ledger.account.balance.hasSameValue(as: Self.d("82")))
        #expect(events.count == 4, "one per 15 minutes: \(events.map(\.json))")
        #expect(events.allSatisfy { $0.type == "credit.balance" && $0.json.contains("\"reason\":\"consumption\"") })
        #expect(events.map(\.timestampMs) == [15, 30, 45, 60].map { Self.t0 + Int64($0) * Self.minute })
        // A slow meter: one event per whole unit, however long it takes.
        var slow = Self.ledger(tariff: .flat(Self.d("1")), low: "0", initial: "10")
        var slowEvents = 0
        for hour in 0...48 {
            slowEvents += Self.observe(&slow, ExactDecimal(significand: Int64(hour) * 5, exponent: -2).description,
                                       at: Self.t0 + Int64(hour) * Self.hour).events.count
        }
        #expect(slow.account.balance.description == "7.6")
        #expect(slowEvents == 3, "10 → 9.x, 8.x, 7.x")
    }

    @Test func consumptionAloneIsSavedAtMostOnceAMinute() {
        var ledger = Self.ledger(tariff: .flat(Self.d("0.01")), low: "0", initial: "100")
        var saves = 0
        for i in 0...30 {
            let at = Self.t0 + Int64(i) * 10_000
            let step = Self.observe(&ledger, String(i), at: at)
            if step.persist {
                saves += 1
                ledger.saved(atMs: at)
            }
        }
        #expect(saves == 1 + 5, "the baseline, then one a minute over five minutes")
        #expect(ledger.hasUnsavedChanges == false)
        Self.observe(&ledger, "31", at: Self.t0 + 310_000)
        #expect(ledger.hasUnsavedChanges, "saved at shutdown")
    }

    @Test func aCreditThatWouldOverflowTheBalanceIsRefused() {
        var ledger = Self.ledger(initial: "999999")
        guard case let .failure(refused) = ledger.credit(Self.d("2"), atMs: Self.t0, command: "c-1") else {
            Issue.record("accepted")
            return
        }
        #expect(refused.message == "the balance 999999 plus 2 would exceed 1000000")
        #expect(ledger.account.balance.hasSameValue(as: Self.d("999999")))
    }

    @Test func anAccountSurvivesTheStoresRow() throws {
        var ledger = Self.ledger(tariff: Self.dayAndNight)
        Self.observe(&ledger, "12.5", at: Self.t0)
        Self.observe(&ledger, "13.75", at: Self.t0 + Self.minute)
        _ = ledger.setTariff(.timeOfUse([TariffPeriod(fromMinute: 0, toMinute: 1440, price: Self.d("0.123456"))]), atMs: Self.t0 + 2 * Self.minute, command: "t-1")
        let row = ledger.row(updatedMs: 5)
        #expect(row.balance == "49.5125", "1.25 kWh at night: 0.4875")
        let account = try #require(PrepaidAccount(row: row))
        #expect(account == ledger.account)
        var broken = row
        broken.balance = "lots"
        #expect(PrepaidAccount(row: broken) == nil)
    }
}
