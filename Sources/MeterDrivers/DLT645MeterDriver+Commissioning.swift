import MeterIO
import MeterProtocols

/// Commissioning a DL/T 645-2007 meter (`meteragent commission`): a new address and a new rate.
extension DLT645MeterDriver {
    /// Gives the meter on the line a new address (0x15 to AA…AA, which every meter on the line
    /// takes: check first that it is alone); returns once it answered from the new address.
    public static func writeAddress(_ address: DLT645Address, on bus: SerialLineBus) async throws(SerialBusError) {
        let request: DLT645Frame
        do throws(DLT645Error) { request = try DLT645Request.writeAddress(address) } catch {
            throw SerialBusError(.invalidRequest, bus: bus.id, function: 0x15, message: error.description)
        }
        let item = "new address \(address)"
        let reply = try await transact(request, on: bus, device: DLT645Address.wildcard.written, item: item)
        do throws(DLT645Error) { try DLT645Reply.writeAddress(reply, answering: request) } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: DLT645Address.wildcard.written, function: 0x15, item: item,
                                 message: error.description)
        }
    }

    /// Tells the meter at `address` to use `baud` (0x17); it confirms at the old rate and listens
    /// at the new one from its next frame. A meter whose rate is fixed answers error bit 3.
    public static func changeBaud(to baud: Int, of address: DLT645Address, on bus: SerialLineBus) async throws(SerialBusError) {
        let request: DLT645Frame
        do throws(DLT645Error) { request = try DLT645Request.changeBaud(DLT645BaudFeature(baud: baud), of: address) } catch {
            throw SerialBusError(.invalidRequest, bus: bus.id, device: address.written, function: 0x17, message: error.description)
        }
        let item = "rate \(baud)"
        let reply = try await transact(request, on: bus, device: address.written, item: item)
        do throws(DLT645Error) { _ = try DLT645Reply.changeBaud(reply, answering: request) } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: address.written, function: 0x17, item: item,
                                 message: error.description)
        }
    }
}
