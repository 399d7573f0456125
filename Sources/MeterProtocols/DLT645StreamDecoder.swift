/// What a stream decoder found: a frame, or a frame-shaped run of bytes that failed its checks.
public enum DLT645StreamItem: Sendable, Hashable {
    case frame(DLT645Frame)
    /// `68 A 68 C L …` with a bad checksum or end byte: the address and control it claimed, so a
    /// master can tell a corrupted reply from its meter apart from line noise.
    case corrupt(address: [UInt8], control: UInt8, error: DLT645Error)
}

/// Finds DL/T 645 frames in a byte stream that arrives in pieces: preamble `FE` bytes and garbage
/// before a frame are skipped, a frame split over many reads is completed, several frames in one
/// read come out one by one. Bytes `FE` and `16` inside a frame are data (the length field says
/// where a frame ends, never a search for 16).
///
/// Every `next()` either consumes at least one byte or returns nil ("need more"), so no input can
/// make it loop; the buffer is bounded by `capacity` (oldest bytes dropped).
public struct DLT645StreamDecoder: Sendable {
    private var window: ByteWindow
    private var buffer: [UInt8] { window.bytes }
    private var head: Int { window.head }
    /// Longest frame: 4 preamble + 12 + 255 data; twice that leaves room for a frame behind garbage.
    public var capacity: Int { window.capacity }

    public init(capacity: Int = 1024) {
        window = ByteWindow(capacity: max(capacity, 4 + DLT645Frame.overhead + 255))
    }

    public var bufferedCount: Int { window.count }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        window.append(contentsOf: bytes)
    }

    public mutating func append(_ byte: UInt8) { append(CollectionOfOne(byte)) }

    public mutating func reset() {
        window.reset()
    }

    /// The next frame or corrupt candidate, or nil when more bytes are needed.
    public mutating func next() -> DLT645StreamItem? {
        while true {
            // Skip to the next start byte: preamble FE and noise go.
            var skipped = 0
            while head + skipped < buffer.count, buffer[head + skipped] != DLT645Frame.start { skipped += 1 }
            window.skip(skipped)
            let available = window.count
            guard available >= 10 else { return nil }
            if buffer[head + 7] != DLT645Frame.start {
                window.skip(1)
                continue
            }
            let total = DLT645Frame.overhead + Int(buffer[head + 9])
            guard available >= total else { return nil }
            do throws(DLT645Error) {
                let (frame, length) = try DLT645Frame.decode(buffer, at: head)
                window.consume(length)
                return .frame(frame)
            } catch {
                let address = Array(buffer[(head + 1)...(head + 6)])
                let control = buffer[head + 8]
                // Resynchronise one byte on: a real frame may start inside the bad one.
                window.skip(1)
                return .corrupt(address: address, control: control, error: error)
            }
        }
    }

    /// The next valid frame, skipping corrupt candidates.
    public mutating func nextFrame() -> DLT645Frame? {
        while let item = next() {
            if case let .frame(frame) = item { return frame }
        }
        return nil
    }
}
