/// How card ids appear in events and logs (`cards.id_privacy`).
public enum CardIDPrivacy: String, Sendable, Hashable, CaseIterable {
    /// Keyed hash (HMAC-SHA256 with the site's `hash_key_file`): the head-end can match a card it
    /// knows the id of, nobody else can turn the hash back into a clonable UID.
    case hash
    /// The technology and the last 4 hex digits (`em4100:******1DA5`): enough for a person on site.
    case mask
    /// The id itself: only where the site says so.
    case clear
}

/// The `cards:` section: how presentations are reported and how long windows and sessions last.
public struct CardSettings: Sendable, Hashable {
    public var idPrivacy: CardIDPrivacy = .hash
    /// The HMAC key read from `hash_key_file` (required for `hash`); never logged.
    public var hashKey: [UInt8]?
    /// How long a technician's badge opens a maintenance window.
    public var maintenanceWindowSeconds: Int = 1_800
    /// A customer session ends by itself after this long; nil: only by the card or lack of credit.
    public var sessionMaxSeconds: Int?

    public init(idPrivacy: CardIDPrivacy = .hash, hashKey: [UInt8]? = nil, maintenanceWindowSeconds: Int = 1_800,
                sessionMaxSeconds: Int? = nil) {
        self.idPrivacy = idPrivacy
        self.hashKey = hashKey
        self.maintenanceWindowSeconds = maintenanceWindowSeconds
        self.sessionMaxSeconds = sessionMaxSeconds
    }

    /// The smallest key `hash_key_file` may hold: HMAC-SHA256's own block of security.
    public static let minimumKeyBytes = 32
}
