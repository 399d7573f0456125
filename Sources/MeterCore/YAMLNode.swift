/// A YAML document as a tree whose every node remembers where it was written, so that config
/// errors can name file, line and column. Anchors and aliases are resolved; tags are ignored.
public struct YAMLNode: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case scalar(String, plain: Bool)
        case sequence([YAMLNode])
        case mapping([Entry])
    }

    public struct Entry: Sendable, Hashable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

    public var kind: Kind
    public var location: SourceLocation

    public var scalar: String? {
        if case let .scalar(s, _) = kind { return s }
        return nil
    }

    /// A plain scalar `~`, `null` or empty, as YAML reads it.
    public var isNull: Bool {
        if case let .scalar(s, plain) = kind { return plain && (s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL") }
        return false
    }

    public var kindName: String {
        switch kind {
        case .scalar: isNull ? "null" : "scalar"
        case .sequence: "list"
        case .mapping: "mapping"
        }
    }

    /// The value of `key` in a mapping.
    public subscript(key: String) -> YAMLNode? {
        guard case let .mapping(entries) = kind else { return nil }
        return entries.first { $0.key.scalar == key }?.value
    }
}
