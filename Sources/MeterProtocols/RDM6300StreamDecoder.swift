/// Turns the byte stream of an RDM6300-style reader into tags, whatever the chunks it arrives in.
///
/// A candidate frame starts at an `02`. It is given up as soon as one of its bytes cannot be
/// there (a non-hex digit, an `02` where a digit belongs, no `03` in the last place, a wrong
/// checksum), and the search goes on from the byte after its `02`: a good frame that follows
/// garbage or a truncated frame is never swallowed. Checking byte by byte as they arrive (not
/// only once 14 are there) is what lets a frame right behind a cut-off one come out at once.
///
/// `nextTag()` returns nil when more bytes are needed (the swift-nio decoder convention).
public struct RDM6300StreamDecoder: Sendable {
    private var window: ByteWindow

    /// Bytes thrown away while resynchronising (garbage, broken candidates, overflow).
    public var discardedBytes: Int { window.discarded }
    /// Candidates complete to their `03` whose checksum did not match.
    public private(set) var checksumErrors = 0
    /// Candidates given up for anything else (a bad digit, a missing `03`).
    public private(set) var malformedFrames = 0

    public init() {
        // Anything before an `02` is dropped at once, so one frame (and the chunk being read) is
        // all that is ever kept; the cap only guards against a caller that never asks for tags.
        window = ByteWindow(capacity: 4 * RDM6300Frame.length)
    }

    /// Bytes received and not yet returned as a tag or dropped.
    public var bufferedCount: Int { window.count }

    public mutating func append(_ bytes: [UInt8]) { window.append(contentsOf: bytes) }
    public mutating func append(_ bytes: ArraySlice<UInt8>) { window.append(contentsOf: bytes) }
    public mutating func append(_ byte: UInt8) { window.append(contentsOf: CollectionOfOne(byte)) }

    /// Drops everything buffered (a port that was reopened starts afresh).
    public mutating func reset() { window.reset() }

    public mutating func nextTag() -> EM4100Tag? {
        while window.count > 0 {
            let bytes = window.bytes
            let head = window.head
            guard let start = bytes[head...].firstIndex(of: RDM6300Frame.start) else {
                window.skip(window.count)
                return nil
            }
            if start > head { window.skip(start - head) }
            switch check(bytes, at: start) {
            case let .tag(tag):
                window.consume(RDM6300Frame.length)
                return tag
            case .needMore:
                return nil
            case .badChecksum:
                checksumErrors += 1
                window.skip(1)
            case .malformed:
                malformedFrames += 1
                window.skip(1)
            }
        }
        return nil
    }

    private enum Candidate {
        case tag(EM4100Tag)
        case needMore
        case badChecksum
        case malformed
    }

    private func check(_ bytes: [UInt8], at start: Int) -> Candidate {
        let available = min(bytes.count - start, RDM6300Frame.length)
        var values: [UInt8] = []
        values.reserveCapacity(6)
        var high: UInt8 = 0
        for offset in 1..<available {
            let byte = bytes[start + offset]
            if offset == RDM6300Frame.length - 1 {
                guard byte == RDM6300Frame.end else { return .malformed }
                continue
            }
            guard let nibble = Hex.nibble(byte) else { return .malformed }
            if offset % 2 == 1 { high = nibble } else { values.append(high << 4 | nibble) }
        }
        guard available == RDM6300Frame.length else { return .needMore }
        let tagBytes = Array(values[0..<EM4100Tag.byteCount])
        guard RDM6300Frame.checksum(tagBytes) == values[EM4100Tag.byteCount], let tag = EM4100Tag(bytes: tagBytes) else {
            return .badChecksum
        }
        return .tag(tag)
    }
}
