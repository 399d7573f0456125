import MeterAgent
import MeterCore
import MeterDrivers

/// The drivers of the site's card readers, for the card service of `run`.
///
/// LEAD (merge of issue 12): `makeCardReaderDriver(_:)` lives in
/// Sources/MeterDrivers/CardReaderFactory.swift on the readers' branch, not on this one. Replace
/// the body with the one line `site.readers.map(makeCardReaderDriver)` (adapted if it throws or
/// returns an optional). Until then a site with readers runs without them, and says so.
func cardReaderDrivers(_ site: SiteConfig, log: Log) -> [any CardReaderDriver] {
    if !site.readers.isEmpty {
        log.error("this build has no card reader drivers: the readers are not run", ["readers": String(site.readers.count)])
    }
    return []
}
