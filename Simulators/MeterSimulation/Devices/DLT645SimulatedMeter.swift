import Foundation
import MeterCore
import MeterProtocols
import Synchronization

/// A DL/T 645 electricity meter on a simulated line: its address, the physics of the
/// `SimulatedDevice` it wraps (a tripped relay really cuts the load, so energy stops), the relay
/// and alarm state of status word 3, keep-power mode, a password checked on relay commands,
/// a clock that broadcast time sync moves, and optionally an ESAM (`DLT645SimulatedMeter+ESAM.swift`)
/// without which it takes no trip.
///
/// Like a real meter it stays silent for frames to other addresses and for broadcasts; the line
/// applies faults and pacing.
public final class DLT645SimulatedMeter: Sendable {
    /// Its address; a write address (0x15) changes it.
    public var address: DLT645Address { currentAddress.withLock { $0 } }
    private let currentAddress: Mutex<DLT645Address>
    public let device: SimulatedDevice
    /// 1997 meters read with control 0x01 and 2-byte identifiers.
    public let is1997: Bool
    /// The written password (P2 P1 P0) relay commands must carry, with the profile's level.
    public let password: String
    public let relaySettings: RelayControlSettings
    /// A prepaid meter's security module: it refuses a plaintext trip and takes encrypted relay
    /// control after identity authentication.
    public let esam: SimulatedESAM?
    private let state: Mutex<RelayState>

    struct RelayState {
        var commandOff = false
        var alarm = false
        var keepPower = false
        /// Meter clock minus simulation clock, moved by broadcast time.
        var clockOffset: Double = 0
        var lastTimeSync: Double?
    }

    public init(address: DLT645Address, device: SimulatedDevice, password: String = "000000", esam: ESAMSettings? = nil) {
        currentAddress = Mutex(address)
        self.esam = esam.map(SimulatedESAM.init)
        self.device = device
        self.password = password.uppercased()
        is1997 = device.profile.protocolName == .dlt645_1997
        relaySettings = device.profile.relay ?? RelayControlSettings()
        state = Mutex(RelayState())
    }

    /// True if this meter must act on `frame` (its address, a matching wildcard, or broadcast).
    public func isAddressed(by frame: DLT645Frame) -> Bool {
        frame.address.reaches(address)
    }

    /// Status word 3 now: the physical relay from the physics (the control channel may reclose it,
    /// as a customer pressing the button after "close allowed"), the rest from the meter's state.
    public func statusWord3() -> DLT645StatusWord3 {
        let s = state.withLock { $0 }
        var word = DLT645StatusWord3(rawValue: 0)
        word.relayOpen = (device.value(of: "relay.state") ?? 1) == 0
        word.relayCommandOff = s.commandOff
        word.preTripAlarm = s.alarm
        word.keepPower = s.keepPower
        return word
    }

    /// Status word 1 now: the battery flags the control channel raises (`battery_low` is the
    /// meter-reading battery, `clock_battery_low` the clock's).
    public func statusWord1() -> DLT645StatusWord1 {
        let values = device.modelValues()
        var word = DLT645StatusWord1(rawValue: 0)
        word.readingBatteryLow = MeterCondition.batteryLow.isRaised(in: values)
        word.clockBatteryLow = MeterCondition.clockBatteryLow.isRaised(in: values)
        return word
    }

