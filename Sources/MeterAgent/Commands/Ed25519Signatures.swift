import MeterCore
import MeterCrypto

/// The head-end's Ed25519 signatures, checked with OpenSSL's libcrypto.
public struct Ed25519Signatures: SignatureChecking {
    public init() {}

    public func isValid(signature: [UInt8], over message: [UInt8], key: CommandKey) -> Bool {
        guard let publicKey = try? Ed25519PublicKey(raw: key.ed25519) else { return false }
        return publicKey.isValidSignature(signature, for: message)
    }
}
