import MeterProtocols

/// A device's `cost_control:` (prepaid):
///
/// ```yaml
/// cost_control: remote                      # the head-end keeps the balance; the agent only executes
/// cost_control:
///   mode: local                             # the agent keeps the balance
///   tariff: {flat: 0.59}                    # or time-of-use periods of the gateway's local day:
///   # tariff: {periods: [{from: "08:00", to: "22:00", price: 0.79}, {from: "22:00", to: "08:00", price: 0.39}]}
///   low_credit: 10                          # credit.low alarm at or below this balance
///   initial_balance: 50                     # the balance of a device the store has not seen yet
///   point: energy.import.total              # optional: the register charged (default by medium)
///   max_credit: 10000                       # optional: the largest single credit.add
///   event_interval: 15m                     # optional: consumption-driven balance events at most this often
/// ```
extension SiteConfigLoader {
    static let costControlKeys = ["mode", "tariff", "low_credit", "initial_balance", "point", "max_credit", "event_interval"]
    static let tariffKeys = ["flat", "periods"]
    static let tariffPeriodKeys = ["from", "to", "price"]
    /// More periods than any real time-of-use tariff has (China's peak/valley tariffs have 4–8).
    static let maxTariffPeriods = 48

    static func decodeCostControl(_ node: YAMLNode, profile: DeviceProfile?, protected: Bool,
                                  into d: inout ConfigDiagnostics) -> CostControl? {
        if case .scalar = node.kind {
            switch node.scalar {
            case "remote": return .remote
            case "local":
                d.report(node, "'cost_control: local' needs its settings: {mode: local, tariff: {flat: PRICE}, low_credit: AMOUNT, initial_balance: AMOUNT}")
            default:
                d.report(node, "unknown cost_control \(describe(node)) (expected remote, or a mapping with mode: local)")
            }
            return nil
        }
        guard let m = d.mapping(node, what: "cost_control", allowed: costControlKeys, required: ["mode"]),
              let modeNode = m["mode"], let mode = d.string(modeNode, "mode") else { return nil }
        switch mode {
        case "remote":
            let settings = m.values.filter { $0.key != "mode" }.sorted { $0.value.location.line < $1.value.location.line }
            for (key, value) in settings {
                d.report(value, "'\(key)' is for cost_control mode local; with mode remote the head-end keeps the balance")
            }
            return settings.isEmpty ? .remote : nil
        case "local":
            break
        default:
            d.report(modeNode, "unknown cost_control mode '\(mode)' (expected one of: local, remote)")
            return nil
        }
        for key in ["tariff", "low_credit", "initial_balance"] where m[key] == nil {
            d.report(node, "missing key '\(key)' in cost_control (mode local)")
        }
        let tariff = m["tariff"].flatMap { decodeTariff($0, into: &d) }
        let low = m["low_credit"].flatMap { decodeAmount($0, "low_credit", minimum: .zero, into: &d) }
        let initial = m["initial_balance"].flatMap { decodeAmount($0, "initial_balance", minimum: nil, into: &d) }
        var maxCredit: ExactDecimal? = LocalCostControl.defaultMaxCredit
        if let node = m["max_credit"] {
            maxCredit = decodeAmount(node, "max_credit", minimum: .zero, into: &d)
            if let value = maxCredit, value.isZero {
                d.report(node, "max_credit must be more than 0")
                maxCredit = nil
            }
        }
        var interval: Int64? = LocalCostControl.defaultEventIntervalMs
        if let node = m["event_interval"] {
            if let text = node.scalar, !node.isNull, let ms = parseInterval(text), (60_000...86_400_000).contains(ms) {
                interval = Int64(ms)
            } else {
                d.report(node, "bad event_interval \(describe(node)) (expected 1m to 24h, e.g. 15m)")
                interval = nil
            }
        }
        let point = decodeMeteredPoint(m, profile: profile, into: &d)
        // Cutting the supply is what local cost control does at zero; a protected device gets an
        // alarm instead, so it needs no relay or valve.
        if let profile, !protected, profile.supplyActions == nil {
            d.report(modeNode, "local cost control cuts the supply at zero credit, but profile '\(profile.name)' has no relay.open/relay.close or valve.close/valve.open actions; mark the device 'protected: true' (an alarm instead of a cut) or use cost_control: remote")
        }
        guard let tariff, let low, let initial, let maxCredit, let interval, let point else { return nil }
        return .local(LocalCostControl(tariff: tariff, lowCredit: low, initialBalance: initial, point: point,
                                       maxCredit: maxCredit, eventIntervalMs: interval))
    }

