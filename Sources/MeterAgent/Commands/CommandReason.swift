/// Why a command was not carried out, as the head-end reads it in a result's `reason`. The checks
/// run in the order of the cases up to `badParams`; the others come from carrying it out.
public enum CommandReason: String, Sendable, Hashable, CaseIterable {
    /// Not an envelope, or a payload that is not a command (missing or wrong fields).
    case malformed
    case unknownKey = "unknown_key"
    case badSignature = "bad_signature"
    /// Signed for another gateway.
    case otherGateway = "other_gateway"
    case notYetValid = "not_yet_valid"
    case expired
    /// `expires_at` further from `issued_at` than the site's `commands.max_validity_s`.
    case validityTooLong = "validity_too_long"
    case unknownDevice = "unknown_device"
    case unsupportedAction = "unsupported_action"
    /// The device is marked `protected: true`: never disconnected remotely.
    case protectedDevice = "protected_device"
    case badParams = "bad_params"
    /// A `config` message to an agent that runs without a config file to apply it to.
    case notSupported = "not_supported"

    /// Too many commands are already waiting for this device.
    case deviceBusy = "device_busy"
    /// The meter answered with a refusal (wrong password, not allowed in plaintext, exception).
    case meterRefused = "meter_refused"
    /// No valid reply from the meter (timeout, checksum errors, bus down).
    case noReply = "no_reply"
    /// The meter took the command but the read-back shows another state, or could not be read.
    case notConfirmed = "not_confirmed"
    /// The agent stopped while running the command: it is never run again; the state is unknown.
    case interrupted
    /// `authlist.update` with a version not newer than the gateway's list.
    case staleVersion = "stale_version"
    /// An `authlist.update` delta made against another version than the gateway's list.
    case wrongBase = "wrong_base"
    /// `config.apply`: the config does not validate (the message has every error with line:column).
    case invalidConfig = "invalid_config"
    /// `config.apply`: the store section changed, which only a restart of the agent takes.
    case needsRestart = "needs_restart"
    /// `config.apply`: the new config failed its health check and was rolled back.
    case healthCheckFailed = "health_check_failed"
    /// `config.apply`: the new config's buses or drivers could not be set up; rolled back.
    case startFailed = "start_failed"
    /// `config.apply`: the agent stopped during the apply; the previous config stays.
    case stopping

    /// Rejections decided before the signature is known good: anyone can cause them, so they are
    /// rate-limited instead of each becoming a stored result.
    public var unauthenticated: Bool {
        self == .malformed || self == .unknownKey || self == .badSignature
    }
}
