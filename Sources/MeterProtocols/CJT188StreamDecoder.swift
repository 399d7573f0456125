/// Splits a serial byte stream into CJ/T 188 frames, whatever the chunks it arrives in.
///
/// Preamble `FE` bytes and any other garbage before a `68` are skipped; a candidate frame is
/// accepted only when its `16` and checksum line up, otherwise the decoder moves one byte on
/// and looks for the next `68`. A `68` in garbage can announce a long frame (L up to 255); if a
/// complete valid frame already sits further on in the buffer, the announced one was garbage and
/// is skipped instead of waited for. The buffer is bounded: older bytes beyond `capacity` are
/// dropped and counted.
///
/// `nextFrame()` returns nil when more bytes are needed (the swift-nio decoder convention).
public struct CJT188StreamDecoder: Sendable {
    private var window: ByteWindow
    private var buffer: [UInt8] { window.bytes }
    private var head: Int { window.head }

    public var capacity: Int { window.capacity }
    /// Bytes thrown away while resynchronising (preamble, garbage, bad frames, overflow).
    public var discardedBytes: Int { window.discarded }
    /// Candidates whose `16` was in place but whose checksum did not match.
    public private(set) var checksumErrors = 0

    public init(capacity: Int = 4 * CJT188Frame.maxLength) {
        window = ByteWindow(capacity: max(capacity, CJT188Frame.maxLength + 8))
    }

    /// Bytes received but not yet returned as a frame.
    public var bufferedCount: Int { window.count }

    public mutating func append(_ bytes: [UInt8]) {
        window.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        window.append(contentsOf: bytes)
    }

    public mutating func append(_ byte: UInt8) {
        window.append(contentsOf: CollectionOfOne(byte))
    }

    /// Drops everything buffered, e.g. before a new request so a late reply cannot be taken
    /// for the answer to it.
    public mutating func reset() {
        window.reset()
    }

    public mutating func nextFrame() -> CJT188Frame? {
        while head < buffer.count {
            guard let start = nextStart(from: head) else {
                drop(buffer.count - head)
                return nil
            }
            if start > head { drop(start - head) }
            switch check(at: head) {
            case let .frame(frame, length):
                window.consume(length)
                return frame
            case .invalid:
                drop(1)
            case .needMore:
                if let later = completeFrameStart(after: head) {
                    drop(later - head)
                    continue
                }
                return nil
            }
        }
        return nil
    }

    private enum Candidate {
        case frame(CJT188Frame, Int)
        case needMore
        case invalid
    }

    private mutating func check(at offset: Int) -> Candidate {
        let available = buffer.count - offset
        guard available >= 11 else { return .needMore }
        let length = CJT188Frame.overhead + Int(buffer[offset + 10])
        guard available >= length else { return .needMore }
        guard buffer[offset + length - 1] == CJT188Frame.end else { return .invalid }
        do throws(CJT188Error) {
            let (frame, decodedLength) = try CJT188Frame.decode(buffer, at: offset)
            return .frame(frame, decodedLength)
        } catch {
            if case .badChecksum = error { checksumErrors += 1 }
            return .invalid
        }
    }

    private func nextStart(from offset: Int) -> Int? {
        var i = offset
        while i < buffer.count {
            if buffer[i] == CJT188Frame.start { return i }
            i += 1
        }
        return nil
    }

    /// The first `68` after `offset` where a whole valid frame is already buffered.
    private func completeFrameStart(after offset: Int) -> Int? {
        var i = offset + 1
        while let start = nextStart(from: i) {
            let available = buffer.count - start
            if available >= CJT188Frame.overhead {
                let length = CJT188Frame.overhead + Int(buffer[start + 10])
                if available >= length, buffer[start + length - 1] == CJT188Frame.end,
                   CJT188Frame.checksum(buffer[start..<(start + length - 2)]) == buffer[start + length - 2] {
                    return start
                }
            }
            i = start + 1
        }
        return nil
    }

    private mutating func drop(_ count: Int) {
        window.skip(count)
    }
}
