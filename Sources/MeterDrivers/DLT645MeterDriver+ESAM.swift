import MeterCore
import MeterIO
import MeterProtocols

extension DLT645MeterDriver {
    /// Forwards the head-end's ESAM blocks (identity authentication 0x03, then encrypted relay
    /// control 0x1C) to this meter as one sequence on the line — no poll goes between them, since
    /// the authentication's session is short — stopping at the first refusal; then reads status
    /// word 3 back. The agent never interprets the blocks: it cannot tell an encrypted trip from a
    /// close, so the outcome is `confirmed` when the meter accepted every frame and its relay state
    /// was read back, whatever that state is.
    func forwardESAM(_ blocks: [ESAMBlock], now: () -> Int64) async -> CommandOutcome {
        let command = MeterCommand.esamForward(blocks)
        guard !is1997 else { return outcome(command, .unsupported, "DL/T 645-1997 meters have no ESAM", quality: .busError) }
        guard !blocks.isEmpty else { return outcome(command, .failed, "no frames to forward", quality: .busError) }
        var frames: [DLT645Frame] = []
        var requests: [SerialRequest] = []
        for (index, block) in blocks.enumerated() {
            do throws(DLT645Error) {
                let frame = try DLT645Security.request(control: block.control, data: block.data, to: address)
                requests.append(try Self.serialRequest(frame, device: address.written, item: Self.item(index, of: blocks.count),
                                                       errorRepliesAsFrames: true))
                frames.append(frame)
            } catch {
                return outcome(command, .failed, "frame \(index + 1) of \(blocks.count): \(error)", quality: .busError)
            }
        }
        // The next frame goes out only after a reply that accepts, in a form meters send.
        let sent = frames
        let answered = await bus.transact(SerialSequence(requests, proceeds: { index, bytes in
            guard let frame = try? DLT645Frame.decode(bytes), let reply = try? DLT645Security.reply(frame, answering: sent[index]) else { return false }
            return !reply.refused
        }))

        var replies: [ForwardedReply] = []
        var parts: [String] = []
        var status = CommandOutcome.Status.accepted
        var quality = Quality.good
        for (index, bytes) in answered.replies.enumerated() {
            guard let frame = try? DLT645Frame.decode(bytes) else {
                status = .failed
                quality = .crcError
                parts.append("frame \(index + 1) (0x\(Hex.byte(blocks[index].control))): the reply (\(Hex.compact(bytes))) is no DL/T 645 frame")
                break
            }
            let reply: DLT645SecurityReply
            do throws(DLT645Error) {
                reply = try DLT645Security.reply(frame, answering: frames[index])
            } catch {
                // Passed on as it came, since the head-end may know this meter's dialect.
                replies.append(ForwardedReply(control: frame.control.rawValue, data: frame.data, error: error.description))
                status = .failed
                quality = .crcError
                parts.append("frame \(index + 1) (0x\(Hex.byte(blocks[index].control))): \(error)")
                break
            }
            replies.append(ForwardedReply(control: reply.control.rawValue, data: reply.data, error: reply.error))
            parts.append("frame \(index + 1) (0x\(Hex.byte(blocks[index].control))): \(reply)")
            if reply.refused {
                status = .rejected
                quality = .meterError(reply.data.first ?? 0)
            }
        }
        if let failure = answered.failure {
            status = .failed
            quality = failure.quality
            parts.append("frame \(answered.replies.count + 1) (0x\(Hex.byte(blocks[answered.replies.count].control))): \(failure.kind.text): \(failure.message)")
        }

        // Whatever happened on the meter, the head-end wants its relay state; a meter that never
        // answered is not asked again.
        var observed: [Reading] = []
        if !answered.replies.isEmpty {
            do throws(SerialBusError) {
                let word = try await readStatusWord3()
                observed = Self.relayReadings(word, device: device.id, at: now())
                parts.append("now \(word)")
            } catch {
                parts.append("read-back failed: \(error)")
            }
        }
        if status == .accepted, !observed.isEmpty { status = .confirmed }
        var result = outcome(command, status, parts.joined(separator: "; "), quality: quality, observed: observed)
        result.replies = replies
        return result
    }

    /// `ESAM frame 1 of 2`, for bus messages and statistics.
    static func item(_ index: Int, of count: Int) -> String { "ESAM frame \(index + 1) of \(count)" }
}
