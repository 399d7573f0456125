import COpenSSL

/// HMAC-SHA256 (RFC 2104) through libcrypto's one-shot `HMAC()`: the keyed hash of card ids in
/// events, so the head-end (which holds the key) can match a card while a reader of the events
/// cannot turn the hash back into a UID to clone.
public enum HMACSHA256 {
    public static let byteCount = 32

    public static func mac(key: [UInt8], message: [UInt8]) throws(CryptoError) -> [UInt8] {
        let api = try CryptoLibrary.load()
        guard key.count <= Int(Int32.max) else { throw CryptoError(.invalidKey, "an HMAC key longer than 2 GiB") }
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let done = CryptoLibrary.withBytes(key) { keyBytes, keyLength in
            CryptoLibrary.withBytes(message) { data, dataLength in
                out.withUnsafeMutableBufferPointer { api.HMAC(api.EVP_sha256(), keyBytes, Int32(keyLength), data, dataLength, $0.baseAddress, &length) }
            }
        }
        guard done != nil, Int(length) == byteCount else {
            throw CryptoError(.failed, "HMAC-SHA256 failed: " + CryptoLibrary.drainErrors(api))
        }
        return Array(out.prefix(byteCount))
    }
}
