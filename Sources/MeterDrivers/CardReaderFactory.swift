import MeterCore

/// The driver for a configured reader.
public func makeCardReaderDriver(_ reader: CardReaderConfig) -> any CardReaderDriver {
    switch reader.type {
    case .rdm6300: RDM6300ReaderDriver(reader: reader)
    case .pn532: PN532ReaderDriver(reader: reader)
    }
}
