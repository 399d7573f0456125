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
