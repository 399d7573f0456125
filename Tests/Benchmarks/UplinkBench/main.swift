// uplink-bench: the store-and-forward benchmark (Tests/Benchmarks/uplink-bench.sh, run by `make bench`).
// 1. Durable ingest: fills a new outbox with N readings while no uplink runs (the "outage") and
//    prints readings/s and bytes on disk per reading (the store's only benchmark).
// 2. Replay: starts the MQTT session and the forwarder against the broker given and measures how
//    fast the backlog drains: every batch is published with QoS 1 and deleted only after its
//    PUBACK, as in `meteragent run`.
//
//   uplink-bench --broker 127.0.0.1:1883 --count 100000 --store /tmp/bench.db
//                [--batch 1000] [--sync full|normal] [--max-payload 16384]
#if canImport(Glibc)
import Glibc
#endif
import MeterAgent
import MeterCore
import MeterProtocols
import MeterStore
import MeterUplink

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func fail(_ message: String) -> Never {
    ConsoleOutput.stderr.post("uplink-bench: \(message)\n")
    exit(1)
}

let broker = argument("--broker") ?? "127.0.0.1:1883"
let count = Int(argument("--count") ?? "100000") ?? 100_000
guard let storePath = argument("--store") else { fail("--store PATH is required") }
guard access(storePath, F_OK) != 0 else { fail("\(storePath) exists; the benchmark measures a new store") }
let batch = Int(argument("--batch") ?? "1000") ?? 0
guard count >= 1, batch >= 1 else { fail("--count and --batch must be 1 or more") }
guard let sync = StoreSync(rawValue: argument("--sync") ?? "full") else { fail("--sync is full or normal") }
let maxPayload = Int(argument("--max-payload") ?? "") ?? MQTTConfig.defaultMaxPayloadBytes
let hostPort = broker.split(separator: ":")
guard hostPort.count == 2, let port = Int(hostPort[1]) else { fail("--broker HOST:PORT") }

/// A reading as the agent stores it (`StoreSink`): billing energy registers with exact decimals,
/// e.g. `{"device":"flat-100-elec","point":"energy.import.total","value":10000.00,"unit":"kWh",…}`.
let devices = (0..<50).map { DeviceID("flat-\(100 + $0)-elec") }
let energy = PointName("energy.import.total")
func reading(_ i: Int) -> OutboxRecord {
    let value = ExactDecimal(significand: Int64(10_000 + i / 50) * 100 + Int64(i % 100), exponent: -2)
    return OutboxRecord(reading: Reading(device: devices[i % 50], point: energy, value: .decimal(value), unit: "kWh",
                                         timestampMs: 1_764_052_800_000 + Int64(i) * 1000, quality: .good, billing: true))
}

let log = Log.console(minimum: .warning)
let clock = ContinuousClock()
let store: OutboxStore
do {
    store = try await OutboxStore.open(path: storePath, maxBytes: 1 << 30, options: StoreOptions(sync: sync))
} catch {
    fail("cannot open store \(storePath): \(error)")
}

// The outage: readings pile up in the store, one transaction per `batch` (1000: a busy poll cycle).
let ingestStart = clock.now
var next = 0
while next < count {
    let chunk = (next..<min(count, next + batch)).map(reading)
    do { _ = try await store.append(chunk) } catch { fail("append failed: \(error)") }
    next += chunk.count
}
let ingest = seconds(clock.now - ingestStart)
let stats = try? await store.stats()
let perReading = stats.map { Double($0.totalBytes) / Double(max(1, count)) } ?? 0
print("ingest: \(count) readings in \(TextFormat.fixed(ingest, 2)) s (\(Int(Double(count) / max(ingest, 1e-9))) readings/s), "
      + "\(TextFormat.fixed(perReading, 1)) bytes on disk per reading")

// The link returns: session + forwarder drain the backlog.
var config = MQTTConfig.defaults(host: String(hostPort[0]), gatewayID: "gw-bench")
config.port = port
config.maxPayloadBytes = maxPayload
config.reconnectMinMs = 100
config.reconnectMaxMs = 1000
let session = MQTTSession(config: config, gatewayID: "gw-bench", agentVersion: "bench", log: log)
let forwarder = Forwarder(outbox: store, publisher: session, topics: session.topics, gateway: "gw-bench",
                          maxPayloadBytes: maxPayload, log: log, idlePollMs: 5)
let sessionTask = Task { await session.run() }
guard await session.waitUntilConnected() else { fail("no connection to \(broker)") }
let replayStart = clock.now
let forwarding = Task { await forwarder.run() }
let deadline = clock.now + .seconds(600)
while forwarder.statistics.records < count && clock.now < deadline {
    try? await Task.sleep(for: .milliseconds(2))
}
let replay = seconds(clock.now - replayStart)
forwarding.cancel()
await forwarding.value
sessionTask.cancel()
await sessionTask.value
let s = forwarder.statistics
let left = (try? await store.stats())?.records ?? -1
await store.shutdown()
guard s.records >= count else { fail("only \(s.records) of \(count) readings acknowledged in 600 s") }
print("replay: \(s.records) readings in \(TextFormat.fixed(replay, 2)) s (\(Int(Double(s.records) / max(replay, 1e-9))) readings/s) "
      + "as \(s.batches) QoS 1 batches of at most \(maxPayload) bytes (\(s.bytes / max(1, s.batches)) bytes on average), "
      + "\(left) left in the store")
