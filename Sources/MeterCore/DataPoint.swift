import MeterProtocols

/// How a non-Modbus meter encodes one data item (DL/T 645, CJ/T 188): BCD digits with a decimal
/// point, optionally with the top bit of the most significant byte as sign, or a calendar field.
///
/// Profiles write it the way the standards' tables do: `XXXXXX.XX` is 8 BCD digits (4 bytes) with
/// two decimals; `XXX.XXX` is 3 bytes with three decimals; `YYMMDDWW`, `hhmmss`, `YYMMDDhhmmss` are
/// the meter clock's date, time, and date with time; `NNNN` a raw 2-byte status word.
public struct DataFormat: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// `digits` BCD digits, `decimals` of them after the point; `signed`: bit 7 of the most
        /// significant byte is the sign (DL/T 645 currents and powers).
        case bcd(digits: Int, decimals: Int, signed: Bool)
        /// A BCD date/time field in the order written (`YYMMDDWW`, `hhmmss`, `YYMMDDhhmmss`).
        case clock(pattern: String)
        /// A raw little-endian word of `bytes` bytes (status words, written `NNNN`).
        case binary(bytes: Int)
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// Parses `XXXXXX.XX` or a clock pattern; `signed` applies to BCD formats only.
    public init?(notation: String, signed: Bool = false) {
        if !notation.isEmpty, notation.count % 2 == 0, notation.count <= 16, notation.allSatisfy({ $0 == "N" }) {
            kind = .binary(bytes: notation.count / 2)
            return
        }
        if ["YYMMDDWW", "hhmmss", "YYMMDDhhmmss"].contains(notation) {
            kind = .clock(pattern: notation)
            return
        }
        let parts = notation.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy { $0 == "X" } }), !parts[0].isEmpty else { return nil }
        let decimals = parts.count == 2 ? parts[1].count : 0
        if parts.count == 2, decimals == 0 { return nil }
        // An odd count (DL/T 645-1997 `XXX`) leaves the top nibble of the last byte unused.
        let digits = parts[0].count + decimals
        guard (1...16).contains(digits) else { return nil }
        kind = .bcd(digits: digits, decimals: decimals, signed: signed)
    }

    /// Bytes on the wire.
    public var byteCount: Int {
        switch kind {
        case let .bcd(digits, _, _): (digits + 1) / 2
        case let .clock(pattern): pattern.count / 2
        case let .binary(bytes): bytes
        }
    }

    public var description: String {
        switch kind {
        case let .bcd(digits, decimals, signed):
            let whole = String(repeating: "X", count: digits - decimals)
            return (decimals > 0 ? whole + "." + String(repeating: "X", count: decimals) : whole) + (signed ? " signed" : "")
        case let .clock(pattern): return pattern
        case let .binary(bytes): return String(repeating: "N", count: bytes * 2)
        }
    }
}

/// One value of a meter addressed by data identifier (DL/T 645, CJ/T 188) rather than register.
public struct DataPointDefinition: Sendable, Hashable {
    public var name: PointName
    /// The data identifier as written in the standard, most significant byte first: `00010000`
    /// for DL/T 645-2007 (4 bytes), `9010` for DL/T 645-1997 and `901F` for CJ/T 188 (2 bytes).
    public var di: UInt32
    /// Bytes of `di` on the wire: 4 (DL/T 645-2007) or 2.
    public var diBytes: Int
    public var format: DataFormat
    /// Engineering value = decoded value × scale (e.g. 0.001 to turn Wh into kWh).
    public var scale: ExactDecimal
    public var unit: String
    public var billing: Bool

    public init(name: PointName, di: UInt32, diBytes: Int = 4, format: DataFormat, scale: ExactDecimal = .one,
                unit: String = "", billing: Bool = false) {
        self.name = name
        self.di = di
        self.diBytes = diBytes
        self.format = format
        self.scale = scale
        self.unit = unit
        self.billing = billing
    }

    /// `00010000`, `9010`: the identifier as a technician writes it.
    public var diText: String {
        var text = String(di, radix: 16, uppercase: true)
        while text.count < diBytes * 2 { text = "0" + text }
        return text
    }
}

/// DL/T 645 relay control (0x1C) as one meter model accepts it; see PROTOCOLS.md. Grids and
/// vendors differ on the plaintext password level and which N1 codes plaintext may send.
public struct RelayControlSettings: Sendable, Hashable {
    /// The password level PA sent before the password (02/04 State Grid, 03 Southern Grid).
    public var passwordLevel: UInt8
    /// The N1 codes the meter accepts in plaintext (0x1A trip, 0x1B close allowed, 0x1C direct
    /// close, 0x2A/0x2B alarm on/off, 0x3A/0x3B keep power on/release).
    public var acceptedCodes: [UInt8]
    /// How far in the future the command deadline (N3–N8) lies, in seconds.
    public var deadlineSeconds: Int

    public init(passwordLevel: UInt8 = 0x02, acceptedCodes: [UInt8] = [0x1A, 0x1B, 0x1C, 0x2A, 0x2B, 0x3A, 0x3B],
                deadlineSeconds: Int = 600) {
        self.passwordLevel = passwordLevel
        self.acceptedCodes = acceptedCodes
        self.deadlineSeconds = deadlineSeconds
    }
}

/// A meter's secret for write and relay commands: password and operator code, as written in the
/// site config. Never printed: `description` hides the digits, so it cannot leak into a log line.
public struct MeterCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// 6 hex/BCD digits (P2 P1 P0 as written: `"123456"` goes on the wire as 56 34 12).
    public var password: String
    /// 8 digits (C3..C0 as written).
    public var operatorCode: String

    public init(password: String = "000000", operatorCode: String = "00000000") {
        self.password = password
        self.operatorCode = operatorCode
    }

    public var description: String { "credentials(password ******, operator ********)" }
    public var debugDescription: String { description }
}

extension WireProtocol {
    /// The line a bus of this protocol gets when the site config names no baud rate or parity:
    /// 9600 8N1 for Modbus, 2400 8E1 for DL/T 645-2007 and CJ/T 188, 1200 8E1 for DL/T 645-1997.
    public var defaultSerialSettings: SerialSettings {
        switch self {
        case .modbus: SerialSettings()
        case .dlt645, .cjt188: SerialSettings(baud: 2400, parity: .even)
        case .dlt645_1997: SerialSettings(baud: 1200, parity: .even)
        }
    }
}
