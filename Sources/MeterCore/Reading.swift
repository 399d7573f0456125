import MeterProtocols

/// A reading's value: exact decimals for billing registers and scaled integers, binary floats
/// for values the meter itself sends as IEEE-754, booleans for states.
public enum MeterValue: Sendable, Hashable, CustomStringConvertible {
    case decimal(ExactDecimal)
    case real(Double)
    case bool(Bool)

    public var doubleValue: Double {
        switch self {
        case let .decimal(d): d.doubleValue
        case let .real(r): r
        case let .bool(b): b ? 1 : 0
        }
    }

    /// JSON-ready text: decimals keep their digits, floats use the shortest round-trip form,
    /// non-finite floats become `null`.
    public var description: String {
        switch self {
        case let .decimal(d): d.description
        case let .real(r): r.isFinite ? r.description : "null"
        case let .bool(b): b ? "true" : "false"
        }
    }
}

/// How much a reading can be trusted, and why not when it cannot.
public enum Quality: Sendable, Hashable, CustomStringConvertible {
    case good
    case timeout
    case crcError
    case exception(UInt8)
    /// The value decoded to something the point's type forbids (NaN float, bad BCD).
    case invalidValue
    /// The bus could not be opened or the transport failed.
    case busError
    /// The device was skipped because it is backing off after repeated failures.
    case backoff
    /// A non-Modbus meter (DL/T 645, CJ/T 188) answered with an error reply; the byte is its
    /// error/status bits (DL/T 645: 0x02 no such data, 0x04 unauthorised).
    case meterError(UInt8)

    public var description: String {
        switch self {
        case .good: "good"
        case .timeout: "timeout"
        case .crcError: "crc_error"
        case let .exception(code): "exception(\(code))"
        case .invalidValue: "invalid_value"
        case .busError: "bus_error"
        case .backoff: "backoff"
        case let .meterError(bits): "meter_error(\(bits))"
        }
    }
}

public struct Reading: Sendable, Hashable {
    /// Gateway-wide sequence number; assigned by the store, 0 until then.
    public var sequence: UInt64
    public var device: DeviceID
    public var point: PointName
    /// nil when quality is not good.
    public var value: MeterValue?
    public var unit: String
    /// Milliseconds since the Unix epoch, UTC.
    public var timestampMs: Int64
    public var quality: Quality
    public var billing: Bool

    public init(sequence: UInt64 = 0, device: DeviceID, point: PointName, value: MeterValue?, unit: String,
                timestampMs: Int64, quality: Quality, billing: Bool) {
        self.sequence = sequence
        self.device = device
        self.point = point
        self.value = value
        self.unit = unit
        self.timestampMs = timestampMs
        self.quality = quality
        self.billing = billing
    }
}
