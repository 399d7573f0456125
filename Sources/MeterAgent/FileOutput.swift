#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterIO

/// Writes all of `text` to stdout or stderr (`fd`). Used instead of C's `FILE*` streams, which
/// Swift 6 sees as shared mutable globals. A closed stream is not worth failing a poll over.
public func writeAll(_ text: String, to fd: Int32) {
    try? DescriptorIO.writeAll(fd, Array(text.utf8), endpoint: fd == STDERR_FILENO ? "stderr" : "stdout")
}
