import MeterCrypto
import MeterProtocols
import Testing

/// RFC 8032 section 7.1, tests 1–3: secret key, public key, message, signature (hex).
struct RFC8032Vector: Sendable, CustomTestStringConvertible {
    let name: String
    let secret: [UInt8]
    let publicKey: [UInt8]
    let message: [UInt8]
    let signature: [UInt8]

    init(_ name: String, secret: String, publicKey: String, message: String, signature: String) {
        self.name = name
        self.secret = Hex.parse(secret)!
        self.publicKey = Hex.parse(publicKey)!
        self.message = Hex.parse(message)!
        self.signature = Hex.parse(signature)!
    }

    var testDescription: String { name }

    /// The secret key as PKCS#8 PEM: the fixed DER prefix of an Ed25519 PrivateKeyInfo (RFC 8410
    /// section 7), then the 32-byte seed.
    var privateKeyPEM: String {
        pem("PRIVATE KEY", Hex.parse("302e020100300506032b657004220420")! + secret)
    }

    /// The public key as SubjectPublicKeyInfo PEM (RFC 8410 section 4).
    var publicKeyPEM: String {
        pem("PUBLIC KEY", Hex.parse("302a300506032b6570032100")! + publicKey)
    }
}

func pem(_ label: String, _ der: [UInt8]) -> String {
    "-----BEGIN \(label)-----\n" + Base64.encode(der) + "\n-----END \(label)-----\n"
}

