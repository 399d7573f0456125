#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore

/// Plain-libc file access for the key commands (no Foundation in the agent), with errno's text
/// in every error so that a technician sees which file failed and why.
enum KeyFiles {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Every byte of `descriptor` up to end of file, unchanged.
    static func readAll(_ descriptor: Int32, name: String) throws(Failure) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot read \(name): " + String(cString: strerror(errno)))
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// The whole file as text (a PEM key).
    static func text(of path: String) throws(Failure) -> String {
        guard let text = readTextFile(path) else { throw Failure(description: "cannot read \(path): " + String(cString: strerror(errno))) }
        return text
    }

    /// Whether anything (a file, a directory, a dangling symlink) has this name.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Removes `path` if it is there, for --force: a new file then gets its mode from `create`,
    /// never from the file it replaces.
    static func remove(_ path: String) throws(Failure) {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw Failure(description: "cannot replace \(path): " + String(cString: strerror(errno)))
        }
    }

    /// Writes a new file that has `mode` from its first byte on: O_EXCL refuses an existing file
    /// (or a symlink planted in its place), so a private key is never readable by others, not even
    /// between creating the file and a chmod. A partly written file is removed.
    static func create(_ path: String, mode: mode_t, _ bytes: [UInt8]) throws(Failure) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            let code = errno
            throw Failure(description: code == EEXIST ? "\(path) exists; not overwriting it (--force replaces it)"
                                                      : "cannot create \(path): " + String(cString: strerror(code)))
        }
        var written = 0
        var failure: Int32 = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            written += n
        }
        // A key that is lost in a power cut after the technician saw "wrote" would be lost for good.
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        if close(descriptor) != 0, failure == 0 { failure = errno }
        if failure != 0 {
            _ = unlink(path)
            throw Failure(description: "cannot write \(path): " + String(cString: strerror(failure)))
        }
    }
}
