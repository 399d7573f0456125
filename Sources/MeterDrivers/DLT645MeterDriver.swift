import MeterCore
import MeterIO
import MeterProtocols

/// Reads a DL/T 645 electricity meter (2007, or 1997 with 2-byte identifiers) described by a
/// profile of data points, one request per point, through the line's `SerialLineBus`; carries
/// out relay control and time sync (see `DLT645MeterDriver+Commands.swift`).
public struct DLT645MeterDriver: MeterDriver {
    public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public let device: DeviceConfig
    public let bus: SerialLineBus
    public let address: DLT645Address
    /// DL/T 645-1997: control 0x01 and 2-byte identifiers.
    public let is1997: Bool

    public init(device: DeviceConfig, bus: SerialLineBus) throws(ConfigurationError) {
        guard let written = device.address else {
            throw ConfigurationError(description: "device \(device.id) has no DL/T 645 address")
        }
        do {
            address = try DLT645Address(written)
        } catch {
            throw ConfigurationError(description: "device \(device.id): \(error)")
        }
        guard address.isUnicast else {
            throw ConfigurationError(description: "device \(device.id): \(written) is not a single meter's address")
        }
        self.device = device
        self.bus = bus
        is1997 = device.profile.protocolName == .dlt645_1997
    }

    public func unknownPoints(_ points: [PointName]) -> [PointName] {
        points.filter { device.profile.dataPoint(named: $0) == nil }
    }

    /// One reading per point, in profile order; a failed read gives its point the failure's quality.
    public func read(points: [PointName]? = nil, now: () -> Int64) async -> [Reading] {
        let all = device.profile.dataPoints
        let selected = points.map { wanted in all.filter { wanted.contains($0.name) } } ?? all
        var readings: [Reading] = []
        readings.reserveCapacity(selected.count)
        for point in selected {
            let (value, quality) = await read(point)
            readings.append(Reading(device: device.id, point: point.name, value: value, unit: point.unit,
                                    timestampMs: now(), quality: quality, billing: point.billing))
        }
        return readings
    }

    /// Reads and decodes one point.
    public func read(_ point: DataPointDefinition) async -> (MeterValue?, Quality) {
        let payload: [UInt8]
        do throws(SerialBusError) {
            payload = try await readItem(DLT645DataID(point.di, width: is1997 ? 2 : 4))
        } catch {
            return (nil, error.quality)
        }
        return Self.decode(payload, as: point)
    }

    /// Decodes a data item's payload with the point's format and scale.
    static func decode(_ payload: [UInt8], as point: DataPointDefinition) -> (MeterValue?, Quality) {
        let format: DLT645ValueFormat
        switch point.format.kind {
        case let .bcd(digits, decimals, signed): format = .bcd(digits: digits, decimals: decimals, signed: signed)
        case let .binary(bytes): format = .binary(bytes: bytes)
        case let .clock(pattern):
            guard let known = DLT645ClockPattern(rawValue: pattern) else { return (nil, .invalidValue) }
            format = .clock(known)
        }
        guard var value = try? format.decode(payload) else { return (nil, .invalidValue) }
        if case .clock(.date) = format {
            // YYMMDDWW → YYYYMMDD: the weekday adds nothing and hides the date.
            value = ExactDecimal(significand: 20_000_000 + value.significand / 100, exponent: 0)
        }
        if point.scale != .one {
            // 1000 as 1e3: a kW → W scale must not add digits the meter never sent (1032.9, not 1032.9000).
            var scale = point.scale
            while scale.significand != 0, scale.significand % 10 == 0 {
                scale = ExactDecimal(significand: scale.significand / 10, exponent: scale.exponent + 1)
            }
            guard let scaled = value.multiplied(by: scale) else { return (.real(value.doubleValue * scale.doubleValue), .good) }
            value = scaled
        }
        return (.decimal(value), .good)
    }

