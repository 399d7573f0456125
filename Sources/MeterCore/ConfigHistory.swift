#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The configs a gateway has run and tried, kept beside its config file in `<config>.history/`
/// as `000012-20261204T221500Z-applied-local.yaml`: number, UTC time, outcome, origin. The
/// newest `keep` are kept; `config history` lists them and `config rollback N` applies one again.
public struct ConfigHistory: Sendable {
    public enum Outcome: String, Sendable, CaseIterable {
        /// Taken into use (it passed its health check, or it is what the agent started with).
        case applied
        /// Tried and rolled back: kept to show what failed.
        case rolledBack = "rolled-back"
        /// Did not load (a config file edited by hand, then SIGHUP): the running config went back in the file.
        case rejected
    }

    public struct Entry: Sendable, Equatable {
        public var number: Int
        /// `20261204T221500Z`.
        public var time: String
        public var outcome: Outcome
        /// `local`, `signal`, `remote`, `start`, `rollback`.
        public var origin: String
        public var path: String
    }

    public let directory: String
    public let keep: Int

    public init(configPath: String, keep: Int) {
        directory = configPath + ".history"
        self.keep = keep
    }

    /// Oldest first; names that are not history entries are ignored.
    public func entries() -> [Entry] {
        (FilePaths.entries(of: directory) ?? []).compactMap { name in
            guard name.hasSuffix(".yaml") else { return nil }
            let parts = name.dropLast(5).split(separator: "-", maxSplits: 2).map(String.init)
            guard parts.count == 3, let number = Int(parts[0]) else { return nil }
            let rest = parts[2]
            guard let outcome = Outcome.allCases.first(where: { rest.hasPrefix($0.rawValue + "-") }) else { return nil }
            let origin = String(rest.dropFirst(outcome.rawValue.count + 1))
            return Entry(number: number, time: parts[1], outcome: outcome, origin: origin, path: "\(directory)/\(name)")
        }.sorted { $0.number < $1.number }
    }

    public func entry(_ number: Int) -> Entry? { entries().first { $0.number == number } }

    /// The newest config that was taken into use, other than number `excluding`.
    public func lastApplied(excluding number: Int? = nil) -> Entry? {
        entries().last { $0.outcome == .applied && $0.number != number }
    }

    /// Adds `text` as the next entry and drops the oldest beyond `keep`.
    @discardableResult
    public func record(_ text: String, outcome: Outcome, origin: String, nowMs: Int64) throws(FileWriteError) -> Entry {
        if !FilePaths.isDirectory(directory) {
            guard mkdir(directory, 0o750) == 0 || errno == EEXIST else {
                throw FileWriteError(description: "cannot create \(directory): \(String(cString: strerror(errno)))")
            }
            // It belongs to whoever owns the config's directory (the service's user), also when root made it.
            var parent = stat()
            if stat(FilePaths.directory(of: directory), &parent) == 0 { _ = chown(directory, parent.st_uid, parent.st_gid) }
        }
        let existing = entries()
        let number = (existing.last?.number ?? 0) + 1
        let time = UTCTime.compact(nowMs)
        let numbered = String(repeating: "0", count: max(0, 6 - String(number).count)) + String(number)
        let path = "\(directory)/\(numbered)-\(time)-\(outcome.rawValue)-\(origin).yaml"
        try AtomicFile.replace(path, with: text)
        for old in existing.dropLast(max(0, keep - 1)) { unlink(old.path) }
        return Entry(number: number, time: time, outcome: outcome, origin: origin, path: path)
    }
}
