import MeterCore
import MeterProtocols

/// `authlist.update`: the card authorization list, a gateway-level action. Its `device` is the
/// gateway's id (the command's `gateway` again): the list belongs to no meter.
///
/// params, a full replace: `{"version": 7, "cards": [ENTRY, …]}`
/// or a delta: `{"version": 8, "base": 7, "add": [ENTRY, …], "remove": ["em4100:0F00271DA5", …]}`
/// ENTRY: `{"card": "em4100:0F00271DA5", "role": "customer", "expires_at": 1798761600, "supply_points": ["bay-1"]}`
/// (`expires_at` and `supply_points` optional; supply points must be devices of this gateway).
/// Versions are checked against the stored list when the command is carried out (`stale_version`,
/// `wrong_base`); everything else here (`bad_params`, naming the entry and the field).
extension CommandGate {
    static let authListKeys: Set<String> = ["version", "base", "cards", "add", "remove"]
    static let authEntryKeys: Set<String> = ["card", "role", "expires_at", "supply_points"]
    /// More cards than this in one message is a mistake (a message is at most 64 KiB anyway).
    static let maxCardsPerUpdate = 2_000

    func planAuthorizations(_ command: SignedCommand) -> Result<CommandPlan, Rejection> {
        func reject(_ reason: CommandReason, _ message: String) -> Result<CommandPlan, Rejection> {
            .failure(Rejection(reason: reason, message: message, id: command.id, command: command))
        }
        guard command.device == site.gatewayID else {
            return reject(.unknownDevice, "authlist.update is for the gateway: its device must be '\(site.gatewayID)', not '\(command.device)'")
        }
        switch Self.authorizationChange(command.params, devices: Set(site.devices.map(\.id))) {
        case let .success(change): return .success(.authorizations(change))
        case let .failure(error): return reject(.badParams, error.description)
        }
    }

    static func authorizationChange(_ params: YAMLNode?, devices: Set<DeviceID>) -> Result<AuthorizationChange, CardIDError> {
        let usage = "authlist.update needs params {\"version\": N, \"cards\": [...]} or {\"version\": N, \"base\": M, \"add\": [...], \"remove\": [...]}"
        guard let params, case let .mapping(entries) = params.kind else { return .failure(CardIDError(usage)) }
        if let unknown = entries.compactMap(\.key.scalar).first(where: { !authListKeys.contains($0) }) {
            return .failure(CardIDError("params.\(unknown) is not known (\(usage))"))
        }
        guard let version = integer(params["version"]), version > 0 else {
            return .failure(CardIDError("params.version must be a whole number above 0"))
        }
        let isDelta = params["base"] != nil
        if isDelta {
            guard params["cards"] == nil else { return .failure(CardIDError("params has both cards (a full list) and base (a delta)")) }
            guard let base = integer(params["base"]), base >= 0 else { return .failure(CardIDError("params.base must be a whole number, 0 or more")) }
            guard base < version else { return .failure(CardIDError("params.version \(version) must be above params.base \(base)")) }
            let add: [AuthorizedCard], remove: [CardID]
            switch cardEntries(params["add"], field: "add", devices: devices) {
            case let .success(entries): add = entries
            case let .failure(error): return .failure(error)
            }
            switch cardIDs(params["remove"]) {
            case let .success(ids): remove = ids
            case let .failure(error): return .failure(error)
            }
            if let both = add.first(where: { entry in remove.contains(entry.card) }) {
                return .failure(CardIDError("card \(both.card) is both in params.add and params.remove"))
            }
            guard add.count + remove.count <= maxCardsPerUpdate else {
                return .failure(CardIDError("more than \(maxCardsPerUpdate) cards in one update"))
            }
            return .success(.delta(version: version, base: base, add: add, remove: remove))
        }
        guard params["add"] == nil, params["remove"] == nil else {
            return .failure(CardIDError("params.add and params.remove make a delta, which needs params.base"))
        }
        guard params["cards"] != nil else { return .failure(CardIDError(usage)) }
        switch cardEntries(params["cards"], field: "cards", devices: devices) {
        case let .success(cards):
            guard cards.count <= maxCardsPerUpdate else { return .failure(CardIDError("more than \(maxCardsPerUpdate) cards in one update")) }
            return .success(.replace(version: version, cards: cards))
        case let .failure(error):
            return .failure(error)
        }
    }

