#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore
import MeterDrivers
import MeterIO
import MeterStore

/// The running parts of an agent that `meteragent status` looks at.
public struct StatusSources: Sendable {
    let site: SiteConfig
    let version: String
    let scheduler: PollScheduler
    let store: OutboxStore
    let storeSink: StoreSink
    let uplink: Uplink<OutboxStore>?
    let cards: CardService?
    let startedMs: Int64

    public init(site: SiteConfig, version: String, scheduler: PollScheduler, store: OutboxStore, storeSink: StoreSink,
                uplink: Uplink<OutboxStore>?, cards: CardService?, startedMs: Int64 = WallClock.nowMs()) {
        self.site = site
        self.version = version
        self.scheduler = scheduler
        self.store = store
        self.storeSink = storeSink
        self.uplink = uplink
        self.cards = cards
        self.startedMs = startedMs
    }
}

/// A snapshot of the running agent: buses, devices, card readers, store and uplink, as the
/// control socket's `status` request returns it (JSON, or the technician's tables).
///
/// A device is `dead` after `deadAfterPolls` polls in a row without a good reading (a poll is
/// good when at least one of its readings is); before that it is `backing_off` while its bus
/// skips it after repeated timeouts, `failing` after a bad poll, `ok` after a good one, and
/// `waiting` before its first poll.
public struct AgentStatus: Sendable {
    public static let deadAfterPolls: UInt64 = 3

    public struct Bus: Sendable {
        public var id: BusID
        public var endpoint: String
        public var protocolName: String
        /// `idle` (not opened yet), `open`, or `down` (never opened: the port or host refuses).
        public var state: String
        public var statistics: BusStatistics
        /// The latest good read of any device on the bus.
        public var lastGoodMs: Int64?
    }

    public struct Device: Sendable {
        public var id: DeviceID
        public var bus: BusID
        /// `unit 5`, or the meter address.
        public var address: String
        public var state: String
        public var pollIntervalMs: Int
        public var poll: DevicePollState
        public var line: DeviceLineStatistics
    }

    public struct Reader: Sendable {
        public var id: ReaderID
        public var port: String
        public var status: CardService.ReaderStatus
    }

    public struct Store: Sendable {
        public var path: String
        public var records: Int?
        /// Payload bytes of the records, and the files on disk.
        public var bytes: Int64?
        public var fileBytes: Int64?
        public var maxBytes: Int64?
        public var oldestSeq: UInt64?
        public var oldestMs: Int64?
        public var nextSeq: UInt64?
        /// Readings waiting in memory for the next commit.
        public var queued: Int
        public var lastCommitMs: Int64?
        public var lastStoredSeq: UInt64?
        public var error: String?
    }

    public struct Link: Sendable {
        public var broker: String
        public var connected: Bool
        public var sinceMs: Int64
        public var lastAckedSeq: UInt64?
        public var lastError: String?
        public var failedPublishes: Int
    }

    public var gateway: String
    public var version: String
    public var pid: Int32
    public var startedMs: Int64
    public var nowMs: Int64
    public var buses: [Bus]
    public var devices: [Device]
    public var readers: [Reader]
    public var store: Store
    /// nil when the site has no mqtt section.
    public var uplink: Link?

