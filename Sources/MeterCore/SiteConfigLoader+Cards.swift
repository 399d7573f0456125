#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProtocols

/// The optional `cards:` section.
///
/// ```yaml
/// cards:
///   id_privacy: hash                  # hash (default) | mask | clear
///   hash_key_file: keys/card-id.key   # 64 hex digits (`openssl rand -hex 32`), mode 600; needed for hash
///   maintenance_window_s: 1800
///   session_max_s: 14400              # optional
/// ```
extension SiteConfigLoader {
    static let cardsKeys = ["id_privacy", "hash_key_file", "maintenance_window_s", "session_max_s"]

    static func decodeCards(_ node: YAMLNode, file: String, into d: inout ConfigDiagnostics) -> CardSettings {
        var settings = CardSettings()
        guard let m = d.mapping(node, what: "cards", allowed: cardsKeys) else { return settings }
        if m["id_privacy"] != nil, let privacy = d.choice(m, "id_privacy", as: CardIDPrivacy.self, label: "id_privacy") {
            settings.idPrivacy = privacy
        }
        if m["maintenance_window_s"] != nil, let seconds = d.integer(m, "maintenance_window_s", range: 10...86_400) {
            settings.maintenanceWindowSeconds = seconds
        }
        if m["session_max_s"] != nil, let seconds = d.integer(m, "session_max_s", range: 10...(86_400 * 7)) {
            settings.sessionMaxSeconds = seconds
        }
        if let pathNode = m["hash_key_file"], let written = d.string(m, "hash_key_file") {
            let path = FilePaths.join(FilePaths.directory(of: file), written)
            switch readHashKey(path) {
            case let .success(key): settings.hashKey = key
            case let .failure(problem): d.report(pathNode, "hash_key_file '\(written)' (\(FilePaths.tidy(path))): \(problem.description)")
            }
        } else if m["hash_key_file"] == nil, settings.idPrivacy == .hash {
            let at = m["id_privacy"] ?? node
            d.report(at, "cards: id_privacy hash needs hash_key_file (a secret key: `openssl rand -hex 32 > card-id.key; chmod 600 card-id.key`); or set id_privacy: mask")
        }
        return settings
    }

    /// The key in a key file: 64 or more hex digits on one line, in a file only its owner can read
    /// (the key is what keeps hashed ids from being matched by anyone who reads the events).
    static func readHashKey(_ path: String) -> Result<[UInt8], CardIDError> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(CardIDError("cannot read it")) }
        if info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            return .failure(CardIDError("is readable by others (mode \(mode)); chmod 600 it"))
        }
        guard let text = readTextFile(path) else { return .failure(CardIDError("cannot read it")) }
        let hex = String(text.filter { !$0.isWhitespace })
        guard hex.utf8.count % 2 == 0, let key = Hex.parse(hex), !key.isEmpty else {
            return .failure(CardIDError("does not hold a key in hex (make one with `openssl rand -hex 32`)"))
        }
        guard key.count >= CardSettings.minimumKeyBytes else {
            return .failure(CardIDError("holds \(key.count) bytes; a card-id key needs at least \(CardSettings.minimumKeyBytes) (64 hex digits)"))
        }
        return .success(key)
    }
}