    private static func integer(_ node: YAMLNode?) -> Int64? {
        guard let node, case let .scalar(text, plain: true) = node.kind else { return nil }
        return Int64(text)
    }

    private static func list(_ node: YAMLNode?, field: String) -> Result<[YAMLNode], CardIDError> {
        guard let node, !node.isNull else { return .success([]) }
        guard case let .sequence(items) = node.kind else { return .failure(CardIDError("params.\(field) must be a list")) }
        return .success(items)
    }

    private static func cardEntries(_ node: YAMLNode?, field: String, devices: Set<DeviceID>) -> Result<[AuthorizedCard], CardIDError> {
        let items: [YAMLNode]
        switch list(node, field: field) {
        case let .success(found): items = found
        case let .failure(error): return .failure(error)
        }
        var entries: [AuthorizedCard] = []
        var seen: [CardID: Int] = [:]
        for (index, item) in items.enumerated() {
            let at = "params.\(field)[\(index)]"
            guard case let .mapping(pairs) = item.kind else { return .failure(CardIDError("\(at) must be an object")) }
            if let unknown = pairs.compactMap(\.key.scalar).first(where: { !authEntryKeys.contains($0) }) {
                return .failure(CardIDError("\(at).\(unknown) is not known (expected card, role, expires_at, supply_points)"))
            }
            guard let text = string(item["card"]) else { return .failure(CardIDError("\(at).card must be a string like \"em4100:0F00271DA5\"")) }
            let card: CardID
            switch CardID.parse(text) {
            case let .success(parsed): card = parsed
            case let .failure(error): return .failure(CardIDError("\(at).card: \(error.description)"))
            }
            if let first = seen[card] { return .failure(CardIDError("\(at).card \(card) is already params.\(field)[\(first)]")) }
            seen[card] = index
            guard let roleText = string(item["role"]), let role = CardRole(rawValue: roleText) else {
                return .failure(CardIDError("\(at).role must be \"technician\" or \"customer\""))
            }
            var expiresAt: Int64?
            if let node = item["expires_at"], !node.isNull {
                guard let seconds = integer(node), seconds > 0 else { return .failure(CardIDError("\(at).expires_at must be Unix seconds (UTC)")) }
                expiresAt = seconds
            }
            var points: [DeviceID] = []
            switch list(item["supply_points"], field: "\(field)[\(index)].supply_points") {
            case let .success(nodes):
                for (p, node) in nodes.enumerated() {
                    guard let name = string(node) else { return .failure(CardIDError("\(at).supply_points[\(p)] must be a device id string")) }
                    guard devices.contains(DeviceID(name)) else {
                        return .failure(CardIDError("\(at).supply_points[\(p)]: no device '\(name)' on this gateway"))
                    }
                    points.append(DeviceID(name))
                }
            case let .failure(error):
                return .failure(error)
            }
            entries.append(AuthorizedCard(card: card, role: role, expiresAt: expiresAt, supplyPoints: points))
        }
        return .success(entries)
    }

    private static func cardIDs(_ node: YAMLNode?) -> Result<[CardID], CardIDError> {
        let items: [YAMLNode]
        switch list(node, field: "remove") {
        case let .success(found): items = found
        case let .failure(error): return .failure(error)
        }
        var ids: [CardID] = []
        for (index, item) in items.enumerated() {
            guard let text = string(item) else { return .failure(CardIDError("params.remove[\(index)] must be a string like \"em4100:0F00271DA5\"")) }
            switch CardID.parse(text) {
            case let .success(card): ids.append(card)
            case let .failure(error): return .failure(CardIDError("params.remove[\(index)]: \(error.description)"))
            }
        }
        return .success(ids)
    }

    private static func string(_ node: YAMLNode?) -> String? {
        guard let node, case let .scalar(text, plain: false) = node.kind, !text.isEmpty else { return nil }
        return text
    }
}
