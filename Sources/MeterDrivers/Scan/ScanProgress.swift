/// How far a scan has got and how long the rest should take: probes done and to do, and the time
/// spent so far. The remaining time assumes the probes left cost what the ones done did on
/// average (most cost a timeout).
public struct ScanProgress: Sendable, Hashable {
    public var done = 0
    public var total: Int
    public var elapsedSeconds = 0.0

    public init(total: Int) { self.total = total }

    public var fraction: Double { total == 0 ? 1 : min(1, Double(done) / Double(total)) }

    /// Seconds still to go; nil before the first probe has finished.
    public var remainingSeconds: Double? {
        guard done > 0 else { return nil }
        return elapsedSeconds / Double(done) * Double(max(0, total - done))
    }

    /// `[########------------]  40%  ~1m 05s left  9600 8N1 modbus unit 17` in `width` bar cells.
    public func bar(width: Int = 24, label: String) -> String {
        let filled = Int((fraction * Double(width)).rounded(.down))
        let percent = Int((fraction * 100).rounded(.down))
        let left = remainingSeconds.map { "~\(Self.duration($0)) left" } ?? "estimating"
        let padded = String(repeating: " ", count: max(0, 3 - String(percent).count)) + "\(percent)%"
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] \(padded)  \(left)  \(label)"
    }

    /// `45s`, `3m 07s`, `1h 02m`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m " + (s % 60 < 10 ? "0" : "") + "\(s % 60)s" }
        return "\(s / 3600)h " + (s % 3600 / 60 < 10 ? "0" : "") + "\(s % 3600 / 60)m"
    }
}
