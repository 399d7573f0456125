/// Read Device Identification (function 0x2B, MEI type 0x0E): the request for the basic objects
/// (vendor name, product code, revision) and the objects of a reply, by object id.
public enum ModbusDeviceIdentification {
    public static let vendorName: UInt8 = 0x00
    public static let productCode: UInt8 = 0x01
    public static let revision: UInt8 = 0x02

    /// The PDU asking for the basic objects as a stream (read code 01, from object 00).
    public static let basicRequest: [UInt8] = [0x2B, 0x0E, 0x01, 0x00]

    /// The objects of a reply PDU (`2B 0E code conformity more next count (id len value)…`);
    /// nil when it is not a well-formed identification reply.
    public static func objects(in pdu: some Collection<UInt8>) -> [UInt8: [UInt8]]? {
        let bytes = Array(pdu)
        guard bytes.count >= 7, bytes[0] == 0x2B, bytes[1] == 0x0E else { return nil }
        var objects: [UInt8: [UInt8]] = [:]
        var offset = 7
        for _ in 0..<Int(bytes[6]) {
            guard bytes.count >= offset + 2 else { return nil }
            let length = Int(bytes[offset + 1])
            guard bytes.count >= offset + 2 + length else { return nil }
            objects[bytes[offset]] = Array(bytes[(offset + 2)..<(offset + 2 + length)])
            offset += 2 + length
        }
        return objects
    }
}