    /// The register the tariff applies to: `point:` when written, else the medium's default; it
    /// must be a point of the profile.
    private static func decodeMeteredPoint(_ m: CheckedMapping, profile: DeviceProfile?, into d: inout ConfigDiagnostics) -> PointName? {
        let point: PointName
        if let node = m["point"] {
            guard let name = d.string(node, "point") else { return nil }
            point = PointName(name)
        } else {
            guard let profile else { return nil }
            guard let fallback = LocalCostControl.defaultPoint(for: profile.medium) else {
                d.report(m.node, "profile '\(profile.name)' meters \(profile.medium.rawValue): name the register to charge with 'point'")
                return nil
            }
            point = fallback
        }
        guard let profile else { return point }
        guard profile.pointNames.contains(point) else {
            let counters = profile.pointNames.map(\.rawValue).filter { $0.hasPrefix("energy.") || $0.hasPrefix("volume.") }
            d.report(m["point"] ?? m.node, "profile '\(profile.name)' has no point '\(point)' to charge"
                     + (counters.isEmpty ? "" : " (counters: \(counters.joined(separator: ", ")))"))
            return nil
        }
        return point
    }

    /// A money amount: at most 4 decimals, within ±1,000,000, at least `minimum` when given.
    static func decodeAmount(_ node: YAMLNode, _ key: String, minimum: ExactDecimal?, into d: inout ConfigDiagnostics) -> ExactDecimal? {
        guard let text = node.scalar, !node.isNull, let value = ExactDecimal(text) else {
            d.report(node, "expected an amount for '\(key)', got \(describe(node))")
            return nil
        }
        if let problem = amountProblem(value, minimum: minimum) {
            d.report(node, "\(key) \(text) \(problem)")
            return nil
        }
        return value.normalized
    }

    /// Why `value` is not an acceptable money amount, nil when it is (also for `credit.add`).
    public static func amountProblem(_ value: ExactDecimal, minimum: ExactDecimal?) -> String? {
        if value.normalized.fractionDigits > LocalCostControl.amountDigits {
            return "has more than \(LocalCostControl.amountDigits) decimals"
        }
        if let minimum, value.compare(minimum) < 0 { return "is below \(minimum)" }
        if value.compare(LocalCostControl.maxAmount) > 0 || LocalCostControl.maxAmount.negated.map({ value.compare($0) < 0 }) == true {
            return "is outside ±\(LocalCostControl.maxAmount)"
        }
        return nil
    }

    // MARK: - Tariffs

