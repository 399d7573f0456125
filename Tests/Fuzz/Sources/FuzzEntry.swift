// One libFuzzer executable for every target, the target named by $METERFUZZ_TARGET
// (Tests/Fuzz/run.sh sets it). SwiftPM links an executable's own entry point as `main`, so
// libFuzzer's `main` is not used: this one hands the command line to libFuzzer's driver.

import CLibFuzzer
#if canImport(Glibc)
import Glibc
#endif

@main
enum MeterFuzz {
    static func main() {
        _ = selectedTarget
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, meterFuzzTestOneInput))
    }
}

/// The target this process runs, chosen once from the environment.
let selectedTarget: FuzzTarget = {
    guard let name = getenv("METERFUZZ_TARGET").map({ String(cString: $0) }) else {
        say("meterfuzz: set METERFUZZ_TARGET to one of: \(FuzzTarget.all.map(\.name).joined(separator: " "))")
        exit(2)
    }
    guard let target = FuzzTarget.all.first(where: { $0.name == name }) else {
        say("meterfuzz: no target '\(name)'; targets: \(FuzzTarget.all.map(\.name).joined(separator: " "))")
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func meterFuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    // libFuzzer passes a null pointer for the empty input.
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    selectedTarget.run(bytes)
    return 0
}

/// One decoder under test: a name for the command line and corpus folder, and the function that
/// feeds it one input.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "modbus-rtu", run: fuzzModbusRTU),
        FuzzTarget(name: "modbus-values", run: fuzzModbusValues),
        FuzzTarget(name: "modbus-tcp", run: fuzzModbusTCP),
        FuzzTarget(name: "dlt645", run: fuzzDLT645),
        FuzzTarget(name: "cjt188", run: fuzzCJT188),
        FuzzTarget(name: "rdm6300", run: fuzzRDM6300),
        FuzzTarget(name: "pn532", run: fuzzPN532),
        FuzzTarget(name: "command", run: fuzzCommand),
        FuzzTarget(name: "site-config", run: fuzzSiteConfig),
        FuzzTarget(name: "profile", run: fuzzProfile),
        FuzzTarget(name: "store-record", run: fuzzStoreRecord),
    ]
}

/// A property every input must keep; a violation is a crash libFuzzer reports and saves.
func expect(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        say("meterfuzz: broken property: \(message())")
        abort()
    }
}

/// A line on standard error.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

/// Reads an input from the front: control bytes first (which direction, chunk sizes), the rest
/// as data. Reading past the end gives zeros, so every input is usable.
struct FuzzInput {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: ArraySlice<UInt8> { bytes[min(index, bytes.count)...] }
    var isEmpty: Bool { index >= bytes.count }

    mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func word() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    mutating func int64() -> Int64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(byte()) }
        return Int64(bitPattern: v)
    }

    mutating func take(_ n: Int) -> ArraySlice<UInt8> {
        let start = min(index, bytes.count), end = min(index + n, bytes.count)
        index = end
        return bytes[start..<end]
    }
}

/// Splits `data` into pieces of 1 to `1 + maxChunk` bytes (a serial line's reads), sizes taken
/// from `seed` so that one input always splits the same way.
func chunks(_ data: ArraySlice<UInt8>, seed: UInt8) -> [ArraySlice<UInt8>] {
    var pieces: [ArraySlice<UInt8>] = []
    var state = UInt32(seed) | 1
    var i = data.startIndex
    while i < data.endIndex {
        state = state &* 1_103_515_245 &+ 12345
        let size = seed == 0 ? data.count : 1 + Int((state >> 16) % UInt32(seed))
        let end = min(i + size, data.endIndex)
        pieces.append(data[i..<end])
        i = end
    }
    return pieces
}