    /// The meter's clock at simulation time `t`, in local time like a real meter.
    public func clock(at t: Double) -> MeterDateTime {
        let meterSeconds = t + state.withLock { $0.clockOffset }
        var seconds = time_t(meterSeconds.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        return MeterDateTime(secondsSince1970: Int64(seconds) + Int64(parts.tm_gmtoff))
    }

    private func localOffset(at t: Double) -> Int64 {
        var seconds = time_t(t.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        return Int64(parts.tm_gmtoff)
    }

    /// The reply to `frame` (already known to reach this meter), or nil for silence.
    public func respond(to frame: DLT645Frame, at t: Double) -> DLT645Frame? {
        guard !frame.control.isFromMeter else { return nil }
        if frame.address.isBroadcast {
            if frame.control.function == DLT645Control.broadcastTime.function { applyTimeSync(frame.data, at: t) }
            return nil
        }
        if is1997 {
            guard frame.control.function == DLT645Control.read1997.function else {
                return DLT645Reply.errorReply(to: frame, from: address, error: .other)
            }
            return read(frame, width: 2, at: t)
        }
        switch frame.control.function {
        case DLT645Control.read.function: return read(frame, width: 4, at: t)
        case DLT645Control.readAddress.function:
            return DLT645Frame(address: address, control: frame.control.reply(), data: address.wire)
        case DLT645Control.relayControl.function:
            guard frame.address.isUnicast else { return nil }
            return relay(frame, at: t)
        case DLT645Control.writeAddress.function:
            // Only through AA…AA, which reaches every meter on the line: commissioning checks first
            // that the meter is alone.
            guard frame.address == .wildcard else { return nil }
            return writeAddress(frame)
        case DLT645Control.changeBaud.function:
            guard frame.address.isUnicast else { return nil }
            return changeBaud(frame)
        case DLT645Control.securityAuthentication.function:
            // A meter without an ESAM knows no security functions (as `default`).
            guard let esam else { return DLT645Reply.errorReply(to: frame, from: address, error: .other) }
            guard frame.address.isUnicast else { return nil }
            return securityAuthentication(frame, esam: esam, at: t)
        default:
            return DLT645Reply.errorReply(to: frame, from: address, error: .other)
        }
    }

    private func read(_ frame: DLT645Frame, width: Int, at t: Double) -> DLT645Frame {
        guard let di = try? DLT645DataID(wire: frame.data, width: width) else {
            return DLT645Reply.errorReply(to: frame, from: address, error: .other)
        }
        if width == 4 {
            switch di {
            case .statusWord3: return DLT645Reply.readReply(to: frame, from: address, payload: statusWord3().payload)
            case .statusWord1: return DLT645Reply.readReply(to: frame, from: address, payload: statusWord1().payload)
            case .date: return DLT645Reply.readReply(to: frame, from: address, payload: clock(at: t).wireDate)
            case .time: return DLT645Reply.readReply(to: frame, from: address, payload: clock(at: t).wireTime)
            default: break
            }
        }
        guard let point = device.profile.dataPoints.first(where: { $0.di == di.value && $0.diBytes == width }),
              let payload = encode(point) else {
            return DLT645Reply.errorReply(to: frame, from: address, error: .noData)
        }
        return DLT645Reply.readReply(to: frame, from: address, payload: payload)
    }

    /// The point's current value in its wire format (the inverse of the profile's scale).
    func encode(_ point: DataPointDefinition) -> [UInt8]? {
        let engineering = device.value(of: point.name.rawValue) ?? 0
        let raw = engineering / point.scale.doubleValue
        switch point.format.kind {
        case let .bcd(_, decimals, signed):
            var scaled = raw
            for _ in 0..<decimals { scaled *= 10 }
            // Registers cut rather than round: 1234.567 kWh shows 1234.56, never a value not yet reached.
            let significand = Int64((scaled + (scaled >= 0 ? 1e-6 : -1e-6)).rounded(.towardZero))
            let format = DLT645ValueFormat.bcd(digits: point.format.byteCount * 2, decimals: decimals, signed: signed)
            let limit = Int64(pow(10, Double(point.format.byteCount * 2 - (signed ? 1 : 0)))) - 1
            let clamped = max(signed ? -limit : 0, min(limit, significand))
            return try? format.encode(ExactDecimal(significand: clamped, exponent: -decimals))
        case let .binary(bytes):
            return try? DLT645ValueFormat.binary(bytes: bytes).encode(ExactDecimal(significand: Int64(max(0, raw)), exponent: 0))
        case .clock:
            return nil
        }
    }

    /// Write address (0x15): where the profile allows it, the meter takes the new address and
    /// answers from it (0x95, no data).
    private func writeAddress(_ frame: DLT645Frame) -> DLT645Frame {
        guard device.profile.settings?.writableAddress == true else {
            return DLT645Reply.errorReply(to: frame, from: address, error: .unauthorised)
        }
        guard let new = try? DLT645Address(wire: frame.data), new.isUnicast else {
            return DLT645Reply.errorReply(to: frame, from: address, error: .other)
        }
        currentAddress.withLock { $0 = new }
        return DLT645Reply.okReply(to: frame, from: new)
    }

    /// Change rate (0x17): a rate the profile lists is confirmed (0x97 echoing the feature byte)
    /// and used from the next frame on; any other is refused with error bit 3 (0xD7).
    private func changeBaud(_ frame: DLT645Frame) -> DLT645Frame {
        guard frame.data.count == 1, let feature = try? DLT645BaudFeature(rawValue: frame.data[0]),
              device.profile.settings?.bauds.contains(feature.baud) == true else {
            return DLT645Reply.errorReply(to: frame, from: address, error: .baudRateFixed)
        }
        device.takeBaud(feature.baud)
        return DLT645Reply.okReply(to: frame, from: address, data: [feature.rawValue])
    }

    /// Broadcast time: accepted only within 5 minutes of the meter's clock, as real meters do.
    private func applyTimeSync(_ data: [UInt8], at t: Double) {
        guard let time = try? MeterDateTime(wireSecondsFirst: data) else { return }
        let target = Double(time.secondsSince1970 - localOffset(at: t))
        state.withLock { s in
            let meterNow = t + s.clockOffset
            guard abs(target - meterNow) <= 300 else { return }
            s.clockOffset = target - t
            s.lastTimeSync = t
        }
    }

    /// Relay control: password level and password, accepted N1 codes, deadline, keep-power.
    /// Every refusal answers 0xDC with error bit 2 (unauthorised), as most meters do.
    private func relay(_ frame: DLT645Frame, at t: Double) -> DLT645Frame {
        if let esam, let level = frame.data.first, DLT645Security.encryptedLevels.contains(level) {
            return encryptedRelay(frame, esam: esam, at: t)
        }
        let refuse = DLT645Reply.errorReply(to: frame, from: address, error: .unauthorised)
        guard let command = try? DLT645RelayCommand(data: frame.data) else { return refuse }
        // An ESAM meter trips only on an authenticated, encrypted command.
        if esam != nil, command.action == DLT645RelayAction.trip.rawValue { return refuse }
        guard command.passwordLevel == relaySettings.passwordLevel, command.writtenPassword == password else { return refuse }
        guard relaySettings.acceptedCodes.contains(command.action), let action = DLT645RelayAction(rawValue: command.action) else { return refuse }
        guard command.deadline.secondsSince1970 >= clock(at: t).secondsSince1970 else { return refuse }
        guard apply(action) else { return refuse }
        return DLT645Reply.okReply(to: frame, from: address)
    }

    /// Carries out an accepted relay action; false for a trip while keep-power is on.
    func apply(_ action: DLT645RelayAction) -> Bool {
        if action == .trip, state.withLock({ $0.keepPower }) { return false }
        switch action {
        case .trip:
            state.withLock { $0.commandOff = true }
            device.set("relay.state", to: 0)
        case .directClose:
            state.withLock { $0.commandOff = false }
            device.set("relay.state", to: 1)
        case .closeAllowed:
            // The load stays off until the customer presses the button (control: set … relay.state 1).
            state.withLock { $0.commandOff = false }
        case .alarm: state.withLock { $0.alarm = true }
        case .alarmOff: state.withLock { $0.alarm = false }
        case .keepPower: state.withLock { $0.keepPower = true }
        case .releaseKeepPower: state.withLock { $0.keepPower = false }
        }
        return true
    }

    /// For `state` on the control channel.
    public var stateSummary: String {
        let s = state.withLock { $0 }
        return "relay=\(statusWord3()) command_off=\(s.commandOff) keep_power=\(s.keepPower) clock_offset_s=\(Int(s.clockOffset))"
    }
}
