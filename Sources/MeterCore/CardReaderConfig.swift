import MeterProtocols

/// The kinds of card reader the agent drives.
public enum CardReaderType: String, Sendable, Hashable, CaseIterable {
    /// 125 kHz EM4100 modules that stream ASCII frames on their own (9600 8N1).
    case rdm6300
    /// NXP PN532 13.56 MHz NFC reader over UART (HSU, 115200 8N1), driven through libnfc.
    case pn532

    public var defaultBaud: Int {
        switch self {
        case .rdm6300: 9600
        case .pn532: 115_200
        }
    }
}

/// The radio technology a card id came from: the same bytes on two technologies are two cards.
public enum CardTechnology: String, Sendable, Hashable {
    /// 125 kHz EM4100: 5 bytes (version/customer byte and a 32-bit tag number).
    case em4100
    /// ISO 14443-A: a 4-, 7- or 10-byte UID.
    case iso14443a
}

/// A card as a reader saw it. A UID is what the card says about itself: anyone can clone it, so
/// the id is an identifier, not a secret (see Hardware/README "Card readers").
public struct CardID: Sendable, Hashable, CustomStringConvertible {
    public var technology: CardTechnology
    public var bytes: [UInt8]

    public init(technology: CardTechnology, bytes: [UInt8]) {
        self.technology = technology
        self.bytes = bytes
    }

    /// Upper-case hex of the bytes, e.g. `0F00271DA5`: the form of the authorization list.
    public var hex: String { Hex.compact(bytes) }

    public var description: String { "\(technology.rawValue):\(hex)" }
}

/// One `readers:` entry: a card reader on a serial port and the supply point it guards.
public struct CardReaderConfig: Sendable, Hashable {
    public var id: ReaderID
    public var type: CardReaderType
    /// A device path (`/dev/ttyS1`, a pty) or a USB identity `usb:VID:PID[:SERIAL]`.
    public var port: String
    public var baud: Int
    /// The device whose relay a customer card switches; nil for a reader that only takes
    /// technicians' badges (a plant-room door).
    public var supplyPoint: DeviceID?
    /// Presentations of the same card closer together than this are one presentation: readers
    /// repeat a card for as long as it stays in the field.
    public var debounceMs: Int

    public static let defaultDebounceMs = 1_500

    public init(id: ReaderID, type: CardReaderType, port: String, baud: Int? = nil, supplyPoint: DeviceID? = nil,
                debounceMs: Int = defaultDebounceMs) {
        self.id = id
        self.type = type
        self.port = port
        self.baud = baud ?? type.defaultBaud
        self.supplyPoint = supplyPoint
        self.debounceMs = debounceMs
    }
}
