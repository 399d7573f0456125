import MeterCore

/// Why a presentation was refused (`reason` of a denied `card.presented`).
public enum CardDenial: String, Sendable, Hashable {
    /// Not on the authorization list.
    case unknown
    /// On the list, past its `expires_at`.
    case expired
    /// On the list, but not for this reader's supply point.
    case notHere = "not_here"
    /// A customer card at a reader that guards no supply point (a door).
    case noSupplyPoint = "no_supply_point"
    /// Another card's session runs at this supply point.
    case busy
    /// The supply point's prepaid account is cut off for lack of credit (local cost control).
    case noCredit = "no_credit"
}

/// What a presentation leads to, decided from the local list and the open windows and sessions
/// alone: no uplink, no store read, no bus.
public enum CardDecision: Sendable, Hashable {
    case denied(CardDenial)
    case openWindow
    /// The badge that opened the window closes it.
    case closeWindow
    /// Another technician's badge: the window is handed over (closed, then opened for this badge).
    case takeOverWindow
    case startSession(DeviceID)
    /// The card that started the session ends it.
    case endSession

    public var allowed: Bool {
        if case .denied = self { return false }
        return true
    }

    /// The `action` of an allowed `card.presented` event.
    public var actionName: String {
        switch self {
        case .denied: "none"
        case .openWindow, .takeOverWindow: "window.open"
        case .closeWindow: "window.close"
        case .startSession: "session.start"
        case .endSession: "session.end"
        }
    }
}

/// The rules of issue 12, as a pure function so that each can be tested on its own.
public enum CardPolicy {
    /// `windowCard`: the badge holding this reader's maintenance window, if one is open;
    /// `sessionCard`: the card of the session at this reader's supply point, if one runs.
    public static func decide(_ card: CardID, at reader: CardReaderConfig, list: AuthorizationList, nowSeconds: Int64,
                              windowCard: CardID?, sessionCard: CardID?) -> (CardDecision, AuthorizedCard?) {
        guard let entry = list.cards[card] else { return (.denied(.unknown), nil) }
        if let expiresAt = entry.expiresAt, expiresAt <= nowSeconds { return (.denied(.expired), entry) }
        if !entry.supplyPoints.isEmpty {
            guard let point = reader.supplyPoint, entry.supplyPoints.contains(point) else { return (.denied(.notHere), entry) }
        }
        switch entry.role {
        case .technician:
            guard let windowCard else { return (.openWindow, entry) }
            return (windowCard == card ? .closeWindow : .takeOverWindow, entry)
        case .customer:
            guard let point = reader.supplyPoint else { return (.denied(.noSupplyPoint), entry) }
            guard let sessionCard else { return (.startSession(point), entry) }
            return (sessionCard == card ? .endSession : .denied(.busy), entry)
        }
    }
}
