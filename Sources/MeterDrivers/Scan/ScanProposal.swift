import MeterCore

/// The site-config block a scan proposes: one bus per port, at the settings and protocol most of
/// its meters answered at, and a device per meter found there. A port carries one bus, so meters
/// found on it at other settings or with another protocol, and meters no profile fits, are
/// written as comments saying why, and the block validates as it stands.
public struct ScanProposal: Sendable {
    public var findings: [ScanFinding]
    public var ports: [String]
    public var gateway: String

    public init(findings: [ScanFinding], ports: [String], gateway: String = "gw-scanned") {
        self.findings = findings
        self.ports = ports
        self.gateway = gateway
    }

    private struct Group {
        var protocolName: WireProtocol
        var settings: SerialSettings
        var findings: [ScanFinding]
    }

    /// The YAML text.
    public var yaml: String {
        var buses: [String] = []
        var devices: [String] = []
        for (index, port) in ports.enumerated() {
            var groups: [Group] = []
            for finding in findings where finding.port == port {
                if let i = groups.firstIndex(where: { $0.protocolName == finding.protocolName && $0.settings == finding.settings }) {
                    groups[i].findings.append(finding)
                } else {
                    groups.append(Group(protocolName: finding.protocolName, settings: finding.settings, findings: [finding]))
                }
            }
            // The bus goes where the most meters can be read as proposed (a profile named),
            // then where the most answered; ties go to the first found.
            func rank(_ g: Group) -> (Int, Int) { (g.findings.filter { $0.profile != nil }.count, g.findings.count) }
            guard let chosen = groups.indices.max(by: { rank(groups[$0]) < rank(groups[$1]) || (rank(groups[$0]) == rank(groups[$1]) && $0 > $1) }) else { continue }
            let group = groups[chosen]
            let bus = "line\(index + 1)-\(group.protocolName.rawValue)-\(group.settings.baud)"
            buses.append("  - {id: \(bus), type: serial, port: \(port), baud: \(group.settings.baud), parity: \(group.settings.parity.rawValue), "
                + "protocol: \(group.protocolName.rawValue), timeout_ms: \(Self.timeoutMs(group.settings))}")
            for finding in group.findings {
                let entry = Self.entry(finding, bus: bus)
                if finding.profile == nil {
                    devices.append("  # - \(entry)")
                    devices.append("  #   \(finding.target) at \(finding.settings.summary) did not identify itself: name its profile, then uncomment")
                } else {
                    devices.append("  - \(entry)")
                }
            }
            for (i, other) in groups.enumerated() where i != chosen {
                for finding in other.findings {
                    devices.append("  # \(finding.protocolName.rawValue) \(finding.target) on \(port) answers at \(finding.settings.summary), not at bus \(bus)'s "
                        + "\(group.protocolName.rawValue) \(group.settings.summary): a port carries one bus; commission it to \(group.settings.summary) or wire it to another port")
                }
            }
        }
        var text = "# Proposed by meteragent scan: check the ids, then merge into the site config.\ngateway: \(gateway)\n"
        text += buses.isEmpty ? "buses: []\n" : "buses:\n" + buses.joined(separator: "\n") + "\n"
        text += devices.contains(where: { !$0.hasPrefix("  #") }) ? "devices:\n" : "devices: []\n"
        if !devices.isEmpty { text += devices.joined(separator: "\n") + "\n" }
        return text
    }

    /// `{id: line1-modbus-9600-u7, bus: …, unit: 7, profile: eastron-sdm630}`.
    static func entry(_ finding: ScanFinding, bus: String) -> String {
        let profile = finding.profile ?? "TODO"
        if let unit = finding.unit { return "{id: \(bus)-u\(unit), bus: \(bus), unit: \(unit), profile: \(profile)}" }
        let address = finding.address ?? ""
        return "{id: \(bus)-\(address), bus: \(bus), address: \"\(address)\", profile: \(profile)}"
    }

    /// A reply of up to ~120 characters at the bus's rate plus a meter's turnaround, at least 300 ms.
    static func timeoutMs(_ settings: SerialSettings) -> Int {
        max(300, Int((settings.framing.seconds(forBytes: 120) * 1000).rounded(.up)) + 200)
    }
}
