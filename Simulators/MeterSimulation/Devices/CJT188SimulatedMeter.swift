import Foundation
import MeterCore
import MeterProtocols

/// A CJ/T 188 water or gas meter on a simulated line: its address and type, the physics of the
/// `SimulatedDevice` it wraps (a closed valve stops the flow), the flags a scenario or the control
/// channel sets (`battery.low`, `valve.fault`), and its answers to frames.
///
/// Like a real meter it stays silent for frames to another address or meter type, and for a
/// DI byte order it does not speak when `diOrder` is set.
public final class CJT188SimulatedMeter: Sendable {
    public let address: CJT188Address
    public let meterType: CJT188MeterType
    public let device: SimulatedDevice
    /// The only DI byte order this meter answers; nil answers both (most meters do not care).
    public let diOrder: CJT188DIOrder?
    /// Meters keep local time; Chinese meters UTC+8.
    public static let utcOffsetSeconds = 8 * 3600

    public init(address: CJT188Address, meterType: CJT188MeterType, device: SimulatedDevice, diOrder: CJT188DIOrder? = nil) {
        self.address = address
        self.meterType = meterType
        self.device = device
        self.diOrder = diOrder
        // The settlement-day total starts at the whole m³ below today's reading unless a scenario set it.
        if device.value(of: "volume.settlement") == nil {
            let total = device.value(of: "volume.total") ?? 0
            device.set("volume.settlement", to: total.rounded(.down))
        }
    }

    /// The meter type a profile's medium stands for, when the profile does not say.
    public static func meterType(for profile: DeviceProfile) -> CJT188MeterType {
        if let type = profile.cjt188?.meterType { return type }
        switch profile.medium {
        case .gas: return .gas
        case .heat: return .heat
        case .water, .electricity: return .coldWater
        }
    }

    /// True if this meter must act on `frame` (its address or a wildcard matching it, its type or AA).
    public func isAddressed(by frame: CJT188Frame) -> Bool {
        frame.address.reaches(address) && (frame.meterType == meterType || frame.meterType == .wildcard)
    }

    /// The status word now: valve bits from the physics or the fault flag, battery from the flag,
    /// and in the vendor-defined second byte D0 gas leak, D1 tamper (what `cjt188-gas` reads).
    public func status(_ values: [String: Double]) -> CJT188Status {
        let fault = (values[MeterCondition.valveFault.point] ?? 0) != 0
        let open = (values["valve.state"] ?? 1) != 0
        let leak: UInt8 = (values[MeterCondition.leak.point] ?? 0) != 0 ? Self.leakBit : 0
        let tamper: UInt8 = (values[MeterCondition.tamper.point] ?? 0) != 0 ? Self.tamperBit : 0
        return CJT188Status(valve: fault ? .abnormal : open ? .open : .closed,
                            batteryLow: (values[MeterCondition.batteryLow.point] ?? 0) != 0, high: leak | tamper)
    }

    /// Vendor bits of the second status byte: no standard assigns them, so the simulator picks the
    /// ones `Hardware/profiles/cjt188-gas.yaml` names (ST bits 8 and 9).
    public static let leakBit: UInt8 = 0x01
    public static let tamperBit: UInt8 = 0x02

    /// The current-data payload (19 bytes after DI and SER).
    public func currentData(at time: Double) -> CJT188CurrentData {
        let values = device.modelValues()
        func total(_ name: String) -> ExactDecimal {
            // Hundredths, cut as the meter's register does; the epsilon keeps 1234.56 from
            // becoming 1234.55 through binary rounding.
            let hundredths = max(0, ((values[name] ?? 0) * 100 + 1e-6).rounded(.down))
            return ExactDecimal(significand: Int64(min(hundredths, 99_999_999)), exponent: -2)
        }
        return CJT188CurrentData(currentTotal: total("volume.total"), currentUnit: .cubicMetre,
                                 settlementTotal: total("volume.settlement"), settlementUnit: .cubicMetre,
                                 clock: Self.clock(at: time), status: status(values))
    }

    static func clock(at time: Double) -> MeterDateTime {
        MeterDateTime(secondsSince1970: Int64(time.rounded(.down)) + Int64(utcOffsetSeconds))
    }

    /// The reply to a frame addressed to this meter, or nil when a real meter would stay silent.
    /// `time` is the simulation clock (for the meter clock). Faults are applied by the line.
    public func respond(to frame: CJT188Frame, at time: Double) -> CJT188Frame? {
        guard !frame.control.isReply, frame.data.count >= 3 else { return nil }
        let first = frame.data[0], second = frame.data[1]
        if let diOrder {
            // A meter that wants one order does not recognise the other at all.
            let expectedHigh = diOrder == .highFirst
            let highFirst = first == 0x90 || first == 0x81 || first == 0xA0
            if highFirst != expectedHigh { return nil }
        }
        if let code = device.faults.exception {
            return CJT188Reply.makeError(answering: frame, meterType: meterType, address: address,
                                         status: CJT188Status(low: code, high: 0))
        }
        switch frame.control {
        case .readData where CJT188DataID.currentData.matches(first, second):
            guard let payload = currentData(at: time).encoded() else { return nil }
            return CJT188Reply.make(answering: frame, meterType: meterType, address: address, payload: payload)
        case .readAddress where CJT188DataID.readAddress.matches(first, second):
            return CJT188Reply.make(answering: frame, meterType: meterType, address: address, payload: [])
        case .writeData where CJT188DataID.valveControl.matches(first, second) && frame.data.count >= 4:
            guard let action = CJT188ValveAction(rawValue: frame.data[3]) else {
                return CJT188Reply.makeError(answering: frame, meterType: meterType, address: address,
                                             status: status(device.modelValues()))
            }
            // A faulty valve does not move (`SimulatedDevice.write`); the reply says so with the abnormal bits.
            device.write(PointName("valve.state"), value: action == .open ? 1 : 0)
            let st = status(device.modelValues())
            return CJT188Reply.make(answering: frame, meterType: meterType, address: address, payload: [st.low, st.high])
        default:
            return CJT188Reply.makeError(answering: frame, meterType: meterType, address: address,
                                         status: status(device.modelValues()))
        }
    }
}
