import MeterCore
import MeterIO

/// Opens buses and creates drivers for every protocol the agent speaks. A protocol is added here
/// once; the scheduler and the command line need no change.
public enum DriverFactory {
    public struct Unsupported: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public static func openBus(_ config: BusConfig) throws(Unsupported) -> any MeterBus {
        switch config.protocolName {
        case .modbus: return ModbusBus(config: config)
        case .dlt645, .dlt645_1997, .cjt188: return SerialLineBus(config: config)
        }
    }

    public static func driver(for device: DeviceConfig, on bus: any MeterBus) throws(Unsupported) -> any MeterDriver {
        switch device.profile.protocolName {
        case .modbus:
            guard let modbus = bus as? ModbusBus else {
                throw Unsupported("device \(device.id): profile speaks modbus but bus \(device.bus) does not")
            }
            do {
                return try ModbusMeterDriver(device: device, bus: modbus)
            } catch {
                throw Unsupported("device \(device.id) (profile \(device.profile.name)): \(error)")
            }
        case .dlt645, .dlt645_1997:
            guard let line = bus as? SerialLineBus else {
                throw Unsupported("device \(device.id): profile speaks \(device.profile.protocolName.rawValue) but bus \(device.bus) does not")
            }
            do {
                return try DLT645MeterDriver(device: device, bus: line)
            } catch {
                throw Unsupported("device \(device.id) (profile \(device.profile.name)): \(error)")
            }
        case .cjt188:
            guard let line = bus as? SerialLineBus else {
                throw Unsupported("device \(device.id): profile speaks cjt188 but bus \(device.bus) is not a serial line bus")
            }
            do {
                return try CJT188MeterDriver(device: device, bus: line)
            } catch {
                throw Unsupported(error.description)
            }
        }
    }
}
