import MeterCore
import MeterProtocols

/// One meter a scan found: where, at which line settings, who it says it is, and the profile
/// that fits (nil when nothing identified it).
public struct ScanFinding: Sendable, Hashable {
    public var port: String
    public var protocolName: WireProtocol
    public var settings: SerialSettings
    /// Modbus unit id.
    public var unit: UInt8?
    /// DL/T 645 or CJ/T 188 address as written on the nameplate.
    public var address: String?
    /// Modbus: what Read Device Identification answered.
    public var identification: ModbusIdentification?
    /// CJ/T 188: the meter type byte of its reply (10 cold water, 30 gas, …).
    public var meterType: UInt8?
    public var profile: String?

    public init(port: String, protocolName: WireProtocol, settings: SerialSettings, unit: UInt8? = nil, address: String? = nil) {
        self.port = port
        self.protocolName = protocolName
        self.settings = settings
        self.unit = unit
        self.address = address
    }

    /// `unit 7` or `meter 000000001201`.
    public var target: String { unit.map { "unit \($0)" } ?? "meter \(address ?? "?")" }

    /// `found modbus unit 7 at 9600 8N1: Eastron SDM630 (profile eastron-sdm630)`.
    public var line: String {
        var text = "found \(protocolName.rawValue) \(target) at \(settings.summary)"
        if let identification {
            text += ": \(identification.vendor) \(identification.productCode)"
        } else if protocolName == .modbus {
            text += ": no device identification"
        }
        if let meterType { text += ": meter type 0x" + Hex.byte(meterType) }
        return text + (profile.map { " (profile \($0))" } ?? " (profile unknown)")
    }
}

/// The profile that fits a finding: for Modbus the one whose `identification:` matches what the
/// meter answered; for CJ/T 188 the first (by name) of the meter's type; for DL/T 645 the
/// generic 2007 profile, since the protocol itself is the same for every maker.
public enum ScanProfileMatch {
    public static func profile(for finding: ScanFinding, among profiles: [String: DeviceProfile]) -> String? {
        let sorted = profiles.sorted { $0.key < $1.key }
        switch finding.protocolName {
        case .modbus:
            guard let found = finding.identification else { return nil }
            return sorted.first { $0.value.identification?.matches(found) ?? false }?.key
        case .cjt188:
            guard let type = finding.meterType else { return nil }
            return sorted.first { $0.value.cjt188?.meterType.rawValue == type }?.key
        case .dlt645:
            return profiles["dlt645-2007-generic"] != nil ? "dlt645-2007-generic"
                : sorted.first { $0.value.protocolName == .dlt645 && $0.value.generic }?.key
        case .dlt645_1997:
            return nil
        }
    }
}
