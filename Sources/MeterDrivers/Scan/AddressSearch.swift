/// What one read-address request with a (possibly abbreviated) address brought back.
public enum AddressProbe: Sendable, Hashable {
    /// Nothing, or a few bytes of noise: no meter there (at this rate).
    case silent
    /// One clean reply, from the meter with this wire address.
    case one([UInt8])
    /// Several meters answered at once: overlapping bytes, a bad checksum, or more than one frame.
    case collision
}

/// Finds every meter on a line of addressed meters (DL/T 645, CJ/T 188) by abbreviated
/// addressing: a request whose address has the wildcard `AA` in some bytes reaches every meter
/// whose other bytes match. All-`AA` asks everyone; when several answer, the lowest wire byte
/// (the last two digits of the written address) is fixed to each of 00…99 in turn with the rest
/// still `AA`, and where that collides again the next byte too, and so on. Each meter found
/// alone is confirmed at its full address, since overlapping replies can happen to pass a
/// checksum.
///
/// Pure logic: the probes are the caller's (`probe` sends one request and classifies what came
/// back, `confirm` asks one meter at its full address), so tests drive it without a line.
public struct AddressSearch {
    public static let wildcard: UInt8 = 0xAA
    /// Wire bytes of an address: 6 for DL/T 645, 7 for CJ/T 188.
    public let width: Int
    /// Called before the 100 probes of each narrowing step, so progress can grow its total.
    public var willNarrow: (_ probes: Int) -> Void = { _ in }

    public init(width: Int) { self.width = width }

    /// Every meter found, as wire addresses, in the order found.
    public func run(probe: ([UInt8]) -> AddressProbe, confirm: ([UInt8]) -> Bool) -> [[UInt8]] {
        narrow([], probe: probe, confirm: confirm)
    }

    private func narrow(_ fixed: [UInt8], probe: ([UInt8]) -> AddressProbe, confirm: ([UInt8]) -> Bool) -> [[UInt8]] {
        let pattern = fixed + [UInt8](repeating: Self.wildcard, count: width - fixed.count)
        switch probe(pattern) {
        case .silent:
            return []
        case let .one(address):
            if address.count == width, Self.matches(address, pattern), confirm(address) { return [address] }
        case .collision:
            break
        }
        guard fixed.count < width else { return [] }
        willNarrow(100)
        var found: [[UInt8]] = []
        for value in 0...99 {
            found += narrow(fixed + [UInt8((value / 10) << 4 | value % 10)], probe: probe, confirm: confirm)
        }
        return found
    }

    /// Whether a meter at `address` is reached by `pattern` (equal bytes or wildcards).
    static func matches(_ address: [UInt8], _ pattern: [UInt8]) -> Bool {
        zip(address, pattern).allSatisfy { $0 == $1 || $1 == wildcard }
    }
}