    public static func gather(_ sources: StatusSources, pid: Int32) async -> AgentStatus {
        let site = sources.site
        var buses: [Bus] = []
        var lines: [BusID: [LineDevice: DeviceLineStatistics]] = [:]
        for config in site.buses {
            guard let bus = sources.scheduler.bus(config.id) else { continue }
            let (statistics, devices) = bus.statisticsWithDevices
            lines[config.id] = devices
            let state = statistics.connects > 0 ? "open" : (statistics.connectionErrors > 0 ? "down" : "idle")
            buses.append(Bus(id: config.id, endpoint: endpoint(config.transport), protocolName: config.protocolName.rawValue,
                             state: state, statistics: statistics))
        }
        let devices = site.devices.map { config in
            let key: LineDevice = config.profile.protocolName == .modbus ? .unit(config.unit) : .address(config.address ?? "")
            let poll = sources.scheduler.pollState(of: config.id) ?? DevicePollState()
            let line = lines[config.bus]?[key] ?? DeviceLineStatistics()
            return Device(id: config.id, bus: config.bus, address: config.address ?? "unit \(config.unit)",
                          state: state(poll: poll, line: line), pollIntervalMs: config.pollIntervalMs, poll: poll, line: line)
        }
        for i in buses.indices {
            buses[i].lastGoodMs = devices.filter { $0.bus == buses[i].id }.compactMap(\.poll.lastGoodMs).max()
        }
        let readerPorts = Dictionary(site.readers.map { ($0.id, $0.port) }, uniquingKeysWith: { first, _ in first })
        let readers = (sources.cards?.readerStatuses ?? []).map { id, status in
            Reader(id: id, port: readerPorts[id] ?? "", status: status)
        }
        let sink = await sources.storeSink.statistics
        var store = Store(path: sources.store.path, queued: sink.queued, lastCommitMs: sink.lastCommitMs, lastStoredSeq: sink.lastStoredSeq)
        do {
            let stats = try await sources.store.stats()
            store.records = stats.records
            store.bytes = stats.perClass.reduce(0) { $0 + $1.bytes }
            store.fileBytes = stats.totalBytes
            store.maxBytes = stats.maxBytes
            store.oldestSeq = stats.oldestSeq
            store.nextSeq = stats.nextSeq
            if let oldest = stats.oldestSeq {
                store.oldestMs = try await sources.store.export(since: oldest, limit: 1).first?.createdMs
            }
        } catch {
            store.error = error.description
        }
        let uplink = sources.uplink.map { uplink in
            let link = uplink.session.linkStatus
            let forwarded = uplink.forwarder.statistics
            return Link(broker: "\(uplink.session.config.host):\(uplink.session.config.port)", connected: link.connected,
                        sinceMs: link.sinceMs, lastAckedSeq: forwarded.batches > 0 ? forwarded.lastAcknowledgedSeq : nil,
                        lastError: link.lastError, failedPublishes: forwarded.failedPublishes)
        }
        return AgentStatus(gateway: site.gatewayID, version: sources.version, pid: pid, startedMs: sources.startedMs,
                           nowMs: WallClock.nowMs(), buses: buses, devices: devices, readers: readers, store: store, uplink: uplink)
    }

    static func state(poll: DevicePollState, line: DeviceLineStatistics) -> String {
        if poll.polls == 0 { return "waiting" }
        if poll.badPollsInARow >= deadAfterPolls { return "dead" }
        if line.backoffMs > 0 { return "backing_off" }
        return poll.badPollsInARow > 0 ? "failing" : "ok"
    }

    static func endpoint(_ transport: BusTransport) -> String {
        switch transport {
        case let .serial(port, settings, _): "\(port) \(settings.baud) \(settings.dataBits)\(settings.parity.letter)\(settings.stopBits)"
        case let .tcp(host, port): "\(host):\(port)"
        }
    }
}

// MARK: - JSON

