import MeterProtocols

extension PointDefinition {
    /// Turns the registers (or bits, as 0/1 words) of this point into an engineering value.
    /// Integers and BCD stay exact decimals; floats stay binary; a NaN or infinite float, or
    /// bad BCD, yields `.invalidValue` instead of a number.
    public func decode(_ registers: some Collection<UInt16>) -> (MeterValue?, Quality) {
        let raw: RawValue
        do {
            raw = try RegisterCodec.decode(registers, as: type, order: wordOrder)
        } catch {
            return (nil, .invalidValue)
        }
        switch raw {
        case let .bit(b):
            return (.bool(b), .good)
        case let .float(f):
            guard f.isFinite else { return (nil, .invalidValue) }
            let engineering = f * scale.doubleValue + offset.doubleValue
            guard type == .f32 else { return (.real(engineering), .good) }
            // A float32 carries about 7 significant digits: send its shortest round-trip text
            // (231.41428), not the binary expansion of the widened Double (231.41427612304688).
            return (.real(Double(Float(engineering).description) ?? engineering), .good)
        case let .signed(v):
            return (exact(ExactDecimal(significand: v, exponent: 0), fallback: Double(v)), .good)
        case let .unsigned(v):
            guard let s = Int64(exactly: v) else { return (.real(Double(v) * scale.doubleValue + offset.doubleValue), .good) }
            return (exact(ExactDecimal(significand: s, exponent: 0), fallback: Double(v)), .good)
        }
    }

    private func exact(_ value: ExactDecimal, fallback: Double) -> MeterValue {
        if let scaled = value.multiplied(by: scale), let shifted = scaled.adding(offset) {
            return .decimal(shifted)
        }
        return .real(fallback * scale.doubleValue + offset.doubleValue)
    }

    /// The inverse of `decode` for simulators: raw registers for an engineering value, or
    /// `.outOfRange` when the raw value does not fit the point's type (integers are rounded).
    public func encode(_ engineering: Double) throws(RegisterEncodeError) -> [UInt16] {
        let raw = (engineering - offset.doubleValue) / scale.doubleValue
        switch type {
        case .bool: return try RegisterCodec.encode(.bit(raw != 0), as: type, order: wordOrder)
        default: return try RegisterCodec.encode(.float(raw), as: type, order: wordOrder)
        }
    }
}
