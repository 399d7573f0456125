import MeterCore
import MeterIO
import MeterProtocols
import Synchronization

/// Reads a CJ/T 188-2004 water, gas or heat meter on a `SerialLineBus` and drives its valve.
///
/// One poll is one read of current data (901F); every point of the profile is a field of that
/// reply. The DI byte order is a profile setting, but meters differ: when a meter stays silent
/// in the configured order, the driver asks once in the other order and, if that is answered,
/// keeps using it.
public final class CJT188MeterDriver: Sendable {
    public let device: DeviceConfig
    public let bus: SerialLineBus
    public let settings: CJT188Settings
    public let address: CJT188Address
    private let state = Mutex(State())

    struct State {
        var serial: UInt8 = 0
        /// The order the meter answered last; nil until it has answered.
        var learnedOrder: CJT188DIOrder?
    }

    /// Preamble bytes `FE` before each request: they wake meters whose receiver sleeps.
    public static let preamble = 2

    public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(device: DeviceConfig, bus: SerialLineBus) throws(ConfigurationError) {
        guard let settings = device.profile.cjt188 else {
            throw ConfigurationError(description: "device \(device.id): profile \(device.profile.name) has no CJ/T 188 settings")
        }
        guard let text = device.address, let address = CJT188Address(written: text) else {
            throw ConfigurationError(description: "device \(device.id): '\(device.address ?? "")' is not a 14-digit CJ/T 188 address")
        }
        self.device = device
        self.bus = bus
        self.settings = settings
        self.address = address
    }

    /// The DI order in use: the one the meter last answered, else the profile's.
    public var currentOrder: CJT188DIOrder { state.withLock { $0.learnedOrder } ?? settings.diOrder }

    private func nextSerial() -> UInt8 {
        state.withLock { s in
            s.serial &+= 1
            return s.serial
        }
    }

    public func unknownPoints(_ points: [PointName]) -> [PointName] {
        points.filter { device.profile.dataPoint(named: $0) == nil }
    }

    // MARK: - Transactions

