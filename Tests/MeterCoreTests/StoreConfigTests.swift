import MeterCore
import Testing

/// The `store:` section of a site config.
struct StoreConfigTests {
    func load(_ store: String, file: String = "/etc/meteragent/site.yaml") throws -> StoreConfig {
        try SiteConfigLoader.load(text: "gateway: gw\nbuses: []\ndevices:\n" + store, file: file, profiles: [:]).store
    }

    @Test func defaultsWhenThereIsNoSection() throws {
        let store = try load("")
        #expect(store == StoreConfig())
        #expect(store.path == "/var/lib/meteragent/outbox.db")
        #expect(store.maxBytes == 64 << 20)
        #expect(store.sync == .full)
    }

    @Test func valuesAndRelativePaths() throws {
        let store = try load("store:\n  path: data/outbox.db\n  max_bytes: 512kB\n  sync: normal\n  flush_interval: 250ms\n")
        #expect(store.path == "/etc/meteragent/data/outbox.db")
        #expect(store.maxBytes == 512 << 10)
        #expect(store.sync == .normal)
        #expect(store.flushIntervalMs == 250)
        #expect(try load("store: {path: /srv/o.db, max_bytes: 1048576}\n").path == "/srv/o.db")
        #expect(try load("store: {path: o.db}\n", file: "site.yaml").path == "o.db")
    }

    @Test func errorsNameTheirPlace() {
        let text = "gateway: gw\nbuses: []\ndevices:\nstore:\n  max_bytes: lots\n  sync: sometimes\n  colour: red\n  flush_interval: 2h\n"
        let errors = siteErrors(text, file: "s.yaml", profiles: [:])
        #expect(errors.contains { $0.hasPrefix("s.yaml:5:14: expected a size for 'max_bytes'") })
        #expect(errors.contains { $0.hasPrefix("s.yaml:6:9: unknown sync mode 'sometimes' (expected one of: full, normal)") })
        #expect(errors.contains { $0.hasPrefix("s.yaml:7:3: unknown key 'colour' in store") })
        #expect(errors.contains { $0.hasPrefix("s.yaml:8:19: bad flush_interval") })
        #expect(siteErrors("gateway: gw\nstore: {max_bytes: 1kB}\n", file: "s.yaml", profiles: [:])
            == ["s.yaml:2:20: max_bytes 1kB out of range 64kB–1TB"])
    }
}
