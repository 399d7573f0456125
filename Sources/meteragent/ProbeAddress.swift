import MeterAgent
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols

/// Asks the only meter on a DL/T 645 or CJ/T 188 line for its address (DL/T 645: 0x13 to AA…AA;
/// CJ/T 188: DI 810A to the wildcard address, in the profile's DI byte order, then in the other
/// one, since meters of one model differ) and prints it, so a
/// technician can probe a meter whose nameplate is out of sight. Two meters on the line collide
/// and the request times out: then `--address` is needed.
func probeAddress(_ config: BusConfig, profile: DeviceProfile) async throws -> String {
    let bus = SerialLineBus(config: config)
    defer { bus.close() }
    do throws(SerialBusError) {
        let address: String
        if let settings = profile.cjt188 {
            let reply: (CJT188MeterType, CJT188Address)
            do throws(SerialBusError) {
                reply = try await CJT188MeterDriver.readAddress(on: bus, order: settings.diOrder)
            } catch where error.kind == .timeout {
                reply = try await CJT188MeterDriver.readAddress(on: bus, order: settings.diOrder.other)
            }
            let (meterType, found) = reply
            address = found.written
            print("address \(address) (meter type \(meterType))")
        } else {
            address = try await DLT645MeterDriver.readAddress(on: bus).written
            print("address \(address)")
        }
        return address
    } catch {
        let code = error.kind == .connection ? Exit.busUnavailable : Exit.deviceFailed
        let port = switch config.transport {
        case let .serial(port, _, _): port
        case let .tcp(host, port): "\(host):\(port)"
        }
        throw fail("no meter answered the address request on \(port) (\(error)); with several meters on the line, give --address", code)
    }
}