extension AgentStatus {
    /// One line: `{"ok":true,"gateway":…,"buses":[…],"devices":[…],"readers":[…],"store":{…},"uplink":{…}|null}`.
    /// Times are UTC RFC 3339 with an `_age_s` beside them; counters are integers.
    public var json: String {
        var o = JSONObjectText()
        o.raw("ok", "true")
        o.string("gateway", gateway)
        o.string("version", version)
        o.raw("pid", String(pid))
        o.time("started", startedMs, now: nowMs)
        o.string("now", UTCTime.rfc3339(nowMs))
        o.raw("device_dead_after_polls", String(Self.deadAfterPolls))
        o.raw("buses", "[" + buses.map { bus in
            var b = JSONObjectText()
            let s = bus.statistics
            b.string("id", bus.id.rawValue)
            b.string("endpoint", bus.endpoint)
            b.string("protocol", bus.protocolName)
            b.string("state", bus.state)
            b.time("last_good_read", bus.lastGoodMs, now: nowMs)
            b.raw("utilisation", TextFormat.fixed(s.utilisation, 4))
            b.raw("utilisation_window_s", TextFormat.fixed(Double(s.utilisationWindowMs) / 1000, 1))
            b.raw("queue_depth", String(s.queued))
            b.raw("transactions", String(s.transactions))
            b.raw("successes", String(s.successes))
            b.raw("timeouts", String(s.timeouts))
            b.raw("crc_errors", String(s.crcErrors))
            b.raw("exceptions", String(s.exceptions))
            b.raw("retries", String(s.retries))
            b.raw("connection_errors", String(s.connectionErrors))
            b.raw("queue_full_rejections", String(s.queueFullRejections))
            b.raw("backoff_skips", String(s.backoffSkips))
            b.raw("connects", String(s.connects))
            b.optionalString("last_error", s.lastError)
            return b.text
        }.joined(separator: ",") + "]")
        o.raw("devices", "[" + devices.map { device in
            var d = JSONObjectText()
            d.string("id", device.id.rawValue)
            d.string("bus", device.bus.rawValue)
            d.string("address", device.address)
            d.string("state", device.state)
            d.raw("poll_interval_ms", String(device.pollIntervalMs))
            d.time("last_good_read", device.poll.lastGoodMs, now: nowMs)
            d.time("last_poll", device.poll.lastPollMs, now: nowMs)
            d.optionalString("last_quality", device.poll.lastQuality?.description)
            d.raw("polls", String(device.poll.polls))
            d.raw("good_polls", String(device.poll.goodPolls))
            d.raw("bad_polls_in_a_row", String(device.poll.badPollsInARow))
            d.raw("transactions", String(device.line.transactions))
            d.raw("successes", String(device.line.successes))
            d.raw("timeouts", String(device.line.timeouts))
            d.raw("crc_errors", String(device.line.crcErrors))
            d.raw("exceptions", String(device.line.exceptions))
            d.raw("backoff_skips", String(device.line.backoffSkips))
            d.raw("backoff_ms", String(device.line.backoffMs))
            d.raw("next_probe_in_ms", String(device.line.nextProbeInMs))
            return d.text
        }.joined(separator: ",") + "]")
        o.raw("readers", "[" + readers.map { reader in
            var r = JSONObjectText()
            r.string("id", reader.id.rawValue)
            r.string("port", reader.port)
            r.string("state", reader.status.state)
            r.time("since", reader.status.sinceMs, now: nowMs)
            r.optionalString("detail", reader.status.detail)
            r.optionalString("last_card", reader.status.lastCard)
            r.time("last_card_at", reader.status.lastCardMs, now: nowMs)
            return r.text
        }.joined(separator: ",") + "]")
        var s = JSONObjectText()
        s.string("path", store.path)
        s.optionalRaw("records", store.records.map(String.init))
        s.optionalRaw("bytes", store.bytes.map(String.init))
        s.optionalRaw("file_bytes", store.fileBytes.map(String.init))
        s.optionalRaw("max_bytes", store.maxBytes.map(String.init))
        s.optionalRaw("oldest_unsent_seq", store.oldestSeq.map(String.init))
        s.time("oldest_unsent", store.oldestMs, now: nowMs)
        s.optionalRaw("next_seq", store.nextSeq.map(String.init))
        s.raw("queued_in_memory", String(store.queued))
        s.time("last_commit", store.lastCommitMs, now: nowMs)
        s.optionalRaw("last_stored_seq", store.lastStoredSeq.map(String.init))
        s.optionalString("error", store.error)
        o.raw("store", s.text)
        if let uplink {
            var u = JSONObjectText()
            u.string("broker", uplink.broker)
            u.raw("connected", uplink.connected ? "true" : "false")
            u.time("since", uplink.sinceMs, now: nowMs)
            u.optionalRaw("last_acked_seq", uplink.lastAckedSeq.map(String.init))
            u.raw("failed_publishes", String(uplink.failedPublishes))
            u.optionalString("last_error", uplink.lastError)
            o.raw("uplink", u.text)
        } else {
            o.raw("uplink", "null")
        }
        return o.text
    }
}

/// A JSON object written field by field (the status is not on a hot path: Strings are fine).
private struct JSONObjectText {
    private var fields: [String] = []

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    mutating func raw(_ key: String, _ json: String) { fields.append("\"\(key)\":" + json) }
    mutating func string(_ key: String, _ value: String) { raw(key, JSONWriter.quoted(value)) }
    mutating func optionalString(_ key: String, _ value: String?) { raw(key, value.map(JSONWriter.quoted) ?? "null") }
    mutating func optionalRaw(_ key: String, _ json: String?) { raw(key, json ?? "null") }

    /// `key` as UTC text and `key_age_s` as seconds before `now` (both null when never).
    mutating func time(_ key: String, _ ms: Int64?, now: Int64) {
        optionalString(key, ms.map(UTCTime.rfc3339))
        optionalRaw(key + "_age_s", ms.map { TextFormat.fixed(Double(now - $0) / 1000, 1) })
    }
}

// MARK: - Text

