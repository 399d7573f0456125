import MeterIO
import MeterProtocols

/// Watches a line for the reply to one DL/T 645 request: skips preambles, noise, the echo of our
/// own request (half-duplex adapters hear themselves) and frames from other meters; a reply from
/// the asked meter with a bad checksum counts as a checksum error, anything else corrupt is noise.
struct DLT645ReplyScanner: ReplyScanner {
    let request: DLT645Frame
    /// Error replies come back as frames rather than `.meterError`: a forwarded frame's refusal
    /// goes to the head-end byte for byte.
    let errorRepliesAsFrames: Bool
    private var decoder = DLT645StreamDecoder()

    init(request: DLT645Frame, errorRepliesAsFrames: Bool = false) {
        self.request = request
        self.errorRepliesAsFrames = errorRepliesAsFrames
    }

    mutating func scan(_ bytes: [UInt8]) -> ReplyScan {
        decoder.append(bytes)
        while let item = decoder.next() {
            switch item {
            case let .frame(frame):
                guard answers(address: frame.address.wire, control: frame.control) else { continue }
                if frame.control.isError && !errorRepliesAsFrames {
                    let bits = DLT645ErrorBits(rawValue: frame.data.first ?? 0)
                    return .meterError(bits.rawValue, bits.description)
                }
                // Re-encoding a decoded frame cannot fail: its data came from a length byte.
                return .reply((try? frame.encoded(preamble: 0)) ?? [])
            case let .corrupt(address, control, error):
                if answers(address: address, control: DLT645Control(rawValue: control)) {
                    return .checksumError(error.description)
                }
            }
        }
        return .needMore
    }

    private func answers(address: [UInt8], control: DLT645Control) -> Bool {
        guard control.isFromMeter, control.function == request.control.function else { return false }
        // A wildcard request (read address) is answered under the meter's own address.
        return !request.address.isUnicast || address == request.address.wire
    }
}
