import MeterProtocols

public enum Parity: String, Sendable, Hashable, CaseIterable {
    case none, even, odd

    /// The letter libmodbus and the technicians use: N, E, O.
    public var letter: Character {
        switch self {
        case .none: "N"
        case .even: "E"
        case .odd: "O"
        }
    }
}

/// Line settings of a serial bus.
public struct SerialSettings: Sendable, Hashable {
    public var baud: Int
    public var parity: Parity
    public var dataBits: Int
    public var stopBits: Int

    public init(baud: Int = 9600, parity: Parity = .none, dataBits: Int = 8, stopBits: Int = 1) {
        self.baud = baud
        self.parity = parity
        self.dataBits = dataBits
        self.stopBits = stopBits
    }

    public var framing: SerialFraming {
        SerialFraming(baud: baud, dataBits: dataBits, parityBit: parity != .none, stopBits: stopBits)
    }

    /// `9600 8N1` as written on meter labels.
    public var summary: String { "\(baud) \(dataBits)\(parity.letter)\(stopBits)" }
}

/// The wire protocol a device or bus speaks.
public enum WireProtocol: String, Sendable, Hashable, CaseIterable {
    case modbus
    /// DL/T 645-2007 electricity meters (4-byte data identifiers).
    case dlt645
    /// DL/T 645-1997 electricity meters (2-byte data identifiers, other control codes).
    case dlt645_1997
    /// CJ/T 188-2004 water, gas and heat meters.
    case cjt188

    /// Devices on these lines are named by a BCD meter address (`address:`), not a Modbus unit id.
    public var usesMeterAddress: Bool { self != .modbus }

    /// Digits of a meter address: 12 for DL/T 645, 14 for CJ/T 188, 0 for Modbus.
    public var addressDigits: Int {
        switch self {
        case .modbus: 0
        case .dlt645, .dlt645_1997: 12
        case .cjt188: 14
        }
    }

    /// The line a bus of this protocol gets when the site config names no baud rate or parity:
    /// 9600 8N1 for Modbus, 2400 8E1 for DL/T 645-2007 and CJ/T 188, 1200 8E1 for DL/T 645-1997.
    public var defaultSerialSettings: SerialSettings {
        switch self {
        case .modbus: SerialSettings()
        case .dlt645, .cjt188: SerialSettings(baud: 2400, parity: .even)
        case .dlt645_1997: SerialSettings(baud: 1200, parity: .even)
        }
    }
}

/// One value a meter exposes.
public struct PointDefinition: Sendable, Hashable {
    public var name: PointName
    public var table: RegisterTable
    public var address: UInt16
    public var type: ValueType
    public var wordOrder: WordOrder
    /// Engineering value = raw × scale + offset.
    public var scale: ExactDecimal
    public var offset: ExactDecimal
    public var unit: String
    /// Billing-grade points keep exact decimals and go to the outbox's billing class.
    public var billing: Bool

    public init(name: PointName, table: RegisterTable, address: UInt16, type: ValueType,
                wordOrder: WordOrder = .ABCD, scale: ExactDecimal = .one, offset: ExactDecimal = .zero,
                unit: String = "", billing: Bool = false) {
        self.name = name
        self.table = table
        self.address = address
        self.type = type
        self.wordOrder = wordOrder
        self.scale = scale
        self.offset = offset
        self.unit = unit
        self.billing = billing
    }

    public var span: PointSpan { PointSpan(table: table, address: address, count: type.registerCount) }
}

/// A meter model's register map and defaults, loaded from `Hardware/profiles/NAME.yaml`.
public struct DeviceProfile: Sendable, Hashable {
    /// The file stem, which site configs use to name the profile.
    public var name: String
    public var manufacturer: String
    public var model: String
    public var medium: Medium
    public var protocolName: WireProtocol
    /// True for profiles that describe a class of meters rather than one vendor's model.
    public var generic: Bool
    public var serialDefaults: SerialSettings
    /// Largest read the meter accepts (some refuse the full 125).
    public var maxRegistersPerRead: Int
    /// Largest hole of unused registers worth reading through to save a request.
    public var maxGap: Int
    public var points: [PointDefinition]
    /// Points of meters addressed by data identifier (DL/T 645, CJ/T 188); empty for Modbus.
    public var dataPoints: [DataPointDefinition] = []
    /// DL/T 645 relay control as this model accepts it; nil when the profile has no `relay:`.
    public var relay: RelayControlSettings?
    /// The head-end actions this model supports and how (`actions:`); `read.now` and the agent's own
    /// actions are not listed here.
    public var actions: [CommandAction: ActionMapping] = [:]
    /// CJ/T 188 meter type, DI order and reply fields; nil for other protocols.
    public var cjt188: CJT188Settings?
    /// What `meteragent commission` may write (`settings:`); nil when the profile declares nothing.
    public var settings: CommissionSettings?
    /// Modbus: what the meter answers to Read Device Identification, to recognise it in a scan.
    public var identification: ModbusIdentification?
    /// Points whose changes are events (`state: true`, `bits:`), by point name.
    public var states: [PointName: StateWatch] = [:]
    /// Where it was loaded from, for error messages.
    public var source: String

    public init(name: String, manufacturer: String, model: String, medium: Medium, protocolName: WireProtocol = .modbus,
                generic: Bool = false, serialDefaults: SerialSettings = SerialSettings(),
                maxRegistersPerRead: Int = ModbusLimits.maxReadRegisters, maxGap: Int = 10,
                points: [PointDefinition], source: String = "") {
        self.name = name
        self.manufacturer = manufacturer
        self.model = model
        self.medium = medium
        self.protocolName = protocolName
        self.generic = generic
        self.serialDefaults = serialDefaults
        self.maxRegistersPerRead = maxRegistersPerRead
        self.maxGap = maxGap
        self.points = points
        self.source = source
    }

    public func point(named name: PointName) -> PointDefinition? { points.first { $0.name == name } }

    public func dataPoint(named name: PointName) -> DataPointDefinition? { dataPoints.first { $0.name == name } }

    /// Every point name the profile defines, whichever protocol it speaks.
    public var pointNames: [PointName] { points.map(\.name) + dataPoints.map(\.name) }

    public var planner: ReadPlanner { ReadPlanner(maxRegisters: maxRegistersPerRead, maxGap: maxGap) }
}
