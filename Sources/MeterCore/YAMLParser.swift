import CYAML

public enum YAMLParser {
    /// Parses the first document of `text`. `file` is only used in locations.
    ///
    /// libyaml keeps addresses between calls: `yaml_parser_set_input_string` stores a pointer to the
    /// parser itself (its read handler's data) and to the input bytes, and every `yaml_parser_parse`
    /// reads through them. So the parser and a copy of the input live at fixed heap addresses from
    /// before the first call until after `yaml_parser_delete` (a Swift `&local` is valid for one call
    /// only). An event is not kept: libyaml fills it and forgets its address, so it stays a local.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLNode {
        // Never empty: libyaml wants a non-null input even for "" (count 0 is passed below).
        let utf8 = text.utf8
        let input = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(utf8.count, 1))
        _ = input.initialize(fromContentsOf: utf8)
        defer { input.deallocate() }

        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        parser.initialize(to: yaml_parser_t())
        defer {
            parser.deinitialize(count: 1)
            parser.deallocate()
        }
        guard yaml_parser_initialize(parser) == 1 else {
            // libyaml has already freed what it allocated.
            throw ConfigError(SourceLocation(file: file, line: 1, column: 1), "cannot initialise the YAML parser")
        }
        defer { yaml_parser_delete(parser) }

        yaml_parser_set_input_string(parser, input.baseAddress, utf8.count)
        var builder = TreeBuilder(file: file)
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(parser, &event) == 1 else {
                let mark = parser.pointee.problem_mark
                let problem = parser.pointee.problem.map { String(cString: $0) } ?? "syntax error"
                let context = parser.pointee.context.map { " " + String(cString: $0) } ?? ""
                throw ConfigError(SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1),
                                  "invalid YAML: \(problem)\(context)")
            }
            defer { yaml_event_delete(&event) }
            if let done = try builder.consume(&event) { return done }
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
