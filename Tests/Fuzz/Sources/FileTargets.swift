#if canImport(Glibc)
import Glibc
#endif
@testable import MeterAgent
import MeterCore
import MeterProtocols
@testable import MeterSimulation
@testable import MeterStore

/// The PN532 simulator's side of the line: the frame parser over arbitrary reads, and every
/// command frame it finds executed by the simulated chip (with or without a card in the field).
/// Every information frame encodes and parses back to itself.
func fuzzPN532(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let seed = input.byte(), mode = input.byte()
    let card = mode & 1 == 0 ? nil : SimulatedNFCCard(uid: mode & 2 == 0 ? [0x04, 0xA1, 0xB2, 0xC3] : [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
    var decoder = PN532StreamDecoder(capacity: 64 + Int(input.byte()) * 4)
    var chip = PN532Chip()
    for piece in chunks(input.remaining, seed: seed) {
        decoder.append(piece)
        while let message = decoder.next() {
            switch message {
            case .ack:
                chip.abort()
            case let .frame(frame):
                var again = PN532StreamDecoder()
                again.append(frame.encoded())
                expect(again.next() == .frame(frame), "PN532 frame \(frame.encoded()) does not parse back to itself")
                chip.wake()
                switch chip.execute(frame, card: card) {
                case let .reply(reply): _ = reply.encoded()
                case .waitForCard: _ = chip.answerWaiting(card: card, timedOut: mode & 4 != 0)
                case .errorFrame, .silent: break
                }
            default:
                break
            }
        }
    }
}

/// A message on `<prefix>/cmd`: the envelope, then the command JSON it carries, and the same
/// bytes as a command payload on their own (the signature check sits between the two in the
/// agent, but a key holder's bytes are outside bytes too).
func fuzzCommand(_ bytes: [UInt8]) {
    if let envelope = try? CommandEnvelope(message: bytes) {
        _ = (envelope.key, envelope.signature.count)
        command(envelope.payload)
    }
    command(bytes)
}

private func command(_ payload: [UInt8]) {
    guard let command = try? SignedCommand(payload: payload) else { return }
    _ = (command.id, command.gateway, command.device, command.action, command.issuedAt, command.expiresAt)
    for name in ["kw", "amount", "kwh", "price", "seconds"] { _ = try? command.decimalParameter(name) }
}

/// The profiles a site config names, from Hardware/profiles (or $METERFUZZ_PROFILES), once.
/// Without them every site would fail at its first device, and the fuzzer would not get past it.
let fuzzProfiles: [String: DeviceProfile] = {
    let dir = getenv("METERFUZZ_PROFILES").map { String(cString: $0) } ?? "Hardware/profiles"
    let profiles = (try? ProfileLoader.loadDirectory(dir)) ?? [:]
    expect(!profiles.isEmpty, "no device profiles in \(dir) (set METERFUZZ_PROFILES)")
    return profiles
}()

/// A site config file (YAML through libyaml, then validation). Errors name a line and column in
/// the file.
func fuzzSiteConfig(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    // The error type written out: Swift 6.0 (the ARM build) infers `any Error` for a bare `do`.
    do throws(ConfigErrors) {
        let site = try SiteConfigLoader.load(text: text, file: "fuzz-site.yaml", profiles: fuzzProfiles)
        _ = site
    } catch {
        for e in error.errors { _ = e.description }
    }
}

/// A device profile file.
func fuzzProfile(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    // The error type written out: Swift 6.0 (the ARM build) infers `any Error` for a bare `do`.
    do throws(ConfigErrors) {
        let profile = try ProfileLoader.load(text: text, file: "fuzz-profile.yaml", name: "fuzz-profile")
        _ = profile
    } catch {
        for e in error.errors { _ = e.description }
    }
}

/// A compact reading row read back from the store file, as a damaged or foreign file may hold
/// it: any series (names, value type, exponent), value column and quality code.
func fuzzStoreRecord(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let flags = input.byte()
    let valueType = ReadingRows.ValueType(rawValue: Int64(input.byte() % 5)) ?? .none
    let exponent = flags & 0x10 != 0 ? input.int64() : Int64(Int8(bitPattern: input.byte()))
    let stored: ReadingRows.StoredValue = switch flags & 3 {
    case 0: .null
    case 1: .real(Double(bitPattern: UInt64(bitPattern: input.int64())))
    default: .integer(input.int64())
    }
    let quality = flags & 0x20 != 0 ? input.int64() : Int64(input.word())
    let ts = input.int64(), seriesID = input.int64()
    var names = input.remaining.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    while names.count < 3 { names.append("") }
    let series = flags & 0x40 != 0 ? nil : KnownSeries(ReadingSeries(device: names[0], point: names[1], unit: names[2],
                                                                      billing: flags & 0x80 != 0, valueType: valueType, exponent: exponent))
    let json = ReadingRows.json(series: series, seriesID: seriesID, value: stored, qualityCode: quality, ts: ts)
    expect(json.hasPrefix("{") && json.hasSuffix("}"), "reading JSON \(json)")
}
