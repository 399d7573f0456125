import Foundation
import MeterCrypto
import MeterProtocols
import Testing

/// Ed25519 cross-checked against PyPI `cryptography` (Tests/Interop/ed25519_peer.py): keys from
/// `meteragent keys generate` load there, envelopes from `meteragent sign` verify there, and
/// MeterCrypto's verifier accepts what Python signed. The peer shares none of our code: its own
/// PEM and base64 handling and its own build of the primitive (the wheel's bundled OpenSSL).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SignedCommandTests {
    /// A command as the head-end would send it, with a non-ASCII value and the trailing newline
    /// `echo` leaves: both must survive signing byte for byte.
    static let command = Array("{\"id\":\"c-42\",\"gateway\":\"gw-1\",\"device\":\"zähler-3\",\"action\":\"relay.open\",\"params\":{},\"issued_at\":\"2026-12-04T10:00:00Z\",\"expires_at\":\"2026-12-04T10:05:00Z\"}\n".utf8)

    /// The peer's interpreter (Makefile: `cryptography` in PY_PEERS, `make py-deps`). A missing
    /// interpreter or package fails the test: a cross-check that quietly does not run checks nothing.
    static func python() throws -> String {
        let path = Paths.python
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("no Python interpreter at \(path) for the Ed25519 peer (run `make py-deps`, or set METERAGENT_PYTHON)")
        }
        let check = try runCommand(path, ["-c", "import cryptography"])
        guard check.status == 0 else {
            throw HarnessError("\(path) cannot import cryptography (run `make py-deps`): \(check.stderr)")
        }
        return path
    }

    /// Runs the peer and returns its one JSON object.
    static func peer(_ arguments: [String], input: [UInt8]? = nil) throws -> [String: Any] {
        let script = [Paths.interopScript("ed25519_peer.py")] + arguments
        let python = try python()
        let result = if let input { try runWithInput(python, script, input: input) } else { try runCommand(python, script) }
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw HarnessError("ed25519_peer.py \(arguments.first ?? "") exited with \(result.status): \(result.stdout) \(result.stderr)")
        }
        return object
    }

    /// `keys generate --out DIR/ops-1`: the two file paths.
    static func generate(in dir: URL, _ extra: [String] = []) throws -> (key: String, pub: String) {
        let out = dir.appendingPathComponent("ops-1").path
        let result = try runCommand(Paths.meteragent, ["keys", "generate", "--out", out] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        return (out + ".key", out + ".pub")
    }

    static func mode(_ path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw HarnessError("stat \(path): errno \(errno)") }
        return info.st_mode & 0o777
    }

    @Test func helpListsKeysAndSign() throws {
        let help = try runCommand(Paths.meteragent, ["--help"])
        #expect(help.status == 0)
        for verb in ["keys", "sign"] {
            #expect(help.stdout.contains("  \(verb) "), "--help lacks \(verb): \(help.stdout)")
        }
        let sign = try runCommand(Paths.meteragent, ["sign", "--help"])
        #expect(sign.stdout.contains("trailing"), "sign --help must say that the bytes are signed as read: \(sign.stdout)")
    }

    @Test func generatedKeyIsPrivateAndLoadsInCryptography() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("ops-1").path
        let result = try runCommand(Paths.meteragent, ["keys", "generate", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let (key, pub) = (out + ".key", out + ".pub")
        let mode = try Self.mode(key)
        #expect(mode == 0o600, "mode \(String(mode, radix: 8))")
        let pubText = try String(contentsOfFile: pub, encoding: .utf8)
        let raw = try #require(Base64.decode(pubText.dropLast()), "\(pub): \(pubText)")
        #expect(raw.count == 32)
        #expect(pubText.hasSuffix("\n"))
        #expect(result.stdout.contains("commands: {keys: [{id: ops-1, ed25519: \(pubText.dropLast())}]}"), "\(result.stdout)")
        #expect(result.stdout.contains(key) && result.stdout.contains(pub))

        let check = try Self.peer(["check-keypair", key, pub])
        #expect(check["ed25519"] as? Bool == true, "\(check)")
        #expect(check["matches"] as? Bool == true, "\(check)")
    }

    @Test func existingFilesAreKeptUnlessForced() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (key, pub) = try Self.generate(in: dir)
        let before = try String(contentsOfFile: key, encoding: .utf8)

        // Only the .pub there: still refused, and nothing written (no half pair).
        try FileManager.default.removeItem(atPath: key)
        let refused = try runCommand(Paths.meteragent, ["keys", "generate", "--out", dir.appendingPathComponent("ops-1").path])
        #expect(refused.status == 5)
        #expect(refused.stderr == "meteragent: \(pub) exists; not overwriting it (--force replaces it)\n")
        #expect(!FileManager.default.fileExists(atPath: key))

        // A world-readable file in the key's place: --force replaces it by a new file of mode 0600.
        try before.write(toFile: key, atomically: false, encoding: .utf8)
        #expect(chmod(key, 0o644) == 0)
        _ = try Self.generate(in: dir, ["--force", "--key-id", "ops-2"])
        let mode = try Self.mode(key)
        #expect(mode == 0o600, "mode \(String(mode, radix: 8))")
        let after = try String(contentsOfFile: key, encoding: .utf8)
        #expect(after != before)
        let check = try Self.peer(["check-keypair", key, pub])
        #expect(check["matches"] as? Bool == true, "\(check)")
    }

    @Test func signedEnvelopeVerifiesInCryptography() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (key, pub) = try Self.generate(in: dir)
        let signed = try runWithInput(Paths.meteragent, ["sign", "--key", key, "--key-id", "ops-1"], input: Self.command)
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.stdout.hasSuffix("}\n") && signed.stdout.filter { $0 == "\n" }.count == 1, "one line: \(signed.stdout)")

        let parsed = try JSONSerialization.jsonObject(with: Data(signed.stdout.utf8))
        let envelope = try #require(parsed as? [String: String], "\(signed.stdout)")
        #expect(envelope.keys.sorted() == ["key", "payload", "sig"])
        #expect(envelope["key"] == "ops-1")
        #expect(Base64.decode(envelope["payload"] ?? "") == Self.command, "the payload is the exact bytes read, newline included")

        let verified = try Self.peer(["verify", pub], input: Array(signed.stdout.utf8))
        #expect(verified["valid"] as? Bool == true, "\(verified)")
        #expect(verified["payload_hex"] as? String == Self.command.map { String(format: "%02x", $0) }.joined())

        // The peer's check can fail: the same envelope with the payload one byte shorter does not verify.
        var tampered = envelope
        tampered["payload"] = Base64.encode(Self.command.dropLast())
        let tamperedLine = try JSONSerialization.data(withJSONObject: tampered)
        let refused = try Self.peer(["verify", pub], input: Array(tamperedLine))
        #expect(refused["valid"] as? Bool == false, "\(refused)")

        // And our own verifier agrees with the peer on both.
        let pubText = try String(contentsOfFile: pub, encoding: .utf8)
        let publicKey = try Ed25519PublicKey(raw: try #require(Base64.decode(pubText.dropLast())))
        let signature = try #require(Base64.decode(envelope["sig"] ?? ""))
        #expect(publicKey.isValidSignature(signature, for: Self.command))
        #expect(!publicKey.isValidSignature(signature, for: Array(Self.command.dropLast())))
    }

    @Test func signRefusesEmptyInputAndBadKeys() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (key, pub) = try Self.generate(in: dir)

        let empty = try runCommand(Paths.meteragent, ["sign", "--key", key, "--key-id", "ops-1"])
        #expect(empty.status == 64)
        #expect(empty.stdout.isEmpty)
        #expect(empty.stderr.contains("standard input was empty"), "\(empty.stderr)")

        let missing = dir.appendingPathComponent("nope.key").path
        let unreadable = try runWithInput(Paths.meteragent, ["sign", "--key", missing, "--key-id", "ops-1"], input: Self.command)
        #expect(unreadable.status == 5)
        #expect(unreadable.stderr == "meteragent: cannot read \(missing): No such file or directory\n")

        let notPrivate = try runWithInput(Paths.meteragent, ["sign", "--key", pub, "--key-id", "ops-1"], input: Self.command)
        #expect(notPrivate.status == 5)
        #expect(notPrivate.stderr.hasPrefix("meteragent: \(pub): not an unencrypted PKCS#8 PEM private key"), "\(notPrivate.stderr)")
        #expect(notPrivate.stdout.isEmpty)
    }

    /// The other direction: Python makes the key and the signature, MeterCrypto checks them.
    @Test func meterCryptoAcceptsWhatCryptographySigned() throws {
        let signed = try Self.peer(["sign", Self.command.map { String(format: "%02x", $0) }.joined()])
        let raw = try #require(Base64.decode(signed["public"] as? String ?? ""))
        let signature = try #require(Base64.decode(signed["sig"] as? String ?? ""))
        let key = try Ed25519PublicKey(raw: raw)
        #expect(key.isValidSignature(signature, for: Self.command))

        let fromPEM = try Ed25519PublicKey(pem: signed["public_pem"] as? String ?? "")
        #expect(fromPEM == key)

        var message = Self.command
        message[message.count / 2] ^= 0x01
        #expect(!key.isValidSignature(signature, for: message))
        var forged = signature
        forged[0] ^= 0x80
        #expect(!key.isValidSignature(forged, for: Self.command))
        let otherKey = try Ed25519PrivateKey.generate().publicKey
        #expect(!otherKey.isValidSignature(signature, for: Self.command))
    }
}

/// Runs a command with `input` on its stdin (then end of file) and returns its status and output.
func runWithInput(_ executable: String, _ arguments: [String], input: [UInt8], timeout: Double = 30) throws
    -> (status: Int32, stdout: String, stderr: String) {
    let dir = try Paths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("stdin")
    try Data(input).write(to: file)
    // Through the shell's redirection: ChildProcess gives its children /dev/null as stdin.
    let child = try ChildProcess("/bin/sh", ["-c", "exec \"$0\" \"$@\" < \"$STDIN_FILE\"", executable] + arguments,
                                 environment: ["STDIN_FILE": file.path])
    let status = child.wait(timeout: timeout)
    return (status, child.stdout, child.stderr)
}
