import Foundation
import MeterCrypto
import MeterProtocols
import Testing

/// HMAC-SHA256 through libcrypto: RFC 4231 vectors, and the same keys and messages through
/// Python's own `hmac` module (an implementation we did not write or call through OpenSSL's HMAC API).
@Suite struct HMACTests {
    @Test func rfc4231Vectors() throws {
        // Test case 2: a short key.
        #expect(Hex.compact(try HMACSHA256.mac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))).lowercased()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Test case 6: a key longer than the block (hashed first).
        #expect(Hex.compact(try HMACSHA256.mac(key: [UInt8](repeating: 0xAA, count: 131),
                                               message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))).lowercased()
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func agreesWithPythonsHmacModule() throws {
        var generator = SystemRandomNumberGenerator()
        var cases: [(key: [UInt8], message: [UInt8])] = [([UInt8](repeating: 1, count: 32), [])]
        for length in [1, 5, 7, 10, 64, 65, 300] {
            cases.append(((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) },
                          (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        }
        // One line per case: KEYHEX MESSAGEHEX; Python answers with the MAC of each.
        let input = cases.map { Hex.compact($0.key) + " " + ($0.message.isEmpty ? "-" : Hex.compact($0.message)) }.joined(separator: "\n") + "\n"
        let script = """
            import sys, hmac, hashlib
            for line in sys.stdin:
                k, m = line.split()
                print(hmac.new(bytes.fromhex(k), b"" if m == "-" else bytes.fromhex(m), hashlib.sha256).hexdigest())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let python = output.split(separator: "\n").map(String.init)
        #expect(python.count == cases.count)
        for (index, item) in cases.enumerated() where index < python.count {
            #expect(Hex.compact(try HMACSHA256.mac(key: item.key, message: item.message)).lowercased() == python[index], "case \(index)")
        }
    }
}