let rfc8032: [RFC8032Vector] = [
    RFC8032Vector("test 1 (empty message)",
                  secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                  message: "",
                  signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    RFC8032Vector("test 2 (one byte)",
                  secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                  publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                  message: "72",
                  signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    RFC8032Vector("test 3 (two bytes)",
                  secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                  publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                  message: "af82",
                  signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]

@Suite struct Ed25519VectorTests {
    @Test(arguments: rfc8032)
    func publicKeyVerifiesTheRFCSignature(vector: RFC8032Vector) throws {
        let key = try Ed25519PublicKey(raw: vector.publicKey)
        #expect(key.raw == vector.publicKey)
        #expect(key.isValidSignature(vector.signature, for: vector.message))
    }

    /// Ed25519 is deterministic: the same key and message give the RFC's very bytes.
    @Test(arguments: rfc8032)
    func privateKeyReproducesTheRFCSignature(vector: RFC8032Vector) throws {
        let key = try Ed25519PrivateKey(pem: vector.privateKeyPEM)
        #expect(key.publicKey.raw == vector.publicKey)
        let signature = try key.signature(for: vector.message)
        #expect(signature == vector.signature)
    }

    @Test(arguments: rfc8032)
    func publicKeyReadsSubjectPublicKeyInfoPEM(vector: RFC8032Vector) throws {
        let key = try Ed25519PublicKey(pem: vector.publicKeyPEM)
        #expect(key.raw == vector.publicKey)
        #expect(key.isValidSignature(vector.signature, for: vector.message))
    }

    /// The PKCS#8 text written back is the one built from the seed (and what Python's
    /// `cryptography` writes for the same seed).
    @Test(arguments: rfc8032)
    func privateKeyWritesCanonicalPKCS8(vector: RFC8032Vector) throws {
        let key = try Ed25519PrivateKey(pem: vector.privateKeyPEM)
        let pem = try key.pem()
        #expect(pem == vector.privateKeyPEM)
    }
}

@Suite struct Ed25519RejectionTests {
    static let vector = rfc8032[2]

    @Test func anyFlippedBitOfTheMessageFails() throws {
        let key = try Ed25519PublicKey(raw: Self.vector.publicKey)
        for byte in Self.vector.message.indices {
            for bit in 0..<8 {
                var message = Self.vector.message
                message[byte] ^= 1 << bit
                #expect(!key.isValidSignature(Self.vector.signature, for: message), "byte \(byte) bit \(bit)")
            }
        }
        #expect(!key.isValidSignature(Self.vector.signature, for: Self.vector.message + [0x0A]), "a trailing newline is another message")
        #expect(!key.isValidSignature(Self.vector.signature, for: Array(Self.vector.message.dropLast())))
    }

    @Test func anyFlippedBitOfTheSignatureFails() throws {
        let key = try Ed25519PublicKey(raw: Self.vector.publicKey)
        for byte in Self.vector.signature.indices {
            for bit in 0..<8 {
                var signature = Self.vector.signature
                signature[byte] ^= 1 << bit
                #expect(!key.isValidSignature(signature, for: Self.vector.message), "byte \(byte) bit \(bit)")
            }
        }
    }

    @Test func signatureOfTheWrongLengthFailsWithoutThrowing() throws {
        let key = try Ed25519PublicKey(raw: Self.vector.publicKey)
        #expect(!key.isValidSignature([], for: Self.vector.message))
        #expect(!key.isValidSignature(Array(Self.vector.signature.dropLast()), for: Self.vector.message))
        #expect(!key.isValidSignature(Self.vector.signature + [0], for: Self.vector.message))
    }

    @Test func anotherKeysSignatureFails() throws {
        for signer in rfc8032 {
            for checker in rfc8032 where checker.name != signer.name {
                let key = try Ed25519PublicKey(raw: checker.publicKey)
                #expect(!key.isValidSignature(signer.signature, for: signer.message), "\(signer.name) checked with \(checker.name)'s key")
            }
        }
        let generated = try Ed25519PrivateKey.generate()
        let signature = try generated.signature(for: Self.vector.message)
        let key = try Ed25519PublicKey(raw: Self.vector.publicKey)
        #expect(!key.isValidSignature(signature, for: Self.vector.message))
    }

    @Test func publicKeyOfTheWrongLengthIsRefused() {
        for length in [0, 31, 33, 64] {
            #expect(throws: CryptoError.self) { try Ed25519PublicKey(raw: [UInt8](repeating: 1, count: length)) }
        }
        do throws(CryptoError) {
            _ = try Ed25519PublicKey(raw: [1, 2, 3])
            Issue.record("a 3-byte key was accepted")
        } catch {
            #expect(error.kind == .invalidKey)
            #expect(error.message.contains("32 bytes, not 3"), "\(error)")
        }
    }
}

@Suite struct Ed25519PEMTests {
    @Test func generatedKeyRoundTripsThroughPEM() throws {
        let key = try Ed25519PrivateKey.generate()
        let pem = try key.pem()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(pem.hasSuffix("-----END PRIVATE KEY-----\n"))
        let again = try Ed25519PrivateKey(pem: pem)
        #expect(again.publicKey == key.publicKey)
        let pemAgain = try again.pem()
        #expect(pemAgain == pem)
        let message = Array("{\"id\":\"c-1\",\"action\":\"relay.open\"}\n".utf8)
        let signature = try key.signature(for: message)
        let signatureAgain = try again.signature(for: message)
        #expect(signatureAgain == signature)
        #expect(key.publicKey.isValidSignature(signature, for: message))
    }

    @Test func twoGeneratedKeysDiffer() throws {
        let a = try Ed25519PrivateKey.generate(), b = try Ed25519PrivateKey.generate()
        #expect(a.publicKey != b.publicKey)
    }

    /// X25519 keys have the same length and the same PEM labels; they must not pass as Ed25519.
    @Test func x25519KeysAreRefused() throws {
        let seed = rfc8032[0].secret
        let x25519Private = pem("PRIVATE KEY", Hex.parse("302e020100300506032b656e04220420")! + seed)
        let x25519Public = pem("PUBLIC KEY", Hex.parse("302a300506032b656e032100")! + rfc8032[0].publicKey)
        #expect(throws: CryptoError(.invalidKey, "not an Ed25519 key but an X25519 key")) { try Ed25519PrivateKey(pem: x25519Private) }
        #expect(throws: CryptoError(.invalidKey, "not an Ed25519 key but an X25519 key")) { try Ed25519PublicKey(pem: x25519Public) }
    }

    @Test func somethingElseIsRefusedWithOpenSSLsReason() throws {
        for text in ["", "not a key", rfc8032[0].publicKeyPEM, rfc8032[0].privateKeyPEM.replacing("MC4C", with: "MC5C", maxReplacements: 1)] {
            do throws(CryptoError) {
                _ = try Ed25519PrivateKey(pem: text)
                Issue.record("accepted as a private key: \(text)")
            } catch {
                #expect(error.kind == .invalidKey)
                #expect(error.message.hasPrefix("not an unencrypted PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----); OpenSSL: error:"), "\(error)")
            }
        }
        #expect(throws: CryptoError.self) { try Ed25519PublicKey(pem: rfc8032[0].privateKeyPEM) }
        #expect(throws: CryptoError.self) { try Ed25519PublicKey(pem: "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n") }
    }

    /// Refused, never prompted for: the daemon and scripts have no one to type a passphrase.
    @Test func encryptedPrivateKeyIsRefused() {
        let encrypted = """
            -----BEGIN ENCRYPTED PRIVATE KEY-----
            MIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBDQougvtIkyT2kZ9SIB
            nlOZAgIIADAMBggqhkiG9w0CCQUAMB0GCWCGSAFlAwQBKgQQgi4YFwXsmMy9Xl4S
            yMJ9CwRAPC+bzcHK1fAVkNt7R5O7xYpdTzw1RnQE9IhH51N6kLqKcuxhsu7laJqv
            InTWvXFBSBkkAq58qZmayTvyIdOJpw==
            -----END ENCRYPTED PRIVATE KEY-----

            """
        do throws(CryptoError) {
            _ = try Ed25519PrivateKey(pem: encrypted)
            Issue.record("an encrypted key was read without its passphrase")
        } catch {
            #expect(error.kind == .invalidKey)
        }
    }
}
