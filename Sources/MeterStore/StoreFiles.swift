#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore

/// The file operations around the database: sizes for the budget, moving a bad file aside,
/// creating the directory. Plain libc, so MeterStore stays free of Foundation.
enum StoreFiles {
    /// SQLite's companion files of a database in WAL mode (and the rollback journal of an old one).
    static let companions = ["-wal", "-shm", "-journal"]

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func size(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// `a/b/outbox.db` → `a/b`; `outbox.db` → `.`.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `mkdir -p`; errors surface when SQLite then cannot create the file.
    static func makeDirectories(_ path: String) {
        guard !path.isEmpty, path != ".", path != "/", !exists(path) else { return }
        makeDirectories(directory(of: path))
        _ = mkdir(path, 0o755)
    }

    /// Renames the database and its WAL to `<path>.corrupt-<timestamp>[-n]` (the WAL keeps its
    /// `-wal` suffix so the pair still opens in `sqlite3` for a post-mortem) and removes the shared
    /// memory index, which is rebuilt from the WAL. Returns the new name.
    static func moveAside(_ path: String, now: Int64) -> Result<String, StoreError> {
        var aside = path + ".corrupt-" + UTCTime.compact(now)
        var n = 2
        while exists(aside) {
            aside = path + ".corrupt-" + UTCTime.compact(now) + "-\(n)"
            n += 1
        }
        if exists(path), rename(path, aside) != 0 {
            let code = errno
            return .failure(StoreError(.open, path: path, operation: "move aside",
                                       message: "cannot rename to \(aside): \(String(cString: strerror(code)))"))
        }
        for suffix in ["-wal", "-journal"] where exists(path + suffix) {
            _ = rename(path + suffix, aside + suffix)
        }
        _ = unlink(path + "-shm")
        return .success(aside)
    }
}
