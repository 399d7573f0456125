import MeterCore
import MeterProtocols

/// Checks a signature over exact bytes with a head-end key (OpenSSL's Ed25519 in the agent; a
/// stand-in in unit tests of the checks' order).
public protocol SignatureChecking: Sendable {
    func isValid(signature: [UInt8], over message: [UInt8], key: CommandKey) -> Bool
}

/// What a command becomes on a device once every check has passed.
public enum CommandPlan: Sendable, Hashable {
    /// A state change through the device's driver, confirmed by its read-back.
    case meter(MeterCommand)
    /// An immediate read of these points (all of the profile's when nil).
    case read([PointName]?)
    /// The meter's clock set to this UTC time (Unix seconds), or to the gateway's clock when it runs.
    case syncClock(utcSeconds: Int64?)
    /// Local cost control (`CommandGate+Prepaid`): add this amount to the device's balance …
    case credit(ExactDecimal)
    /// … or charge its consumption at this tariff from now on.
    case tariff(Tariff)
    /// A change of the card authorization list (`CommandGate+Cards`), checked against the stored
    /// version when it is carried out.
    case authorizations(AuthorizationChange)
}

/// The checks of DESIGN.md "Two-way service: commands", in their order. The ones that need no
/// store run in `authenticate` (envelope, key, signature, payload, gateway, validity); the command
/// log's "id already seen" comes next (in `CommandService`); `plan` then checks the device, the
/// action, protection and parameters.
public struct CommandGate: Sendable {
    public struct Rejection: Error, Sendable {
        public var reason: CommandReason
        public var message: String
        /// The command's id when known (from an authenticated payload, or read from one that is not).
        public var id: String?
        public var command: SignedCommand?
    }

    public let site: SiteConfig
    public let signatures: any SignatureChecking
    /// How far ahead of the gateway's clock `issued_at` may lie (clocks of head-end and gateway differ).
    public let clockSkewSeconds: Int64

    public init(site: SiteConfig, signatures: any SignatureChecking, clockSkewSeconds: Int64 = 60) {
        self.site = site
        self.signatures = signatures
        self.clockSkewSeconds = clockSkewSeconds
    }

    public func authenticate(_ message: [UInt8], nowSeconds: Int64) -> Result<SignedCommand, Rejection> {
        let envelope: CommandEnvelope
        do throws(CommandEnvelope.Malformed) {
            envelope = try CommandEnvelope(message: message)
        } catch {
            return .failure(Rejection(reason: .malformed, message: error.description, id: error.id))
        }
        // The payload is parsed once: for its id only when the message is refused before that.
        guard let key = site.commands.key(envelope.key) else {
            let known = site.commands.keys.map(\.id)
            return .failure(Rejection(reason: .unknownKey, message: "no key '\(envelope.key)' in the site config"
                                      + (known.isEmpty ? " (no keys configured)" : " (keys: \(known.joined(separator: ", ")))"),
                                      id: SignedCommand.unverifiedID(envelope.payload)))
        }
        guard signatures.isValid(signature: envelope.signature, over: envelope.payload, key: key) else {
            return .failure(Rejection(reason: .badSignature, message: "signature does not verify with key '\(key.id)'",
                                      id: SignedCommand.unverifiedID(envelope.payload)))
        }
        let command: SignedCommand
        do throws(CommandEnvelope.Malformed) {
            command = try SignedCommand(payload: envelope.payload)
        } catch {
            return .failure(Rejection(reason: .malformed, message: error.description, id: error.id ?? SignedCommand.unverifiedID(envelope.payload)))
        }
        func reject(_ reason: CommandReason, _ message: String) -> Result<SignedCommand, Rejection> {
            .failure(Rejection(reason: reason, message: message, id: command.id, command: command))
        }
        guard command.gateway == site.gatewayID else {
            return reject(.otherGateway, "command is for gateway '\(command.gateway)', this is '\(site.gatewayID)'")
        }
        guard command.expiresAt > command.issuedAt else {
            return reject(.malformed, "expires_at \(command.expiresAt) is not after issued_at \(command.issuedAt)")
        }
        guard command.issuedAt <= nowSeconds + clockSkewSeconds else {
            return reject(.notYetValid, "issued_at \(command.issuedAt) is \(command.issuedAt - nowSeconds) s ahead of the gateway's clock")
        }
        guard command.expiresAt > nowSeconds else {
            return reject(.expired, "expired \(nowSeconds - command.expiresAt) s ago (expires_at \(command.expiresAt))")
        }
        guard command.expiresAt - command.issuedAt <= site.commands.maxValiditySeconds else {
            return reject(.validityTooLong, "valid for \(command.expiresAt - command.issuedAt) s; this gateway accepts at most \(site.commands.maxValiditySeconds) s")
        }
        return .success(command)
    }

