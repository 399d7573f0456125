import MeterAgent
import MeterCore
import MeterDrivers

/// The drivers of the site's card readers, for the card service of `run`; a reader whose type
/// this build cannot drive is reported and left out, the others run.
func cardReaderDrivers(_ site: SiteConfig, log: Log) -> [any CardReaderDriver] {
    site.readers.compactMap { reader in
        guard let driver = makeCardReaderDriver(reader) else {
            log.error("no driver for this reader type in this build: the reader is not run", ["reader": reader.id.rawValue, "type": reader.type.rawValue])
            return nil
        }
        return driver
    }
}
