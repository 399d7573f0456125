import Testing
import MeterProtocols

/// RFC 4648 section 10 vectors both ways, and the text a strict decoder must refuse: an envelope's
/// payload and signature are checked as exactly the bytes they decode to.
@Suite struct Base64Tests {
    static let rfc4648: [(String, String)] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test func rfc4648VectorsEncode() {
        for (plain, encoded) in Self.rfc4648 {
            #expect(Base64.encode(Array(plain.utf8)) == encoded, "\(plain)")
        }
    }

    @Test func rfc4648VectorsDecode() {
        for (plain, encoded) in Self.rfc4648 {
            #expect(Base64.decode(encoded) == Array(plain.utf8), "\(encoded)")
        }
    }

    @Test func everyByteValueAndLengthRoundTrips() {
        let all = (0...255).map(UInt8.init)
        for length in 0...all.count {
            let bytes = Array(all[0..<length])
            #expect(Base64.decode(Base64.encode(bytes)) == bytes, "length \(length)")
        }
        // The two characters beyond A–Z, a–z, 0–9.
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
        #expect(Base64.decode("+/8=") == [0xFB, 0xFF])
    }

    @Test func takesASubstring() {
        let text = "xZm9vx"
        #expect(Base64.decode(text.dropFirst().dropLast()) == Array("foo".utf8))
    }

    @Test(arguments: [
        "Zm9v\n", " Zm9v", "Zm 9v", "Zm9v\r\n",   // whitespace is not skipped
        "Zm-v", "Zm_v",                            // URL-safe alphabet
        "Zm9*", "Zm9v\0", "Zm9vYg=\u{e9}",         // other characters
    ])
    func refusesCharactersOutsideTheAlphabet(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test(arguments: [
        "Zg", "Zg=", "Zm8", "Zm9vYg", "Zm9vYmE",   // padding missing
        "Zg===", "Zm8==", "Zm9v====",              // too much padding
        "Z===", "====", "=Zg=", "Z=g=",            // padding in the wrong place
        "Zg==Zm9v", "Zm8=Zm9v",                    // padding before the last group
    ])
    func refusesBadPadding(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test(arguments: ["Z", "Zm9", "Zm9vY", "Zm9vYmFy="])
    func refusesALengthThatIsNotAMultipleOfFour(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    /// `Zh==` and `Zm9=` carry set bits after the last byte: another text for the same bytes.
    @Test(arguments: ["Zh==", "Zm9=", "Zm9vYh==", "Zm9vYmF="])
    func refusesNonZeroBitsAfterTheLastByte(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
