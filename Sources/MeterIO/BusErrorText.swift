import MeterCore

/// The description every bus error shares: `bus <id> <context…>: <what happened> (<message>)`,
/// context parts that are nil left out.
func busErrorDescription(bus: BusID, context: [String?], failure: String, message: String) -> String {
    var text = "bus \(bus)"
    for part in context { if let part { text += " " + part } }
    text += ": " + failure
    if !message.isEmpty { text += " (\(message))" }
    return text
}

/// A byte as two upper-case hex digits.
func hex2(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16, uppercase: true)
    return digits.count < 2 ? "0" + digits : digits
}
