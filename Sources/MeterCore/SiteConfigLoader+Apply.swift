/// The optional `apply:` section.
///
/// ```yaml
/// apply:
///   health_deadline_s: 60        # a new config must pass its health check within this
///   min_answering_percent: 50    # of the devices, answering at least once in that time
///   keep: 10                     # configs kept in the history
///   local: window_or_root        # open (default) | window_or_root
/// ```
extension SiteConfigLoader {
    static let applyKeys = ["health_deadline_s", "min_answering_percent", "keep", "local"]

    static func decodeApply(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> ConfigApplySettings {
        var settings = ConfigApplySettings()
        guard let m = d.mapping(node, what: "apply", allowed: applyKeys) else { return settings }
        if m["health_deadline_s"] != nil, let seconds = d.integer(m, "health_deadline_s", range: 2...3_600) {
            settings.healthDeadlineSeconds = seconds
        }
        if m["min_answering_percent"] != nil, let percent = d.integer(m, "min_answering_percent", range: 0...100) {
            settings.minAnsweringPercent = percent
        }
        if m["keep"] != nil, let keep = d.integer(m, "keep", range: 1...100) { settings.keep = keep }
        if m["local"] != nil, let local = d.choice(m, "local", as: ConfigApplySettings.LocalApply.self, label: "local apply rule") {
            settings.local = local
        }
        return settings
    }
}
