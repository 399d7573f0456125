#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CommandLineKit
import MeterCore
import MeterDrivers
import MeterIO

struct Scan: Command {
    static let spec = CommandSpec(
        "scan",
        abstract: "Find the meters on serial lines: Modbus unit ids, DL/T 645 and CJ/T 188 addresses, per baud rate and parity.",
        discussion: """
        Examples:
          meteragent scan --port /dev/ttyUSB0
          meteragent scan --port /dev/ttyUSB0 --bauds 9600 --units 1-32 --protocols modbus
          meteragent scan --port /dev/ttyS1 --port /dev/ttyS2 --protocols dlt645,cjt188 --json

        Modbus: each unit id gets a one-register read (any answer, an exception too, proves a \
        device), then Read Device Identification (0x2B/0x0E), whose vendor and product code name \
        the profile (`identification:` in the profiles). DL/T 645 and CJ/T 188: read address with \
        the all-AA wildcard; when several meters answer at once, abbreviated addresses narrow \
        byte by byte, and each meter is confirmed at its full address. On a terminal a progress \
        bar with the remaining time goes to stderr; found meters are printed as they are found. \
        The scan ends with a proposed buses:/devices: block for the site config (one bus per \
        port). Exit codes: 0 meters found, 1 none found, 3 a port could not be opened.
        """,
        parameters: [
            .repeatedOption("port", help: "Serial port to scan (repeat for several)."),
            .option("bauds", default: "1200,2400,4800,9600,19200", help: "Baud rates to try, comma-separated."),
            .option("parity", default: "none,even", help: "Parities to try, comma-separated (none, even, odd)."),
            .option("units", default: "1-247", help: "Modbus unit ids to try: ranges and single ids, e.g. 1-247 or 1-10,42."),
            .option("protocols", default: "modbus,dlt645,cjt188", help: "Protocols to look for, comma-separated (modbus, dlt645, cjt188)."),
            .option("turnaround-ms", default: "100",
                    help: "How long a meter may take to start its reply, beyond the time the bytes take on the line (ms)."),
            .flag("json", help: "Print one JSON document instead of lines and YAML."),
        ] + ProfileOptions.parameters + PortGuard.parameters
    )

    let port: [String]
    let bauds: String
    let parity: String
    let units: String
    let protocols: String
    let turnaroundMs: Int
    let json: Bool
    let profileOptions: ProfileOptions
    let guardOptions: PortGuard

    init(_ values: ParsedValues) throws(ValidationError) {
        port = try values.list("port")
        bauds = try values.value("bauds")
        parity = try values.value("parity")
        units = try values.value("units")
        protocols = try values.value("protocols")
        turnaroundMs = try values.value("turnaround-ms")
        json = values.flag("json")
        profileOptions = try ProfileOptions(values)
        guardOptions = try PortGuard(values)
    }

    func validate() throws {
        _ = try options()
    }

    func options() throws -> ScanOptions {
        guard !port.isEmpty else { throw ValidationError("give at least one --port") }
        let bauds = try self.bauds.split(separator: ",").map { text in
            guard let baud = Int(text.trimmingBlanks), baud > 0 else { throw ValidationError("--bauds: '\(text)' is not a baud rate") }
            return baud
        }
        let parities = try parity.split(separator: ",").map { text in
            guard let p = Parity(rawValue: text.trimmingBlanks.lowercased()) else { throw ValidationError("--parity: '\(text)' is not none, even or odd") }
            return p
        }
        let wanted = try protocols.split(separator: ",").map { text in
            guard let p = WireProtocol(rawValue: text.trimmingBlanks.lowercased()), p != .dlt645_1997 else {
                throw ValidationError("--protocols: '\(text)' is not modbus, dlt645 or cjt188")
            }
            return p
        }
        guard !bauds.isEmpty, !parities.isEmpty, !wanted.isEmpty else { throw ValidationError("--bauds, --parity and --protocols need at least one value") }
        guard turnaroundMs >= 0 else { throw ValidationError("--turnaround-ms must not be negative") }
        return ScanOptions(ports: port, bauds: bauds, parities: parities, units: try Self.unitList(units), protocols: wanted, turnaroundMs: turnaroundMs)
    }

