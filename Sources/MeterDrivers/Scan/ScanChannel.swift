import MeterCore
import MeterIO

/// One port opened at one baud rate and parity for a scan: writes a probe and collects what comes
/// back. Blocking; lives on the scan's dedicated thread.
///
/// Timeouts scale with the rate: a first byte is awaited for the request's own time on the wire
/// plus a few characters plus the meter's turnaround; after that the reply ends at a silence of
/// 20 characters (at least 20 ms), or as soon as `complete` says it is whole, and at the latest
/// after `maxReplyBytes` or the time 4 such replies take: a line with other traffic on it (another
/// master, a device that streams) ends the probe instead of holding the scan.
final class ScanChannel {
    let settings: SerialSettings
    private let port: SerialPort
    private let turnaroundMs: Int

    init(port: String, settings: SerialSettings, turnaroundMs: Int) throws(SerialPortError) {
        self.port = try SerialPort(port: port, settings: settings)
        self.settings = settings
        self.turnaroundMs = turnaroundMs
    }

    static let maxReplyBytes = 512

    func exchange(_ request: [UInt8], complete: ([UInt8]) -> Bool = { _ in false }) throws(SerialPortError) -> [UInt8] {
        port.discardInput()
        try port.write(request)
        port.drainOutput()
        let charMs = settings.framing.seconds(forBytes: 1) * 1000
        var waitMs = Int((Double(request.count + 8) * charMs).rounded(.up)) + turnaroundMs
        let gapMs = max(20, Int((20 * charMs).rounded(.up)))
        let clock = ContinuousClock()
        let giveUp = clock.now + .milliseconds(waitMs + Int((4 * Double(Self.maxReplyBytes) * charMs).rounded(.up)))
        var received: [UInt8] = []
        while true {
            let chunk = try port.read(maxBytes: Self.maxReplyBytes, timeoutMs: waitMs)
            if chunk.isEmpty { return received }
            received += chunk
            if complete(received) || received.count >= Self.maxReplyBytes || clock.now >= giveUp { return received }
            waitMs = gapMs
        }
    }
}
