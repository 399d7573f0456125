import MeterCore
import MeterProtocols

/// `credit.add` and `tariff.set`: actions of the agent itself, for devices under local cost
/// control (`cost_control: {mode: local, …}`); anywhere else they are `unsupported_action` — with
/// `cost_control: remote` the head-end keeps the balance.
extension CommandGate {
    func planPrepaid(_ action: CommandAction, _ command: SignedCommand, device: DeviceConfig) -> Result<CommandPlan, Rejection> {
        func reject(_ reason: CommandReason, _ message: String) -> Result<CommandPlan, Rejection> {
            .failure(Rejection(reason: reason, message: message, id: command.id, command: command))
        }
        guard let settings = device.costControl?.local else {
            let why = device.costControl == .remote
                ? "runs cost_control: remote (the head-end keeps its balance)"
                : "has no local cost control (cost_control: {mode: local, …} in the site config)"
            return reject(.unsupportedAction, "device '\(device.id)' \(why); \(action.rawValue) is not carried out by this gateway")
        }
        switch action {
        case .creditAdd:
            let amount: ExactDecimal?
            do throws(CommandEnvelope.Malformed) {
                amount = try command.decimalParameter("amount")
            } catch {
                return reject(.badParams, error.description)
            }
            guard let amount else { return reject(.badParams, "credit.add needs params.amount (more than 0, at most \(settings.maxCredit))") }
            guard amount.isPositive else { return reject(.badParams, "params.amount \(amount) must be more than 0") }
            guard amount.compare(settings.maxCredit) <= 0 else {
                return reject(.badParams, "params.amount \(amount) is more than this device's max_credit \(settings.maxCredit)")
            }
            if let problem = SiteConfigLoader.amountProblem(amount, minimum: nil) {
                return reject(.badParams, "params.amount \(amount) \(problem)")
            }
            return .success(.credit(amount.normalized))
        default:
            guard let params = command.params else {
                return reject(.badParams, "tariff.set needs params {\"flat\": PRICE} or {\"periods\": [{\"from\": \"HH:MM\", \"to\": \"HH:MM\", \"price\": PRICE}, …]}")
            }
            switch SiteConfigLoader.tariff(fromParams: params) {
            case let .success(tariff): return .success(.tariff(tariff))
            case let .failure(error): return reject(.badParams, "params: " + error.message)
            }
        }
    }
}
