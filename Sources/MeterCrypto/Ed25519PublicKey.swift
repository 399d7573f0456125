import COpenSSL

/// An Ed25519 public key (RFC 8032) that checks the head-end's command signatures.
///
/// Holds only the 32 raw bytes: a value any task may share (Sendable) with no C pointer to own.
/// Each check makes and frees its own OpenSSL key, which costs an allocation per command; commands
/// are rare, and nothing is left for two threads to share.
public struct Ed25519PublicKey: Sendable, Hashable {
    public static let byteCount = 32
    public static let signatureByteCount = 64

    /// The key as RFC 8032 encodes it, the bytes a site config carries in base64.
    public let raw: [UInt8]

    /// Loads libcrypto too, so that a missing library throws here (`.unavailable`) instead of
    /// every check answering false. The agent opens it at start, off Swift's pool
    /// (`CryptoLibrary.loadOffPool()` in `run`), and logs then that a gateway without it will
    /// refuse commands.
    public init(raw: [UInt8]) throws(CryptoError) {
        guard raw.count == Self.byteCount else {
            throw CryptoError(.invalidKey, "an Ed25519 public key is \(Self.byteCount) bytes, not \(raw.count)")
        }
        _ = try CryptoLibrary.load()
        self.raw = raw
    }

    /// A SubjectPublicKeyInfo PEM text (`-----BEGIN PUBLIC KEY-----`), as `openssl pkey -pubout` writes.
    public init(pem: String) throws(CryptoError) {
        let api = try CryptoLibrary.load()
        api.ERR_clear_error()
        guard let key = CryptoLibrary.readPEM(api, pem, { api.PEM_read_bio_PUBKEY($0, nil, nil, nil) }) else {
            throw CryptoError(.invalidKey, "not a PEM public key (-----BEGIN PUBLIC KEY-----); OpenSSL: " + CryptoLibrary.drainErrors(api))
        }
        defer { api.EVP_PKEY_free(key) }
        self.raw = try Self.rawPublicKey(api, key)
    }

    /// The 32 bytes of an Ed25519 EVP_PKEY (public or private), or an error naming another algorithm.
    static func rawPublicKey(_ api: meteragent_crypto_api, _ key: OpaquePointer) throws(CryptoError) -> [UInt8] {
        let id = api.EVP_PKEY_get_id(key)
        guard id == CryptoLibrary.ed25519 else {
            throw CryptoError(.invalidKey, "not an Ed25519 key but " + CryptoLibrary.keyTypeName(id))
        }
        var raw = [UInt8](repeating: 0, count: byteCount)
        var length = raw.count
        guard api.EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1, length == byteCount else {
            throw CryptoError(.failed, "cannot read the Ed25519 public key: " + CryptoLibrary.drainErrors(api))
        }
        return raw
    }

    /// Whether `signature` is this key's Ed25519 signature of exactly `message`. A signature of the
    /// wrong length or one that does not verify is just `false`: a forged command is an answer,
    /// not an error.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == Self.signatureByteCount, let api = try? CryptoLibrary.load() else { return false }
        // A refused signature leaves its reason on this thread's error queue: leave none behind.
        defer { api.ERR_clear_error() }
        guard let key = raw.withUnsafeBufferPointer({ api.EVP_PKEY_new_raw_public_key(CryptoLibrary.ed25519, nil, $0.baseAddress, $0.count) }) else {
            return false
        }
        defer { api.EVP_PKEY_free(key) }
        guard let context = api.EVP_MD_CTX_new() else { return false }
        defer { api.EVP_MD_CTX_free(context) }
        // Ed25519 hashes the message itself (no digest to choose), hence the null digest.
        guard api.EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else { return false }
        let result = CryptoLibrary.withBytes(signature) { sig, sigLength in
            CryptoLibrary.withBytes(message) { api.EVP_DigestVerify(context, sig, sigLength, $0, $1) }
        }
        return result == 1
    }
}
