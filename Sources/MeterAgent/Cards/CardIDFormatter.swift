import MeterCore
import MeterCrypto
import MeterProtocols

/// How a card id is written in events and logs (`cards.id_privacy`):
/// - `hash`: `hmac:` and the first 16 bytes (32 hex digits) of HMAC-SHA256 with the site's key over
///   the ASCII text `TECHNOLOGY:HEX` (upper-case hex, e.g. `em4100:0F00271DA5`). 128 bits are
///   plenty to tell cards apart and the head-end, which holds the key, computes the same text.
/// - `mask`: the technology and the last 4 hex digits, `em4100:******1DA5`.
/// - `clear`: `em4100:0F00271DA5`.
public struct CardIDFormatter: Sendable {
    public let privacy: CardIDPrivacy
    private let key: [UInt8]?

    public static let hashPrefix = "hmac:"
    public static let hashBytes = 16

    public init(_ settings: CardSettings) {
        privacy = settings.idPrivacy
        key = settings.hashKey
    }

    public func callAsFunction(_ card: CardID) -> String {
        switch privacy {
        case .clear:
            return card.description
        case .hash:
            // The config loader demands a key for `hash`; without libcrypto the id is masked
            // rather than sent in clear.
            if let key, let mac = try? HMACSHA256.mac(key: key, message: Array(card.description.utf8)) {
                return Self.hashPrefix + Hex.compact(mac.prefix(Self.hashBytes)).lowercased()
            }
            return Self.masked(card)
        case .mask:
            return Self.masked(card)
        }
    }

    static func masked(_ card: CardID) -> String {
        let hex = card.hex
        return card.technology.rawValue + ":" + String(repeating: "*", count: max(0, hex.count - 4)) + String(hex.suffix(4))
    }
}