    public func plan(_ command: SignedCommand) -> Result<CommandPlan, Rejection> {
        func reject(_ reason: CommandReason, _ message: String) -> Result<CommandPlan, Rejection> {
            .failure(Rejection(reason: reason, message: message, id: command.id, command: command))
        }
        if command.action == CommandAction.authlistUpdate.rawValue { return planAuthorizations(command) }
        guard let device = site.device(DeviceID(command.device)) else {
            return reject(.unknownDevice, "no device '\(command.device)' on this gateway")
        }
        guard let action = CommandAction(rawValue: command.action) else {
            return reject(.unsupportedAction, "unknown action '\(command.action)' (actions: \(CommandAction.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if action == .readNow {
            let names: [String]?
            do throws(CommandEnvelope.Malformed) {
                names = try command.stringsParameter("points")
            } catch {
                return reject(.badParams, error.description)
            }
            guard let names else { return .success(.read(nil)) }
            let unknown = names.filter { !device.profile.pointNames.contains(PointName($0)) }
            guard unknown.isEmpty else {
                return reject(.badParams, "device '\(device.id)' has no point \(unknown.map { "'\($0)'" }.joined(separator: ", "))")
            }
            return .success(.read(names.map { PointName($0) }))
        }
        if action == .creditAdd || action == .tariffSet { return planPrepaid(action, command, device: device) }
        guard let mapping = device.profile.actions[action] else {
            let supported = [CommandAction.readNow.rawValue] + device.profile.actions.keys.map(\.rawValue).sorted()
            return reject(.unsupportedAction, "device '\(device.id)' (profile '\(device.profile.name)') does not support \(action.rawValue) (it supports: \(supported.joined(separator: ", ")))")
        }
        if action.disconnects && device.protected {
            return reject(.protectedDevice, "device '\(device.id)' is protected: it is never disconnected remotely")
        }
        switch mapping {
        case .relay, .valve, .write:
            // A relay code, a valve or a fixed write: nothing more to check.
            guard let fixed = mapping.fixedCommand else { return reject(.unsupportedAction, "\(action.rawValue) has no meter command") }
            return .success(.meter(fixed))
        case let .writeParameter(point, parameter):
            let value: ExactDecimal?
            do throws(CommandEnvelope.Malformed) {
                value = try command.decimalParameter(parameter.name)
            } catch {
                return reject(.badParams, error.description)
            }
            guard let value else { return reject(.badParams, "\(action.rawValue) needs params.\(parameter.name) (\(parameter.rangeText))") }
            guard parameter.allows(value) else {
                return reject(.badParams, "params.\(parameter.name) \(value) is outside \(parameter.rangeText)")
            }
            return .success(.meter(.write(point: point, value: value)))
        case .clockBroadcast:
            let at: ExactDecimal?
            do throws(CommandEnvelope.Malformed) {
                at = try command.decimalParameter("time")
            } catch {
                return reject(.badParams, error.description)
            }
            guard let at else { return .success(.syncClock(utcSeconds: nil)) }
            guard at.exponent >= 0, at.doubleValue > 946_684_800, at.doubleValue < 4_102_444_800 else {
                return reject(.badParams, "params.time must be whole Unix seconds between 2000 and 2100")
            }
            return .success(.syncClock(utcSeconds: Int64(at.doubleValue)))
        case .esamForward:
            let blocks: [ESAMBlock]
            do throws(CommandEnvelope.Malformed) {
                blocks = try command.esamBlocks()
            } catch {
                return reject(.badParams, error.description)
            }
            // The agent cannot read an encrypted relay command: any of them may be a trip. (Checked
            // after the parameters, as only they say whether one is among the frames.)
            if device.protected, blocks.contains(where: { $0.control == DLT645Control.relayControl.rawValue }) {
                return reject(.protectedDevice, "device '\(device.id)' is protected: an encrypted relay command (0x1C) may be a trip, so none is forwarded")
            }
            return .success(.meter(.esamForward(blocks)))
        }
    }
}
