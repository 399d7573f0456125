import COpenSSL
import MeterCore

/// libcrypto's functions (opened on first use, see COpenSSL's shim.h) and its error texts.
public enum CryptoLibrary {
    /// Opened exactly once per process (Swift runs a global's initializer once, thread-safely);
    /// never closed: keys may be used until exit. OpenSSL 3 initialises itself on first use.
    private static let loaded: Result<Functions, CryptoError> = {
        let table = UnsafeMutablePointer<meteragent_crypto_api>.allocate(capacity: 1)
        defer { table.deallocate() }
        if let message = meteragent_crypto_load(table) {
            return .failure(CryptoError(.unavailable, "cannot load libcrypto.so.3 for Ed25519 signatures: " + String(cString: message)
                                        + " (install OpenSSL 3: the libssl3 package on Debian 12, libssl3t64 on Debian 13)"))
        }
        return .success(Functions(api: table.move()))
    }()

    /// The function table. @unchecked: it holds only addresses of library code, written once
    /// before anyone can read it and never changed, so any thread may read it.
    struct Functions: @unchecked Sendable {
        let api: meteragent_crypto_api
    }

    static func load() throws(CryptoError) -> meteragent_crypto_api {
        try loaded.get().api
    }

    /// Loads the library on a thread of its own the first time: dlopen reads and relocates
    /// libcrypto, blocking work that must not hold a thread of Swift's pool (where the first
    /// signature check would otherwise load it). The agent calls it at start.
    public static func loadOffPool() async throws(CryptoError) {
        let notLoaded = CryptoError(.unavailable, "libcrypto.so.3 not loaded: cancelled, or no thread to load it on")
        let result = await DedicatedThread.run(onCancel: Result<Void, CryptoError>.failure(notLoaded)) {
            Result { () throws(CryptoError) in _ = try load() }
        }
        try result.get()
    }

    /// The table, for code that holds an OpenSSL object and so knows that the library is loaded.
    /// Types keep no copy of the table: a C struct stored in a public type becomes part of its
    /// layout, which other modules compile against and SwiftPM does not rebuild when shim.h
    /// changes (a stale layout read `publicKey` from the wrong offset).
    static var loadedAPI: meteragent_crypto_api {
        guard case .success(let functions) = loaded else { fatalError("libcrypto used before it was loaded") }
        return functions.api
    }

    static let ed25519 = EVP_PKEY_ED25519

    /// The algorithms a technician may hand over by mistake, by name (OpenSSL's NIDs).
    static func keyTypeName(_ id: Int32) -> String {
        switch id {
        case 6: "an RSA key"
        case 912: "an RSA-PSS key"
        case 116: "a DSA key"
        case 408: "an EC key"
        case 1034: "an X25519 key"
        case 1035: "an X448 key"
        case 1088: "an Ed448 key"
        default: "a key of OpenSSL type \(id)"
        }
    }

    /// The OpenSSL errors queued on this thread, oldest first, as one text; empties the queue, so
    /// that the next failure does not report this one's causes. Call right after the failing call:
    /// the queue is per thread.
    static func drainErrors(_ api: meteragent_crypto_api) -> String {
        var texts: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = api.ERR_get_error()
            if code == 0 { break }
            api.ERR_error_string_n(code, &buffer, buffer.count)
            texts.append(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return texts.isEmpty ? "no error text from OpenSSL" : texts.joined(separator: "; ")
    }

    /// `bytes` as a pointer OpenSSL may read even when there are none: an empty array need not
    /// have an address, and OpenSSL does not promise to take a null pointer with length 0 (RFC
    /// 8032's first vector signs the empty message).
    static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        bytes.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { return body(base, buffer.count) }
            var none: UInt8 = 0
            return withUnsafePointer(to: &none) { body($0, 0) }
        }
    }

    /// The key in a PEM text, read by `read` (PEM_read_bio_PUBKEY or PEM_read_bio_PrivateKey)
    /// from a memory BIO that borrows the text's bytes for the duration of the call.
    static func readPEM(_ api: meteragent_crypto_api, _ pem: String,
                        _ read: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
        var text = pem
        return text.withUTF8 { utf8 -> OpaquePointer? in
            guard let base = utf8.baseAddress, utf8.count <= Int(Int32.max),
                  let bio = api.BIO_new_mem_buf(base, Int32(utf8.count)) else { return nil }
            defer { _ = api.BIO_free(bio) }
            return read(bio)
        }
    }

    /// What `write` (a PEM_write_bio_* call) wrote into a memory BIO, as text; nil when it failed.
    static func writePEM(_ api: meteragent_crypto_api, _ write: (OpaquePointer) -> Bool) -> String? {
        guard let bio = api.BIO_new(api.BIO_s_mem()) else { return nil }
        defer { _ = api.BIO_free(bio) }
        guard write(bio) else { return nil }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { api.BIO_read(bio, $0.baseAddress, Int32($0.count)) }
            guard n > 0 else { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
