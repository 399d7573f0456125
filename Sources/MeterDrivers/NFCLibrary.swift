#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNFC
import MeterCore

/// Why libnfc could not be used: the library is missing, or a call on a reader failed. The
/// message names the reader, its port and libnfc's own text.
public struct NFCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// libnfc's functions (opened on first use, see CNFC's shim.h).
enum NFCLibrary {
    /// Opened exactly once per process (Swift runs a global's initializer once, thread-safely);
    /// never closed, because readers may be reopened until exit.
    private static let loaded: Result<Functions, NFCError> = {
        let table = UnsafeMutablePointer<meteragent_nfc_api>.allocate(capacity: 1)
        defer { table.deallocate() }
        if let message = meteragent_nfc_load(table) {
            return .failure(NFCError("cannot load libnfc.so.6 for the PN532 reader: " + String(cString: message)
                                     + " (install the libnfc6 package)"))
        }
        return .success(Functions(api: table.move()))
    }()

    /// The function table; immutable once loaded, so it may be read from any thread.
    struct Functions: @unchecked Sendable {
        let api: meteragent_nfc_api
    }

    static func load() throws(NFCError) -> meteragent_nfc_api {
        try loaded.get().api
    }

    /// Loads the library on a thread of its own the first time: dlopen reads and relocates
    /// libnfc and libusb, blocking work that must not hold a thread of Swift's pool.
    static func loadOffPool() async throws(NFCError) -> Functions {
        let result = await DedicatedThread.run(onCancel: Result<Functions, NFCError>.failure(NFCError("cancelled"))) {
            loaded
        }
        return try result.get()
    }
}
