import MeterCore
import MeterIO
import MeterProtocols

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
        case .modbus: try make(device, on: bus) { (d, b: ModbusBus) throws(PlanError) in try ModbusMeterDriver(device: d, bus: b) }
        case .dlt645, .dlt645_1997: try make(device, on: bus) { (d, b: SerialLineBus) throws(DLT645MeterDriver.ConfigurationError) in
            try DLT645MeterDriver(device: d, bus: b)
        }
        case .cjt188: try make(device, on: bus) { (d, b: SerialLineBus) throws(CJT188MeterDriver.ConfigurationError) in
            try CJT188MeterDriver(device: d, bus: b)
        }
        }
    }

    /// The driver `create` makes on `bus`, which must be the kind of bus the driver speaks through.
    private static func make<TypedBus, Failure: Error>(_ device: DeviceConfig, on bus: any MeterBus,
                                                        _ create: (DeviceConfig, TypedBus) throws(Failure) -> any MeterDriver)
        throws(Unsupported) -> any MeterDriver {
        guard let typed = bus as? TypedBus else {
            throw Unsupported("device \(device.id): profile speaks \(device.profile.protocolName.rawValue) but bus \(device.bus) does not")
        }
        do {
            return try create(device, typed)
        } catch {
            throw Unsupported("device \(device.id) (profile \(device.profile.name)): \(error)")
        }
    }
}
