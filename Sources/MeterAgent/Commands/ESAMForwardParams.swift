import MeterCore
import MeterProtocols

/// `esam.forward`'s parameters: the frames the utility's encryption machine made, in the order
/// they go out, each as its control code and its data field before the +0x33 of the wire (the
/// agent adds the meter's address, the offset, length and checksum):
/// `{"frames":[{"control":"03","data":"FF000007…"},{"control":"1C","data":"96000000…"}]}`.
extension SignedCommand {
    /// An authentication and the commands it opens the session for: a few frames, no more.
    public static let maxESAMFrames = 4

    public func esamBlocks() throws(CommandEnvelope.Malformed) -> [ESAMBlock] {
        func bad(_ message: String) -> CommandEnvelope.Malformed { CommandEnvelope.Malformed(description: message, id: id) }
        let shape = "a list of {\"control\":\"03\",\"data\":\"<hex>\"}"
        guard let node = params?["frames"], !node.isNull else { throw bad("esam.forward needs params.frames, \(shape)") }
        guard case let .sequence(items) = node.kind, !items.isEmpty else { throw bad("params.frames must be \(shape), not empty") }
        guard items.count <= Self.maxESAMFrames else {
            throw bad("params.frames has \(items.count) frames; at most \(Self.maxESAMFrames) go out in one command")
        }
        var blocks: [ESAMBlock] = []
        for (index, item) in items.enumerated() {
            let what = "params.frames[\(index)]"
            guard case let .mapping(entries) = item.kind else { throw bad("\(what) must be an object with 'control' and 'data'") }
            if let extra = entries.first(where: { $0.key.scalar != "control" && $0.key.scalar != "data" }) {
                throw bad("\(what) has '\(extra.key.scalar ?? "?")'; a frame has only 'control' and 'data'")
            }
            // Every key is 'control' or 'data' (above), so distinct keys also mean at most two.
            guard Set(entries.compactMap(\.key.scalar)).count == entries.count else {
                throw bad("\(what) names 'control' or 'data' twice")
            }
            guard let controlText = Self.hexString(item["control"]), let control = Hex.parse(controlText), control.count == 1 else {
                throw bad("\(what).control must be a control code as 2 hex digits in a string (\"03\", \"1C\")")
            }
            guard let dataText = Self.hexString(item["data"]), let data = Hex.parse(dataText) else {
                throw bad("\(what).data must be hex digits in a string (the data field before +0x33)")
            }
            if let problem = DLT645Security.problem(control: control[0], data: data) { throw bad("\(what): \(problem)") }
            blocks.append(ESAMBlock(control: control[0], data: data))
        }
        return blocks
    }

    /// The text of a JSON string; nil for a number, a list or nothing.
    private static func hexString(_ node: YAMLNode?) -> String? {
        guard let node, case let .scalar(text, plain: false) = node.kind else { return nil }
        return text
    }
}
