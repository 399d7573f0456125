import CommandLineKit
import MeterCrypto
import MeterProtocols

/// `meteragent keys …`: the Ed25519 keys of signed commands (DESIGN.md, "Two-way service").
enum Keys: CommandNode {
    static let spec = CommandSpec(
        group: "keys",
        abstract: "Make the Ed25519 key pair that signs commands for gateways.",
        subcommands: [Generate.self]
    )

    struct Generate: Command {
        static let spec = CommandSpec(
            "generate",
            abstract: "Write NAME.key (private key) and NAME.pub (public key) for signed commands.",
            discussion: """
            NAME.key is PKCS#8 PEM, created with mode 0600; it stays with whoever signs commands \
            (meteragent sign --key NAME.key --key-id ID). NAME.pub is one line, the base64 of the \
            raw 32-byte public key, which goes into the site config of every gateway that is to \
            accept these commands: commands: {keys: [{id: ID, ed25519: <NAME.pub>}]}. Existing \
            files are never overwritten unless --force. Exit code 5: a file exists (without --force) \
            or cannot be written, or libcrypto.so.3 is missing.
            """,
            parameters: [
                .option("out", value: "name", required: true, help: "Path of the two files without extension: NAME.key and NAME.pub."),
                .option("key-id", value: "id", help: "The key's id in the site-config line printed at the end (default: the file name of NAME)."),
                .flag("force", help: "Replace existing NAME.key and NAME.pub."),
            ]
        )

        let out: String
        let keyID: String?
        let force: Bool

        init(_ values: ParsedValues) throws(ValidationError) {
            out = try values.value("out")
            keyID = try values.optional("key-id")
            force = values.flag("force")
        }

        func validate() throws {
            if out.isEmpty || out.hasSuffix("/") { throw ValidationError("--out needs a file name, e.g. --out keys/ops-1") }
            if keyID?.isEmpty == true { throw ValidationError("--key-id must not be empty") }
        }

        func run() throws {
            let keyPath = out + ".key", pubPath = out + ".pub"
            // Both checked before either is written, so a refusal leaves no half pair behind.
            if !force {
                for path in [keyPath, pubPath] where KeyFiles.exists(path) {
                    throw fail("\(path) exists; not overwriting it (--force replaces it)", Exit.keyUnusable)
                }
            }
            let key: Ed25519PrivateKey
            let pem: String
            do throws(CryptoError) {
                key = try Ed25519PrivateKey.generate()
                pem = try key.pem()
            } catch {
                throw fail(error.description, Exit.keyUnusable)
            }
            let publicKey = Base64.encode(key.publicKey.raw)
            do throws(KeyFiles.Failure) {
                if force {
                    try KeyFiles.remove(keyPath)
                    try KeyFiles.remove(pubPath)
                }
                try KeyFiles.create(keyPath, mode: 0o600, Array(pem.utf8))
                do throws(KeyFiles.Failure) {
                    try KeyFiles.create(pubPath, mode: 0o644, Array((publicKey + "\n").utf8))
                } catch {
                    try? KeyFiles.remove(keyPath)
                    throw error
                }
            } catch {
                throw fail(error.description, Exit.keyUnusable)
            }
            let id = keyID ?? String(out.split(separator: "/").last ?? Substring(out))
            print("""
                wrote \(keyPath) (private key, PKCS#8 PEM, mode 0600): keep it with whoever signs commands
                wrote \(pubPath) (public key)
                site config of the gateways that are to accept commands signed with it:
                  commands: {keys: [{id: \(id), ed25519: \(publicKey)}]}
                sign with: meteragent sign --key \(keyPath) --key-id \(id) < command.json
                """)
        }
    }
}
