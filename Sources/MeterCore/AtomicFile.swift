#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file write, naming the file and the system's reason.
public struct FileWriteError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Replaces a file so that a reader (or a power cut) sees either the whole old content or the
/// whole new one: write a temporary file beside it, flush it to disk, rename it over the old one,
/// then flush the directory so the rename itself survives. A file that exists keeps its owner and
/// mode (root replacing the service user's config must not lock the service out of it).
public enum AtomicFile {
    public static func replace(_ path: String, with text: String, mode: mode_t = 0o640) throws(FileWriteError) {
        let temporary = "\(path).tmp-\(getpid())"
        var existing = stat()
        let exists = stat(path, &existing) == 0
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, exists ? existing.st_mode & 0o7777 : mode)
        guard descriptor >= 0 else { throw failure("cannot create \(temporary)") }
        if exists {
            _ = fchown(descriptor, existing.st_uid, existing.st_gid)
            _ = fchmod(descriptor, existing.st_mode & 0o7777)
        }
        var bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                let error = failure("cannot write \(temporary)")
                close(descriptor); unlink(temporary)
                throw error
            }
            written += n
        }
        bytes.removeAll()
        guard fsync(descriptor) == 0 else {
            let error = failure("cannot flush \(temporary)")
            close(descriptor); unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot rename \(temporary) to \(path)")
            unlink(temporary)
            throw error
        }
        let directory = open(FilePaths.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    private static func failure(_ what: String) -> FileWriteError {
        FileWriteError(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
