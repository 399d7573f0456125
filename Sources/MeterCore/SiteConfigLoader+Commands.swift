#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProtocols

/// The optional `commands:` section: the head-end's public keys.
///
/// ```yaml
/// commands:
///   keys:
///     - {id: ops-1, ed25519: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=}   # `meteragent keys generate` prints this
///     - {id: ops-2, file: keys/ops-2.pem}                                    # or a PEM public key file
///   max_validity_s: 86400
/// ```
extension SiteConfigLoader {
    static let commandsKeys = ["keys", "max_validity_s"]
    static let commandKeyKeys = ["id", "ed25519", "file"]

    static func decodeCommands(_ node: YAMLNode, file: String, into d: inout ConfigDiagnostics) -> CommandSettings {
        var settings = CommandSettings()
        guard let m = d.mapping(node, what: "commands", allowed: commandsKeys) else { return settings }
        if m["max_validity_s"] != nil, let seconds = d.integer(m, "max_validity_s", range: 60...(86_400 * 31)) {
            settings.maxValiditySeconds = Int64(seconds)
        }
        var seen: [String: Int] = [:]
        for item in d.list(m, "keys") ?? [] {
            let label = item["id"]?.scalar.map { "key '\($0)'" } ?? "key"
            guard let k = d.mapping(item, what: label, allowed: commandKeyKeys, required: ["id"]) else { continue }
            guard let id = d.string(k, "id") else { continue }
            if !isPlainIdentifier(id) {
                d.report(k["id"]!, "invalid key id '\(id)' (use letters, digits, '.', '_', '-')")
                continue
            }
            if let line = seen[id] {
                d.report(k["id"]!, "duplicate key id '\(id)' (first at line \(line))")
                continue
            }
            seen[id] = k["id"]!.location.line
            switch (k["ed25519"], k["file"]) {
            case let (raw?, nil):
                guard let text = d.string(raw, "ed25519") else { continue }
                guard let bytes = Base64.decode(text), bytes.count == 32 else {
                    d.report(raw, "'ed25519' of key '\(id)' is not the base64 of a 32-byte public key (`meteragent keys generate` writes it to NAME.pub)")
                    continue
                }
                settings.keys.append(CommandKey(id: id, ed25519: bytes))
            case let (nil, pathNode?):
                guard let written = d.string(pathNode, "file") else { continue }
                let path = FilePaths.join(FilePaths.directory(of: file), written)
                guard let text = readTextFile(path) else {
                    let reason = String(cString: strerror(errno))
                    d.report(pathNode, "cannot read public key file '\(written)': \(reason) (looked at \(FilePaths.tidy(path)))")
                    continue
                }
                guard let bytes = Ed25519PEM.publicKey(text) else {
                    d.report(pathNode, "'\(written)' holds no Ed25519 public key (expected a PEM \"BEGIN PUBLIC KEY\" block)")
                    continue
                }
                settings.keys.append(CommandKey(id: id, ed25519: bytes))
            default:
                d.report(k.node, "\(label) needs exactly one of 'ed25519' and 'file'")
            }
        }
        return settings
    }
}

/// The raw key inside a PEM Ed25519 public key (SubjectPublicKeyInfo, RFC 8410): the DER is a
/// fixed 12-byte prefix and the 32 key bytes, so the site config can check it where it is written.
enum Ed25519PEM {
    static let prefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    static func publicKey(_ pem: String) -> [UInt8]? {
        let lines = pem.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { $0.trimmingSpaces }
        guard let begin = lines.firstIndex(of: "-----BEGIN PUBLIC KEY-----"),
              let end = lines[begin...].firstIndex(of: "-----END PUBLIC KEY-----"),
              let der = Base64.decode(lines[(begin + 1)..<end].joined()),
              der.count == prefix.count + 32, Array(der.prefix(prefix.count)) == prefix else { return nil }
        return Array(der.suffix(32))
    }
}

private extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
