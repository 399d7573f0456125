import MeterCore
import MeterProtocols
import MeterStore

/// Accounts to and from the store's rows: decimals as their exact text, the tariff override as
/// the JSON `tariff.set` takes (read back through the same checks).
extension PrepaidAccount {
    /// nil when the row holds something this agent cannot read (then the device is not charged
    /// rather than charged from a guess).
    init?(row: PrepaidAccountRow) {
        guard let balance = ExactDecimal(row.balance) else { return nil }
        self.init(balance: balance)
        if let text = row.reading {
            guard let reading = ExactDecimal(text) else { return nil }
            self.reading = reading
            readingMs = row.readingMs
        }
        disconnected = row.disconnected
        lowCredit = row.lowCredit
        exhausted = row.exhausted
        if let json = row.tariff {
            guard let node = try? YAMLParser.parse(json, file: "tariff"),
                  case let .success(tariff) = SiteConfigLoader.tariff(fromParams: node) else { return nil }
            tariffOverride = tariff
        }
        if let text = row.eventBalance {
            eventBalance = ExactDecimal(text)
            eventMs = row.eventMs
        }
    }
}

extension PrepaidLedger {
    func row(updatedMs: Int64) -> PrepaidAccountRow {
        PrepaidAccountRow(device: device.rawValue, balance: account.balance.description, reading: account.reading?.description,
                          readingMs: account.readingMs, disconnected: account.disconnected, lowCredit: account.lowCredit,
                          exhausted: account.exhausted, tariff: account.tariffOverride?.json,
                          eventBalance: account.eventBalance?.description, eventMs: account.eventMs, updatedMs: updatedMs)
    }
}