    /// `1-247`, `1,7,42`, `1-10,42` → the unit ids in order, each once.
    static func unitList(_ text: String) throws -> [UInt8] {
        var units: [UInt8] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { UInt8($0.trimmingBlanks) }
            guard (1...2).contains(bounds.count), let low = bounds.first ?? nil, let high = bounds.last ?? nil,
                  low >= 1, high <= 247, low <= high else {
                throw ValidationError("--units: '\(part)' is not a unit id or range within 1-247")
            }
            for unit in low...high where !units.contains(unit) { units.append(unit) }
        }
        return units
    }

    func run() async throws {
        let options = try options()
        for port in options.ports { try await guardOptions.refuseIfAgentUses(port) }
        let profiles = try scanProfiles()
        let json = json
        let console = ScanConsole(json: json, progressBar: isatty(STDERR_FILENO) == 1)
        let outcome = await DedicatedThread.run(onCancel: Result<[ScanFinding], ScanError>.failure(ScanError(port: options.ports[0], reason: "cancelled"))) {
            if !json {
                console.line("scanning \(options.ports.joined(separator: ", ")): bauds \(options.bauds.map(String.init).joined(separator: ",")), "
                    + "parity \(options.parities.map(\.rawValue).joined(separator: ",")), \(options.protocols.map(\.rawValue).joined(separator: ","))"
                    + (options.protocols.contains(.modbus) ? ", \(options.units.count) unit id\(options.units.count == 1 ? "" : "s")" : ""))
            }
            let scanner = LineScanner(options: options, profiles: profiles) { console.show($0) }
            do throws(ScanError) { return .success(try scanner.run()) } catch { return .failure(error) }
        }
        console.endProgress()
        let findings: [ScanFinding]
        switch outcome {
        case let .success(found): findings = found
        case let .failure(error): throw fail(error.description, Exit.busUnavailable)
        }
        let proposal = ScanProposal(findings: findings, ports: options.ports)
        if json {
            print(ScanJSON.document(findings: findings, notes: console.notes, proposal: proposal.yaml))
        } else {
            print(findings.isEmpty ? "no meters found" : "\(findings.count) meter\(findings.count == 1 ? "" : "s") found; proposed configuration:")
            if !findings.isEmpty { print(proposal.yaml, terminator: "") }
        }
        if findings.isEmpty { throw ExitCode(1) }
    }

    /// Every profile of the profiles directory, to name the profile of what is found; none when
    /// there is no directory (the proposal then leaves the profiles to fill in).
    func scanProfiles() throws -> [String: DeviceProfile] {
        guard let dir = profileOptions.profiles ?? ProfileSearch.defaultDirectory() else { return [:] }
        do { return try ProfileLoader.loadDirectory(dir) } catch { throw fail(error.description, Exit.invalidConfig) }
    }
}

/// Where a scan's events go: found meters and notes as lines on stdout (or kept for the JSON
/// document), the progress bar redrawn on stderr when that is a terminal. Called from the scan's
/// thread only, and after it has finished from the command.
/// `@unchecked Sendable`: `notes` is written only on the scan thread and read after it finished
/// (`DedicatedThread.run` returns after the thread's last write).
final class ScanConsole: @unchecked Sendable {
    let json: Bool
    let progressBar: Bool
    private(set) var notes: [String] = []
    private var barShown = false

    init(json: Bool, progressBar: Bool) {
        self.json = json
        self.progressBar = progressBar
    }

    func show(_ event: ScanEvent) {
        switch event {
        case let .note(text):
            notes.append(text)
            if !json { line(text) }
        case let .found(finding):
            if !json { line(finding.line) }
        case let .progress(progress, label):
            guard progressBar else { return }
            write(STDERR_FILENO, "\r\u{1B}[2K" + progress.bar(label: label))
            barShown = true
        }
    }

    /// A line on stdout, above the progress bar.
    func line(_ text: String) {
        endProgress()
        write(STDOUT_FILENO, text + "\n")
    }

    func endProgress() {
        guard barShown else { return }
        write(STDERR_FILENO, "\r\u{1B}[2K")
        barShown = false
    }

    /// Straight to the descriptor, on the scan's own thread: the bar and the lines must not pass
    /// each other in two buffers.
    private func write(_ fd: Int32, _ text: String) {
        try? DescriptorIO.writeAll(fd, Array(text.utf8), endpoint: fd == STDOUT_FILENO ? "stdout" : "stderr")
    }
}

/// The `--json` document: `{"found": [...], "notes": [...], "proposal": "<yaml>"}`.
enum ScanJSON {
    static func document(findings: [ScanFinding], notes: [String], proposal: String) -> String {
        var w = JSONWriter()
        w.raw("{\"found\":[")
        for (i, f) in findings.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"port\":"); w.string(f.port)
            w.raw(",\"protocol\":"); w.string(f.protocolName.rawValue)
            w.raw(",\"baud\":"); w.integer(f.settings.baud)
            w.raw(",\"parity\":"); w.string(f.settings.parity.rawValue)
            if let unit = f.unit { w.raw(",\"unit\":"); w.integer(unit) }
            if let address = f.address { w.raw(",\"address\":"); w.string(address) }
            if let id = f.identification {
                w.raw(",\"vendor\":"); w.string(id.vendor)
                w.raw(",\"product_code\":"); w.string(id.productCode)
            }
            if let type = f.meterType { w.raw(",\"meter_type\":"); w.integer(type) }
            w.raw(",\"profile\":")
            if let profile = f.profile { w.string(profile) } else { w.raw("null") }
            w.raw("}")
        }
        w.raw("],\"notes\":[")
        for (i, note) in notes.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(note)
        }
        w.raw("],\"proposal\":")
        w.string(proposal)
        w.raw("}")
        return w.text
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces (no Foundation).
    var trimmingBlanks: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
