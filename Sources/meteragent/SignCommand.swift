#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CommandLineKit
import MeterCore
import MeterCrypto
import MeterProtocols

/// `meteragent sign`: what the head-end does to a command, for tests on site and for scripts.
struct Sign: Command {
    static let spec = CommandSpec(
        "sign",
        abstract: "Sign a command: read its JSON on stdin, print the signed envelope to publish.",
        discussion: """
        The signature covers exactly the bytes read from standard input, including a trailing \
        newline if there is one (echo adds it, printf '%s' does not): the gateway checks the \
        signature over the payload's decoded bytes, so nothing is trimmed, reformatted or \
        canonicalised, here or there. Prints one line: \
        {"key":ID,"payload":<base64 of those bytes>,"sig":<base64 of the Ed25519 signature>}. \
        Exit code 5: the key file cannot be read or is not an Ed25519 PKCS#8 key, or \
        libcrypto.so.3 is missing; 64: empty input.
        """,
        parameters: [
            .option("key", value: "file", required: true, help: "Private key (PKCS#8 PEM, as `keys generate` writes it)."),
            .option("key-id", value: "id", required: true, help: "The key's id in the gateways' site config (commands.keys[].id)."),
        ]
    )

    let key: String
    let keyID: String

    init(_ values: ParsedValues) throws(ValidationError) {
        key = try values.value("key")
        keyID = try values.value("key-id")
    }

    func validate() throws {
        if keyID.isEmpty { throw ValidationError("--key-id must not be empty") }
    }

    func run() throws {
        let privateKey: Ed25519PrivateKey
        do {
            privateKey = try Ed25519PrivateKey(pem: try KeyFiles.text(of: key))
        } catch let error as KeyFiles.Failure {
            throw fail(error.description, Exit.keyUnusable)
        } catch let error as CryptoError where error.kind == .unavailable {
            throw fail(error.description, Exit.keyUnusable)
        } catch {
            throw fail("\(key): \(error)", Exit.keyUnusable)
        }
        let command: [UInt8]
        do throws(KeyFiles.Failure) {
            command = try KeyFiles.readAll(STDIN_FILENO, name: "standard input")
        } catch {
            throw fail(error.description, Exit.keyUnusable)
        }
        if command.isEmpty {
            throw fail("nothing to sign: standard input was empty (pipe the command JSON in)", ExitCode.validationFailure)
        }
        let signature: [UInt8]
        do throws(CryptoError) {
            signature = try privateKey.signature(for: command)
        } catch {
            throw fail(error.description, Exit.keyUnusable)
        }
        var w = JSONWriter(capacity: command.count * 4 / 3 + 160)
        w.raw("{\"key\":"); w.string(keyID)
        w.raw(",\"payload\":"); w.string(Base64.encode(command))
        w.raw(",\"sig\":"); w.string(Base64.encode(signature))
        w.raw("}")
        print(w.text)
    }
}