    /// One request/reply; the reply frame and the payload after DI and SER.
    private func transact(_ build: (CJT188DIOrder, UInt8) -> CJT188Frame, dataID: CJT188DataID,
                          order: CJT188DIOrder) async throws(SerialBusError) -> ArraySlice<UInt8> {
        let frame = build(order, nextSerial())
        let request = SerialRequest(device: address.written, function: frame.control.rawValue, item: "DI \(dataID)",
                                    frame: frame.encoded(preamble: Self.preamble)) {
            CJT188ReplyScanner(request: frame, dataID: dataID)
        }
        let bytes = try await bus.transact(request)
        do throws(CJT188Error) {
            // The scanner checked the reply already; this only takes it apart again.
            let reply = try CJT188Frame.decode(bytes)
            return try CJT188Reply.payload(of: reply, answering: frame, dataID: dataID)
        } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: address.written, function: frame.control.rawValue,
                                 item: "DI \(dataID)", message: error.description)
        }
    }

    /// Runs a request in the current DI order and, if the meter stays silent, once in the other.
    private func transactEitherOrder(_ build: @escaping (CJT188DIOrder, UInt8) -> CJT188Frame,
                                     dataID: CJT188DataID) async throws(SerialBusError) -> ArraySlice<UInt8> {
        let first = currentOrder
        do {
            let payload = try await transact(build, dataID: dataID, order: first)
            state.withLock { $0.learnedOrder = first }
            return payload
        } catch where error.kind == .timeout {
            let payload = try await transact(build, dataID: dataID, order: first.other)
            state.withLock { $0.learnedOrder = first.other }
            return payload
        }
    }

    /// Reads current data (901F).
    public func readCurrentData() async throws(SerialBusError) -> CJT188CurrentData {
        let meterType = settings.meterType, address = address
        let payload = try await transactEitherOrder({ order, serial in
            CJT188Request.readCurrentData(meterType: meterType, address: address, order: order, serial: serial)
        }, dataID: .currentData)
        do throws(CJT188Error) {
            return try CJT188CurrentData.decode(payload, clockLayout: settings.clockLayout)
        } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: address.written, function: CJT188Control.readData.rawValue,
                                 item: "DI 901F", message: error.description)
        }
    }

    /// Sends a valve command (A017) and returns the status word of the reply.
    public func setValve(_ action: CJT188ValveAction) async throws(SerialBusError) -> CJT188Status {
        let meterType = settings.meterType, address = address
        let payload = try await transactEitherOrder({ order, serial in
            CJT188Request.valve(action, meterType: meterType, address: address, order: order, serial: serial)
        }, dataID: .valveControl)
        guard payload.count >= 2 else {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: address.written, function: CJT188Control.writeData.rawValue,
                                 item: "DI A017", message: "valve reply without a status word")
        }
        return CJT188Status(low: payload[payload.startIndex], high: payload[payload.startIndex + 1])
    }

    /// Asks the one meter on a line for its address (810A to the wildcard address).
    public static func readAddress(on bus: SerialLineBus, order: CJT188DIOrder = .highFirst,
                                   serial: UInt8 = 1) async throws(SerialBusError) -> (CJT188MeterType, CJT188Address) {
        let frame = CJT188Request.readAddress(order: order, serial: serial)
        let request = SerialRequest(device: CJT188Address.wildcard.written, function: frame.control.rawValue, item: "DI 810A",
                                    frame: frame.encoded(preamble: preamble)) {
            CJT188ReplyScanner(request: frame, dataID: .readAddress)
        }
        let bytes = try await bus.transact(request)
        do throws(CJT188Error) {
            let reply = try CJT188Frame.decode(bytes)
            return (reply.meterType, reply.address)
        } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, message: error.description)
        }
    }

    // MARK: - Readings

    /// One reading per requested point (all when nil) in profile order, from one 901F read.
    public func read(points: [PointName]? = nil, now: () -> Int64) async -> [Reading] {
        let wanted = points.map(Set.init)
        let selected = device.profile.dataPoints.filter { wanted?.contains($0.name) ?? true }
        guard !selected.isEmpty else { return [] }
        let outcome: Result<CJT188CurrentData, SerialBusError>
        do throws(SerialBusError) {
            outcome = .success(try await readCurrentData())
        } catch {
            outcome = .failure(error)
        }
        let stamp = now()
        return selected.map { point in
            let (value, unit, quality): (MeterValue?, String, Quality)
            switch outcome {
            case let .success(data):
                (value, unit, quality) = Self.value(of: point, field: settings.fields[point.name], in: data)
            case let .failure(error):
                (value, unit, quality) = (nil, point.unit, error.quality)
            }
            return Reading(device: device.id, point: point.name, value: value, unit: unit, timestampMs: stamp,
                           quality: quality, billing: point.billing)
        }
    }

    /// The value of one field. Totals carry the meter's own unit when its code is in the table
    /// (a meter that counts in litres says so), the profile's otherwise.
    static func value(of point: DataPointDefinition, field: CJT188Field?, in data: CJT188CurrentData)
        -> (MeterValue?, String, Quality)
    {
        switch field {
        case .current: return (.decimal(data.currentTotal), data.currentUnit.symbol ?? point.unit, .good)
        case .settlement: return (.decimal(data.settlementTotal), data.settlementUnit.symbol ?? point.unit, .good)
        case .clock:
            guard let clock = data.clock else { return (nil, point.unit, .invalidValue) }
            return (.decimal(ExactDecimal(significand: clock.compactValue, exponent: 0)), point.unit, .good)
        case .valveOpen: return (.bool(data.status.valve == .open), point.unit, .good)
        case .valveFault: return (.bool(data.status.valveFault), point.unit, .good)
        case .batteryLow: return (.bool(data.status.batteryLow), point.unit, .good)
        case .status:
            let word = Int64(data.status.low) | Int64(data.status.high) << 8
            return (.decimal(ExactDecimal(significand: word, exponent: 0)), point.unit, .good)
        case nil: return (nil, point.unit, .invalidValue)
        }
    }

    // MARK: - Commands

    /// Opens or closes the valve, then reads current data back to confirm the position.
    public func execute(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome {
        let action: CJT188ValveAction
        switch command {
        case .valveOpen: action = .open
        case .valveClose: action = .close
        default:
            return CommandOutcome(device: device.id, command: command, status: .unsupported,
                                  message: "CJ/T 188 meters take valve.open and valve.close only", quality: .good)
        }
        let wanted: CJT188ValveState = action == .open ? .open : .closed
        let replyStatus: CJT188Status
        do throws(SerialBusError) {
            replyStatus = try await setValve(action)
        } catch {
            if case .meterError = error.kind {
                return CommandOutcome(device: device.id, command: command, status: .rejected,
                                      message: "meter refused the valve command: \(error)", quality: error.quality)
            }
            return CommandOutcome(device: device.id, command: command, status: .failed, message: error.description,
                                  quality: error.quality)
        }
        let valvePoints = device.profile.dataPoints.filter {
            [.valveOpen, .valveFault, .status].contains(settings.fields[$0.name])
        }.map(\.name)
        var observed: [Reading] = []
        let readBack: Result<CJT188CurrentData, SerialBusError>
        do throws(SerialBusError) {
            readBack = .success(try await readCurrentData())
        } catch {
            readBack = .failure(error)
        }
        let stamp = now()
        switch readBack {
        case let .success(data):
            for name in valvePoints {
                guard let point = device.profile.dataPoint(named: name) else { continue }
                let (value, unit, quality) = Self.value(of: point, field: settings.fields[name], in: data)
                observed.append(Reading(device: device.id, point: name, value: value, unit: unit, timestampMs: stamp,
                                        quality: quality, billing: false))
            }
            if data.status.valve == wanted {
                return CommandOutcome(device: device.id, command: command, status: .confirmed,
                                      message: "valve \(data.status.valve)", observed: observed)
            }
            return CommandOutcome(device: device.id, command: command, status: .accepted,
                                  message: "meter took the command (reply: valve \(replyStatus.valve)) but reads back valve \(data.status.valve)"
                                      + (data.status.valveFault ? " (valve fault)" : ""),
                                  observed: observed)
        case let .failure(error):
            return CommandOutcome(device: device.id, command: command, status: .accepted,
                                  message: "meter took the command (reply: valve \(replyStatus.valve)); read-back failed: \(error)",
                                  quality: error.quality)
        }
    }
}
