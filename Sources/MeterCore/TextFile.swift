#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The largest file `readTextFile` reads: configs, profiles and keys are kilobytes, and a path that
/// names a device (`/dev/zero`) or a runaway file must fail, not fill the memory.
public let textFileLimitBytes = 16 * 1024 * 1024

/// Reads a whole file with plain libc so that MeterCore needs no Foundation. Nil when it cannot be
/// read, with `errno` saying why (`EFBIG` past `textFileLimitBytes`).
public func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if bytes.count > textFileLimitBytes {
            errno = EFBIG
            return nil
        }
        if n < chunk.count { break }
    }
    if ferror(file) != 0 { return nil }
    return String(decoding: bytes, as: UTF8.self)
}
