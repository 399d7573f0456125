import ArgumentParser
import MeterAgent
import MeterCore
import MeterDrivers
import MeterIO

/// Asks the only DL/T 645 meter on a line for its address (0x13 to AA…AA) and prints it, so a
/// technician can probe a meter whose nameplate is out of sight. Two meters on the line collide
/// and the request times out: then `--address` is needed.
func probeDLT645Address(_ config: BusConfig) async throws -> String {
    let bus = SerialLineBus(config: config)
    defer { bus.close() }
    do throws(SerialBusError) {
        let address = try await DLT645MeterDriver.readAddress(on: bus).written
        print("address \(address)")
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
