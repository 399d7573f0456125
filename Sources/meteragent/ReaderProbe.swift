import MeterAgent
import MeterCore
import MeterDrivers

/// What `probe --reader` and `read CONFIG READER` share: open the reader with the daemon's own
/// driver, print what it says about itself, wait for one card and print its id.
///
/// Output: `reader <detail>` once the reader is open, then `card em4100:0F00271DA5` (with
/// `--json`: one object with reader, card, technology and uid). Exit codes: 0 a card was read;
/// 1 no card within the wait; 3 the port could not be opened or the reader went away.
func probeReader(_ config: CardReaderConfig, waitSeconds: Double, json: Bool) async throws {
    let driver = makeCardReaderDriver(config)
    enum Step: Sendable {
        case event(CardReaderEvent)
        case timeout
    }
    // Bounded: a probe needs the first few events only.
    let (steps, sink) = AsyncStream.makeStream(of: Step.self, bufferingPolicy: .bufferingNewest(16))
    let running = Task { await driver.run { sink.yield(.event($0)) } }
    let timer = Task {
        try? await Task.sleep(nanoseconds: UInt64(waitSeconds * 1_000_000_000))
        sink.yield(.timeout)
    }
    defer {
        running.cancel()
        timer.cancel()
    }
    var ready = false
    for await step in steps {
        switch step {
        case let .event(.ready(detail)):
            // Straight out, not through stdio's buffer: a script waits for this line to present a card.
            if !ready, !json { await ConsoleOutput.stdout.write(lines: ["reader \(detail)"]) }
            ready = true
        case let .event(.lost(reason)):
            running.cancel()
            await running.value
            throw fail(ready ? "reader lost: \(reason)" : reason, Exit.busUnavailable)
        case let .event(.presented(card, _)):
            running.cancel()
            await running.value
            if json {
                let object = #"{"reader":"\#(config.type.rawValue)","card":"\#(card)","technology":"\#(card.technology.rawValue)","uid":"\#(card.hex)"}"#
                await ConsoleOutput.stdout.write(lines: [object])
            } else {
                let recognised = config.type == .rdm6300 ? ["recognised: a valid \(config.type.rawValue) frame"] : []
                await ConsoleOutput.stdout.write(lines: recognised + ["card \(card)"])
            }
            return
        case .timeout:
            running.cancel()
            await running.value
            let waited = waitSeconds == waitSeconds.rounded() ? "\(Int(waitSeconds))" : "\(waitSeconds)"
            let what = ready ? "no card" : "no answer from the reader"
            throw fail("reader \(config.id) on \(config.port): \(what) within \(waited) s", Exit.deviceFailed)
        }
    }
}
