import MeterProtocols

/// What a card on the authorization list may do.
public enum CardRole: String, Sendable, Hashable, CaseIterable {
    /// A staff badge: opens a maintenance window on the reader (and is logged); never switches a relay.
    case technician
    /// A customer's card: starts and ends a metered session at a reader's supply point.
    case customer
}

/// One entry of the authorization list.
public struct AuthorizedCard: Sendable, Hashable {
    public var card: CardID
    public var role: CardRole
    /// Unix seconds (UTC) from which the card is refused; nil: no expiry.
    public var expiresAt: Int64?
    /// The supply points (device ids) where the card is accepted; empty: at any reader.
    public var supplyPoints: [DeviceID]

    public init(card: CardID, role: CardRole, expiresAt: Int64? = nil, supplyPoints: [DeviceID] = []) {
        self.card = card
        self.role = role
        self.expiresAt = expiresAt
        self.supplyPoints = supplyPoints
    }
}

/// The gateway's authorization list: what the head-end last sent with `authlist.update`. Version 0
/// is the empty list a gateway starts with (every card is unknown).
public struct AuthorizationList: Sendable, Hashable {
    public var version: Int64
    public var cards: [CardID: AuthorizedCard]

    public init(version: Int64 = 0, cards: [CardID: AuthorizedCard] = [:]) {
        self.version = version
        self.cards = cards
    }

    public init(version: Int64, entries: [AuthorizedCard]) {
        self.init(version: version, cards: Dictionary(entries.map { ($0.card, $0) }, uniquingKeysWith: { _, last in last }))
    }

    /// Entries in a stable order (technology, then hex), for storing and comparing.
    public var sortedEntries: [AuthorizedCard] {
        cards.values.sorted { ($0.card.technology.rawValue, $0.card.hex) < ($1.card.technology.rawValue, $1.card.hex) }
    }
}

/// A change of the list, as `authlist.update` carries it (checked by the command gate).
public enum AuthorizationChange: Sendable, Hashable {
    /// The whole list, replacing what is stored.
    case replace(version: Int64, cards: [AuthorizedCard])
    /// Entries added (or replaced, by card) and removed, against the stored list of version `base`.
    case delta(version: Int64, base: Int64, add: [AuthorizedCard], remove: [CardID])

    public var version: Int64 {
        switch self {
        case let .replace(version, _), let .delta(version, _, _, _): version
        }
    }

    /// The version a delta was made against; nil for a full list.
    public var base: Int64? {
        if case let .delta(_, base, _, _) = self { return base }
        return nil
    }

    /// The list this change makes of `list` (whose version the caller has checked).
    public func applied(to list: AuthorizationList) -> AuthorizationList {
        switch self {
        case let .replace(version, cards):
            return AuthorizationList(version: version, entries: cards)
        case let .delta(version, _, add, remove):
            var cards = list.cards
            for card in remove { cards[card] = nil }
            for entry in add { cards[entry.card] = entry }
            return AuthorizationList(version: version, cards: cards)
        }
    }
}

extension CardID {
    /// Reads `em4100:0F00271DA5` or `iso14443a:04A1B2C3D4E5F6` (hex in either case); the message
    /// says what is wrong otherwise.
    public static func parse(_ text: String) -> Result<CardID, CardIDError> {
        guard let colon = text.firstIndex(of: ":") else {
            return .failure(CardIDError("'\(text)' is not TECHNOLOGY:HEX (e.g. em4100:0F00271DA5, iso14443a:04A1B2C3)"))
        }
        let name = String(text[..<colon]), hex = String(text[text.index(after: colon)...])
        guard let technology = CardTechnology(rawValue: name) else {
            return .failure(CardIDError("unknown card technology '\(name)' (expected em4100 or iso14443a)"))
        }
        guard hex.utf8.count % 2 == 0, let bytes = Hex.parse(hex), !bytes.isEmpty else {
            return .failure(CardIDError("'\(hex)' is not hex bytes"))
        }
        switch technology {
        case .em4100 where bytes.count != 5:
            return .failure(CardIDError("an em4100 id is 5 bytes (10 hex digits), not \(bytes.count)"))
        case .iso14443a where ![4, 7, 10].contains(bytes.count):
            return .failure(CardIDError("an iso14443a UID is 4, 7 or 10 bytes, not \(bytes.count)"))
        default:
            return .success(CardID(technology: technology, bytes: bytes))
        }
    }
}

public struct CardIDError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
