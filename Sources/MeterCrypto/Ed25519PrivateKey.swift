import COpenSSL

/// An Ed25519 private key (RFC 8032) for the technician's `keys generate` and `sign`; the agent
/// itself only checks signatures.
///
/// A final class because it owns its EVP_PKEY: one owner, freed in deinit, never handed out.
/// Not Sendable: signing is a one-shot command, and keeping the pointer on one task needs no
/// argument about how far OpenSSL lets threads share a key.
public final class Ed25519PrivateKey {
    private let key: OpaquePointer
    public let publicKey: Ed25519PublicKey

    /// Takes ownership of `key` (freed here when this throws, before the instance exists, so
    /// deinit does not run for it); checks that it is an Ed25519 key.
    private init(adopting key: OpaquePointer, api: meteragent_crypto_api) throws(CryptoError) {
        let publicKey: Ed25519PublicKey
        do throws(CryptoError) {
            publicKey = try Ed25519PublicKey(raw: try Ed25519PublicKey.rawPublicKey(api, key))
        } catch {
            api.EVP_PKEY_free(key)
            throw error
        }
        self.key = key
        self.publicKey = publicKey
    }

    deinit { CryptoLibrary.loadedAPI.EVP_PKEY_free(key) }

    /// A new key from OpenSSL's random generator.
    public static func generate() throws(CryptoError) -> Ed25519PrivateKey {
        let api = try CryptoLibrary.load()
        api.ERR_clear_error()
        guard let context = api.EVP_PKEY_CTX_new_id(CryptoLibrary.ed25519, nil) else {
            throw CryptoError(.failed, "cannot make an Ed25519 key generator: " + CryptoLibrary.drainErrors(api))
        }
        defer { api.EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard api.EVP_PKEY_keygen_init(context) == 1, api.EVP_PKEY_keygen(context, &key) == 1, let key else {
            throw CryptoError(.failed, "cannot generate an Ed25519 key: " + CryptoLibrary.drainErrors(api))
        }
        return try Ed25519PrivateKey(adopting: key, api: api)
    }

    /// Reads a PKCS#8 PEM text (`-----BEGIN PRIVATE KEY-----`). An encrypted key is refused
    /// rather than prompted for: the callback answers every passphrase request with "none".
    public convenience init(pem: String) throws(CryptoError) {
        let api = try CryptoLibrary.load()
        api.ERR_clear_error()
        guard let key = CryptoLibrary.readPEM(api, pem, { api.PEM_read_bio_PrivateKey($0, nil, { _, _, _, _ in -1 }, nil) }) else {
            throw CryptoError(.invalidKey, "not an unencrypted PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----); OpenSSL: "
                              + CryptoLibrary.drainErrors(api))
        }
        try self.init(adopting: key, api: api)
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), unencrypted: what `keys generate` writes.
    /// Written when asked for, not by every `init`: `sign` never needs it.
    public func pem() throws(CryptoError) -> String {
        let api = CryptoLibrary.loadedAPI
        api.ERR_clear_error()
        guard let text = CryptoLibrary.writePEM(api, { api.PEM_write_bio_PKCS8PrivateKey($0, key, nil, nil, 0, nil, nil) == 1 }) else {
            throw CryptoError(.failed, "cannot write the Ed25519 private key as PKCS#8 PEM: " + CryptoLibrary.drainErrors(api))
        }
        return text
    }

    /// The Ed25519 signature (64 bytes) of exactly `message`.
    public func signature(for message: [UInt8]) throws(CryptoError) -> [UInt8] {
        let api = CryptoLibrary.loadedAPI
        api.ERR_clear_error()
        guard let context = api.EVP_MD_CTX_new() else {
            throw CryptoError(.failed, "cannot make an OpenSSL signing context: " + CryptoLibrary.drainErrors(api))
        }
        defer { api.EVP_MD_CTX_free(context) }
        guard api.EVP_DigestSignInit(context, nil, nil, nil, key) == 1 else {
            throw CryptoError(.failed, "cannot start an Ed25519 signature: " + CryptoLibrary.drainErrors(api))
        }
        var signature = [UInt8](repeating: 0, count: Ed25519PublicKey.signatureByteCount)
        var length = signature.count
        let rc = CryptoLibrary.withBytes(message) { api.EVP_DigestSign(context, &signature, &length, $0, $1) }
        guard rc == 1, length == Ed25519PublicKey.signatureByteCount else {
            throw CryptoError(.failed, "cannot sign \(message.count) bytes with Ed25519: " + CryptoLibrary.drainErrors(api))
        }
        return signature
    }
}
