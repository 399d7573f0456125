/// What a Modbus meter says about itself through Read Device Identification (function 0x2B,
/// MEI type 0x0E, basic objects): vendor name, product code and revision. A profile's
/// `identification:` block holds the first two, so that a scan can name the profile of a meter
/// it finds.
public struct ModbusIdentification: Sendable, Hashable {
    public var vendor: String
    public var productCode: String
    public var revision: String

    public init(vendor: String, productCode: String, revision: String = "") {
        self.vendor = vendor
        self.productCode = productCode
        self.revision = revision
    }

    /// Whether a meter that identified itself as `other` is of this model: vendor and product
    /// code equal, ignoring case and surrounding blanks (meters pad their strings); the revision
    /// does not matter.
    public func matches(_ other: ModbusIdentification) -> Bool {
        Self.normalized(vendor) == Self.normalized(other.vendor) && Self.normalized(productCode) == Self.normalized(other.productCode)
    }

    private static func normalized(_ text: String) -> String {
        String(text.lowercased().drop { $0 == " " }.reversed().drop { $0 == " " || $0 == "\0" }.reversed())
    }
}

extension ProfileLoader {
    static let identificationKeys = ["vendor", "product_code", "revision"]

    /// `identification: {vendor: Eastron, product_code: SDM630}` on a Modbus profile.
    static func decodeIdentification(_ node: YAMLNode, protocol wire: WireProtocol?, into d: inout ConfigDiagnostics) -> ModbusIdentification? {
        guard let m = d.mapping(node, what: "identification", allowed: identificationKeys, required: ["vendor", "product_code"]) else { return nil }
        if let wire, wire != .modbus {
            d.report(node, "'identification' is for Modbus profiles (read device identification, 0x2B/0x0E)")
            return nil
        }
        guard let vendor = d.string(m, "vendor"), let product = d.string(m, "product_code") else { return nil }
        let revision = m["revision"] == nil ? "" : d.string(m, "revision") ?? ""
        return ModbusIdentification(vendor: vendor, productCode: product, revision: revision)
    }
}
