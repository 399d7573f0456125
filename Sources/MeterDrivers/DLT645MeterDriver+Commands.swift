import MeterCore
import MeterIO
import MeterProtocols

extension DLT645MeterDriver {
    /// Relay control (0x1C) with the profile's password level and the device's password and
    /// operator code, a broadcast time sync, or the head-end's ESAM frames forwarded
    /// (`DLT645MeterDriver+ESAM.swift`); then reads the state back (status word 3, or the clock).
    public func execute(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome {
        switch command {
        case let .timeSync(localSeconds):
            return await syncTime(command, localSeconds: localSeconds, now: now)
        case .valveOpen, .valveClose:
            return outcome(command, .unsupported, "an electricity meter has no valve", quality: .busError)
        case .write:
            return outcome(command, .unsupported, "DL/T 645 meters are not written point by point here", quality: .busError)
        case let .esamForward(blocks):
            return await forwardESAM(blocks, now: now)
        default:
            return await relay(command, now: now)
        }
    }

    static func action(for command: MeterCommand) -> DLT645RelayAction? {
        switch command {
        case .relayOpen: .trip
        case .relayClose: .directClose
        case .relayArm: .closeAllowed
        case .alarmOn: .alarm
        case .alarmOff: .alarmOff
        case .keepPower: .keepPower
        case .releaseKeepPower: .releaseKeepPower
        case .timeSync, .valveOpen, .valveClose, .write, .esamForward: nil
        }
    }

    func outcome(_ command: MeterCommand, _ status: CommandOutcome.Status, _ message: String,
                         quality: Quality = .good, observed: [Reading] = []) -> CommandOutcome {
        CommandOutcome(device: device.id, command: command, status: status, message: message, quality: quality, observed: observed)
    }

    private func relay(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome {
        guard let action = Self.action(for: command) else { return outcome(command, .unsupported, "not a relay command", quality: .busError) }
        guard !is1997 else { return outcome(command, .unsupported, "DL/T 645-1997 meters take no relay control here", quality: .busError) }
        guard let settings = device.profile.relay else {
            return outcome(command, .unsupported, "profile '\(device.profile.name)' has no 'relay' settings", quality: .busError)
        }
        guard settings.acceptedCodes.contains(action.rawValue) else {
            return outcome(command, .rejected,
                           "profile '\(device.profile.name)' says this meter does not accept \(action) (N1 \(Hex.byte(action.rawValue))) in plaintext",
                           quality: .busError)
        }
        let credentials = device.credentials ?? MeterCredentials()
        let deadline = MeterDateTime(secondsSince1970: LocalClock.localSeconds(utcMs: now()) + Int64(settings.deadlineSeconds))
        let request: DLT645Frame
        do throws(DLT645Error) {
            let body = try DLT645RelayCommand(passwordLevel: settings.passwordLevel, password: credentials.password,
                                              operatorCode: credentials.operatorCode, action: action, deadline: deadline)
            request = try DLT645Request.relayControl(body, to: address)
        } catch {
            return outcome(command, .failed, error.description, quality: .busError)
        }
        do throws(SerialBusError) {
            let reply = try await transact(request, item: "relay \(action)")
            do throws(DLT645Error) {
                try DLT645Reply.relay(reply, answering: request)
            } catch {
                return outcome(command, .failed, error.description, quality: .crcError)
            }
        } catch {
            if case let .meterError(bits) = error.kind {
                let decoded = DLT645ErrorBits(rawValue: bits)
                return outcome(command, .rejected, "meter refused \(action): \(decoded)", quality: error.quality)
            }
            return outcome(command, .failed, error.description, quality: error.quality)
        }
        return await confirmRelay(command, action: action, now: now)
    }

    /// Reads status word 3 and compares it with what the action should have done.
    private func confirmRelay(_ command: MeterCommand, action: DLT645RelayAction, now: () -> Int64) async -> CommandOutcome {
        let word: DLT645StatusWord3
        do throws(SerialBusError) {
            word = try await readStatusWord3()
        } catch {
            return outcome(command, .accepted, "meter accepted \(action); read-back failed: \(error)", quality: .good)
        }
        let observed = Self.relayReadings(word, device: device.id, at: now())
        let confirmed: Bool = switch action {
        case .trip: word.relayCommandOff && word.relayOpen
        case .directClose: !word.relayCommandOff && !word.relayOpen
        case .closeAllowed: !word.relayCommandOff
        case .alarm: word.preTripAlarm
        case .alarmOff: !word.preTripAlarm
        case .keepPower: word.keepPower
        case .releaseKeepPower: !word.keepPower
        }
        return outcome(command, confirmed ? .confirmed : .accepted,
                       confirmed ? "\(action): \(word)" : "meter accepted \(action) but reports \(word)", observed: observed)
    }

    /// The relay state as readings (`relay.open`, `relay.command_off`, `relay.alarm`, `relay.keep_power`).
    public static func relayReadings(_ word: DLT645StatusWord3, device: DeviceID, at time: Int64) -> [Reading] {
        [("relay.open", word.relayOpen), ("relay.command_off", word.relayCommandOff),
         ("relay.alarm", word.preTripAlarm), ("relay.keep_power", word.keepPower)].map { name, value in
            Reading(device: device, point: PointName(name), value: .bool(value), unit: "", timestampMs: time, quality: .good, billing: false)
        }
    }

    /// Broadcasts the time, then reads the clock back (04000101 + 04000102) to see it took.
    /// `clock.offset` in the outcome is the meter's clock minus the gateway's.
    private func syncTime(_ command: MeterCommand, localSeconds: Int64, now: () -> Int64) async -> CommandOutcome {
        guard !is1997 else { return outcome(command, .unsupported, "time sync of DL/T 645-1997 meters is not supported", quality: .busError) }
        let sentAtMs = now()
        do throws(SerialBusError) {
            try await Self.broadcastTime(MeterDateTime(secondsSince1970: localSeconds), on: bus)
        } catch {
            return outcome(command, .failed, error.description, quality: error.quality)
        }
        do throws(SerialBusError) {
            let meterTime = try await readClock()
            let readAtMs = now()
            let offset = meterTime.secondsSince1970 - LocalClock.localSeconds(utcMs: readAtMs)
            let wanted = localSeconds + (readAtMs - sentAtMs) / 1000
            let miss = meterTime.secondsSince1970 - wanted
            let observed = [Reading(device: device.id, point: PointName("clock.offset"), value: .decimal(ExactDecimal(significand: offset, exponent: 0)),
                                    unit: "s", timestampMs: readAtMs, quality: .good, billing: false)]
            if abs(miss) <= 5 { return outcome(command, .confirmed, "meter clock \(meterTime)", observed: observed) }
            return outcome(command, .accepted, "meter clock \(meterTime) is \(miss) s from the time sent (meters ignore a jump of more than 5 minutes, or a second sync the same day)",
                           observed: observed)
        } catch {
            return outcome(command, .accepted, "time broadcast; clock read-back failed: \(error)")
        }
    }

    /// The meter's clock from DI 04000101 (date) and 04000102 (time).
    public func readClock() async throws(SerialBusError) -> MeterDateTime {
        let date = try await readItem(.date)
        let time = try await readItem(.time)
        guard date.count >= 4, time.count >= 3,
              let yy = try? DLT645BCD.value(date[3]), let mo = try? DLT645BCD.value(date[2]), let dd = try? DLT645BCD.value(date[1]),
              let hh = try? DLT645BCD.value(time[2]), let mi = try? DLT645BCD.value(time[1]), let ss = try? DLT645BCD.value(time[0]) else {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: address.written, function: 0x11, item: "DI 04000101/04000102",
                                 message: "clock is not valid BCD")
        }
        return MeterDateTime(year: 2000 + yy, month: mo, day: dd, hour: hh, minute: mi, second: ss)
    }
}
