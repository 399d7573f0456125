extension Reading {
    /// One JSON object, e.g.
    /// `{"device":"flat-301","point":"energy.import.total","value":12345.67,"unit":"kWh","ts":1764052800000,"quality":"good","billing":true}`
    public var json: String {
        var w = JSONWriter(capacity: 192)
        w.raw("{")
        if sequence > 0 {
            w.raw("\"seq\":")
            w.integer(sequence)
            w.raw(",")
        }
        w.raw("\"device\":"); w.string(device.rawValue)
        w.raw(",\"point\":"); w.string(point.rawValue)
        w.raw(",\"value\":"); w.value(value)
        w.raw(",\"unit\":"); w.string(unit)
        w.raw(",\"ts\":"); w.integer(timestampMs)
        w.raw(",\"quality\":"); w.string(quality.description)
        w.raw(",\"billing\":"); w.bool(billing)
        w.raw("}")
        return w.text
    }
}

extension JSONWriter {
    /// Readings as one object of point → value, e.g. `{"relay.state":false,"load.limit":2.5}`: the
    /// state a command or the cost control read back.
    public mutating func pointValues(_ readings: [Reading]) {
        raw("{")
        for (index, reading) in readings.enumerated() {
            if index > 0 { raw(",") }
            string(reading.point.rawValue)
            raw(":")
            value(reading.value)
        }
        raw("}")
    }
}
