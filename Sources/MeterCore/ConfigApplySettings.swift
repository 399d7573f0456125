/// How a new site config is taken into use by a running agent (`apply:`): `meteragent config
/// apply`, SIGHUP and a signed remote config all go through the same health check, and a config
/// that fails it is rolled back.
public struct ConfigApplySettings: Sendable, Hashable {
    /// Who may apply a config on the gateway itself (over the control socket).
    public enum LocalApply: String, Sendable, Hashable, CaseIterable {
        /// Whoever can reach the agent's control socket (its owner and root).
        case open
        /// Only root, or anyone while a technician's maintenance window is open (badge).
        case windowOrRoot = "window_or_root"
    }

    /// How long a new config has to prove itself: every bus open, enough devices answering.
    public var healthDeadlineSeconds = 60
    /// The share of the config's devices (in percent, rounded up) that must answer within the deadline.
    public var minAnsweringPercent = 50
    /// Configs kept in the history beside the config file (`config history`, `config rollback`).
    public var keep = 10
    public var local = LocalApply.open

    public init() {}

    /// Devices out of `total` that must answer.
    public func devicesThatMustAnswer(of total: Int) -> Int {
        (total * minAnsweringPercent + 99) / 100
    }
}
