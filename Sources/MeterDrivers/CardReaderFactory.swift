import MeterCore

/// The driver for a configured reader; nil for a type whose driver is not built in yet.
public func makeCardReaderDriver(_ reader: CardReaderConfig) -> (any CardReaderDriver)? {
    switch reader.type {
    case .rdm6300: return RDM6300ReaderDriver(reader: reader)
    case .pn532: return nil // lead wires PN532ReaderDriver
    }
}
