import MeterIO
import MeterProtocols

/// Finds the reply to one CJ/T 188 request in the bytes a line delivers: skips preambles and
/// garbage, the echo of our own request, frames from or to other meters and late replies to an
/// earlier request (another serial number), and reports an error reply as the meter's error.
struct CJT188ReplyScanner: ReplyScanner {
    let request: CJT188Frame
    let dataID: CJT188DataID
    private var decoder = CJT188StreamDecoder()
    private var skipped: [String] = []

    init(request: CJT188Frame, dataID: CJT188DataID) {
        self.request = request
        self.dataID = dataID
    }

    mutating func scan(_ bytes: [UInt8]) -> ReplyScan {
        let checksumErrorsBefore = decoder.checksumErrors
        decoder.append(bytes)
        while let frame = decoder.nextFrame() {
            // Requests on the line (our echo, another master) and other meters' frames are not ours.
            guard frame.control.isReply, request.address.reaches(frame.address) else { continue }
            do throws(CJT188Error) {
                _ = try CJT188Reply.payload(of: frame, answering: request, dataID: dataID)
                return .reply(frame.encoded())
            } catch {
                switch error {
                case let .errorReply(_, status):
                    return .meterError(status?.low ?? 0, error.description)
                case .serialMismatch:
                    // A reply that arrived after its request timed out: wait for ours.
                    skipped.append(error.description)
                    continue
                default:
                    return .invalid(error.description)
                }
            }
        }
        if decoder.checksumErrors > checksumErrorsBefore {
            return .checksumError("a frame with a bad checksum (\(decoder.checksumErrors) so far)")
        }
        return .needMore
    }
}