extension AgentStatus {
    /// The technician's view: a header, then tables of buses, devices and readers, then store and uplink.
    public var text: String {
        var out = "meteragent \(version)  gateway \(gateway)  pid \(pid)  up \(Self.duration(nowMs - startedMs))  at \(UTCTime.rfc3339(nowMs))\n\n"
        var busRows = [["BUS", "ENDPOINT", "PROTOCOL", "STATE", "LAST GOOD", "BUSY", "QUEUE", "OK", "TIMEOUT", "CRC", "EXC", "CONN", "LAST ERROR"]]
        for bus in buses {
            let s = bus.statistics
            busRows.append([bus.id.rawValue, bus.endpoint, bus.protocolName, bus.state,
                            bus.lastGoodMs.map { Self.duration(nowMs - $0) + " ago" } ?? "never",
                            TextFormat.fixed(s.utilisation * 100, 1) + "%", String(s.queued), String(s.successes), String(s.timeouts),
                            String(s.crcErrors), String(s.exceptions), String(s.connectionErrors), s.lastError ?? "-"])
        }
        out += TextFormat.table(busRows)
        out += "(BUSY: share of the last minute the line was in transactions)\n\n"
        var deviceRows = [["DEVICE", "BUS", "ADDRESS", "STATE", "LAST GOOD READ", "OK", "TIMEOUT", "CRC", "EXC", "BACK-OFF", "LAST QUALITY"]]
        for device in devices {
            let good = device.poll.lastGoodMs.map { UTCTime.rfc3339($0) + " (" + Self.duration(nowMs - $0) + " ago)" } ?? "never"
            let backoff = device.line.backoffMs > 0
                ? "\(Self.duration(Int64(device.line.backoffMs))), next try in \(Self.duration(Int64(device.line.nextProbeInMs)))" : "-"
            deviceRows.append([device.id.rawValue, device.bus.rawValue, device.address, device.state, good,
                               String(device.line.successes), String(device.line.timeouts), String(device.line.crcErrors),
                               String(device.line.exceptions), backoff, device.poll.lastQuality?.description ?? "-"])
        }
        out += TextFormat.table(deviceRows)
        out += "(dead: no good reading in the last \(Self.deadAfterPolls) polls)\n"
        if !readers.isEmpty {
            var readerRows = [["READER", "PORT", "STATE", "SINCE", "LAST CARD", "WHEN"]]
            for reader in readers {
                let status = reader.status
                readerRows.append([reader.id.rawValue, reader.port, status.state + (status.state == "lost" ? " (\(status.detail ?? ""))" : ""),
                                   status.sinceMs.map { Self.duration(nowMs - $0) + " ago" } ?? "-", status.lastCard ?? "-",
                                   status.lastCardMs.map { UTCTime.rfc3339($0) + " (" + Self.duration(nowMs - $0) + " ago)" } ?? "-"])
            }
            out += "\n" + TextFormat.table(readerRows)
        }
        out += "\nstore   \(store.path)\n"
        if let error = store.error {
            out += "        cannot be read: \(error)\n"
        } else {
            out += "        \(store.records ?? 0) records unsent (\(store.bytes ?? 0) bytes; \(store.fileBytes ?? 0) bytes on disk of \(store.maxBytes ?? 0))"
            if let oldest = store.oldestSeq {
                out += ", oldest seq \(oldest)" + (store.oldestMs.map { " (" + Self.duration(nowMs - $0) + " old)" } ?? "")
            }
            out += ", next seq \(store.nextSeq ?? 0)\n"
        }
        out += "        last commit " + (store.lastCommitMs.map { Self.duration(nowMs - $0) + " ago" } ?? "none yet")
        out += ", \(store.queued) readings waiting in memory\n"
        if let uplink {
            out += "uplink  \(uplink.broker): " + (uplink.connected ? "connected" : "not connected")
            out += " since \(UTCTime.rfc3339(uplink.sinceMs)) (\(Self.duration(nowMs - uplink.sinceMs)))"
            out += ", last acked seq " + (uplink.lastAckedSeq.map(String.init) ?? "none yet")
            if let error = uplink.lastError { out += "\n        last error: \(error)" }
            out += "\n"
        } else {
            out += "uplink  none (the site has no mqtt section)\n"
        }
        return out
    }

    /// `850 ms`, `12.3 s`, `4 min 05 s`, `3 h 20 min`, `2 d 4 h`.
    static func duration(_ ms: Int64) -> String {
        let ms = max(0, ms)
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return TextFormat.fixed(Double(ms) / 1000, 1) + " s" }
        let seconds = ms / 1000
        func pad(_ v: Int64) -> String { v < 10 ? "0\(v)" : String(v) }
        if seconds < 3600 { return "\(seconds / 60) min \(pad(seconds % 60)) s" }
        if seconds < 86_400 { return "\(seconds / 3600) h \(pad(seconds % 3600 / 60)) min" }
        return "\(seconds / 86_400) d \(seconds % 86_400 / 3600) h"
    }
}

extension ControlServer {
    /// Answers `{"request":"status"}` with the status as JSON, and `{"request":"status","format":"text"}`
    /// with `{"ok":true,"text":"…"}`, the tables a technician reads.
    /// `sources`: what runs now; nil while a config is being applied (the request is answered
    /// with an error saying so).
    public func handleStatus(_ sources: @escaping @Sendable () -> StatusSources?) {
        handle("status") { request in
            guard let sources = sources() else {
                return ControlRequest.failure("the agent is applying a new config; ask again in a moment")
            }
            let status = await AgentStatus.gather(sources, pid: getpid())
            guard request.string("format") == "text" else { return status.json }
            return "{\"ok\":true,\"text\":" + JSONWriter.quoted(status.text) + "}"
        }
    }
}
