import MeterIO
import MeterProtocols
import Testing
@testable import MeterDrivers

/// What the driver's scanner takes from a line for one request: the echo of the request (half-
/// duplex adapters hear themselves), other meters' frames and noise are skipped.
@Suite struct DLT645ReplyScannerTests {
    static let meter = try! DLT645Address("121078563412")
    static let request = DLT645Request.read(.totalActiveEnergy, from: meter)

    static func scan(_ chunks: [[UInt8]]) -> [ReplyScan] {
        var scanner = DLT645ReplyScanner(request: request)
        return chunks.map { scanner.scan($0) }
    }

    @Test func echoAndOtherMetersAreSkippedOneByteAtATime() throws {
        let other = DLT645Reply.readReply(to: DLT645Request.read(.totalActiveEnergy, from: try DLT645Address("000000000001")),
                                          from: try DLT645Address("000000000001"), payload: [1, 2, 3, 4])
        let reply = DLT645Reply.readReply(to: Self.request, from: Self.meter, payload: [0x67, 0x45, 0x23, 0x01])
        let wire = try Self.request.encoded() + [0x00, 0x55] + other.encoded() + reply.encoded()
        let results = Self.scan(wire.map { [$0] })
        #expect(results.dropLast().allSatisfy { $0 == .needMore })
        let expected = try reply.encoded(preamble: 0)
        #expect(results.last == .reply(expected))
    }

    @Test func errorReplyIsAMeterError() throws {
        let refusal = DLT645Reply.errorReply(to: Self.request, from: Self.meter, error: .noData)
        #expect(Self.scan([try refusal.encoded()]) == [.meterError(0x02, "no such data")])
    }

    @Test func forForwardedFramesAnErrorReplyComesBackAsItsBytes() throws {
        let relay = DLT645Frame(address: Self.meter, control: .relayControl, data: [0x96] + [UInt8](repeating: 0, count: 27))
        let refusal = DLT645Frame(address: Self.meter, control: relay.control.errorReply, data: [0x02, 0x00])
        var scanner = DLT645ReplyScanner(request: relay, errorRepliesAsFrames: true)
        let expected = try refusal.encoded(preamble: 0)
        #expect(try scanner.scan(relay.encoded() + refusal.encoded()) == .reply(expected))
    }

    @Test func corruptReplyFromOurMeterIsAChecksumErrorButNoiseIsNot() throws {
        var ours = try DLT645Reply.readReply(to: Self.request, from: Self.meter, payload: [0, 0, 0, 0]).encoded(preamble: 0)
        ours[ours.count - 2] &+= 1
        guard case .checksumError = Self.scan([ours]).first else { Issue.record("expected a checksum error"); return }
        var theirs = try DLT645Reply.readReply(to: DLT645Request.read(.totalActiveEnergy, from: try DLT645Address("000000000001")),
                                               from: try DLT645Address("000000000001"), payload: [0, 0, 0, 0]).encoded(preamble: 0)
        theirs[theirs.count - 2] &+= 1
        #expect(Self.scan([theirs]) == [.needMore])
    }

    @Test func wildcardRequestTakesTheAnsweringMetersAddress() throws {
        var scanner = DLT645ReplyScanner(request: DLT645Request.readAddress())
        let reply = DLT645Frame(address: Self.meter, control: DLT645Control(rawValue: 0x93), data: Self.meter.wire)
        let expected = try reply.encoded(preamble: 0)
        #expect(try scanner.scan(reply.encoded()) == .reply(expected))
    }
}
