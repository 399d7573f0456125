/// Writes JSON by hand because billing values must keep the meter's exact decimal digits, which
/// JSONEncoder would route through Double.
public struct JSONWriter {
    public private(set) var text = ""

    public init() {}

    public mutating func raw(_ s: String) { text += s }

    public mutating func string(_ s: String) {
        text += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let digits = Array("0123456789abcdef")
                text += "\\u00" + String(digits[Int(scalar.value >> 4)]) + String(digits[Int(scalar.value & 0xF)])
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    public mutating func value(_ v: MeterValue?) {
        guard let v else { text += "null"; return }
        text += v.description
    }
}

