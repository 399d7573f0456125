import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterStore

/// Customer sessions: the relay closed and read back, the metered register read at the start and
/// at the end, the session in the store from its start event to its end event.
extension CardService {
    func startSession(_ card: CardID, shown: String, at reader: ReaderID, device: DeviceID) async {
        func failed(_ message: String) async {
            await record([CardEvent("card.session.failed", now(), [("reader", CardEvent.quoted(reader.rawValue)), ("device", CardEvent.quoted(device.rawValue)),
                                                                   ("card", CardEvent.quoted(shown)), ("message", CardEvent.quoted(message))])],
                         warning: true)
        }
        guard let config = site.device(device), let close = config.profile.actions[.relayClose]?.fixedCommand else {
            await failed("device '\(device)' has no relay.close")
            return
        }
        guard let driver = meters(device) else {
            await failed("device '\(device)' has no driver")
            return
        }
        // The start is read while the supply is still cut, when the register stands still: the
        // session then holds every unit from the moment the relay closes.
        let point = Self.meteredPoint(config)
        let (start, unit) = await readRegister(driver, point)
        let clock = now
        let outcome = await BusPriority.command { await driver.execute(close, now: clock) }
        guard outcome.status == .confirmed else {
            await failed("relay.close not confirmed: \(outcome.message)")
            return
        }
        let row = CardSessionRow(reader: reader.rawValue, device: device.rawValue, card: card.description, point: point.rawValue,
                                 startReading: start?.description, startMs: now())
        var fields: [(String, String)] = [("reader", CardEvent.quoted(reader.rawValue)), ("device", CardEvent.quoted(device.rawValue)),
                                          ("card", CardEvent.quoted(shown)), ("point", CardEvent.quoted(point.rawValue))]
        if let start { fields.append(("start", start.description)) }
        let started = CardEvent("card.session.started", row.startMs, fields)
        log.info("card", started.logMetadata)
        state.withLock { $0.sessions[reader] = Session(row: row, card: card, unit: unit) }
        await save(reader, row, [started])
    }

    /// Ends a session: opens the relay (unless cost control did), reads the end, stores the
    /// `card.session` event and removes the session, in one transaction.
    func end(_ session: Session, at reader: ReaderID, reason: String, switchRelay: Bool) async {
        let device = DeviceID(session.row.device)
        let driver = meters(device)
        var relay = "by_cost_control"
        if switchRelay {
            relay = "failed"
            if let driver, let open = site.device(device)?.profile.actions[.relayOpen]?.fixedCommand {
                let clock = now
                let outcome = await BusPriority.command { await driver.execute(open, now: clock) }
                if outcome.status == .confirmed {
                    relay = "done"
                } else {
                    log.warning("card session ended but the relay did not open", ["device.id": device.rawValue, "message": outcome.message])
                }
            }
        }
        var (end, unit): (ExactDecimal?, String) = (nil, session.unit)
        if let driver { (end, unit) = await readRegister(driver, PointName(session.row.point)) }
        let start = session.row.startReading.flatMap { ExactDecimal($0) }
        let endedMs = now()
        var fields: [(String, String)] = [("reader", CardEvent.quoted(reader.rawValue)), ("device", CardEvent.quoted(device.rawValue)),
                                          ("card", CardEvent.quoted(formatter(session.card))), ("point", CardEvent.quoted(session.row.point))]
        if let start { fields.append(("start", start.description)) }
        if let end { fields.append(("end", end.description)) }
        if let start, let end, let energy = end.subtracting(start) { fields.append(("energy", energy.normalized.description)) }
        if !unit.isEmpty { fields.append(("unit", CardEvent.quoted(unit))) }
        fields += [("started_ms", String(session.row.startMs)), ("ended_ms", String(endedMs)), ("reason", CardEvent.quoted(reason)),
                   ("relay", CardEvent.quoted(relay))]
        let event = CardEvent("card.session", endedMs, fields)
        log.info("card", event.logMetadata)
        state.withLock { _ = $0.sessions.removeValue(forKey: reader) }
        await save(reader, nil, [event])
    }

    /// Closes windows and ends sessions whose time is up, and sessions of readers no longer configured.
    func expire() async {
        let at = now()
        let maxMs = site.cards.sessionMaxSeconds.map { Int64($0) * 1000 }
        let (windows, sessions) = state.withLock { s in
            (s.windows.filter { $0.value.untilMs <= at }.map(\.key),
             s.sessions.filter { entry in
                 readers[entry.key]?.supplyPoint?.rawValue != entry.value.row.device
                     || maxMs.map { entry.value.row.startMs + $0 <= at } == true
             })
        }
        for reader in windows.sorted() { await record(closedWindow(reader, reason: "timeout", at: at)) }
        for (reader, session) in sessions.sorted(by: { $0.key < $1.key }) {
            let configured = readers[reader]?.supplyPoint?.rawValue == session.row.device
            await end(session, at: reader, reason: configured ? "timeout" : "reconfigured", switchRelay: true)
        }
    }

    /// The register a session is metered on: the one local cost control charges, else
    /// `energy.import.total`, else the profile's first billing register.
    static func meteredPoint(_ device: DeviceConfig) -> PointName {
        if let point = device.costControl?.local?.point { return point }
        let total = PointName("energy.import.total")
        if device.profile.pointNames.contains(total) { return total }
        return device.profile.points.first { $0.billing }?.name ?? total
    }

    func readRegister(_ driver: any MeterDriver, _ point: PointName) async -> (ExactDecimal?, String) {
        let clock = now
        let readings = await BusPriority.command { await driver.read(points: [point], now: clock) }
        guard let reading = readings.first(where: { $0.point == point }), reading.quality == .good,
              let value = reading.value.flatMap(PrepaidCharge.decimal) else {
            log.warning("card session: register not read", ["point": point.rawValue])
            return (nil, readings.first?.unit ?? "")
        }
        return (value, reading.unit)
    }
}
