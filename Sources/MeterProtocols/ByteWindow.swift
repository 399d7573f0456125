/// The receive buffer of a stream decoder: bytes come in at the end and are consumed from `head`;
/// at most `capacity` unread bytes are kept (the oldest go first, counted as discarded), and the
/// consumed prefix is released in chunks instead of shifting the array on every byte.
struct ByteWindow: Sendable {
    let capacity: Int
    private(set) var bytes: [UInt8] = []
    /// Index in `bytes` of the first unread byte.
    private(set) var head = 0
    /// Bytes dropped unread: skipped while resynchronising, pushed out by overflow, or reset.
    private(set) var discarded = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Bytes received and not yet consumed or skipped.
    var count: Int { bytes.count - head }

    mutating func append(contentsOf new: some Sequence<UInt8>) {
        bytes.append(contentsOf: new)
        let excess = count - capacity
        if excess > 0 { skip(excess) } else { compact() }
    }

    /// A frame of `length` bytes was taken.
    mutating func consume(_ length: Int) {
        head += length
        compact()
    }

    /// `count` bytes are thrown away (garbage, a bad candidate's first byte).
    mutating func skip(_ count: Int) {
        head += count
        discarded += count
        compact()
    }

    /// Drops everything unread.
    mutating func reset() {
        discarded += count
        bytes.removeAll(keepingCapacity: true)
        head = 0
    }

    private mutating func compact() {
        if head == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 {
            bytes.removeFirst(head)
            head = 0
        }
    }
}
