import CYAML

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

public enum YAMLParser {
    /// Parses the first document of `text`. `file` is only used in locations.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLNode {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw ConfigError(SourceLocation(file: file, line: 1, column: 1), "cannot initialise the YAML parser")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(ConfigError) -> YAMLNode in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(file: file)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let mark = parser.problem_mark
                    let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
                    let context = parser.context.map { " " + String(cString: $0) } ?? ""
                    throw ConfigError(SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1),
                                      "invalid YAML: \(problem)\(context)")
                }
                defer { yaml_event_delete(&event) }
                if let done = try builder.consume(&event) { return done }
            }
        }
    }

    /// Reads and parses a file; a missing or unreadable file is reported at line 1, column 1.
    public static func parse(contentsOf path: String) throws(ConfigError) -> YAMLNode {
        guard let text = readTextFile(path) else {
            throw ConfigError(SourceLocation(file: path, line: 1, column: 1), "cannot read file")
        }
        return try parse(text, file: path)
    }
}

/// Reads a whole file with plain libc so that MeterCore needs no Foundation.
public func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    if ferror(file) != 0 { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

private struct TreeBuilder {
    let file: String
    /// Open collections: their start location and children gathered so far.
    private var stack: [(location: SourceLocation, isMapping: Bool, children: [YAMLNode])] = []
    private var anchors: [String: YAMLNode] = [:]
    private var pendingAnchors: [String?] = []
    private var root: YAMLNode?

    init(file: String) { self.file = file }

    private func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1)
    }

    /// Returns the root once the first document ends (or the stream ends empty).
    mutating func consume(_ event: inout yaml_event_t) throws(ConfigError) -> YAMLNode? {
        let here = location(event.start_mark)
        switch event.type {
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
            let node = YAMLNode(kind: .scalar(text, plain: s.plain_implicit == 1), location: here)
            if let anchor = s.anchor { anchors[String(cString: anchor)] = node }
            add(node)
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard var node = anchors[name] else { throw ConfigError(here, "unknown alias '*\(name)'") }
            node.location = here
            add(node)
        case YAML_SEQUENCE_START_EVENT:
            pendingAnchors.append(event.data.sequence_start.anchor.map { String(cString: $0) })
            stack.append((here, false, []))
        case YAML_MAPPING_START_EVENT:
            pendingAnchors.append(event.data.mapping_start.anchor.map { String(cString: $0) })
            stack.append((here, true, []))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let open = stack.removeLast()
            let anchor = pendingAnchors.removeLast()
            let node: YAMLNode
            if open.isMapping {
                var entries: [YAMLNode.Entry] = []
                var i = 0
                while i + 1 < open.children.count {
                    entries.append(.init(key: open.children[i], value: open.children[i + 1]))
                    i += 2
                }
                node = YAMLNode(kind: .mapping(entries), location: open.location)
            } else {
                node = YAMLNode(kind: .sequence(open.children), location: open.location)
            }
            if let anchor { anchors[anchor] = node }
            add(node)
        case YAML_DOCUMENT_END_EVENT:
            return root ?? YAMLNode(kind: .scalar("", plain: true), location: here)
        case YAML_STREAM_END_EVENT:
            return root ?? YAMLNode(kind: .scalar("", plain: true), location: here)
        default:
            break
        }
        return nil
    }

    private mutating func add(_ node: YAMLNode) {
        if stack.isEmpty {
            root = node
        } else {
            stack[stack.count - 1].children.append(node)
        }
    }
}
