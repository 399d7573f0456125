import MeterCore
import MeterProtocols

/// A command envelope from `<prefix>/cmd`, as far as it can be read before the signature is
/// checked: `{"key":"ops-1","payload":"<base64 of the command JSON>","sig":"<base64 Ed25519>"}`.
public struct CommandEnvelope: Sendable {
    public var key: String
    /// The exact bytes that were signed.
    public var payload: [UInt8]
    public var signature: [UInt8]

    /// What is wrong with a message that is not an envelope.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public var description: String
        /// The command's id, when the payload is readable enough to have one (not verified).
        public var id: String?
    }

    public init(key: String, payload: [UInt8], signature: [UInt8]) {
        self.key = key
        self.payload = payload
        self.signature = signature
    }

    public init(message: [UInt8]) throws(Malformed) {
        let root = try JSONObject(message, what: "envelope")
        key = try root.string("key")
        guard let payload = Base64.decode(try root.string("payload")) else {
            throw Malformed(description: "envelope: 'payload' is not base64")
        }
        guard let signature = Base64.decode(try root.string("sig")) else {
            throw Malformed(description: "envelope: 'sig' is not base64", id: SignedCommand.unverifiedID(payload))
        }
        self.payload = payload
        self.signature = signature
    }
}

/// The command a verified envelope carries.
public struct SignedCommand: Sendable {
    public var id: String
    public var gateway: String
    public var device: String
    public var action: String
    /// `params` as written (a mapping), nil when absent.
    public var params: YAMLNode?
    public var issuedAt: Int64
    public var expiresAt: Int64

    public init(payload: [UInt8]) throws(CommandEnvelope.Malformed) {
        let root = try JSONObject(payload, what: "payload")
        id = try root.string("id")
        guard id.utf8.count <= 128 else { throw CommandEnvelope.Malformed(description: "payload: 'id' is longer than 128 bytes") }
        gateway = try root.string("gateway")
        device = try root.string("device")
        action = try root.string("action")
        issuedAt = try root.integer("issued_at")
        expiresAt = try root.integer("expires_at")
        if let params = root.node("params"), !params.isNull {
            guard case .mapping = params.kind else {
                throw CommandEnvelope.Malformed(description: "payload: 'params' must be an object", id: id)
            }
            self.params = params
        } else {
            params = nil
        }
    }

    /// The id of a payload that may not be trusted yet, for the result of a rejected message.
    static func unverifiedID(_ payload: [UInt8]) -> String? {
        guard let root = try? JSONObject(payload, what: "payload"), let id = try? root.string("id"), id.utf8.count <= 128 else { return nil }
        return id
    }

    /// A number in `params` (`{"kw": 5.5}`), nil when absent; throws when it is not a number.
    public func decimalParameter(_ name: String) throws(CommandEnvelope.Malformed) -> ExactDecimal? {
        guard let node = params?[name], !node.isNull else { return nil }
        guard let text = node.scalar, case .scalar(_, plain: true) = node.kind, let value = ExactDecimal(text) else {
            throw CommandEnvelope.Malformed(description: "params.\(name) must be a number", id: id)
        }
        return value
    }

    /// A list of strings in `params` (`{"points": ["energy.total"]}`), nil when absent.
    public func stringsParameter(_ name: String) throws(CommandEnvelope.Malformed) -> [String]? {
        guard let node = params?[name], !node.isNull else { return nil }
        guard case let .sequence(items) = node.kind else {
            throw CommandEnvelope.Malformed(description: "params.\(name) must be a list of strings", id: id)
        }
        var strings: [String] = []
        for item in items {
            guard let text = item.scalar, case .scalar(_, plain: false) = item.kind else {
                throw CommandEnvelope.Malformed(description: "params.\(name) must be a list of strings", id: id)
            }
            strings.append(text)
        }
        return strings
    }
}

/// A JSON object read with the site config's parser (libyaml reads JSON, which is YAML's flow
/// style), so that commands need no second parser. Strings must be JSON strings (quoted), numbers
/// plain integers.
struct JSONObject {
    let entries: [String: YAMLNode]
    let what: String

    init(_ bytes: [UInt8], what: String, maxBytes: Int = 64 * 1024) throws(CommandEnvelope.Malformed) {
        self.what = what
        guard bytes.count <= maxBytes else { throw CommandEnvelope.Malformed(description: "\(what) is larger than \(maxBytes / 1024) KiB") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CommandEnvelope.Malformed(description: "\(what) is not UTF-8")
        }
        // A JSON document starts with `{`; anything else (a YAML block mapping, a bare word) is
        // not what was asked for, even if libyaml could read it.
        guard text.utf8.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "{") else {
            throw CommandEnvelope.Malformed(description: "\(what) is not a JSON object")
        }
        let root: YAMLNode
        do {
            root = try YAMLParser.parse(text, file: what)
        } catch {
            throw CommandEnvelope.Malformed(description: "\(what) is not valid JSON: \(error.message) at column \(error.location.column)")
        }
        guard case let .mapping(pairs) = root.kind else { throw CommandEnvelope.Malformed(description: "\(what) is not a JSON object") }
        var entries: [String: YAMLNode] = [:]
        for pair in pairs {
            guard let key = pair.key.scalar else { throw CommandEnvelope.Malformed(description: "\(what) has a key that is not a string") }
            guard entries[key] == nil else { throw CommandEnvelope.Malformed(description: "\(what) has '\(key)' twice") }
            entries[key] = pair.value
        }
        self.entries = entries
    }

    func node(_ key: String) -> YAMLNode? { entries[key] }

    func string(_ key: String) throws(CommandEnvelope.Malformed) -> String {
        guard let node = entries[key] else { throw CommandEnvelope.Malformed(description: "\(what): missing '\(key)'") }
        guard case let .scalar(text, plain: false) = node.kind, !text.isEmpty else {
            throw CommandEnvelope.Malformed(description: "\(what): '\(key)' must be a non-empty string")
        }
        return text
    }

    func integer(_ key: String) throws(CommandEnvelope.Malformed) -> Int64 {
        guard let node = entries[key] else { throw CommandEnvelope.Malformed(description: "\(what): missing '\(key)'") }
        guard case let .scalar(text, plain: true) = node.kind, let value = Int64(text) else {
            throw CommandEnvelope.Malformed(description: "\(what): '\(key)' must be an integer (Unix seconds)")
        }
        return value
    }
}
