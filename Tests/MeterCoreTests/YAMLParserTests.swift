import Testing
@testable import MeterCore

@Suite struct YAMLParserTests {
    @Test func everyNodeKnowsItsLineAndColumn() throws {
        let text = """
        gateway: gw-1
        buses:
          - id: rs485-1
            port: "/dev/ttyUSB0"
        tags: {flat: "301", building: A}
        """
        let root = try YAMLParser.parse(text, file: "site.yaml")
        #expect(root.location == SourceLocation(file: "site.yaml", line: 1, column: 1))
        #expect(root["gateway"]?.location.description == "site.yaml:1:10")
        let buses = try #require(root["buses"])
        #expect(buses.location.description == "site.yaml:3:3")
        guard case let .sequence(items) = buses.kind else { Issue.record("buses is not a list"); return }
        #expect(items.count == 1)
        #expect(items[0].location.description == "site.yaml:3:5")
        #expect(items[0]["port"]?.location.description == "site.yaml:4:11")
        #expect(items[0]["port"]?.scalar == "/dev/ttyUSB0")
        #expect(root["tags"]?.location.description == "site.yaml:5:7")
        #expect(root["tags"]?["building"]?.location.description == "site.yaml:5:31")
    }

    @Test func plainAndQuotedScalarsDiffer() throws {
        let root = try YAMLParser.parse("a: ~\nb: '~'\nc:\n", file: "x.yaml")
        #expect(root["a"]?.isNull == true)
        #expect(root["b"]?.isNull == false)
        #expect(root["b"]?.scalar == "~")
        #expect(root["c"]?.isNull == true)
    }

    @Test func aliasesResolveAtTheAliasLocation() throws {
        let root = try YAMLParser.parse("base: &b {baud: 9600}\ncopy: *b\n", file: "x.yaml")
        #expect(root["copy"]?["baud"]?.scalar == "9600")
        #expect(root["copy"]?.location.description == "x.yaml:2:7")
    }

    @Test func syntaxErrorsCarryTheirLocation() {
        #expect(throws: ConfigError.self) { try YAMLParser.parse("a: [1, 2\nb: 3\n", file: "bad.yaml") }
        do {
            _ = try YAMLParser.parse("a: [1, 2\nb: 3\n", file: "bad.yaml")
        } catch {
            #expect(error.location.file == "bad.yaml")
            #expect(error.location.line == 2)
            #expect(error.message.hasPrefix("invalid YAML: "))
        }
    }

    /// libyaml reads its input 16 kB at a time through a pointer to the parser it keeps between
    /// calls: a document many times that size, with locations at its end, reads whole and right.
    @Test func documentsLargerThanLibyamlsInputBufferParseWhole() throws {
        let count = 5_000
        let text = (0..<count).map { "key\($0): value-\($0)" }.joined(separator: "\n") + "\n"
        #expect(text.utf8.count > 4 * 16_384)
        let root = try YAMLParser.parse(text, file: "big.yaml")
        guard case let .mapping(entries) = root.kind else { Issue.record("root is not a mapping"); return }
        #expect(entries.count == count)
        #expect(root["key\(count - 1)"]?.scalar == "value-\(count - 1)")
        #expect(root["key\(count - 1)"]?.location.description == "big.yaml:\(count):\(6 + String(count - 1).count)")
    }

    @Test func anEmptyDocumentIsNull() throws {
        #expect(try YAMLParser.parse("", file: "empty.yaml").isNull)
        #expect(try YAMLParser.parse("# only a comment\n", file: "empty.yaml").isNull)
    }

    @Test func integersAcceptDecimalAndHex() {
        #expect(parseInteger("72") == 72)
        #expect(parseInteger("0x0048") == 72)
        #expect(parseInteger("0X4a") == 74)
        #expect(parseInteger("-1") == -1)
        #expect(parseInteger("+5") == 5)
        #expect(parseInteger("0x") == nil)
        #expect(parseInteger("1.5") == nil)
        #expect(parseInteger("twelve") == nil)
        #expect(parseInteger("") == nil)
    }

    @Test func pollIntervalsParseToMilliseconds() {
        #expect(SiteConfigLoader.parseInterval("500ms") == 500)
        #expect(SiteConfigLoader.parseInterval("15s") == 15_000)
        #expect(SiteConfigLoader.parseInterval("5m") == 300_000)
        #expect(SiteConfigLoader.parseInterval("1h") == 3_600_000)
        #expect(SiteConfigLoader.parseInterval("30") == 30_000)
        #expect(SiteConfigLoader.parseInterval("15 sec") == nil)
        #expect(SiteConfigLoader.parseInterval("1.5s") == nil)
        #expect(SiteConfigLoader.parseInterval("s") == nil)
        #expect(SiteConfigLoader.parseInterval("-5s") == nil)
    }

    @Test func pathHelpers() {
        #expect(FilePaths.directory(of: "Hardware/examples/site.yaml") == "Hardware/examples")
        #expect(FilePaths.directory(of: "site.yaml") == ".")
        #expect(FilePaths.directory(of: "/site.yaml") == "/")
        #expect(FilePaths.stem(of: "a/b/eastron-sdm120.yaml") == "eastron-sdm120")
        #expect(FilePaths.join("Hardware/examples", "../profiles") == "Hardware/examples/../profiles")
        #expect(FilePaths.join("x", "/abs") == "/abs")
        #expect(FilePaths.join(".", "rel") == "rel")
        #expect(FilePaths.tidy("Hardware/examples/../profiles") == "Hardware/profiles")
        #expect(FilePaths.tidy("/a/./b/../../../c") == "/c")
        #expect(FilePaths.tidy("../x/../../y") == "../../y")
        #expect(FilePaths.tidy("a/..") == ".")
    }
}