    /// `{flat: PRICE}` or `{periods: [{from: "HH:MM", to: "HH:MM", price: PRICE}, …]}` whose periods
    /// cover the local day exactly once. Also reads `tariff.set`'s params (JSON is YAML).
    static func decodeTariff(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> Tariff? {
        guard let m = d.mapping(node, what: "tariff", allowed: tariffKeys) else { return nil }
        switch (m["flat"], m["periods"]) {
        case let (flat?, nil):
            return decodePrice(flat, "flat", into: &d).map(Tariff.flat)
        case let (nil, periods?):
            return decodePeriods(periods, into: &d).map(Tariff.timeOfUse)
        case (.some, .some):
            d.report(node, "a tariff is either 'flat' or 'periods', not both")
        case (nil, nil):
            d.report(node, "a tariff needs 'flat: PRICE' or 'periods: [{from: \"HH:MM\", to: \"HH:MM\", price: PRICE}, …]'")
        }
        return nil
    }

    /// The tariff of a `tariff.set` command's params, or the first thing wrong with it.
    public static func tariff(fromParams node: YAMLNode) -> Result<Tariff, ConfigError> {
        var d = ConfigDiagnostics()
        if let tariff = decodeTariff(node, into: &d), d.errors.isEmpty { return .success(tariff) }
        return .failure(d.errors.first ?? ConfigError(node.location, "not a tariff"))
    }

    private static func decodePeriods(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> [TariffPeriod]? {
        guard case let .sequence(items) = node.kind, !items.isEmpty else {
            d.report(node, "expected a list of periods for 'periods', got \(describe(node))")
            return nil
        }
        guard items.count <= maxTariffPeriods else {
            d.report(node, "\(items.count) periods; at most \(maxTariffPeriods)")
            return nil
        }
        var periods: [TariffPeriod] = []
        // Which period (its index in `periods`) holds each minute of the day.
        var owner = [Int?](repeating: nil, count: DailyWindow.minutesPerDay)
        var lines: [Int] = []
        var ok = true
        for item in items {
            guard let p = d.mapping(item, what: "tariff period", allowed: tariffPeriodKeys, required: tariffPeriodKeys) else {
                ok = false
                continue
            }
            let from = p["from"].flatMap { decodeClock($0, "from", allowMidnightEnd: false, into: &d) }
            let to = p["to"].flatMap { decodeClock($0, "to", allowMidnightEnd: true, into: &d) }
            let price = p["price"].flatMap { decodePrice($0, "price", into: &d) }
            guard let from, let to, let price else {
                ok = false
                continue
            }
            guard from != to else {
                d.report(p["to"]!, "period \(DailyWindow.clock(from))–\(DailyWindow.clock(to)) is empty (a whole day is 00:00–24:00, or use flat)")
                ok = false
                continue
            }
            let period = TariffPeriod(fromMinute: from, toMinute: to, price: price)
            if let clash = (0..<DailyWindow.minutesPerDay).first(where: { period.window.contains(minuteOfDay: $0) && owner[$0] != nil }), let other = owner[clash] {
                d.report(item, "period \(DailyWindow.clock(from))–\(DailyWindow.clock(to)) overlaps the period at line \(lines[other]) (from \(DailyWindow.clock(clash)))")
                ok = false
                continue
            }
            for minute in 0..<DailyWindow.minutesPerDay where period.window.contains(minuteOfDay: minute) { owner[minute] = periods.count }
            periods.append(period)
            lines.append(item.location.line)
        }
        guard ok else { return nil }
        let gaps = uncovered(owner)
        guard gaps.isEmpty else {
            let shown = gaps.prefix(3).map { "\(DailyWindow.clock($0.lowerBound))–\(DailyWindow.clock($0.upperBound))" }
            d.report(node, "the periods leave \(shown.joined(separator: ", "))\(gaps.count > 3 ? " and more" : "") uncovered; time-of-use periods must cover the whole day")
            return nil
        }
        return periods
    }

    /// Runs of minutes no period holds, as `start..<end`.
    private static func uncovered(_ owner: [Int?]) -> [Range<Int>] {
        var gaps: [Range<Int>] = []
        var start: Int?
        for minute in 0...DailyWindow.minutesPerDay {
            let free = minute < DailyWindow.minutesPerDay && owner[minute] == nil
            if free, start == nil { start = minute }
            if !free, let s = start {
                gaps.append(s..<minute)
                start = nil
            }
        }
        return gaps
    }

    /// `HH:MM` (or `H:MM`) of the local day, `24:00` only as an end.
    private static func decodeClock(_ node: YAMLNode, _ key: String, allowMidnightEnd: Bool, into d: inout ConfigDiagnostics) -> Int? {
        if !node.isNull, let minute = DailyWindow.minute((node.scalar ?? "")[...], oneDigitHour: true, isEnd: allowMidnightEnd) {
            return minute
        }
        d.report(node, "expected a time of day \"HH:MM\" for '\(key)' (00:00–\(allowMidnightEnd ? "24:00" : "23:59")), got \(describe(node))")
        return nil
    }

    /// A price per unit: 0 to 10,000 with at most 6 decimals.
    private static func decodePrice(_ node: YAMLNode, _ key: String, into d: inout ConfigDiagnostics) -> ExactDecimal? {
        guard let text = node.scalar, !node.isNull, let value = ExactDecimal(text) else {
            d.report(node, "expected a price for '\(key)', got \(describe(node))")
            return nil
        }
        guard value.signum >= 0, value.compare(LocalCostControl.maxPrice) <= 0 else {
            d.report(node, "price \(text) out of range 0–\(LocalCostControl.maxPrice)")
            return nil
        }
        guard value.normalized.fractionDigits <= LocalCostControl.priceDigits else {
            d.report(node, "price \(text) has more than \(LocalCostControl.priceDigits) decimals")
            return nil
        }
        return value.normalized
    }
}
