import CommandLineKit
import MeterAgent
import MeterCore
import MeterStore

/// `meteragent buffer …`: look into the outbox, also while the agent runs (WAL lets a reader in
/// next to the writer; these commands open the file read-only).
enum Buffer: CommandNode {
    static let spec = CommandSpec(
        group: "buffer",
        abstract: "Look into the outbox: records per class, oldest records, export.",
        discussion: "The store is the site's store.path, or --store PATH, or /var/lib/meteragent/outbox.db. Exit code 4: the store cannot be opened.",
        subcommands: [BufferStatsCommand.self, BufferPeek.self, BufferExport.self]
    )
}

/// Which store a `buffer` command looks at.
struct StoreLocation {
    static let parameters: [Parameter] = [
        .optionalArgument("config", help: "Site configuration file (YAML); its store.path is used."),
        .option("store", value: "path", help: "Outbox database (instead of the site's store.path)."),
    ] + ProfileOptions.parameters

    let config: String?
    let store: String?
    let profileOptions: ProfileOptions

    init(_ values: ParsedValues) throws(ValidationError) {
        config = try values.optional("config")
        store = try values.optional("store")
        profileOptions = try ProfileOptions(values)
    }

    func path() throws -> String {
        if let store { return store }
        if let config { return try loadSite(config, profiles: profileOptions.profiles).store.path }
        return StoreConfig.defaultPath
    }

    func openReadOnly() throws -> OutboxStore {
        let path = try path()
        do {
            return try OutboxStore(path: path, options: .readOnly)
        } catch {
            throw fail(error.description, Exit.storeUnavailable)
        }
    }
}

struct BufferStatsCommand: Command {
    static let spec = CommandSpec(
        "stats",
        abstract: "Records and bytes per class, oldest and newest sequence number, drops so far.",
        parameters: StoreLocation.parameters + [.flag("json", help: "Print one JSON object instead of a table.")]
    )

    let location: StoreLocation
    let json: Bool

    init(_ values: ParsedValues) throws(ValidationError) {
        location = try StoreLocation(values)
        json = values.flag("json")
    }

    func run() async throws {
        let store = try location.openReadOnly()
        defer { store.close() }
        let stats: BufferStats
        do {
            stats = try await store.stats()
        } catch {
            throw fail(error.description, Exit.storeUnavailable)
        }
        print(json ? Self.json(stats, path: store.path) : Self.text(stats, path: store.path), terminator: "")
    }

    static func json(_ s: BufferStats, path: String) -> String {
        var w = JSONWriter()
        w.raw("{\"path\":"); w.string(path)
        w.raw(",\"records\":\(s.records),\"classes\":{")
        for (priority, c) in s.perClass.enumerated() {
            if priority > 0 { w.raw(",") }
            w.raw("\"\(priority)\":{\"records\":\(c.records),\"bytes\":\(c.bytes),\"dropped\":\(s.droppedPerClass[priority])}")
        }
        w.raw("},\"oldest_seq\":\(s.oldestSeq.map(String.init) ?? "null"),\"newest_seq\":\(s.newestSeq.map(String.init) ?? "null")")
        w.raw(",\"next_seq\":\(s.nextSeq),\"dropped\":\(s.dropped),\"used_bytes\":\(s.usedBytes),\"total_bytes\":\(s.totalBytes),\"max_bytes\":\(s.maxBytes)}\n")
        return w.text
    }

    static func text(_ s: BufferStats, path: String) -> String {
        let names = ["0 commands/alarms", "1 billing", "2 instantaneous"]
        var rows = [["CLASS", "RECORDS", "BYTES", "DROPPED"]]
        for (priority, c) in s.perClass.enumerated() {
            rows.append([names[priority], String(c.records), String(c.bytes), String(s.droppedPerClass[priority])])
        }
        rows.append(["total", String(s.records), String(s.perClass.reduce(0) { $0 + $1.bytes }), String(s.dropped)])
        var out = "store \(path)\n"
        out += TextFormat.table(rows)
        out += "sequence: oldest \(s.oldestSeq.map(String.init) ?? "-"), newest \(s.newestSeq.map(String.init) ?? "-"), next \(s.nextSeq)\n"
        out += "on disk: \(s.totalBytes) bytes (\(s.usedBytes) in use) of a \(s.maxBytes)-byte budget\n"
        return out
    }
}

struct BufferPeek: Command {
    static let spec = CommandSpec(
        "peek",
        abstract: "Print the N oldest records (the next ones the uplink sends) as JSON lines.",
        parameters: [.optionalArgument("count", default: "10", help: "How many records.")] + StoreLocation.parameters
    )

    let count: Int
    let location: StoreLocation

    init(_ values: ParsedValues) throws(ValidationError) {
        count = try values.value("count")
        location = try StoreLocation(values)
    }

    func validate() throws {
        if count < 1 { throw ValidationError("N must be 1 or more") }
    }

    func run() async throws {
        let store = try location.openReadOnly()
        defer { store.close() }
        do {
            for record in try await store.export(since: 0, limit: count) { print(record.exportLine) }
        } catch {
            throw fail(error.description, Exit.storeUnavailable)
        }
    }
}

struct BufferExport: Command {
    static let spec = CommandSpec(
        "export",
        abstract: "Print stored records from a sequence number on, as JSON lines with seq, kind and class.",
        parameters: StoreLocation.parameters + [
            .option("since", default: "0", help: "First sequence number to print."),
            .option("limit", help: "Print at most this many records."),
        ]
    )

    let location: StoreLocation
    let since: UInt64
    let limit: Int?

    init(_ values: ParsedValues) throws(ValidationError) {
        location = try StoreLocation(values)
        since = try values.value("since")
        limit = try values.optional("limit")
    }

    func run() async throws {
        let store = try location.openReadOnly()
        defer { store.close() }
        // In pages, so a large store is never held in memory at once.
        var next = since
        var left = limit ?? .max
        do {
            while left > 0 {
                let page = try await store.export(since: next, limit: min(left, 2_000))
                guard let last = page.last else { break }
                var text = ""
                for record in page { text += record.exportLine + "\n" }
                print(text, terminator: "")
                left -= page.count
                next = last.seq + 1
            }
        } catch {
            throw fail(error.description, Exit.storeUnavailable)
        }
    }
}