    /// The payload of one data item (bytes after the DI), following up multi-frame replies.
    public func readItem(_ di: DLT645DataID) async throws(SerialBusError) -> [UInt8] {
        var request = is1997 ? DLT645Request.read1997(di, from: address) : DLT645Request.read(di, from: address)
        var payload: [UInt8] = []
        var sequence: UInt8 = 0
        while true {
            let reply = try await transact(request, item: "DI \(di)")
            let read: DLT645ReadReply
            do throws(DLT645Error) {
                read = try DLT645Reply.read(reply, answering: request)
            } catch {
                throw SerialBusError(.invalidResponse, bus: bus.id, device: address.written,
                                     function: request.control.rawValue, item: "DI \(di)", message: error.description)
            }
            payload += read.payload
            // Follow-ups exist in 2007 only; a meter that keeps saying "more" is cut off after 16.
            guard read.hasFollowUp, !is1997, sequence < 16 else { return payload }
            sequence += 1
            request = DLT645Request.readFollowUp(di, sequence: sequence, from: address)
        }
    }

    /// Reads status word 3 (relay state); 2007 only.
    public func readStatusWord3() async throws(SerialBusError) -> DLT645StatusWord3 {
        let payload = try await readItem(.statusWord3)
        do throws(DLT645Error) {
            return try DLT645StatusWord3(payload: payload)
        } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: address.written, function: 0x11,
                                 item: "DI 04000503", message: error.description)
        }
    }

    /// Sends `request` to this meter and returns its decoded reply.
    func transact(_ request: DLT645Frame, item: String) async throws(SerialBusError) -> DLT645Frame {
        try await Self.transact(request, on: bus, device: address.written, item: item)
    }

    static func transact(_ request: DLT645Frame, on bus: SerialLineBus, device: String, item: String?) async throws(SerialBusError) -> DLT645Frame {
        let serialRequest: SerialRequest
        do throws(DLT645Error) {
            serialRequest = try Self.serialRequest(request, device: device, item: item)
        } catch {
            throw SerialBusError(.invalidRequest, bus: bus.id, device: device, function: request.control.rawValue, item: item,
                                 message: error.description)
        }
        let reply = try await bus.transact(serialRequest)
        do throws(DLT645Error) {
            return try DLT645Frame.decode(reply)
        } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: device, function: request.control.rawValue,
                                 item: item, message: error.description)
        }
    }

    /// `request` as the bus sends it: encoded with its preamble, its reply found by a scanner that
    /// hands back error replies as frames when `errorRepliesAsFrames` (forwarded ESAM frames).
    static func serialRequest(_ request: DLT645Frame, device: String, item: String?,
                              errorRepliesAsFrames: Bool = false) throws(DLT645Error) -> SerialRequest {
        SerialRequest(device: device, function: request.control.rawValue, item: item, frame: try request.encoded(),
                      scanner: { DLT645ReplyScanner(request: request, errorRepliesAsFrames: errorRepliesAsFrames) })
    }

    /// Asks whichever single meter is on the line for its address (0x13 to AA…AA).
    public static func readAddress(on bus: SerialLineBus) async throws(SerialBusError) -> DLT645Address {
        let reply = try await transact(DLT645Request.readAddress(), on: bus, device: DLT645Address.wildcard.written, item: nil)
        do throws(DLT645Error) {
            return try DLT645Reply.address(reply)
        } catch {
            throw SerialBusError(.invalidResponse, bus: bus.id, device: DLT645Address.wildcard.written, function: 0x13,
                                 message: error.description)
        }
    }

    /// Broadcasts the time to every meter on the line (0x08 to 99…99; no meter answers).
    public static func broadcastTime(_ time: MeterDateTime, on bus: SerialLineBus) async throws(SerialBusError) {
        let request = DLT645Request.broadcastTime(time)
        let bytes: [UInt8]
        do throws(DLT645Error) { bytes = try request.encoded() } catch {
            throw SerialBusError(.invalidRequest, bus: bus.id, function: 0x08, message: error.description)
        }
        _ = try await bus.transact(SerialRequest(device: DLT645Address.broadcast.written, function: 0x08, item: "time \(time)",
                                                 frame: bytes, expectsReply: false,
                                                 scanner: { DLT645ReplyScanner(request: request) }))
    }
}
