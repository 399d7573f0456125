extension Reading {
    /// One JSON object, e.g.
    /// `{"device":"flat-301","point":"energy.import.total","value":12345.67,"unit":"kWh","ts":1764052800000,"quality":"good","billing":true}`
    public var json: String {
        var w = JSONWriter()
        w.raw("{")
        if sequence > 0 { w.raw("\"seq\":\(sequence),") }
        w.raw("\"device\":"); w.string(device.rawValue)
        w.raw(",\"point\":"); w.string(point.rawValue)
        w.raw(",\"value\":"); w.value(value)
        w.raw(",\"unit\":"); w.string(unit)
        w.raw(",\"ts\":\(timestampMs),\"quality\":"); w.string(quality.description)
        w.raw(",\"billing\":\(billing)}")
        return w.text
    }
}
